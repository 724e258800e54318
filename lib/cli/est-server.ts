#!/usr/bin/env node
// est-server: runs est() on a Node https server (or plain HTTP behind a terminator); demo CA by default.
import cluster from 'node:cluster';
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes, X509Certificate } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino, destination, stdTimeFunctions, type Level } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import { EstConfigError, EstError } from '../errors.js';
import { est, requestIdOf, type EstMiddleware } from '../middleware/est.js';
import { lookupOperation } from '../middleware/operations.js';
import { pathOf, splitWellKnown, WELL_KNOWN } from '../middleware/route.js';
import { cutUnreadBody } from '../middleware/respond.js';
import { isClusterWorker, reportListening, reportStartFailure, startCluster } from './cluster.js';
import { JOURNAL_DIR_ENV, openJournal, type InflightJournal } from './inflight-journal.js';
import type { EstLogger, EstOptions } from '../middleware/options.js';
import { createEstMetrics, metricsHandler, type EstMetrics } from '../observe/metrics.js';
import { authBackendCheck, healthHandler, serialFileCheck, type ReadinessCheck } from '../observe/health.js';
import { defaultSerialPath } from '../middleware/directives.js';
import { initCa, INIT_CA_USAGE } from './init-ca.js';
import { demoAdmin, demoConfig, loadConfigFile, type ServerConfig } from './server-config.js';
import { estAdmin } from '../admin/admin.js';
import { hashPassword } from '../admin/auth.js';
import type { CertificateAuthority } from '../ca/types.js';
import type { RecordStore } from '../store/types.js';

const USAGE = `Usage: est-server [config.json|config.js] [options]
       est-server init-ca [options]    (make a CA and csrattrs.der to start from; --help)

With no config file, runs the embedded demo: a P-256 demo CA and a TLS certificate for
localhost are created on first run in the state folder, and a demo auth backend accepts one
printed user. The config file takes est() option names (caRootCertificate, caPrivateKey, ...),
plus host, port, tls {cert, key, clientCa}, labels {<label>: {...options}}, workers and
leanMemory.

Options:
  --host <addr>        listen address (default 127.0.0.1)
  --port <n>           listen port (default 8443; 0 picks a free one)
  --state-dir <dir>    demo state folder (default ./.est-demo or $EST_STATE_DIR)
  --workers <n|auto>   processes sharing the port and the serial file (default 1;
                       auto = one per CPU)
  --lean-memory        with --workers: two malloc arenas per worker, ~5 MB less RSS each
                       for ~5% of enrollment throughput (workers always start with a
                       smaller V8 young generation and slower heap growth, unless node
                       flags of your own say otherwise); config: "leanMemory": true
  --approval <mode>    auto (issue at once, default) or manual (every enrollment waits
                       for a person: 202 + Retry-After until approved on the admin pages)
  --admin <port>       serve the admin pages (pending requests, issued certificates) on
                       this port; users from the config's admin.users (demo: printed)
  --hash-password      read a password on stdin, print its scrypt hash for admin.users
  --log-level <level>  fatal, error, warn, info (default), debug, trace or silent;
                       logs are JSON lines (pino) on stderr
  -q, --quiet          same as --log-level error
  --metrics-port <n>   serve Prometheus /metrics (and /healthz, /readyz) on this port;
                       config: "metrics": {"port": n, "host": "127.0.0.1"}
  --metrics-host <a>   address of the metrics port (default 127.0.0.1)
  -h, --help           this text

/healthz (liveness) and /readyz (CA loaded, serial file usable, auth backend reachable)
are also served on the main port.`;

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** pino, one JSON line per event on stderr (stdout carries the demo's printed commands). */
function createLogger(level: string): EstLogger {
  return pino({ level, timestamp: stdTimeFunctions.isoTime, base: { pid: process.pid } }, destination({ dest: 2, sync: true }));
}

/** Starts the demo auth backend: Basic `<user>:<password>` → 200, else 401 with a challenge. */
function startDemoAuth(user: string, password: string): Promise<{ url: string; server: Server }> {
  const expected = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
  const server = createHttp((req, res) => {
    if (req.headers.authorization === expected) res.writeHead(200).end();
    else res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="est-demo"' }).end();
  });
  // exclusive: under --workers each worker has its own backend, not one port shared through the primary.
  return new Promise((ok) => server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
    const a = server.address() as { port: number };
    ok({ url: `http://127.0.0.1:${a.port}/auth`, server });
  }));
}

