// One object per request with what TLS says about the client: certificate, binding, version.
import type { IncomingMessage } from 'node:http';
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import { strictBase64, strictHex, tlsExporterFromSecret, TLS_EXPORTER_LABEL, TLS_EXPORTER_LENGTH } from './channel-binding.js';
import { estError } from '../errors.js';
import { chainLimitProblem, MAX_CLIENT_CHAIN_BYTES, MAX_CLIENT_CHAIN_CERTS } from './chain-limits.js';
import { certificatesFromHeaders, singleValuedFactHeaders, type ProxyHeaders } from './proxy-headers.js';
import { verifyChain } from './verify-chain.js';

/** TLS channel bindings the client may have put in its CSR (RFC 5929, RFC 9266). */
export interface ChannelBindings {
  /** RFC 5929 tls-unique (TLS 1.2), or the OpenSSL Finished-based value under TLS 1.3. */
  tlsUnique?: Buffer;
  /** RFC 9266 tls-exporter (TLS 1.3). */
  tlsExporter?: Buffer;
}

export interface TlsFacts {
  /** Where the facts came from: the Node TLS socket, a trusted proxy's headers, or nowhere. */
  source: 'socket' | 'proxy' | 'none';
  /** TLS version (`TLSv1.2`, `TLSv1.3`) when known. */
  protocol?: string;
  /** The client certificate, when one was presented. */
  clientCertificate?: X509Certificate;
  /** True only when we verified the certificate chain ourselves against the trust anchors. */
  clientCertificateVerified: boolean;
  /** Why verification failed, for logs. */
  clientCertificateError?: string;
  bindings: ChannelBindings;
  /** Why a channel binding a trusted proxy sent was not usable, for the error message. */
  bindingError?: string;
  /** The client's address (behind a trusted proxy: from its client-address header, e.g. X-Forwarded-For). */
  peerAddress: string;
  /** The trusted proxy's own address, when the facts came from its headers. */
  proxyAddress?: string;
}

/** What the TLS-facts stage needs to know: its own narrow view of the configuration. */
export interface TlsFactsConfig {
  /** Trust anchors a client certificate chain must verify against. */
  readonly trustAnchors: readonly X509Certificate[];
  /** Whether a peer address is a trusted TLS terminator (RFC 9440 §4). */
  readonly trustProxy: (address: string) => boolean;
  /** Which headers the trusted terminator sets. */
  readonly proxyHeaders: ProxyHeaders;
}

const socketFacts = new WeakMap<object, Promise<TlsFacts>>();
/** Per socket's facts: the client certificate's verification, once per connection. */
const clientChecks = new WeakMap<TlsFacts, Promise<void>>();
/** Bytes the client sent in the TLS handshake, per socket's facts (see handshakeBytes). */
const handshakeSize = new WeakMap<TlsFacts, number>();

/** Room in the handshake besides the certificate chain: ClientHello, CertificateVerify, Finished, record headers. */
const HANDSHAKE_SLACK = 8 * 1024;

/**
 * What the client sent beyond its application data, at its first request: the TLS handshake,
 * almost all of it the certificate chain. Reading a chain costs Node a copy of every certificate
 * in it (~20 ms for the 100 KB OpenSSL accepts), so a chain this shows to be over
 * MAX_CLIENT_CHAIN_BYTES is refused without being read. Uses the raw socket under the TLS socket
 * (`_parent`, not a documented property): undefined where Node does not have it, and the chain is
 * then read and bounded as usual.
 */
function handshakeBytes(socket: TLSSocket): number | undefined {
  const raw = (socket as TLSSocket & { _parent?: { bytesRead?: unknown } })._parent?.bytesRead;
  return typeof raw === 'number' ? raw - socket.bytesRead : undefined;
}

/**
 * The client certificate of a Node TLS connection, for operations that authenticate (never
 * /cacerts or /csrattrs). The leaf alone first: one issued directly by a trust anchor needs no
 * more. Otherwise the presented intermediates are read, unless the handshake was too large to
 * hold a chain within the bounds, in a tick of their own (apart from the TLS handshake that may
 * have run in the request's tick), and bounded (chain-limits.ts) before any signature is verified.
 */
async function clientCertificateFacts(socket: TLSSocket, facts: TlsFacts, config: TlsFactsConfig): Promise<void> {
  // Require an actual peer certificate: `authorized` alone can be true on a resumed session.
  const raw = (socket.getPeerCertificate(false) as { raw?: Buffer } | undefined)?.raw;
  if (!raw) return;
  await verify(facts, [new X509Certificate(raw)], config);
  if (facts.clientCertificateVerified) return;
  const size = handshakeSize.get(facts);
  if (size !== undefined && size > MAX_CLIENT_CHAIN_BYTES + HANDSHAKE_SLACK) {
    facts.clientCertificateError = `client certificate chain is larger than ${MAX_CLIENT_CHAIN_BYTES} bytes (a ${size}-byte TLS handshake)`;
    return;
  }
  await new Promise<void>((r) => setImmediate(r));
  if (socket.destroyed) return;
  const chain = chainFromSocket(socket);
  if (chain.length > 1) {
    delete facts.clientCertificateError;
    await verify(facts, chain, config);
  }
}

