// Trusted-proxy headers over real HTTP from distinct loopback addresses: trusted peers give facts, others nothing.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import { est, type EstMiddleware } from '../../lib/index.js';
import { TestPki } from '../helpers/pki.js';
import { basic } from '../helpers/http.js';
import { startAuthBackend } from '../helpers/servers.js';
import { buildCsr } from './pop-client.js';
import { keyOf } from './pop-matrix.js';

const TRUSTED = '127.0.0.2';
const UNTRUSTED = '127.0.0.3';

interface Answer {
  status: number;
  text: string;
}

function post(port: number, from: string, headers: Record<string, string>, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, localAddress: from, method: 'POST', path: '/.well-known/est/simpleenroll', headers: { 'Content-Type': 'application/pkcs10', 'Content-Length': String(body.length), ...headers }, agent: false },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('trusted proxy headers (trustProxy / proxyHeaders)', () => {
  const pki = new TestPki();
  const ca = pki.ca('p256');
  const client = pki.clientCert(ca);
  const leaf = new X509Certificate(readFileSync(client.cert));
  const clientCert = `:${leaf.raw.toString('base64')}:`;
  const issued: Array<Record<string, unknown>> = [];
  let auth: Awaited<ReturnType<typeof startAuthBackend>>;
  let server: Server;
  let mw: EstMiddleware;
  let port = 0;
  const unique = Buffer.from('0123456789ab').toString('base64'); // 12 bytes, as TLS 1.2 tls-unique
  const csr = (challengePassword?: string) => buildCsr(keyOf('p256'), challengePassword === undefined ? {} : { challengePassword }).toString('base64');

  before(async () => {
    auth = await startAuthBackend();
    const logger = { info: (o: object) => issued.push(o as Record<string, unknown>), warn() {}, error() {}, debug() {} };
    mw = est({ caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, authRequest: auth.url, trustProxy: [TRUSTED, '10.0.0.0/8'], proxyHeaders: 'haproxy', pop: true, logger });
    const app = express();
    app.use('/.well-known/est', mw);
    server = await new Promise<Server>((ok) => {
      const s = app.listen(0, '127.0.0.1', () => ok(s));
    });
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
    await mw.close();
    await auth.close();
    pki.cleanup();
  });

  test('from the trusted address: Client-Cert authenticates and X-TLS-Unique is the binding', async () => {
    const res = await post(port, TRUSTED, { 'Client-Cert': clientCert, 'X-TLS-Unique': unique, 'X-TLS-Protocol': 'TLSv1.2' }, csr(unique));
    assert.equal(res.status, 200, res.text);
    assert.equal(issued.filter((e) => e['serial'] !== undefined).at(-1)?.['auth'], 'certificate');
  });

  test('trusted proxy: a Client-Cert with a broken signature is not vouched for by a genuine certificate in Client-Cert-Chain (401, nothing issued)', async () => {
    const raw = Buffer.from(leaf.raw);
    raw[raw.length - 5]! ^= 0x01;
    const n = issued.filter((e) => e['serial'] !== undefined).length;
    const res = await post(port, TRUSTED, { 'Client-Cert': `:${raw.toString('base64')}:`, 'Client-Cert-Chain': `:${raw.toString('base64')}:, ${clientCert}`, 'X-TLS-Unique': unique, 'X-TLS-Protocol': 'TLSv1.2' }, csr(unique));
    assert.equal(res.status, 401, res.text);
    assert.equal(issued.filter((e) => e['serial'] !== undefined).length, n);
  });

  test('from an untrusted address: a spoofed Client-Cert gains nothing (401)', async () => {
    const res = await post(port, UNTRUSTED, { 'Client-Cert': clientCert, 'X-TLS-Unique': unique, 'X-TLS-Protocol': 'TLSv1.2' }, csr(unique));
    assert.equal(res.status, 401);
    assert.equal(res.text, '');
  });

  test('from an untrusted address: a spoofed X-TLS-Unique is no binding, and never reaches authRequest', async () => {
    const seenBefore = auth.seen.length;
    const res = await post(port, UNTRUSTED, { Authorization: basic('estuser', 'estpass'), 'Client-Cert': clientCert, 'X-TLS-Unique': unique, 'X-TLS-Protocol': 'TLSv1.2', 'X-TLS-Exporter-Secret': 'ab'.repeat(32) }, csr(unique));
    assert.equal(res.status, 400);
    assert.match(res.text, /no TLS channel binding .*not a trusted proxy/);
    const forwarded = auth.seen.slice(seenBefore);
    assert.equal(forwarded.length, 1);
    for (const name of ['client-cert', 'x-tls-unique', 'x-tls-protocol', 'x-tls-exporter-secret']) assert.equal(forwarded[0]![name], undefined, name);
    assert.equal(forwarded[0]!['authorization'], basic('estuser', 'estpass'));
  });

  test('trusted proxy: a wrong or malformed binding header fails', async () => {
    const wrong = await post(port, TRUSTED, { 'Client-Cert': clientCert, 'X-TLS-Unique': unique, 'X-TLS-Protocol': 'TLSv1.2' }, csr(Buffer.from('ba9876543210').toString('base64')));
    assert.equal(wrong.status, 400);
    assert.match(wrong.text, /does not match/);
    const malformed = await post(port, TRUSTED, { 'Client-Cert': clientCert, 'X-TLS-Unique': 'not base64!', 'X-TLS-Protocol': 'TLSv1.2' }, csr('not base64!'));
    assert.equal(malformed.status, 400);
    assert.match(malformed.text, /x-tls-unique header is not base64/);
  });

  test('trusted proxy, TLS 1.3 Finished-based value without popAcceptTls13Finished: refused with a hint', async () => {
    const v = Buffer.alloc(32, 7).toString('base64');
    const res = await post(port, TRUSTED, { 'Client-Cert': clientCert, 'X-TLS-Unique': v, 'X-TLS-Protocol': 'TLSv1.3' }, csr(v));
    assert.equal(res.status, 400);
    assert.match(res.text, /popAcceptTls13Finished/);
  });

  test('X-Forwarded-For: the rightmost address that is not a trusted proxy is the peer address', async () => {
    const cases: Array<[string, string]> = [
      ['198.51.100.7', '198.51.100.7'],
      ['203.0.113.9, 198.51.100.7', '198.51.100.7'],
      ['198.51.100.7, 10.1.2.3', '198.51.100.7'],
      // What is no address is never the peer: the walk stops at the proxy.
      ['<script>x</script>', TRUSTED],
      ['198.51.100.7, forged-name', TRUSTED],
      ['junk, 198.51.100.8', '198.51.100.8'],
    ];
    for (const [xff, expected] of cases) {
      const res = await post(port, TRUSTED, { 'Client-Cert': clientCert, 'X-TLS-Unique': unique, 'X-TLS-Protocol': 'TLSv1.2', 'X-Forwarded-For': xff }, csr(unique));
      assert.equal(res.status, 200, res.text);
      assert.equal(issued.filter((e) => e['serial'] !== undefined).at(-1)?.['peer'], expected, xff);
    }
    // From an untrusted peer X-Forwarded-For is not believed.
    const res = await post(port, UNTRUSTED, { Authorization: basic('estuser', 'estpass'), 'X-Forwarded-For': '198.51.100.99' }, csr());
    assert.equal(res.status, 400); // pop on, no binding
  });
});
