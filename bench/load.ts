// Load generator child process: runs autocannon for one benchmark case and prints a JSON summary.
// Runs apart from the server and the orchestrator so that it has its own event loop (and CPU time).
import { readFileSync } from 'node:fs';
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
};
const codes = Object.entries((r as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {}).filter(([code]) => !code.startsWith('2'));
if (codes.length) out.statusCodes = Object.fromEntries(codes.map(([code, v]) => [code, v.count]));
process.stdout.write(JSON.stringify(out) + '\n');
