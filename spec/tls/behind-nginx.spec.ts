// examples/behind-nginx for real: nginx terminating TLS (client cert via headers, no pop), and nginx stream pass-through (pop).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { startBehindNginx } from '../../examples/behind-nginx/app.js';
import { startDirectHttps } from '../../examples/direct-https/server.js';
import { pkcs7Certs, TestPki } from '../helpers/pki.js';
import { basic } from '../helpers/http.js';
import { startAuthBackend } from '../helpers/servers.js';
import { freePort, NGINX, NGINX_STREAM_MODULE, nginxWorkers, renderExample, startNginx, type Daemon } from './harness.js';
import { missing, suiteNeeding } from '../helpers/suite.js';
import { buildCsr, TlsHttpConnection, type TlsClientOptions } from './pop-client.js';
import { keyOf, MODES, popRounds } from './pop-matrix.js';

const PATH = '/.well-known/est/simpleenroll';

/** Replacements common to both example configs: one worker; logs, pid and temp paths stay relative (under -p, the test dir). */
function mainContext(name: string, port: number): Array<[string, string]> {
  return [
    nginxWorkers(1),
    [`pid ${name}.pid;`, `pid ${name}-${port}.pid;`],
  ];
}

suiteNeeding('behind nginx (examples/behind-nginx/nginx.conf): TLS terminated by nginx', missing('nginx', NGINX), () => {
  const pki = new TestPki();
  const ca = pki.ca('p256');
  const otherCa = pki.ca('p256', '/CN=Other CA');
  const server = pki.serverCert(ca);
  const client = pki.clientCert(ca);
  const issued: Array<Record<string, unknown>> = [];
  let auth: Awaited<ReturnType<typeof startAuthBackend>>;
  let app: Awaited<ReturnType<typeof startBehindNginx>>;
  let popApp: Awaited<ReturnType<typeof startBehindNginx>>;
  const daemons: Daemon[] = [];
  let conn: Omit<TlsClientOptions, 'version' | 'session'>;
  let anon: Omit<TlsClientOptions, 'version' | 'session'>;
  let popPort = 0;

  async function nginxFor(appPort: number, clientCa: string, extra: Array<[string, string]> = []): Promise<number> {
    const port = await freePort();
    const cfg = renderExample('examples/behind-nginx/nginx.conf', [
      ...extra,
      ...mainContext('nginx', port),
      ['server 127.0.0.1:8080;', `server 127.0.0.1:${appPort};`],
      ['listen 8443 ssl;', `listen 127.0.0.1:${port} ssl;`],
      ['pki/tls/server.crt', server.cert],
      ['pki/tls/server.key', server.key],
      ['pki/ca.crt', clientCa],
      ['proxy_cache_path tmp-cache ', `proxy_cache_path tmp-cache-${port} `],
    ]);
    daemons.push(await startNginx(pki.dir, cfg, [port]));
    return port;
  }

  before(async () => {
    auth = await startAuthBackend();
    const logger = { info: (o: object) => issued.push(o as Record<string, unknown>), warn() {}, error() {}, debug() {} };
    const base = { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, authRequest: auth.url, logger };
    app = await startBehindNginx(base, 0);
    popApp = await startBehindNginx({ ...base, caSerialNumber: pki.path('pop.srl'), pop: true }, 0);
    // nginx trusts both CAs for client certificates; the app trusts only its own.
    const bothCas = pki.write('both-cas.pem', readFileSync(ca.cert, 'latin1') + readFileSync(otherCa.cert, 'latin1'));
    const port = await nginxFor(app.port, bothCas);
    popPort = await nginxFor(popApp.port, bothCas);
    conn = { port, ca: readFileSync(ca.cert), cert: readFileSync(client.cert), key: readFileSync(client.key) };
    anon = { port, ca: readFileSync(ca.cert) };
  });

  after(async () => {
    for (const d of daemons) await d.stop();
    await app?.close();
    await popApp?.close();
    await auth?.close();
    pki.cleanup();
  });

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    test(`${version}: client certificate via $ssl_client_escaped_cert authenticates, full and resumed`, async () => {
      let session: Buffer | undefined;
      for (let i = 0; i < 3; i++) {
        const before = auth.seen.length;
        const c = await TlsHttpConnection.open({ ...conn, version, ...(session ? { session } : {}) });
        assert.equal(c.resumed, i > 0);
        const res = await c.enroll(PATH, buildCsr(keyOf(i === 1 ? 'p384' : i === 2 ? 'rsa2048' : 'p256'), { cn: `nginx-${i}` }));
        assert.equal(res.status, 200, res.body.toString());
        assert.equal(auth.seen.length, before, 'no auth subrequest when the certificate verified');
        assert.equal(issued.filter((e) => e['serial'] !== undefined).at(-1)?.['auth'], 'certificate');
        session = (await c.close()) ?? session;
      }
    });

    test(`${version}: Basic auth via authRequest when no certificate; none: 401`, async () => {
      const c = await TlsHttpConnection.open({ ...anon, version });
      const ok = await c.enroll(PATH, buildCsr(keyOf('p256')), { Authorization: basic('estuser', 'estpass') });
      assert.equal(ok.status, 200, ok.body.toString());
      const bad = await c.enroll(PATH, buildCsr(keyOf('p256')), { Authorization: basic('estuser', 'wrong') });
      assert.equal(bad.status, 401);
      assert.equal(bad.headers['www-authenticate'], 'Basic realm="est-demo"');
      await c.close();
    });
  }

  test('a certificate nginx accepts (SUCCESS) but the app\'s trust anchors do not is not authentication', async () => {
    const foreign = pki.clientCert(otherCa);
    const c = await TlsHttpConnection.open({ ...anon, cert: readFileSync(foreign.cert), key: readFileSync(foreign.key), version: 'TLSv1.2' });
    const res = await c.enroll(PATH, buildCsr(keyOf('p256')));
    assert.equal(res.status, 401);
    assert.equal(res.body.length, 0);
    await c.close();
  });

  test('forged X-SSL-Client-Cert / X-SSL-Client-Verify from a client are replaced by nginx', async () => {
    const pem = readFileSync(client.cert, 'latin1');
    const c = await TlsHttpConnection.open({ ...anon, version: 'TLSv1.3' });
    const res = await c.enroll(PATH, buildCsr(keyOf('p256')), { 'X-SSL-Client-Cert': encodeURIComponent(pem), 'X-SSL-Client-Verify': 'SUCCESS' });
    assert.equal(res.status, 401);
    await c.close();
  });

  test('/cacerts comes from nginx\'s cache: the app\'s answer, then HIT (the query string ignored); a forged client certificate changes nothing', async () => {
    const direct = await fetch(`http://127.0.0.1:${app.port}/.well-known/est/cacerts`);
    const body = await direct.text();
    assert.equal(direct.status, 200);
    const c = await TlsHttpConnection.open({ ...anon, version: 'TLSv1.3' });
    const first = await c.request('GET', '/.well-known/est/cacerts');
    assert.equal(first.status, 200, first.body.toString());
    assert.match(first.headers["x-cache-status"] ?? '', /^(MISS|EXPIRED|STALE|UPDATING)$/);
    const forged = encodeURIComponent(readFileSync(client.cert, 'latin1'));
    const again = await c.request('GET', '/.well-known/est/cacerts?x=1', { 'X-SSL-Client-Cert': forged, 'X-SSL-Client-Verify': 'SUCCESS' });
    assert.equal(again.status, 200);
    assert.equal(again.headers['x-cache-status'], 'HIT');
    assert.equal(again.headers['content-type'], direct.headers.get('content-type'));
    for (const r of [first, again]) assert.equal(r.body.toString('latin1'), body, 'the cached body is the app\'s');
    assert.match(pkcs7Certs(again.body.toString('latin1')), /BEGIN CERTIFICATE/);
    // Enrollment is never cached: the same location block does not match it.
    const enroll = await c.enroll(PATH, buildCsr(keyOf('p256')), { Authorization: basic('estuser', 'estpass') });
    assert.equal(enroll.status, 200);
    assert.equal(enroll.headers['x-cache-status'], undefined);
    await c.close();
  });

  test('/cacerts behind nginx\'s cache and open_file_cache: a flood reaches the app once or twice; a changed answer is served once the cached one expires', async () => {
    // A stand-in app whose /cacerts answer changes on demand; the cache validity shortened from 10 s to 1 s.
    let version = 1;
    let hits = 0;
    const upstream = createServer((req, res) => {
      hits++;
      res.writeHead(200, { 'Content-Type': 'application/pkcs7-mime' }).end(`answer ${version}`);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    try {
      const appPort = (upstream.address() as AddressInfo).port;
      const port = await nginxFor(appPort, ca.cert, [['proxy_cache_valid     200 10s;', 'proxy_cache_valid     200 1s;']]);
      const open = () => TlsHttpConnection.open({ ...anon, port, version: 'TLSv1.3' });
      const c = await open();
      const get = async (k = c) => (await k.request('GET', '/.well-known/est/cacerts')).body.toString('latin1');
      assert.equal(await get(), 'answer 1');
      // A flood: 8 more connections, 25 requests each (one at a time per connection).
      const floodStart = Date.now();
      const conns = await Promise.all(Array.from({ length: 8 }, open));
      const flood = await Promise.all(conns.map(async (k) => {
        const bodies: string[] = [];
        for (let i = 0; i < 25; i++) bodies.push(await get(k));
        await k.close();
        return bodies;
      }));
      assert.ok(flood.flat().every((b) => b === 'answer 1'));
      // One fetch, plus one background refresh per second of validity the flood outlasted (a slow machine).
      const allowed = 2 + Math.floor((Date.now() - floodStart) / 1000);
      assert.ok(hits <= allowed, `${hits} of 201 requests reached the app (at most ${allowed})`);
      version = 2;
      // Expiry (1 s) + one stale answer while nginx refetches in the background; open_file_cache_valid is 5 s,
      // so a kept file descriptor served past the refresh would still say "answer 1" at the deadline.
      const deadline = Date.now() + 3500;
      let body = await get();
      while (body !== 'answer 2' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        body = await get();
      }
      assert.equal(body, 'answer 2', 'the refreshed answer is served');
      await c.close();
    } finally {
      await new Promise((r) => upstream.close(r));
    }
  });

  test('pop through the nginx HTTP terminator cannot work: 400 naming the reason', async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const c = await TlsHttpConnection.open({ ...conn, port: popPort, version });
      const res = await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: c.binding() }), { 'X-TLS-Unique': c.binding() });
      assert.equal(res.status, 400);
      assert.match(res.body.toString(), /no TLS channel binding.*does not pass tls-unique/);
      await c.close();
    }
  });
});

