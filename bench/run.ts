// npm run bench: throughput and latency of est-server (direct TLS and behind nginx) against the openssl speed ceiling.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultIndexPath } from '../lib/store/file-store.js';
import { writeIndexLines } from '../spec/helpers/index-lines.js';
import { postgresUnavailable } from '../spec/helpers/postgres.js';
import { makeFixtures, type CaFixture, type CaKind, type Fixtures } from './fixtures.js';
import type { LoadResult } from './load.js';
import { runSoak, SOAK_MAX_GROWTH, type SoakResult } from './soak.js';
import { benchCsrAttrs, compileLib, failureText, loadSpecFor, NGINX, runLoad, startAuthBackend, startBenchPostgres, startEstServer, startNginx, type BenchOp, type RunningServer } from './servers.js';
import { childPids, cpuSeconds, machine, machineCpu, opensslSpeed, peakRssMb, resetPeakRss, type SpeedRow } from './system.js';

const HERE = dirname(fileURLToPath(import.meta.url));

const USAGE = `Usage: npm run bench -- [options]

Starts est-server on loopback with generated CAs (P-256 and RSA-2048), drives it with autocannon
(or wrk, or ab) in a separate process, and prints req/s, p50/p99 latency, errors and peak RSS per case, plus the
ratio to the \`openssl speed\` ceiling. Cases behind nginx run when nginx is installed.

Options:
  --quick                2 s per case, 0.5 s warm-up, no --workers 1 comparison, openssl speed 1 s
  --duration <s>         seconds measured per case (default 5)
  --warmup <s>           seconds of warm-up load before each case (default 1)
  --store-warmup <s>     the same for the record-store cases at the end, each of which starts a
                         fresh est-server (default 10, as warm as the main cases at 64
                         connections, which follow 1 and 16 on the same est-server; --quick:
                         --warmup)
  --connections <list>   concurrent keep-alive connections (default 1,16,64)
  --ca <list>            CA key types: p256,rsa2048 (default both)
  --ops <list>           cacerts,csrattrs,enroll-cert,enroll-auth,serverkeygen (default all)
  --modes <list>         direct,nginx (default both; nginx skipped when not installed)
  --workers <n>          est-server processes for the main runs (default 2)
  --compare-workers <n>  also run the direct cases at 64 connections with n workers (default 1; 0 = off)
  --serial-lease <n>     est() serialLease for the main runs (default 256); the full run also
                         measures /simpleenroll at 64 connections with serialLease 1 (the default)
  --tsx                  run est-server from the TypeScript sources (default: compiled with tsc first)
  --soak-minutes <m>     then a memory soak: m minutes at 16 connections of /simpleenroll on one
                         est-server process, RSS printed over time; fails (exit 1) when RSS grows
                         5% or more over the second half (default 30; 1 with --quick; 0 = none)
  --soak-only            only the soak (e.g. --soak-only --soak-minutes 2 for a quick check)
  --load <auto|autocannon>
                         auto (default): the cases without a client certificate (/cacerts,
                         /csrattrs, enroll-auth) with wrk, 2 threads, as the module's reference
                         figures, and those with one (enroll-cert, serverkeygen) with ab
                         (apache2-utils; one CSR for every request), each when installed;
                         autocannon: all with autocannon (it sends the 32 CSRs in turn)
  --json <file>          where to write the results (default bench/results/latest.json)
  -h, --help             this text`;

type Op = BenchOp;
type Mode = 'direct' | 'nginx';
/** nginx-http-est's GET /cacerts, keep-alive (reference-behavior.md §4: wrk, 2 threads, 16 connections): ~50,000 req/s. */
const CACERTS_MODULE_RPS = 50_000;
const ALL_OPS: Op[] = ['cacerts', 'csrattrs', 'enroll-cert', 'enroll-auth', 'serverkeygen'];

