// Reading EST responses leniently (RFC 8951 §3): base64 with or without line breaks or CTE, PEM, DER.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { decodeBody } from '../protocol/base64.js';
import { parseCsrAttrs, type CsrAttrsItem } from '../protocol/csrattrs.js';
import { parseMediaType } from '../protocol/media-type.js';
import { parseMultipart } from '../protocol/multipart.js';
import { looksLikePem, parsePem } from '../protocol/pem.js';
import { decodeCertsOnly } from '../protocol/pkcs7.js';
import { EstResponseError } from './errors.js';
import type { HttpResponse } from './transport.js';

function describe(contentType: string | undefined): string {
  return contentType ? `Content-Type ${JSON.stringify(contentType)}` : 'no Content-Type';
}

/** Certificates from a certs-only PKCS#7 body (base64, PEM `PKCS7`, DER) or PEM `CERTIFICATE` blocks. */
export function decodeCertificates(body: Uint8Array, contentType: string | undefined, where: string): X509Certificate[] {
  const mt = parseMediaType(contentType);
  if (mt && (mt.type === 'text/html' || mt.type === 'application/json')) {
    throw new EstResponseError(`${where}: expected application/pkcs7-mime, got ${describe(contentType)}`);
  }
  try {
    let ders: Uint8Array[];
    if (looksLikePem(body)) {
      const blocks = parsePem(Buffer.from(body).toString('latin1'));
      const certs = blocks.filter((b) => /CERTIFICATE$/.test(b.label));
      ders = certs.length > 0 ? certs.map((b) => b.der) : blocks.flatMap((b) => decodeCertsOnly(b.der));
    } else {
      const der = decodeBody(body);
      try {
        ders = decodeCertsOnly(der);
      } catch (e) {
        // A bare certificate instead of a PKCS#7 bag (seen from some servers).
        try {
          ders = [new Uint8Array(new X509Certificate(der).raw)];
        } catch {
          throw e;
        }
      }
    }
    if (ders.length === 0) throw new Error('the PKCS#7 response holds no certificate');
    return ders.map((d) => new X509Certificate(d));
  } catch (e) {
    if (e instanceof EstResponseError) throw e;
    throw new EstResponseError(`${where}: cannot read certificates from the response (${describe(contentType)}): ${(e as Error).message}`, { cause: e });
  }
}

/** CsrAttrs from a /csrattrs body (RFC 7030 §4.5.2, RFC 8951 §4). */
export function decodeCsrAttrs(body: Uint8Array, contentType: string | undefined, where: string): { der: Uint8Array; items: CsrAttrsItem[] } {
  try {
    const der = decodeBody(body);
    return { der, items: parseCsrAttrs(der) };
  } catch (e) {
    throw new EstResponseError(`${where}: cannot read CsrAttrs (${describe(contentType)}): ${(e as Error).message}`, { cause: e });
  }
}

/** The result of /serverkeygen: a PKCS#8 key, or an encrypted one (smime-type=server-generated-key) to open. */
export type ServerKeygenParts =
  | { privateKey: KeyObject; privateKeyPkcs8: Uint8Array; certificates: X509Certificate[]; encryptedKey?: undefined }
  | { encryptedKey: Uint8Array; certificates: X509Certificate[] };

function readKey(body: Uint8Array, where: string): { key: KeyObject; der: Uint8Array } {
  try {
    if (looksLikePem(body)) {
      const key = createPrivateKey({ key: Buffer.from(body), format: 'pem' });
      return { key, der: new Uint8Array(key.export({ format: 'der', type: 'pkcs8' })) };
    }
    const der = decodeBody(body);
    return { key: createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }), der };
  } catch (e) {
    throw new EstResponseError(`${where}: the key part is not a PKCS#8 private key: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Splits a /serverkeygen multipart/mixed response (RFC 7030 §4.4.2) into key and certificate, in
 * whichever order the parts come; a part without Content-Type is recognised by its content.
 */
export function decodeServerKeygen(res: HttpResponse, where: string): ServerKeygenParts {
  const ct = res.headers['content-type'];
  let parts;
  try {
    parts = parseMultipart(res.body, ct);
  } catch (e) {
    throw new EstResponseError(`${where}: expected multipart/mixed with a key and a certificate part, got ${describe(ct)}`, { cause: e });
  }
  let key: { key: KeyObject; der: Uint8Array } | undefined;
  let encrypted: Uint8Array | undefined;
  let certs: X509Certificate[] | undefined;
  for (const part of parts) {
    const mt = parseMediaType(part.headers['content-type']);
    if (mt?.type === 'application/pkcs8') {
      key = readKey(part.body, where);
    } else if (mt?.type === 'application/pkcs7-mime' && mt.params['smime-type']?.toLowerCase() === 'server-generated-key') {
      // RFC 7030 §4.4.2: EnvelopedData, base64 (RFC 8951 §3.2.4).
      try {
        encrypted = decodeBody(part.body);
      } catch (e) {
        throw new EstResponseError(`${where}: the encrypted key part is not base64: ${(e as Error).message}`, { cause: e });
      }
    } else if (mt && (mt.type === 'application/pkcs7-mime' || mt.type === 'application/pkcs7')) {
      certs = decodeCertificates(part.body, part.headers['content-type'], where);
    } else if (part.body.toString('latin1').trim() !== '') {
      // Unlabelled part: try a certificate bag first, then a key.
      try {
        certs = decodeCertificates(part.body, undefined, where);
      } catch {
        key = readKey(part.body, where);
      }
    }
  }
  if (!certs) throw new EstResponseError(`${where}: the multipart response has no certificate part`);
  if (encrypted && !key) return { encryptedKey: encrypted, certificates: certs };
  if (!key) throw new EstResponseError(`${where}: the multipart response has no application/pkcs8 key part`);
  return { privateKey: key.key, privateKeyPkcs8: key.der, certificates: certs };
}

/** The server's reason text from an error response: plaintext (RFC 8951 §5), trimmed, bounded. */
export function reasonText(res: HttpResponse): string {
  // RFC 7030 §3.2.1: redirects are not followed (a PoP-linked CSR would have to be rebuilt elsewhere).
  if (res.status >= 300 && res.status < 400 && res.headers['location']) return `redirected to ${res.headers['location']} (redirects are not followed)`;
  const mt = parseMediaType(res.headers['content-type']);
  if (mt && !mt.type.startsWith('text/') && mt.type !== 'application/json' && mt.type !== 'application/problem+json') {
    return res.body.length ? `(${res.body.length} bytes of ${mt.type})` : '';
  }
  let text = res.body.toString('utf8');
  if (mt?.type === 'text/html') text = text.replace(/<[^>]*>/g, ' ');
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > 1000 ? text.slice(0, 1000) + '…' : text;
}