const streamSkip = missing('nginx', NGINX) || missing('nginx stream module (libnginx-mod-stream)', NGINX_STREAM_MODULE);

suiteNeeding('behind nginx stream pass-through (examples/behind-nginx/nginx-stream.conf → examples/direct-https), pop on', streamSkip, () => {
  const pki = new TestPki();
  const ca = pki.ca('p256');
  const server = pki.serverCert(ca);
  const client = pki.clientCert(ca);
  let auth: Awaited<ReturnType<typeof startAuthBackend>>;
  let node: Awaited<ReturnType<typeof startDirectHttps>>;
  let nginx: Daemon | undefined;
  let conn: Omit<TlsClientOptions, 'version' | 'session'>;

  before(async () => {
    auth = await startAuthBackend();
    node = await startDirectHttps({
      tlsCert: server.cert,
      tlsKey: server.key,
      clientCa: ca.cert,
      port: 0,
      est: { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, authRequest: auth.url },
    });
    const port = await freePort();
    const cfg = renderExample('examples/behind-nginx/nginx-stream.conf', [
      ...mainContext('nginx-stream', port),
      ['load_module /usr/lib/nginx/modules/ngx_stream_module.so;', `load_module ${NGINX_STREAM_MODULE};`],
      // The test client sends SNI "localhost" (the test server certificate's name).
      ['est.example.com  127.0.0.1:8444;', `localhost 127.0.0.1:${node.port};`],
      ['listen 443;', `listen 127.0.0.1:${port};`],
    ]);
    nginx = await startNginx(pki.dir, cfg, [port]);
    conn = { port, ca: readFileSync(ca.cert), cert: readFileSync(client.cert), key: readFileSync(client.key) };
  });

  after(async () => {
    await nginx?.stop();
    await node?.close();
    await auth?.close();
    pki.cleanup();
  });

  for (const mode of MODES) {
    test(`correct binding succeeds 20/20 per key type: ${mode.name}`, async (t) => {
      await popRounds(t, conn, PATH, mode);
    });
  }

  test('Basic auth without a certificate; wrong and replayed values fail', async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const first = await TlsHttpConnection.open({ ...conn, version });
      const old = first.binding();
      await first.close();
      const c = await TlsHttpConnection.open({ port: conn.port, ca: conn.ca, version });
      const h = { Authorization: basic('estuser', 'estpass') };
      assert.equal((await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: c.binding() }), h)).status, 200);
      assert.equal((await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: old }), h)).status, 400);
      assert.equal((await c.enroll(PATH, buildCsr(keyOf('p256')), h)).status, 400);
      await c.close();
    }
  });
});