/**
 * How to run est-client beside this server: the package's bin (bin/ runs dist/, which `npm ci`
 * and every install build through `prepare`), or the sources through tsx while dist/ is missing.
 */
function estClientCommand(): string {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  if (existsSync(join(root, 'dist', 'cli', 'est-client.js'))) return `node ${join(root, 'bin', 'est-client.js')}`;
  const tsx = join(root, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs');
  return `node --import ${existsSync(tsx) ? tsx : 'tsx'} ${join(root, 'lib', 'cli', 'est-client.ts')}`;
}

function printDemoHelp(cfg: ServerConfig, port: number): void {
  const d = cfg.demo!;
  const ca = resolve(d.stateDir, 'ca.crt');
  const fingerprint = new X509Certificate(readFileSync(ca)).fingerprint256;
  const host = cfg.host === '0.0.0.0' || cfg.host === '::' ? '127.0.0.1' : cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  const origin = `https://${host}:${port}`;
  const estClient = estClientCommand();
  const base = `https://localhost:${port}/.well-known/est`;
  const curl = `curl -sS --cacert ${ca} --resolve localhost:${port}:127.0.0.1`;
  process.stdout.write(`
express-est demo server
  state folder: ${resolve(d.stateDir)}   (demo CA, TLS certificate, serial file)
  listening:    https://${cfg.host}:${port}/.well-known/est
  demo user:    ${d.user} / ${d.password}   (checked by the embedded auth backend)
  CA SHA-256:   ${fingerprint}

Try it (copy and paste):

  # 1. the CA certificates
  ${curl} ${base}/cacerts | openssl base64 -d | openssl pkcs7 -inform DER -print_certs

  # 2. enroll with the demo user (HTTP Basic via the auth backend)
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout device.key -subj /CN=device-1 -outform DER -out device.csr
  base64 device.csr > device.b64
  ${curl} -u ${d.user}:${d.password} --data-binary @device.b64 -H 'Content-Type: application/pkcs10' ${base}/simpleenroll | openssl base64 -d | openssl pkcs7 -inform DER -print_certs -out device.crt
  openssl verify -CAfile ${ca} device.crt

  # 3. renew with the certificate just issued (TLS client-certificate auth, no password)
  ${curl} --cert device.crt --key device.key --data-binary @device.b64 -H 'Content-Type: application/pkcs10' ${base}/simplereenroll | openssl base64 -d | openssl pkcs7 -inform DER -print_certs

The same with est-client (bootstrap the CA certificate against the fingerprint above):

  ${estClient} cacerts ${origin} --insecure-bootstrap --fingerprint ${fingerprint} -o demo-ca.pem
  ${estClient} enroll ${origin} --ca demo-ca.pem -u ${d.user}:${d.password} --subject /CN=device-2 --new-key device-2.key -o device-2.crt
  ${estClient} reenroll ${origin} --ca demo-ca.pem --cert device-2.crt --key device-2.key -o device-2.crt

`);
}

export interface StartedServer {
  server: Server;
  port: number;
  /** What /readyz checks. */
  readiness: ReadinessCheck[];
  /** The admin pages' server and port, when `admin` is configured. */
  admin?: { server: Server; port: number };
  close(): Promise<void>;
}

/** The first certificate of a PEM/DER option value (path or content), for the readiness check. */
function firstCertificate(v: unknown): X509Certificate | undefined {
  try {
    if (typeof v === 'string') return new X509Certificate(v.includes('-----BEGIN') ? v : readFileSync(v));
    if (v instanceof Uint8Array) return new X509Certificate(v);
  } catch {
    /* est() has already refused what it cannot read */
  }
  return undefined;
}

/**
 * Readiness of one mount, derived from its options: the CA certificate loaded and not expired,
 * the serial file usable, the auth backend reachable.
 */
function mountReadiness(path: string, o: EstOptions, many: boolean): ReadinessCheck[] {
  const suffix = many ? ` ${path}` : '';
  const checks: ReadinessCheck[] = [];
  if (!o.ca) {
    const cert = firstCertificate(o.caRootCertificate);
    const notAfter = cert ? new Date(cert.validTo) : undefined;
    checks.push({
      name: `ca${suffix}`,
      check() {
        if (notAfter && Date.now() >= notAfter.getTime()) throw new Error(`the CA certificate expired on ${notAfter.toISOString()}`);
      },
    });
    // With a store that allocates serials (PostgreSQL), the serial file is not used.
    const storeSerials = o.store !== undefined && o.store !== false && o.caSerialNumber === undefined;
    if (o.serialMode !== 'random' && !storeSerials) {
      const serial = o.caSerialNumber ?? (typeof o.caRootCertificate === 'string' ? defaultSerialPath(o.caRootCertificate) : undefined);
      if (serial) checks.push({ ...serialFileCheck(serial), name: `serial-store${suffix}` });
    }
  }
  if (o.authRequest) checks.push({ ...authBackendCheck(o.authRequest), name: `auth-backend${suffix}` });
  return checks;
}

/** `est-server --hash-password`: one password on stdin → its scrypt hash on stdout. */
async function hashPasswordCommand(): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (!password) {
    process.stderr.write('est-server: --hash-password reads the password on stdin (got nothing)\n');
    return 2;
  }
  process.stdout.write((await hashPassword(password)) + '\n');
  return 0;
}

