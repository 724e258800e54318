// The CertificateAuthority interface the middleware talks to, and what it hands the CA.
import type { X509Certificate } from 'node:crypto';
import type { ParsedCsr } from '../protocol/pkcs10.js';

/** Largest serial number allowed: positive and at most 20 DER content octets (RFC 5280 §4.1.2.2). */
export const MAX_SERIAL = (1n << 159n) - 1n;

/** The EST operations that issue certificates. */
export type IssuingOperation = 'simpleenroll' | 'simplereenroll' | 'serverkeygen' | 'fullcmc';

/** How the client was authenticated for this request. */
export type AuthMethod = 'certificate' | 'auth-request' | 'none';

/** Everything the CA may base a decision on. */
export interface EnrollRequest {
  operation: IssuingOperation;
  /** The CA label from the path (`/.well-known/est/<label>/...`), if any. */
  label?: string;
  /** The parsed, already checked request. */
  csr: ParsedCsr;
  /**
   * DER SubjectPublicKeyInfo to certify. Equals `csr.spkiDer` except for /serverkeygen, where it is
   * the server-generated key (RFC 7030 §4.4.1: the CSR's own key is ignored).
   */
  spkiDer: Uint8Array;
  /** The verified TLS client certificate, when there is one. */
  clientCertificate?: X509Certificate;
  authenticatedBy: AuthMethod;
  /** The client's address (the original client when behind a trusted proxy). */
  peerAddress: string;
  /** RFC 7894 otpChallenge from the CSR, passed on for the authorization decision. */
  otpChallenge?: string;
}

/** A value or a promise of one: CA methods may be synchronous or asynchronous. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * A certificate authority behind the EST server. Every method may return a Promise. To answer
 * 202 (manual approval), throw `EstRetryLaterError(seconds)`; to refuse, throw `EstPolicyError`
 * (or any `EstError` with the status you want).
 *
 * @see RFC 7030 §4.2.3 (202 + Retry-After)
 */
export interface CertificateAuthority {
  /** DER certificates served by /cacerts: the trust anchor and every certificate of the chain. */
  cacerts(label?: string): MaybePromise<Uint8Array[]>;
  /** Issues a certificate; returns its DER. */
  enroll(request: EnrollRequest): MaybePromise<Uint8Array>;
  /** Re-enrollment; when absent, `enroll` is used for /simplereenroll too. */
  reenroll?(request: EnrollRequest): MaybePromise<Uint8Array>;
  /**
   * Server-side key generation. When absent, a key following the CSR's key type is generated
   * (see `keygenAndEnroll` in ca/keygen.ts) and `enroll` is called with the new SPKI.
   */
  serverkeygen?(request: EnrollRequest): MaybePromise<{ privateKeyPkcs8: Uint8Array; certificate: Uint8Array }>;
  /** DER CsrAttrs for /csrattrs; undefined for none (204). When absent, the `csrAttrs` option applies. */
  csrattrs?(label?: string): MaybePromise<Uint8Array | undefined>;
  /**
   * Releases what the CA holds (its serial store's lock and file). `est()`'s `close()` calls it for
   * the CA that est() built itself; a custom CA passed as `ca` is closed by its owner.
   */
  close?(): MaybePromise<void>;
}

/**
 * Where the file CA takes serial numbers from. `next(count)` reserves `count` consecutive-or-random
 * serials at once (group commit) and never hands the same one out twice, across processes too.
 */
export interface SerialStore {
  next(count: number): Promise<bigint[]>;
  close?(): Promise<void>;
}
