// pkijs bound to Node's WebCrypto, set once and passed explicitly; DER ↔ pkijs object helpers.
import { webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

/**
 * The pkijs crypto engine on Node's own WebCrypto (never a polyfill). Every pkijs call that takes
 * a `crypto` argument gets this one; it is also installed as pkijs's global engine for the calls
 * that look it up themselves (random values, algorithm tables).
 */
export const nodeEngine = new pkijs.CryptoEngine({ name: 'node-webcrypto', crypto: webcrypto as unknown as pkijs.CryptoEngineParameters['crypto'] });
pkijs.setEngine('node-webcrypto', nodeEngine);

/** Thrown when DER does not decode to the expected structure. */
export class PkixDecodeError extends Error {}

/**
 * Most TLVs one input to fromDer may hold. asn1js decodes ~13 µs a TLV on the event loop; a Full
 * PKI Request with its CSR, signer certificate and a chain holds a few hundred, while 62 KB of tiny
 * certificates held 6,241 and took 0.3–0.5 s to read (with pkijs).
 */
export const MAX_BER_NODES = 2048;

/**
 * Counts the TLVs of BER `buf` (constructed ones walked into, definite or indefinite length), and
 * stops once past `max`. Returns -1 for input it cannot walk (asn1js then says what is wrong).
 */
export function countBerNodes(buf: Uint8Array, max: number): number {
  let count = 0;
  // Ends of the constructed values being walked (-1: indefinite, up to its end-of-contents).
  const ends: number[] = [buf.length];
  let pos = 0;
  while (ends.length > 0) {
    const end = ends[ends.length - 1]!;
    if (end >= 0 && pos >= end) {
      if (pos !== end) return -1;
      ends.pop();
      continue;
    }
    if (pos + 2 > buf.length) return end < 0 || ends.length > 1 ? -1 : count;
    if (end < 0 && buf[pos] === 0 && buf[pos + 1] === 0) {
      pos += 2;
      ends.pop();
      continue;
    }
    const tag = buf[pos++]!;
    if ((tag & 0x1f) === 0x1f) {
      // High tag number: base-128 octets, the last without bit 8.
      while (pos < buf.length && buf[pos]! & 0x80) pos++;
      pos++;
    }
    if (pos >= buf.length) return -1;
    let len = buf[pos++]!;
    if (++count > max) return count;
    if (len === 0x80) {
      if (!(tag & 0x20) || ends.length > 256) return -1;
      ends.push(-1);
      continue;
    }
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n > 4 || pos + n > buf.length) return -1;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[pos++]!;
    }
    const valueEnd = pos + len;
    if (valueEnd > (end >= 0 ? end : buf.length)) return -1;
    if (tag & 0x20) {
      if (ends.length > 256) return -1;
      ends.push(valueEnd);
    } else pos = valueEnd;
  }
  return count;
}

/** Decodes BER/DER to an asn1js value; the whole input must be consumed. */
export function fromDer(der: Uint8Array, what: string): asn1js.AsnType {
  if (countBerNodes(der, MAX_BER_NODES) > MAX_BER_NODES) throw new PkixDecodeError(`${what}: more than ${MAX_BER_NODES} ASN.1 elements`);
  const view = new Uint8Array(der);
  const res = asn1js.fromBER(view);
  if (res.offset === -1) throw new PkixDecodeError(`${what}: ${res.result.error || 'not DER'}`);
  if (res.offset !== view.byteLength) throw new PkixDecodeError(`${what}: trailing bytes`);
  return res.result;
}

/** Parses one X.509 certificate with pkijs. */
export function pkijsCertificate(der: Uint8Array): pkijs.Certificate {
  try {
    return new pkijs.Certificate({ schema: fromDer(der, 'certificate') });
  } catch (e) {
    if (e instanceof PkixDecodeError) throw e;
    throw new PkixDecodeError(`certificate: ${(e as Error).message}`);
  }
}

/** DER bytes of a pkijs object. */
export function toDer(o: { toSchema(): asn1js.AsnType }): Uint8Array {
  return new Uint8Array(o.toSchema().toBER(false));
}
