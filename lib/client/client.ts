// EstClient: the EST operations (RFC 7030 §4) over undici, with Basic/mTLS auth, PoP linking,
// bootstrap of the trust anchor and 202 + Retry-After handling.
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { encodeBase64Lines } from '../protocol/base64.js';
import { MediaType, Oid } from '../protocol/constants.js';
import type { CsrAttrsItem } from '../protocol/csrattrs.js';
import { looksLikePem, parsePem } from '../protocol/pem.js';
import { decodeBody } from '../protocol/base64.js';
import { parseCertificate } from '../protocol/x509.js';
import { children, octetString, oid, raw, readWhole, seq, Tag } from '../protocol/der.js';
import { classifyCaCertificates, type CaCertificates } from './cacerts.js';
import { buildCsr, generateKey, type CsrOptions, type KeySpec } from './csr.js';
import { EstClientConfigError, EstHttpError, EstNetworkError, EstResponseError, EstRetryLimitError, EstTrustError } from './errors.js';
import { fingerprintOf, normalizeFingerprint, toCertificates, toPrivateKey, type CertificateInput, type PrivateKeyInput } from './material.js';
import { decodeCertificates, decodeCsrAttrs, decodeServerKeygen, reasonText } from './response.js';
import { openServerGeneratedKey, subjectKeyIdentifier } from '../protocol/cms-server-key.js';
import { parseRetryAfter, sleep } from './retry-after.js';
import { ConnectionReplacedError, Transport, type ChannelBinding, type HttpRequest, type HttpResponse, type TransportOptions } from './transport.js';

const OPERATIONS = new Set(['cacerts', 'simpleenroll', 'simplereenroll', 'fullcmc', 'serverkeygen', 'csrattrs']);

/** Trust-on-first-use checks for bootstrap (RFC 7030 §4.1.1). At least one must be given. */
export interface BootstrapOptions {
  /**
   * SHA-256 fingerprint(s) of the CA certificate, obtained out of band (hex, colons optional). The
   * response must contain a root (or the trust anchor) with one of them.
   */
  fingerprint?: string | readonly string[];
  /** Your own decision, e.g. asking a human. Resolve true to accept the CA certificates. */
  verify?: (cacerts: CaCertificates, serverCertificate: X509Certificate | undefined) => boolean | Promise<boolean>;
}

/** Events the client reports while it works (for logs). */
export type EstClientEvent =
  | {
      type: 'retry-after';
      operation: string;
      seconds: number;
      attempt: number;
      /** Seconds until the client gives up waiting: to `retry.maxWait`, or what the remaining attempts allow at this delay. */
      timeLeft: number;
      /** The server's one-line text with the 202, if any. */
      message: string;
    }
  | { type: 'auth-challenge'; operation: string; scheme: string }
  | { type: 'connection-replaced'; operation: string }
  | { type: 'bootstrap'; operation: 'cacerts'; trustAnchor: string };