/** The admin pages on their own port, over the same TLS as the EST server when it has TLS. */
async function startAdmin(cfg: ServerConfig, store: RecordStore, ca: CertificateAuthority | undefined, logger: EstLogger): Promise<{ server: Server; port: number }> {
  const a = cfg.admin!;
  const handler = estAdmin({
    store,
    ...(ca ? { ca } : {}),
    auth: { users: a.users, realm: 'est-admin' },
    ...(a.csrfSecret ? { csrfSecret: a.csrfSecret } : {}),
    ...(a.title ? { title: a.title } : {}),
    ...(a.pageSize ? { pageSize: a.pageSize } : {}),
    logger,
  });
  const app = (req: IncomingMessage, res: ServerResponse) => handler(req, res);
  const server: Server = cfg.tls
    ? (createHttps({ cert: readFileSync(cfg.tls.cert), key: readFileSync(cfg.tls.key), minVersion: 'TLSv1.2' }, app) as unknown as Server)
    : createHttp(app);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(a.port, a.host, () => ok());
  });
  return { server, port: (server.address() as { port: number }).port };
}

/**
 * A request handler that hands each request to the est() of its label, split from the path by
 * est()'s own routing (middleware/route.ts): `/.well-known/est/<label>/<op>` to the label's,
 * everything else under `/.well-known/est` to the unlabelled one. est-server needs nothing else
 * from a framework, and Express 5 costs several times the per-request time of /cacerts itself
 * (see BENCHMARKS.md).
 */
function labelHandler(byLabel: ReadonlyMap<string, EstMiddleware>): (req: IncomingMessage, res: ServerResponse) => void {
  const notFound = (req: IncomingMessage, res: ServerResponse) => {
    cutUnreadBody(req, res);
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '10' }).end('not found\n');
  };
  return (req, res) => {
    const where = splitWellKnown(pathOf(req.url ?? '/'));
    const m = where && byLabel.get(where.label ?? '');
    if (!m) return notFound(req, res);
    m(req, res, () => notFound(req, res));
  };
}

/** The label a mount path serves: '' for `/.well-known/est`, `<label>` for `/.well-known/est/<label>`. */
function mountLabel(path: string): string {
  const p = path.replace(/\/+$/, '');
  if (p === WELL_KNOWN) return '';
  const label = p.startsWith(WELL_KNOWN + '/') ? p.slice(WELL_KNOWN.length + 1) : '';
  if (!label || label.includes('/') || lookupOperation(label)) {
    throw new EstConfigError(`est-server: mount ${JSON.stringify(path)} must be ${WELL_KNOWN} or ${WELL_KNOWN}/<label> (one segment, not an operation name)`);
  }
  return label;
}

/**
 * Gives every request an id (a well-formed `X-Request-Id` from the client or proxy, else a fresh
 * one, which est() then uses too), echoes it in the response, and under `--workers` records it in
 * the worker's in-flight journal until the response closes, so that the primary can name the
 * request a worker died on.
 */
function withRequestIds(app: (req: IncomingMessage, res: ServerResponse) => void, journal?: InflightJournal): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const id = requestIdOf(req);
    req.headers['x-request-id'] = id;
    res.setHeader('X-Request-Id', id);
    if (journal) {
      const slot = journal.begin(`${id} ${req.method ?? '-'} ${(req.url ?? '').slice(0, 120)} from ${req.socket.remoteAddress ?? '-'}`);
      res.once('close', () => journal.end(slot));
    }
    app(req, res);
  };
}

