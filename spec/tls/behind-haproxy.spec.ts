// examples/behind-haproxy for real: HAProxy terminates TLS, passes Client-Cert and the channel binding; `pop` on.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startBehindHaproxy } from '../../examples/behind-haproxy/app.js';
import { TestPki } from '../helpers/pki.js';
import { basic } from '../helpers/http.js';
import { startAuthBackend } from '../helpers/servers.js';
import { freePort, HAPROXY, renderExample, startHaproxy, type Daemon } from './harness.js';
import { missing, suiteNeeding } from '../helpers/suite.js';
import { buildCsr, TlsHttpConnection, type TlsClientOptions } from './pop-client.js';
import { keyOf, KEY_TYPES, MODES, popRounds } from './pop-matrix.js';

const PATH = '/.well-known/est/simpleenroll';
const skip = missing('haproxy', HAPROXY);

suiteNeeding('behind HAProxy (examples/behind-haproxy), pop on', skip, () => {
  const pki = new TestPki();
  const ca = pki.ca('p256');
  const server = pki.serverCert(ca);
  const client = pki.clientCert(ca);
  const issued: Array<Record<string, unknown>> = [];
  let auth: Awaited<ReturnType<typeof startAuthBackend>>;
  let app: Awaited<ReturnType<typeof startBehindHaproxy>>;
  let appFinished: Awaited<ReturnType<typeof startBehindHaproxy>>;
  const daemons: Daemon[] = [];
  let conn: Omit<TlsClientOptions, 'version' | 'session'>;
  let anon: Omit<TlsClientOptions, 'version' | 'session'>;
  let finishedPort = 0;

  async function haproxyFor(appPort: number): Promise<number> {
    const port = await freePort();
    const pem = pki.write(`haproxy-${port}.pem`, readFileSync(server.cert, 'latin1') + readFileSync(server.key, 'latin1'));
    const cfg = renderExample('examples/behind-haproxy/haproxy.cfg', [
      ['bind 127.0.0.1:8443', `bind 127.0.0.1:${port}`],
      ['pki/tls/server.pem', pem],
      ['pki/ca.crt', ca.cert],
      ['server app1 127.0.0.1:8080', `server app1 127.0.0.1:${appPort}`],
    ]);
    daemons.push(await startHaproxy(pki.dir, cfg, [port]));
    return port;
  }

  before(async () => {
    auth = await startAuthBackend();
    const logger = { info: (o: object) => issued.push(o as Record<string, unknown>), warn() {}, error() {}, debug() {} };
    const base = { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, authRequest: auth.url, logger };
    app = await startBehindHaproxy(base, 0);
    appFinished = await startBehindHaproxy({ ...base, caSerialNumber: pki.path('fin.srl'), popAcceptTls13Finished: true, proxyHeaders: { clientCert: 'client-cert', tlsUnique: 'x-tls-unique', tlsProtocol: 'x-tls-protocol' } }, 0);
    const port = await haproxyFor(app.port);
    finishedPort = await haproxyFor(appFinished.port);
    conn = { port, ca: readFileSync(ca.cert), cert: readFileSync(client.cert), key: readFileSync(client.key) };
    anon = { port, ca: readFileSync(ca.cert) };
  });

  after(async () => {
    for (const d of daemons) await d.stop();
    await app?.close();
    await appFinished?.close();
    await auth?.close();
    pki.cleanup();
  });

  for (const mode of MODES) {
    test(`correct binding succeeds 20/20 per key type: ${mode.name}`, async (t) => {
      await popRounds(t, conn, PATH, mode);
    });
  }

  test('TLS 1.3 with popAcceptTls13Finished and no exporter secret: the Finished-based ssl_fc_unique_id value', async (t) => {
    for (const resumed of [false, true]) {
      await popRounds(t, { ...conn, port: finishedPort }, PATH, { name: `TLS 1.3 ${resumed ? 'resumed' : 'full'}, Finished-based`, version: 'TLSv1.3', resumed }, { rounds: 5, binding: (c) => c.tlsUnique() });
    }
    // RFC 9266 tls-exporter cannot be checked there (no exporter secret configured): refused.
    const c = await TlsHttpConnection.open({ ...conn, port: finishedPort, version: 'TLSv1.3' });
    assert.equal((await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: c.tlsExporter() }))).status, 400);
    await c.close();
  });

  test('client certificate through HAProxy authenticates (TLS 1.2 and 1.3); peer address from X-Forwarded-For', async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const before = auth.seen.length;
      const c = await TlsHttpConnection.open({ ...conn, version });
      const res = await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: c.binding() }));
      assert.equal(res.status, 200, res.body.toString());
      assert.equal(auth.seen.length, before, 'the auth backend is not asked when a verified certificate is present');
      await c.close();
      const last = issued.filter((e) => e['serial'] !== undefined).at(-1)!;
      assert.equal(last['auth'], 'certificate');
      assert.equal(last['peer'], '127.0.0.1');
    }
  });

  test('Basic auth via authRequest through HAProxy; no credentials: 401', async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const c = await TlsHttpConnection.open({ ...anon, version });
      const ok = await c.enroll(PATH, buildCsr(keyOf('p384'), { challengePassword: c.binding() }), { Authorization: basic('estuser', 'estpass') });
      assert.equal(ok.status, 200, ok.body.toString());
      const none = await c.enroll(PATH, buildCsr(keyOf('p384'), { challengePassword: c.binding() }));
      assert.equal(none.status, 401);
      assert.equal(none.headers['www-authenticate'], 'Basic realm="est-demo"');
      await c.close();
    }
  });

  test('forged Client-Cert / X-TLS-Unique from the client are dropped by HAProxy and gain nothing', async () => {
    const leafDer = new X509Certificate(readFileSync(client.cert)).raw.toString('base64');
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const c = await TlsHttpConnection.open({ ...anon, version });
      const forgedCert = await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: c.binding() }), { 'Client-Cert': `:${leafDer}:` });
      assert.equal(forgedCert.status, 401, 'a forged Client-Cert does not authenticate');
      const forgedUnique = 'AAAAAAAAAAAAAAAAAAAAAA==';
      const res = await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: forgedUnique }), {
        Authorization: basic('estuser', 'estpass'),
        'X-TLS-Unique': forgedUnique,
        'X-TLS-Protocol': 'TLSv1.2',
        'X-TLS-Exporter-Secret': '00'.repeat(32),
        'X-TLS-Cipher': 'TLS_AES_128_GCM_SHA256',
      });
      assert.equal(res.status, 400, 'a forged binding header is replaced by the real one');
      assert.match(res.body.toString(), /does not match/);
      await c.close();
    }
    for (const h of auth.seen) {
      for (const name of ['client-cert', 'x-tls-unique', 'x-tls-exporter-secret']) assert.equal(h[name], undefined, `${name} never reaches the auth backend`);
    }
  });

  test('missing, wrong and replayed values fail through HAProxy', async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const first = await TlsHttpConnection.open({ ...conn, version });
      const old = first.binding();
      await first.close();
      const c = await TlsHttpConnection.open({ ...conn, version });
      for (const type of KEY_TYPES) {
        assert.equal((await c.enroll(PATH, buildCsr(keyOf(type)))).status, 400);
        assert.equal((await c.enroll(PATH, buildCsr(keyOf(type), { challengePassword: old }))).status, 400);
        const wrong = Buffer.from(c.binding(), 'base64');
        wrong[wrong.length - 1]! ^= 0x80;
        assert.equal((await c.enroll(PATH, buildCsr(keyOf(type), { challengePassword: wrong.toString('base64') }))).status, 400);
      }
      await c.close();
    }
  });
});

