// PKCS#10 certification requests (RFC 2986): strict parse, signature check on Node crypto.
// Hand-written on der.ts, not pkijs: parsed on every enrollment, and 6.5× (P-256) to 57× (RSA)
// faster than pkijs's CertificationRequest, key validation included (BENCHMARKS.md, bench/csr-parse.ts).
import type { KeyObject } from 'node:crypto';
import { Oid } from './constants.js';
import { signatureParams, type SignatureParams } from './algorithms.js';
import { verifyOffLoop, type VerifyOutcome } from './crypto-pool.js';
import {
  children,
  content,
  ctxTag,
  DerError,
  expectChildren,
  raw,
  readBitStringBytes,
  readBoolean,
  readOid,
  readSmallInt,
  readString,
  readWhole,
  Tag,
  type Tlv,
} from './der.js';
import { formatName } from './name.js';
import { importKeyInput, PublicKeyError, validateSpki } from './public-key.js';
import { describeKeyType, type KeyType } from './key-types.js';

export { describeKeyType, type KeyType };

/** One CSR attribute: its type and the DER of each value in its SET. */
export interface CsrAttribute {
  oid: string;
  values: Uint8Array[];
}

/** One requested extension (from the extensionRequest attribute). */
export interface CsrExtension {
  oid: string;
  critical: boolean;
  /** Contents of extnValue (the DER of the extension's own value). */
  value: Uint8Array;
}

/**
 * A parsed PKCS#10 request.
 *
 * ```
 * CertificationRequest ::= SEQUENCE {
 *   certificationRequestInfo SEQUENCE {
 *     version INTEGER { v1(0) }, subject Name, subjectPKInfo SubjectPublicKeyInfo,
 *     attributes [0] IMPLICIT SET OF Attribute },
 *   signatureAlgorithm AlgorithmIdentifier, signature BIT STRING }
 * ```
 */
export interface ParsedCsr {
  /** The whole request. */
  der: Uint8Array;
  /** DER of certificationRequestInfo (the signed part). */
  infoDer: Uint8Array;
  /** DER of the subject Name, for exact comparisons (RFC 7030 §4.2.2). */
  subjectDer: Uint8Array;
  /** The subject as text, for logs and messages. */
  subject: string;
  /** DER SubjectPublicKeyInfo. */
  spkiDer: Uint8Array;
  /** The subjectPublicKey BIT STRING's bytes (for key identifiers, RFC 5280 §4.2.1.2). */
  subjectPublicKey: Uint8Array;
  /**
   * The public key as a Node KeyObject, or undefined when it was refused (tolerated only for
   * /serverkeygen). Imported on this thread on first read: the request path never reads it (it
   * verifies with {@link verify}, on a crypto thread).
   */
  publicKey?: KeyObject;
  keyType?: KeyType;
  /** Why the public key was refused (set exactly when `publicKey` is undefined). */
  keyError?: string;
  /** The SPKI algorithm OID (and for EC its curve OID). */
  keyAlgorithmOid: string;
  keyCurveOid?: string;
  attributes: CsrAttribute[];
  extensions: CsrExtension[];
  /** challengePassword decoded from any DirectoryString type (PKCS#9 §5.4.1). */
  challengePassword?: string;
  signatureAlgorithmOid: string;
  /** Set when the signature algorithm is not supported (the reason, for the error message). */
  signatureAlgorithmError?: string;
  /** Resolves true when the self-signature verifies (RFC 7030 §3.4). */
  verifySignature(): Promise<boolean>;
  /**
   * Verifies the self-signature on a crypto thread (crypto-pool.ts), the key imported there;
   * `keyError` says why the key itself was refused on import (e.g. an EC point off the curve).
   */
  verify(): Promise<VerifyOutcome>;
}

/** Describes a Node key. Only for keys this process made or loaded from configuration: never ask Node about an unvalidated peer key. */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  const d = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { kind: 'rsa', bits: d.modulusLength ?? 0 };
    case 'rsa-pss':
      return { kind: 'rsa-pss', bits: d.modulusLength ?? 0 };
    case 'ec':
      return { kind: 'ec', curve: d.namedCurve ?? 'unknown' };
    case 'ed25519':
      return { kind: 'ed25519' };
    case 'ed448':
      return { kind: 'ed448' };
    default:
      return undefined;
  }
}

/** Most attributes, and most requested extensions, one CSR may carry (real ones carry a handful). */
export const MAX_CSR_ATTRIBUTES = 32;
export const MAX_CSR_EXTENSIONS = 32;

function parseExtensions(valueDer: Uint8Array, into: CsrExtension[]): void {
  const exts = readWhole(valueDer, Tag.sequence, 'extensionRequest');
  for (const ext of children(exts)) {
    if (into.length >= MAX_CSR_EXTENSIONS) throw new DerError(`more than ${MAX_CSR_EXTENSIONS} requested extensions`);
    const f = expectChildren(ext, Tag.sequence, 'Extension');
    if (f.length < 2 || f.length > 3) throw new DerError('bad Extension');
    const extOid = readOid(f[0]!);
    const critical = f.length === 3 ? readBoolean(f[1]!) : false;
    const valueTlv = f[f.length - 1]!;
    if (valueTlv.tag !== Tag.octetString) throw new DerError('bad extnValue');
    if (into.some((e) => e.oid === extOid)) throw new DerError(`extension ${extOid} requested twice`);
    into.push({ oid: extOid, critical, value: content(valueTlv) });
  }
}

