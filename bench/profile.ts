// Where an est-server's CPU goes under load: one case, with per-thread CPU and a CPU profile.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultIndexPath } from '../lib/store/file-store.js';
import { writeIndexLines } from '../spec/helpers/index-lines.js';
import { formatSummary, summarise } from './cpuprofile.js';
import { makeFixtures } from './fixtures.js';
import { benchCsrAttrs, compileLib, failureText, loadSpecFor, runLoad, startAuthBackend, startBenchPostgres, startEstServer, type BenchOp, type LoadChoice } from './servers.js';
import { childPids, cpuSeconds, peakRssMb, resetPeakRss, threadCpuSeconds } from './system.js';

const USAGE = `Usage: npm run bench:profile -- [options]

Runs one est-server (compiled) on loopback under load, as npm run bench does, and prints
req/s, p50/p99, CPU per request, the CPU of each thread (event loop, crypto threads, libuv pool,
V8 helpers) and, unless --no-profile, each process's main-thread CPU profile (node --cpu-prof):
self time by category and the top functions. The .cpuprofile files are kept (path printed) for
Chrome DevTools.

Options:
  --op <op>              enroll-cert (mutual TLS), enroll-auth (Basic via authRequest), cacerts
                         (default enroll-cert)
  --seconds <s>          measured seconds after the warm-up (default 5)
  --warmup <s>           seconds of load before measuring (default 1; V8 is still compiling the
                         hot paths for ~10 s after start)
  --connections <n>      keep-alive connections (default 64)
  --workers <n>          est-server --workers (default 1)
  --rate <n>             requests per second in all (autocannon overallRate), below saturation:
                         CPU per request without the effects of a saturated machine
  --no-ledger            store: false (serial file only, no index.txt)
  --ledger-lines <n>     index.txt lines written before est-server starts (as the bench's
                         million-record case: --ledger-lines 1000000)
  --postgres             the PostgreSQL store, on a throwaway cluster (initdb) on loopback
  --crypto-threads <n>   est() cryptoThreads (default: est()'s own)
  --auth-cache <s>       est() authRequestCache ttl in seconds (enroll-auth; default off)
  --load <generator>     auto (default: as npm run bench, wrk without a client certificate and ab
                         with one, each when installed), autocannon, wrk (enroll-auth, cacerts)
                         or ab (ApacheBench: one CSR for every request)
  --no-profile           no --cpu-prof (its sampling costs a few percent)
  --node-args <flags>    extra node flags for est-server, space-separated (e.g. V8 heap flags)
  --top <n>              functions listed per profile (default 20)
  -h, --help             this text
`;

