// SubjectPublicKeyInfo → Node KeyObject without OpenSSL's DER decoder on the common key types (RFC 5280 §4.1.2.7).
import { createPublicKey, ECDH, type KeyObject } from 'node:crypto';
import { Oid } from './constants.js';
import { children, content, readOid, readWhole, Tag, type Tlv } from './der.js';
import { curveByOid, CURVE_LIST, type SupportedCurve } from './key-types.js';

/** What Node reports as `asymmetricKeyDetails`, for the key types read here. */
export type SpkiKeyType =
  | { kind: 'rsa'; bits: number }
  | { kind: 'rsa-pss'; bits: number }
  | { kind: 'ec'; curve: SupportedCurve['name'] }
  | { kind: 'ed25519' }
  | { kind: 'ed448' };

/** Names of curves seen in the field that are refused, for the error message. */
const OTHER_CURVES: Record<string, string> = {
  '1.3.132.0.10': 'secp256k1',
  '1.2.840.10045.3.1.1': 'prime192v1',
  '1.3.132.0.33': 'secp224r1',
  '1.3.36.3.3.2.8.1.1.7': 'brainpoolP256r1',
};

const b64url = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

/** A positive INTEGER's magnitude when minimally encoded; undefined otherwise. */
function positiveInteger(t: Tlv | undefined): Uint8Array | undefined {
  if (!t || t.tag !== Tag.integer) return undefined;
  const c = content(t);
  if (c.length === 0 || c[0]! & 0x80) return undefined;
  if (c[0] === 0) {
    if (c.length === 1 || !(c[1]! & 0x80)) return undefined;
    return c.subarray(1);
  }
  return c;
}

function bitLength(magnitude: Uint8Array): number {
  return (magnitude.length - 1) * 8 + (32 - Math.clz32(magnitude[0]!));
}

/** Why a SubjectPublicKeyInfo was refused: a one-line reason naming the rule. */
export class PublicKeyError extends Error {}

/**
 * Checks RSAPublicKey ::= SEQUENCE { modulus, publicExponent } (RFC 8017 §A.1.1) and returns its
 * magnitudes. The modulus is odd and 512–16384 bits; the exponent odd, ≥ 3 and at most 64 bits
 * (an exponent of 1 makes every "signature" verify: anyone could sign for such a key).
 */
function rsaComponents(keyBits: Uint8Array): { n: Uint8Array; e: Uint8Array } {
  const seq = readWhole(keyBits, Tag.sequence, 'RSAPublicKey');
  const [nTlv, eTlv, extra] = children(seq);
  const n = positiveInteger(nTlv);
  const e = positiveInteger(eTlv);
  if (!n || !e || extra) throw new PublicKeyError('RSA key: modulus and exponent must be minimal positive INTEGERs');
  const bits = bitLength(n);
  if (bits < 512 || bits > 16384 || !(n[n.length - 1]! & 1)) throw new PublicKeyError(`RSA key: modulus of ${bits} bits is not an odd number of 512–16384 bits`);
  if (e.length > 8 || !(e[e.length - 1]! & 1) || (e.length === 1 && e[0]! < 3)) throw new PublicKeyError('RSA key: public exponent must be odd, at least 3 and at most 64 bits');
  return { n, e };
}

/**
 * The EC point as 04‖X‖Y on the named curve: uncompressed points are taken as they are (Node
 * checks them on import), compressed ones (02|03‖X) are expanded by OpenSSL, which refuses
 * points off the curve. The point at infinity and every other length are refused here, before
 * Node sees them (Node aborts the process when asked the details of such a key).
 */
function ecPoint(keyBits: Uint8Array, size: number, curveName: string): Uint8Array {
  const form = keyBits[0];
  if (form === 0x04 && keyBits.length === 1 + 2 * size) return keyBits;
  if ((form === 0x02 || form === 0x03) && keyBits.length === 1 + size) {
    try {
      return new Uint8Array(ECDH.convertKey(Buffer.from(keyBits), curveName, undefined, undefined, 'uncompressed') as Buffer);
    } catch {
      throw new PublicKeyError('EC key: compressed point is not on the curve');
    }
  }
  throw new PublicKeyError(`EC key: the point must be 04‖X‖Y or 02|03‖X for a ${size * 8}-bit curve (RFC 5480 §2.2)`);
}

/**
 * How to load an RSA, EC (named curve) or EdDSA SPKI (a JWK, or an EC key's point), with the key
 * type. Throws PublicKeyError for anything else: every key is validated here before Node is asked
 * about it.
 * `algOid` and `keyBits` (the subjectPublicKey BIT STRING's bytes) come from the caller's strict parse.
 */
