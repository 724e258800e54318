// CMC Full PKI Response (RFC 5272 §3.2.2, §4.2): PKIResponse with CMCStatusInfoV2, signed, certificates attached.
import { randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import { signedData, type CmsSigner } from './cms-signed-data.js';
import { CMC_OID, CmcStatus, Control } from './cmc.js';

/** What the response says. */
export interface FullPkiResponseInput {
  status: keyof typeof CmcStatus;
  /** Body parts of the request the status is about. */
  bodyList: number[];
  statusString?: string;
  failInfo?: number;
  /** For `pending`: a token the client sends back, and when to ask again (RFC 5272 §6.1.2). */
  pendInfo?: { token: Uint8Array; time: Date };
  /** Echoed from the request (RFC 5272 §6.6). */
  transactionId?: bigint;
  /** The request's senderNonce, returned as recipientNonce (RFC 5272 §6.6). */
  recipientNonce?: Uint8Array;
  /** Issued certificate and its chain (DER), carried in SignedData.certificates (RFC 5272 §4.2). */
  certificates?: readonly Uint8Array[];
  /** Further statusInfoV2 entries, e.g. one per revokeRequest. */
  more?: Omit<FullPkiResponseInput, 'transactionId' | 'recipientNonce' | 'certificates' | 'more'>[];
}

function taggedAttribute(id: number, type: string, value: asn1js.AsnType): asn1js.Sequence {
  return new asn1js.Sequence({ value: [new asn1js.Integer({ value: id }), new asn1js.ObjectIdentifier({ value: type }), new asn1js.Set({ value: [value] })] });
}

/**
 *     CMCStatusInfoV2 ::= SEQUENCE { cMCStatus CMCStatus, bodyList SEQUENCE SIZE (1..MAX) OF BodyPartReference,
 *       statusString UTF8String OPTIONAL, otherInfo OtherStatusInfo OPTIONAL }
 *     OtherStatusInfo ::= CHOICE { failInfo CMCFailInfo, pendInfo PendInfo, extendedFailInfo ExtendedFailInfo }
 *     PendInfo ::= SEQUENCE { pendToken OCTET STRING, pendTime GeneralizedTime }
 */
function statusInfoV2(s: Omit<FullPkiResponseInput, 'more'>): asn1js.Sequence {
  const value: asn1js.AsnType[] = [
    new asn1js.Integer({ value: CmcStatus[s.status] }),
    // bodyList is SIZE(1..MAX); bodyPartID 0 refers to the whole PKIData.
    new asn1js.Sequence({ value: (s.bodyList.length ? s.bodyList : [0]).map((id) => new asn1js.Integer({ value: id })) }),
  ];
  if (s.statusString) value.push(new asn1js.Utf8String({ value: s.statusString.slice(0, 512) }));
  if (s.status === 'failed' && s.failInfo !== undefined) value.push(new asn1js.Integer({ value: s.failInfo }));
  else if (s.status === 'pending' && s.pendInfo) {
    value.push(new asn1js.Sequence({ value: [new asn1js.OctetString({ valueHex: s.pendInfo.token }), new asn1js.GeneralizedTime({ valueDate: s.pendInfo.time })] }));
  }
  return new asn1js.Sequence({ value });
}

/** The PKIResponse DER: `SEQUENCE { controlSequence, cmsSequence, otherMsgSequence }`. */
export function pkiResponse(input: FullPkiResponseInput, senderNonce: Uint8Array): Uint8Array {
  let id = 1;
  const controls: asn1js.AsnType[] = [];
  for (const s of [input, ...(input.more ?? [])]) controls.push(taggedAttribute(id++, Control.statusInfoV2, statusInfoV2(s)));
  if (input.transactionId !== undefined) controls.push(taggedAttribute(id++, Control.transactionId, integer(input.transactionId)));
  controls.push(taggedAttribute(id++, Control.senderNonce, new asn1js.OctetString({ valueHex: senderNonce })));
  if (input.recipientNonce) controls.push(taggedAttribute(id++, Control.recipientNonce, new asn1js.OctetString({ valueHex: input.recipientNonce })));
  const seq = new asn1js.Sequence({ value: [new asn1js.Sequence({ value: controls }), new asn1js.Sequence({ value: [] }), new asn1js.Sequence({ value: [] })] });
  return new Uint8Array(seq.toBER(false));
}

/** An INTEGER of any size (transactionId may exceed 2^53). */
function integer(v: bigint): asn1js.Integer {
  return asn1js.Integer.fromBigInt(v);
}

/**
 * The Full PKI Response body (DER ContentInfo): SignedData over id-cct-PKIResponse, signed by the
 * CA (or RA) key, with the issued certificate and chain in `certificates`.
 *
 * @see RFC 7030 §4.3.2, RFC 5272 §3.2.2
 */
export async function fullPkiResponse(input: FullPkiResponseInput, signer: CmsSigner): Promise<Uint8Array> {
  return signedData(CMC_OID.pkiResponse, pkiResponse(input, randomBytes(16)), signer, input.certificates ?? []);
}
