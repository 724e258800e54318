// est() options: the public, documented shape, and one small parser per option into plain values.
// Building the CA and serial store from them is assemble.ts's job.
import type { KeyObject, X509Certificate } from 'node:crypto';
import { EstConfigError } from '../errors.js';
import type { CertificateAuthority } from '../ca/types.js';
import { badPostgresUrl, isPgPool, missingStoreMethods, type StoreOption } from '../store/store-option.js';
import { compileRequiredAttrs } from '../check/index.js';
import type { EstMetrics } from '../observe/metrics.js';
import { parseCsrAttrs, type CsrAttrsItem } from '../protocol/csrattrs.js';
import type { DerError } from '../protocol/der.js';
import { DEFAULT_CRYPTO_THREADS } from '../protocol/crypto-pool.js';
import { DIRECTIVE_OF } from './directives.js';
import { loadBytes, loadCertificates, loadPrivateKey, optionLabel, type PathOrContent } from './load.js';
import { parseTrustProxy, type TrustProxy } from '../tls/trust-proxy.js';
import { resolveProxyHeaders, type ProxyHeaders, type ProxyHeadersPreset } from '../tls/proxy-headers.js';
import { parseApprovalExpiry, parseApprovalPolicy, parseApprovalRetryAfter, type ApprovalConfig, type ApprovalOptions } from '../approve/options.js';
import type { AuthCacheOptions } from '../auth/auth-cache.js';

/** A pino-compatible logger; only these methods are used. */
export interface EstLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

/**
 * Options of `est()`. The first eight mirror the nginx-http-est directives one to one; the rest
 * have no nginx equivalent.
 */
export interface EstOptions extends ApprovalOptions {
  /** est_root_certificate: certificates served by /cacerts (trust anchor and chain). @default caRootCertificate */
  rootCertificate?: PathOrContent;
  /** est_ca_root_certificate: certificate of the CA that signs issued certificates. */
  caRootCertificate?: PathOrContent;
  /** est_ca_private_key: the CA's private key (unencrypted PEM/DER, or a KeyObject). */
  caPrivateKey?: PathOrContent | KeyObject;
  /**
   * est_ca_serial_number: file holding the last issued serial (uppercase hex).
   * @default the caRootCertificate path with its extension replaced by `.srl`
   */
  caSerialNumber?: string;
  /** est_ca_validity_days: validity of issued certificates in days. @default 30 */
  caValidityDays?: number;
  /** est_csr_attrs: DER CsrAttrs served at /csrattrs and required in CSRs (RFC 7030 §4.5, RFC 9908). */
  csrAttrs?: PathOrContent;
  /** est_pop: require the TLS channel binding in the CSR's challengePassword (RFC 7030 §3.5). @default false */
  pop?: boolean;
  /** est_auth_request: URL of an auth backend asked when a client has no verified certificate. */
  authRequest?: string;

