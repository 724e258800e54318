// PoP test client: a TLS connection that knows its own channel binding, CSRs built to carry it, raw HTTP/1.1.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { connect, type SecureVersion, type TLSSocket } from 'node:tls';
import { Oid } from '../../lib/protocol/constants.js';
import { bitString, integer, nullValue, oid, seq, set, tlv } from '../../lib/protocol/der.js';

export type PopKeyType = 'p256' | 'p384' | 'rsa2048';

export interface KeyPair {
  type: PopKeyType;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function makeKey(type: PopKeyType): KeyPair {
  const kp =
    type === 'rsa2048'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: type === 'p256' ? 'prime256v1' : 'secp384r1' });
  return { type, ...kp };
}

const printable = (s: string) => tlv(0x13, Buffer.from(s, 'latin1'));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));

export interface CsrOptions {
  cn?: string;
  challengePassword?: string;
  estIdentityLinking?: string;
  otpChallenge?: string;
  /** DirectoryString type for the linking values. @default 'printable' */
  stringType?: 'printable' | 'utf8';
}

/** A PKCS#10 request (DER) signed with `key`, carrying the given attributes. */
export function buildCsr(key: KeyPair, o: CsrOptions = {}): Buffer {
  const str = o.stringType === 'utf8' ? utf8 : printable;
  const attrs: Uint8Array[] = [];
  if (o.challengePassword !== undefined) attrs.push(seq(oid(Oid.challengePassword), set(str(o.challengePassword))));
  if (o.estIdentityLinking !== undefined) attrs.push(seq(oid(Oid.estIdentityLinking), set(str(o.estIdentityLinking))));
  if (o.otpChallenge !== undefined) attrs.push(seq(oid(Oid.otpChallenge), set(utf8(o.otpChallenge))));
  const name = seq(set(seq(oid(Oid.commonName), utf8(o.cn ?? 'pop-device'))));
  const spki = key.publicKey.export({ type: 'spki', format: 'der' });
  // CertificationRequestInfo ::= SEQUENCE { version INTEGER, subject Name, subjectPKInfo, attributes [0] IMPLICIT SET OF Attribute }
  const info = seq(integer(0), name, spki, tlv(0xa0, ...attrs));
  const [hash, algOid] = key.type === 'rsa2048' ? ['sha256', Oid.sha256WithRSAEncryption] : key.type === 'p384' ? ['sha384', Oid.ecdsaWithSHA384] : ['sha256', Oid.ecdsaWithSHA256];
  const algId = key.type === 'rsa2048' ? seq(oid(algOid), nullValue()) : seq(oid(algOid));
  const sig = sign(hash, info, key.privateKey);
  return Buffer.from(seq(info, algId, bitString(sig)));
}

export interface TlsClientOptions {
  host?: string;
  port: number;
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
  version: SecureVersion;
  session?: Buffer;
  servername?: string;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** One TLS connection speaking HTTP/1.1 with keep-alive; knows its tls-unique and tls-exporter. */
export class TlsHttpConnection {
  /** The newest session (ticket) the server handed out on this connection, for resumption. */
  session?: Buffer;
  private buffer = Buffer.alloc(0);
  private waiter?: () => void;
  private ended = false;

  private constructor(readonly socket: TLSSocket, early: { session?: Buffer }) {
    // TLS 1.2 hands out the session during the handshake, before secureConnect; TLS 1.3 after it.
    if (early.session) this.session = early.session;
    socket.on('session', (s: Buffer) => (this.session = s));
    socket.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      this.waiter?.();
    });
    socket.on('end', () => {
      this.ended = true;
      this.waiter?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  static open(o: TlsClientOptions): Promise<TlsHttpConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: o.host ?? '127.0.0.1',
        port: o.port,
        ca: o.ca,
        servername: o.servername ?? 'localhost',
        minVersion: o.version,
        maxVersion: o.version,
        ...(o.cert ? { cert: o.cert, key: o.key } : {}),
        ...(o.session ? { session: o.session } : {}),
      });
      const early: { session?: Buffer } = {};
      socket.on('session', (s: Buffer) => (early.session = s));
      socket.once('secureConnect', () => resolve(new TlsHttpConnection(socket, early)));
      socket.once('error', reject);
    });
  }

  get protocol(): string | null {
    return this.socket.getProtocol();
  }

  get resumed(): boolean {
    return this.socket.isSessionReused();
  }

  /** RFC 5929 tls-unique as the client sees it: full → own Finished, resumed → server's Finished. */
  tlsUnique(): string {
    const f = this.socket.isSessionReused() ? this.socket.getPeerFinished() : this.socket.getFinished();
    return f!.toString('base64');
  }

  /** RFC 9266 tls-exporter. */
  tlsExporter(): string {
    return this.socket.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0)).toString('base64');
  }

  /** The binding a correct client sends: tls-unique (TLS 1.2) or tls-exporter (TLS 1.3). */
  binding(): string {
    return this.protocol === 'TLSv1.3' ? this.tlsExporter() : this.tlsUnique();
  }

  private async need(pred: () => boolean): Promise<void> {
    while (!pred()) {
      if (this.ended) throw new Error('connection closed before a complete response');
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = undefined;
    }
  }

  async request(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<HttpAnswer> {
    const b = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1');
    const lines = [`${method} ${path} HTTP/1.1`, 'Host: localhost', 'Connection: keep-alive'];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    if (b) lines.push(`Content-Length: ${b.length}`);
    this.socket.write(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), b ?? Buffer.alloc(0)]));
    await this.need(() => this.buffer.indexOf('\r\n\r\n') >= 0);
    const headEnd = this.buffer.indexOf('\r\n\r\n');
    const head = this.buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
    this.buffer = this.buffer.subarray(headEnd + 4);
    const status = Number(head[0]!.split(' ')[1]);
    const hdrs: Record<string, string> = {};
    for (const l of head.slice(1)) {
      const i = l.indexOf(':');
      hdrs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    let out: Buffer;
    if (hdrs['transfer-encoding']?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        await this.need(() => this.buffer.indexOf('\r\n') >= 0);
        const le = this.buffer.indexOf('\r\n');
        const size = parseInt(this.buffer.subarray(0, le).toString('latin1'), 16);
        await this.need(() => this.buffer.length >= le + 2 + size + 2);
        parts.push(this.buffer.subarray(le + 2, le + 2 + size));
        this.buffer = this.buffer.subarray(le + 2 + size + 2);
        if (size === 0) break;
      }
      out = Buffer.concat(parts);
    } else {
      const len = Number(hdrs['content-length'] ?? 0);
      await this.need(() => this.buffer.length >= len);
      out = Buffer.from(this.buffer.subarray(0, len));
      this.buffer = this.buffer.subarray(len);
    }
    return { status, headers: hdrs, body: out };
  }

  /** POST a CSR (base64, one line with no final newline) to `path`. */
  enroll(path: string, csrDer: Buffer, headers: Record<string, string> = {}): Promise<HttpAnswer> {
    return this.request('POST', path, { 'Content-Type': 'application/pkcs10', ...headers }, csrDer.toString('base64'));
  }

  /** Closes the connection and waits until the session ticket (if any) has been seen. */
  async close(): Promise<Buffer | undefined> {
    this.socket.end();
    await this.need(() => this.ended).catch(() => undefined);
    return this.session;
  }
}
