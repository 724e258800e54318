// cryptoThreads: CSR verification and certificate signing on worker threads, or (0) on libuv's pool; same answers either way.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { est, EstConfigError } from '../../lib/index.js';
import { cryptoPoolStats } from '../../lib/protocol/crypto-pool.js';
import { b64lines, fetchRaw } from '../helpers/http.js';
import { pkcs7Certs, TestPki, verifyCert, type KeySpec } from '../helpers/pki.js';
import { startEstServer } from '../helpers/servers.js';

const pki = new TestPki();
const ca = pki.ca('p256');
const serverCert = pki.serverCert(ca);
const client = pki.clientCert(ca);
after(() => pki.cleanup());

/** A CSR whose signature does not verify: the last byte of the signature flipped. */
function badSignature(der: Buffer): Buffer {
  const out = Buffer.from(der);
  out[out.length - 1]! ^= 0x01;
  return out;
}

describe('cryptoThreads', () => {
  for (const threads of [0, 2]) {
    it(`${threads === 0 ? '0: Node callback crypto' : `${threads} threads`}: RSA, RSA-PSS, P-384 and Ed25519 CSRs enroll (openssl verify), a bad signature is a 400, ${threads ? 'and the work ran on the threads' : 'and no thread was used'}`, async () => {
      const srv = await startEstServer(pki, { ca: ca.cert, serverCert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, cryptoThreads: threads });
      try {
        const before = cryptoPoolStats().jobs;
        const post = (der: Buffer) => fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10' }, body: b64lines(der), cert: client.cert, key: client.key });
        const specs: KeySpec[] = ['rsa2048', 'rsa-pss', 'p384', 'ed25519'];
        for (const keySpec of specs) {
          const r = await post(pki.csr({ keySpec, subject: `/CN=threads-${threads}-${keySpec}` }).der);
          assert.equal(r.status, 200, `${keySpec}: ${r.text}`);
          assert.match(verifyCert(ca.cert, pkcs7Certs(r.body), pki.dir), /OK/);
        }
        const bad = await post(badSignature(pki.csr({ subject: '/CN=bad-signature' }).der));
        assert.equal(bad.status, 400);
        assert.match(bad.text, /CSR signature does not verify/);
        const jobs = cryptoPoolStats().jobs - before;
        // Each enrollment: one verification and one signature; the refused CSR: one verification.
        if (threads) assert.equal(jobs, 2 * specs.length + 1);
        else assert.equal(jobs, 0);
      } finally {
        await srv.close();
      }
    });
  }

  it('rejects a bad value naming the option', () => {
    for (const v of [-1, 1.5, 65, '2']) {
      assert.throws(() => est({ caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, cryptoThreads: v as number }), (e: unknown) => e instanceof EstConfigError && e.message === `est: \`cryptoThreads\` must be an integer from 0 to 64 (got ${JSON.stringify(v)})`);
    }
  });
});