  /** A custom CertificateAuthority instead of the file-backed one built from the `ca*` options. */
  ca?: CertificateAuthority;
  /** Trust anchors for TLS client certificates (like nginx ssl_client_certificate). @default the CA chain */
  trustAnchors?: PathOrContent | PathOrContent[];
  /**
   * No nginx equivalent. Peer addresses of TLS terminators allowed to pass the client certificate and
   * channel binding in headers: `'loopback'`, an IP, a CIDR, a list of those, or `(address) => boolean`.
   * From any other peer those headers are ignored (and never forwarded to `authRequest`). Only read
   * on plain-HTTP connections: on a Node TLS socket the facts come from the socket.
   * @default none (no proxy is trusted)
   * @see RFC 9440 §4
   */
  trustProxy?: TrustProxy;
  /**
   * No nginx equivalent. Which headers the trusted proxy sets, and how: a preset (`'nginx'`,
   * `'haproxy'`, `'rfc9440'`, `'envoy'`, `'traefik'`) or `{ clientCert, clientCertFormat,
   * clientCertChain, clientVerify, tlsUnique, tlsProtocol, tlsExporterSecret, tlsCipher, clientAddress }`.
   * The certificate chain is always verified here against `trustAnchors`; a proxy's verdict alone is never enough.
   * @default 'nginx'
   */
  proxyHeaders?: ProxyHeadersPreset | ProxyHeaders;
  /** Timeout of the authRequest subrequest in milliseconds. @default 5000 */
  authRequestTimeout?: number;
  /**
   * No nginx equivalent (auth_request does not cache): reuse the auth backend's verdicts for
   * `ttl` seconds (1–300), refusals (401/403) for `refusalTtl` (0–5, default min(ttl, 2)), at most
   * `maxEntries` (default 10,000). Keyed by a SHA-256 of every header sent to the backend. A
   * credential revoked at the backend keeps working until its entry expires. A number is `{ ttl }`.
   * @default false
   */
  authRequestCache?: false | number | { ttl: number; refusalTtl?: number; maxEntries?: number };
  /** Largest accepted request body in bytes; larger gets 413. @default 65536 */
  maxBodySize?: number;
  /**
   * No nginx equivalent. Milliseconds a request body may take to arrive, from the first read;
   * a slower (trickling) upload gets 408 and the connection is closed. @default 30000
   */
  bodyTimeout?: number;
  /**
   * No nginx equivalent. Most GeneralNames a CSR's subjectAltName may request; more gets 400
   * `ERR_EST_CSR_NAME`. @default 100
   * @see RFC 5280 §4.2.1.6
   */
  maxSubjectAltNames?: number;
  /**
   * No nginx equivalent. Largest DER subject Name a CSR may carry, in bytes; larger gets 400
   * `ERR_EST_CSR_NAME`. @default 1024
   * @see RFC 5280 §4.1.2.6
   */
  maxSubjectSize?: number;
  /**
   * No nginx equivalent. Worker threads that import CSR keys, verify CSR signatures and sign
   * certificates, so that none of it runs on the event loop or queues on libuv's pool ahead of
   * the record store's file writes. 0: Node's callback crypto, as before 0.2. Shared by every
   * est() in the process (the largest value wins).
   * @default one per core beyond the first, 1 to 4
   */
  cryptoThreads?: number;
  /** Logger (pino-compatible). @default silent */
  logger?: EstLogger;
  /** Serial numbers: the module's sequential file, or random (≥64 random bits). @default 'sequential' */
  serialMode?: 'sequential' | 'random';
  /**
   * No nginx equivalent. With the sequential serial file, take this many serials per update of
   * the file and hand them out from memory. 1 (the default) rewrites the file for every batch of
   * certificates, so it always holds the last issued serial, as nginx-http-est's does. Several
   * processes on one file (node:cluster, `est-server --workers`) take turns holding its lock and
   * wait for each other's fsyncs; a lease such as 256 removes that wait. Then the file holds the
   * end of the latest lease, and after a stop or a crash the unused rest of a lease is skipped:
   * serials stay unique, never reused, but are no longer gap-free. With a store that allocates
   * serials (PostgreSQL), they are reserved from the database this many at a time.
   * @default 1
   */
  serialLease?: number;
  /** Grant serverAuth when a CSR asks for it. @default true */
  allowServerAuth?: boolean;
  /**
   * No nginx equivalent. Under TLS 1.3 (where tls-unique is undefined) also accept, besides RFC 9266
   * tls-exporter, the Finished-based value that nginx-http-est, libest and HAProxy's
   * `ssl_fc_unique_id` compute (full handshake: client Finished; resumed: server Finished).
   * Needed behind HAProxy when it does not pass the exporter secret. @default false
   */
  popAcceptTls13Finished?: boolean;
  /**
   * No nginx equivalent. The issuance ledger: where every certificate is recorded before it is
   * returned, revocations are kept and (with the file CA in sequential mode) serials are taken.
   * `'postgres://user@host/db'` or a `pg.Pool` for PostgreSQL (run `est-admin db migrate` first;
   * serials then come from the database, so `caSerialNumber` is refused), any object implementing
   * `RecordStore` (serials from its `nextSerials()` unless `caSerialNumber` is set), or `false` for
   * no ledger. Setting it (or `caIndex`) also makes /simplereenroll refuse client certificates the
   * ledger never issued.
   * @default with the file CA, the embedded store: OpenSSL index.txt beside the serial file (`caIndex`); with a custom `ca`, none
   */
  store?: StoreOption;
  /**
   * No nginx equivalent. The embedded store's OpenSSL `index.txt` (`openssl ca` reads and writes it).
   * @default `caSerialNumber` with its extension replaced by `.index.txt` (`ca.srl` → `ca.index.txt`); in random serial mode, `caRootCertificate`'s path the same way
   */
  caIndex?: string;
  /**
   * No nginx equivalent. Pre-shared AES keys (16, 24 or 32 bytes) for /serverkeygen requests that
   * carry a DecryptKeyIdentifier: called with the identifier, returns the key or undefined when
   * none is known (the request then gets 400). Without this option such requests get 501.
   * @see RFC 7030 §4.4.1.1
   */
  serverKeygenKeys?: (keyId: Uint8Array) => Uint8Array | undefined | Promise<Uint8Array | undefined>;
  /**
   * No nginx equivalent. Recipient certificates for /serverkeygen requests that carry an
   * AsymmetricDecryptKeyIdentifier (a subjectKeyIdentifier): called with the identifier, returns the
   * certificate (X509Certificate, PEM or DER) or undefined. Whether or not this is set, the client's
   * own verified TLS certificate is used when its subjectKeyIdentifier equals the identifier.
   * @see RFC 7030 §4.4.1.2
   */
  serverKeygenRecipients?: (keyId: Uint8Array) => X509Certificate | string | Uint8Array | undefined | Promise<X509Certificate | string | Uint8Array | undefined>;
  /**
   * No nginx equivalent. Certificate and key that sign CMS the server produces: /fullcmc Full PKI
   * Responses and encrypted server-generated keys (RFC 7030 §4.3.2, §4.4.2). Without a signer,
   * /fullcmc answers 501 and encrypted keys are enveloped unsigned.
   * @default the file CA's certificate and key (caRootCertificate, caPrivateKey)
   */
  cmsSigner?: { certificate: PathOrContent; privateKey: PathOrContent | KeyObject };
  /**
   * No nginx equivalent. Prometheus metrics to record into (`createEstMetrics()`): requests by
   * operation, label and status, issuance latency, certificates issued, authRequest latency and
   * outcome, serial store latency. One set may serve several est() mounts. @default none
   */
  metrics?: EstMetrics;
}

