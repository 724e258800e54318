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

/** Decodes BER/DER to an asn1js value; the whole input must be consumed. */
export function fromDer(der: Uint8Array, what: string): asn1js.AsnType {
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
