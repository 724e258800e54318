// est-server configuration: a JSON/JS file with est() option names, or the embedded demo.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { hashPassword } from '../admin/auth.js';
import { EstConfigError } from '../errors.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import type { EstOptions } from '../middleware/options.js';
import { toPem } from '../protocol/pem.js';
import { createDemoCa, createDemoServerCert } from './demo-pki.js';

/** The server around est(): where it listens and how it terminates TLS. */
export interface ServerConfig {
  host: string;
  port: number;
  /** TLS for a direct Node https server; absent = plain HTTP (behind a terminator). */
  tls?: { cert: string; key: string; clientCa?: string };
  /** est() options per mount path (`/.well-known/est` or `/.well-known/est/<label>`). */
  mounts: Record<string, EstOptions>;
  workers: number;
  /** `--lean-memory` / `"leanMemory": true`: workers also get two malloc arenas (cluster.ts, workerRuntimeDefaults). */
  leanMemory?: boolean;
  /** The metrics port (/metrics, /healthz, /readyz); absent = none. */
  metrics?: { port: number; host: string };
  /** Demo mode: the user and password of the embedded auth backend. */
  demo?: { stateDir: string; user: string; password: string };
  /** The admin pages on their own port (`admin` in the config file, `--admin <port>`). */
  admin?: AdminServerConfig;
}

/** `admin: { port, host, users: { name: scryptHash }, csrfSecret, title, pageSize }` in the config file. */
export interface AdminServerConfig {
  port: number;
  host: string;
  /** Basic users: name → hash from `est-server --hash-password`. */
  users: Record<string, string>;
  csrfSecret?: string;
  title?: string;
  pageSize?: number;
  /** Demo mode: the generated admin password, printed at start. */
  demoPassword?: string;
}

const SERVER_KEYS = new Set(['host', 'port', 'tls', 'labels', 'workers', 'leanMemory', 'metrics', 'admin']);
const ADMIN_KEYS = new Set(['port', 'host', 'users', 'csrfSecret', 'title', 'pageSize']);

/** Validates the config file's `admin` block (users are checked again, as hashes, by estAdmin). */
export function parseAdminConfig(raw: unknown, defaultHost: string): AdminServerConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new EstConfigError('est-server: `admin` must be an object { port, users: { name: scryptHash } }');
  const a = raw as Record<string, unknown>;
  for (const k of Object.keys(a)) if (!ADMIN_KEYS.has(k)) throw new EstConfigError(`est-server: unknown key \`admin.${k}\` (known: ${[...ADMIN_KEYS].join(', ')})`);
  const port = a.port ?? 8444;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw new EstConfigError(`est-server: \`admin.port\` must be 0..65535 (got ${JSON.stringify(a.port)})`);
  if (!a.users || typeof a.users !== 'object' || Object.keys(a.users).length === 0) {
    throw new EstConfigError('est-server: `admin.users` must name at least one user: { "alice": "<hash from est-server --hash-password>" }');
  }
  const out: AdminServerConfig = { port, host: typeof a.host === 'string' ? a.host : defaultHost, users: a.users as Record<string, string> };
  if (a.csrfSecret !== undefined) {
    if (typeof a.csrfSecret !== 'string' || a.csrfSecret.length < 16) throw new EstConfigError('est-server: `admin.csrfSecret` must be a string of at least 16 characters');
    out.csrfSecret = a.csrfSecret;
  }
  if (typeof a.title === 'string') out.title = a.title;
  if (a.pageSize !== undefined) out.pageSize = a.pageSize as number;
  return out;
}
const PATH_OPTIONS = ['rootCertificate', 'caRootCertificate', 'caPrivateKey', 'caSerialNumber', 'caIndex', 'csrAttrs', 'trustAnchors'] as const;

function resolvePaths(o: Record<string, unknown>, base: string): EstOptions {
  const out: Record<string, unknown> = { ...o };
  for (const k of PATH_OPTIONS) {
    const v = out[k];
    const fix = (s: unknown) => (typeof s === 'string' && !s.includes('-----BEGIN') && !isAbsolute(s) ? resolve(base, s) : s);
    if (Array.isArray(v)) out[k] = v.map(fix);
    else if (v !== undefined) out[k] = fix(v);
  }
  return out as EstOptions;
}

