// The ledger on the request path, over real HTTPS: record before respond, 503 when it cannot, re-enrollment asks the store.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer, type Server } from 'node:http';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmdirSync, writeFileSync } from 'node:fs';
import { est, EstConfigError } from '../../lib/index.js';
import { defaultIndexPath } from '../../lib/store/file-store.js';
import { openStore } from '../../lib/store/admin.js';
import { main as admin } from '../../lib/cli/est-admin.js';
import { basic, b64lines, fetchRaw } from '../helpers/http.js';
import { pkcs7Certs, TestPki } from '../helpers/pki.js';
import { startEstServer, type Running } from '../helpers/servers.js';

const pki = new TestPki();
const ca = pki.ca('p256');
const serverCert = pki.serverCert(ca);
let backend: Server;
let authUrl: string;

before(async () => {
  // An auth backend that names the user it authenticated (X-EST-User), like a real one might.
  backend = createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    const [user, pass] = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString().split(':');
    if (pass === 'secret') res.writeHead(200, { 'X-EST-User': `${user}@example`, 'Content-Length': '0' }).end();
    else res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="t"', 'Content-Length': '0' }).end();
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  authUrl = `http://127.0.0.1:${(backend.address() as { port: number }).port}/auth`;
});
after(async () => {
  backend.closeAllConnections();
  await new Promise<void>((r) => backend.close(() => r()));
  pki.cleanup();
});

const csrBody = (subject = '/CN=ledger-device/O=Demo Devices') => b64lines(pki.csr({ subject }).der);
const userHeaders = { 'Content-Type': 'application/pkcs10', Authorization: basic('alice', 'secret') };

describe('ledger on the request path (embedded store)', () => {
  let srv: Running & { middleware: import('../../lib/index.js').EstMiddleware };
  const errors: Array<{ obj: object; msg?: string }> = [];
  const logger = { info() {}, warn() {}, debug() {}, error: (obj: object, msg?: string) => void errors.push({ obj, msg }) };

  before(async () => {
    srv = await startEstServer(pki, { ca: ca.cert, serverCert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, authRequest: authUrl, logger });
  });
  after(async () => srv.close());

  test('each certificate is in index.txt and the ledger before it is returned, with the X-EST-User name; revoked ones cannot re-enroll', async () => {
    const r = await fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers: { ...userHeaders, 'X-Request-Id': 'req-ledger-1' }, body: csrBody() });
    assert.equal(r.status, 200, r.text);
    const pem = pkcs7Certs(r.body);
    const serial = new X509Certificate(pem).serialNumber.toUpperCase();
    const index = readFileSync(defaultIndexPath(ca.serial), 'utf8');
    assert.match(index, new RegExp(`^V\\t\\d{12}Z\\t\\t${serial}\\tunknown\\t/CN=ledger-device/O=Demo Devices$`, 'm'));
    const store = await openStore({ serialFile: ca.serial });
    try {
      const rec = await store.get(serial);
      assert.equal(rec?.requester.method, 'auth-request');
      assert.equal(rec?.requester.user, 'alice@example');
      assert.equal(rec?.requestId, 'req-ledger-1');
      assert.equal(rec?.operation, 'simpleenroll');
      assert.equal(rec?.peerAddress, '127.0.0.1');
      assert.equal(Buffer.from(rec!.certificate).toString('base64'), new X509Certificate(pem).raw.toString('base64'));
    } finally {
      await store.close();
    }

    // Re-enroll with it (TLS client certificate), then revoke it and try again.
    const csr2 = pki.csr({ subject: '/CN=ledger-device/O=Demo Devices' });
    const issued = await fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers: userHeaders, body: b64lines(csr2.der) });
    const devPem = pkcs7Certs(issued.body);
    const devCert = pki.write('dev.crt', devPem);
    const renew = await fetchRaw(`${srv.url}/simplereenroll`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10' }, body: b64lines(csr2.der), cert: devCert, key: csr2.key });
    assert.equal(renew.status, 200, renew.text);
    const renewedSerial = new X509Certificate(pkcs7Certs(renew.body)).serialNumber.toUpperCase();
    const s2 = await openStore({ serialFile: ca.serial });
    try {
      const rec = await s2.get(renewedSerial);
      assert.equal(rec?.operation, 'simplereenroll');
      assert.equal(rec?.requester.method, 'certificate');
      assert.equal(rec?.requester.certificateSerial, new X509Certificate(devPem).serialNumber.toUpperCase());
      assert.match(rec?.requester.certificateSubject ?? '', /CN=ledger-device/);
    } finally {
      await s2.close();
    }
    const devSerial = new X509Certificate(devPem).serialNumber.toUpperCase();
    const out: string[] = [];
    assert.equal(await admin(['revoke', devSerial, '--reason', 'keyCompromise', '--serial-file', ca.serial], { out: (s) => void out.push(s), err: (s) => void out.push(s) }), 0, out.join(''));
    const refused = await fetchRaw(`${srv.url}/simplereenroll`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10' }, body: b64lines(csr2.der), cert: devCert, key: csr2.key });
    assert.equal(refused.status, 403);
    assert.equal(refused.text.trimEnd(), `the client certificate (serial ${devSerial}) has been revoked`);
    // A revoked certificate no longer authenticates any enrollment, and nothing is issued for it.
    const before = (await fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers: userHeaders, body: b64lines(pki.csr({ subject: '/CN=probe' }).der) })).status;
    assert.equal(before, 200);
    for (const op of ['simpleenroll', 'serverkeygen']) {
      const other = pki.csr({ subject: '/CN=other-device/O=Demo Devices' });
      const r = await fetchRaw(`${srv.url}/${op}`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10' }, body: b64lines(other.der), cert: devCert, key: csr2.key });
      assert.equal(r.status, 403, `${op}: ${r.status} ${r.text}`);
      assert.equal(r.text.trimEnd(), `the client certificate (serial ${devSerial}) has been revoked`);
    }
  });

  test('a client certificate the ledger never issued may re-enroll with the implicit ledger (it may predate it)', async () => {
    const old = pki.clientCert(ca, { subject: '/CN=pre-ledger/O=Demo Devices' });
    const csr = pki.csr({ key: old.key, subject: '/CN=pre-ledger/O=Demo Devices' });
    const r = await fetchRaw(`${srv.url}/simplereenroll`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10' }, body: b64lines(csr.der), cert: old.cert, key: old.key });
    assert.equal(r.status, 200, r.text);
  });

  test('when the record cannot be written: 503 with Retry-After, an error log line, no certificate', async () => {
    const index = defaultIndexPath(ca.serial);
    renameSync(index, index + '.moved');
    mkdirSync(index); // index.txt is now a directory: reading and appending fail
    try {
      errors.length = 0;
      const r = await fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers: userHeaders, body: csrBody('/CN=unrecorded') });
      assert.equal(r.status, 503);
      assert.equal(r.headers['retry-after'], '5');
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
      assert.match(r.text, /^the certificate could not be recorded; retry later\r?\n?$/);
      assert.doesNotMatch(r.text, /BEGIN|MII/);
      assert.ok(errors.some((e) => /the certificate could not be recorded: record store .*index\.txt: cannot be read/.test(e.msg ?? '')), JSON.stringify(errors.map((e) => e.msg)));
      // /readyz (est-server) asks the same store.
      await assert.rejects(srv.middleware.checkStore(), (e: Error & { code?: string }) => e.code === 'ERR_EST_STORE_UNAVAILABLE');
    } finally {
      rmdirSync(index);
      renameSync(index + '.moved', index);
    }
    // Back to normal without a restart.
    await new Promise((r) => setTimeout(r, 1100));
    const ok = await fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers: userHeaders, body: csrBody('/CN=recorded-again') });
    assert.equal(ok.status, 200, ok.text);
    await srv.middleware.checkStore();
  });
});

