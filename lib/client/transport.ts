// HTTPS to one EST server over undici: a pooled connection for plain requests and pinned
// connections whose TLS channel binding the client reads before it builds a PoP CSR on them.
import { X509Certificate, type KeyObject } from 'node:crypto';
import { checkServerIdentity, rootCertificates, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import { buildConnector, Client } from 'undici';
import { toPem } from '../protocol/pem.js';
import { Oid } from '../protocol/constants.js';
import { EstClientError, EstNetworkError, EstPopError, EstResponseError, EstTrustError } from './errors.js';

/** How the transport authenticates the server and itself. */
export interface TransportOptions {
  origin: URL;
  /** Explicit trust anchors (RFC 7030 §3.6.1). */
  trustAnchors: X509Certificate[];
  /** Add Node's bundled public CAs (an Implicit TA database, §3.6.2). */
  useSystemTrust: boolean;
  /** Skip server verification (bootstrap /cacerts only, §4.1.1). */
  insecure: boolean;
  /** TLS client certificate chain and key (mutual TLS, §3.3.2). */
  certificate?: X509Certificate[];
  privateKey?: KeyObject;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  maxVersion: 'TLSv1.2' | 'TLSv1.3';
  servername?: string;
  /** Connect, headers and body timeout in milliseconds. */
  timeout: number;
  maxResponseSize: number;
}

/** One HTTP request. */
export interface HttpRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
  signal?: AbortSignal;
}

/** A fully read response. */
export interface HttpResponse {
  status: number;
  /** Lower-case header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

/** The channel binding of one TLS connection. */
export interface ChannelBinding {
  /** `tls-unique` (RFC 5929) or `tls-exporter` (RFC 9266). */
  type: 'tls-unique' | 'tls-exporter';
  value: Buffer;
  protocol: string;
  resumed: boolean;
}


/** Raised inside a pinned request when undici wanted a new connection (the old one closed). */
export class ConnectionReplacedError extends EstClientError {
  constructor() {
    super('ERR_EST_CLIENT_CONNECTION_REPLACED', 'the TLS connection carrying the PoP-linked CSR closed before the request was sent');
  }
}

const TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'INVALID_CA', 'HOSTNAME_MISMATCH',
]);

/** Maps a socket/undici failure to a typed client error; abort reasons pass through unchanged. */
export function mapNetworkError(e: unknown, where: string, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason;
  if (e instanceof EstClientError) return e;
  const err = e as NodeJS.ErrnoException & { cause?: unknown };
  const code = err?.code ?? (err?.cause as NodeJS.ErrnoException | undefined)?.code;
  const msg = err?.message ?? String(e);
  if (code && TRUST_CODES.has(code)) {
    return new EstTrustError(`${where}: server not authorized: ${msg} (${code}); check the trust anchors (--ca) and that the URL's host name is in the server certificate (RFC 7030 §3.6)`, 'ERR_EST_CLIENT_TRUST', { cause: e });
  }
  if (/alert|handshake|protocol version|ssl/i.test(msg)) {
    return new EstNetworkError(`${where}: TLS handshake failed: ${msg}`, { cause: e });
  }
  return new EstNetworkError(`${where}: ${msg}${code && !msg.includes(code) ? ` (${code})` : ''}`, { cause: e });
}

function flattenHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** The EST client's connection to one server. */
export class Transport {
  readonly options: TransportOptions;
  private readonly connector: buildConnector.connector;
  private pool: Client | undefined;
  /** The server certificate seen on the last connection (for bootstrap callbacks). */
  lastPeerCertificate: X509Certificate | undefined;

  constructor(options: TransportOptions) {
    this.options = options;
    const o = options;
    const explicitOnly = !o.useSystemTrust;
    const tlsOptions: ConnectionOptions = {
      minVersion: o.minVersion,
      maxVersion: o.maxVersion,
      rejectUnauthorized: !o.insecure,
    };
    if (!o.insecure) {
      const anchors = o.trustAnchors.map((c) => c.toString());
      // Never the system store unless asked: `ca` replaces Node's bundled roots.
      tlsOptions.ca = o.useSystemTrust ? [...rootCertificates, ...anchors] : anchors;
      tlsOptions.checkServerIdentity = (host: string, cert: PeerCertificate) => {
        const err = checkServerIdentity(host, cert);
        // RFC 7030 §3.6.1: with the Explicit TA database, an id-kp-cmcRA server certificate is authorized too.
        if (err && explicitOnly && (cert as PeerCertificate & { ext_key_usage?: string[] }).ext_key_usage?.includes(Oid.kpCmcRA)) return undefined;
        return err;
      };
    } else {
      tlsOptions.checkServerIdentity = () => undefined;
    }
    if (o.certificate && o.privateKey) {
      tlsOptions.cert = o.certificate.map((c) => c.toString()).join('');
      tlsOptions.key = o.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    }
    if (o.servername) tlsOptions.servername = o.servername;
    const base = buildConnector({ ...tlsOptions, timeout: o.timeout } as buildConnector.BuildOptions);
    this.connector = (opts, cb) =>
      base(opts, (err, socket) => {
        if (!err && socket) {
          try {
            this.lastPeerCertificate = (socket as TLSSocket).getPeerX509Certificate?.() ?? this.lastPeerCertificate;
          } catch {
            /* not TLS */
          }
        }
        (cb as (e: Error | null, s: unknown) => void)(err, socket);
      });
  }

