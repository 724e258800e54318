// Processes under test: est-server (node:cluster, --workers N), nginx in front of it, and an auth backend.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, appendFileSync, constants, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort } from '../spec/helpers/ports.js';
import { nginxWorkers, renderExample } from '../spec/tls/harness.js';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../spec/helpers/postgres.js';
import { createPool, migrate } from '../lib/store/postgres-store.js';
import { Oid } from '../lib/protocol/constants.js';
import { oid, seq, set } from '../lib/protocol/der.js';
import type { CaFixture } from './fixtures.js';
import type { LoadResult, LoadSpec } from './load.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export const BENCH_USER = 'bench';
export const BENCH_PASSWORD = 'bench-password';

/** An auth backend like nginx's auth_request target: Basic bench:bench-password → 200, else 401. */
export function startAuthBackend(): Promise<{ url: string; close(): Promise<void> }> {
  const expected = 'Basic ' + Buffer.from(`${BENCH_USER}:${BENCH_PASSWORD}`).toString('base64');
  const server: Server = createServer((req, res) => {
    if (req.headers.authorization === expected) res.writeHead(200, { 'Content-Length': '0' }).end();
    else res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="bench"', 'Content-Length': '0' }).end();
  });
  server.keepAliveTimeout = 30_000;
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({
        url: `http://127.0.0.1:${port}/auth`,
        close: () => {
          server.closeAllConnections();
          return new Promise<void>((r) => server.close(() => r()));
        },
      });
    }),
  );
}

export interface RunningServer {
  /** Base URL of the EST API as clients see it. */
  url: string;
  /** Process ids that do the serving (est-server primary and workers, nginx master and workers). */
  pids(): number[];
  close(): Promise<void>;
}

function waitForLine(child: ChildProcess, re: RegExp, what: string, timeoutMs = 30_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start in ${timeoutMs} ms\n${out}\n${err}`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.length > 20_000) err = err.slice(-10_000);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code})\n${out}\n${err}`));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Starts `est-server <config> --workers N -q` as a child process. `tls`: Node terminates TLS
 * (direct); otherwise plain HTTP for a terminator on loopback (trusted, nginx header preset).
 */
export async function startEstServer(opts: {
  ca: CaFixture;
  dir: string;
  workers: number;
  tls: boolean;
  authUrl: string;
  serialFile: string;
  serialLease: number;
  csrAttrs?: string;
  compiled?: string;
  /** A PostgreSQL URL; false: no ledger (serial file only); unset: the embedded store. */
  store?: string | false;
  /** More est() / est-server options (e.g. cryptoThreads). */
  config?: Record<string, unknown>;
  /** Node options for est-server (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** More environment for est-server (e.g. MALLOC_ARENA_MAX). */
  env?: Record<string, string>;
}): Promise<RunningServer & { port: number; pid: number; errorMessages(): string[] }> {
  const { ca } = opts;
  const config: Record<string, unknown> = {
    host: '127.0.0.1',
    port: 0,
    caRootCertificate: ca.cert,
    caPrivateKey: ca.key,
    // The embedded store (serial file + index.txt), the serial file alone (store: false), or
    // PostgreSQL, which then allocates the serials.
    ...(opts.store ? { store: opts.store } : { caSerialNumber: opts.serialFile, ...(opts.store === false ? { store: false } : {}) }),
    serialLease: opts.serialLease,
    caValidityDays: 30,
    authRequest: opts.authUrl,
    ...(opts.csrAttrs ? { csrAttrs: opts.csrAttrs } : {}),
    ...opts.config,
  };
  if (opts.tls) config.tls = { cert: ca.server.cert, key: ca.server.key, clientCa: ca.cert };
  else Object.assign(config, { trustProxy: 'loopback', proxyHeaders: 'nginx' });
  const file = join(opts.dir, `est-server-${ca.kind}-${opts.tls ? 'tls' : 'http'}-${opts.workers}-${opts.serialLease}${opts.store ? '-pg' : opts.store === false ? '-nostore' : ''}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  const entry = opts.compiled ? [join(opts.compiled, 'cli/est-server.js')] : ['--import', 'tsx', join(ROOT, 'lib/cli/est-server.ts')];
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...entry, file, '--workers', String(opts.workers), '-q'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
  });
  // EST_BENCH_SERVER_LOG=<file>: est-server's output (errors, with -q) appended there, to see why requests failed.
  const logTo = process.env.EST_BENCH_SERVER_LOG;
  if (logTo) for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => appendFileSync(logTo, d));
  // The messages of its error lines, each once (at most 20), for the case that saw non-2xx answers.
  const errors = new Set<string>();
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (errors.size >= 20 || !line.trim()) return;
    let msg = line;
    try {
      const j = JSON.parse(line) as { msg?: string; err?: { message?: string } };
      msg = [j.msg, j.err?.message].filter(Boolean).join(' — ');
    } catch {
      /* not JSON: the line itself */
    }
    errors.add(msg.slice(0, 300));
  });
  const m = await waitForLine(child, /listening on https?:\/\/[^:]+:(\d+)/, 'est-server');
  const port = Number(m[1]);
  const pid = child.pid!;
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}/.well-known/est`,
    port,
    pid,
    pids: () => [pid],
    errorMessages: () => [...errors],
    close: () => stopChild(child),
  };
}

