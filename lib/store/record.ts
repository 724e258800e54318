// A CertificateRecord built from an issued certificate's DER and who asked for it.
import type { IssuingOperation } from '../ca/types.js';
import { Oid } from '../protocol/constants.js';
import { children, content, readWhole, Tag, type Tlv } from '../protocol/der.js';
import { formatName } from '../protocol/name.js';
import { findExtension, parseCertificate } from '../protocol/x509.js';
import type { CertificateRecord, Requester } from './types.js';
import { serialText } from './openssl-index.js';

/** Formats an iPAddress GeneralName (4 or 16 octets; 8/32 with a mask in name constraints). */
function ipText(b: Uint8Array): string {
  if (b.length === 4) return [...b].join('.');
  if (b.length === 16) {
    const words: string[] = [];
    for (let i = 0; i < 16; i += 2) words.push(((b[i]! << 8) | b[i + 1]!).toString(16));
    // RFC 5952 §4.2: the longest run of two or more zero words becomes `::`.
    let best = -1;
    let bestLen = 1;
    for (let i = 0; i < 8; ) {
      let j = i;
      while (j < 8 && words[j] === '0') j++;
      if (j - i > bestLen) [best, bestLen] = [i, j - i];
      i = j === i ? i + 1 : j;
    }
    if (best < 0) return words.join(':');
    return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
  }
  return Buffer.from(b).toString('hex');
}

/**
 * SubjectAltName as text: `DNS:`, `IP:`, `email:`, `URI:`; other GeneralName forms as
 * `othername:<tag>` (RFC 5280 §4.2.1.6).
 */
export function sanTexts(extValue: Uint8Array): string[] {
  const out: string[] = [];
  for (const gn of children(readWhole(extValue, Tag.sequence, 'subjectAltName'))) {
    const n = gn.tag & 0x1f;
    const c = (t: Tlv) => Buffer.from(content(t)).toString('latin1');
    if (n === 2) out.push(`DNS:${c(gn)}`);
    else if (n === 1) out.push(`email:${c(gn)}`);
    else if (n === 6) out.push(`URI:${c(gn)}`);
    else if (n === 7) out.push(`IP:${ipText(content(gn))}`);
    else out.push(`othername:[${n}]`);
  }
  return out;
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

/** Builds the record of a certificate from its DER (serial, subject, SANs, validity, issuer) and `ctx`. */
export function recordOf(certificate: Uint8Array, ctx: IssuanceContext): CertificateRecord {
  const c = parseCertificate(certificate);
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
    issuer: formatName(readWhole(c.issuerDer)),
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