interface CaseResult extends LoadResult {
  ca: CaKind;
  mode: Mode;
  workers: number;
  serialLease: number;
  /**
   * Where certificates are recorded: the embedded store (serial file + index.txt), PostgreSQL, or
   * nowhere but the serial file (`none`: est() with store: false, the module's behaviour).
   */
  store: 'file' | 'file, 1M' | 'postgres' | 'none';
  /** est() authRequestCache ttl in seconds, when the case ran with it. */
  authCache?: number;
  /**
   * nginx serving est-server's /cacerts bytes by itself (`return 200`), not the app: the most a
   * module answering inside nginx could do, as a same-run reference for the /cacerts cases.
   */
  nginxAlone?: boolean;
  /** Seconds of warm-up, when the case had its own (the record-store cases). */
  warmupSec?: number;
  /** Lines already in index.txt when est-server started (the flat-in-issued-count case). */
  ledgerLines?: number;
  /** From spawning est-server to its "listening" line, with those lines to load. */
  startupMs?: number;
  op: Op;
  connections: number;
  /** Largest peak RSS (MB) of one est-server process during the case. */
  peakRssMb: number;
  /** Sum of the peak RSS of every est-server process (primary + workers). */
  totalRssMb: number;
  /** CPU used by est-server (all processes), in cores, during the measured part. */
  serverCpu: number;
  /** CPU used by nginx, in cores. */
  frontCpu: number;
  /** Share of the whole machine's CPU that was busy (0..1). */
  machineBusy: number;
  /** Crypto ceiling for this operation on this machine (req/s, all cores), when it has one. */
  ceiling?: number;
}

function list<T extends string>(v: string | undefined, all: readonly T[], name: string): T[] {
  if (v === undefined) return [...all];
  const items = v.split(',').map((s) => s.trim()).filter(Boolean) as T[];
  for (const i of items) if (!all.includes(i)) throw new Error(`--${name}: unknown value ${i} (expected ${all.join(', ')})`);
  return items;
}

/** The crypto ceiling (req/s on all cores) of an operation: CSR verify + CA sign, or the CA sign alone. */
function ceilingFor(op: Op, ca: CaKind, speed: { p256: SpeedRow; rsa2048: SpeedRow }, cores: number): number | undefined {
  const sign = speed[ca].sign;
  const verify = speed.p256.verify; // every benchmark CSR is P-256
  if (op === 'enroll-cert' || op === 'enroll-auth') return cores / (1 / sign + 1 / verify);
  if (op === 'serverkeygen') return cores * sign; // no CSR verification (RFC 7030 §4.4.1); keygen not counted
  return undefined;
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '-';
}

