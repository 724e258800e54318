// Request/response body transfer encoding (RFC 8951 §3): base64 whatever the CTE header says.
import { looksLikePem, parsePem } from './pem.js';

/** Why a body could not be decoded; the message is the one-line reason sent to the client. */
export class BodyEncodingError extends Error {
  override name = 'BodyEncodingError';
}

const B64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes an EST request body to DER (RFC 8951 §3, §3.1): base64 with any line length, CRLF or LF,
 * spaces and tabs tolerated, with or without a final newline; PEM armour stripped; raw DER (a body
 * starting with a SEQUENCE tag) accepted as is. Missing `=` padding is tolerated.
 */
export function decodeBody(body: Uint8Array): Uint8Array {
  if (body.length === 0) throw new BodyEncodingError('empty request body');
  // 0x30 is '0' in ASCII, but a base64 body cannot start with the SEQUENCE+long-length pair 30 8x.
  if (body[0] === 0x30 && body.length > 1 && (body[1]! & 0x80 || body[1] === body.length - 2)) {
    return body;
  }
  let text = Buffer.from(body).toString('latin1');
  if (looksLikePem(text)) {
    const blocks = parsePem(text);
    if (blocks.length !== 1) throw new BodyEncodingError('expected exactly one PEM block');
    return blocks[0]!.der;
  }
  text = text.replace(/[\r\n\t ]+/g, '');
  if (text.length === 0) throw new BodyEncodingError('empty request body');
  if (!B64_CHARS.test(text)) throw new BodyEncodingError('body is not base64 (RFC 8951)');
  const rem = text.length % 4;
  if (rem === 1) throw new BodyEncodingError('truncated base64 body');
  const der = Buffer.from(text, 'base64');
  return new Uint8Array(der.buffer, der.byteOffset, der.length);
}

/** Base64 in 64-column lines, each ending in CRLF (RFC 8951; RFC 7030 App. A shapes). */
export function encodeBase64Lines(der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let out = '';
  for (let i = 0; i < b64.length; i += 64) out += b64.slice(i, i + 64) + '\r\n';
  return out;
}

/**
 * Lenient base64 decoding for responses read by the client: whitespace anywhere, optional PEM
 * armour, missing padding; raw DER returned unchanged.
 */
export function decodeBase64Lenient(body: Uint8Array): Uint8Array {
  return decodeBody(body);
}
