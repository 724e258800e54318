// CMC identifiers, status and failInfo values (RFC 5272 §6, RFC 6402), and the failure they travel in.
import { Oid } from './constants.js';

export const CMC_OID = { pkiData: Oid.cmcPkiData, pkiResponse: Oid.cmcPkiResponse } as const;

/** The id-cmc controls this server knows (RFC 5272 §6). */
export const Control = {
  identification: Oid.cmcIdentification,
  identityProof: Oid.cmcIdentityProof,
  transactionId: Oid.cmcTransactionId,
  senderNonce: Oid.cmcSenderNonce,
  recipientNonce: Oid.cmcRecipientNonce,
  revokeRequest: Oid.cmcRevokeRequest,
  statusInfoV2: Oid.cmcStatusInfoV2,
  identityProofV2: Oid.cmcIdentityProofV2,
} as const;

/** CMCStatus (RFC 5272 §6.1.1). */
export const CmcStatus = { success: 0, failed: 2, pending: 3, noSupport: 4, confirmRequired: 5, popRequired: 6, partial: 7 } as const;

/** CMCFailInfo (RFC 5272 §6.1.4). */
export const CmcFailInfo = {
  badAlg: 0,
  badMessageCheck: 1,
  badRequest: 2,
  badTime: 3,
  badCertId: 4,
  unsupportedExt: 5,
  mustArchiveKeys: 6,
  badIdentity: 7,
  popRequired: 8,
  popFailed: 9,
  noKeyReuse: 10,
  internalCAError: 11,
  tryLater: 12,
  authDataFail: 13,
} as const;

/** A request the server answers with a failed CMCStatusInfoV2 (RFC 7030 §4.3.2: 4xx/5xx plus a CMC response). */
export class CmcFailure extends Error {
  constructor(
    readonly failInfo: number,
    message: string,
    /** Body parts the failure names; empty means the whole PKIData. */
    readonly bodyList: number[] = [],
  ) {
    super(message);
  }
}
