// The certificate profile of the file CA: an allow-list that builds the TBSCertificate (RFC 5280 §4.1).
// Written with der.ts, not pkijs: it runs on every issuance, and copies requested extensions as bytes.
import { createHash, type KeyObject } from 'node:crypto';
import { estError } from '../errors.js';
import { Oid } from '../protocol/constants.js';
import {
  children,
  content,
  DerError,
  explicit,
  expectChildren,
  integer,
  octetString,
  oid,
  readBitStringBytes,
  readOid,
  readWhole,
  seq,
  bitString,
  Tag,
  time,
  tlv,
  bool,
} from '../protocol/der.js';
import type { SigningAlgorithm } from '../protocol/algorithms.js';
import { signOffLoop } from '../protocol/crypto-pool.js';
import type { CsrExtension, ParsedCsr } from '../protocol/pkcs10.js';
import { findExtension, parseCertificate, type CertificateParts } from '../protocol/x509.js';
import { MAX_SERIAL } from './types.js';

export { MAX_SERIAL };


/** How far notBefore is set back from "now", for clients whose clocks run a little behind. */
export const BACKDATE_MS = 5 * 60 * 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The issuer side of the profile: everything that is the same for every certificate one CA
 * issues, DER-encoded once by {@link createIssuerProfile}.
 */
export interface IssuerProfile {
  /** `[0] EXPLICIT INTEGER 2` (v3). */
  readonly versionDer: Uint8Array;
  /** The signature AlgorithmIdentifier, placed in the TBSCertificate. */
  readonly signatureAlgorithmDer: Uint8Array;
  /** The CA certificate's subject Name, byte for byte (RFC 5280 §4.1.2.4). */
  readonly issuerDer: Uint8Array;
  /** The CA's key identifier (its SKI), which becomes every issued certificate's AKI. */
  readonly issuerKeyId: Uint8Array;
  /** Pre-encoded Extension: authorityKeyIdentifier. */
  readonly akiExtensionDer: Uint8Array;
  /** Pre-encoded Extension: basicConstraints cA=FALSE, critical. */
  readonly basicConstraintsDer: Uint8Array;
  readonly caNotBefore: Date;
  readonly caNotAfter: Date;
  readonly validityDays: number;
  readonly allowServerAuth: boolean;
}

/** What {@link createIssuerProfile} needs. */
export interface IssuerProfileOptions {
  /** The CA certificate: DER, or already parsed. */
  caCertificate: Uint8Array | CertificateParts;
  /** DER AlgorithmIdentifier the CA signs with (`signingAlgorithmFor(key).algorithmIdentifier`). */
  signatureAlgorithm: Uint8Array;
  /** Lifetime of issued certificates in days (est_ca_validity_days). */
  validityDays: number;
  /**
   * Whether a CSR that requests id-kp-serverAuth gets it.
   * @default false
   */
  allowServerAuth?: boolean;
}

/** The subject side: what changes per certificate. */
export interface SubjectInput {
  /** Positive, at most 20 octets (RFC 5280 §4.1.2.2). */
  serial: bigint;
  /** DER subject Name, copied from the CSR. */
  subjectDer: Uint8Array;
  /** DER SubjectPublicKeyInfo to certify. */
  spkiDer: Uint8Array;
  /**
   * The key in `spkiDer` as already parsed (see {@link subjectKeyOfCsr}); when absent the profile
   * reads `spkiDer` itself.
   */
  key?: SubjectKey;
  /** Extensions the CSR requested (extensionRequest); only SAN, keyAgreement and serverAuth are honoured. */
  requestedExtensions: readonly CsrExtension[];
}

/** The TBSCertificate and what the profile did with the request. */
export interface TbsResult {
  tbsDer: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** OIDs of requested extensions (or EKU purposes) that the profile did not grant, for the log. */
  ignored: string[];
}

/** The kind of subject key, read from its SubjectPublicKeyInfo. */
export type SubjectKeyKind = 'rsa' | 'rsa-pss' | 'ec' | 'eddsa';

/** What the profile needs of the subject key: its kind and the subjectPublicKey bits. */
export interface SubjectKey {
  kind: SubjectKeyKind;
  publicKey: Uint8Array;
}

/**
 * The CSR's key as the PKCS#10 parse already read it, when `spkiDer` is the CSR's own key
 * (not a server-generated one) and the key was accepted; else undefined.
 */
