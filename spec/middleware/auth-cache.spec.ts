// authRequestCache: the auth backend's verdicts reused for a short time, opt-in (nginx's auth_request does not cache).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createEstMetrics, EstConfigError, est, type MemoryStore, type EstOptions } from '../../lib/index.js';
import { basic, b64lines, fetchRaw } from '../helpers/http.js';
import { TestPki } from '../helpers/pki.js';
import { withAuthEstServer, type Running } from '../helpers/servers.js';

const pki = new TestPki();
const ca = pki.ca('p256');
const serverCert = pki.serverCert(ca);

/** An auth backend whose verdict per Basic user the test sets; counts the calls per user. */
const verdicts = new Map<string, number>();
const calls = new Map<string, number>();
let backend: Server;
let authUrl = '';
before(async () => {
  backend = createServer((req, res) => {
    const user = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString().split(':')[0]!;
    calls.set(user, (calls.get(user) ?? 0) + 1);
    const status = verdicts.get(user) ?? 401;
    // A slow backend: concurrent identical requests must share one call.
    setTimeout(() => {
      if (status === 401) res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="cached"' }).end();
      else res.writeHead(status, status === 200 ? { 'X-EST-User': `${user}@backend` } : {}).end();
    }, 30);
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  authUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/auth`;
});
after(async () => {
  backend.closeAllConnections();
  await new Promise<void>((r) => backend.close(() => r()));
  pki.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function withServer(options: Partial<EstOptions>, fn: (srv: Running, store: MemoryStore) => Promise<void>): Promise<void> {
  return withAuthEstServer(pki, ca, serverCert, authUrl, options, fn);
}

function enroll(srv: Running, user: string, op = 'simpleenroll', extraHeaders: Record<string, string> = {}, csr = pki.csr().der) {
  return fetchRaw(`${srv.url}/${op}`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10', Authorization: basic(user, 'pw'), ...extraHeaders }, body: b64lines(csr) });
}

describe('authRequestCache', () => {
  it('is off by default: every request asks the backend, as nginx auth_request does', async () => {
    verdicts.set('plain', 200);
    await withServer({}, async (srv) => {
      for (let i = 0; i < 3; i++) assert.equal((await enroll(srv, 'plain')).status, 200);
    });
    assert.equal(calls.get('plain'), 3);
  });

  it('reuses an allow for ttl seconds (concurrent requests share one call), keeps X-EST-User, then asks again', async () => {
    verdicts.set('alice', 200);
    const metrics = createEstMetrics();
    await withServer({ authRequestCache: { ttl: 1 }, metrics }, async (srv, store) => {
      const first = await Promise.all(Array.from({ length: 5 }, () => enroll(srv, 'alice')));
      assert.deepEqual(first.map((r) => r.status), [200, 200, 200, 200, 200]);
      for (let i = 0; i < 3; i++) assert.equal((await enroll(srv, 'alice')).status, 200);
      assert.equal(calls.get('alice'), 1, 'one backend call for 8 enrollments within the ttl');
      const { records } = await store.list({ limit: 100 });
      assert.equal(records.length, 8);
      for (const r of records) assert.equal(r.requester.user, 'alice@backend', 'the user name the backend sent is recorded for cached verdicts too');
      // A credential the backend stops accepting keeps working until its entry expires (the documented trade-off).
      verdicts.set('alice', 403);
      assert.equal((await enroll(srv, 'alice')).status, 200);
      await sleep(1100);
      assert.equal((await enroll(srv, 'alice')).status, 403);
      assert.equal(calls.get('alice'), 2);
      const text = await metrics.registry.metrics();
      assert.match(text, /est_auth_cache_lookups_total\{result="hit"\} 8/);
      assert.match(text, /est_auth_cache_lookups_total\{result="miss"\} 2/);
    });
  });

  it('keys on every forwarded header: other credentials, another operation or another header ask anew', async () => {
    verdicts.set('bob', 200);
    verdicts.set('carol', 200);
    await withServer({ authRequestCache: 60 }, async (srv) => {
      assert.equal((await enroll(srv, 'bob')).status, 200);
      assert.equal((await enroll(srv, 'carol')).status, 200);
      assert.equal((await enroll(srv, 'bob', 'serverkeygen')).status, 200, 'X-Original-URI differs');
      assert.equal((await enroll(srv, 'bob', 'simpleenroll', { 'X-Device': 'd1' })).status, 200);
      assert.equal((await enroll(srv, 'bob', 'simpleenroll', { 'X-Request-ID': 'r-1' })).status, 200, 'a volatile header is not part of the key');
      assert.equal(calls.get('bob'), 3);
      assert.equal(calls.get('carol'), 1);
    });
  });

  it('refusals are cached for refusalTtl only (401 keeps its WWW-Authenticate); a 500 or a down backend never is', async () => {
    verdicts.set('mallory', 401);
    verdicts.set('dave', 403);
    verdicts.set('erin', 500);
    await withServer({ authRequestCache: { ttl: 60, refusalTtl: 1 } }, async (srv) => {
      for (let i = 0; i < 2; i++) {
        const r = await enroll(srv, 'mallory');
        assert.equal(r.status, 401);
        assert.equal(r.headers['www-authenticate'], 'Basic realm="cached"');
        assert.equal((await enroll(srv, 'dave')).status, 403);
        assert.equal((await enroll(srv, 'erin')).status, 500);
      }
      assert.equal(calls.get('mallory'), 1);
      assert.equal(calls.get('dave'), 1);
      assert.equal(calls.get('erin'), 2, 'a backend error is never cached');
      // A refusal lifted at the backend is seen after refusalTtl, not after ttl.
      verdicts.set('mallory', 200);
      await sleep(1100);
      assert.equal((await enroll(srv, 'mallory')).status, 200);
    });
    await withServer({ authRequestCache: { ttl: 60, refusalTtl: 0 } }, async (srv) => {
      const before = calls.get('dave')!;
      for (let i = 0; i < 2; i++) assert.equal((await enroll(srv, 'dave')).status, 403);
      assert.equal(calls.get('dave'), before + 2, 'refusalTtl 0: refusals are not cached');
    });
  });

  it('an otpChallenge (one-time) always goes to the backend; maxEntries bounds the cache', async () => {
    verdicts.set('otp', 200);
    verdicts.set('u1', 200);
    verdicts.set('u2', 200);
    verdicts.set('u3', 200);
    await withServer({ authRequestCache: { ttl: 60, maxEntries: 2 } }, async (srv) => {
      const otpCsr = () => pki.csr({ attrs: { '1.2.840.113549.1.9.16.2.56': 'some-otp' } }).der;
      for (let i = 0; i < 2; i++) assert.equal((await enroll(srv, 'otp', 'simpleenroll', {}, otpCsr())).status, 200);
      // Each request: the authorize step (cached after the first) and the otpChallenge check (never cached).
      assert.equal(calls.get('otp'), 3);
      for (const u of ['u1', 'u2', 'u3', 'u1']) assert.equal((await enroll(srv, u)).status, 200);
      assert.equal(calls.get('u1'), 2, 'u1 was evicted (oldest) when u3 came in');
      assert.equal(calls.get('u3'), 1);
    });
  });

  it('bad values are refused at start-up, naming the option', () => {
    const base = { caRootCertificate: ca.cert, caPrivateKey: ca.key, authRequest: authUrl, store: false as const };
    const bad: Array<[unknown, RegExp]> = [
      [0, /ttl must be a whole number of seconds from 1 to 300/],
      [301, /from 1 to 300/],
      [{ ttl: 10, refusalTtl: 6 }, /refusalTtl .* from 0 to 5/],
      [{ ttl: 10, maxEntries: 0 }, /maxEntries/],
      [{ ttl: 10, ttlSeconds: 3 }, /has no field `ttlSeconds`/],
      ['10', /must be false, a number of seconds or/],
    ];
    for (const [v, re] of bad) {
      assert.throws(() => est({ ...base, authRequestCache: v as never }), (e: unknown) => e instanceof EstConfigError && /authRequestCache/.test(e.message) && re.test(e.message), JSON.stringify(v));
    }
    assert.throws(() => est({ caRootCertificate: ca.cert, caPrivateKey: ca.key, store: false, authRequestCache: 5 }), /`authRequestCache` caches the verdicts of `authRequest` \(est_auth_request\), which is not set/);
    void est({ ...base, authRequestCache: false }).close();
  });
});
