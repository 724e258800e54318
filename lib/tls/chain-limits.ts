// Bounds on a TLS client's certificate chain, checked before any signature is verified (cost stays small and fixed).
import type { X509Certificate } from 'node:crypto';
import { Oid } from '../protocol/constants.js';
import { children, content, readOid, readWhole, Tag } from '../protocol/der.js';
import { parseCertificate } from '../protocol/x509.js';

/** Most certificates a client chain may hold, leaf included (path validation goes 8 deep at most). */
export const MAX_CLIENT_CHAIN_CERTS = 8;
/** Most DER bytes a client chain may hold, all certificates together. */
export const MAX_CLIENT_CHAIN_BYTES = 32 * 1024;
/** Largest RSA modulus, in bits, of a key in a client chain (each is a candidate issuer: its size is verification cost). */
export const MAX_CHAIN_RSA_BITS = 4096;
/** Largest RSA public exponent, in bits (OpenSSL's own bound for moduli above 3072 bits; RFC 8017 allows any). */
export const MAX_CHAIN_RSA_EXPONENT_BITS = 64;

/** Why a key in the chain is refused, or undefined. Reads the SPKI with the strict DER reader only. */
function keyProblem(spkiDer: Uint8Array, what: string): string | undefined {
  const [alg, bits] = children(readWhole(spkiDer, Tag.sequence, 'SubjectPublicKeyInfo'));
  const algOid = readOid(children(alg!)[0]!);
  if (algOid === Oid.ecPublicKey || algOid === Oid.ed25519 || algOid === Oid.ed448) return undefined;
  if (algOid !== Oid.rsaEncryption && algOid !== Oid.rsassaPss) return `key algorithm ${algOid} is not accepted in ${what}`;
  const key = content(bits!).subarray(1);
  const [n, e] = children(readWhole(key, Tag.sequence, 'RSAPublicKey'));
  const strip = (c: Uint8Array) => (c[0] === 0 ? c.subarray(1) : c);
  const nBytes = strip(content(n!));
  const eBytes = strip(content(e!));
  if (nBytes.length * 8 > MAX_CHAIN_RSA_BITS) return `an RSA key in ${what} is larger than ${MAX_CHAIN_RSA_BITS} bits`;
  if (eBytes.length * 8 > MAX_CHAIN_RSA_EXPONENT_BITS) return `an RSA key in ${what} has a public exponent longer than ${MAX_CHAIN_RSA_EXPONENT_BITS} bits`;
  return undefined;
}

/**
 * Why a presented client chain (leaf first) is refused before path validation, or undefined:
 * more than {@link MAX_CLIENT_CHAIN_CERTS} certificates, more than {@link MAX_CLIENT_CHAIN_BYTES}
 * bytes, or a key whose verification would be expensive (RSA above {@link MAX_CHAIN_RSA_BITS}
 * bits or with an exponent above {@link MAX_CHAIN_RSA_EXPONENT_BITS} bits). A refused chain leaves
 * the client unauthenticated.
 */
export function chainLimitProblem(chain: readonly X509Certificate[], what = 'the client certificate chain'): string | undefined {
  if (chain.length > MAX_CLIENT_CHAIN_CERTS) return `${what} has more than ${MAX_CLIENT_CHAIN_CERTS} certificates`;
  let bytes = 0;
  for (const c of chain) bytes += c.raw.length;
  if (bytes > MAX_CLIENT_CHAIN_BYTES) return `${what} is larger than ${MAX_CLIENT_CHAIN_BYTES} bytes`;
  for (const c of chain) {
    try {
      const problem = keyProblem(parseCertificate(new Uint8Array(c.raw.buffer, c.raw.byteOffset, c.raw.byteLength)).spkiDer, what);
      if (problem) return problem;
    } catch (e) {
      return `unreadable certificate in ${what}: ${(e as Error).message}`;
    }
  }
  return undefined;
}