/** Options as plain values: every file read and parsed once, every default applied. */
export interface ParsedOptions {
  rootCertificate: X509Certificate[] | undefined;
  /** The signing CA certificate(s) and the path they came from (for the default serial file). */
  caRootCertificate: { certs: X509Certificate[]; path: string | undefined } | undefined;
  caPrivateKey: KeyObject | undefined;
  caSerialNumber: string | undefined;
  caValidityDays: number;
  /** The configured DER, and its items parsed once (for /csrattrs, PoP and the required-attribute check). */
  csrAttrs: ParsedCsrAttrs | undefined;
  pop: boolean;
  authRequest: URL | undefined;
  ca: CertificateAuthority | undefined;
  trustAnchors: X509Certificate[] | undefined;
  trustProxy: (address: string) => boolean;
  proxyHeaders: ProxyHeaders;
  authRequestTimeout: number;
  authRequestCache: AuthCacheOptions | undefined;
  maxBodySize: number;
  bodyTimeout: number;
  maxSubjectAltNames: number;
  maxSubjectSize: number;
  cryptoThreads: number;
  logger: EstLogger;
  serialMode: 'sequential' | 'random';
  serialLease: number;
  allowServerAuth: boolean;
  popAcceptTls13Finished: boolean;
  /** A RecordStore, a checked postgres URL, a pg.Pool, false (none), or undefined (the default). */
  store: StoreOption | undefined;
  caIndex: string | undefined;
  serverKeygenKeys: EstOptions['serverKeygenKeys'];
  serverKeygenRecipients: EstOptions['serverKeygenRecipients'];
  cmsSigner: { certificates: X509Certificate[]; privateKey: KeyObject } | undefined;
  approval: ApprovalConfig['policy'];
  approvalRetryAfter: number;
  approvalExpiry: number;
  metrics: EstMetrics | undefined;
}

