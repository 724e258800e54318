// Signature algorithm identifiers <-> Node crypto parameters (RFC 4055, RFC 5758, RFC 8410).
import { constants, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { Oid } from './constants.js';
import { children, DerError, nullValue, oid, readOid, readSmallInt, seq, type Tlv } from './der.js';
import { curveByName, SUPPORTED_CURVES } from './key-types.js';

/** How to call `crypto.verify`/`crypto.sign` for one AlgorithmIdentifier. */
export interface SignatureParams {
  /** Digest name for Node, or null for Ed25519/Ed448. */
  hash: string | null;
  padding?: number;
  saltLength?: number;
  dsaEncoding?: 'der';
}

const HASH_BY_OID: Record<string, string> = {
  [Oid.sha1]: 'sha1',
  [Oid.sha256]: 'sha256',
  [Oid.sha384]: 'sha384',
  [Oid.sha512]: 'sha512',
};

const SIMPLE: Record<string, SignatureParams> = {
  [Oid.sha1WithRSAEncryption]: { hash: 'sha1' },
  [Oid.sha256WithRSAEncryption]: { hash: 'sha256' },
  [Oid.sha384WithRSAEncryption]: { hash: 'sha384' },
  [Oid.sha512WithRSAEncryption]: { hash: 'sha512' },
  [Oid.ecdsaWithSHA1]: { hash: 'sha1', dsaEncoding: 'der' },
  [Oid.ecdsaWithSHA256]: { hash: 'sha256', dsaEncoding: 'der' },
  [Oid.ecdsaWithSHA384]: { hash: 'sha384', dsaEncoding: 'der' },
  [Oid.ecdsaWithSHA512]: { hash: 'sha512', dsaEncoding: 'der' },
  [Oid.ed25519]: { hash: null },
  [Oid.ed448]: { hash: null },
};

function hashOfAlgId(t: Tlv): string {
  const h = HASH_BY_OID[readOid(children(t)[0]!)];
  if (!h) throw new DerError('unsupported hash algorithm');
  return h;
}

/** Maps a signature AlgorithmIdentifier to Node parameters; throws DerError when unsupported. */
export function signatureParams(algId: Tlv): SignatureParams {
  const [algOid, params] = children(algId);
  if (!algOid) throw new DerError('empty AlgorithmIdentifier');
  const id = readOid(algOid);
  const simple = SIMPLE[id];
  if (simple) return simple;
  if (id !== Oid.rsassaPss) throw new DerError(`unsupported signature algorithm ${id}`);
  // RSASSA-PSS-params (RFC 4055 §3.1): hash [0], mgf [1], saltLength [2], trailer [3]; defaults SHA-1/20.
  let hash = 'sha1';
  let mgfHash = 'sha1';
  let saltLength = 20;
  for (const field of params ? children(params) : []) {
    const inner = children(field)[0]!;
    switch (field.tag) {
      case 0xa0:
        hash = hashOfAlgId(inner);
        break;
      case 0xa1: {
        const [mgfOid, mgfParams] = children(inner);
        if (!mgfOid || readOid(mgfOid) !== Oid.mgf1 || !mgfParams) throw new DerError('unsupported PSS mask generation');
        mgfHash = hashOfAlgId(mgfParams);
        break;
      }
      case 0xa2:
        saltLength = readSmallInt(inner);
        break;
      case 0xa3:
        if (readSmallInt(inner) !== 1) throw new DerError('unsupported PSS trailer field');
        break;
      default:
        throw new DerError('bad RSASSA-PSS parameters');
    }
  }
  if (mgfHash !== hash) throw new DerError('PSS with an MGF1 hash different from the message hash is not supported');
  return { hash, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength };
}

/** Verifies a signature on Node's thread pool. Resolves false on a bad signature or key mismatch. */
export function verifySignature(
  params: SignatureParams,
  data: Uint8Array,
  key: KeyObject,
  signature: Uint8Array,
): Promise<boolean> {
  const keyInput = { key, ...(params.padding !== undefined ? { padding: params.padding, saltLength: params.saltLength! } : {}), ...(params.dsaEncoding ? { dsaEncoding: params.dsaEncoding } : {}) };
  return new Promise((resolve) => {
    try {
      cryptoVerify(params.hash, data, keyInput, signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}

/** The algorithm a CA key signs with, and its DER AlgorithmIdentifier. */
export interface SigningAlgorithm {
  params: SignatureParams;
  algorithmIdentifier: Uint8Array;
}

/**
 * Picks the signature algorithm for a CA private key: SHA-256 for RSA and P-256, SHA-384 for
 * P-384, SHA-512 for P-521, pure EdDSA for Ed25519/Ed448 (RFC 5758 §3.2, RFC 8410 §3).
 */
export function signingAlgorithmFor(key: KeyObject): SigningAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    return { params: { hash: 'sha256' }, algorithmIdentifier: seq(oid(Oid.sha256WithRSAEncryption), nullValue()) };
  }
  if (type === 'ec') {
    // Any other curve signs as P-256 does (SHA-256).
    const curve = curveByName(key.asymmetricKeyDetails?.namedCurve ?? '') ?? SUPPORTED_CURVES[0]!;
    return { params: { hash: curve.hash, dsaEncoding: 'der' }, algorithmIdentifier: seq(oid(curve.ecdsaOid)) };
  }
  if (type === 'ed25519') return { params: { hash: null }, algorithmIdentifier: seq(oid(Oid.ed25519)) };
  if (type === 'ed448') return { params: { hash: null }, algorithmIdentifier: seq(oid(Oid.ed448)) };
  throw new TypeError(`unsupported CA key type ${type}`);
}

/** Signs on Node's thread pool. */
export function signData(params: SignatureParams, data: Uint8Array, key: KeyObject): Promise<Uint8Array> {
  const keyInput = { key, ...(params.dsaEncoding ? { dsaEncoding: params.dsaEncoding } : {}) };
  return new Promise((resolve, reject) => {
    cryptoSign(params.hash, data, keyInput, (err, sig) => (err ? reject(err) : resolve(new Uint8Array(sig))));
  });
}