/** The first of `paths` that can be run. */
function executable(paths: string[]): string | undefined {
  return paths.find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** nginx's path when installed (the nginx cases are skipped otherwise). */
export const NGINX = executable(['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx', '/usr/local/nginx/sbin/nginx']);

/** Where the bench's nginx serves est-server's /cacerts bytes by itself (`return 200`), as a module would. */
const STAND_IN_BASE = '/nginx-alone';

/** wrk's path when installed (Debian: apt-get install wrk); the cases without a client certificate fall back to autocannon. */
export const WRK = executable(['/usr/bin/wrk', '/usr/local/bin/wrk']);

/** ab's path when installed (Debian: apt-get install apache2-utils); the client-certificate cases fall back to autocannon. */
export const AB = executable(['/usr/bin/ab', '/usr/local/bin/ab']);

/**
 * nginx terminating TLS in front of a plain-HTTP est-server with examples/behind-nginx/nginx.conf
 * (client certificate passed in X-SSL-Client-Cert, /cacerts from nginx's cache), more connections
 * and more upstream keep-alive.
 */
export async function startNginx(opts: { ca: CaFixture; dir: string; upstreamPort: number }): Promise<RunningServer & { standInBase: string }> {
  if (!NGINX) throw new Error('nginx is not installed');
  // The app's /cacerts answer, which nginx also serves by itself at STAND_IN_BASE/cacerts: what a module
  // answering from inside nginx could do at most, measured on this machine in the same run.
  const cacerts = await fetch(`http://127.0.0.1:${opts.upstreamPort}/.well-known/est/cacerts`);
  const body = await cacerts.text();
  if (cacerts.status !== 200 || !/^[A-Za-z0-9+/=\r\n]+$/.test(body)) throw new Error(`est-server's /cacerts answered ${cacerts.status}: ${JSON.stringify(body.slice(0, 200))}`);
  const port = await freePort();
  const prefix = join(opts.dir, `nginx-${opts.ca.kind}-${port}`);
  const conf = `${prefix}.conf`;
  // The example itself, with this run's ports, files and connection limits, and the stand-in
  // location: the bench measures the configuration the README gives.
  writeFileSync(
    conf,
    renderExample('examples/behind-nginx/nginx.conf', [
      nginxWorkers('auto'),
      ['error_log nginx-error.log;', `error_log ${prefix}.error.log warn;`],
      ['pid nginx.pid;', `pid ${prefix}.pid;\ndaemon off;`],
      ['worker_connections 1024;', 'worker_connections 4096;'],
      ['proxy_cache_path tmp-cache ', `proxy_cache_path tmp-cache-${port} `],
      ['server 127.0.0.1:8080;', `server 127.0.0.1:${opts.upstreamPort};`],
      ['keepalive 16;', 'keepalive 128;'],
      ['listen 8443 ssl;', `listen 127.0.0.1:${port} ssl;\n        keepalive_requests 1000000;`],
      ['pki/tls/server.crt', opts.ca.server.cert],
      ['pki/tls/server.key', opts.ca.server.key],
      ['pki/ca.crt', opts.ca.cert],
      [
        '        location /.well-known/est/ {',
        `        location = ${STAND_IN_BASE}/cacerts {
            default_type application/pkcs7-mime;
            add_header Content-Transfer-Encoding base64;
            return 200 "${body}";
        }

        location /.well-known/est/ {`,
      ],
    ]),
  );
  const child = spawn(NGINX, ['-e', `${prefix}.error.log`, '-c', conf, '-p', opts.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  // nginx prints nothing on success: wait until the port accepts connections.
  const { connect } = await import('node:net');
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}); see ${prefix}.error.log`);
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error('nginx did not start listening');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `https://127.0.0.1:${port}/.well-known/est`, standInBase: `https://127.0.0.1:${port}${STAND_IN_BASE}`, pids: () => [child.pid!], close: () => stopChild(child) };
}

/**
 * Compiles lib/ with tsconfig.build.json into node_modules/.cache (so that the server runs as
 * the published package does, without tsx's loader and its ~30 MB); returns the output folder.
 */
export function compileLib(): string {
  // A/B runs: another build of lib/, in a folder under node_modules/ so that its imports resolve
  // (e.g. tsc -p tsconfig.build.json --outDir node_modules/.cache/before at an older commit).
  if (process.env.EST_BENCH_LIB) return process.env.EST_BENCH_LIB;
  const out = join(ROOT, 'node_modules/.cache/express-est-bench');
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', out, '--sourceMap', 'false', '--declaration', 'false'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tsc failed:\n${r.stdout}${r.stderr}`);
  return out;
}

/** CsrAttrs served by /csrattrs and checked on enrollment: ecdsa-with-SHA256 and an EC P-256 key. */
export function benchCsrAttrs(): Uint8Array {
  return seq(oid(Oid.ecdsaWithSHA256), seq(oid(Oid.ecPublicKey), set(oid(Oid.secp256r1))));
}

/** What went wrong in a run, for a line of output: errors (timeouts among them) and non-2xx answers by status. */
export function failureText(r: Pick<LoadResult, 'errors' | 'timeouts' | 'non2xx' | 'statusCodes'>): string {
  return `${r.errors} errors (${r.timeouts} timeouts), ${r.non2xx} non-2xx ${JSON.stringify(r.statusCodes ?? {})}`;
}

/** Runs one case in a load-generator child; `onMeasure` is called when the measured part starts. */
export function runLoad(spec: LoadSpec, dir: string, n: number, onMeasure: () => void): Promise<LoadResult> {
  const file = join(dir, `load-${n}.json`);
  writeFileSync(file, JSON.stringify(spec));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'load.ts'), file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"phase":"measure"') && !out.includes('"measured"')) {
        out = out.replace('"phase":"measure"', '"phase":"measured"');
        onMeasure();
      }
    });
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult);
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** The load generator of a case: `auto` picks wrk without a client certificate and ab with one, each when installed, else autocannon. */
export type LoadChoice = 'auto' | 'autocannon' | 'wrk' | 'ab';

