// est() options: the public, documented shape, and its validation into a frozen config at start-up.
import { type KeyObject, X509Certificate } from 'node:crypto';
import { dirname, basename, extname, join } from 'node:path';
import { EstConfigError } from '../errors.js';
import type { CertificateAuthority, SerialStore } from '../ca/types.js';
import { FileCertificateAuthority, checkCaMaterial } from '../ca/file-ca.js';
import { FileSerialStore } from '../ca/serial-file-store.js';
import { RandomSerialStore } from '../ca/random-serial-store.js';
import { LeasedSerialStore } from '../ca/leased-serial-store.js';
import { EST_DIRECTIVES } from '../migrate/directives.js';
import { parseCsrAttrs } from '../protocol/csrattrs.js';
import { DerError } from '../protocol/der.js';
import { loadBytes, loadCertificates, loadPrivateKey, optionLabel, type PathOrContent } from './load.js';
import { parseTrustProxy, type TrustProxy } from '../tls/trust-proxy.js';
import { resolveProxyHeaders, type ProxyHeaders, type ProxyHeadersPreset } from '../tls/proxy-headers.js';

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
export interface EstOptions {
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
  /** Largest accepted request body in bytes; larger gets 413. @default 65536 */
  maxBodySize?: number;
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
   * serials stay unique, never reused, but are no longer gap-free.
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
}

/** Option name → the nginx directive it mirrors (for messages), from the one directive table. */
export const DIRECTIVE_OF: Readonly<Record<string, string>> = Object.freeze({
  ...Object.fromEntries(EST_DIRECTIVES.filter((d) => d.option).map((d) => [d.option!, d.directive])),
  trustAnchors: 'ssl_client_certificate',
});

const KNOWN = [
  ...Object.keys(DIRECTIVE_OF).filter((k) => k !== 'trustAnchors'),
  'ca', 'trustAnchors', 'trustProxy', 'proxyHeaders', 'authRequestTimeout', 'maxBodySize', 'logger',
  'serialMode', 'serialLease', 'allowServerAuth', 'popAcceptTls13Finished',
];

/** The validated configuration the middleware runs on. */
export interface EstConfig {
  ca: CertificateAuthority;
  /** True when `ca` was supplied by the user (it then decides on otpChallenge itself). */
  customCa: boolean;
  /** Pre-encoded /cacerts certificates when the CA is file-backed (constant). */
  cacertsDer?: Uint8Array[];
  csrAttrsDer?: Uint8Array;
  pop: boolean;
  popAcceptTls13Finished: boolean;
  authRequest?: URL;
  authRequestTimeout: number;
  trustAnchors: X509Certificate[];
  trustProxy: (address: string) => boolean;
  proxyHeaders: ProxyHeaders;
  maxBodySize: number;
  logger: EstLogger;
  serialStore?: SerialStore;
}

const silent: EstLogger = { info() {}, warn() {}, error() {}, debug() {} };

function label(name: string): string {
  return optionLabel(name, DIRECTIVE_OF[name]);
}

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

function positiveInt(name: string, v: unknown, def: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > max) {
    throw new EstConfigError(`${label(name)} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''} (got ${JSON.stringify(v)})`);
  }
  return v;
}

function boolOption(name: string, v: unknown, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw new EstConfigError(`${label(name)} must be true or false (got ${JSON.stringify(v)})`);
  return v;
}

/** The default serial file: next to the CA certificate, extension replaced by `.srl`. */
export function defaultSerialPath(caCertPath: string): string {
  return join(dirname(caCertPath), basename(caCertPath, extname(caCertPath)) + '.srl');
}

