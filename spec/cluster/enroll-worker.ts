// Child process for the multi-process specs: enrolls one CSR `count` times through the file CA on a shared serial file.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FileCertificateAuthority } from '../../lib/ca/file-ca.js';
import { LeasedSerialStore } from '../../lib/ca/leased-serial-store.js';
import { FileSerialStore } from '../../lib/ca/serial-file-store.js';
import { parseCsr } from '../../lib/protocol/pkcs10.js';
import { parseCertificate } from '../../lib/protocol/x509.js';

const [serialPath, countText, startAt, caCert, caKey, csrDer, leaseText] = process.argv.slice(2);
const lease = Number(leaseText ?? 1);
const file = new FileSerialStore(serialPath!);
const serialStore = lease > 1 ? new LeasedSerialStore(file, { lease }) : file;
const ca = new FileCertificateAuthority({
  certificate: new Uint8Array(new X509Certificate(readFileSync(caCert!)).raw),
  chain: [],
  privateKey: createPrivateKey(readFileSync(caKey!)),
  serialStore,
  validityDays: 30,
});
const csr = parseCsr(readFileSync(csrDer!));
const request = { operation: 'simpleenroll' as const, csr, spkiDer: csr.spkiDer, authenticatedBy: 'certificate' as const, peerAddress: '127.0.0.1' };
const total = Number(countText);
const out: string[] = [];
// Both processes start at the same instant so that they really contend for the serial file.
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
let started = 0;
await Promise.all(
  Array.from({ length: 32 }, async () => {
    while (started++ < total) out.push(parseCertificate(await ca.enroll(request)).serial.toString(16));
  }),
);
await serialStore.close?.();
process.stdout.write(out.join('\n') + '\n');
