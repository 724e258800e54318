// 200 enrollments in parallel: 200 distinct serials and a serial file that ends at the last one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { TestPki, openssl } from '../helpers/pki.js';
import { b64lines, fetchRaw } from '../helpers/http.js';
import { startEstServer, type Running } from '../helpers/servers.js';
import { decodeCertsOnly } from '../../lib/protocol/pkcs7.js';
import { parseCertificate } from '../../lib/protocol/x509.js';

const pki = new TestPki();
const ca = pki.ca('p256');
const serverCert = pki.serverCert(ca);
const client = pki.clientCert(ca);
let srv: Running;

before(async () => {
  writeFileSync(ca.serial, '1000\n'); // as nginx-http-est would have left it
  srv = await startEstServer(pki, { ca: ca.cert, serverCert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial });
});
after(async () => {
  await srv.close();
  pki.cleanup();
});

describe('concurrent enrollment', () => {
  it('200 parallel enrollments get 200 distinct serials; the file continues the module\'s and ends at the last', async () => {
    const body = b64lines(pki.csr({ keySpec: 'p256' }).der);
    const agent = new Agent({ keepAlive: true, maxSockets: 32, cert: readFileSync(client.cert), key: readFileSync(client.key), rejectUnauthorized: false });
    const results = await Promise.all(
      Array.from({ length: 200 }, () =>
        fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10' }, body, agent }),
      ),
    );
    agent.destroy();
    const serials = results.map((r) => {
      assert.equal(r.status, 200, r.text);
      const der = decodeCertsOnly(Buffer.from(r.text.replace(/\s/g, ''), 'base64'))[0]!;
      return parseCertificate(der).serial;
    });
    assert.equal(new Set(serials).size, 200);
    const sorted = [...serials].sort((a, b) => (a < b ? -1 : 1));
    assert.equal(sorted[0], 0x1001n);
    assert.equal(sorted[199], 0x1000n + 200n, 'no gap, no reuse');
    const file = readFileSync(ca.serial, 'latin1');
    assert.match(file, /^([0-9A-F]{2})+\n$/);
    assert.equal(BigInt('0x' + file.trim()), sorted[199]);
    // openssl agrees with our parser on one of them.
    const pem = openssl(['pkcs7', '-inform', 'DER', '-print_certs'], Buffer.from(results[0]!.text.replace(/\s/g, ''), 'base64')).toString();
    assert.match(openssl(['x509', '-noout', '-serial'], pem).toString(), /^serial=10[0-9A-F]{2}\n$/);
  });
});
