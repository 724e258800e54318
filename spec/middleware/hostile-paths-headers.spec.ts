// Hostile input, round two: bad percent-encoding in labels, TLS-fact headers (stripped, never repeated), trickling bodies.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { est, type EstMiddleware } from '../../lib/index.js';
import { KNOWN_FACT_HEADERS } from '../../lib/tls/proxy-headers.js';
import { TestPki } from '../helpers/pki.js';
import { basic, b64lines } from '../helpers/http.js';
import { startAuthBackend } from '../helpers/servers.js';

const pki = new TestPki();
const ca = pki.ca('p256');
const base = { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial };
const servers: Server[] = [];
const middlewares: EstMiddleware[] = [];
let auth: Awaited<ReturnType<typeof startAuthBackend>>;

before(async () => {
  auth = await startAuthBackend();
});
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
  for (const m of middlewares) await m.close();
  await auth.close();
  pki.cleanup();
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<number> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as AddressInfo).port;
}

function mw(options: Record<string, unknown>): EstMiddleware {
  const m = est({ ...base, ...options });
  middlewares.push(m);
  return m;
}

function send(port: number, method: string, path: string, headers: OutgoingHttpHeaders = {}, body?: string): Promise<{ status: number; text: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...(body !== undefined ? { 'Content-Length': String(body.length) } : {}), ...headers }, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('latin1')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('labels that are not valid percent-encoding: 400 or 404, never 500', () => {
  const labels = ['%ZZ', '%', '%E0%A4%A', 'x%', '%%', '%C0%AF'];
  for (const [kind, make] of [
    ['bare node:http handler', async () => { const m = mw({}); return serve((req, res) => m(req, res)); }],
    ['unmounted app.use(est())', async () => { const app = express(); app.use(mw({})); return serve(app); }],
  ] as const) {
    it(kind, async () => {
      const port = await make();
      for (const label of labels) {
        for (const [method, op] of [['GET', 'cacerts'], ['POST', 'simpleenroll']] as const) {
          const r = await send(port, method, `/.well-known/est/${label}/${op}`, { 'Content-Type': 'application/pkcs10' }, method === 'POST' ? 'MIIB' : undefined);
          assert.ok(r.status === 400 || r.status === 404, `${kind} ${method} ${label}: ${r.status} ${r.text}`);
          assert.match(r.headers['content-type'] ?? '', /^text\/plain/);
        }
      }
      // A well-formed label still works.
      assert.equal((await send(port, 'GET', '/.well-known/est/good%20label/cacerts')).status, 200);
    });
  }
});

describe('TLS-fact headers', () => {
  it('every known fact header name is stripped from the auth subrequest, whatever the preset', async () => {
    for (const preset of ['nginx', 'haproxy', 'envoy'] as const) {
      const m = mw({ authRequest: auth.url, proxyHeaders: preset });
      const port = await serve((req, res) => m(req, res));
      const forged: Record<string, string> = {};
      for (const h of [...KNOWN_FACT_HEADERS, 'Client-Cert', 'X-Forwarded-Client-Cert', 'X-Forwarded-Tls-Client-Cert']) forged[h] = 'forged';
      const seen = auth.seen.length;
      const r = await send(port, 'POST', '/.well-known/est/simpleenroll', { ...forged, Authorization: basic('estuser', 'estpass'), 'Content-Type': 'application/pkcs10' }, b64lines(pki.csr().der));
      assert.equal(r.status, 200, r.text);
      const sub = auth.seen[seen]!;
      assert.equal(sub.authorization, basic('estuser', 'estpass'));
      const leaked = Object.keys(sub).filter((h) => sub[h] === 'forged');
      assert.deepEqual(leaked, [], `${preset}: forwarded ${leaked.join(', ')}`);
    }
    for (const must of ['client-cert', 'x-forwarded-client-cert', 'x-forwarded-tls-client-cert', 'x-ssl-client-cert', 'client-cert-chain', 'x-tls-unique', 'x-tls-exporter-secret', 'ssl-client-cert']) {
      assert.ok(KNOWN_FACT_HEADERS.includes(must), must);
    }
  });

  it('a fact header sent twice by a trusted proxy is refused (400), a list header in two lines is not', async () => {
    const nginx = mw({ trustProxy: 'loopback', proxyHeaders: 'nginx' });
    const nginxPort = await serve((req, res) => nginx(req, res));
    for (const header of ['X-SSL-Client-Cert', 'X-SSL-Client-Verify', 'X-TLS-Protocol']) {
      const r = await send(nginxPort, 'POST', '/.well-known/est/simpleenroll', { [header]: ['(client value)', '(proxy value)'], 'Content-Type': 'application/pkcs10' }, 'MIIB');
      assert.equal(r.status, 400, `${header}: ${r.status} ${r.text}`);
      assert.match(r.text, new RegExp(`${header.toLowerCase()} arrived 2 times`));
    }
    const haproxy = mw({ trustProxy: 'loopback', proxyHeaders: 'haproxy' });
    const haproxyPort = await serve((req, res) => haproxy(req, res));
    const twice = await send(haproxyPort, 'POST', '/.well-known/est/simpleenroll', { 'X-TLS-Unique': ['AAAA', 'BBBB'], 'Content-Type': 'application/pkcs10' }, 'MIIB');
    assert.equal(twice.status, 400);
    const chain = await send(haproxyPort, 'POST', '/.well-known/est/simpleenroll', { 'Client-Cert-Chain': [':AAAA:', ':BBBB:'], 'Content-Type': 'application/pkcs10' }, 'MIIB');
    assert.equal(chain.status, 401, 'a chain list split over two field lines is legitimate (RFC 9440 §2.3); no certificate: 401');
    // From an untrusted peer the headers are ignored altogether, repeated or not.
    const untrusted = mw({ proxyHeaders: 'nginx' });
    const untrustedPort = await serve((req, res) => untrusted(req, res));
    assert.equal((await send(untrustedPort, 'POST', '/.well-known/est/simpleenroll', { 'X-SSL-Client-Cert': ['a', 'b'], 'Content-Type': 'application/pkcs10' }, 'MIIB')).status, 401);
  });
});

describe('bodyTimeout', () => {
  it('a trickling upload gets 408 and its connection is closed; the server keeps answering', async () => {
    const m = mw({ authRequest: auth.url, bodyTimeout: 300 });
    const port = await serve((req, res) => m(req, res));
    const started = Date.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => {
        s.write(`POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic('estuser', 'estpass')}\r\nContent-Type: application/pkcs10\r\nContent-Length: 5000\r\n\r\nMIIB`);
        const drip = setInterval(() => s.writable && s.write('A'), 100);
        let text = '';
        s.on('data', (d: Buffer) => (text += d.toString('latin1')));
        s.on('close', () => {
          clearInterval(drip);
          resolve(text);
        });
      });
      s.on('error', reject);
    });
    const took = Date.now() - started;
    assert.match(answer, /^HTTP\/1\.1 408/);
    assert.match(answer, /request body not received within 300 ms/);
    assert.ok(took < 5000, `connection closed after ${took} ms`);
    assert.equal((await send(port, 'GET', '/.well-known/est/cacerts')).status, 200);
  });
});