/** Options of `new EstClient()`. */
export interface EstClientOptions {
  /** The server: `https://host[:port]`, optionally with a path prefix (default `/.well-known/est`). */
  url: string | URL;
  /** CA label (RFC 7030 §3.2.2): `/.well-known/est/<label>/<operation>`. */
  label?: string;
  /** Explicit trust anchors for the server certificate (RFC 7030 §3.6.1). */
  trustAnchors?: CertificateInput;
  /** Also trust Node's bundled public CAs (an Implicit TA database, §3.6.2). @default false */
  useSystemTrust?: boolean;
  /**
   * Bootstrap (§4.1.1): without trust anchors, `cacerts()` may fetch the CA certificates over an
   * unauthenticated connection, accepted only when a fingerprint or your callback approves them;
   * they then become the trust anchors for every later request.
   */
  bootstrap?: BootstrapOptions;
  /** HTTP Basic credentials (§3.2.3); sent when the server answers 401 with a Basic challenge. */
  basicAuth?: { username: string; password: string };
  /** Send Basic credentials with the first request instead of waiting for a 401. @default false */
  preemptiveAuth?: boolean;
  /** Any Authorization header value (Bearer, Digest computed elsewhere…), sent with every request. */
  authorization?: string | (() => string | Promise<string>);
  /** TLS client certificate (chain in PEM, leaf first) for mutual TLS. */
  certificate?: CertificateInput;
  /** Private key of `certificate`. */
  privateKey?: PrivateKeyInput;
  /** @default 'TLSv1.2' (RFC 8996) */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** @default 'TLSv1.3' */
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** TLS SNI / name to check instead of the URL's host. */
  servername?: string;
  /** Timeout of connect, headers and body, in milliseconds. @default 30000 */
  timeout?: number;
  /**
   * 202 handling (§4.2.3): retry after Retry-After, at most `maxAttempts` requests in all, and never
   * wait longer than `maxDelay` seconds for one answer (a longer Retry-After ends with
   * EstRetryLimitError carrying it). `maxWait` bounds the whole wait in seconds (e.g. for a person to
   * approve); with it alone, attempts are not counted. `false` disables waiting.
   * @default { maxAttempts: 5, maxDelay: 3600, defaultDelay: 60 }
   */
  retry?: { maxAttempts?: number; maxDelay?: number; defaultDelay?: number; maxWait?: number } | false;
  /**
   * Under TLS 1.3, which value PoP puts in challengePassword: RFC 9266 tls-exporter (what RFC 9148
   * specifies and express-est expects), or the Finished-based value libest/nginx-http-est compute.
   * @default 'exporter'
   */
  tls13Binding?: 'exporter' | 'finished';
  /** Largest response accepted, in bytes. @default 1048576 */
  maxResponseSize?: number;
  /** Called for retries, auth challenges and bootstrap decisions. */
  onEvent?: (event: EstClientEvent) => void;
}

/** Per-call options. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** A CSR the client builds itself; `pop` puts the connection's channel binding in challengePassword. */
export type CsrTemplate = Omit<CsrOptions, 'privateKey' | 'challengePassword'> & {
  privateKey: KeyObject | PrivateKeyInput;
  /** Link the CSR to the TLS connection that carries it (RFC 7030 §3.5). @default false */
  pop?: boolean;
  challengePassword?: string;
};

/**
 * What to enroll: a ready CSR (DER, PEM or base64), a template the client builds (with `pop` for
 * linking), or your own builder called with the binding of the connection the CSR will travel on.
 */
export type EnrollInput = Uint8Array | string | CsrTemplate | ((binding: ChannelBinding) => Uint8Array | string | Promise<Uint8Array | string>);

/**
 * Asks the server to encrypt the generated key on top of TLS (RFC 7030 §4.4.1.1, §4.4.1.2): with a
 * pre-shared AES key the server knows by `keyId` (DecryptKeyIdentifier), or to a certificate whose
 * private key this client holds (AsymmetricDecryptKeyIdentifier = its subjectKeyIdentifier).
 */
export type ServerKeygenDecrypt =
  | { keyId: Uint8Array | string; key: Uint8Array }
  | { certificate: CertificateInput; privateKey: KeyObject | PrivateKeyInput };

/** Input of `serverKeygen()`: like EnrollInput, but a template needs no key (one is made to carry the request). */
export type ServerKeygenInput =
  | EnrollInput
  | (Omit<CsrTemplate, 'privateKey'> & { privateKey?: PrivateKeyInput; keyType?: KeySpec; decrypt?: ServerKeygenDecrypt });

/** An issued certificate. */
export interface EnrollResult {
  /** The issued certificate (the one certifying the requested key). */
  certificate: X509Certificate;
  /** Every certificate of the response. */
  certificates: X509Certificate[];
  /** The DER CSR that was sent (last attempt). */
  csr: Uint8Array;
}

/** A server-generated key and its certificate (§4.4). */
export interface ServerKeygenResult extends EnrollResult {
  privateKey: KeyObject;
  privateKeyPkcs8: Uint8Array;
}

/** CSR attributes (§4.5); empty when the server has none (204/404). */
export interface CsrAttrsResult {
  der?: Uint8Array;
  items: CsrAttrsItem[];
  /** True when the server lists challengePassword, i.e. wants PoP linking. */
  wantsChallengePassword: boolean;
}

