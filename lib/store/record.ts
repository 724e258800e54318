// A CertificateRecord built from an issued certificate's DER and who asked for it.
import type { IssuingOperation } from '../ca/types.js';
import { Oid } from '../protocol/constants.js';
import { readWhole } from '../protocol/der.js';
import { formatGeneralNames } from '../protocol/general-names.js';
import { formatName } from '../protocol/name.js';
import { findExtension, parseCertificate } from '../protocol/x509.js';
import type { CertificateRecord, Requester } from './types.js';
import { serialText } from './openssl-index.js';

/** SubjectAltName as text: `DNS:`, `IP:`, `email:`, `URI:`, … (RFC 5280 §4.2.1.6). */
export function sanTexts(extValue: Uint8Array): string[] {
  return formatGeneralNames(extValue);
}

/** What the request path knows about an issuance, besides the certificate. */
export interface IssuanceContext {
  operation: IssuingOperation;
  label?: string;
  requester: Requester;
  peerAddress: string;
  requestId: string;
  issuedAt?: Date;
}

/**
 * Subject DERs of the certificates recordOf() parsed, so that a store (index.txt's one-line name)
 * does not parse them again; weak, so a certificate's entry goes when the certificate does.
 */
const subjects = new WeakMap<Uint8Array, Uint8Array>();

/** The subject Name DER of a recorded certificate: from recordOf()'s parse, or parsed now. */
export function subjectDerOf(certificate: Uint8Array): Uint8Array {
  return subjects.get(certificate) ?? parseCertificate(certificate).subjectDer;
}

/** The last issuer formatted: a CA signs with one name, so recordOf() formats it once. */
let lastIssuer: { der: Buffer; text: string } | undefined;

function issuerText(der: Uint8Array): string {
  if (lastIssuer?.der.equals(der)) return lastIssuer.text;
  const text = formatName(readWhole(der));
  lastIssuer = { der: Buffer.from(der), text };
  return text;
}

/** Builds the record of a certificate from its DER (serial, subject, SANs, validity, issuer) and `ctx`. */
export function recordOf(certificate: Uint8Array, ctx: IssuanceContext): CertificateRecord {
  const c = parseCertificate(certificate);
  subjects.set(certificate, c.subjectDer);
  const san = findExtension(c.extensions, Oid.subjectAltName);
  let sans: string[] = [];
  try {
    if (san) sans = sanTexts(san.value);
  } catch {
    sans = [];
  }
  const r: CertificateRecord = {
    serial: serialText(c.serial),
    subject: formatName(readWhole(c.subjectDer)),
    sans,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    issuer: issuerText(c.issuerDer),
    operation: ctx.operation,
    requester: ctx.requester,
    peerAddress: ctx.peerAddress,
    requestId: ctx.requestId,
    certificate,
    issuedAt: ctx.issuedAt ?? new Date(),
    status: 'valid',
  };
  if (ctx.label !== undefined) r.label = ctx.label;
  return r;
}