export function subjectKeyOfCsr(csr: ParsedCsr, spkiDer: Uint8Array): SubjectKey | undefined {
  if (spkiDer !== csr.spkiDer || !csr.keyType) return undefined;
  const k = csr.keyType.kind;
  return { kind: k === 'ed25519' || k === 'ed448' ? 'eddsa' : k, publicKey: csr.subjectPublicKey };
}

/** Parses an SPKI far enough for the profile: its key kind and the subjectPublicKey bits. */
export function readSpki(spkiDer: Uint8Array): SubjectKey {
  let algOid: string;
  let publicKey: Uint8Array;
  try {
    const [alg, bits] = expectChildren(readWhole(spkiDer, Tag.sequence, 'SubjectPublicKeyInfo'), Tag.sequence, 'SubjectPublicKeyInfo');
    if (!alg || !bits) throw new DerError('bad SubjectPublicKeyInfo');
    algOid = readOid(expectChildren(alg, Tag.sequence, 'key algorithm')[0]!);
    publicKey = readBitStringBytes(bits);
  } catch (e) {
    throw estError('ERR_EST_CSR_KEY', `malformed public key: ${(e as Error).message}`, { cause: e });
  }
  switch (algOid) {
    case Oid.rsaEncryption:
      return { kind: 'rsa', publicKey };
    case Oid.rsassaPss:
      return { kind: 'rsa-pss', publicKey };
    case Oid.ecPublicKey:
      return { kind: 'ec', publicKey };
    case Oid.ed25519:
    case Oid.ed448:
      return { kind: 'eddsa', publicKey };
    default:
      throw estError('ERR_EST_CSR_KEY', `unsupported public key algorithm ${algOid}`);
  }
}

/**
 * Key identifier by RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING
 * value (without tag, length and unused-bits octet).
 */
export function keyIdentifier(spkiDer: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha1').update(readSpki(spkiDer).publicKey).digest());
}

/** One Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
export function extension(extnId: string, critical: boolean, value: Uint8Array): Uint8Array {
  // DER: a DEFAULT value is omitted (X.690 §11.5), so critical appears only when TRUE.
  return critical ? seq(oid(extnId), bool(true), octetString(value)) : seq(oid(extnId), octetString(value));
}

/** KeyUsage bits (RFC 5280 §4.2.1.3), as the first octet of the named BIT STRING. */
const KU_DIGITAL_SIGNATURE = 0x80;
const KU_KEY_ENCIPHERMENT = 0x20;
const KU_KEY_AGREEMENT = 0x08;
const KU_KEY_CERT_SIGN = 0x04;
const KU_CRL_SIGN = 0x02;

/** DER of a one-octet named-bit BIT STRING: trailing zero bits dropped (X.690 §11.2.2). */
function namedBits(octet: number): Uint8Array {
  let unused = 0;
  while (unused < 7 && !(octet & (1 << unused))) unused++;
  return tlv(Tag.bitString, Uint8Array.of(unused, octet));
}

/** Whether a requested keyUsage asks for keyAgreement (bit 4). Malformed values are ignored. */
function requestsKeyAgreement(ext: CsrExtension | undefined): boolean {
  if (!ext) return false;
  try {
    const t = readWhole(ext.value, Tag.bitString, 'keyUsage');
    const c = content(t);
    return c.length >= 2 && (c[1]! & KU_KEY_AGREEMENT) !== 0;
  } catch {
    return false;
  }
}

/** The purposes a requested extKeyUsage lists. Malformed values count as none. */
function requestedPurposes(ext: CsrExtension | undefined): string[] {
  if (!ext) return [];
  try {
    return children(readWhole(ext.value, Tag.sequence, 'extKeyUsage')).map(readOid);
  } catch {
    return [];
  }
}

/**
 * Encodes everything constant for one CA: version, algorithm, issuer name, AKI and
 * basicConstraints. Call once at start-up.
 */
