// est-server --workers: every worker appends its own records to index.txt under the serial file's
// lock; every certificate has its line before it is returned, and no two lines share a serial.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { after, describe, it } from 'node:test';
import { defaultIndexPath } from '../../lib/store/file-store.js';
import { parseIndexLine } from '../../lib/store/openssl-index.js';
import { basic, b64lines, fetchRaw } from '../helpers/http.js';
import { openssl, pkcs7Certs, TestPki } from '../helpers/pki.js';
import { spawnEstServer } from '../helpers/est-server-process.js';

const pki = new TestPki();
after(() => pki.cleanup());

describe('est-server --workers 2 with the embedded ledger', () => {
  it('both workers append their records: one index line per certificate, serials distinct, each line there before the answer', async () => {
    const ca = pki.ca('p256');
    const auth: Server = createServer((req, res) => res.writeHead(req.headers.authorization === basic('dev', 'pw') ? 200 : 401).end());
    await new Promise<void>((r) => auth.listen(0, '127.0.0.1', () => r()));
    const config = pki.write(
      'workers.json',
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
      const csrs = Array.from({ length: 6 }, (_, i) => b64lines(pki.csr({ subject: `/CN=worker-${i}` }).der));
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
      const issuingPids = new Set([...server.log().matchAll(/"pid":(\d+)[^\n]*"serial":/g)].map((m) => m[1]));
      assert.equal(issuingPids.size, 2, 'both workers issued and wrote index.txt');
    } finally {
      server.child.kill('SIGTERM');
      await new Promise((r) => server.child.once('exit', r));
      auth.close();
    }
  });
});
