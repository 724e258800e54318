// Load generator child process: runs autocannon (or wrk, or ab) for one benchmark case and prints a JSON summary.
// Runs apart from the server and the orchestrator so that it has its own event loop (and CPU time).
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import autocannon from 'autocannon';

/** One case, as the orchestrator writes it (JSON file named by argv[2]). */
export interface LoadSpec {
  url: string;
  method: 'GET' | 'POST';
  connections: number;
  durationSec: number;
  warmupSec: number;
  headers: Record<string, string>;
  /** POST bodies, used in turn. */
  bodies?: string[];
  /** Client certificate for TLS client authentication. */
  tls?: { cert: string; key: string };
  /** Requests per second over all connections (autocannon overallRate); unset: as fast as possible. */
  rate?: number;
  /**
   * `wrk` (C, two threads, as nginx-http-est's reference figures were measured): lighter than
   * autocannon, for cases without a client certificate (wrk has none) or rate. `ab` (ApacheBench,
   * C, one thread): as light, and it presents a client certificate, but posts one body (the first)
   * for every request. Default autocannon.
   */
  generator?: 'autocannon' | 'wrk' | 'ab';
}

/** What the child prints. */
export interface LoadResult {
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Responses by status code, other than 2xx (e.g. { "503": 12 }); absent when there were none. */
  statusCodes?: Record<string, number>;
  durationSec: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  /** CPU used by the load generator itself, in cores (1 = one core busy). */
  loadCpu: number;
  generator: 'autocannon' | 'wrk' | 'ab';
}

/** A Lua string literal that holds `s` as it is (a long bracket whose level `s` does not close). */
function luaString(s: string): string {
  let eq = '';
  while (s.includes(`]${eq}]`) || s.endsWith(`]${eq}`)) eq += '=';
  return `[${eq}[\n${s}]${eq}]`;
}

/** wrk's script for a POST case: the bodies in turn, each connection's thread from its own place. */
function wrkScript(spec: LoadSpec): string {
  const headers = Object.entries(spec.headers).map(([k, v]) => `[ ${luaString(k)} ] = ${luaString(v)}`);
  return [
    `local bodies = { ${spec.bodies!.map(luaString).join(',\n')} }`,
    `local headers = { ${headers.join(', ')} }`,
    'local i = 0',
    'request = function()',
    '  i = i % #bodies + 1',
    `  return wrk.format(${luaString(spec.method)}, nil, headers, bodies[i])`,
    'end',
    '',
  ].join('\n');
}

/** A wrk duration or latency ("812.00us", "4.50ms", "1.02s", "2.00m") in ms. */
function wrkMs(v: string, unit: string): number {
  return Number(v) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[unit]!;
}

/**
 * One run of a load generator written in C: `tool` with `args`, of whole seconds (neither takes
 * fractions: --quick's half-second warm-up becomes one). sh runs it and then prints its own
 * /proc stat, whose cutime + cstime are the CPU of the children it waited for: the tool's.
 * Returns its output, a reader of its figures, and its CPU in seconds.
 */
function runTool(tool: 'wrk' | 'ab', args: string[], refuseStderr: boolean): { out: string; match(re: RegExp, what: string): RegExpExecArray; cpuSeconds: number } {
  const r = spawnSync('sh', ['-c', `${tool} "$@" || exit 1; cat /proc/$$/stat`, 'sh', ...args], { encoding: 'utf8' });
  if (r.status !== 0 || (refuseStderr && r.stderr.trim())) throw new Error(`${tool} failed (exit ${r.status}): ${(r.stderr.trim() || r.stdout.trim()).slice(0, 2000)}`);
  const out = r.stdout;
  const stat = out.slice(out.lastIndexOf(')') + 2).trim().split(/\s+/);
  const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return {
    out,
    match(re, what) {
      const m = re.exec(out);
      if (!m) throw new Error(`${tool} printed no ${what}:\n${out}`);
      return m;
    },
    cpuSeconds: (Number(stat[13]) + Number(stat[14])) / hz,
  };
}

/** One wrk run (2 threads, as reference-behavior.md §4). */
function runWrk(spec: LoadSpec, durationSec: number, script: string): LoadResult {
  const args = ['-t', String(Math.min(2, spec.connections)), '-c', String(spec.connections), '-d', `${Math.max(1, Math.ceil(durationSec))}s`, '--latency', '--timeout', '10s'];
  if (spec.bodies?.length) args.push('-s', script);
  else for (const [k, v] of Object.entries(spec.headers)) args.push('-H', `${k}: ${v}`);
  args.push(spec.url);
  // wrk reports a script error on stderr and then runs anyway, with plain GETs: refuse that.
  const { out, match, cpuSeconds } = runTool('wrk', args, true);
  const total = match(/(\d+) requests in ([\d.]+)(us|ms|s|m),/, 'request count');
  const requests = Number(total[1]);
  const duration = wrkMs(total[2]!, total[3]!) / 1000;
  const pct = (p: string) => {
    const m = match(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm'), `${p}th percentile`);
    return wrkMs(m[1]!, m[2]!);
  };
  const max = match(/^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)/m, 'latency line');
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]) : 0;
  return {
    requests,
    ok: requests - non2xx,
    non2xx,
    errors,
    timeouts: sock ? Number(sock[4]) : 0,
    durationSec: duration,
    rps: (requests - non2xx) / duration,
    p50: pct('50'),
    p99: pct('99'),
    max: wrkMs(max[1]!, max[2]!),
    loadCpu: cpuSeconds / duration,
    generator: 'wrk',
  };
}

