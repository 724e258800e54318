// Output files: PEM text of certificates and keys, written by files/atomic-write.ts (keys at 0600).
import type { KeyObject, X509Certificate } from 'node:crypto';
import { toPem } from '../protocol/pem.js';

/** Certificates as concatenated PEM blocks. */
export function certificatesPem(certs: readonly X509Certificate[]): string {
  return certs.map((c) => toPem(new Uint8Array(c.raw), 'CERTIFICATE')).join('');
}

/** A private key as PKCS#8 PEM. */
export function privateKeyPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }) as string;
}