const { values } = parseArgs({
  options: {
    op: { type: 'string', default: 'enroll-cert' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '64' },
    workers: { type: 'string', default: '1' },
    rate: { type: 'string' },
    'no-ledger': { type: 'boolean', default: false },
    postgres: { type: 'boolean', default: false },
    'ledger-lines': { type: 'string', default: '0' },
    'crypto-threads': { type: 'string' },
    'auth-cache': { type: 'string' },
    'no-profile': { type: 'boolean', default: false },
    load: { type: 'string', default: 'auto' },
    'node-args': { type: 'string', default: '' },
    top: { type: 'string', default: '20' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const op = values.op as BenchOp;
if (!['enroll-cert', 'enroll-auth', 'cacerts'].includes(values.op!)) {
  process.stderr.write(`--op must be enroll-cert, enroll-auth or cacerts (got ${op})\n`);
  process.exit(2);
}

const load = values.load as LoadChoice;
if (!['auto', 'autocannon', 'wrk', 'ab'].includes(load)) {
  process.stderr.write(`--load must be auto, autocannon, wrk or ab (got ${load})\n`);
  process.exit(2);
}

const compiled = compileLib();
const fx = makeFixtures(32);
const auth = await startAuthBackend();
const ca = fx.cas.p256;
const serialFile = join(fx.dir, 'serial.srl');
writeFileSync(serialFile, '1000\n');
const ledgerLines = Number(values['ledger-lines']);
if (ledgerLines > 0) writeIndexLines(defaultIndexPath(serialFile), ledgerLines, 'Bench Devices');
const csrAttrs = join(fx.dir, 'csrattrs.der');
writeFileSync(csrAttrs, benchCsrAttrs());
const profDir = mkdtempSync(join(tmpdir(), 'est-profile-'));
const db = values.postgres ? await startBenchPostgres() : undefined;
const store: string | false | undefined = db ? db.url : values['no-ledger'] ? false : undefined;
const est = await startEstServer({
  ca,
  dir: fx.dir,
  workers: Number(values.workers),
  tls: true,
  authUrl: auth.url,
  serialFile,
  serialLease: 256,
  csrAttrs,
  compiled,
  ...(store !== undefined ? { store } : {}),
  config: {
    ...(values['crypto-threads'] !== undefined ? { cryptoThreads: Number(values['crypto-threads']) } : {}),
    ...(values['auth-cache'] !== undefined ? { authRequestCache: Number(values['auth-cache']) } : {}),
  },
  nodeArgs: [...values['node-args']!.split(' ').filter(Boolean), ...(values['no-profile'] ? [] : ['--cpu-prof', '--cpu-prof-dir', profDir])],
});

const spec = loadSpecFor(op, est.url, ca, fx.csrBodies, { connections: Number(values.connections), durationSec: Number(values.seconds), warmupSec: Number(values.warmup) }, load);
if (values.rate !== undefined) spec.rate = Number(values.rate);

/** CPU seconds of each thread of each process, keyed `pid/tid name: role`. */
function threadCpu(pids: number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of pids) {
    for (const t of threadCpuSeconds(pid)) {
      const role = t.tid === pid ? (pid === est.pid && Number(values.workers) > 1 ? 'primary, event loop' : 'event loop') : 'other thread (crypto, libuv pool or V8)';
      out.set(`${pid}/${t.tid} ${t.name}: ${role}`, t.seconds);
    }
  }
  return out;
}

const pids = () => [est.pid, ...childPids(est.pid)];
// PostgreSQL's share: the postmaster and its backends.
const postmaster = db ? db.pg.pid() : 0;
const dbPids = () => (postmaster ? [postmaster, ...childPids(postmaster)] : []);
let db0 = 0;
let cpu0 = 0;
let threads0 = new Map<string, number>();
let t0 = 0;
resetPeakRss(pids()); // as bench/run.ts: the peak over warm-up and measurement
const r = await runLoad(spec, fx.dir, 1, () => {
  cpu0 = cpuSeconds(pids());
  db0 = cpuSeconds(dbPids());
  threads0 = threadCpu(pids());
  t0 = performance.now();
});
const rss = peakRssMb(pids()).filter(Number.isFinite);
const wall = (performance.now() - t0) / 1000;
const cpu = cpuSeconds(pids()) - cpu0;
const dbCpu = cpuSeconds(dbPids()) - db0;
const threads1 = threadCpu(pids());

process.stdout.write(
  `${op}, ${values.workers} process(es)${Number(values.workers) > 1 ? ' + primary' : ''}, ${values.connections} connections, ledger ${values.postgres ? 'PostgreSQL' : values['no-ledger'] ? 'off' : ledgerLines > 0 ? `on, ${ledgerLines} lines before` : 'on'}\n` +
    `${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.errors + r.non2xx} errors/non-2xx${r.errors + r.non2xx ? ` (${failureText(r)})` : ''}; est-server ${(cpu / wall).toFixed(2)} cores = ${((1000 * cpu) / r.requests).toFixed(3)} ms CPU per request; load generator ${r.loadCpu.toFixed(2)} cores` +
    `; peak RSS ${rss.map((m) => m.toFixed(0)).join(' / ')} MB (primary first)` +
    (db ? `; PostgreSQL ${(dbCpu / wall).toFixed(2)} cores = ${((1000 * dbCpu) / r.requests).toFixed(3)} ms per request` : '') +
    '\n\n' +
    'CPU per thread while measured (cores; threads under 0.01 left out):\n',
);
for (const [k, v] of threads1) {
  const used = (v - (threads0.get(k) ?? 0)) / wall;
  if (used >= 0.01) process.stdout.write(`  ${used.toFixed(2)}  ${k}\n`);
}
await est.close();
await auth.close();
db?.pg.destroy();
fx.cleanup();

if (!values['no-profile']) {
  const files = readdirSync(profDir).filter((n) => n.endsWith('.cpuprofile')).sort();
  for (const f of files) {
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread.
    const [, , , pid, thread] = f.split('.');
    process.stdout.write(`\n== ${pid === String(est.pid) && Number(values.workers) > 1 ? 'primary' : 'process'} ${pid}, ${thread === '0' ? 'main thread' : `worker thread ${thread}`} (${join(profDir, f)})\n`);
    process.stdout.write(formatSummary(summarise(join(profDir, f), Number(values.top))) + '\n');
  }
} else rmSync(profDir, { recursive: true, force: true });