/** est_csr_attrs, read once. */
export interface ParsedCsrAttrs {
  der: Uint8Array;
  items: CsrAttrsItem[];
}

/**
 * One parser per option, keyed by every option name: adding an option to EstOptions without its
 * parser here fails to compile (the known-option list is this table's keys).
 */
type Parsers = { readonly [K in keyof EstOptions]-?: (value: unknown) => ParsedOptions[K] };

const silent: EstLogger = { info() {}, warn() {}, error() {}, debug() {} };

/** est: `name` (directive), the start of every option error. */
export function label(name: string): string {
  return optionLabel(name, DIRECTIVE_OF[name]);
}

function positiveInt(name: string, def: number, max: number) {
  return (v: unknown): number => {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > max) {
      throw new EstConfigError(`${label(name)} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''} (got ${JSON.stringify(v)})`);
    }
    return v;
  };
}

function parseAuthRequestCache(v: unknown): AuthCacheOptions | undefined {
  if (v === undefined || v === false) return undefined;
  const o = typeof v === 'number' ? { ttl: v } : v;
  const bad = (what: string) => new EstConfigError(`${label('authRequestCache')} ${what} (got ${JSON.stringify(v)})`);
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw bad('must be false, a number of seconds or { ttl, refusalTtl, maxEntries }');
  const { ttl, refusalTtl, maxEntries, ...rest } = o as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw bad(`has no field \`${extra}\``);
  const int = (x: unknown, min: number, max: number) => typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;
  if (!int(ttl, 1, 300)) throw bad('ttl must be a whole number of seconds from 1 to 300');
  if (refusalTtl !== undefined && !int(refusalTtl, 0, 5)) throw bad('refusalTtl must be a whole number of seconds from 0 to 5: a refusal is never cached longer');
  if (maxEntries !== undefined && !int(maxEntries, 1, 1_000_000)) throw bad('maxEntries must be an integer from 1 to 1000000');
  return { ttl: ttl as number, refusalTtl: (refusalTtl as number | undefined) ?? Math.min(ttl as number, 2), maxEntries: (maxEntries as number | undefined) ?? 10_000 };
}

function flag(name: string, def: boolean) {
  return (v: unknown): boolean => {
    if (v === undefined) return def;
    if (typeof v !== 'boolean') throw new EstConfigError(`${label(name)} must be true or false (got ${JSON.stringify(v)})`);
    return v;
  };
}

function certificates(name: string) {
  return (v: unknown): X509Certificate[] | undefined => (v === undefined ? undefined : loadCertificates(v as PathOrContent, label(name)));
}

function parseLogger(v: unknown): EstLogger {
  const logger = (v as EstLogger | undefined) ?? silent;
  if (typeof logger.info !== 'function' || typeof logger.warn !== 'function' || typeof logger.error !== 'function') {
    throw new EstConfigError('est: `logger` must have info, warn and error methods (pino-compatible)');
  }
  return logger;
}

function parseSerialMode(v: unknown): 'sequential' | 'random' {
  const mode = v ?? 'sequential';
  if (mode !== 'sequential' && mode !== 'random') {
    throw new EstConfigError(`est: \`serialMode\` must be 'sequential' or 'random' (got ${JSON.stringify(mode)})`);
  }
  return mode;
}