/** The presented chain, leaf first, as sent; one certificate past the cap is enough to refuse it. */
function chainFromSocket(socket: TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  const seen = new Set<string>();
  let c: X509Certificate | undefined = socket.getPeerX509Certificate();
  while (c && out.length <= MAX_CLIENT_CHAIN_CERTS && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(c);
    c = c.issuerCertificate;
  }
  return out;
}

async function verify(facts: TlsFacts, chain: X509Certificate[], config: TlsFactsConfig): Promise<void> {
  const [leaf, ...rest] = chain;
  if (!leaf) return;
  facts.clientCertificate = leaf;
  // Shape and key bounds first: path validation then costs at most a few cheap verifications.
  const problem = chainLimitProblem(chain);
  if (problem) {
    facts.clientCertificateVerified = false;
    facts.clientCertificateError = problem;
    return;
  }
  const result = await verifyChain(leaf, rest, config.trustAnchors);
  facts.clientCertificateVerified = result.ok;
  if (!result.ok) facts.clientCertificateError = result.reason;
}

/** A forwarded certificate's verdict, kept so keep-alive requests through a proxy don't re-verify. */
interface Verdict {
  leaf?: X509Certificate;
  verified: boolean;
  error?: string;
  expires: number;
}
const VERDICT_CACHE_SIZE = 1024;
const verdicts = new WeakMap<TlsFactsConfig, Map<string, Promise<Verdict>>>();

/** Decodes and validates a forwarded chain once; concurrent requests with the same headers share it. */
async function forwardedVerdict(h: ProxyHeaders, get: (name: string) => string | undefined, config: TlsFactsConfig, now: number): Promise<Verdict> {
  const probe: TlsFacts = { source: 'proxy', clientCertificateVerified: false, bindings: {}, peerAddress: '' };
  try {
    await verify(probe, certificatesFromHeaders(h, get), config);
  } catch (e) {
    probe.clientCertificateError = `malformed client certificate header: ${(e as Error).message}`;
  }
  const ttl = probe.clientCertificateVerified ? 300_000 : 60_000;
  const notAfter = probe.clientCertificate ? Date.parse(probe.clientCertificate.validTo) : Infinity;
  const v: Verdict = { verified: probe.clientCertificateVerified, expires: Math.min(now + ttl, notAfter) };
  if (probe.clientCertificate) v.leaf = probe.clientCertificate;
  if (probe.clientCertificateError) v.error = probe.clientCertificateError;
  return v;
}

/**
 * Decodes and verifies the forwarded certificate, memoised per header value: a success for at most
 * 5 minutes and never past the leaf's notAfter, a failure for 1 minute. Trust anchors are fixed
 * per est() instance, so the verdict only changes with time.
 */
async function verifyForwarded(facts: TlsFacts, h: ProxyHeaders, get: (name: string) => string | undefined, config: TlsFactsConfig): Promise<void> {
  const raw = h.clientCert ? get(h.clientCert) : undefined;
  if (!raw) return;
  const key = h.clientCertChain ? `${raw}\0${get(h.clientCertChain) ?? ''}` : raw;
  let cache = verdicts.get(config);
  if (!cache) verdicts.set(config, (cache = new Map()));
  const now = Date.now();
  let pending = cache.get(key);
  let v = pending ? await pending : undefined;
  if (!v || v.expires <= now) {
    pending = forwardedVerdict(h, get, config, now);
    cache.delete(key);
    if (cache.size >= VERDICT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(key, pending);
    v = await pending;
  }
  if (v.leaf) facts.clientCertificate = v.leaf;
  facts.clientCertificateVerified = v.verified;
  if (v.error) facts.clientCertificateError = v.error;
}

/** Facts from a Node TLS socket, computed once per connection (keep-alive requests share them). */
async function fromSocket(socket: TLSSocket, config: TlsFactsConfig, withClient: boolean): Promise<TlsFacts> {
  let pending = socketFacts.get(socket);
  if (!pending) {
    pending = socketFactsOnce(socket);
    socketFacts.set(socket, pending);
  }
  const facts = await pending;
  if (withClient) {
    let check = clientChecks.get(facts);
    if (!check) {
      check = clientCertificateFacts(socket, facts, config).catch((e: unknown) => {
        facts.clientCertificateVerified = false;
        facts.clientCertificateError = `unreadable client certificate: ${(e as Error).message}`;
      });
      clientChecks.set(facts, check);
    }
    await check;
  }
  return facts;
}

async function socketFactsOnce(socket: TLSSocket): Promise<TlsFacts> {
  const protocol = socket.getProtocol() ?? undefined;
  const facts: TlsFacts = { source: 'socket', clientCertificateVerified: false, bindings: {}, peerAddress: socket.remoteAddress ?? '' };
  if (protocol) facts.protocol = protocol;
  const hs = handshakeBytes(socket);
  if (hs !== undefined) handshakeSize.set(facts, hs);
  // RFC 5929 §3.1: full handshake -> client's Finished; resumed -> server's Finished.
  const finished = socket.isSessionReused() ? socket.getFinished() : socket.getPeerFinished();
  if (finished) facts.bindings.tlsUnique = finished;
  if (protocol === 'TLSv1.3') {
    try {
      // RFC 9266 §2: 32 bytes, label EXPORTER-Channel-Binding, empty context.
      facts.bindings.tlsExporter = socket.exportKeyingMaterial(TLS_EXPORTER_LENGTH, TLS_EXPORTER_LABEL, Buffer.alloc(0));
    } catch {
      /* not available */
    }
  }
  // The facts are cached for the connection's life: a later renegotiation would change the binding
  // and possibly the certificate (RFC 5929 §3.1, RFC 9266 §4.2), so refuse client renegotiation.
  socket.disableRenegotiation?.();
  return facts;
}

/** 400 when a single-valued fact header arrives in more than one field line (whose value would win is a guess). */
function refuseRepeatedFactHeaders(req: IncomingMessage, h: ProxyHeaders): void {
  const distinct = req.headersDistinct;
  for (const name of singleValuedFactHeaders(h)) {
    const lines = distinct[name];
    if (lines && lines.length > 1) {
      throw estError('ERR_EST_PROXY_HEADER', `the TLS fact header ${name} arrived ${lines.length} times; the trusted proxy must replace it, not append to it`);
    }
  }
}

function headerGetter(req: IncomingMessage): (name: string) => string | undefined {
  return (name) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
}

/**
 * The original client behind the proxies: the rightmost X-Forwarded-For entry that is not a
 * trusted proxy. An entry that is no IP address ends the walk at the proxy's own address: what is
 * recorded and logged as the peer is always an address.
 */
function clientAddress(header: string | undefined, proxy: string, trusted: (a: string) => boolean): string {
  if (!header) return proxy;
  const hops = header.split(',').map((x) => x.trim()).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (isIP(hop) === 0) return proxy;
    if (!trusted(hop) || i === 0) return hop;
  }
  return proxy;
}