describe('ledger options', () => {
  test('with an explicit caIndex, a certificate the ledger never issued cannot re-enroll', async () => {
    const ca2 = pki.ca('p256');
    const srv = await startEstServer(pki, { ca: ca2.cert, serverCert, clientCa: ca2.cert }, { caRootCertificate: ca2.cert, caPrivateKey: ca2.key, caSerialNumber: ca2.serial, caIndex: pki.path('explicit-index.txt') });
    try {
      const old = pki.clientCert(ca2, { subject: '/CN=stranger/O=Demo Devices' });
      const csr = pki.csr({ key: old.key, subject: '/CN=stranger/O=Demo Devices' });
      const r = await fetchRaw(`${srv.url}/simplereenroll`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10' }, body: b64lines(csr.der), cert: old.cert, key: old.key });
      assert.equal(r.status, 403);
      assert.match(r.text, /^the client certificate \(serial [0-9A-F]+\) was not issued by this CA/);
    } finally {
      await srv.close();
    }
  });

  test('bad store values fail at start-up naming the option', async () => {
    const base = { caRootCertificate: ca.cert, caPrivateKey: ca.key };
    assert.throws(() => est({ ...base, store: 'mysql://db/x' }), (e: EstConfigError) => e.code === 'ERR_EST_CONFIG' && e.message === 'est: `store` must be a postgres:// URL (got mysql://…)');
    assert.throws(() => est({ ...base, store: 'not a url' }), (e: EstConfigError) => e.message === 'est: `store` is not a URL');
    assert.throws(() => est({ ...base, store: { record() {} } as never }), (e: EstConfigError) => /^est: `store` must be a postgres:\/\/ URL, a pg.Pool or a RecordStore \(missing nextSerials, get/.test(e.message));
    assert.throws(() => est({ ...base, caSerialNumber: ca.serial, store: 'postgres://u@127.0.0.1/x' }), (e: EstConfigError) => /`caSerialNumber` \(est_ca_serial_number\) cannot be combined with `store`/.test(e.message));
    assert.throws(() => est({ ...base, caIndex: '/tmp/x', store: false }), (e: EstConfigError) => e.message === 'est: `caIndex` is for the embedded store only (not with `store: false`)');
    const unreachable = est({ ...base, serialMode: 'random', store: 'postgres://postgres@127.0.0.1:1/est' });
    await assert.rejects(unreachable.ready(), (e: EstConfigError) => e.code === 'ERR_EST_CONFIG' && /^est: `store`: cannot reach postgres:\/\/postgres@127\.0\.0\.1:1\/est/.test(e.message));
    await unreachable.close();
    // A corrupt index.txt: refused with file:line, naming caIndex.
    const ca3 = pki.ca('p256');
    writeFileSync(defaultIndexPath(ca3.serial), 'V\t300101000000Z\t\t0A\tunknown\t/CN=a\ngarbage\n');
    assert.throws(() => est({ caRootCertificate: ca3.cert, caPrivateKey: ca3.key }), (e: EstConfigError) => e.code === 'ERR_EST_CONFIG' && e.message === `est: \`caIndex\`: ${defaultIndexPath(ca3.serial)}:2: expected 6 tab-separated fields, found 1`);
  });
});

