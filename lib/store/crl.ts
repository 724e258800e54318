// A CRL signed by the CA key (RFC 5280 §5): the store's revocations, a number, and the next update.
import type { KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { signData, signingAlgorithmFor } from '../protocol/algorithms.js';
import { REASON_CODES } from './openssl-index.js';
import type { RevocationReason } from './types.js';

/** What goes into a CRL. */
export interface CrlInput {
  /** DER of the CA certificate (the issuer of the CRL and of the revoked certificates). */
  caCertificate: Uint8Array;
  /** The CA's private key; signs on Node's crypto. */
  caKey: KeyObject;
  revoked: Array<{ serial: string; revokedAt: Date; reason: RevocationReason }>;
  /** cRLNumber (RFC 5280 §5.2.3): monotonically increasing. */
  crlNumber: bigint;
  /** thisUpdate. @default now */
  thisUpdate?: Date;
  /** nextUpdate (RFC 5280 §5.1.2.5). */
  nextUpdate: Date;
}

const toArrayBuffer = (u: Uint8Array): ArrayBuffer => u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §5.1.2.4). */
function time(d: Date): pkijs.Time {
  return new pkijs.Time({ type: d.getUTCFullYear() < 2050 ? 0 : 1, value: d });
}

function extension(oid: string, value: asn1js.BaseBlock): pkijs.Extension {
  return new pkijs.Extension({ extnID: oid, critical: false, extnValue: value.toBER(false) });
}

/**
 * Builds and signs a v2 CRL:
 *
 *   CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
 *   TBSCertList ::= SEQUENCE { version v2, signature, issuer, thisUpdate, nextUpdate,
 *                              revokedCertificates SEQUENCE OF SEQUENCE { userCertificate,
 *                              revocationDate, crlEntryExtensions { reasonCode } } OPTIONAL,
 *                              crlExtensions [0] { authorityKeyIdentifier, cRLNumber } }
 *
 * The reason code entry extension is left out for `unspecified` (RFC 5280 §5.3.1 says SHOULD).
 * Returns DER.
 */
export async function buildCrl(input: CrlInput): Promise<Uint8Array> {
  const ca = pkijs.Certificate.fromBER(toArrayBuffer(input.caCertificate));
  const alg = signingAlgorithmFor(input.caKey);
  const algId = new pkijs.AlgorithmIdentifier({ schema: asn1js.fromBER(toArrayBuffer(alg.algorithmIdentifier)).result });
  const crlExtensions: pkijs.Extension[] = [];
  const ski = ca.extensions?.find((e) => e.extnID === '2.5.29.14');
  if (ski) {
    // RFC 5280 §5.2.1: conforming CAs MUST include the AKI in CRLs.
    const keyId = asn1js.fromBER(ski.extnValue.valueBlock.valueHexView).result as asn1js.OctetString;
    crlExtensions.push(extension('2.5.29.35', new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: keyId.valueBlock.valueHexView }) }).toSchema()));
  }
  crlExtensions.push(extension('2.5.29.20', asn1js.Integer.fromBigInt(input.crlNumber)));
  const revokedCertificates = input.revoked.map((r) => {
    const entry = new pkijs.RevokedCertificate({
      userCertificate: asn1js.Integer.fromBigInt(BigInt('0x' + r.serial)),
      revocationDate: time(r.revokedAt),
    });
    if (r.reason !== 'unspecified') {
      entry.crlEntryExtensions = new pkijs.Extensions({ extensions: [extension('2.5.29.21', new asn1js.Enumerated({ value: REASON_CODES[r.reason] }))] });
    }
    return entry;
  });
  const crl = new pkijs.CertificateRevocationList({
    version: 1,
    signature: algId,
    issuer: ca.subject,
    thisUpdate: time(input.thisUpdate ?? new Date()),
    nextUpdate: time(input.nextUpdate),
    crlExtensions: new pkijs.Extensions({ extensions: crlExtensions }),
    signatureAlgorithm: algId,
  });
  if (revokedCertificates.length) crl.revokedCertificates = revokedCertificates;
  const unsigned = crl.toSchema(true) as asn1js.Sequence; // true: encode the TBS from the fields
  const tbs = new Uint8Array(unsigned.valueBlock.value[0]!.toBER(false));
  const signature = await signData(alg.params, tbs, input.caKey);
  crl.tbsView = tbs;
  crl.signatureValue = new asn1js.BitString({ valueHex: toArrayBuffer(signature) });
  return new Uint8Array((crl.toSchema(false) as asn1js.Sequence).toBER(false)); // false: the TBS as signed
}