/** Loads a JSON or JS (default export) config file; relative paths resolve against its folder. */
export async function loadConfigFile(file: string): Promise<ServerConfig> {
  const abs = resolve(file);
  let raw: Record<string, unknown>;
  if (/\.(c|m)?js$/.test(abs)) {
    const mod = (await import(pathToFileURL(abs).href)) as { default?: unknown };
    raw = (mod.default ?? mod) as Record<string, unknown>;
  } else {
    try {
      raw = JSON.parse(readFileSync(abs, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new EstConfigError(`est-server: cannot read config ${file}: ${(e as Error).message}`);
    }
  }
  const base = dirname(abs);
  const estOptions: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (!SERVER_KEYS.has(k)) estOptions[k] = v;
  const mounts: Record<string, EstOptions> = { '/.well-known/est': resolvePaths(estOptions, base) };
  for (const [label, opts] of Object.entries((raw.labels as Record<string, Record<string, unknown>>) ?? {})) {
    mounts[`/.well-known/est/${label}`] = resolvePaths(opts, base);
  }
  const tls = raw.tls as ServerConfig['tls'] | undefined;
  const cfg: ServerConfig = {
    host: (raw.host as string) ?? '127.0.0.1',
    port: (raw.port as number) ?? 8443,
    mounts,
    workers: (raw.workers as number) ?? 1,
  };
  const metrics = raw.metrics as { port?: unknown; host?: unknown } | undefined;
  if (metrics !== undefined) {
    if (typeof metrics !== 'object' || metrics === null || !Number.isInteger(metrics.port) || (metrics.port as number) < 0 || (metrics.port as number) > 65535) {
      throw new EstConfigError(`est-server: \`metrics\` must be {"port": 0..65535, "host": "<address>"} (got ${JSON.stringify(metrics)})`);
    }
    cfg.metrics = { port: metrics.port as number, host: typeof metrics.host === 'string' ? metrics.host : '127.0.0.1' };
  }
  if (raw.leanMemory !== undefined) {
    if (typeof raw.leanMemory !== 'boolean') throw new EstConfigError(`est-server: \`leanMemory\` must be true or false (got ${JSON.stringify(raw.leanMemory)})`);
    cfg.leanMemory = raw.leanMemory;
  }
  if (raw.admin !== undefined) cfg.admin = parseAdminConfig(raw.admin, cfg.host);
  if (tls) {
    cfg.tls = { cert: resolve(base, tls.cert), key: resolve(base, tls.key) };
    if (tls.clientCa) cfg.tls.clientCa = resolve(base, tls.clientCa);
  }
  return cfg;
}

/**
 * The embedded default: a P-256 demo CA and a TLS certificate for localhost/127.0.0.1 created in
 * `stateDir` on first run, client-certificate auth, and a demo auth backend for one user.
 */
export async function demoConfig(stateDir: string, host: string, port: number): Promise<ServerConfig> {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const f = (n: string) => join(stateDir, n);
  if (!existsSync(f('ca.crt')) || !existsSync(f('ca.key'))) {
    const ca = await createDemoCa();
    const server = await createDemoServerCert(ca);
    await writeFileAtomic(f('ca.key'), ca.key.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 });
    await writeFileAtomic(f('ca.crt'), toPem(ca.certDer, 'CERTIFICATE'));
    await writeFileAtomic(f('server.key'), server.key.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 });
    await writeFileAtomic(f('server.crt'), toPem(server.certDer, 'CERTIFICATE'));
  } else if (!existsSync(f('server.crt'))) {
    throw new EstConfigError(`est-server: ${f('server.crt')} is missing; delete ${stateDir} to recreate the demo`);
  }
  if (!existsSync(f('demo-user.json'))) {
    await writeFileAtomic(f('demo-user.json'), JSON.stringify({ user: 'estuser', password: randomBytes(9).toString('base64url') }) + '\n', { mode: 0o600 });
  }
  const { user, password } = JSON.parse(readFileSync(f('demo-user.json'), 'utf8')) as { user: string; password: string };
  return {
    host,
    port,
    tls: { cert: f('server.crt'), key: f('server.key'), clientCa: f('ca.crt') },
    mounts: {
      '/.well-known/est': {
        rootCertificate: f('ca.crt'),
        caRootCertificate: f('ca.crt'),
        caPrivateKey: f('ca.key'),
        caSerialNumber: f('ca.srl'),
        caValidityDays: 30,
      },
    },
    workers: 1,
    demo: { stateDir, user, password },
  };
}

/** The demo's admin user: `admin` with a password made on first use and kept in the state folder. */
export async function demoAdmin(stateDir: string, port: number, host: string): Promise<AdminServerConfig> {
  const f = join(stateDir, 'demo-admin.json');
  if (!existsSync(f)) {
    const password = randomBytes(9).toString('base64url');
    await writeFileAtomic(f, JSON.stringify({ user: 'admin', password, hash: await hashPassword(password) }) + '\n', { mode: 0o600 });
  }
  const { user, password, hash } = JSON.parse(readFileSync(f, 'utf8')) as { user: string; password: string; hash: string };
  return { port, host, users: { [user]: hash }, demoPassword: password };
}
