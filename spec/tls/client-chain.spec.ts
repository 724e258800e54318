// Client chains over Node TLS: a leaf under an intermediate authenticates when the client presents the intermediate; chains past the bounds do not.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { TestPki, openssl } from '../helpers/pki.js';
import { b64lines, fetchRaw } from '../helpers/http.js';
import { startEstServer, type Running } from '../helpers/servers.js';

const pki = new TestPki();
const root = pki.ca('p256', '/CN=Chain Root/O=express-est tests');
const serverCert = pki.serverCert(root);

/** A CA certificate signed by `issuer`. */
function intermediate(issuer: { cert: string; key: string }, subject: string): { cert: string; key: string } {
  const c = pki.csr({ keySpec: 'p256', subject });
  const cert = pki.path(`int-${Math.random().toString(36).slice(2)}.crt`);
  const ext = pki.write(`int-${Math.random().toString(36).slice(2)}.cnf`, 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
  openssl(['x509', '-req', '-in', c.path, '-CA', issuer.cert, '-CAkey', issuer.key, '-CAcreateserial', '-days', '30', '-out', cert, '-extfile', ext]);
  return { cert, key: c.key };
}

let srv: Running;
before(async () => {
  srv = await startEstServer(pki, { ca: root.cert, serverCert }, { caRootCertificate: root.cert, caPrivateKey: root.key, caSerialNumber: root.serial });
});
after(async () => {
  await srv.close();
  pki.cleanup();
});

const enroll = (cert: string, key: string) =>
  fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10' }, body: b64lines(pki.csr().der), cert, key });

describe('client certificate chains (direct TLS)', () => {
  it('a leaf under an intermediate, presented with it, authenticates; without it, does not', async () => {
    const mid = intermediate(root, '/CN=Chain Intermediate');
    const leaf = pki.clientCert(mid);
    const withChain = pki.write('leaf-with-chain.pem', readFileSync(leaf.cert, 'latin1') + readFileSync(mid.cert, 'latin1'));
    const ok = await enroll(withChain, leaf.key);
    assert.equal(ok.status, 200, ok.text);
    const alone = await enroll(leaf.cert, leaf.key);
    assert.equal(alone.status, 401);
  });

  it('a valid chain deeper than 8 certificates is refused before verification', async () => {
    let issuer: { cert: string; key: string } = root;
    const chain: string[] = [];
    for (let i = 0; i < 8; i++) {
      issuer = intermediate(issuer, `/CN=Level ${i}`);
      chain.unshift(readFileSync(issuer.cert, 'latin1'));
    }
    const leaf = pki.clientCert(issuer);
    const file = pki.path('deep.pem');
    writeFileSync(file, readFileSync(leaf.cert, 'latin1') + chain.join(''));
    const r = await enroll(file, leaf.key);
    assert.equal(r.status, 401, 'leaf + 8 intermediates = 9 certificates: over the bound');
  });
});