function keyInputOf(algOid: string, params: Tlv | undefined, keyBits: Uint8Array): { input: KeyInput; type: SpkiKeyType } {
  switch (algOid) {
    case Oid.rsaEncryption: {
      // RFC 3279 §2.3.1: parameters NULL.
      if (!params || params.tag !== Tag.null || params.end !== params.contentStart) throw new PublicKeyError('RSA key: parameters must be NULL (RFC 3279 §2.3.1)');
      const { n, e } = rsaComponents(keyBits);
      return { input: { format: 'jwk', key: { kty: 'RSA', n: b64url(n), e: b64url(e) } }, type: { kind: 'rsa', bits: bitLength(n) } };
    }
    case Oid.ecPublicKey: {
      // RFC 5480 §2.1.1: namedCurve only; specifiedCurve (explicit parameters) and implicitCurve are refused.
      if (!params || params.tag !== Tag.oid) throw new PublicKeyError('EC key: parameters must name a curve (RFC 5480 §2.1.1: no explicit curve parameters)');
      const curve = curveByOid(readOid(params));
      if (!curve) {
        const oid = readOid(params);
        throw new PublicKeyError(`EC key: curve ${OTHER_CURVES[oid] ?? oid.slice(0, 100)} not supported (${CURVE_LIST})`);
      }
      // The point itself, not a JWK: the crypto threads import it raw (crypto-worker.ts).
      return { input: { format: 'ec-point', curve: curve.nist, key: ecPoint(keyBits, curve.size, curve.name) }, type: { kind: 'ec', curve: curve.name } };
    }
    case Oid.ed25519:
    case Oid.ed448: {
      // RFC 8410 §3: parameters absent.
      const ed25519 = algOid === Oid.ed25519;
      if (params || keyBits.length !== (ed25519 ? 32 : 57)) throw new PublicKeyError(`${ed25519 ? 'Ed25519' : 'Ed448'} key: wrong length or parameters present (RFC 8410 §3)`);
      return { input: { format: 'jwk', key: { kty: 'OKP', crv: ed25519 ? 'Ed25519' : 'Ed448', x: b64url(keyBits) } }, type: { kind: ed25519 ? 'ed25519' : 'ed448' } };
    }
    default:
      throw new PublicKeyError(`key algorithm ${algOid.slice(0, 100)} not supported`);
  }
}

/** Runs a structural check, reporting a DER error in it as a PublicKeyError. */
function asPublicKeyError<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof PublicKeyError) throw e;
    throw new PublicKeyError(`malformed public key: ${(e as Error).message}`);
  }
}

/**
 * How to load a validated key: a JWK of its components, an EC key's uncompressed point (its curve's
 * JWK/WebCrypto name), or (RSA-PSS only) the DER SPKI. Plain data, so it can be posted to the
 * crypto threads (crypto-pool.ts) and imported there.
 */
export type KeyInput =
  | { format: 'jwk'; key: Record<string, string> }
  | { format: 'ec-point'; curve: string; key: Uint8Array }
  | { format: 'der'; type: 'spki'; key: Uint8Array };

/**
 * Validates a DER SubjectPublicKeyInfo (see keyInputOf) and says how to load it, without loading it.
 * Keys are imported from their components (a JWK, an EC point): OpenSSL 3's DER decoder costs ~2–25× more
 * (about 200 µs for a P-256 key here), and it accepts keys (the point at infinity) whose details
 * abort Node. There is deliberately no DER fallback.
 *
 * Throws PublicKeyError with a one-line reason when the key is malformed or not supported.
 */
export function validateSpki(spkiDer: Uint8Array, algorithm: Tlv, keyBits: Uint8Array, algOid: string): { input: KeyInput; type: SpkiKeyType } {
  if (algOid === Oid.rsassaPss) {
    // RFC 4055 §1.2: the same RSAPublicKey, validated here; JWK cannot carry the PSS restrictions,
    // so this (rare) form alone goes through the DER decoder, which checks the parameters.
    const { n } = asPublicKeyError(() => rsaComponents(keyBits));
    return { input: { format: 'der', type: 'spki', key: spkiDer }, type: { kind: 'rsa-pss', bits: bitLength(n) } };
  }
  return asPublicKeyError(() => keyInputOf(algOid, children(algorithm)[1], keyBits));
}

/**
 * Loads a key {@link validateSpki} accepted. What only the import can find (an EC point off the
 * curve, bad PSS parameters) is a PublicKeyError.
 */
export function importKeyInput(input: KeyInput): KeyObject {
  try {
    switch (input.format) {
      case 'jwk':
        return createPublicKey({ key: input.key, format: 'jwk' });
      case 'ec-point': {
        // Synchronously here only as a JWK (WebCrypto's raw import is async).
        const size = (input.key.length - 1) / 2;
        return createPublicKey({ key: { kty: 'EC', crv: input.curve, x: b64url(input.key.subarray(1, 1 + size)), y: b64url(input.key.subarray(1 + size)) }, format: 'jwk' });
      }
      case 'der':
        return createPublicKey({ key: Buffer.from(input.key), format: 'der', type: 'spki' });
    }
  } catch {
    throw new PublicKeyError(input.format === 'der' ? KEY_IMPORT_ERRORS.pss : input.format === 'ec-point' ? KEY_IMPORT_ERRORS.ec : KEY_IMPORT_ERRORS.other);
  }
}

/** Why a validated key failed to import (also the crypto threads' words, crypto-worker.ts). */
export const KEY_IMPORT_ERRORS = {
  pss: 'RSA-PSS key: malformed parameters (RFC 4055 §3.1)',
  ec: 'EC key: point is not on the curve',
  other: 'public key refused by the crypto library',
} as const;

/** Validates and loads a DER SubjectPublicKeyInfo on this thread ({@link validateSpki}, then {@link importKeyInput}). */
export function importSpki(spkiDer: Uint8Array, algorithm: Tlv, keyBits: Uint8Array, algOid: string): { key: KeyObject; type: SpkiKeyType } {
  const { input, type } = validateSpki(spkiDer, algorithm, keyBits, algOid);
  return { key: importKeyInput(input), type };
}