function parseCryptoThreads(v: unknown): number {
  if (v === undefined) return DEFAULT_CRYPTO_THREADS;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 64) throw new EstConfigError(`est: \`cryptoThreads\` must be an integer from 0 to 64 (got ${JSON.stringify(v)})`);
  return v;
}

function parseSerialLease(v: unknown): number {
  const lease = (v ?? 1) as number;
  if (!Number.isInteger(lease) || lease < 1 || lease > 1_000_000) {
    throw new EstConfigError(`est: \`serialLease\` must be an integer from 1 to 1000000 (got ${JSON.stringify(v)})`);
  }
  return lease;
}

function parseAuthRequest(v: unknown): URL | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new EstConfigError(`${label('authRequest')} must be a URL string`);
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new EstConfigError(`${label('authRequest')} must be an absolute http(s) URL (got ${JSON.stringify(v)}); an nginx location such as /auth becomes the URL it proxies to`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new EstConfigError(`${label('authRequest')} must be an http or https URL (got ${url.protocol})`);
  }
  return url;
}

function parseCsrAttrsOption(v: unknown): ParsedCsrAttrs | undefined {
  if (v === undefined) return undefined;
  const { bytes, path } = loadBytes(v as PathOrContent, label('csrAttrs'));
  let items: CsrAttrsItem[];
  try {
    items = parseCsrAttrs(bytes);
  } catch (e) {
    throw new EstConfigError(`${label('csrAttrs')} is not a DER CsrAttrs SEQUENCE${path ? ` (${path})` : ''}: ${(e as DerError).message}`, { cause: e });
  }
  try {
    // The values too (curves, key sizes, requested extensions), so a bad file fails at start-up.
    compileRequiredAttrs(items);
  } catch (e) {
    throw new EstConfigError(`${label('csrAttrs')} holds an attribute that cannot be read${path ? ` (${path})` : ''}: ${(e as Error).message.replace(/^csrAttrs: /, '')}`, { cause: e });
  }
  return { der: bytes, items };
}

function parseMetrics(v: unknown): EstMetrics | undefined {
  if (v === undefined) return undefined;
  const m = v as EstMetrics;
  if (!m || typeof m.requests?.inc !== 'function' || typeof m.issuance?.observe !== 'function' || typeof m.authRequest?.observe !== 'function' || typeof m.store?.observe !== 'function' || typeof m.issued?.inc !== 'function') {
    throw new EstConfigError('est: `metrics` must come from createEstMetrics()');
  }
  return m;
}

function parseCustomCa(v: unknown): CertificateAuthority | undefined {
  if (v === undefined) return undefined;
  const c = v as CertificateAuthority;
  if (!c || typeof c.cacerts !== 'function' || typeof c.enroll !== 'function') {
    throw new EstConfigError('est: `ca` must implement cacerts() and enroll() (CertificateAuthority)');
  }
  for (const m of ['reenroll', 'serverkeygen', 'csrattrs', 'close'] as const) {
    if (c[m] !== undefined && typeof c[m] !== 'function') throw new EstConfigError(`est: \`ca.${m}\` must be a function when present`);
  }
  return c;
}

function parseCaCertificate(v: unknown): ParsedOptions['caRootCertificate'] {
  if (v === undefined) return undefined;
  const path = typeof v === 'string' && !v.includes('-----BEGIN') ? v : undefined;
  return { certs: loadCertificates(v as PathOrContent, label('caRootCertificate')), path };
}

function parseSerialPath(v: unknown): string | undefined {
  if (v !== undefined && (typeof v !== 'string' || v.length === 0)) throw new EstConfigError(`${label('caSerialNumber')} must be a file path`);
  return v;
}

