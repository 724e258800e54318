// The key types this package reads, certifies and generates: the one list of curves and RSA sizes.
import { Oid } from './constants.js';

/** A named curve we support, by its OpenSSL/Node name, NIST name, OID and field size in bytes. */
export interface SupportedCurve {
  readonly name: 'prime256v1' | 'secp384r1' | 'secp521r1';
  readonly nist: 'P-256' | 'P-384' | 'P-521';
  readonly oid: string;
  readonly size: number;
  /** The digest a CA key on this curve signs with, and the ECDSA signature OID (RFC 5758 §3.2). */
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  readonly ecdsaOid: string;
}

/** RFC 5480 §2.1.1.1 named curves: P-256, P-384, P-521 (no others are read, certified or generated). */
export const SUPPORTED_CURVES: readonly SupportedCurve[] = Object.freeze([
  { name: 'prime256v1', nist: 'P-256', oid: Oid.secp256r1, size: 32, hash: 'sha256', ecdsaOid: Oid.ecdsaWithSHA256 },
  { name: 'secp384r1', nist: 'P-384', oid: Oid.secp384r1, size: 48, hash: 'sha384', ecdsaOid: Oid.ecdsaWithSHA384 },
  { name: 'secp521r1', nist: 'P-521', oid: Oid.secp521r1, size: 66, hash: 'sha512', ecdsaOid: Oid.ecdsaWithSHA512 },
]);

/** RSA modulus sizes a CSR key may have to be certified. */
export const RSA_CERTIFIED_BITS = Object.freeze({ min: 2048, max: 16384 });

/** A curve by OpenSSL name, NIST name or `secp256r1` alias; undefined when not supported. */
export function curveByName(name: string): SupportedCurve | undefined {
  const n = name === 'secp256r1' ? 'prime256v1' : name;
  return SUPPORTED_CURVES.find((c) => c.name === n || c.nist === n);
}

/** A curve by its OID; undefined when not supported. */
export function curveByOid(oid: string): SupportedCurve | undefined {
  return SUPPORTED_CURVES.find((c) => c.oid === oid);
}

/** `P-256, P-384, P-521`, for messages. */
export const CURVE_LIST = SUPPORTED_CURVES.map((c) => c.nist).join(', ');

/** The key type of a public key, as policy and /serverkeygen see it. */
export type KeyType =
  | { kind: 'rsa'; bits: number }
  | { kind: 'rsa-pss'; bits: number }
  | { kind: 'ec'; curve: string }
  | { kind: 'ed25519' }
  | { kind: 'ed448' };

/** Human text for a key type: `RSA-2048`, `EC P-256`, `Ed25519`. */
export function describeKeyType(k: KeyType | undefined): string {
  if (!k) return 'unsupported key';
  switch (k.kind) {
    case 'rsa':
    case 'rsa-pss':
      return `RSA-${k.bits}`;
    case 'ec':
      return `EC ${curveByName(k.curve)?.nist ?? k.curve}`;
    case 'ed25519':
      return 'Ed25519';
    case 'ed448':
      return 'Ed448';
  }
}

/** Why the CA does not certify a key of this type, or undefined: RSA 2048–16384, EC P-256/384/521, Ed25519, Ed448. */
export function keyTypeProblem(k: KeyType): string | undefined {
  if ((k.kind === 'rsa' || k.kind === 'rsa-pss') && (k.bits < RSA_CERTIFIED_BITS.min || k.bits > RSA_CERTIFIED_BITS.max)) {
    return `RSA key size ${k.bits} not allowed (${RSA_CERTIFIED_BITS.min} to ${RSA_CERTIFIED_BITS.max} bits)`;
  }
  if (k.kind === 'ec' && !SUPPORTED_CURVES.some((c) => c.name === k.curve)) return `EC curve ${k.curve} not allowed (${CURVE_LIST})`;
  return undefined;
}