/** A file of the `tls` block; a missing or unreadable one is an EstConfigError naming the setting and the file. */
function readTlsFile(setting: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new EstConfigError(`est-server: \`${setting}\` cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

/** Mounts est() per configured path on a Node http(s) server and starts listening. */
export async function startServer(cfg: ServerConfig, logger: EstLogger, metrics?: EstMetrics): Promise<StartedServer> {
  const labels = Object.entries(cfg.mounts).map(([path, options]) => [mountLabel(path), options] as const);
  const byLabel = new Map<string, EstMiddleware>();
  let authServer: Server | undefined;
  if (cfg.demo) {
    const auth = await startDemoAuth(cfg.demo.user, cfg.demo.password);
    authServer = auth.server;
    for (const o of Object.values(cfg.mounts)) o.authRequest ??= auth.url;
  }
  for (const [label, options] of labels) byLabel.set(label, est({ logger, ...(metrics ? { metrics } : {}), ...options }));
  // Record stores that need a connection (PostgreSQL) are checked before the port opens.
  try {
    await Promise.all([...byLabel.values()].map((m) => m.ready()));
  } catch (e) {
    authServer?.close();
    await Promise.all([...byLabel.values()].map((m) => m.close().catch(() => {})));
    throw e;
  }
  const entries = Object.entries(cfg.mounts);
  const readiness = entries.flatMap(([path, o]) => mountReadiness(path, o, entries.length > 1));
  // The issuance ledger of each mount: index.txt readable, or PostgreSQL answering.
  for (const [path, o] of entries) {
    const m = byLabel.get(mountLabel(path));
    if (m && o.store !== false) readiness.push({ name: `record-store${entries.length > 1 ? ` ${path}` : ''}`, check: () => m.checkStore() });
  }
  const health = healthHandler(readiness);
  const journalDir = cluster.isWorker ? process.env[JOURNAL_DIR_ENV] : undefined;
  const journal = journalDir ? openJournal(journalDir) : undefined;
  const estHandler = withRequestIds(labelHandler(byLabel), journal);
  const app = (req: IncomingMessage, res: ServerResponse) => {
    if (!health(req, res)) estHandler(req, res);
  };
  const server: Server = cfg.tls
    ? (createHttps(
        {
          cert: readTlsFile('tls.cert', cfg.tls.cert),
          key: readTlsFile('tls.key', cfg.tls.key),
          ...(cfg.tls.clientCa ? { ca: readTlsFile('tls.clientCa', cfg.tls.clientCa) } : {}),
          requestCert: true,
          rejectUnauthorized: false,
          minVersion: 'TLSv1.2',
        },
        app,
      ) as unknown as Server)
    : createHttp(app);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(cfg.port, cfg.host, () => ok());
  });
  const port = (server.address() as { port: number }).port;
  let admin: { server: Server; port: number } | undefined;
  if (cfg.admin) {
    // The pages show the unlabelled est()'s store (or else the first label's that has one).
    const store = byLabel.get('')?.store ?? [...byLabel.values()].find((m) => m.store)?.store;
    if (!store) throw new EstConfigError('est-server: `admin` needs a record store (the `store` option)');
    admin = await startAdmin(cfg, store, undefined, logger);
  }
  return {
    server,
    port,
    readiness,
    ...(admin ? { admin } : {}),
    close: async () => {
      server.closeAllConnections?.();
      if (admin) {
        admin.server.closeAllConnections?.();
        await new Promise<void>((r) => admin!.server.close(() => r()));
      }
      await new Promise<void>((r) => server.close(() => r()));
      authServer?.close();
      await Promise.all([...byLabel.values()].map((m) => m.close()));
      journal?.close();
    },
  };
}

/**
 * Runs the CLI. Resolves with an exit code, or -1 while the server keeps running (it exits on a
 * signal). bin/est-server.js calls this; running this file directly does too.
 */
export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'init-ca') return initCa(argv.slice(1));
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'state-dir': { type: 'string' },
        workers: { type: 'string' },
        'lean-memory': { type: 'boolean' },
        approval: { type: 'string' },
        admin: { type: 'string' },
        'hash-password': { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        'log-level': { type: 'string' },
        'metrics-port': { type: 'string' },
        'metrics-host': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    process.stderr.write(`est-server: ${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (args.values['hash-password']) return hashPasswordCommand();
  const host = args.values.host ?? '127.0.0.1';
  const port = args.values.port !== undefined ? Number(args.values.port) : 8443;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`est-server: --port must be 0..65535\n`);
    return 2;
  }
  let workers: number | undefined;
  if (args.values.workers !== undefined) {
    workers = parseWorkers(args.values.workers);
    if (workers === undefined) {
      process.stderr.write(`est-server: --workers must be a positive integer or auto (got ${args.values.workers})\n`);
      return 2;
    }
  }
  const level = args.values['log-level'] ?? (args.values.quiet ? 'error' : 'info');
  if (!LEVELS.includes(level)) {
    process.stderr.write(`est-server: --log-level must be one of ${LEVELS.join(', ')} (got ${level})\n`);
    return 2;
  }
  let metricsPort: number | undefined;
  if (args.values['metrics-port'] !== undefined) {
    metricsPort = Number(args.values['metrics-port']);
    if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535) {
      process.stderr.write(`est-server: --metrics-port must be 0..65535\n`);
      return 2;
    }
  }
  const worker = isClusterWorker();
  const logger = createLogger(level as Level | 'silent');
  let cfg: ServerConfig;
  try {
    // Under --workers the primary runs this first, so the demo PKI exists before workers read it.
    cfg = args.positionals[0]
      ? await loadConfigFile(args.positionals[0])
      : await demoConfig(args.values['state-dir'] ?? process.env.EST_STATE_DIR ?? '.est-demo', host, port);
    if (args.values.host) cfg.host = host;
    if (args.values.port !== undefined) cfg.port = port;
    if (workers !== undefined) cfg.workers = workers;
    if (args.values['lean-memory']) cfg.leanMemory = true;
    if (metricsPort !== undefined) cfg.metrics = { port: metricsPort, host: args.values['metrics-host'] ?? cfg.metrics?.host ?? '127.0.0.1' };
    applyApprovalFlag(cfg, args.values.approval);
    await applyAdminFlag(cfg, args.values.admin);
    if (parseWorkers(cfg.workers) === undefined) throw new EstConfigError(`est-server: workers must be a positive integer or "auto" (got ${JSON.stringify(cfg.workers)})`);
    cfg.workers = parseWorkers(cfg.workers)!;
    if (cfg.workers > 1 && cluster.isPrimary) return await runPrimary(cfg, logger);
    const metrics = createEstMetrics({ defaultMetrics: true });
    // Under --workers the primary collects every worker's registry (prom-client's cluster aggregation).
    if (worker) {
      new AggregatorRegistry(); // installs the worker's answer to the primary's requests
      AggregatorRegistry.setRegistries([metrics.registry]);
    }
    const started = await startServer(cfg, logger, metrics);
    const admin = !worker && cfg.metrics ? await startMetricsServer(cfg.metrics, metricsHandler(metrics), started.readiness) : undefined;
    const stop = stopOnSignals(() => {
      admin?.close();
      return started.close();
    });
    if (worker) {
      // The primary went away (even kill -9): finish what is in flight and leave.
      process.once('disconnect', stop);
      reportListening(started.port);
    } else if (cfg.demo) printDemoHelp(cfg, started.port);
    else process.stdout.write(`est-server listening on ${cfg.tls ? 'https' : 'http'}://${cfg.host}:${started.port}\n`);
    if (admin) process.stdout.write(`metrics:      http://${cfg.metrics!.host}:${admin.port}/metrics (also /healthz, /readyz)\n`);
    logger.info({ port: started.port, host: cfg.host, tls: !!cfg.tls, mounts: Object.keys(cfg.mounts), ...(admin ? { metricsPort: admin.port } : {}) }, 'est-server listening');
    if (started.admin && !worker) printAdmin(cfg, started.admin.port);
    return -1;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    if (worker) await reportStartFailure((e as Error).message);
    return e instanceof EstError ? 2 : 1;
  }
}