/** Validates `options` synchronously; throws EstConfigError naming the option and directive. */
export function parseOptions(options: EstOptions | undefined): EstConfig {
  if (options === undefined || options === null || typeof options !== 'object') {
    throw new EstConfigError('est: options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key)) throw new EstConfigError(`est: unknown option \`${key}\`${didYouMean(key)}`);
  }
  const o = options as Record<string, unknown>;
  const logger = (o.logger as EstLogger | undefined) ?? silent;
  if (typeof logger.info !== 'function' || typeof logger.warn !== 'function' || typeof logger.error !== 'function') {
    throw new EstConfigError('est: `logger` must have info, warn and error methods (pino-compatible)');
  }
  const validityDays = positiveInt('caValidityDays', o.caValidityDays, 30, 36500);
  const pop = boolOption('pop', o.pop, false);
  const popAcceptTls13Finished = boolOption('popAcceptTls13Finished', o.popAcceptTls13Finished, false);
  const allowServerAuth = boolOption('allowServerAuth', o.allowServerAuth, true);
  const maxBodySize = positiveInt('maxBodySize', o.maxBodySize, 64 * 1024, 16 * 1024 * 1024);
  const authRequestTimeout = positiveInt('authRequestTimeout', o.authRequestTimeout, 5000, 600_000);
  const serialMode = o.serialMode ?? 'sequential';
  if (serialMode !== 'sequential' && serialMode !== 'random') {
    throw new EstConfigError(`est: \`serialMode\` must be 'sequential' or 'random' (got ${JSON.stringify(serialMode)})`);
  }
  const serialLease = (o.serialLease ?? 1) as number;
  if (!Number.isInteger(serialLease) || serialLease < 1 || serialLease > 1_000_000) {
    throw new EstConfigError(`est: \`serialLease\` must be an integer from 1 to 1000000 (got ${JSON.stringify(o.serialLease)})`);
  }

  let authRequest: URL | undefined;
  if (o.authRequest !== undefined) {
    if (typeof o.authRequest !== 'string') throw new EstConfigError(`${label('authRequest')} must be a URL string`);
    try {
      authRequest = new URL(o.authRequest);
    } catch {
      throw new EstConfigError(`${label('authRequest')} must be an absolute http(s) URL (got ${JSON.stringify(o.authRequest)}); an nginx location such as /auth becomes the URL it proxies to`);
    }
    if (authRequest.protocol !== 'http:' && authRequest.protocol !== 'https:') {
      throw new EstConfigError(`${label('authRequest')} must be an http or https URL (got ${authRequest.protocol})`);
    }
  }

  let csrAttrsDer: Uint8Array | undefined;
  if (o.csrAttrs !== undefined) {
    const { bytes, path } = loadBytes(o.csrAttrs as PathOrContent, label('csrAttrs'));
    try {
      parseCsrAttrs(bytes);
    } catch (e) {
      throw new EstConfigError(`${label('csrAttrs')} is not a DER CsrAttrs SEQUENCE${path ? ` (${path})` : ''}: ${(e as DerError).message}`, { cause: e });
    }
    csrAttrsDer = bytes;
  }

  // The CA: custom, or file-backed from the ca* options.
  let ca: CertificateAuthority;
  let cacertsDer: Uint8Array[] | undefined;
  let defaultAnchors: X509Certificate[] = [];
  let serialStore: SerialStore | undefined;
  if (o.ca !== undefined) {
    const c = o.ca as CertificateAuthority;
    if (!c || typeof c.cacerts !== 'function' || typeof c.enroll !== 'function') {
      throw new EstConfigError('est: `ca` must implement cacerts() and enroll() (CertificateAuthority)');
    }
    for (const m of ['reenroll', 'serverkeygen', 'csrattrs'] as const) {
      if (c[m] !== undefined && typeof c[m] !== 'function') throw new EstConfigError(`est: \`ca.${m}\` must be a function when present`);
    }
    for (const k of ['caRootCertificate', 'caPrivateKey', 'caSerialNumber'] as const) {
      if (o[k] !== undefined) throw new EstConfigError(`${label(k)} cannot be combined with \`ca\` (the custom CA signs)`);
    }
    ca = c;
    if (o.rootCertificate !== undefined) {
      const root = loadCertificates(o.rootCertificate as PathOrContent, label('rootCertificate'));
      cacertsDer = root.map((c2) => new Uint8Array(c2.raw));
      defaultAnchors = root;
    }
  } else {
    if (o.caRootCertificate === undefined) throw new EstConfigError(`${label('caRootCertificate')} is required (or pass a custom \`ca\`)`);
    if (o.caPrivateKey === undefined) throw new EstConfigError(`${label('caPrivateKey')} is required (or pass a custom \`ca\`)`);
    const caCerts = loadCertificates(o.caRootCertificate as PathOrContent, label('caRootCertificate'));
    const caCert = caCerts[0]!;
    const key = loadPrivateKey(o.caPrivateKey as PathOrContent | KeyObject, label('caPrivateKey'));
    const problem = checkCaMaterial(new Uint8Array(caCert.raw), key);
    if (problem) {
      const which = /key/i.test(problem) ? 'caPrivateKey' : 'caRootCertificate';
      throw new EstConfigError(`${label(which)}: ${problem}`);
    }
    const root = o.rootCertificate !== undefined ? loadCertificates(o.rootCertificate as PathOrContent, label('rootCertificate')) : caCerts;
    cacertsDer = root.map((c2) => new Uint8Array(c2.raw));
    defaultAnchors = [...root, ...caCerts.filter((c2) => !root.some((r) => r.fingerprint256 === c2.fingerprint256))];
    if (serialMode === 'random') {
      if (o.caSerialNumber !== undefined) throw new EstConfigError(`${label('caSerialNumber')} cannot be combined with serialMode 'random'`);
      serialStore = new RandomSerialStore();
    } else {
      let serialPath = o.caSerialNumber as string | undefined;
      if (serialPath !== undefined && (typeof serialPath !== 'string' || serialPath.length === 0)) {
        throw new EstConfigError(`${label('caSerialNumber')} must be a file path`);
      }
      if (serialPath === undefined) {
        if (typeof o.caRootCertificate !== 'string' || o.caRootCertificate.includes('-----BEGIN')) {
          throw new EstConfigError(`${label('caSerialNumber')} is required when caRootCertificate is given as content, not a path (or use serialMode 'random')`);
        }
        serialPath = defaultSerialPath(o.caRootCertificate);
      }
      try {
        const file = new FileSerialStore(serialPath);
        serialStore = serialLease > 1 ? new LeasedSerialStore(file, { lease: serialLease }) : file;
      } catch (e) {
        throw new EstConfigError(`${label('caSerialNumber')}: ${(e as Error).message}`, { cause: e });
      }
    }
    ca = new FileCertificateAuthority({
      certificate: new Uint8Array(caCert.raw),
      chain: cacertsDer,
      privateKey: key,
      serialStore,
      validityDays,
      allowServerAuth,
    });
  }
  if (o.caValidityDays !== undefined && o.ca !== undefined) {
    throw new EstConfigError(`${label('caValidityDays')} cannot be combined with \`ca\` (the custom CA decides validity)`);
  }

  let trustAnchors = defaultAnchors;
  if (o.trustAnchors !== undefined) {
    const list = Array.isArray(o.trustAnchors) ? o.trustAnchors : [o.trustAnchors];
    trustAnchors = list.flatMap((v) => loadCertificates(v as PathOrContent, optionLabel('trustAnchors', 'ssl_client_certificate')));
  }

  const trustProxy = parseTrustProxy(o.trustProxy);
  const proxyHeaders = resolveProxyHeaders(o.proxyHeaders);

  const config: EstConfig = {
    ca,
    customCa: o.ca !== undefined,
    pop,
    popAcceptTls13Finished,
    authRequestTimeout,
    trustAnchors,
    trustProxy,
    proxyHeaders,
    maxBodySize,
    logger,
  };
  if (cacertsDer) config.cacertsDer = cacertsDer;
  if (csrAttrsDer) config.csrAttrsDer = csrAttrsDer;
  if (authRequest) config.authRequest = authRequest;
  if (serialStore) config.serialStore = serialStore;
  return Object.freeze(config);
}
