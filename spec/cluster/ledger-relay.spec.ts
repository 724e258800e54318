// est-server --workers: one writer for index.txt. The workers hand their records to the primary,
// which appends them; every certificate still has its line before it is returned.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Worker } from 'node:cluster';
import { after, describe, it } from 'node:test';
import { LedgerRelayServer } from '../../lib/store/ledger-relay.js';
import { defaultIndexPath } from '../../lib/store/file-store.js';
import { parseIndexLine } from '../../lib/store/openssl-index.js';
import { basic, b64lines, fetchRaw } from '../helpers/http.js';
import { openssl, pkcs7Certs, TestPki } from '../helpers/pki.js';
import { spawnEstServer } from '../helpers/est-server-process.js';
import { issuer } from '../store/issue.js';
import type { CertificateRecord, RecordStore } from '../../lib/store/types.js';

const pki = new TestPki();
after(() => pki.cleanup());

describe('est-server --workers 2 with the embedded ledger', () => {
  it('the primary appends every worker’s records: one index line per certificate, serials distinct, each line there before the answer', async () => {
    const ca = pki.ca('p256');
    const auth: Server = createServer((req, res) => res.writeHead(req.headers.authorization === basic('dev', 'pw') ? 200 : 401).end());
    await new Promise<void>((r) => auth.listen(0, '127.0.0.1', () => r()));
    const config = pki.write(
      'relay.json',
      JSON.stringify({
        host: '127.0.0.1',
        port: 0,
        caRootCertificate: ca.cert,
        caPrivateKey: ca.key,
        caSerialNumber: ca.serial,
        serialLease: 8,
        authRequest: `http://127.0.0.1:${(auth.address() as { port: number }).port}/auth`,
      }),
    );
    const server = await spawnEstServer([config, '--workers', '2', '--log-level', 'info'], pki.dir);
    const index = defaultIndexPath(ca.serial);
    try {
      const csrs = Array.from({ length: 6 }, (_, i) => b64lines(pki.csr({ subject: `/CN=relay-${i}` }).der));
      const url = `http://127.0.0.1:${server.port}/.well-known/est/simpleenroll`;
      // 120 enrollments on fresh connections, so both workers take some. At each answer index.txt is read
      // (a quick read); the serials are taken out with openssl only afterwards, because a synchronous
      // openssl here would stall this process, which is also the auth backend the workers are waiting on.
      const answers = await Promise.all(
        Array.from({ length: 120 }, async (_, i) => {
          const r = await fetchRaw(url, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10', Authorization: basic('dev', 'pw') }, body: csrs[i % csrs.length]! });
          assert.equal(r.status, 200, r.text);
          return { body: r.text, indexThen: readFileSync(index, 'utf8') };
        }),
      );
      const serials: string[] = [];
      for (const { body, indexThen } of answers) {
        const serial = openssl(['x509', '-noout', '-serial'], pkcs7Certs(body)).toString().trim().replace(/^serial=/, '');
        const keys = indexThen.trimEnd().split('\n').map((l) => (parseIndexLine(l) as { serial: string }).serial);
        assert.ok(keys.includes(serial.replace(/^0+(?=.)/, '')) || keys.includes(serial), `serial ${serial} is in index.txt when the certificate is returned`);
        serials.push(serial);
      }
      assert.equal(new Set(serials).size, 120);
      const lines = readFileSync(index, 'utf8').trimEnd().split('\n');
      assert.equal(lines.length, 120);
      assert.equal(readFileSync(`${index}.ledger`, 'utf8').trimEnd().split('\n').length, 120);
      const requestIds = new Set(readFileSync(`${index}.ledger`, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l.split('\t')[2]!).requestId as string));
      assert.equal(requestIds.size, 120, 'every record keeps its own request id');
      assert.match(server.log(), /the primary appends every worker's new records to .*index\.txt/);
    } finally {
      server.child.kill('SIGTERM');
      await new Promise((r) => server.child.once('exit', r));
      auth.close();
    }
  });
});

describe('LedgerRelayServer (the primary’s side)', () => {
  /** A stand-in for a cluster worker: what the primary sends it is kept. */
  function fakeWorker(): { worker: Worker; replies: Array<{ id: number; error?: { code: string; status: number } }> } {
    const replies: Array<{ id: number; error?: { code: string; status: number } }> = [];
    const worker = { isConnected: () => true, send: (m: { id: number; error?: { code: string; status: number } }) => replies.push(m) } as unknown as Worker;
    return { worker, replies };
  }

  async function waitFor(n: number, replies: unknown[]): Promise<void> {
    for (let i = 0; i < 200 && replies.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  }

  it('appends what a worker sends and answers once durable; a serial written twice is refused; other messages are left alone', async () => {
    const ca = pki.ca('p256');
    const index = defaultIndexPath(ca.serial);
    const relay = new LedgerRelayServer();
    const { worker, replies } = fakeWorker();
    // Records as a worker's store would send them: certificates from the file CA, recorded into a capture.
    const sent: CertificateRecord[] = [];
    let next = 0x1000n;
    const capture = { nextSerials: async (n: number) => Array.from({ length: n }, () => next++), record: async (r: CertificateRecord) => void sent.push(r) } as unknown as RecordStore;
    const issue = issuer(pki, ca, capture);
    const made: string[] = [];
    for (let i = 0; i < 3; i++) made.push((await issue(`/CN=wire-${i}`)).serial);
    const wire = sent.map((r) => ({ ...r, notBefore: r.notBefore.toISOString(), notAfter: r.notAfter.toISOString(), issuedAt: r.issuedAt.toISOString(), certificate: Buffer.from(r.certificate).toString('base64') }));
    assert.equal(relay.handle(worker, { type: 'est-listening', port: 1 }), false);
    assert.equal(relay.handle(worker, { type: 'est-ledger', id: 1, index, lock: `${ca.serial}.lock`, records: wire }), true);
    await waitFor(1, replies);
    assert.deepEqual(replies[0], { type: 'est-ledger-done', id: 1 });
    const text = readFileSync(index, 'utf8');
    for (const serial of made) assert.ok(text.includes(`\t${serial}\t`), `${serial} appended`);
    relay.handle(worker, { type: 'est-ledger', id: 2, index, lock: `${ca.serial}.lock`, records: wire.slice(0, 1) });
    await waitFor(2, replies);
    assert.equal(replies[1]!.error?.code, 'ERR_EST_STORE_DUPLICATE');
    await relay.close();
  });
});