/** Facts from a trusted proxy's headers; a malformed header is treated as no certificate. */
async function fromProxy(req: IncomingMessage, config: TlsFactsConfig, withClient: boolean): Promise<TlsFacts> {
  const h = config.proxyHeaders;
  refuseRepeatedFactHeaders(req, h);
  const get = headerGetter(req);
  const proxy = req.socket.remoteAddress ?? '';
  const facts: TlsFacts = {
    source: 'proxy',
    clientCertificateVerified: false,
    bindings: {},
    peerAddress: h.clientAddress ? clientAddress(get(h.clientAddress), proxy, config.trustProxy) : proxy,
    proxyAddress: proxy,
  };
  const protocol = h.tlsProtocol ? get(h.tlsProtocol)?.trim() : undefined;
  if (protocol) facts.protocol = protocol;
  if (withClient) await verifyForwarded(facts, h, get, config);
  if (h.clientVerify && facts.clientCertificateVerified) {
    const verdict = get(h.clientVerify)?.trim();
    // The proxy's "SUCCESS" is not enough on its own, but a proxy that says it failed is believed.
    if (verdict && verdict !== 'SUCCESS' && verdict !== '0') {
      facts.clientCertificateVerified = false;
      facts.clientCertificateError = `proxy reports verification ${verdict}`;
    }
  }
  const unique = h.tlsUnique ? get(h.tlsUnique)?.trim() : undefined;
  if (unique) {
    const bytes = strictBase64(unique);
    if (bytes) facts.bindings.tlsUnique = bytes;
    else facts.bindingError = `the proxy's ${h.tlsUnique} header is not base64`;
  }
  if (facts.protocol === 'TLSv1.3' && h.tlsExporterSecret) {
    // RFC 9266 tls-exporter, derived from the exporter secret HAProxy hands over (ssl_fc_exporter_secret).
    const secretHex = get(h.tlsExporterSecret)?.trim();
    const cipher = h.tlsCipher ? get(h.tlsCipher)?.trim() : undefined;
    if (secretHex) {
      const secret = strictHex(secretHex);
      const exporter = secret && cipher ? tlsExporterFromSecret(secret, cipher) : undefined;
      if (exporter) facts.bindings.tlsExporter = exporter;
      else facts.bindingError = `the proxy's ${h.tlsExporterSecret} header is unusable (hex exporter secret and a TLS 1.3 cipher suite in ${h.tlsCipher ?? 'tlsCipher'} expected)`;
    }
  }
  return facts;
}

/**
 * The TLS facts for `req`: from the socket when Node terminates TLS; from headers only when the
 * peer is a trusted proxy; otherwise none (and any such headers are ignored). The client
 * certificate is read and verified only when `withClient` (operations that authenticate).
 */
export async function tlsFacts(req: IncomingMessage, config: TlsFactsConfig, withClient = true): Promise<TlsFacts> {
  const socket = req.socket as TLSSocket;
  if (socket.encrypted) return fromSocket(socket, config, withClient);
  if (config.trustProxy(socket.remoteAddress ?? '')) return fromProxy(req, config, withClient);
  return { source: 'none', clientCertificateVerified: false, bindings: {}, peerAddress: socket.remoteAddress ?? '' };
}