function parseStore(v: unknown): StoreOption | undefined {
  if (v === undefined || v === false) return v;
  if (typeof v === 'string') {
    const why = badPostgresUrl(v);
    if (why) throw new EstConfigError(`est: \`store\` ${why}`);
    return v;
  }
  if (isPgPool(v)) return v;
  if (typeof v === 'object' && v !== null) {
    const missing = missingStoreMethods(v);
    if (missing.length === 0) return v as StoreOption;
    throw new EstConfigError(`est: \`store\` must be a postgres:// URL, a pg.Pool or a RecordStore (missing ${missing.join(', ')})`);
  }
  throw new EstConfigError(`est: \`store\` must be a postgres:// URL, a pg.Pool, a RecordStore or false (got ${JSON.stringify(v)})`);
}

function parseIndexPath(v: unknown): string | undefined {
  if (v !== undefined && (typeof v !== 'string' || v.length === 0)) throw new EstConfigError('est: `caIndex` must be a file path');
  return v;
}

function parseTrustAnchors(v: unknown): X509Certificate[] | undefined {
  if (v === undefined) return undefined;
  const list = Array.isArray(v) ? v : [v];
  return list.flatMap((x) => loadCertificates(x as PathOrContent, label('trustAnchors')));
}

function callback(name: 'serverKeygenKeys' | 'serverKeygenRecipients') {
  return <T>(v: unknown): T | undefined => {
    if (v !== undefined && typeof v !== 'function') throw new EstConfigError(`est: \`${name}\` must be a function (keyId) => ${name === 'serverKeygenKeys' ? 'key' : 'certificate'} | undefined`);
    return v as T | undefined;
  };
}

function parseCmsSigner(v: unknown): ParsedOptions['cmsSigner'] {
  if (v === undefined) return undefined;
  const o = v as { certificate?: unknown; privateKey?: unknown };
  if (!o || typeof o !== 'object' || o.certificate === undefined || o.privateKey === undefined) {
    throw new EstConfigError('est: `cmsSigner` must be { certificate, privateKey }');
  }
  const certificates = loadCertificates(o.certificate as PathOrContent, 'est: `cmsSigner.certificate`');
  const privateKey = loadPrivateKey(o.privateKey as PathOrContent | KeyObject, 'est: `cmsSigner.privateKey`');
  if (!certificates[0]!.checkPrivateKey(privateKey)) throw new EstConfigError('est: `cmsSigner.privateKey` does not match `cmsSigner.certificate`');
  return { certificates, privateKey };
}

// Listed in the order they are validated: cheap values first, then files.
const PARSERS: Parsers = {
  logger: parseLogger,
  caValidityDays: positiveInt('caValidityDays', 30, 36500),
  pop: flag('pop', false),
  popAcceptTls13Finished: flag('popAcceptTls13Finished', false),
  allowServerAuth: flag('allowServerAuth', true),
  maxBodySize: positiveInt('maxBodySize', 64 * 1024, 16 * 1024 * 1024),
  authRequestTimeout: positiveInt('authRequestTimeout', 5000, 600_000),
  authRequestCache: parseAuthRequestCache,
  bodyTimeout: positiveInt('bodyTimeout', 30_000, 600_000),
  maxSubjectAltNames: positiveInt('maxSubjectAltNames', 100, 10_000),
  maxSubjectSize: positiveInt('maxSubjectSize', 1024, 65_536),
  cryptoThreads: parseCryptoThreads,
  serialMode: parseSerialMode,
  serialLease: parseSerialLease,
  store: parseStore,
  caIndex: parseIndexPath,
  authRequest: parseAuthRequest,
  csrAttrs: parseCsrAttrsOption,
  ca: parseCustomCa,
  caSerialNumber: parseSerialPath,
  caRootCertificate: parseCaCertificate,
  caPrivateKey: (v) => (v === undefined ? undefined : loadPrivateKey(v as PathOrContent | KeyObject, label('caPrivateKey'))),
  rootCertificate: certificates('rootCertificate'),
  trustAnchors: parseTrustAnchors,
  trustProxy: parseTrustProxy,
  proxyHeaders: resolveProxyHeaders,
  serverKeygenKeys: callback('serverKeygenKeys'),
  serverKeygenRecipients: callback('serverKeygenRecipients'),
  cmsSigner: parseCmsSigner,
  approval: parseApprovalPolicy,
  approvalRetryAfter: parseApprovalRetryAfter,
  approvalExpiry: parseApprovalExpiry,
  metrics: parseMetrics,
};

