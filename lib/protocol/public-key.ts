// SubjectPublicKeyInfo → Node KeyObject without OpenSSL's DER decoder on the common key types (RFC 5280 §4.1.2.7).
import { createPublicKey, type KeyObject } from 'node:crypto';
import { Oid } from './constants.js';
import { children, content, readOid, readWhole, Tag, type Tlv } from './der.js';

/** What Node reports as `asymmetricKeyDetails`, for the key types read here. */
export type SpkiKeyType =
  | { kind: 'rsa'; bits: number }
  | { kind: 'ec'; curve: 'prime256v1' | 'secp384r1' | 'secp521r1' }
  | { kind: 'ed25519' }
  | { kind: 'ed448' };

const CURVES: Record<string, { name: 'prime256v1' | 'secp384r1' | 'secp521r1'; jwk: string; size: number }> = {
  [Oid.secp256r1]: { name: 'prime256v1', jwk: 'P-256', size: 32 },
  [Oid.secp384r1]: { name: 'secp384r1', jwk: 'P-384', size: 48 },
  [Oid.secp521r1]: { name: 'secp521r1', jwk: 'P-521', size: 66 },
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

/**
 * The JWK for a canonical RSA, EC (named curve, uncompressed point) or EdDSA SPKI, with the key
 * type Node would report; undefined for anything else (the caller then uses the DER decoder).
 * `algOid` and `keyBits` (the subjectPublicKey BIT STRING's bytes) come from the caller's strict parse.
 */
function jwkOf(algOid: string, params: Tlv | undefined, keyBits: Uint8Array): { jwk: Record<string, string>; type: SpkiKeyType } | undefined {
  switch (algOid) {
    case Oid.rsaEncryption: {
      // RFC 3279 §2.3.1: parameters NULL; RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
      if (!params || params.tag !== Tag.null || params.end !== params.contentStart) return undefined;
      const seq = readWhole(keyBits, Tag.sequence, 'RSAPublicKey');
      const [nTlv, eTlv, extra] = children(seq);
      const n = positiveInteger(nTlv);
      const e = positiveInteger(eTlv);
      if (!n || !e || extra || e.length > 8) return undefined;
      return { jwk: { kty: 'RSA', n: b64url(n), e: b64url(e) }, type: { kind: 'rsa', bits: bitLength(n) } };
    }
    case Oid.ecPublicKey: {
      // RFC 5480 §2.1.1: namedCurve; ECPoint, uncompressed form 04 || X || Y (compressed points go to the DER decoder).
      if (!params || params.tag !== Tag.oid) return undefined;
      const curve = CURVES[readOid(params)];
      if (!curve || keyBits.length !== 1 + 2 * curve.size || keyBits[0] !== 0x04) return undefined;
      return {
        jwk: { kty: 'EC', crv: curve.jwk, x: b64url(keyBits.subarray(1, 1 + curve.size)), y: b64url(keyBits.subarray(1 + curve.size)) },
        type: { kind: 'ec', curve: curve.name },
      };
    }
    case Oid.ed25519:
    case Oid.ed448: {
      // RFC 8410 §3: parameters absent.
      const ed25519 = algOid === Oid.ed25519;
      if (params || keyBits.length !== (ed25519 ? 32 : 57)) return undefined;
      return { jwk: { kty: 'OKP', crv: ed25519 ? 'Ed25519' : 'Ed448', x: b64url(keyBits) }, type: { kind: ed25519 ? 'ed25519' : 'ed448' } };
    }
    default:
      return undefined;
  }
}

/**
 * Loads a DER SubjectPublicKeyInfo. RSA, EC P-256/384/521 (uncompressed) and Ed25519/Ed448 keys
 * in canonical form are imported from their components as a JWK: OpenSSL 3's DER decoder costs
 * ~2–25× more (about 200 µs for a P-256 key here, on the event loop). The key is the same, and
 * Node checks it the same way (an EC point must be on the curve). Anything else, or a key the
 * fast path refuses, goes through the DER decoder as before.
 *
 * Returns undefined when Node cannot load the key at all. `type` is set when the fast path
 * was taken (equal to what `asymmetricKeyDetails` would report).
 */
export function importSpki(spkiDer: Uint8Array, algorithm: Tlv, keyBits: Uint8Array, algOid: string): { key: KeyObject; type?: SpkiKeyType } | undefined {
  let fast: ReturnType<typeof jwkOf>;
  try {
    fast = jwkOf(algOid, children(algorithm)[1], keyBits);
  } catch {
    fast = undefined;
  }
  if (fast) {
    try {
      return { key: createPublicKey({ key: fast.jwk, format: 'jwk' }), type: fast.type };
    } catch {
      /* let the DER decoder have the last word */
    }
  }
  try {
    return { key: createPublicKey({ key: Buffer.from(spkiDer.buffer, spkiDer.byteOffset, spkiDer.byteLength), format: 'der', type: 'spki' }) };
  } catch {
    return undefined;
  }
}