/** What a benchmark case asks of est-server. */
export type BenchOp = 'cacerts' | 'csrattrs' | 'enroll-cert' | 'enroll-auth' | 'serverkeygen';

/**
 * The load of one case against `base` (the EST root URL): GET for /cacerts and /csrattrs; the
 * CSRs in turn for the enrollments, authenticated by `ca`'s client certificate (`enroll-cert`,
 * `serverkeygen`) or by HTTP Basic through the auth backend (`enroll-auth`).
 */
export function loadSpecFor(
  op: BenchOp,
  base: string,
  ca: CaFixture,
  csrBodies: string[],
  timing: { connections: number; durationSec: number; warmupSec: number },
  generator: LoadChoice = 'auto',
): LoadSpec {
  const spec: LoadSpec = { url: `${base}/${op}`, method: 'GET', headers: {}, ...timing };
  if (op !== 'cacerts' && op !== 'csrattrs') {
    spec.url = `${base}/${op === 'serverkeygen' ? 'serverkeygen' : 'simpleenroll'}`;
    spec.method = 'POST';
    spec.headers['content-type'] = 'application/pkcs10';
    spec.bodies = csrBodies;
    if (op === 'enroll-auth') spec.headers.authorization = 'Basic ' + Buffer.from(`${BENCH_USER}:${BENCH_PASSWORD}`).toString('base64');
    else spec.tls = { cert: ca.client.certPem, key: ca.client.keyPem };
  }
  // wrk, when installed, for every case without a client certificate (it cannot present one): as
  // the module's and the figures were measured, and lighter than autocannon (~0.9 of a
  // core at ~25,000 req/s of /cacerts here). ab for the cases with one: C as well (0.09 of a core
  // at ~3,000 enrollments a second, where autocannon takes 0.22), though it posts one CSR for all.
  if (generator === 'wrk' && spec.tls) throw new Error(`wrk cannot present a client certificate: ${op} needs autocannon or ab`);
  if (generator === 'wrk' || generator === 'ab') spec.generator = generator;
  else if (generator === 'auto' && (spec.tls ? AB : WRK)) spec.generator = spec.tls ? 'ab' : 'wrk';
  return spec;
}

/**
 * A throwaway PostgreSQL cluster with a migrated `est_bench` database; `url` is est-server's
 * `store`. Throws when the PostgreSQL binaries are missing (`why` says which).
 */
export async function startBenchPostgres(): Promise<{ pg: TestPostgres; url: string }> {
  const why = postgresUnavailable();
  if (why) throw new Error(why);
  const pg = await startPostgres();
  try {
    pg.psql('CREATE DATABASE est_bench');
    const url = pg.url.replace(/\/postgres$/, '/est_bench');
    const pool = createPool(url, { max: 1 });
    await migrate(pool);
    await pool.end();
    return { pg, url };
  } catch (e) {
    pg.destroy();
    throw e;
  }
}
