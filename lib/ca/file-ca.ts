// The built-in CA: a CA certificate and private key loaded once, the allow-list profile, a serial store.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { signingAlgorithmFor, type SigningAlgorithm } from '../protocol/algorithms.js';
import { signOffLoop } from '../protocol/crypto-pool.js';
import { Oid } from '../protocol/constants.js';
import { bitString, content, readWhole, seq, Tag } from '../protocol/der.js';
import { findExtension, isCaBasicConstraints, parseCertificate, type CertificateParts } from '../protocol/x509.js';
import { buildTbsCertificate, createIssuerProfile, subjectKeyOfCsr, type IssuerProfile, type SubjectInput } from './profile.js';
import { keygenAndEnroll, type ServerKeygenResult } from './keygen.js';
import type { CertificateAuthority, EnrollRequest, SerialStore } from './types.js';
import { serialText } from './serial-file-store.js';

/** The logger the file CA reports CSR extensions its profile ignored to (pino-compatible). */
export interface FileCaLogger {
  info(obj: object, msg?: string): void;
}

/** Material and policy for {@link FileCertificateAuthority}, all already loaded. */
export interface FileCertificateAuthorityOptions {
  /** DER of the CA certificate that signs (est_ca_root_certificate). */
  certificate: Uint8Array;
  /** DER certificates /cacerts returns (est_root_certificate, or the CA certificate). */
  chain: Uint8Array[];
  /** The CA's private key (est_ca_private_key): RSA, EC P-256/384/521, Ed25519 or Ed448. */
  privateKey: KeyObject;
  /** Where serial numbers come from (est_ca_serial_number, or random). */
  serialStore: SerialStore;
  /** Lifetime of issued certificates in days (est_ca_validity_days); clamped to the CA's own notAfter. */
  validityDays: number;
  /**
   * Grant id-kp-serverAuth to CSRs that request it.
   * @default false
   */
  allowServerAuth?: boolean;
  /** Receives an `info` line for each issuance whose CSR asked for extensions the profile ignored. @default silent */
  logger?: FileCaLogger;
}