/** On SIGTERM or SIGINT (or a call of the returned function), closes once, then exits 0. */
function stopOnSignals(close: () => Promise<void>): () => void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return stop;
}

/** The metrics port: /metrics, /healthz and /readyz on plain HTTP, meant for the monitoring network only. */
async function startMetricsServer(where: { port: number; host: string }, metrics: (req: IncomingMessage, res: ServerResponse) => void, readiness: ReadinessCheck[]): Promise<{ port: number; close(): void }> {
  const health = healthHandler(readiness);
  const server = createHttp((req, res) => {
    if (health(req, res)) return;
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') return metrics(req, res);
    const body = 'not found: try /metrics, /healthz or /readyz\n';
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.length) }).end(body);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(where.port, where.host, () => ok());
  });
  return { port: (server.address() as { port: number }).port, close: () => server.close() };
}

/** `--approval auto|manual`: the approval option for every mount. */
function applyApprovalFlag(cfg: ServerConfig, mode: string | undefined): void {
  if (mode === undefined) return;
  if (mode !== 'auto' && mode !== 'manual') throw new EstConfigError(`est-server: --approval must be auto or manual (got ${mode})`);
  for (const o of Object.values(cfg.mounts)) o.approval = mode;
}

/**
 * `--admin <port>`: the admin pages on that port. Users come from the config's `admin.users`; the
 * demo makes one (`admin`, password printed and kept in the state folder). Worker processes share
 * the primary's CSRF key through the environment, so a form served by one is accepted by another.
 */
