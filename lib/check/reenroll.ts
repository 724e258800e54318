// Re-enrollment identity rules (RFC 7030 §4.2.2): subject and SAN equal the certificate being renewed.
import { Buffer } from 'node:buffer';
import type { X509Certificate } from 'node:crypto';
import { estError } from '../errors.js';
import { Oid } from '../protocol/constants.js';
import type { ParsedCsr } from '../protocol/pkcs10.js';
import { findExtension, parseCertificate } from '../protocol/x509.js';

/** renew (same key) or rekey (new key), per RFC 7030 §4.2.2. */
export type ReenrollKind = 'renew' | 'rekey';

/**
 * Checks a /simplereenroll CSR against the client certificate being renewed: Subject and
 * SubjectAltName must be identical (DER comparison; both absent matches). Returns renew/rekey.
 */
export function checkReenroll(csr: ParsedCsr, current: X509Certificate | undefined): ReenrollKind {
  if (!current) {
    throw estError('ERR_EST_REENROLL_NO_CERT', 're-enrollment requires the TLS client certificate being renewed');
  }
  const cert = parseCertificate(new Uint8Array(current.raw));
  if (!Buffer.from(cert.subjectDer).equals(Buffer.from(csr.subjectDer))) {
    throw estError('ERR_EST_REENROLL_SUBJECT', 'CSR subject differs from the certificate being renewed (RFC 7030 §4.2.2)');
  }
  const certSan = findExtension(cert.extensions, Oid.subjectAltName)?.value;
  const csrSan = findExtension(csr.extensions, Oid.subjectAltName)?.value;
  const same = certSan === undefined || csrSan === undefined ? certSan === csrSan : Buffer.from(certSan).equals(Buffer.from(csrSan));
  if (!same) {
    throw estError('ERR_EST_REENROLL_SAN', 'CSR subjectAltName differs from the certificate being renewed (RFC 7030 §4.2.2)');
  }
  return Buffer.from(cert.spkiDer).equals(Buffer.from(csr.spkiDer)) ? 'renew' : 'rekey';
}