/** attributes [0] IMPLICIT SET OF Attribute: extension requests and challengePassword read out. */
function parseAttributes(attrsTlv: Tlv): { attributes: CsrAttribute[]; extensions: CsrExtension[]; challengePassword?: string } {
  const attributes: CsrAttribute[] = [];
  const extensions: CsrExtension[] = [];
  let challengePassword: string | undefined;
  for (const attr of children(attrsTlv)) {
    if (attributes.length >= MAX_CSR_ATTRIBUTES) throw new DerError(`more than ${MAX_CSR_ATTRIBUTES} attributes`);
    const [typeTlv, valuesTlv, extra] = expectChildren(attr, Tag.sequence, 'Attribute');
    if (!typeTlv || !valuesTlv || extra) throw new DerError('bad Attribute');
    const type = readOid(typeTlv);
    const values = expectChildren(valuesTlv, Tag.set, 'Attribute values').map(raw);
    attributes.push({ oid: type, values });
    if (type === Oid.extensionRequest) {
      for (const v of values) parseExtensions(v, extensions);
    } else if (type === Oid.challengePassword) {
      if (values.length !== 1 || challengePassword !== undefined) throw new DerError('challengePassword must have a single value');
      challengePassword = readString(readWhole(values[0]!, undefined, 'challengePassword'));
    }
  }
  return challengePassword === undefined ? { attributes, extensions } : { attributes, extensions, challengePassword };
}

/**
 * Parses a DER PKCS#10 request. Throws DerError (with a one-line reason) when malformed;
 * a refused public key is reported through `publicKey === undefined` and `keyError`.
 */
export function parseCsr(der: Uint8Array): ParsedCsr {
  const top = readWhole(der, Tag.sequence, 'certification request');
  const parts = children(top);
  if (parts.length !== 3) throw new DerError('certification request must have 3 fields');
  const [info, sigAlg, sigTlv] = parts as [Tlv, Tlv, Tlv];
  const infoFields = expectChildren(info, Tag.sequence, 'certificationRequestInfo');
  if (infoFields.length !== 4) throw new DerError('certificationRequestInfo must have 4 fields');
  const [version, subject, spki, attrsTlv] = infoFields as [Tlv, Tlv, Tlv, Tlv];
  if (readSmallInt(version) !== 0) throw new DerError('unsupported CSR version');
  if (subject.tag !== Tag.sequence) throw new DerError('bad subject Name');
  const subjectText = formatName(subject);
  const spkiFields = expectChildren(spki, Tag.sequence, 'subjectPKInfo');
  if (spkiFields.length !== 2) throw new DerError('bad subjectPKInfo');
  const algFields = expectChildren(spkiFields[0]!, Tag.sequence, 'key algorithm');
  const keyAlgorithmOid = readOid(algFields[0]!);
  const keyCurveOid = algFields[1]?.tag === Tag.oid ? readOid(algFields[1]) : undefined;
  const keyBits = readBitStringBytes(spkiFields[1]!);
  if (attrsTlv.tag !== ctxTag(0, true)) throw new DerError('bad CSR attributes');

  const { attributes, extensions, challengePassword } = parseAttributes(attrsTlv);

  expectChildren(sigAlg, Tag.sequence, 'signatureAlgorithm');
  const signatureAlgorithmOid = readOid(children(sigAlg)[0]!);
  const signature = readBitStringBytes(sigTlv);
  let params: SignatureParams | undefined;
  let paramsError: string | undefined;
  try {
    params = signatureParams(sigAlg);
  } catch (e) {
    paramsError = (e as Error).message;
  }

  // Every key is validated before Node sees it (see validateSpki); it is imported where it is
  // verified, on a crypto thread.
  let validated: ReturnType<typeof validateSpki> | undefined;
  let keyError: string | undefined;
  try {
    validated = validateSpki(raw(spki), spkiFields[0]!, keyBits, keyAlgorithmOid);
  } catch (e) {
    if (!(e instanceof PublicKeyError)) throw e;
    keyError = e.message;
  }
  const infoDer = raw(info);
  let outcome: Promise<VerifyOutcome> | undefined;
  const verify = (): Promise<VerifyOutcome> =>
    (outcome ??= !params || !validated ? Promise.resolve({ ok: false, ...(keyError ? { keyError } : {}) }) : verifyOffLoop(validated.input, params, infoDer, signature));
  const csr: ParsedCsr = {
    der,
    infoDer,
    subjectDer: raw(subject),
    subject: subjectText,
    spkiDer: raw(spki),
    subjectPublicKey: keyBits,
    keyAlgorithmOid,
    attributes,
    extensions,
    signatureAlgorithmOid,
    verifySignature: async () => (await verify()).ok,
    verify,
  };
  if (keyCurveOid) csr.keyCurveOid = keyCurveOid;
  if (validated) {
    const input = validated.input;
    let key: KeyObject | null | undefined;
    Object.defineProperty(csr, 'publicKey', {
      enumerable: true,
      get: () => {
        if (key === undefined) {
          try {
            key = importKeyInput(input);
          } catch {
            key = null;
          }
        }
        return key ?? undefined;
      },
    });
    csr.keyType = validated.type;
  }
  if (keyError !== undefined) csr.keyError = keyError;
  if (challengePassword !== undefined) csr.challengePassword = challengePassword;
  if (paramsError) csr.signatureAlgorithmError = paramsError;
  return csr;
}

/** The first value of a single-valued DirectoryString attribute (RFC 7894 §3), if present. */
export function stringAttribute(csr: ParsedCsr, attrOid: string): string | undefined {
  const a = csr.attributes.find((x) => x.oid === attrOid);
  if (!a) return undefined;
  if (a.values.length !== 1) throw new DerError(`attribute ${attrOid} must have a single value`);
  return readString(readWhole(a.values[0]!, undefined, 'attribute value'));
}