/**
 * One ab run (keep-alive, HTTP/1.0 as ab speaks it), its client certificate from `pem` (certificate
 * and key), its one body from `body`. ab counts an answer whose length differs from the first as
 * failed unless -l; only connect, receive and exception failures are errors here.
 */
function runAb(spec: LoadSpec, durationSec: number, pem: string, body: string): LoadResult {
  const args = ['-k', '-q', '-S', '-l', '-r', '-c', String(spec.connections), '-t', String(Math.max(1, Math.ceil(durationSec))), '-n', '100000000', '-s', '10'];
  if (spec.tls) args.push('-E', pem);
  for (const [k, v] of Object.entries(spec.headers)) {
    if (k.toLowerCase() === 'content-type') args.push('-T', v);
    else args.push('-H', `${k}: ${v}`);
  }
  if (spec.bodies?.length) args.push('-p', body);
  args.push(spec.url);
  const { out, match, cpuSeconds } = runTool('ab', args, false);
  const num = (re: RegExp, what: string) => Number(match(re, what)[1]);
  const requests = num(/^Complete requests:\s+(\d+)/m, 'request count');
  const duration = num(/^Time taken for tests:\s+([\d.]+) seconds/m, 'duration');
  const non2xx = Number(/^Non-2xx responses:\s+(\d+)/m.exec(out)?.[1] ?? 0);
  const failed = /\(Connect: (\d+), Receive: (\d+), Length: \d+, Exceptions: (\d+)\)/.exec(out);
  const errors = failed ? Number(failed[1]) + Number(failed[2]) + Number(failed[3]) : 0;
  const pct = (p: string) => num(new RegExp(`^\\s+${p}%\\s+(\\d+)`, 'm'), `${p}th percentile`);
  return {
    requests,
    ok: requests - non2xx - errors,
    non2xx,
    errors,
    timeouts: 0,
    durationSec: duration,
    rps: (requests - non2xx - errors) / duration,
    p50: pct('50'),
    p99: pct('99'),
    max: pct('100'),
    loadCpu: cpuSeconds / duration,
    generator: 'ab',
  };
}

/** A C load generator's case: its warm-up, the measure mark, its result; then this process ends. */
function measureWith(once: (durationSec: number) => LoadResult): never {
  if (spec.warmupSec > 0) once(spec.warmupSec);
  process.stdout.write(JSON.stringify({ phase: 'measure' }) + '\n');
  process.stdout.write(JSON.stringify(once(spec.durationSec)) + '\n');
  process.exit(0);
}

function run(spec: LoadSpec, durationSec: number): Promise<autocannon.Result> {
  let i = 0;
  const bodies = spec.bodies ?? [];
  const opts: autocannon.Options = {
    url: spec.url,
    method: spec.method,
    connections: spec.connections,
    pipelining: 1,
    duration: durationSec,
    timeout: 10,
    headers: spec.headers,
    ...(spec.rate ? { overallRate: spec.rate } : {}),
    ...(spec.tls ? { tlsOptions: { cert: spec.tls.cert, key: spec.tls.key } } : {}),
    ...(bodies.length
      ? {
          requests: [
            {
              method: spec.method,
              setupRequest: (req: autocannon.Request) => ({ ...req, body: bodies[i++ % bodies.length]! }),
            },
          ],
        }
      : {}),
  } as autocannon.Options;
  return new Promise((resolve, reject) => {
    const inst = autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
    void inst;
  });
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadSpec;
// Neither wrk nor ab has a rate limit: a case held at a --rate stays with autocannon.
if (spec.generator === 'wrk' && spec.rate === undefined) {
  const script = process.argv[2]! + '.lua';
  if (spec.bodies?.length) writeFileSync(script, wrkScript(spec));
  measureWith((sec) => runWrk(spec, sec, script));
}
if (spec.generator === 'ab' && spec.rate === undefined) {
  const pem = process.argv[2]! + '.pem';
  const body = process.argv[2]! + '.body';
  if (spec.tls) writeFileSync(pem, spec.tls.cert + spec.tls.key, { mode: 0o600 });
  if (spec.bodies?.length) writeFileSync(body, spec.bodies[0]!);
  measureWith((sec) => runAb(spec, sec, pem, body));
}
if (spec.warmupSec > 0) await run(spec, spec.warmupSec);
// Tells the orchestrator to start its CPU accounting of the server processes.
process.stdout.write(JSON.stringify({ phase: 'measure' }) + '\n');
const cpu0 = process.cpuUsage();
const r = await run(spec, spec.durationSec);
const cpu = process.cpuUsage(cpu0);
const ok = r['2xx'];
const out: LoadResult = {
  requests: ok + r.non2xx,
  ok,
  non2xx: r.non2xx,
  errors: r.errors,
  timeouts: r.timeouts,
  durationSec: r.duration,
  rps: ok / r.duration,
  p50: r.latency.p50,
  p99: r.latency.p99,
  max: r.latency.max,
  loadCpu: (cpu.user + cpu.system) / 1e6 / r.duration,
  generator: 'autocannon',
};
const codes = Object.entries((r as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {}).filter(([code]) => !code.startsWith('2'));
if (codes.length) out.statusCodes = Object.fromEntries(codes.map(([code, v]) => [code, v.count]));
process.stdout.write(JSON.stringify(out) + '\n');
