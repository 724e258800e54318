// CMC identifiers, status and failInfo values (RFC 5272 §6, RFC 6402), and the failure they travel in.

export const CMC_OID = {
  /** id-cct-PKIData */
  pkiData: '1.3.6.1.5.5.7.12.2',
  /** id-cct-PKIResponse */
  pkiResponse: '1.3.6.1.5.5.7.12.3',
} as const;

/** id-cmc controls (1.3.6.1.5.5.7.7.n). */
export const Control = {
  identification: '1.3.6.1.5.5.7.7.2',
  identityProof: '1.3.6.1.5.5.7.7.3',
  transactionId: '1.3.6.1.5.5.7.7.5',
  senderNonce: '1.3.6.1.5.5.7.7.6',
  recipientNonce: '1.3.6.1.5.5.7.7.7',
  revokeRequest: '1.3.6.1.5.5.7.7.17',
  statusInfoV2: '1.3.6.1.5.5.7.7.25',
  identityProofV2: '1.3.6.1.5.5.7.7.34',
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
