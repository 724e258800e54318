// Whether the ledger has revoked a given certificate (not merely a serial).
import type { X509Certificate } from 'node:crypto';
import type { RecordStore } from './types.js';

/**
 * Whether `store` has `cert` revoked (RFC 5280 §5.3: a revoked certificate no longer vouches for
 * its holder). A record of the same serial with other bytes (another issuer's certificate) does
 * not count; a line `openssl ca -revoke` wrote carries no certificate, and counts.
 */
export async function certificateRevoked(store: RecordStore, cert: X509Certificate): Promise<boolean> {
  const serial = cert.serialNumber.toUpperCase();
  if ((await store.status(serial)) !== 'revoked') return false;
  const r = await store.get(serial);
  return !r || r.certificate.length === 0 || Buffer.from(r.certificate.buffer, r.certificate.byteOffset, r.certificate.byteLength).equals(cert.raw);
}
