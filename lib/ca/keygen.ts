// Server-side key generation for /serverkeygen, following the key type of the client's CSR.
import { generateKeyPair } from 'node:crypto';
import { estError } from '../errors.js';
import { PoolTurns } from './pool-turns.js';
import { curveByName, CURVE_LIST, describeKeyType, keyTypeProblem, type KeyType } from '../protocol/key-types.js';
import type { EnrollRequest, MaybePromise } from './types.js';

/** A generated key pair: private key as DER PKCS#8 (RFC 5958), public key as DER SPKI. */
export interface GeneratedKey {
  privateKeyPkcs8: Uint8Array;
  spkiDer: Uint8Array;
}

/** RSA modulus size for a requested size: clamped to 2048–4096, rounded up to 2048/3072/4096. */
export function rsaBitsFor(requested: number): number {
  const clamped = Math.min(4096, Math.max(2048, Number.isFinite(requested) ? requested : 2048));
  return Math.ceil(clamped / 1024) * 1024;
}

const DER = {
  publicKeyEncoding: { type: 'spki', format: 'der' },
  privateKeyEncoding: { type: 'pkcs8', format: 'der' },
} as const;

/**
 * RSA key pairs generated at once, per process. One takes 0.1–1.5 s of a libuv pool thread (4096
 * bits); further RSA requests wait for their turn, so the record store's fsyncs keep the other threads.
 */
const rsaTurns = new PoolTurns({ atOnce: 2 });

function done(resolve: (k: GeneratedKey) => void, reject: (e: Error) => void) {
  return (err: Error | null, publicKey: Buffer, privateKey: Buffer) =>
    err ? reject(err) : resolve({ privateKeyPkcs8: new Uint8Array(privateKey), spkiDer: new Uint8Array(publicKey) });
}

/**
 * Generates a key pair like the CSR's key (RFC 7030 §4.4: the server generates the key; its type
 * is ours to choose, we follow the client's). RSA sizes are clamped to 2048–4096 (see
 * {@link rsaBitsFor}), RSA-PSS keys become plain RSA keys, EC keys use the same curve (P-256,
 * P-384 or P-521 only), Ed25519 and Ed448 stay as they are. Runs on Node's thread pool (RSA:
 * two at a time, see rsaTurns).
 *
 * Throws `EstBadRequestError` (`ERR_EST_CSR_KEY`) for a curve outside that list.
 * @see RFC 7030 §4.4.2
 */
export function generateKeyLike(keyType: KeyType): Promise<GeneratedKey> {
  return new Promise<GeneratedKey>((resolve, reject) => {
    const cb = done(resolve, reject);
    switch (keyType.kind) {
      case 'rsa':
      case 'rsa-pss':
        rsaTurns
          .run(() => new Promise<GeneratedKey>((ok, fail) => generateKeyPair('rsa', { modulusLength: rsaBitsFor(keyType.bits), publicExponent: 0x10001, ...DER }, done(ok, fail))))
          .then(resolve, reject);
        return;
      case 'ec': {
        const namedCurve = curveByName(keyType.curve)?.name;
        if (!namedCurve) {
          reject(estError('ERR_EST_CSR_KEY', `cannot generate an EC key on curve ${keyType.curve} (${CURVE_LIST} are supported)`));
          return;
        }
        generateKeyPair('ec', { namedCurve, ...DER }, cb);
        return;
      }
      case 'ed25519':
        generateKeyPair('ed25519', DER, cb);
        return;
      case 'ed448':
        generateKeyPair('ed448', DER, cb);
        return;
      default:
        reject(estError('ERR_EST_CSR_KEY', `cannot generate a key of type ${(keyType as { kind: string }).kind}`));
    }
  });
}

/** What /serverkeygen returns: the new private key and its certificate. */
export interface ServerKeygenResult {
  privateKeyPkcs8: Uint8Array;
  certificate: Uint8Array;
}

/**
 * Server-side key generation for a CA that can enroll: a new key like the CSR's (an unreadable CSR
 * key falls back to EC P-256), certified by `enroll` (RFC 7030 §4.4: the CSR's own key is ignored).
 */
export async function keygenAndEnroll(
  enroll: (request: EnrollRequest) => MaybePromise<Uint8Array>,
  request: EnrollRequest,
): Promise<ServerKeygenResult> {
  const wanted: KeyType = request.csr.keyType ?? { kind: 'ec', curve: 'prime256v1' };
  if (keyTypeProblem(wanted)) throw estError('ERR_EST_CSR_KEY', `cannot generate a key like the CSR's (${describeKeyType(wanted)})`);
  const key = await generateKeyLike(wanted);
  const certificate = await enroll({ ...request, spkiDer: key.spkiDer });
  return { privateKeyPkcs8: key.privateKeyPkcs8, certificate };
}