function publicSpki(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

/** KeyUsage keyCertSign (bit 5) in a DER keyUsage value. */
function allowsCertSign(kuValue: Uint8Array): boolean {
  const c = content(readWhole(kuValue, Tag.bitString, 'keyUsage'));
  return c.length >= 2 && (c[1]! & 0x04) !== 0;
}

/** Which half of the CA material a problem is about: the certificate or the private key. */
export type CaMaterialPart = 'certificate' | 'key';

/** Why a CA certificate and key cannot issue, and which of the two is at fault. */
export interface CaMaterialProblem {
  part: CaMaterialPart;
  reason: string;
}

/** Thrown by the {@link FileCertificateAuthority} constructor; `part` says which input is at fault. */
export class CaMaterialError extends TypeError {
  readonly part: CaMaterialPart;
  constructor(problem: CaMaterialProblem) {
    super(problem.reason);
    this.name = 'CaMaterialError';
    this.part = problem.part;
  }
}

function certificateProblem(cert: CertificateParts, now: Date): string | undefined {
  const bc = findExtension(cert.extensions, Oid.basicConstraints);
  let isCa = false;
  try {
    isCa = bc !== undefined && isCaBasicConstraints(bc.value);
  } catch {
    isCa = false;
  }
  if (!isCa) return 'the certificate is not a CA certificate (it lacks basicConstraints cA=TRUE, RFC 5280 §4.2.1.9)';
  const ku = findExtension(cert.extensions, Oid.keyUsage);
  if (ku) {
    let ok = false;
    try {
      ok = allowsCertSign(ku.value);
    } catch {
      ok = false;
    }
    if (!ok) return 'the CA certificate does not permit certificate signing (its usage extension lacks the certificate-signing bit, RFC 5280 §4.2.1.3)';
  }
  if (now.getTime() >= cert.notAfter.getTime()) return `the CA certificate expired on ${cert.notAfter.toISOString()}`;
  return undefined;
}

function keyProblem(cert: CertificateParts, key: KeyObject): CaMaterialProblem | undefined {
  if (key.type !== 'private') return { part: 'key', reason: `the CA key must be a private key (got a ${key.type} key)` };
  try {
    signingAlgorithmFor(key);
  } catch {
    return { part: 'key', reason: `the CA private key type ${key.asymmetricKeyType} is not supported (use RSA, EC P-256/P-384/P-521, Ed25519 or Ed448)` };
  }
  let certSpki: Buffer;
  try {
    certSpki = createPublicKey({ key: Buffer.from(cert.spkiDer), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });
  } catch (e) {
    return { part: 'certificate', reason: `the CA certificate's algorithm is not supported by Node (${(e as Error).message})` };
  }
  if (!publicSpki(key).equals(certSpki)) return { part: 'key', reason: "the CA private key does not match the CA certificate's public key" };
  return undefined;
}

/**
 * Checks that a CA certificate and private key can issue certificates. Returns the problem and
 * which of the two it is about, or undefined.
 *
 * - the certificate parses and is a CA: basicConstraints cA=TRUE (RFC 5280 §4.2.1.9) and, when a
 *   keyUsage is present, certificate signing allowed (RFC 5280 §4.2.1.3);
 * - it has not expired (`now` defaults to the current time);
 * - the key is a private key of a supported type whose public half is the certificate's.
 */
export function findCaMaterialProblem(certDer: Uint8Array, key: KeyObject, now: Date = new Date()): CaMaterialProblem | undefined {
  let cert: CertificateParts;
  try {
    cert = parseCertificate(certDer);
  } catch (e) {
    return { part: 'certificate', reason: `the CA certificate cannot be parsed (${(e as Error).message})` };
  }
  const reason = certificateProblem(cert, now);
  return reason ? { part: 'certificate', reason } : keyProblem(cert, key);
}

/** {@link findCaMaterialProblem}'s reason alone: a one-line string, or undefined. */
export function checkCaMaterial(certDer: Uint8Array, key: KeyObject, now: Date = new Date()): string | undefined {
  return findCaMaterialProblem(certDer, key, now)?.reason;
}

/**
 * A {@link CertificateAuthority} that signs with a CA key held in memory. The CA certificate is
 * parsed and everything constant about issued certificates is encoded once in the constructor;
 * per request it takes a serial, builds the TBSCertificate from the profile (see
 * `buildTbsCertificate`) and signs on Node's thread pool.
 *
 * @see RFC 7030 §3.3.1 (issued certificates follow RFC 5280)
 */
export class FileCertificateAuthority implements CertificateAuthority {
  private readonly chain: Uint8Array[];
  private readonly privateKey: KeyObject;
  private readonly serialStore: SerialStore;
  private readonly algorithm: SigningAlgorithm;
  private readonly profile: IssuerProfile;
  private readonly logger: FileCaLogger | undefined;

  /** Throws {@link CaMaterialError} (a TypeError) when the certificate and key cannot issue. */
  constructor(options: FileCertificateAuthorityOptions) {
    const problem = findCaMaterialProblem(options.certificate, options.privateKey);
    if (problem) throw new CaMaterialError(problem);
    this.chain = options.chain.length ? [...options.chain] : [options.certificate];
    this.privateKey = options.privateKey;
    this.serialStore = options.serialStore;
    this.algorithm = signingAlgorithmFor(options.privateKey);
    this.profile = createIssuerProfile({
      caCertificate: options.certificate,
      signatureAlgorithm: this.algorithm.algorithmIdentifier,
      validityDays: options.validityDays,
      allowServerAuth: options.allowServerAuth ?? false,
    });
    this.logger = options.logger;
  }

  /** The configured /cacerts certificates. @see RFC 7030 §4.1.3 */
  cacerts(): Uint8Array[] {
    return this.chain;
  }

  /** /serverkeygen: a new key like the CSR's, certified by {@link enroll} (RFC 7030 §4.4). */
  serverkeygen(request: EnrollRequest): Promise<ServerKeygenResult> {
    return keygenAndEnroll((r) => this.enroll(r), request);
  }

  /** Closes the serial store (its lock and file). */
  async close(): Promise<void> {
    await this.serialStore.close?.();
  }

  /** Issues a certificate for `request.spkiDer` under the profile; returns its DER. */
  async enroll(request: EnrollRequest): Promise<Uint8Array> {
    const [serial] = await this.serialStore.next(1);
    if (serial === undefined) throw new Error('serial store returned no serial');
    const subject: SubjectInput = {
      serial,
      subjectDer: request.csr.subjectDer,
      spkiDer: request.spkiDer,
      requestedExtensions: request.csr.extensions,
    };
    const key = subjectKeyOfCsr(request.csr, request.spkiDer);
    if (key) subject.key = key;
    const { tbsDer, notAfter, ignored } = buildTbsCertificate(this.profile, subject);
    const signature = await signOffLoop(this.algorithm.params, tbsDer, this.privateKey);
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING } (RFC 5280 §4.1)
    const der = seq(tbsDer, this.algorithm.algorithmIdentifier, bitString(signature));
    // The request's own log line carries the serial; here only what the profile dropped from the CSR.
    if (ignored.length) this.logger?.info(
      {
        serial: serialText(serial),
        subject: request.csr.subject,
        label: request.label ?? null,
        operation: request.operation,
        authenticatedBy: request.authenticatedBy,
        peerAddress: request.peerAddress,
        notAfter: notAfter.toISOString(),
        ignoredExtensions: ignored,
      },
      'CSR extensions ignored by the certificate profile',
    );
    return der;
  }
}
