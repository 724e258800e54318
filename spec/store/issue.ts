// Spec helper: issue certificates with the file CA into a record store, as the request path does.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FileCertificateAuthority } from '../../lib/ca/file-ca.js';
import { parseCsr } from '../../lib/protocol/pkcs10.js';
import { recordOf } from '../../lib/store/record.js';
import type { RecordStore } from '../../lib/store/types.js';
import type { TestPki } from '../helpers/pki.js';

/** A file CA whose serials come from `store`, and a function that issues + records one certificate. */
export function issuer(pki: TestPki, ca: { cert: string; key: string }, store: RecordStore) {
  const caCert = new X509Certificate(readFileSync(ca.cert));
  const fileCa = new FileCertificateAuthority({
    certificate: new Uint8Array(caCert.raw),
    chain: [],
    privateKey: createPrivateKey(readFileSync(ca.key)),
    serialStore: { next: (n) => store.nextSerials(n) },
    validityDays: 30,
  });
  const csrs = new Map<string, ReturnType<typeof parseCsr>>();
  return async (subject = '/CN=device-1/O=Demo Devices', label?: string): Promise<{ der: Uint8Array; pem: string; serial: string; path: string }> => {
    let csr = csrs.get(subject);
    if (!csr) {
      csr = parseCsr(new Uint8Array(pki.csr({ subject, exts: ['subjectAltName=DNS:dev.example,IP:192.0.2.9'] }).der));
      csrs.set(subject, csr);
    }
    const der = await fileCa.enroll({ operation: 'simpleenroll', csr, spkiDer: csr.spkiDer, authenticatedBy: 'auth-request', peerAddress: '192.0.2.7', ...(label ? { label } : {}) });
    const rec = recordOf(der, { operation: 'simpleenroll', requester: { method: 'auth-request', user: 'estuser' }, peerAddress: '192.0.2.7', requestId: 'req-1', ...(label ? { label } : {}) });
    await store.record(rec);
    const pem = new X509Certificate(der).toString();
    const path = pki.write(`cert-${rec.serial}.pem`, pem);
    return { der, pem, serial: rec.serial, path };
  };
}
