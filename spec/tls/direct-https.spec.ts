// examples/direct-https for real: Node terminates TLS, `pop` on, tls-unique / tls-exporter from the socket.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startDirectHttps } from '../../examples/direct-https/server.js';
import { EstPolicyError, type EnrollRequest } from '../../lib/index.js';
import { readWhole, children, readOid } from '../../lib/protocol/der.js';
import { TestPki } from '../helpers/pki.js';
import { basic } from '../helpers/http.js';
import { startAuthBackend } from '../helpers/servers.js';
import { buildCsr, TlsHttpConnection, type TlsClientOptions } from './pop-client.js';
import { keyOf, MODES, popRounds } from './pop-matrix.js';

const PATH = '/.well-known/est/simpleenroll';

describe('direct https (examples/direct-https), pop on', () => {
  const pki = new TestPki();
  const ca = pki.ca('p256');
  const server = pki.serverCert(ca);
  const client = pki.clientCert(ca);
  let auth: Awaited<ReturnType<typeof startAuthBackend>>;
  let main: Awaited<ReturnType<typeof startDirectHttps>>;
  let finishedOk: Awaited<ReturnType<typeof startDirectHttps>>;
  let policy: Awaited<ReturnType<typeof startDirectHttps>>;
  const seenByCa: EnrollRequest[] = [];
  let conn: Omit<TlsClientOptions, 'version' | 'session'>;
  let anon: Omit<TlsClientOptions, 'version' | 'session'>;

  before(async () => {
    auth = await startAuthBackend();
    const tls = { tlsCert: server.cert, tlsKey: server.key, clientCa: ca.cert, port: 0 };
    const estBase = { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, authRequest: auth.url };
    main = await startDirectHttps({ ...tls, est: estBase });
    finishedOk = await startDirectHttps({ ...tls, est: { ...estBase, caSerialNumber: pki.path('finished.srl'), popAcceptTls13Finished: true } });
    policy = await startDirectHttps({
      ...tls,
      est: {
        rootCertificate: ca.cert,
        authRequest: auth.url,
        ca: {
          cacerts: () => [new Uint8Array(new X509Certificate(readFileSync(ca.cert)).raw)],
          enroll: (r) => {
            seenByCa.push(r);
            throw new EstPolicyError('otp refused by test CA');
          },
        },
      },
    });
    conn = { port: main.port, ca: readFileSync(ca.cert), cert: readFileSync(client.cert), key: readFileSync(client.key) };
    anon = { port: main.port, ca: readFileSync(ca.cert) };
  });

  after(async () => {
    await main?.close();
    await finishedOk?.close();
    await policy?.close();
    await auth?.close();
    pki.cleanup();
  });

  for (const mode of MODES) {
    test(`correct binding succeeds 20/20 per key type: ${mode.name}`, async (t) => {
      await popRounds(t, conn, PATH, mode);
    });
  }

  test('Basic auth via authRequest (no client certificate) with the binding: 200', async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const c = await TlsHttpConnection.open({ ...anon, version });
      const res = await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: c.binding() }), { Authorization: basic('estuser', 'estpass') });
      assert.equal(res.status, 200, res.body.toString());
      await c.close();
    }
  });

  test('keep-alive: requests on one connection share the binding', async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const c = await TlsHttpConnection.open({ ...conn, version });
      const value = c.binding();
      for (let i = 0; i < 3; i++) {
        const res = await c.enroll(PATH, buildCsr(keyOf('p384'), { cn: `ka-${i}`, challengePassword: value }));
        assert.equal(res.status, 200, res.body.toString());
      }
      await c.close();
    }
  });

  test('missing, wrong and replayed values are rejected with 400 and a reason', async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const first = await TlsHttpConnection.open({ ...conn, version });
      const old = first.binding();
      await first.close();
      const c = await TlsHttpConnection.open({ ...conn, version });
      const missing = await c.enroll(PATH, buildCsr(keyOf('p256')));
      assert.equal(missing.status, 400);
      assert.match(missing.body.toString(), /linking required.*challengePassword/);
      const wrongValue = Buffer.from(c.binding(), 'base64');
      wrongValue[0]! ^= 1;
      const wrong = await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: wrongValue.toString('base64') }));
      assert.equal(wrong.status, 400);
      assert.match(wrong.body.toString(), /does not match this TLS connection/);
      const replay = await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: old }));
      assert.equal(replay.status, 400);
      const truncated = await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: c.binding().slice(0, 8) }));
      assert.equal(truncated.status, 400);
      // The connection survives the errors; the right value still works on it.
      const good = await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: c.binding() }));
      assert.equal(good.status, 200, good.body.toString());
      await c.close();
    }
  });

  test('TLS 1.2: tls-exporter is not accepted in place of tls-unique; TLS 1.3: tls-unique-style value needs popAcceptTls13Finished', async () => {
    const c12 = await TlsHttpConnection.open({ ...conn, version: 'TLSv1.2' });
    assert.equal((await c12.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: c12.tlsExporter() }))).status, 400);
    await c12.close();
    const c13 = await TlsHttpConnection.open({ ...conn, version: 'TLSv1.3' });
    assert.equal((await c13.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: c13.tlsUnique() }))).status, 400);
    await c13.close();
    // With the option: both the Finished-based value and tls-exporter pass, full and resumed.
    let session: Buffer | undefined;
    for (let i = 0; i < 4; i++) {
      const c = await TlsHttpConnection.open({ ...conn, port: finishedOk.port, version: 'TLSv1.3', ...(session ? { session } : {}) });
      assert.equal(c.resumed, i > 0);
      const byFinished = await c.enroll(PATH, buildCsr(keyOf('rsa2048'), { challengePassword: c.tlsUnique() }));
      assert.equal(byFinished.status, 200, byFinished.body.toString());
      const byExporter = await c.enroll(PATH, buildCsr(keyOf('rsa2048'), { challengePassword: c.tlsExporter() }));
      assert.equal(byExporter.status, 200, byExporter.body.toString());
      session = (await c.close()) ?? session;
    }
  });

  test('RFC 7894: estIdentityLinking alone links; every linking attribute present must match; UTF8String accepted', async () => {
    const c = await TlsHttpConnection.open({ ...conn, version: 'TLSv1.2' });
    const v = c.binding();
    assert.equal((await c.enroll(PATH, buildCsr(keyOf('p256'), { estIdentityLinking: v }))).status, 200);
    assert.equal((await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: v, estIdentityLinking: v }))).status, 200);
    assert.equal((await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: v, estIdentityLinking: 'AAAAAAAAAAAAAAAA' }))).status, 400);
    assert.equal((await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: v, stringType: 'utf8' }))).status, 200);
    await c.close();
  });

  test('otpChallenge goes to the auth backend and then to the CA (authorization decision), not dropped', async () => {
    const c = await TlsHttpConnection.open({ ...conn, port: policy.port, version: 'TLSv1.2' });
    const res = await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: c.binding(), otpChallenge: 'good-otp' }), { Authorization: basic('estuser', 'estpass') });
    assert.equal(res.status, 403);
    assert.equal(auth.seen.at(-1)?.['x-est-otp-challenge'], 'good-otp');
    assert.equal(seenByCa.at(-1)?.otpChallenge, 'good-otp');
    const before = seenByCa.length;
    const bad = await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: c.binding(), otpChallenge: 'one-time-123' }), { Authorization: basic('estuser', 'estpass') });
    assert.equal(bad.status, 403, 'the backend refuses the OTP');
    assert.equal(seenByCa.length, before, 'a refused OTP never reaches the CA');
    await c.close();
  });

  test('/csrattrs announces challengePassword when pop is on', async () => {
    const c = await TlsHttpConnection.open({ ...anon, version: 'TLSv1.3' });
    const res = await c.request('GET', '/.well-known/est/csrattrs');
    assert.equal(res.status, 200);
    const der = Buffer.from(res.body.toString().replace(/\s+/g, ''), 'base64');
    const oids = children(readWhole(der)).filter((x) => x.tag === 0x06).map(readOid);
    assert.ok(oids.includes('1.2.840.113549.1.9.7'), `challengePassword in ${oids.join(',')}`);
    await c.close();
  });

  test('a resumed session without a new certificate still authenticates with the session\'s certificate', async () => {
    const first = await TlsHttpConnection.open({ ...conn, version: 'TLSv1.2' });
    await first.request('GET', '/.well-known/est/cacerts');
    const session = await first.close();
    const c = await TlsHttpConnection.open({ ...anon, version: 'TLSv1.2', session: session! });
    assert.ok(c.resumed);
    const res = await c.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: c.binding() }));
    assert.equal(res.status, 200, res.body.toString());
    await c.close();
    // And a full handshake without a certificate and without credentials is refused.
    const d = await TlsHttpConnection.open({ ...anon, version: 'TLSv1.2' });
    assert.equal((await d.enroll(PATH, buildCsr(keyOf('p256'), { challengePassword: d.binding() }))).status, 401);
    await d.close();
  });
});
