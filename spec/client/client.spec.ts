// EstClient against our own est() server: every operation, every auth mode, PoP on TLS 1.2 and 1.3,
// 202 retry, rollover classification, bootstrap and server authorization.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { EstRetryLaterError, type CertificateAuthority } from '../../lib/index.js';
import { FileCertificateAuthority, RandomSerialStore } from '../../lib/ca/index.js';
import { EstClient, EstClientConfigError, EstHttpError, EstRetryLimitError, EstTrustError, generateKey } from '../../lib/client/index.js';
import { startAuthBackend } from '../helpers/servers.js';
import { basicPki, pem, rolloverPki, startServer, TestPki, type EstFixture } from './fixtures.js';
import { readFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';

const pki = new TestPki();
const { ca, server: serverCert } = basicPki(pki);
let auth: Awaited<ReturnType<typeof startAuthBackend>>;
let srv: EstFixture; // pop on, auth backend
let popOff: EstFixture; // pop off, labelled mount
const closers: Array<() => Promise<void>> = [];

before(async () => {
  auth = await startAuthBackend();
  const base = { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, authRequest: auth.url };
  srv = await startServer({ serverCert, clientCa: ca.cert }, { ...base, pop: true });
  popOff = await startServer({ serverCert, clientCa: ca.cert }, { ...base, serialMode: 'random', caSerialNumber: undefined } as never, { mount: '/.well-known/est/devices' });
  closers.push(srv.close, popOff.close, auth.close);
});
after(async () => {
  for (const c of closers) await c();
  pki.cleanup();
});

const anchors = () => pem(ca.cert);
const user = { username: 'estuser', password: 'estpass' };

describe('EstClient against est()', () => {
  it('cacerts: returns the trust anchor, classified', async () => {
    const c = new EstClient({ url: srv.origin, trustAnchors: anchors() });
    try {
      const r = await c.cacerts();
      assert.equal(r.trustAnchor.fingerprint256, new X509Certificate(pem(ca.cert)).fingerprint256);
      assert.deepEqual(r.chain, []);
      assert.equal(r.oldWithOld, undefined);
    } finally {
      await c.close();
    }
  });

  it('csrattrs: challengePassword is listed when pop is on; empty on a server without', async () => {
    const c = new EstClient({ url: srv.origin, trustAnchors: anchors() });
    const d = new EstClient({ url: popOff.origin, label: 'devices', trustAnchors: anchors() });
    try {
      assert.equal((await c.csrattrs()).wantsChallengePassword, true);
      const none = await d.csrattrs();
      assert.deepEqual(none.items, []);
    } finally {
      await c.close();
      await d.close();
    }
  });

  for (const tls of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`simpleenroll with PoP on ${tls}, Basic answering the 401 challenge`, async () => {
      const events: string[] = [];
      const c = new EstClient({ url: srv.origin, trustAnchors: anchors(), maxVersion: tls, basicAuth: user, onEvent: (e) => events.push(e.type) });
      try {
        const { privateKey } = await generateKey('p256');
        const r = await c.simpleEnroll({ privateKey, subject: '/CN=pop-device/O=Tests', san: ['DNS:pop.example', 'IP:10.0.0.7'], pop: true });
        assert.match(r.certificate.subject, /CN=pop-device/);
        assert.match(r.certificate.subjectAltName ?? '', /DNS:pop\.example/);
        assert.ok(r.certificate.checkPrivateKey(privateKey));
        assert.ok(r.certificate.checkIssued(new X509Certificate(pem(ca.cert))));
        assert.deepEqual(events, ['auth-challenge']);
        // A second PoP enrollment: new connection (possibly a resumed session) → new binding, still accepted.
        const r2 = await c.simpleEnroll({ privateKey, subject: '/CN=pop-device/O=Tests', pop: true });
        assert.notEqual(r2.certificate.serialNumber, r.certificate.serialNumber);
        // Basic now goes pre-emptively: no second challenge.
        assert.deepEqual(events, ['auth-challenge']);
      } finally {
        await c.close();
      }
    });
  }

  it('PoP on a resumed TLS 1.2 session uses the server Finished (RFC 5929)', async () => {
    const { Transport } = await import('../../lib/client/transport.js');
    const t = new Transport({ origin: new URL(srv.origin), trustAnchors: [new X509Certificate(pem(ca.cert))], useSystemTrust: false, insecure: false, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', timeout: 5000, maxResponseSize: 1 << 20 });
    try {
      const a = await t.pin('test');
      assert.equal(a.channelBinding().resumed, false);
      await a.close();
      const b = await t.pin('test');
      const binding = b.channelBinding();
      await b.close();
      assert.equal(binding.resumed, true);
      assert.equal(binding.type, 'tls-unique');
      // And a full enrollment over a resumed session goes through.
      const c = new EstClient({ url: srv.origin, trustAnchors: anchors(), maxVersion: 'TLSv1.2', basicAuth: user, preemptiveAuth: true });
      const { privateKey } = await generateKey('ed25519');
      for (let i = 0; i < 2; i++) await c.simpleEnroll({ privateKey, subject: '/CN=resumed', pop: true });
      await c.close();
    } finally {
      await t.close();
    }
  });

  it('PoP value from another connection is refused with the server reason', async () => {
    const c = new EstClient({ url: srv.origin, trustAnchors: anchors(), basicAuth: user, preemptiveAuth: true });
    try {
      const { privateKey } = await generateKey('p256');
      const { buildCsr } = await import('../../lib/client/csr.js');
      const csr = await buildCsr({ privateKey, subject: '/CN=x', challengePassword: 'AAAAAAAAAAAAAAAAAAAAAA==' });
      await assert.rejects(c.simpleEnroll(csr), (e: unknown) => e instanceof EstHttpError && e.status === 400 && /proof-of-possession linking failed/.test(e.reason));
    } finally {
      await c.close();
    }
  });

  it('pre-emptive Basic, any Authorization header, and typed 401/403 errors', async () => {
    const { privateKey } = await generateKey('p256');
    const bearer = new EstClient({ url: popOff.origin, label: 'devices', trustAnchors: anchors(), authorization: 'Bearer good-token' });
    const pre = new EstClient({ url: popOff.origin, label: 'devices', trustAnchors: anchors(), basicAuth: user, preemptiveAuth: true });
    const denied = new EstClient({ url: popOff.origin, label: 'devices', trustAnchors: anchors(), basicAuth: { username: 'deny', password: 'x' } });
    const none = new EstClient({ url: popOff.origin, label: 'devices', trustAnchors: anchors() });
    try {
      auth.seen.length = 0;
      assert.match((await bearer.simpleEnroll({ privateKey, subject: '/CN=bearer' })).certificate.subject, /CN=bearer/);
      assert.equal(auth.seen.at(-1)?.authorization, 'Bearer good-token');
      const before = auth.seen.length;
      await pre.simpleEnroll({ privateKey, subject: '/CN=pre' });
      assert.equal(auth.seen.length, before + 1, 'one request, no challenge round trip');
      await assert.rejects(denied.simpleEnroll({ privateKey, subject: '/CN=d' }), (e: unknown) => e instanceof EstHttpError && e.status === 403 && e.code === 'ERR_EST_CLIENT_HTTP');
      await assert.rejects(none.simpleEnroll({ privateKey, subject: '/CN=n' }), (e: unknown) => e instanceof EstHttpError && e.status === 401 && e.code === 'ERR_EST_CLIENT_UNAUTHORIZED');
    } finally {
      for (const c of [bearer, pre, denied, none]) await c.close();
    }
  });

  it('simplereenroll over mutual TLS keeps subject and SAN; rekey too; serverkeygen', async () => {
    const first = new EstClient({ url: srv.origin, trustAnchors: anchors(), basicAuth: user });
    const { privateKey } = await generateKey('p256');
    const issued = await first.simpleEnroll({ privateKey, subject: 'CN=mtls-device,O=Tests', san: ['DNS:mtls.example'], pop: true });
    await first.close();
    assert.equal(issued.certificate.subject, 'O=Tests\nCN=mtls-device');
    const c = new EstClient({ url: srv.origin, trustAnchors: anchors(), certificate: issued.certificate, privateKey });
    try {
      const same = await c.simpleReenroll({ privateKey, pop: true });
      assert.equal(same.certificate.subject, issued.certificate.subject);
      assert.equal(same.certificate.subjectAltName, issued.certificate.subjectAltName);
      const fresh = await generateKey('rsa2048');
      const rekeyed = await c.simpleReenroll({ privateKey: fresh.privateKey, pop: true });
      assert.ok(rekeyed.certificate.checkPrivateKey(fresh.privateKey));
      // serverkeygen, authenticated by the client certificate; key follows the CSR key type.
      const sk = await c.serverKeygen({ subject: '/CN=skg', keyType: 'p384', pop: true });
      assert.equal(sk.privateKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
      assert.ok(sk.certificate.checkPrivateKey(sk.privateKey));
      assert.match(sk.certificate.subject, /CN=skg/);
    } finally {
      await c.close();
    }
  });

  it('simplereenroll without a client certificate is refused (401)', async () => {
    const c = new EstClient({ url: popOff.origin, label: 'devices', trustAnchors: anchors() });
    const { privateKey } = await generateKey('p256');
    await assert.rejects(c.simpleReenroll({ privateKey, subject: '/CN=x' }), (e: unknown) => e instanceof EstHttpError && e.status === 401);
    await c.close();
  });

  it('server authorization: wrong anchors, and a certificate for another name (RFC 7030 §3.6)', async () => {
    const other = pki.ca('p256', '/CN=Other CA');
    const c = new EstClient({ url: srv.origin, trustAnchors: pem(other.cert) });
    await assert.rejects(c.cacerts(), (e: unknown) => e instanceof EstTrustError && e.code === 'ERR_EST_CLIENT_TRUST');
    await c.close();
    const d = new EstClient({ url: srv.origin, trustAnchors: anchors(), servername: 'est.example.org' });
    await assert.rejects(d.cacerts(), (e: unknown) => e instanceof EstTrustError && /ERR_TLS_CERT_ALTNAME_INVALID/.test(e.message));
    await d.close();
    assert.throws(() => new EstClient({ url: srv.origin }), (e: unknown) => e instanceof EstClientConfigError && /trustAnchors/.test(e.message));
    assert.throws(() => new EstClient({ url: 'http://127.0.0.1/', trustAnchors: anchors() }), /must use https/);
    assert.throws(() => new EstClient({ url: srv.origin, trustAnchors: anchors(), label: 'cacerts' }), /label/);
    assert.throws(() => new EstClient({ url: srv.origin, trustAnchors: anchors(), maxVersion: 'TLSv1.1' as never }), /RFC 8996/);
  });

  it('bootstrap: fingerprint accepted → anchors adopted; wrong fingerprint refused; no credentials before', async () => {
    const fp = new X509Certificate(pem(ca.cert)).fingerprint256;
    const c = new EstClient({ url: srv.origin, bootstrap: { fingerprint: fp }, basicAuth: user, preemptiveAuth: true });
    try {
      const { privateKey } = await generateKey('p256');
      await assert.rejects(c.simpleEnroll({ privateKey }), (e: unknown) => e instanceof EstTrustError && e.code === 'ERR_EST_CLIENT_NOT_BOOTSTRAPPED');
      auth.seen.length = 0;
      const r = await c.cacerts();
      assert.equal(c.trustAnchors[0]!.fingerprint256, fp);
      assert.equal(r.trustAnchor.fingerprint256, fp);
      const issued = await c.simpleEnroll({ privateKey, subject: '/CN=bootstrapped', pop: true });
      assert.match(issued.certificate.subject, /bootstrapped/);
    } finally {
      await c.close();
    }
    const bad = new EstClient({ url: srv.origin, bootstrap: { fingerprint: '00'.repeat(32) } });
    await assert.rejects(bad.cacerts(), (e: unknown) => e instanceof EstTrustError && e.code === 'ERR_EST_CLIENT_BOOTSTRAP');
    await bad.close();
    let seenServer: X509Certificate | undefined;
    const cb = new EstClient({ url: srv.origin, bootstrap: { verify: (_ca, s) => ((seenServer = s), false) } });
    await assert.rejects(cb.cacerts(), /refused by the verify callback/);
    assert.equal(seenServer?.subject, 'CN=localhost');
    await cb.close();
  });
});

describe('EstClient with test CAs', () => {
  it('202 + Retry-After: waits, retries, then succeeds; the cap and AbortSignal end it', async () => {
    const file = new FileCertificateAuthority({
      certificate: new Uint8Array(new X509Certificate(pem(ca.cert)).raw),
      chain: [],
      privateKey: createPrivateKey(readFileSync(ca.key)),
      serialStore: new RandomSerialStore(),
      validityDays: 1,
    });
    let pending = 0;
    const approval: CertificateAuthority = {
      cacerts: () => file.cacerts(),
      enroll: (req) => {
        if (req.csr.subject.includes('never')) throw new EstRetryLaterError(1);
        if (pending-- > 0) throw new EstRetryLaterError(1);
        return file.enroll(req);
      },
    };
    const s = await startServer({ serverCert, clientCa: ca.cert }, { ca: approval, rootCertificate: ca.cert, authRequest: auth.url });
    const waits: number[] = [];
    const c = new EstClient({ url: s.origin, trustAnchors: anchors(), basicAuth: user, preemptiveAuth: true, retry: { maxAttempts: 3 }, onEvent: (e) => e.type === 'retry-after' && waits.push(e.seconds) });
    try {
      const { privateKey } = await generateKey('p256');
      pending = 1;
      const t0 = Date.now();
      const r = await c.simpleEnroll({ privateKey, subject: '/CN=approved', pop: true });
      assert.ok(Date.now() - t0 >= 1000, 'waited at least Retry-After');
      assert.deepEqual(waits, [1]);
      assert.match(r.certificate.subject, /approved/);
      await assert.rejects(c.simpleEnroll({ privateKey, subject: '/CN=never' }), (e: unknown) => e instanceof EstRetryLimitError && e.retryAfter === 1);
      const ac = new AbortController();
      const p = c.simpleEnroll({ privateKey, subject: '/CN=never' }, { signal: ac.signal });
      setTimeout(() => ac.abort(new Error('stop now')), 200);
      await assert.rejects(p, /stop now/);
      const short = new EstClient({ url: s.origin, trustAnchors: anchors(), basicAuth: user, retry: { maxDelay: 0 } });
      await assert.rejects(short.simpleEnroll({ privateKey, subject: '/CN=never' }), /longer than retry.maxDelay/);
      await short.close();
    } finally {
      await c.close();
      await s.close();
    }
  });

  it('rollover: OldWithOld, OldWithNew, NewWithOld and NewWithNew are told apart', async () => {
    const r = rolloverPki(pki);
    const s = await startServer({ serverCert: r.server, clientCa: r.newWithNew }, { rootCertificate: r.bundle, caRootCertificate: r.newWithNew, caPrivateKey: r.newKey, serialMode: 'random' });
    const c = new EstClient({ url: s.origin, trustAnchors: pem(r.oldWithOld) + pem(r.newWithNew) });
    try {
      const got = await c.cacerts();
      const fp = (p: string) => new X509Certificate(pem(p)).fingerprint256;
      assert.equal(got.certificates.length, 4);
      assert.equal(got.trustAnchor.fingerprint256, fp(r.newWithNew));
      assert.equal(got.newWithNew?.fingerprint256, fp(r.newWithNew));
      assert.equal(got.oldWithOld?.fingerprint256, fp(r.oldWithOld));
      assert.equal(got.oldWithNew?.fingerprint256, fp(r.oldWithNew));
      assert.equal(got.newWithOld?.fingerprint256, fp(r.newWithOld));
      assert.deepEqual(got.chain, []);
      // Bootstrap with the OLD root's fingerprint still works during a rollover.
      const b = new EstClient({ url: s.origin, bootstrap: { fingerprint: fp(r.oldWithOld) } });
      assert.equal((await b.cacerts()).oldWithOld?.fingerprint256, fp(r.oldWithOld));
      await b.close();
    } finally {
      await c.close();
      await s.close();
    }
  });
});