async function applyAdminFlag(cfg: ServerConfig, port: string | undefined): Promise<void> {
  if (port !== undefined) {
    const n = Number(port);
    if (!/^\d+$/.test(port) || n > 65535) throw new EstConfigError(`est-server: --admin must be a port 0..65535 (got ${port})`);
    if (cfg.admin) cfg.admin.port = n;
    else if (cfg.demo) cfg.admin = await demoAdmin(cfg.demo.stateDir, n, cfg.host);
    else throw new EstConfigError('est-server: --admin needs `admin.users` in the config file (hashes from est-server --hash-password)');
  }
  if (cfg.admin && !cfg.admin.csrfSecret) {
    process.env.EST_ADMIN_CSRF_SECRET ??= randomBytes(32).toString('base64url');
    cfg.admin.csrfSecret = process.env.EST_ADMIN_CSRF_SECRET;
  }
}

function printAdmin(cfg: ServerConfig, port: number): void {
  const a = cfg.admin!;
  const host = a.host === '127.0.0.1' ? 'localhost' : a.host;
  const who = a.demoPassword ? `   user admin / password ${a.demoPassword}` : '';
  process.stdout.write(`admin pages:  ${cfg.tls ? 'https' : 'http'}://${host}:${port}/pending${who}\n`);
}

/** `--workers`/`workers`: a positive integer (at most 256) or `auto` (one per CPU). */
function parseWorkers(v: unknown): number | undefined {
  if (v === 'auto') return availableParallelism();
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 256 ? n : undefined;
}

/** The node:cluster primary: forks the workers, prints once, forwards SIGTERM/SIGINT. */
async function runPrimary(cfg: ServerConfig, logger: EstLogger): Promise<number> {
  const primary = await startCluster({ workers: cfg.workers, logger, leanMemory: cfg.leanMemory ?? false });
  let admin: { port: number; close(): void } | undefined;
  if (cfg.metrics) {
    const aggregator = new AggregatorRegistry();
    const readiness = Object.entries(cfg.mounts).flatMap(([path, o]) => mountReadiness(path, o, Object.keys(cfg.mounts).length > 1));
    admin = await startMetricsServer(cfg.metrics, metricsHandler(() => aggregator.clusterMetrics(), aggregator.contentType), readiness);
  }
  if (cfg.demo) printDemoHelp(cfg, primary.port);
  if (cfg.admin) printAdmin(cfg, cfg.admin.port);
  else process.stdout.write(`est-server listening on ${cfg.tls ? 'https' : 'http'}://${cfg.host}:${primary.port} (${cfg.workers} workers: ${primary.pids().join(' ')})\n`);
  if (admin) process.stdout.write(`metrics:      http://${cfg.metrics!.host}:${admin.port}/metrics (all workers; also /healthz, /readyz)\n`);
  stopOnSignals(() => {
    admin?.close();
    return primary.close();
  });
  void primary.stopped.then((code) => process.exit(code));
  return -1;
}

// Run directly (node lib/cli/est-server.ts, also through a symlinked folder: compare real paths).
if (process.argv[1] && import.meta.url === (await import('node:url')).pathToFileURL((await import('node:fs')).realpathSync(process.argv[1])).href) {
  const code = await main(process.argv.slice(2));
  if (code >= 0) process.exit(code);
}
