// est() under Express 5, Express 4, Connect and a bare node:http server.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttp, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import express4 from 'express4';
import connect from 'connect';
import { est } from '../../lib/index.js';
import { TestPki, pkcs7Certs } from '../helpers/pki.js';
import { b64lines, fetchRaw } from '../helpers/http.js';
import { startAuthBackend } from '../helpers/servers.js';

const pki = new TestPki();
const ca = pki.ca('p256');
after(() => pki.cleanup());

async function run(name: string, handler: (mw: ReturnType<typeof est>) => RequestListener, mounted: string): Promise<void> {
  const auth = await startAuthBackend();
  const mw = est({ caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, authRequest: auth.url });
  const server = createHttp(handler(mw));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}${mounted}`;
  try {
    const c = await fetchRaw(`${base}/cacerts`);
    assert.equal(c.status, 200, name);
    assert.match(pkcs7Certs(c.body), /BEGIN CERTIFICATE/);
    const e = await fetchRaw(`${base}/simpleenroll`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/pkcs10', Authorization: 'Basic ' + Buffer.from('estuser:estpass').toString('base64') },
      body: b64lines(pki.csr().der),
    });
    assert.equal(e.status, 200, `${name}: ${e.text}`);
    assert.equal((await fetchRaw(`${base}/nope`)).status, 404);
    assert.equal((await fetchRaw(`${base}/simpleenroll`)).status, 405);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await mw.close();
    await auth.close();
  }
}

describe('framework compatibility', () => {
  it('Express 5', () => run('express5', (mw) => express5().use('/.well-known/est', mw) as unknown as RequestListener, '/.well-known/est'));
  it('Express 4', () => run('express4', (mw) => express4().use('/.well-known/est', mw) as unknown as RequestListener, '/.well-known/est'));
  it('Express 5 with a label mount', () => run('express5-label', (mw) => express5().use('/.well-known/est/fleet-a', mw) as unknown as RequestListener, '/.well-known/est/fleet-a'));
  it('Connect', () => run('connect', (mw) => connect().use('/.well-known/est', mw) as unknown as RequestListener, '/.well-known/est'));
  it('bare node:http', () => run('node:http', (mw) => (req, res) => mw(req, res), '/.well-known/est'));
  it('Express 4 with a body parser mounted before it', () =>
    run('express4+raw', (mw) => express4().use(express4.raw({ type: '*/*' })).use('/.well-known/est', mw) as unknown as RequestListener, '/.well-known/est'));
});