export function createIssuerProfile(options: IssuerProfileOptions): IssuerProfile {
  const ca = options.caCertificate instanceof Uint8Array ? parseCertificate(options.caCertificate) : options.caCertificate;
  const validityDays = options.validityDays;
  if (!Number.isFinite(validityDays) || validityDays <= 0) throw new RangeError(`validityDays must be a positive number (got ${validityDays})`);
  // AKI keyIdentifier = the CA's own SKI when it has one, else computed the same way (RFC 5280 §4.2.1.1).
  const skiExt = findExtension(ca.extensions, Oid.subjectKeyIdentifier);
  const issuerKeyId = skiExt ? content(readWhole(skiExt.value, Tag.octetString, 'subjectKeyIdentifier')) : keyIdentifier(ca.spkiDer);
  // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING, ... }
  const aki = seq(tlv(0x80, issuerKeyId));
  return Object.freeze({
    versionDer: explicit(0, integer(2)),
    signatureAlgorithmDer: options.signatureAlgorithm,
    issuerDer: ca.subjectDer,
    issuerKeyId,
    akiExtensionDer: extension(Oid.authorityKeyIdentifier, false, aki),
    // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, ... }: cA=FALSE is the empty SEQUENCE (RFC 5280 §4.2.1.9).
    basicConstraintsDer: extension(Oid.basicConstraints, true, seq()),
    caNotBefore: ca.notBefore,
    caNotAfter: ca.notAfter,
    validityDays,
    allowServerAuth: options.allowServerAuth ?? false,
  });
}

const EMPTY_NAME = Uint8Array.of(0x30, 0x00);

function isEmptyName(der: Uint8Array): boolean {
  return der.length === 2 && der[0] === EMPTY_NAME[0] && der[1] === 0;
}

/**
 * Builds the DER TBSCertificate for one certificate. The CSR is a wish list, never the profile:
 *
 * - subject: the CSR's, byte for byte; subjectPublicKeyInfo: `spkiDer`.
 * - basicConstraints cA=FALSE, critical — a requested cA=TRUE is never granted (RFC 5280 §4.2.1.9).
 * - keyUsage, critical: digitalSignature; + keyEncipherment for RSA keys; + keyAgreement for EC
 *   keys when the CSR asked for it. Never keyCertSign or cRLSign (RFC 5280 §4.2.1.3).
 * - extKeyUsage: clientAuth; + serverAuth when requested and `allowServerAuth`. Nothing else.
 * - subjectAltName: copied verbatim from the CSR; critical only when the subject is empty
 *   (RFC 5280 §4.2.1.6). An empty subject without SAN is refused (RFC 5280 §4.1.2.6).
 * - subjectKeyIdentifier (method 1) and authorityKeyIdentifier (the CA's SKI).
 * - Every other requested extension (nameConstraints, policies, …) is dropped and reported in `ignored`.
 * - Validity: now − 5 min … now + validityDays, clamped to the CA's own validity.
 *
 * ```
 * TBSCertificate ::= SEQUENCE { version [0] EXPLICIT v3, serialNumber, signature, issuer,
 *   validity SEQUENCE { notBefore Time, notAfter Time }, subject, subjectPublicKeyInfo,
 *   extensions [3] EXPLICIT SEQUENCE OF Extension }
 * ```
 */