  private getPool(): Client {
    if (!this.pool) {
      this.pool = new Client(this.options.origin.origin, {
        connect: this.connector,
        pipelining: 1,
        headersTimeout: this.options.timeout,
        bodyTimeout: this.options.timeout,
        keepAliveTimeout: 4000,
      });
    }
    return this.pool;
  }

  /** Sends a request on the pooled (keep-alive) connection. */
  request(req: HttpRequest, where: string): Promise<HttpResponse> {
    return send(this.getPool(), req, where, this.options.maxResponseSize);
  }

  /** Opens a new TLS connection for one PoP-linked exchange. */
  async pin(where: string, signal?: AbortSignal): Promise<PinnedConnection> {
    signal?.throwIfAborted();
    const url = this.options.origin;
    let socket: TLSSocket;
    try {
      socket = await new Promise<TLSSocket>((resolve, reject) => {
        this.connector(
          { hostname: url.hostname.replace(/^\[|\]$/g, ''), host: url.host, protocol: 'https:', port: url.port || '443', ...(this.options.servername ? { servername: this.options.servername } : {}) },
          (err, s) => (err ? reject(err) : resolve(s as TLSSocket)),
        );
      });
    } catch (e) {
      throw mapNetworkError(e, where, signal);
    }
    return new PinnedConnection(socket, url, this.options);
  }

  async close(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    // destroy(), not close(): close() can wait forever on a client whose TLS handshake failed.
    await p?.destroy().catch(() => undefined);
  }
}

/** A single TLS connection, used for exactly the requests of one PoP-linked enrollment. */
export class PinnedConnection {
  readonly socket: TLSSocket;
  private readonly client: Client;
  private replaced = false;

  constructor(socket: TLSSocket, origin: URL, private readonly options: TransportOptions) {
    this.socket = socket;
    let handedOut = false;
    this.client = new Client(origin.origin, {
      pipelining: 1,
      headersTimeout: options.timeout,
      bodyTimeout: options.timeout,
      connect: (_opts, cb) => {
        if (!handedOut && !socket.destroyed) {
          handedOut = true;
          // Asynchronously, as a real connector does: undici's dispatch loop is not re-entrant.
          setImmediate(() => (cb as (e: Error | null, s: unknown) => void)(null, socket));
        } else {
          // Another socket would carry a CSR bound to this one: refuse (RFC 7030 §3.5).
          this.replaced = true;
          setImmediate(() => (cb as (e: Error | null, s: unknown) => void)(new ConnectionReplacedError(), null));
        }
      },
    });
  }

  /**
   * The channel binding to put in challengePassword: tls-unique under TLS 1.2 (RFC 5929 §3.1: full
   * handshake → the client's own Finished, resumed → the server's), tls-exporter under TLS 1.3
   * (RFC 9266; as RFC 9148 applies it), or under TLS 1.3 with `tls13: 'finished'` the Finished-based
   * value libest and nginx-http-est compute.
   */
  channelBinding(tls13: 'exporter' | 'finished' = 'exporter'): ChannelBinding {
    const s = this.socket;
    const protocol = s.getProtocol() ?? 'unknown';
    const resumed = s.isSessionReused();
    if (protocol === 'TLSv1.3' && tls13 === 'exporter') {
      return { type: 'tls-exporter', value: s.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0)), protocol, resumed };
    }
    const value = resumed ? s.getPeerFinished() : s.getFinished();
    if (!value) throw new EstPopError(`no TLS Finished message available on this ${protocol} connection; PoP linking impossible`);
    return { type: 'tls-unique', value, protocol, resumed };
  }

  /** Sends a request on this connection; throws ConnectionReplacedError if it was closed meanwhile. */
  async request(req: HttpRequest, where: string): Promise<HttpResponse> {
    try {
      return await send(this.client, req, where, this.options.maxResponseSize);
    } catch (e) {
      if (this.replaced || (e as Error)?.cause instanceof ConnectionReplacedError) throw new ConnectionReplacedError();
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.client.destroy().catch(() => undefined);
    this.socket.destroy();
  }
}

async function send(client: Client, req: HttpRequest, where: string, maxSize: number): Promise<HttpResponse> {
  let res: Awaited<ReturnType<Client['request']>>;
  try {
    res = await client.request({
      path: req.path,
      method: req.method,
      headers: req.headers ?? {},
      body: req.body ?? null,
      signal: req.signal ?? null,
    });
  } catch (e) {
    if (e instanceof ConnectionReplacedError || (e as Error)?.cause instanceof ConnectionReplacedError) throw new ConnectionReplacedError();
    throw mapNetworkError(e, where, req.signal);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > maxSize) {
        res.body.destroy();
        throw new EstResponseError(`${where}: response larger than ${maxSize} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (e) {
    throw mapNetworkError(e, where, req.signal);
  }
  return { status: res.statusCode, headers: flattenHeaders(res.headers as Record<string, string | string[] | undefined>), body: Buffer.concat(chunks) };
}

/** PEM of a certificate (for callers that want text). */
export function certificatePem(c: X509Certificate): string {
  return toPem(new Uint8Array(c.raw), 'CERTIFICATE');
}