function table(rows: CaseResult[]): string {
  const head = ['CA', 'mode', 'wk', 'store', 'lease', 'operation', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'peak RSS MB', 'CPU srv/nginx/load/all', 'of ceiling'];
  const body = rows.map((r) => [
    r.ca,
    r.mode,
    String(r.workers),
    r.store,
    String(r.serialLease),
    (r.authCache ? `${r.op}, auth cache ${r.authCache} s` : r.nginxAlone ? `${r.op}, nginx alone` : r.op) + (r.generator === 'wrk' || r.generator === 'ab' ? ` (${r.generator})` : ''),
    String(r.connections),
    fmt(r.rps),
    fmt(r.p50, 1),
    fmt(r.p99, 1),
    String(r.errors + r.timeouts),
    String(r.non2xx),
    `${fmt(r.peakRssMb)} (Σ ${fmt(r.totalRssMb)})`,
    `${fmt(r.serverCpu, 2)}/${fmt(r.frontCpu, 2)}/${fmt(r.loadCpu, 2)}/${fmt(100 * r.machineBusy)}%`,
    r.ceiling ? `${fmt((100 * r.rps) / r.ceiling, 1)}% of ${fmt(r.ceiling)}` : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i >= 6 && i <= 11 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w, i) => (i >= 6 && i <= 11 ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|', ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'store-warmup': { type: 'string' },
      connections: { type: 'string' },
      ca: { type: 'string' },
      ops: { type: 'string' },
      modes: { type: 'string' },
      workers: { type: 'string' },
      'compare-workers': { type: 'string' },
      'serial-lease': { type: 'string' },
      json: { type: 'string' },
      tsx: { type: 'boolean' },
      'soak-minutes': { type: 'string' },
      'soak-only': { type: 'boolean' },
      load: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const quick = !!values.quick;
  const duration = Number(values.duration ?? (quick ? 2 : 5));
  const warmup = Number(values.warmup ?? (quick ? 0.5 : 1));
  const storeWarmup = Number(values['store-warmup'] ?? (quick ? warmup : 10));
  const connections = (values.connections ?? '1,16,64').split(',').map(Number);
  const cas = list(values.ca, ['p256', 'rsa2048'] as const, 'ca');
  const ops = list(values.ops, ALL_OPS, 'ops');
  let modes = list(values.modes, ['direct', 'nginx'] as const, 'modes');
  const workers = Number(values.workers ?? 2);
  const compareWorkers = Number(values['compare-workers'] ?? (quick ? 0 : 1));
  const serialLease = Number(values['serial-lease'] ?? 256);
  const soakOnly = !!values['soak-only'];
  const generator = values.load ?? 'auto';
  if (generator !== 'auto' && generator !== 'autocannon') throw new Error('--load must be auto or autocannon');
  const jsonPath = values.json ?? join(HERE, 'results', soakOnly ? 'soak.json' : 'latest.json');
  const soakMinutes = Number(values['soak-minutes'] ?? (quick ? 1 : 30));
  if (!Number.isFinite(soakMinutes) || soakMinutes < 0) throw new Error('--soak-minutes must be a number of minutes (0 = no soak)');
  if (modes.includes('nginx') && !NGINX) {
    process.stdout.write('nginx not installed: skipping the nginx cases\n');
    modes = modes.filter((m) => m !== 'nginx');
  }

  const cores = availableParallelism();
  const mach = machine(NGINX);
  process.stdout.write(`machine: ${mach.cpu}, ${mach.cores} cores, ${mach.memoryGb} GB, Linux ${mach.kernel}, Node ${mach.node}, ${mach.openssl}${mach.nginx ? ', nginx ' + mach.nginx : ''}\n`);
  process.stdout.write(`openssl speed (one core, ${quick || soakOnly ? 1 : 3} s per algorithm)...\n`);
  const speed = opensslSpeed(quick || soakOnly ? 1 : 3);
  process.stdout.write(
    `  P-256 sign ${fmt(speed.p256.sign)}/s verify ${fmt(speed.p256.verify)}/s; RSA-2048 sign ${fmt(speed.rsa2048.sign)}/s verify ${fmt(speed.rsa2048.verify)}/s\n`,
  );

  let compiled: string | undefined;
  if (!values.tsx) {
    process.stdout.write('compiling lib/ with tsc (est-server runs as built JavaScript)...\n');
    compiled = compileLib();
  }
  process.stdout.write('generating CAs, certificates and CSRs with openssl...\n');
  const fx: Fixtures = makeFixtures(32);
  const csrAttrsFile = join(fx.dir, 'csrattrs.der');
  writeFileSync(csrAttrsFile, benchCsrAttrs());
  const auth = await startAuthBackend();
  const results: CaseResult[] = [];
  let n = 0;
  let soak: SoakResult | undefined;

  /**
   * One est-server (and nginx in front for mode 'nginx'), each op × connection count against it.
   * `store`: PostgreSQL URL, false (none) or unset (embedded); `ledgerLines`: index.txt lines
   * written first; `authCache`: authRequestCache ttl (0: off).
   */
  const runCases = async (ca: CaFixture, mode: Mode, wk: number, conns: number[], caseOps: Op[] = ops, more: { lease?: number; store?: string | false; ledgerLines?: number; authCache?: number; warmup?: number } = {}) => {
    const { lease = serialLease, store, ledgerLines = 0, authCache = 0, warmup: caseWarmup = warmup } = more;
    const serialFile = join(fx.dir, `serial-${ca.kind}-${mode}-${wk}-${lease}-${n}.srl`);
    writeFileSync(serialFile, '1000\n');
    // Serials far above the serial file's, so that new ones never collide.
    if (ledgerLines) writeIndexLines(defaultIndexPath(serialFile), ledgerLines, 'Bench Devices');
    const started = performance.now();
    const est = await startEstServer({ ca, dir: fx.dir, workers: wk, tls: mode === 'direct', authUrl: auth.url, serialFile, serialLease: lease, csrAttrs: csrAttrsFile, ...(compiled ? { compiled } : {}), ...(store !== undefined ? { store } : {}), ...(authCache ? { config: { authRequestCache: authCache } } : {}) });
    const startupMs = performance.now() - started;
    let front: (RunningServer & { standInBase: string }) | undefined;
    try {
      if (mode === 'nginx') front = await startNginx({ ca, dir: fx.dir, upstreamPort: est.port });
      const base = front?.url ?? est.url;
      const serverPids = () => [est.pid, ...childPids(est.pid)];
      // Behind nginx, /cacerts is followed by nginx serving the same bytes alone (see nginxAlone).
      const cases = caseOps.flatMap((op) => (mode === 'nginx' && op === 'cacerts' ? [{ op, alone: false }, { op, alone: true }] : [{ op, alone: false }]));
      for (const { op, alone } of cases) {
        for (const c of conns) {
          const spec = loadSpecFor(op, alone ? front!.standInBase : base, ca, fx.csrBodies, { connections: c, durationSec: duration, warmupSec: caseWarmup }, generator);
          const pids = serverPids();
          const frontPids = front ? [...front.pids(), ...front.pids().flatMap(childPids)] : [];
          resetPeakRss(pids);
          let cpu0 = 0;
          let front0 = 0;
          let mach0 = machineCpu();
          let t0 = 0;
          const r = await runLoad(spec, fx.dir, ++n, () => {
            cpu0 = cpuSeconds(pids);
            front0 = cpuSeconds(frontPids);
            mach0 = machineCpu();
            t0 = performance.now();
          });
          const wall = (performance.now() - t0) / 1000;
          const mach1 = machineCpu();
          const rss = peakRssMb(pids).filter(Number.isFinite);
          const row: CaseResult = {
            ca: ca.kind,
            mode,
            workers: wk,
            serialLease: lease,
            store: store ? 'postgres' : store === false ? 'none' : ledgerLines ? 'file, 1M' : 'file',
            ...(ledgerLines ? { ledgerLines, startupMs } : {}),
            ...(authCache ? { authCache } : {}),
            ...(alone ? { nginxAlone: true } : {}),
            ...(caseWarmup !== warmup ? { warmupSec: caseWarmup } : {}),
            op,
            connections: c,
            ...r,
            peakRssMb: rss.length ? Math.max(...rss) : NaN,
            totalRssMb: rss.reduce((a, b) => a + b, 0),
            serverCpu: (cpuSeconds(pids) - cpu0) / wall,
            frontCpu: front ? (cpuSeconds(frontPids) - front0) / wall : 0,
            machineBusy: (mach1.busy - mach0.busy) / (mach1.total - mach0.total),
          };
          const ceiling = ceilingFor(op, ca.kind, speed, cores);
          if (ceiling) row.ceiling = ceiling;
          results.push(row);
          process.stdout.write(table([row]).split('\n')[2]! + '\n');
          if (r.non2xx || r.errors) {
            const said = est.errorMessages();
            process.stdout.write(`  ${failureText(r)}; est-server logged: ${said.length ? said.slice(0, 3).join(' | ') : 'nothing'}\n`);
          }
        }
      }
    } finally {
      await front?.close();
      await est.close();
    }
  };

  /**
   * The record store's cost, back to back: est-server --workers N, P-256, enroll over mutual TLS,
   * 64 connections: without a ledger (serial file only) and with the embedded store, twice in
   * turn; with 1,000,000 records in index.txt; with PostgreSQL; then (full run) 3 est-server
   * processes × 5,000 enrollments on one database, the scale-out spec at full size.
   */
  const storeComparison = async () => {
    process.stdout.write(`\nRecord store: none (serial file only), embedded (serial file + index.txt, empty and with 1,000,000 records) and PostgreSQL (throwaway cluster on loopback); serialLease ${serialLease}; each on a fresh est-server after ${storeWarmup} s of warm-up\n`);
    // Without and with the ledger twice, alternating: the machine's speed drifts by 10-20% within
    // a run, more than the difference measured; the ratio is of the sums of the pairs.
    // Each case starts a fresh est-server; --store-warmup (10 s by default) measures them once V8
    // has compiled their hot paths, as a server in service is.
    const warm = { warmup: storeWarmup };
    const pairs: CaseResult[][] = [];
    for (let round = 0; round < 2; round++) {
      const at = results.length;
      await runCases(fx.cas.p256, 'direct', workers, [64], ['enroll-cert'], { store: false, ...warm });
      await runCases(fx.cas.p256, 'direct', workers, [64], ['enroll-cert'], warm);
      pairs.push(results.slice(at));
    }
    const before = results.length;
    await runCases(fx.cas.p256, 'direct', workers, [64], ['enroll-cert'], { ledgerLines: 1_000_000, ...warm });
    const [full] = results.slice(before);
    // The million-record and PostgreSQL cases against both empty-ledger cases' mean: one case of
    // 5 s drifts by 10-20% from the next (the pairs above), so against one of them the ratio
    // would be that drift.
    const files = pairs.map((p) => p[1]).filter((r): r is CaseResult => !!r);
    const file = files.length ? { rps: files.reduce((a, r) => a + r.rps, 0) / files.length, p99: Math.max(...files.map((r) => r.p99)), each: files.map((r) => fmt(r.rps)).join(' and ') } : undefined;
    if (pairs.every((p) => p.length === 2)) {
      const sum = (i: number) => pairs.reduce((a, p) => a + p[i]!.rps, 0);
      const each = pairs.map((p) => `${fmt(p[1]!.rps)} against ${fmt(p[0]!.rps)}`).join(', then ');
      process.stdout.write(`index.txt ledger: ${fmt((100 * sum(1)) / sum(0))}% of the req/s without a ledger, two alternating pairs (${each}); p99 ${pairs.map((p) => fmt(p[1]!.p99, 1)).join(' and ')} ms (without ${pairs.map((p) => fmt(p[0]!.p99, 1)).join(' and ')} ms)\n`);
    }
    if (file && full) {
      process.stdout.write(`index.txt with 1,000,000 records: ${fmt(full.rps)} req/s = ${fmt((100 * full.rps) / file.rps)}% of an empty one (the mean of ${file.each}); p99 ${fmt(full.p99, 1)} ms; est-server --workers ${workers} started in ${fmt(full.startupMs ?? NaN)} ms; peak RSS ${fmt(full.peakRssMb)} MB per process\n`);
    }
    const why = postgresUnavailable();
    if (why) {
      process.stdout.write(`PostgreSQL case skipped: ${why}\n`);
      return;
    }
    const { pg, url } = await startBenchPostgres();
    try {
      await runCases(fx.cas.p256, 'direct', workers, [64], ['enroll-cert'], { store: url, ...warm });
      const db = results[results.length - 1];
      if (file && db?.store === 'postgres') {
        process.stdout.write(`PostgreSQL: ${fmt(db.rps)} req/s = ${fmt((100 * db.rps) / file.rps)}% of the embedded store's ${fmt(file.rps)} req/s (the mean of ${file.each}); p99 ${fmt(db.p99, 1)} ms (embedded up to ${fmt(file.p99, 1)} ms); ${pg.psqlIn('est_bench', 'SELECT count(*) FROM est_certificates').trim()} records\n`);
      }
    } finally {
      pg.destroy();
    }
    if (!quick) {
      process.stdout.write('\nScale-out: 3 est-server processes × 5,000 enrollments on one PostgreSQL (spec/store/scale-out.spec.ts at full size)\n');
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-name-pattern=3 processes', join(HERE, '..', 'spec', 'store', 'scale-out.spec.ts')], {
        cwd: join(HERE, '..'),
        env: { ...process.env, EST_SCALE_COUNT: '5000' },
        encoding: 'utf8',
      });
      const line = /# (\d+ enrollments through 3 processes[^\n]*)/.exec(r.stdout)?.[1];
      process.stdout.write(r.status === 0 ? `  ${line ?? 'passed'}; distinct serials, one record per certificate, 0 errors\n` : `  FAILED:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}\n`);
    }
  };

  try {
    process.stdout.write(`\n${duration} s per case after ${warmup} s of warm-up; the load generator (autocannon; when installed, wrk for the cases without a client certificate and ab for those with one, marked) runs in its own process on the same ${cores} cores\n`);
    process.stdout.write(table([]).split('\n').slice(0, 2).join('\n') + '\n');
    if (!soakOnly) {
      for (const mode of modes) for (const kind of cas) await runCases(fx.cas[kind], mode, workers, connections);
      if (compareWorkers > 0 && compareWorkers !== workers && modes.includes('direct')) {
        for (const kind of cas) await runCases(fx.cas[kind], 'direct', compareWorkers, [64]);
      }
      // authRequestCache (opt-in): the same enrollment with the backend's verdicts reused for 10 s.
      if (modes.includes('direct') && ops.includes('enroll-auth') && cas.includes('p256')) {
        const plain = results.find((r) => r.ca === 'p256' && r.mode === 'direct' && r.workers === workers && r.op === 'enroll-auth' && r.connections === 64 && !r.authCache);
        await runCases(fx.cas.p256, 'direct', workers, [64], ['enroll-auth'], { authCache: 10 });
        const cached = results[results.length - 1]!;
        if (plain) process.stdout.write(`authRequestCache 10 s: ${fmt(cached.rps)} req/s = ${fmt(cached.rps / plain.rps, 2)}× without it (${fmt(plain.rps)} req/s); p99 ${fmt(cached.p99, 1)} ms\n`);
      }
      if (!quick && serialLease !== 1 && modes.includes('direct') && ops.includes('enroll-cert')) {
        for (const kind of cas) await runCases(fx.cas[kind], 'direct', workers, [64], ['enroll-cert'], { lease: 1 });
      }
    }
    if (soakMinutes > 0) {
      const noPostgres = postgresUnavailable();
      const db = noPostgres ? undefined : await startBenchPostgres();
      try {
        soak = await runSoak({
          minutes: soakMinutes,
          connections: 16,
          ca: fx.cas.p256,
          dir: fx.dir,
          authUrl: auth.url,
          csrBodies: fx.csrBodies,
          ...(compiled ? { compiled } : {}),
          store: db ? db.url : false,
          ...(noPostgres ? { storeNote: `PostgreSQL unavailable: ${noPostgres}` } : {}),
          runLoad: (spec, onMeasure) => runLoad(spec, fx.dir, ++n, onMeasure),
          write: (line) => process.stdout.write(line),
        });
      } finally {
        db?.pg.destroy();
      }
    }
    if (!soakOnly && modes.includes('direct') && ops.includes('enroll-cert') && cas.includes('p256')) await storeComparison();
  } finally {
    await auth.close();
    fx.cleanup();
  }

  if (results.length) process.stdout.write(`\n## Results\n\n${table(results)}\n`);
  if (results.length) process.stdout.write(
    '\nCeiling: openssl speed on this machine × cores; enrollment = one P-256 CSR verification + one CA signature; serverkeygen = one CA signature (key generation not counted).\n' +
      'nginx-http-est on this machine (reference-behavior.md §4, wrk, 16 connections): /cacerts ~50,000 req/s; /simpleenroll 362 (RSA-2048 CA) / 446 (P-256 CA) req/s with 2 workers.\n',
  );
  // /cacerts behind nginx against the module: its reference figure (wrk, 16 connections), and nginx
  // serving the same bytes alone in this run, on this machine's day.
  for (const kind of cas) {
    const at16 = (alone: boolean) => results.find((r) => r.ca === kind && r.mode === 'nginx' && r.op === 'cacerts' && r.connections === 16 && !!r.nginxAlone === alone);
    const app = at16(false);
    const alone = at16(true);
    if (app && alone) {
      process.stdout.write(
        `/cacerts behind nginx, ${kind}, 16 connections (${app.generator}): ${fmt(app.rps)} req/s = ${fmt(app.rps / CACERTS_MODULE_RPS, 2)}× nginx-http-est's ${fmt(CACERTS_MODULE_RPS)}; nginx alone with the same bytes ${fmt(alone.rps)} req/s (${fmt(app.rps / alone.rps, 2)}×)\n`,
      );
    }
  }
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(
    jsonPath,
    JSON.stringify({ date: new Date().toISOString(), runtime: compiled ? 'node, lib compiled with tsc' : 'node --import tsx', command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(), machine: mach, opensslSpeed: { p256: speed.p256, rsa2048: speed.rsa2048 }, duration, warmup, results, ...(soak ? { soak } : {}) }, null, 2) + '\n',
  );
  process.stdout.write(`\nJSON: ${jsonPath}\n`);
  if (soak && !soak.passed) {
    process.stderr.write(`bench: memory soak FAILED: RSS grew ${(100 * soak.growth).toFixed(1)}% over the second half (limit ${100 * SOAK_MAX_GROWTH}%)\n`);
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
