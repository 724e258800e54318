// CMS SignedData (RFC 5652 §5) built with pkijs and signed with Node's crypto (RSA, EC, Ed25519 keys).
import { createHash, sign as signAsync, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { Oid } from './constants.js';
import { fromDer, pkijsCertificate, toDer } from './pkix.js';

/** Who signs CMS responses: a certificate (DER) and its private key, plus chain certificates to include. */
export interface CmsSigner {
  certificate: Uint8Array;
  privateKey: KeyObject;
  chain?: readonly Uint8Array[];
}

/** The CMS identifiers this module and its readers use (all from constants.ts). */
export const CMS_OID = {
  signedData: Oid.signedData,
  envelopedData: Oid.envelopedData,
  data: Oid.data,
  contentType: Oid.contentType,
  messageDigest: Oid.messageDigest,
  signingTime: Oid.signingTime,
  sha256: Oid.sha256,
  sha384: Oid.sha384,
  sha512: Oid.sha512,
} as const;

interface Scheme {
  digest: 'sha256' | 'sha384' | 'sha512';
  digestOid: string;
  signatureOid: string;
  /** Hash passed to crypto.sign (null: the algorithm hashes itself, EdDSA). */
  signHash: string | null;
}

/** The digest and signature algorithm for a signing key (RFC 5754 for RSA/ECDSA, RFC 8419 for Ed25519). */
function schemeFor(key: KeyObject): Scheme {
  const t = key.asymmetricKeyType;
  if (t === 'rsa') return { digest: 'sha256', digestOid: CMS_OID.sha256, signatureOid: Oid.sha256WithRSAEncryption, signHash: 'sha256' };
  if (t === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'secp384r1') return { digest: 'sha384', digestOid: CMS_OID.sha384, signatureOid: Oid.ecdsaWithSHA384, signHash: 'sha384' };
    if (curve === 'secp521r1') return { digest: 'sha512', digestOid: CMS_OID.sha512, signatureOid: Oid.ecdsaWithSHA512, signHash: 'sha512' };
    return { digest: 'sha256', digestOid: CMS_OID.sha256, signatureOid: Oid.ecdsaWithSHA256, signHash: 'sha256' };
  }
  if (t === 'ed25519') return { digest: 'sha512', digestOid: CMS_OID.sha512, signatureOid: Oid.ed25519, signHash: null };
  throw new Error(`cannot sign CMS with a ${t ?? 'unknown'} key`);
}

function signBytes(hash: string | null, data: Uint8Array, key: KeyObject): Promise<Uint8Array> {
  // The callback form runs in libuv's thread pool: no signing on the event loop.
  return new Promise((resolve, reject) => signAsync(hash, data, key, (err, sig) => (err ? reject(err) : resolve(new Uint8Array(sig)))));
}

function uniqueDer(list: readonly Uint8Array[]): Uint8Array[] {
  const seen = new Set<string>();
  return list.filter((d) => {
    const k = Buffer.from(d).toString('base64');
    return seen.has(k) ? false : (seen.add(k), true);
  });
}

/** DER SET OF sorts its elements by their encodings (X.690 §11.6). */
function sortedByDer(attrs: pkijs.Attribute[]): pkijs.Attribute[] {
  const enc = attrs.map((a) => ({ a, d: Buffer.from(toDer(a)) }));
  enc.sort((x, y) => Buffer.compare(x.d, y.d));
  return enc.map((e) => e.a);
}

/**
 * Encodes ContentInfo(SignedData) over `content` of type `eContentType`, with signed attributes
 * (contentType, signingTime, messageDigest); `certificates` holds `extraCertificates` (e.g. the issued
 * one), then the signer's certificate and chain.
 *
 * ```
 * SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo, certificates [0], signerInfos }
 * ```
 * @see RFC 5652 §5.1 (version 3 when eContentType is not id-data), §5.3, §5.4
 */
export async function signedData(eContentType: string, content: Uint8Array, signer: CmsSigner, extraCertificates: readonly Uint8Array[] = []): Promise<Uint8Array> {
  const sd = await buildSignedData(eContentType, content, signer, extraCertificates);
  return toDer(new pkijs.ContentInfo({ contentType: CMS_OID.signedData, content: sd.toSchema(true) }));
}

/** The bare SignedData (no ContentInfo), for nesting inside EnvelopedData (RFC 5652 §6.1). */
export async function signedDataContent(eContentType: string, content: Uint8Array, signer: CmsSigner): Promise<Uint8Array> {
  return new Uint8Array((await buildSignedData(eContentType, content, signer)).toSchema(true).toBER(false));
}

async function buildSignedData(eContentType: string, content: Uint8Array, signer: CmsSigner, extraCertificates: readonly Uint8Array[] = []): Promise<pkijs.SignedData> {
  const scheme = schemeFor(signer.privateKey);
  const cert = pkijsCertificate(signer.certificate);
  const digest = createHash(scheme.digest).update(content).digest();
  const attributes = sortedByDer([
    new pkijs.Attribute({ type: CMS_OID.contentType, values: [new asn1js.ObjectIdentifier({ value: eContentType })] }),
    new pkijs.Attribute({ type: CMS_OID.signingTime, values: [new asn1js.UTCTime({ valueDate: new Date() })] }),
    new pkijs.Attribute({ type: CMS_OID.messageDigest, values: [new asn1js.OctetString({ valueHex: digest })] }),
  ]);
  // RFC 5652 §5.4: the signature covers the DER of the attributes with an explicit SET OF tag.
  const toSign = new Uint8Array(new asn1js.Set({ value: attributes.map((a) => a.toSchema()) }).toBER(false));
  const signature = await signBytes(scheme.signHash, toSign, signer.privateKey);
  const signerInfo = new pkijs.SignerInfo({
    version: 1,
    sid: new pkijs.IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
    digestAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: scheme.digestOid }),
    signedAttrs: new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes }),
    signatureAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: scheme.signatureOid }),
    signature: new asn1js.OctetString({ valueHex: signature }),
  });
  return new pkijs.SignedData({
    version: eContentType === Oid.data ? 1 : 3,
    digestAlgorithms: [new pkijs.AlgorithmIdentifier({ algorithmId: scheme.digestOid })],
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType, eContent: new asn1js.OctetString({ valueHex: content }) }),
    certificates: uniqueDer([...extraCertificates, signer.certificate, ...(signer.chain ?? [])]).map(pkijsCertificate),
    signerInfos: [signerInfo],
  });
}

/** Re-reads DER through asn1js (used by specs and callers that need the parsed form). */
export function parseContentInfo(der: Uint8Array): pkijs.ContentInfo {
  return new pkijs.ContentInfo({ schema: fromDer(der, 'ContentInfo') });
}
