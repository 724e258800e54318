// RFC 7030 Appendix A example messages, parsed by our codecs and served/accepted by est().
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCsr } from '../../lib/protocol/pkcs10.js';
import { parseCsrAttrs } from '../../lib/protocol/csrattrs.js';
import { TestPki, openssl } from '../helpers/pki.js';
import { fetchRaw } from '../helpers/http.js';
import { startEstServer, type Running } from '../helpers/servers.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '..', 'fixtures', name), 'latin1');
const a3Csr = fixture('rfc7030-a3-csr.b64'); // RSA-2048, sha1WithRSAEncryption, challengePassword
const a2Attrs = Buffer.from(fixture('rfc7030-a2-csrattrs.b64').replace(/\s/g, ''), 'base64');

const pki = new TestPki();
const ca = pki.ca('p256');
const serverCert = pki.serverCert(ca);
const client = pki.clientCert(ca);
let srv: Running;
let popSrv: Running;
before(async () => {
  srv = await startEstServer(pki, { ca: ca.cert, serverCert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial });
  popSrv = await startEstServer(pki, { ca: ca.cert, serverCert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, pop: true, csrAttrs: a2Attrs });
});
after(async () => {
  await srv.close();
  await popSrv.close();
  pki.cleanup();
});

describe('RFC 7030 Appendix A', () => {
  it('A.3: the example CSR parses, its SHA-1 RSA signature verifies, challengePassword reads back', async () => {
    const csr = parseCsr(Buffer.from(a3Csr.replace(/\s/g, ''), 'base64'));
    assert.equal(csr.challengePassword, '+rrCir/7+EYu50T4');
    assert.equal(csr.subject, 'CN=demostep4 1368141352');
    assert.deepEqual(csr.keyType, { kind: 'rsa', bits: 2048 });
    assert.equal(await csr.verifySignature(), true);
  });
  it('A.3: the example request is enrolled as sent (pop off), and refused with pop on (binding of another session)', async () => {
    const headers = { 'Content-Type': 'application/pkcs10', 'Content-Transfer-Encoding': 'base64' };
    const ok = await fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers, body: a3Csr, ...client });
    assert.equal(ok.status, 200, ok.text);
    const pem = openssl(['pkcs7', '-inform', 'DER', '-print_certs'], Buffer.from(ok.text.replace(/\s/g, ''), 'base64')).toString();
    assert.match(openssl(['x509', '-noout', '-subject'], pem).toString(), /CN = demostep4 1368141352/);
    const refused = await fetchRaw(`${popSrv.url}/simpleenroll`, { method: 'POST', headers, body: a3Csr, ...client });
    assert.equal(refused.status, 400);
    assert.match(refused.text, /(proof-of-possession|required attribute)/);
  });
  it('A.2/§4.5.2: the example CsrAttrs parses and is served unchanged', async () => {
    const items = parseCsrAttrs(a2Attrs);
    assert.equal(items.length, 4);
    assert.deepEqual(items[0], { oid: '1.2.840.113549.1.9.7' });
    const r = await fetchRaw(`${popSrv.url}/csrattrs`);
    assert.equal(r.status, 200);
    assert.deepEqual(Buffer.from(r.text.replace(/\s/g, ''), 'base64'), a2Attrs, 'already names challengePassword: nothing added');
  });
});
