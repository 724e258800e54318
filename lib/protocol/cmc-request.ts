// CMC Full PKI Request (RFC 5272 §3.2): the signed PKIData, its controls and its PKCS#10 requests.
import type { X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import { readSignedData, SignedDataError, spkiKey, verifySignedData, type SignerCandidate } from './cms-received.js';
import { CMC_OID, CmcFailInfo, CmcFailure, Control } from './cmc.js';
import { fromDer } from './pkix.js';

/** A PKCS#10 request from the reqSequence (TaggedCertificationRequest). */
export interface CmcCertRequest {
  bodyPartId: number;
  /** The CertificationRequest exactly as sent. */
  csrDer: Uint8Array;
}

/** A revocation request control (RFC 5272 §6.11). */
export interface CmcRevokeRequest {
  bodyPartId: number;
  /** DER Name of the certificate's issuer. */
  issuerDer: Uint8Array;
  serial: bigint;
  /** CRLReason (RFC 5280 §5.3.1). */
  reason: number;
  comment?: string;
}

/** A Full PKI Request after decoding and signature verification. */
export interface FullPkiRequest {
  requests: CmcCertRequest[];
  revocations: CmcRevokeRequest[];
  transactionId?: bigint;
  senderNonce?: Uint8Array;
  identification?: string;
  /** Who signed: a certificate carried in the message, or the key of one of the PKCS#10 requests (self-signed). */
  signer: { certificate: X509Certificate } | { bodyPartId: number };
  /** Every body part id used in the request, for a failure's bodyList. */
  bodyPartIds: number[];
  /** Certificates carried in the SignedData (the signer's chain). */
  certificates: X509Certificate[];
}

/**
 *     PKIData ::= SEQUENCE {
 *       controlSequence    SEQUENCE SIZE(0..MAX) OF TaggedAttribute,
 *       reqSequence        SEQUENCE SIZE(0..MAX) OF TaggedRequest,
 *       cmsSequence        SEQUENCE SIZE(0..MAX) OF TaggedContentInfo,
 *       otherMsgSequence   SEQUENCE SIZE(0..MAX) OF OtherMsg }
 *     TaggedAttribute ::= SEQUENCE { bodyPartID BodyPartID, attrType OID, attrValues SET OF AttributeValue }
 *     TaggedRequest ::= CHOICE { tcr [0] TaggedCertificationRequest, crm [1] CertReqMsg, orm [2] ... }
 *     TaggedCertificationRequest ::= SEQUENCE { bodyPartID BodyPartID, certificationRequest CertificationRequest }
 * (module EnrollmentMessageSyntax-2009: IMPLICIT TAGS)
 */
function children(node: asn1js.AsnType | undefined, what: string): asn1js.AsnType[] {
  if (!(node instanceof asn1js.Sequence) && !(node instanceof asn1js.Set) && !(node instanceof asn1js.Constructed)) throw new CmcFailure(CmcFailInfo.badRequest, `${what} is not a SEQUENCE`);
  return (node as asn1js.Sequence).valueBlock.value;
}

function bodyPartId(node: asn1js.AsnType | undefined, what: string): number {
  if (!(node instanceof asn1js.Integer)) throw new CmcFailure(CmcFailInfo.badRequest, `${what}: bodyPartID missing`);
  const v = node.toBigInt();
  // BodyPartID ::= INTEGER(0..4294967295)
  if (v < 0n || v > 4294967295n) throw new CmcFailure(CmcFailInfo.badRequest, `${what}: bodyPartID out of range`);
  return Number(v);
}

function raw(node: asn1js.AsnType): Uint8Array {
  return new Uint8Array(node.valueBeforeDecodeView);
}

function parseRevokeRequest(id: number, v: asn1js.AsnType): CmcRevokeRequest {
  // RevokeRequest ::= SEQUENCE { issuerName Name, serialNumber INTEGER, reason CRLReason,
  //   invalidityDate GeneralizedTime OPTIONAL, passphrase OCTET STRING OPTIONAL, comment UTF8String OPTIONAL }
  const [issuer, serial, reason, ...rest] = children(v, 'revokeRequest');
  if (!(issuer instanceof asn1js.Sequence) || !(serial instanceof asn1js.Integer) || !(reason instanceof asn1js.Enumerated)) {
    throw new CmcFailure(CmcFailInfo.badRequest, 'malformed revokeRequest', [id]);
  }
  // asn1js reads an ENUMERATED past 6 octets as valueDec 0 (unspecified): read all of it.
  const code = reason.toBigInt();
  if (code < 0n || code > 0xffn) throw new CmcFailure(CmcFailInfo.badRequest, `unknown CRLReason ${code} (RFC 5280 §5.3.1)`, [id]);
  const r: CmcRevokeRequest = { bodyPartId: id, issuerDer: raw(issuer), serial: serial.toBigInt(), reason: Number(code) };
  const comment = rest.find((x) => x instanceof asn1js.Utf8String) as asn1js.Utf8String | undefined;
  if (comment) r.comment = comment.valueBlock.value;
  return r;
}

/** Controls this server acts on; any other control fails the request (RFC 5272 §3.2.1.1). */
const UNDERSTOOD = new Set<string>([Control.transactionId, Control.senderNonce, Control.recipientNonce, Control.identification, Control.revokeRequest]);

/**
 * Decodes a Full PKI Request (DER ContentInfo), verifies its signature (by a carried certificate, or
 * self-signed with the key of its PKCS#10 request, RFC 5272 §3.2.1.3.3) and returns what it asks.
 * Throws CmcFailure with the failInfo the Full PKI Response must carry.
 */
export async function readFullPkiRequest(der: Uint8Array, parseSpki: (csrDer: Uint8Array) => Uint8Array): Promise<FullPkiRequest> {
  let sd;
  try {
    sd = readSignedData(der);
  } catch (e) {
    throw new CmcFailure(CmcFailInfo.badRequest, `not a Full PKI Request: ${(e as Error).message}`);
  }
  if (sd.eContentType !== CMC_OID.pkiData) throw new CmcFailure(CmcFailInfo.badRequest, `the SignedData does not hold PKIData (eContentType ${sd.eContentType})`);
  let pkiData: asn1js.AsnType;
  try {
    pkiData = fromDer(sd.content, 'PKIData');
  } catch (e) {
    throw new CmcFailure(CmcFailInfo.badRequest, `malformed PKIData: ${(e as Error).message}`);
  }
  const [controls, reqs, cms, other, ...extra] = children(pkiData, 'PKIData');
  if (!controls || !reqs || !cms || !other || extra.length) throw new CmcFailure(CmcFailInfo.badRequest, 'PKIData must have four sequences');

  const out: FullPkiRequest = { requests: [], revocations: [], signer: { bodyPartId: 0 }, bodyPartIds: [], certificates: sd.certificates };
  const unknown: number[] = [];
  for (const ta of children(controls, 'controlSequence')) {
    const [idNode, typeNode, values] = children(ta, 'TaggedAttribute');
    const id = bodyPartId(idNode, 'control');
    out.bodyPartIds.push(id);
    if (!(typeNode instanceof asn1js.ObjectIdentifier)) throw new CmcFailure(CmcFailInfo.badRequest, 'control without a type', [id]);
    const type = typeNode.valueBlock.toString();
    const vals = children(values, 'attrValues');
    if (!UNDERSTOOD.has(type)) {
      unknown.push(id);
      continue;
    }
    const v = vals[0];
    if (vals.length !== 1 || !v) throw new CmcFailure(CmcFailInfo.badRequest, `control ${type} must have one value`, [id]);
    if (type === Control.transactionId) {
      if (!(v instanceof asn1js.Integer)) throw new CmcFailure(CmcFailInfo.badRequest, 'transactionId is not an INTEGER', [id]);
      out.transactionId = v.toBigInt();
    } else if (type === Control.senderNonce) {
      if (!(v instanceof asn1js.OctetString)) throw new CmcFailure(CmcFailInfo.badRequest, 'senderNonce is not an OCTET STRING', [id]);
      out.senderNonce = new Uint8Array(v.valueBlock.valueHexView);
    } else if (type === Control.identification) {
      if (!(v instanceof asn1js.Utf8String)) throw new CmcFailure(CmcFailInfo.badRequest, 'identification is not a UTF8String', [id]);
      out.identification = v.valueBlock.value;
    } else if (type === Control.revokeRequest) {
      out.revocations.push(parseRevokeRequest(id, v));
    }
    // recipientNonce from a client is only meaningful on a follow-up; nothing to check here.
  }
  // RFC 5272 §3.2.1.1: an unrecognised control fails the whole PKIData, naming the controls.
  if (unknown.length) throw new CmcFailure(CmcFailInfo.badRequest, `unsupported CMC control(s) in body part(s) ${unknown.join(', ')}`, unknown);

  for (const tr of children(reqs, 'reqSequence')) {
    const tag = tr.idBlock;
    if (tag.tagClass !== 3) throw new CmcFailure(CmcFailInfo.badRequest, 'malformed TaggedRequest');
    const [idNode, body] = children(tr, 'TaggedRequest');
    const id = bodyPartId(idNode, 'request');
    out.bodyPartIds.push(id);
    if (tag.tagNumber !== 0 || !body) throw new CmcFailure(CmcFailInfo.badRequest, 'only PKCS#10 requests (tcr) are supported; CRMF and other request formats are not', [id]);
    out.requests.push({ bodyPartId: id, csrDer: raw(body) });
  }
  if (children(cms, 'cmsSequence').length || children(other, 'otherMsgSequence').length) {
    throw new CmcFailure(CmcFailInfo.badRequest, 'nested cmsSequence and otherMsgSequence are not supported');
  }
  if (new Set(out.bodyPartIds).size !== out.bodyPartIds.length) throw new CmcFailure(CmcFailInfo.badRequest, 'duplicate bodyPartID');
  if (out.requests.length > 1) throw new CmcFailure(CmcFailInfo.badRequest, 'one certification request per Full PKI Request', out.requests.map((r) => r.bodyPartId));
  if (out.requests.length === 0 && out.revocations.length === 0) throw new CmcFailure(CmcFailInfo.badRequest, 'the PKIData asks for nothing (no request, no revokeRequest)');

  const csrKeys: SignerCandidate<number>[] = [];
  for (const r of out.requests) {
    try {
      csrKeys.push({ key: spkiKey(parseSpki(r.csrDer)), tag: r.bodyPartId });
    } catch {
      // An unreadable CSR key cannot have signed; the CSR check reports the CSR itself.
    }
  }
  try {
    const who = await verifySignedData(sd, csrKeys);
    out.signer = typeof who.tag === 'number' ? { bodyPartId: who.tag } : { certificate: who.tag };
  } catch (e) {
    if (e instanceof SignedDataError) throw new CmcFailure(CmcFailInfo.badMessageCheck, `Full PKI Request signature: ${e.message}`, out.bodyPartIds);
    throw e;
  }
  return out;
}
