// Reading a CMS SignedData (RFC 5652 §5) from a client and checking its one signature with Node's crypto.
import { createHash, createPublicKey, verify as verifyAsync, X509Certificate, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { fromDer, PkixDecodeError } from './pkix.js';
import { Oid } from './constants.js';

/** A SignedData as received: what it carries and its single SignerInfo. */
export interface ReceivedSignedData {
  eContentType: string;
  content: Uint8Array;
  certificates: X509Certificate[];
  signerInfo: pkijs.SignerInfo;
}

/** The SignedData is malformed, or its signature is not acceptable. */
export class SignedDataError extends Error {}

function octets(o: asn1js.OctetString): Uint8Array {
  // A constructed OCTET STRING (BER) is the concatenation of its segments.
  if (o.idBlock.isConstructed) return Buffer.concat(o.valueBlock.value.map((s) => octets(s as asn1js.OctetString)));
  return new Uint8Array(o.valueBlock.valueHexView);
}

/**
 * Most certificates a received SignedData may carry: the signer's and a chain, as deep as a TLS
 * client's may be. Each costs a pkijs parse (~1.5 ms) and is a candidate issuer.
 */
export const MAX_SIGNED_DATA_CERTIFICATES = 8;

/** How many certificates SignedData (asn1js, before pkijs reads it) carries in `certificates [0]`. */
function certificateCount(signedData: asn1js.AsnType): number {
  const fields = (signedData as asn1js.Sequence).valueBlock?.value ?? [];
  const certs = fields.find((f) => f.idBlock.tagClass === 3 && f.idBlock.tagNumber === 0) as asn1js.Constructed | undefined;
  return certs?.valueBlock?.value?.length ?? 0;
}

/** Decodes ContentInfo(SignedData) with exactly one signer and an encapsulated content. */
export function readSignedData(der: Uint8Array): ReceivedSignedData {
  let sd: pkijs.SignedData;
  try {
    const ci = new pkijs.ContentInfo({ schema: fromDer(der, 'ContentInfo') });
    if (ci.contentType !== Oid.signedData) throw new SignedDataError(`expected SignedData, got content type ${ci.contentType}`);
    const n = certificateCount(ci.content);
    if (n > MAX_SIGNED_DATA_CERTIFICATES) throw new SignedDataError(`SignedData carries ${n} certificates; at most ${MAX_SIGNED_DATA_CERTIFICATES} are read`);
    sd = new pkijs.SignedData({ schema: ci.content });
  } catch (e) {
    if (e instanceof SignedDataError) throw e;
    throw new SignedDataError(`malformed SignedData: ${(e as Error).message}`);
  }
  const eContent = sd.encapContentInfo.eContent;
  if (!eContent) throw new SignedDataError('SignedData has no encapsulated content');
  if (sd.signerInfos.length !== 1) throw new SignedDataError(`expected one SignerInfo, got ${sd.signerInfos.length}`);
  const certificates: X509Certificate[] = [];
  for (const c of sd.certificates ?? []) {
    if (!(c instanceof pkijs.Certificate)) continue;
    try {
      certificates.push(new X509Certificate(Buffer.from(c.toSchema().toBER(false))));
    } catch {
      throw new SignedDataError('SignedData carries an unreadable certificate');
    }
  }
  return { eContentType: sd.encapContentInfo.eContentType, content: octets(eContent), certificates, signerInfo: sd.signerInfos[0]! };
}

const DIGESTS: Record<string, string> = {
  [Oid.sha1]: 'sha1',
  [Oid.sha256]: 'sha256',
  [Oid.sha384]: 'sha384',
  [Oid.sha512]: 'sha512',
};
/** Signature algorithms: OID → hash for crypto.verify (undefined: use the digestAlgorithm; null: EdDSA). */
const SIGNATURES: Record<string, string | null | undefined> = {
  [Oid.rsaEncryption]: undefined, // hash from digestAlgorithm (RFC 3370 §3.2)
  [Oid.sha1WithRSAEncryption]: 'sha1',
  [Oid.sha256WithRSAEncryption]: 'sha256',
  [Oid.sha384WithRSAEncryption]: 'sha384',
  [Oid.sha512WithRSAEncryption]: 'sha512',
  [Oid.ecdsaWithSHA256]: 'sha256',
  [Oid.ecdsaWithSHA384]: 'sha384',
  [Oid.ecdsaWithSHA512]: 'sha512',
  [Oid.ed25519]: null,
};

function verifyBytes(hash: string | null, data: Uint8Array, key: KeyObject, sig: Uint8Array): Promise<boolean> {
  return new Promise((resolve) => verifyAsync(hash, data, key, sig, (err, ok) => resolve(!err && ok)));
}

/** A key that may have made the signature: a certificate from the message, or another key the caller knows (e.g. a CSR's). */
export interface SignerCandidate<T> {
  key: KeyObject;
  /** SubjectKeyIdentifier to match a `subjectKeyIdentifier` sid against; undefined matches any. */
  keyId?: Uint8Array;
  tag: T;
}

/**
 * Verifies the one signature: messageDigest over the content, then the signature over the DER
 * signed attributes (RFC 5652 §5.4) with the candidate the sid names (certificates carried in the
 * message, plus `extra`). Returns the candidate that verified; throws SignedDataError otherwise.
 */
export async function verifySignedData<T>(sd: ReceivedSignedData, extra: SignerCandidate<T>[]): Promise<SignerCandidate<T | X509Certificate>> {
  const si = sd.signerInfo;
  const hash = DIGESTS[si.digestAlgorithm.algorithmId];
  if (!hash) throw new SignedDataError(`unsupported digest algorithm ${si.digestAlgorithm.algorithmId}`);
  const sigAlg = si.signatureAlgorithm.algorithmId;
  if (!(sigAlg in SIGNATURES)) throw new SignedDataError(`unsupported signature algorithm ${sigAlg}`);
  const sigHash = SIGNATURES[sigAlg] === undefined ? hash : SIGNATURES[sigAlg]!;
  // RFC 5652 §5.3: signed attributes are required when the content type is not id-data.
  const attrs = si.signedAttrs;
  if (!attrs) throw new SignedDataError('SignerInfo has no signed attributes');
  const md = attrs.attributes.find((a) => a.type === Oid.messageDigest)?.values[0];
  const ct = attrs.attributes.find((a) => a.type === Oid.contentType)?.values[0];
  if (!(md instanceof asn1js.OctetString) || !(ct instanceof asn1js.ObjectIdentifier)) throw new SignedDataError('signed attributes lack messageDigest or contentType');
  if (ct.valueBlock.toString() !== sd.eContentType) throw new SignedDataError('contentType attribute does not match the encapsulated content');
  if (!Buffer.from(md.valueBlock.valueHexView).equals(createHash(hash).update(sd.content).digest())) throw new SignedDataError('messageDigest does not match the content');
  // The signature covers the attributes' DER with a SET OF tag instead of [0] IMPLICIT.
  const signed = new Uint8Array(attrs.encodedValue);
  if (signed.length === 0) throw new SignedDataError('signed attributes are empty');
  signed[0] = 0x31;
  const signature = new Uint8Array(si.signature.valueBlock.valueHexView);

  const candidates: SignerCandidate<T | X509Certificate>[] = [];
  const sid = si.sid;
  if (sid instanceof pkijs.IssuerAndSerialNumber) {
    for (const c of sd.certificates) {
      if (c.serialNumber.toLowerCase().replace(/^0+/, '') === Buffer.from(sid.serialNumber.valueBlock.valueHexView).toString('hex').replace(/^0+/, '')) {
        candidates.push({ key: c.publicKey, tag: c });
      }
    }
  } else {
    const skiOf = (c: X509Certificate): Uint8Array | undefined => {
      try {
        const p = new pkijs.Certificate({ schema: fromDer(c.raw, 'certificate') });
        const e = p.extensions?.find((x) => x.extnID === Oid.subjectKeyIdentifier)?.parsedValue as asn1js.OctetString | undefined;
        return e ? new Uint8Array(e.valueBlock.valueHexView) : undefined;
      } catch (e) {
        if (e instanceof PkixDecodeError) return undefined;
        throw e;
      }
    };
    const want = Buffer.from((sid as asn1js.OctetString).valueBlock.valueHexView);
    for (const c of sd.certificates) {
      const ski = skiOf(c);
      if (ski && want.equals(ski)) candidates.push({ key: c.publicKey, keyId: ski, tag: c });
    }
    for (const x of extra) if (!x.keyId || want.equals(x.keyId)) candidates.push(x);
  }
  for (const cand of candidates) {
    if (await verifyBytes(sigHash, signed, cand.key, signature)) return cand;
  }
  throw new SignedDataError(candidates.length ? 'the signature does not verify' : 'the signer is not identified by any certificate or key in the message');
}

/** The public key of a DER SubjectPublicKeyInfo as a KeyObject. */
export function spkiKey(spkiDer: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
}