function toCsrDer(csr: Uint8Array | string): Uint8Array {
  if (typeof csr === 'string') {
    if (looksLikePem(csr)) {
      const b = parsePem(csr).find((x) => /REQUEST$/.test(x.label));
      if (!b) throw new EstClientConfigError('CSR: no CERTIFICATE REQUEST PEM block');
      return b.der;
    }
    return decodeBody(Buffer.from(csr, 'latin1'));
  }
  return looksLikePem(csr) ? toCsrDer(Buffer.from(csr).toString('latin1')) : csr;
}

function spkiOf(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

function pickIssued(certs: X509Certificate[], spki: Buffer | undefined, op: string): X509Certificate {
  if (!spki) return certs.find((c) => !c.ca) ?? certs[0]!;
  const hit = certs.find((c) => c.publicKey.export({ type: 'spki', format: 'der' }).equals(spki));
  if (hit) return hit;
  // A misbehaving CA: nothing in the response certifies the key that was sent (RFC 7030 §4.2.3).
  const other = certs.find((c) => !c.ca) ?? certs[0]!;
  throw new EstResponseError(`${op}: the server returned a certificate for another key (${oneLineDn(other.subject)}, serial ${other.serialNumber}), not the key in the request; nothing was saved`);
}

function oneLineDn(dn: string): string {
  return dn.split('\n').join(', ');
}

/** The SubjectPublicKeyInfo of a DER CSR (third field of certificationRequestInfo). */
function csrSpki(der: Uint8Array): Buffer | undefined {
  try {
    const info = children(readWhole(der, Tag.sequence))[0]!;
    return Buffer.from(raw(children(info)[2]!));
  } catch {
    return undefined;
  }
}

/**
 * An EST client for one server (and label). Reuse it: connections are kept alive. Call `close()`
 * when done.
 *
 * @see RFC 7030 §4 (operations), §3.3 (TLS), §3.6 (server authorization), §3.5 (PoP linking)
 */
/** What this client can open: AES key wrap, RSAES-OAEP, ECDH (SMIMECapabilities, RFC 8551 §2.5.2). */
const DECRYPT_CAPABILITIES = [Oid.aes256Wrap, Oid.aes192Wrap, Oid.aes128Wrap, Oid.rsaesOaep, Oid.ecdhSha256Kdf, Oid.ecdhSha384Kdf, Oid.ecdhSha512Kdf];

/** The CSR attributes that ask for an encrypted key (RFC 7030 §4.4.1.1, §4.4.1.2), plus SMIMECapabilities. */
function decryptAttributes(d: ServerKeygenDecrypt): { oid: string; values: Uint8Array[] }[] {
  let id: { oid: string; values: Uint8Array[] };
  if ('key' in d) {
    if (![16, 24, 32].includes(d.key.byteLength)) throw new EstClientConfigError('serverKeygen: `decrypt.key` must be an AES key of 16, 24 or 32 bytes');
    const keyId = typeof d.keyId === 'string' ? Buffer.from(d.keyId, 'utf8') : d.keyId;
    id = { oid: Oid.decryptKeyIdentifier, values: [octetString(keyId)] };
  } else {
    const cert = toCertificates(d.certificate, 'serverKeygen: `decrypt.certificate`')[0]!;
    const ski = subjectKeyIdentifier(new Uint8Array(cert.raw));
    if (!ski) throw new EstClientConfigError('serverKeygen: `decrypt.certificate` has no subjectKeyIdentifier to name it by (RFC 7030 §4.4.1.2)');
    id = { oid: Oid.asymmDecryptKeyIdentifier, values: [octetString(ski)] };
  }
  return [id, { oid: Oid.smimeCapabilities, values: [seq(...DECRYPT_CAPABILITIES.map((o) => seq(oid(o))))] }];
}

export class EstClient {
  private readonly opts: EstClientOptions;
  private readonly basePath: string;
  private readonly origin: URL;
  private transport: Transport;
  private anchors: X509Certificate[];
  private bootstrapping: boolean;
  private basicChallenged: boolean;
  private readonly clientCertificate: X509Certificate[] | undefined;
  private readonly clientKey: KeyObject | undefined;
  private readonly retry: { maxAttempts: number; maxDelay: number; defaultDelay: number; maxWait?: number } | false;

  constructor(options: EstClientOptions) {
    if (!options || typeof options !== 'object') throw new EstClientConfigError('EstClient: options must be an object');
    let url: URL;
    try {
      url = new URL(String(options.url));
    } catch {
      throw new EstClientConfigError(`EstClient: \`url\` must be an absolute https URL (got ${JSON.stringify(String(options.url))})`);
    }
    // RFC 7030 §3.3: HTTPS for every exchange.
    if (url.protocol !== 'https:') throw new EstClientConfigError(`EstClient: \`url\` must use https (RFC 7030 §3.3), got ${url.protocol}`);
    if (options.label !== undefined) {
      if (!/^[A-Za-z0-9._~-]{1,64}$/.test(options.label) || options.label === '.' || options.label === '..' || OPERATIONS.has(options.label)) {
        throw new EstClientConfigError(`EstClient: \`label\` must be 1-64 characters of A-Z a-z 0-9 . _ ~ - and not an operation name (got ${JSON.stringify(options.label)})`);
      }
    }
    this.opts = options;
    this.origin = new URL(url.origin);
    const prefix = url.pathname.replace(/\/+$/, '') || '/.well-known/est';
    this.basePath = prefix + (options.label ? `/${options.label}` : '');
    this.anchors = options.trustAnchors !== undefined ? toCertificates(options.trustAnchors, 'EstClient: `trustAnchors`') : [];
    const hasBootstrap = !!options.bootstrap && (options.bootstrap.fingerprint !== undefined || typeof options.bootstrap.verify === 'function');
    if (options.bootstrap && !hasBootstrap) throw new EstClientConfigError('EstClient: `bootstrap` needs a `fingerprint` or a `verify` callback (RFC 7030 §4.1.1)');
    if (this.anchors.length === 0 && !options.useSystemTrust && !hasBootstrap) {
      throw new EstClientConfigError('EstClient: no way to authorize the server: pass `trustAnchors`, `useSystemTrust: true`, or `bootstrap` with a fingerprint (RFC 7030 §3.6, §4.1.1)');
    }
    this.bootstrapping = this.anchors.length === 0 && !options.useSystemTrust;
    if ((options.certificate === undefined) !== (options.privateKey === undefined)) {
      throw new EstClientConfigError('EstClient: `certificate` and `privateKey` go together (mutual TLS)');
    }
    if (options.certificate !== undefined) {
      this.clientCertificate = toCertificates(options.certificate, 'EstClient: `certificate`');
      this.clientKey = toPrivateKey(options.privateKey!, 'EstClient: `privateKey`');
      if (!this.clientCertificate[0]!.checkPrivateKey(this.clientKey)) throw new EstClientConfigError('EstClient: `privateKey` does not match `certificate`');
    }
    if (options.basicAuth && (typeof options.basicAuth.username !== 'string' || typeof options.basicAuth.password !== 'string')) {
      throw new EstClientConfigError('EstClient: `basicAuth` needs string `username` and `password` (the username may be empty, RFC 7030 §3.2.3)');
    }
    for (const v of ['minVersion', 'maxVersion'] as const) {
      if (options[v] !== undefined && options[v] !== 'TLSv1.2' && options[v] !== 'TLSv1.3') {
        throw new EstClientConfigError(`EstClient: \`${v}\` must be 'TLSv1.2' or 'TLSv1.3' (RFC 8996 forbids older versions), got ${JSON.stringify(options[v])}`);
      }
    }
    if (options.timeout !== undefined && !(Number.isFinite(options.timeout) && options.timeout > 0)) throw new EstClientConfigError('EstClient: `timeout` must be a positive number of milliseconds');
    const r = options.retry === false ? undefined : options.retry ?? {};
    this.retry = !r ? false : { maxAttempts: r.maxWait !== undefined && r.maxAttempts === undefined ? Infinity : 5, maxDelay: 3600, defaultDelay: 60, ...r };
    if (this.retry && (!(this.retry.maxAttempts >= 1) || !(this.retry.maxDelay >= 0) || !(this.retry.defaultDelay >= 0) || !(this.retry.maxWait === undefined || this.retry.maxWait >= 0))) {
      throw new EstClientConfigError('EstClient: `retry` values must be non-negative (maxAttempts ≥ 1)');
    }
    this.basicChallenged = !!options.preemptiveAuth;
    this.transport = this.makeTransport(this.bootstrapping);
  }

  private makeTransport(insecure: boolean): Transport {
    const o = this.opts;
    const t: TransportOptions = {
      origin: this.origin,
      trustAnchors: this.anchors,
      useSystemTrust: !!o.useSystemTrust,
      insecure,
      minVersion: o.minVersion ?? 'TLSv1.2',
      maxVersion: o.maxVersion ?? 'TLSv1.3',
      timeout: o.timeout ?? 30_000,
      maxResponseSize: o.maxResponseSize ?? 1024 * 1024,
    };
    if (this.clientCertificate && this.clientKey && !insecure) {
      t.certificate = this.clientCertificate;
      t.privateKey = this.clientKey;
    }
    if (o.servername) t.servername = o.servername;
    return new Transport(t);
  }

  /** The trust anchors in use (after a bootstrap, the adopted CA certificates). */
  get trustAnchors(): readonly X509Certificate[] {
    return this.anchors;
  }

  /** The URL path of an operation. */
  pathOf(operation: string): string {
    return `${this.basePath}/${operation}`;
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    await this.transport.close();
  }

  private emit(e: EstClientEvent): void {
    try {
      this.opts.onEvent?.(e);
    } catch {
      /* a logging hook must not break the operation */
    }
  }

  /**
   * GET /cacerts (§4.1): the CA certificates, classified (trust anchor, chain, rollover). When
   * bootstrapping, the bootstrap check must accept them, and they become the trust anchors.
   */
  async cacerts(options: CallOptions = {}): Promise<CaCertificates> {
    const where = 'cacerts';
    // §3.2.3: no credentials towards a server not yet authorized.
    const res = await this.transport.request({ method: 'GET', path: this.pathOf('cacerts'), headers: this.bootstrapping ? {} : await this.extraAuthHeader(), ...(options.signal ? { signal: options.signal } : {}) }, where);
    // §4.1.3: only 200 is success.
    if (res.status !== 200) throw new EstHttpError(res.status, reasonText(res), res.headers, where);
    const classified = classifyCaCertificates(decodeCertificates(res.body, res.headers['content-type'], where));
    if (this.opts.bootstrap) await this.checkBootstrap(classified);
    if (this.bootstrapping) {
      const adopted = [classified.trustAnchor, ...(classified.oldWithOld ? [classified.oldWithOld] : []), ...classified.chain];
      this.anchors = adopted;
      this.bootstrapping = false;
      const old = this.transport;
      this.transport = this.makeTransport(false);
      await old.close();
      this.emit({ type: 'bootstrap', operation: 'cacerts', trustAnchor: classified.trustAnchor.subject });
    }
    return classified;
  }

  private async checkBootstrap(cacerts: CaCertificates): Promise<void> {
    const b = this.opts.bootstrap!;
    if (b.fingerprint !== undefined) {
      const wanted = (typeof b.fingerprint === 'string' ? [b.fingerprint] : [...b.fingerprint]).map(normalizeFingerprint);
      const candidates = [cacerts.trustAnchor, ...(cacerts.oldWithOld ? [cacerts.oldWithOld] : []), ...cacerts.otherRoots];
      if (!candidates.some((c) => wanted.includes(fingerprintOf(c)))) {
        throw new EstTrustError(
          `cacerts: bootstrap refused: no CA certificate has the expected SHA-256 fingerprint (the trust anchor ${JSON.stringify(cacerts.trustAnchor.subject)} has ${cacerts.trustAnchor.fingerprint256})`,
          'ERR_EST_CLIENT_BOOTSTRAP',
        );
      }
    }
    if (b.verify && !(await b.verify(cacerts, this.transport.lastPeerCertificate))) {
      throw new EstTrustError('cacerts: bootstrap refused by the verify callback', 'ERR_EST_CLIENT_BOOTSTRAP');
    }
  }

  /** GET /csrattrs (§4.5). 204 and 404 mean "no attributes". */
  async csrattrs(options: CallOptions = {}): Promise<CsrAttrsResult> {
    this.requireAuthorizedServer('csrattrs');
    const where = 'csrattrs';
    const res = await this.transport.request({ method: 'GET', path: this.pathOf('csrattrs'), headers: await this.extraAuthHeader(), ...(options.signal ? { signal: options.signal } : {}) }, where);
    if (res.status === 204 || res.status === 404) return { items: [], wantsChallengePassword: false };
    if (res.status !== 200) throw new EstHttpError(res.status, reasonText(res), res.headers, where);
    if (res.body.length === 0) return { items: [], wantsChallengePassword: false };
    const { der, items } = decodeCsrAttrs(res.body, res.headers['content-type'], where);
    return { der, items, wantsChallengePassword: items.some((i) => ('oid' in i ? i.oid : i.attribute) === Oid.challengePassword) };
  }

  /** POST /simpleenroll (§4.2.1). */
  async simpleEnroll(input: EnrollInput, options: CallOptions = {}): Promise<EnrollResult> {
    const { res, csr } = await this.post('simpleenroll', input, options);
    const certs = decodeCertificates(res.body, res.headers['content-type'], 'simpleenroll');
    return { certificate: pickIssued(certs, csrSpki(csr), 'simpleenroll'), certificates: certs, csr };
  }

  /**
   * POST /simplereenroll (§4.2.2). A template without `subject` and `san` gets them from the client
   * certificate being renewed, as §4.2.2 requires them unchanged.
   */
  async simpleReenroll(input: EnrollInput, options: CallOptions = {}): Promise<EnrollResult> {
    let i = input;
    if (isTemplate(i) && i.subject === undefined && this.clientCertificate) {
      const parts = parseCertificate(new Uint8Array(this.clientCertificate[0]!.raw));
      const san = parts.extensions.find((e) => e.oid === Oid.subjectAltName);
      const exts = [...(i.extensions ?? [])];
      if (san && !i.san && !exts.some((e) => e.oid === Oid.subjectAltName)) exts.push({ oid: Oid.subjectAltName, value: san.value });
      i = { ...i, subject: parts.subjectDer, extensions: exts };
    }
    const { res, csr } = await this.post('simplereenroll', i, options);
    const certs = decodeCertificates(res.body, res.headers['content-type'], 'simplereenroll');
    return { certificate: pickIssued(certs, csrSpki(csr), 'simplereenroll'), certificates: certs, csr };
  }

  /**
   * POST /serverkeygen (§4.4): the server generates the key. A template without `privateKey` gets a
   * throwaway key of `keyType` (default P-256) to sign the request; the server's key follows its type.
   */
  async serverKeygen(input: ServerKeygenInput, options: CallOptions & { decrypt?: ServerKeygenDecrypt } = {}): Promise<ServerKeygenResult> {
    let i: EnrollInput;
    let decrypt = options.decrypt;
    if (typeof input === 'object' && !(input instanceof Uint8Array)) {
      const { keyType, decrypt: d, ...rest } = input as Omit<CsrTemplate, 'privateKey'> & { keyType?: KeySpec; decrypt?: ServerKeygenDecrypt; privateKey?: PrivateKeyInput };
      decrypt ??= d;
      const attributes = [...(rest.attributes ?? []), ...(d ? decryptAttributes(d) : [])];
      const withAttrs = attributes.length ? { ...rest, attributes } : rest;
      i = rest.privateKey ? (withAttrs as CsrTemplate) : { ...withAttrs, privateKey: (await generateKey(keyType ?? 'p256')).privateKey };
    } else {
      i = input as EnrollInput;
    }
    const { res, csr } = await this.post('serverkeygen', i, options);
    const parts = decodeServerKeygen(res, 'serverkeygen');
    let privateKey: KeyObject;
    let privateKeyPkcs8: Uint8Array;
    if (parts.encryptedKey) {
      if (!decrypt) throw new EstResponseError('serverkeygen: the server sent an encrypted key (smime-type=server-generated-key); pass `decrypt` to open it');
      privateKeyPkcs8 = await this.openKey(parts.encryptedKey, decrypt);
      privateKey = createPrivateKey({ key: Buffer.from(privateKeyPkcs8), format: 'der', type: 'pkcs8' });
    } else {
      if (decrypt) throw new EstResponseError('serverkeygen: asked for an encrypted key but the server sent it unencrypted');
      ({ privateKey, privateKeyPkcs8 } = parts);
    }
    return { certificate: pickIssued(parts.certificates, spkiOf(privateKey), 'serverkeygen'), certificates: parts.certificates, csr, privateKey, privateKeyPkcs8 };
  }

  /**
   * Opens an encrypted server-generated key. When the server signed it (RFC 7030 §4.4.2) the signer
   * must be one of this client's trust anchors or issued by one.
   */
  private async openKey(der: Uint8Array, d: ServerKeygenDecrypt): Promise<Uint8Array> {
    let opened;
    try {
      opened = await openServerGeneratedKey(
        der,
        'key' in d
          ? { kind: 'symmetric', key: d.key }
          : {
              kind: 'certificate',
              certificate: new Uint8Array(toCertificates(d.certificate, 'serverKeygen: `decrypt.certificate`')[0]!.raw),
              privateKeyPkcs8: new Uint8Array(toPrivateKey(d.privateKey as PrivateKeyInput, 'serverKeygen: `decrypt.privateKey`').export({ type: 'pkcs8', format: 'der' })),
            },
      );
    } catch (e) {
      throw new EstResponseError(`serverkeygen: ${(e as Error).message}`, { cause: e });
    }
    const signer = opened.signer;
    if (signer && this.anchors.length) {
      const trusted = this.anchors.some((a) => a.raw.equals(signer.raw) || (signer.checkIssued(a) && signer.verify(a.publicKey)));
      if (!trusted) throw new EstTrustError(`serverkeygen: the encrypted key is signed by "${signer.subject.replace(/\n/g, ', ')}", which is not one of the trust anchors nor issued by one`);
    }
    return opened.pkcs8;
  }

  private requireAuthorizedServer(op: string): void {
    if (this.bootstrapping) {
      throw new EstTrustError(`${op}: the server is not authorized yet: call cacerts() first to bootstrap the trust anchor (RFC 7030 §4.1.1)`, 'ERR_EST_CLIENT_NOT_BOOTSTRAPPED');
    }
  }

  private async extraAuthHeader(): Promise<Record<string, string>> {
    const a = this.opts.authorization;
    if (a === undefined) return {};
    return { authorization: typeof a === 'function' ? await a() : a };
  }

  private basicHeader(): string {
    const b = this.opts.basicAuth!;
    return 'Basic ' + Buffer.from(`${b.username}:${b.password}`, 'utf8').toString('base64');
  }

  /** Sends one request, answering a 401 Basic challenge once (§3.2.3). */
  private async sendWithAuth(send: (r: HttpRequest) => Promise<HttpResponse>, req: HttpRequest, op: string): Promise<HttpResponse> {
    const headers = { ...req.headers, ...(await this.extraAuthHeader()) };
    if (this.opts.basicAuth && this.basicChallenged && !headers.authorization) headers.authorization = this.basicHeader();
    const res = await send({ ...req, headers });
    if (res.status === 401 && this.opts.basicAuth && !headers.authorization) {
      const challenge = res.headers['www-authenticate'] ?? '';
      if (challenge === '' || /(^|,)\s*basic\b/i.test(challenge)) {
        this.emit({ type: 'auth-challenge', operation: op, scheme: 'Basic' });
        this.basicChallenged = true;
        return send({ ...req, headers: { ...headers, authorization: this.basicHeader() } });
      }
    }
    return res;
  }

  /** Builds the CSR (per connection when linked), POSTs it, handles 401 and 202; resolves on 200. */
  private async post(op: 'simpleenroll' | 'simplereenroll' | 'serverkeygen', input: EnrollInput, options: CallOptions): Promise<{ res: HttpResponse; csr: Uint8Array }> {
    this.requireAuthorizedServer(op);
    const signal = options.signal;
    const tpl = isTemplate(input) ? { ...input, privateKey: toPrivateKey(input.privateKey as PrivateKeyInput, `${op}: privateKey`) } : undefined;
    if (tpl?.pop && tpl.challengePassword !== undefined) throw new EstClientConfigError(`${op}: \`pop\` puts the channel binding in challengePassword; do not set both`);
    const pinned = typeof input === 'function' || !!tpl?.pop;
    const build = async (binding?: ChannelBinding): Promise<Uint8Array> => {
      if (typeof input === 'function') return toCsrDer(await input(binding!));
      if (tpl) {
        const { pop: _pop, ...csrOpts } = tpl;
        if (binding) csrOpts.challengePassword = binding.value.toString('base64'); // RFC 7030 §3.5: base64 of the binding
        return buildCsr(csrOpts as CsrOptions);
      }
      return toCsrDer(input as Uint8Array | string);
    };
    const fixedCsr = pinned ? undefined : await build();
    const started = Date.now();
    let attempt = 0;
    let replaced = 0;
    for (;;) {
      signal?.throwIfAborted();
      let res: HttpResponse;
      let csr: Uint8Array;
      if (pinned) {
        const conn = await this.transport.pin(op, signal);
        try {
          const binding = conn.channelBinding(this.opts.tls13Binding ?? 'exporter');
          csr = await build(binding);
          res = await this.sendWithAuth((r) => conn.request(r, op), this.csrRequest(op, csr, signal), op);
        } catch (e) {
          if (e instanceof ConnectionReplacedError && replaced++ < 2) {
            // §3.5: a CSR is bound to one connection; on a new one it is rebuilt (same key).
            this.emit({ type: 'connection-replaced', operation: op });
            continue;
          }
          if (e instanceof ConnectionReplacedError) throw new EstNetworkError(`${op}: the server kept closing the connection before the PoP-linked CSR could be sent`);
          throw e;
        } finally {
          await conn.close();
        }
      } else {
        csr = fixedCsr!;
        res = await this.sendWithAuth((r) => this.transport.request(r, op), this.csrRequest(op, csr, signal), op);
      }
      attempt++;
      if (res.status === 200) return { res, csr };
      if (res.status !== 202) throw new EstHttpError(res.status, reasonText(res), res.headers, op);
      // §4.2.3: 202 + Retry-After: wait at least that long, then send the request again.
      const seconds = parseRetryAfter(res.headers['retry-after']) ?? (this.retry ? this.retry.defaultDelay : 0);
      if (!this.retry) throw new EstRetryLimitError(op, attempt, seconds, 'retries are disabled');
      if (attempt >= this.retry.maxAttempts) throw new EstRetryLimitError(op, attempt, seconds, `retry.maxAttempts is ${this.retry.maxAttempts}`);
      if (seconds > this.retry.maxDelay) throw new EstRetryLimitError(op, attempt, seconds, `longer than retry.maxDelay ${this.retry.maxDelay} s`);
      let timeLeft = (this.retry.maxAttempts - attempt) * seconds;
      if (this.retry.maxWait !== undefined) {
        const left = this.retry.maxWait - (Date.now() - started) / 1000;
        if (seconds > left) throw new EstRetryLimitError(op, attempt, seconds, `retry.maxWait ${this.retry.maxWait} s would pass first`);
        timeLeft = Math.min(timeLeft, Math.floor(left));
      }
      this.emit({ type: 'retry-after', operation: op, seconds, attempt, timeLeft, message: reasonText(res) });
      await sleep(seconds * 1000, signal);
    }
  }

  private csrRequest(op: string, csr: Uint8Array, signal: AbortSignal | undefined): HttpRequest {
    const body = Buffer.from(encodeBase64Lines(csr), 'latin1');
    const r: HttpRequest = {
      method: 'POST',
      path: this.pathOf(op),
      // CTE is ignored by RFC 8951 servers but some older ones still look for it.
      headers: { 'content-type': MediaType.pkcs10, 'content-transfer-encoding': 'base64' },
      body,
    };
    if (signal) r.signal = signal;
    return r;
  }
}

function isTemplate(i: unknown): i is CsrTemplate {
  return typeof i === 'object' && i !== null && !(i instanceof Uint8Array) && 'privateKey' in i;
}