const KNOWN = Object.keys(PARSERS) as (keyof EstOptions)[];

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

function didYouMean(key: string): string {
  const byDirective = Object.entries(DIRECTIVE_OF).find(([, dir]) => dir === key);
  if (byDirective) return ` (did you mean \`${byDirective[0]}\`?)`;
  const best = KNOWN.map((k) => [k, editDistance(key, k)] as const).sort((x, y) => x[1] - y[1])[0];
  return best && best[1] <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean \`${best[0]}\`?)` : '';
}

/** Options that only make sense together, or never together. */
function checkCombinations(o: EstOptions): void {
  const embedded = o.store === undefined && o.ca === undefined;
  if (o.authRequestCache !== undefined && o.authRequestCache !== false && o.authRequest === undefined) {
    throw new EstConfigError('est: `authRequestCache` caches the verdicts of `authRequest` (est_auth_request), which is not set');
  }
  if (o.caIndex !== undefined && !embedded) {
    throw new EstConfigError(`est: \`caIndex\` is for the embedded store only (not with ${o.store === undefined ? 'a custom `ca`' : o.store === false ? '`store: false`' : 'another `store`'})`);
  }
  if ((typeof o.store === 'string' || isPgPool(o.store)) && o.caSerialNumber !== undefined) {
    throw new EstConfigError(`${label('caSerialNumber')} cannot be combined with \`store\`: serials come from the store (move the serial file with \`est-admin db import\`)`);
  }
  if (o.ca !== undefined) {
    for (const k of ['caRootCertificate', 'caPrivateKey', 'caSerialNumber'] as const) {
      if (o[k] !== undefined) throw new EstConfigError(`${label(k)} cannot be combined with \`ca\` (the custom CA signs)`);
    }
    if (o.caValidityDays !== undefined) throw new EstConfigError(`${label('caValidityDays')} cannot be combined with \`ca\` (the custom CA decides validity)`);
    return;
  }
  if (o.caRootCertificate === undefined) throw new EstConfigError(`${label('caRootCertificate')} is required (or pass a custom \`ca\`)`);
  if (o.caPrivateKey === undefined) throw new EstConfigError(`${label('caPrivateKey')} is required (or pass a custom \`ca\`)`);
  if (o.serialMode === 'random' && o.caSerialNumber !== undefined) {
    throw new EstConfigError(`${label('caSerialNumber')} cannot be combined with serialMode 'random'`);
  }
}

/**
 * Validates `options` synchronously into plain values; throws EstConfigError naming the option
 * and its nginx directive. Builds nothing: see `assemble()` for the CA and serial store.
 */
export function parseOptions(options: EstOptions | undefined): ParsedOptions {
  if (options === undefined || options === null || typeof options !== 'object') {
    throw new EstConfigError('est: options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!(KNOWN as string[]).includes(key)) throw new EstConfigError(`est: unknown option \`${key}\`${didYouMean(key)}`);
  }
  const raw = options as Record<keyof EstOptions, unknown>;
  const parsed: Partial<Record<keyof EstOptions, unknown>> = {};
  for (const key of KNOWN) {
    // Combinations are checked once the plain values are valid, before any CA file is read.
    if (key === 'ca') checkCombinations(options);
    parsed[key] = PARSERS[key](raw[key]);
  }
  return parsed as ParsedOptions;
}