export function buildTbsCertificate(issuer: IssuerProfile, input: SubjectInput, now: Date = new Date()): TbsResult {
  const { serial, subjectDer, spkiDer, requestedExtensions } = input;
  // RFC 5280 §4.1.2.2: positive, at most 20 octets.
  if (serial <= 0n || serial > MAX_SERIAL) throw estError('ERR_EST_SERIAL', `serial number out of range (must be 1..2^159-1)`);

  // Validity (RFC 5280 §4.1.2.5), whole seconds; der.time picks UTCTime/GeneralizedTime by year.
  const nowMs = Math.floor(now.getTime() / 1000) * 1000;
  if (nowMs >= issuer.caNotAfter.getTime()) {
    throw estError('ERR_EST_CA_EXPIRED', `the CA certificate expired on ${issuer.caNotAfter.toISOString()}`);
  }
  const notBefore = new Date(Math.max(nowMs - BACKDATE_MS, issuer.caNotBefore.getTime()));
  const notAfter = new Date(Math.min(nowMs + Math.round(issuer.validityDays * DAY_MS), issuer.caNotAfter.getTime()));

  const { kind, publicKey } = input.key ?? readSpki(spkiDer);
  const ignored: string[] = [];
  const byOid = new Map(requestedExtensions.map((e) => [e.oid, e]));
  const handled = new Set<string>([Oid.subjectAltName, Oid.keyUsage, Oid.extKeyUsage]);
  for (const e of requestedExtensions) if (!handled.has(e.oid)) ignored.push(e.oid);

  // keyUsage.
  let ku = KU_DIGITAL_SIGNATURE;
  if (kind === 'rsa') ku |= KU_KEY_ENCIPHERMENT;
  else if (kind === 'ec' && requestsKeyAgreement(byOid.get(Oid.keyUsage))) ku |= KU_KEY_AGREEMENT;

  // extKeyUsage: clientAuth always; serverAuth only when allowed (cmcRA and the rest: never).
  const purposes = [Oid.kpClientAuth as string];
  for (const p of requestedPurposes(byOid.get(Oid.extKeyUsage))) {
    if (p === Oid.kpClientAuth) continue;
    if (p === Oid.kpServerAuth && issuer.allowServerAuth) purposes.unshift(p);
    else ignored.push(`${Oid.extKeyUsage}:${p}`);
  }

  const exts: Uint8Array[] = [issuer.basicConstraintsDer, extension(Oid.keyUsage, true, namedBits(ku)), extension(Oid.extKeyUsage, false, seq(...purposes.map((p) => oid(p))))];

  const san = byOid.get(Oid.subjectAltName);
  const emptySubject = isEmptyName(subjectDer);
  if (san) {
    try {
      // GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName
      if (children(readWhole(san.value, Tag.sequence, 'subjectAltName')).length === 0) throw new DerError('empty subjectAltName');
    } catch (e) {
      throw estError('ERR_EST_BAD_REQUEST', `malformed subjectAltName in the CSR: ${(e as Error).message}`, { cause: e });
    }
    exts.push(extension(Oid.subjectAltName, emptySubject, san.value));
  } else if (emptySubject) {
    throw estError('ERR_EST_CSR_SUBJECT', 'the CSR has an empty subject and no subjectAltName (RFC 5280 §4.1.2.6)');
  }

  const ski = createHash('sha1').update(publicKey).digest();
  exts.push(extension(Oid.subjectKeyIdentifier, false, octetString(ski)), issuer.akiExtensionDer);

  const tbsDer = seq(
    issuer.versionDer,
    integer(serial),
    issuer.signatureAlgorithmDer,
    issuer.issuerDer,
    seq(time(notBefore), time(notAfter)),
    subjectDer,
    spkiDer,
    explicit(3, seq(...exts)),
  );
  return { tbsDer, notBefore, notAfter, ignored };
}

/** What {@link buildRootTbsCertificate} needs: a self-signed CA such as est-server's demo CA. */
export interface RootInput {
  serial: bigint;
  /** DER Name, used as both subject and issuer. */
  subjectDer: Uint8Array;
  spkiDer: Uint8Array;
  /** DER AlgorithmIdentifier the root's own key signs with. */
  signatureAlgorithm: Uint8Array;
  notBefore: Date;
  notAfter: Date;
}

/**
 * The TBSCertificate of a self-signed root: basicConstraints cA=TRUE and keyUsage
 * keyCertSign | cRLSign, both critical (RFC 5280 §4.2.1.9, §4.2.1.3), and a method-1 SKI.
 * Nothing a CSR asks for ever reaches this: it is for a CA the operator creates.
 */
export function buildRootTbsCertificate(input: RootInput): Uint8Array {
  const { serial, subjectDer, spkiDer } = input;
  if (serial <= 0n || serial > MAX_SERIAL) throw new RangeError('serial number out of range (must be 1..2^159-1)');
  const exts = seq(
    extension(Oid.basicConstraints, true, seq(bool(true))),
    extension(Oid.keyUsage, true, namedBits(KU_KEY_CERT_SIGN | KU_CRL_SIGN)),
    extension(Oid.subjectKeyIdentifier, false, octetString(keyIdentifier(spkiDer))),
  );
  const validity = seq(time(input.notBefore), time(input.notAfter));
  return seq(explicit(0, integer(2)), integer(serial), input.signatureAlgorithm, subjectDer, validity, subjectDer, spkiDer, explicit(3, exts));
}

/**
 * Signs a TBSCertificate on a crypto thread (crypto-pool.ts).
 * `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }` (RFC 5280 §4.1)
 */
export async function signCertificate(tbsDer: Uint8Array, algorithm: SigningAlgorithm, key: KeyObject): Promise<Uint8Array> {
  return seq(tbsDer, algorithm.algorithmIdentifier, bitString(await signOffLoop(algorithm.params, tbsDer, key)));
}
