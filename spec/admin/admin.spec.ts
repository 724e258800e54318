// estAdmin over real HTTP: authentication first, CSRF on every change, escaping, decisions recorded, big queues.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import express from 'express';
import { estAdmin, hashPassword, verifyPassword } from '../../lib/admin/index.js';
import { EstConfigError } from '../../lib/errors.js';
import { MemoryStore } from '../../lib/store/memory-store.js';
import { basic, fetchRaw, type TestResponse } from '../helpers/http.js';
import { openssl, TestPki } from '../helpers/pki.js';
import { pendingInput, recordInput } from '../store/pending-contract.js';

const pki = new TestPki();
let server: Server;
let base: string;
let store: MemoryStore;
let certDer: Uint8Array;
const ALICE = basic('alice', 'correct horse');

before(async () => {
  const ca = pki.ca();
  const c = pki.clientCert(ca, { subject: '/CN=real-cert' });
  certDer = new Uint8Array(openssl(['x509', '-in', c.cert, '-outform', 'DER']));
  store = new MemoryStore();
  const app = express();
  app.use('/est-admin', estAdmin({ store, auth: { users: { alice: await hashPassword('correct horse'), bob: await hashPassword('hunter2') } }, pageSize: 25 }));
  server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/est-admin`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  pki.cleanup();
});

const get = (path: string, auth = ALICE) => fetchRaw(base + path, { headers: auth ? { Authorization: auth } : {} });
const post = (path: string, form: Record<string, string>, auth = ALICE) =>
  fetchRaw(base + path, { method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
const tokenOf = (r: TestResponse) => /name="csrf" value="([^"]+)"/.exec(r.text)?.[1] ?? assert.fail('no CSRF token on the page');
const text = (r: TestResponse) => r.body.toString('utf8');

test('nothing is reachable without authentication, not even the stylesheet', async () => {
  for (const path of ['/', '/style.css', '/pending', '/pending/x', '/certificates', '/certificates/0A', '/certificates/0A.pem', '/nope']) {
    const r = await get(path, '');
    assert.equal(r.status, 401, path);
    assert.equal(r.headers['www-authenticate'], 'Basic realm="est-admin", charset="UTF-8"');
    assert.doesNotMatch(r.text, /<html/);
  }
  const p = await store.putPending(pendingInput());
  const r = await fetchRaw(`${base}/pending/${p.id}/decision`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'decision=approve' });
  assert.equal(r.status, 401);
  assert.equal((await get('/', basic('alice', 'wrong'))).status, 401);
  assert.equal((await get('/', basic('mallory', 'correct horse'))).status, 401);
  assert.equal((await get('/', 'Bearer x')).status, 401);
  assert.equal((await store.pendingById(p.id))!.state, 'pending');
});

test('wrong passwords in parallel: one scrypt at a time, 503 + Retry-After past 16 waiting, and the right password still gets in', async () => {
  // Count the scrypts running at once (auth.ts calls node:crypto's scrypt through its live binding).
  const real = crypto.scrypt;
  let running = 0;
  let most = 0;
  let calls = 0;
  (crypto as { scrypt: unknown }).scrypt = (...args: unknown[]) => {
    calls++;
    most = Math.max(most, ++running);
    const done = args.pop() as (e: Error | null, k: Buffer) => void;
    (real as (...a: unknown[]) => void)(...args, (e: Error | null, k: Buffer) => {
      running--;
      done(e, k);
    });
  };
  syncBuiltinESMExports();
  try {
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => get('/', basic('alice', `wrong-${i}`))));
    const busy = answers.filter((r) => r.status === 503);
    assert.equal(answers.filter((r) => r.status === 401).length + busy.length, 40);
    assert.ok(busy.length > 0, 'some were turned away');
    for (const r of busy) {
      assert.equal(r.headers['retry-after'], '1');
      assert.match(r.text, /^16 admin logins are already being checked; retry in a second\n$/);
    }
    assert.equal(most, 1, 'one scrypt at a time');
    assert.equal(calls, 40 - busy.length, 'no scrypt for a login turned away');
    assert.equal((await get('/', basic('bob', 'hunter2'))).status, 303);
  } finally {
    (crypto as { scrypt: unknown }).scrypt = real;
    syncBuiltinESMExports();
  }
});

test('pages carry security headers; / leads to the pending list; unknown pages 404', async () => {
  const r = await get('/');
  assert.equal(r.status, 303);
  assert.equal(r.headers.location, '/est-admin/pending');
  const page = await get('/pending');
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-security-policy']), /default-src 'none'; style-src 'self'/);
  assert.equal(page.headers['x-frame-options'], 'DENY');
  assert.equal(page.headers['cache-control'], 'no-store');
  assert.match(text(page), /signed in as alice/);
  const css = await get('/style.css');
  assert.equal(css.status, 200);
  assert.match(String(css.headers['content-type']), /^text\/css/);
  assert.equal((await get('/nope')).status, 404);
  assert.equal((await get('/pending/does-not-exist')).status, 404);
  assert.equal((await get('/pending?page=0')).status, 400);
  assert.equal((await get('/pending?state=bogus')).status, 400);
  assert.equal((await fetchRaw(base + '/pending', { method: 'DELETE', headers: { Authorization: ALICE } })).status, 405);
});

test('hostile subjects, SANs and names are escaped', async () => {
  const evil = '<script>alert(1)</script>"\'><img src=x onerror=alert(2)>\u0007\u202e';
  const p = await store.putPending(pendingInput({ subject: `CN=${evil}`, sans: [`DNS:${evil}`], requester: { method: 'auth-request', user: evil }, peerAddress: evil, label: evil }));
  await store.record(recordInput('7E57', { subject: `CN=${evil}`, sans: [`URI:${evil}`], certificate: certDer, label: 'evil' }));
  for (const path of ['/pending', `/pending/${p.id}`, '/certificates?label=evil', '/certificates/7E57', `/certificates?q=${encodeURIComponent(evil)}`]) {
    const body = text(await get(path));
    assert.doesNotMatch(body, /<script>|<img|onerror=alert\(2\)>|\u0007|\u202e/, path);
    assert.match(body, /&lt;script&gt;alert\(1\)&lt;\/script&gt;&quot;&#39;&gt;&lt;img src=x onerror=alert\(2\)&gt;\\x07\\x202e/, path);
  }
});

test('CSRF: a missing, forged, expired-looking or other admin\'s token gets 403 and changes nothing', async () => {
  const p = await store.putPending(pendingInput({ subject: 'CN=csrf-target' }));
  const mine = tokenOf(await get(`/pending/${p.id}`));
  const bobs = tokenOf(await get(`/pending/${p.id}`, basic('bob', 'hunter2')));
  const [at] = mine.split('.');
  for (const csrf of [undefined, '', 'x', `${at}.AAAA`, `${at}.${'A'.repeat(43)}`, bobs, `zzzzzzzzz.${mine.split('.')[1]}`]) {
    const form: Record<string, string> = { decision: 'approve' };
    if (csrf !== undefined) form.csrf = csrf;
    const r = await post(`/pending/${p.id}/decision`, form);
    assert.equal(r.status, 403, String(csrf));
    assert.match(text(r), /missing or invalid CSRF token/);
  }
  assert.equal((await store.pendingById(p.id))!.state, 'pending');
  // A form posted as JSON or multipart is not accepted either.
  const json = await fetchRaw(`${base}/pending/${p.id}/decision`, { method: 'POST', headers: { Authorization: ALICE, 'Content-Type': 'application/json' }, body: JSON.stringify({ decision: 'approve', csrf: mine }) });
  assert.equal(json.status, 415);
  assert.equal((await get(`/pending/${p.id}/decision`)).status, 405);
});

test('approve and deny are recorded with who decided; a second decision and an expired request get a clear message', async () => {
  const a = await store.putPending(pendingInput({ subject: 'CN=to-approve' }));
  const d = await store.putPending(pendingInput({ subject: 'CN=to-deny' }));
  const csrf = tokenOf(await get('/pending'));
  const r = await post(`/pending/${a.id}/decision`, { csrf, decision: 'approve', reason: 'known serial number', back: 'list' });
  assert.equal(r.status, 303);
  assert.equal(r.headers.location, `/est-admin/pending?done=approved&id=${a.id}`);
  const after1 = await store.pendingById(a.id);
  assert.equal(after1!.state, 'approved');
  assert.equal(after1!.decidedBy, 'alice');
  assert.equal(after1!.reason, 'known serial number');
  assert.match(text(await get(String(r.headers.location).replace('/est-admin', ''))), /Request from CN=to-approve approved\./);

  const r2 = await post(`/pending/${d.id}/decision`, { csrf: tokenOf(await get('/pending', basic('bob', 'hunter2'))), decision: 'deny', reason: 'unknown\r\ndevice', back: 'detail' }, basic('bob', 'hunter2'));
  assert.equal(r2.status, 303);
  assert.equal(r2.headers.location, `/est-admin/pending/${d.id}?done=denied&id=${d.id}`);
  assert.equal((await store.pendingById(d.id))!.decidedBy, 'bob');
  assert.equal((await store.pendingById(d.id))!.reason, 'unknown device');

  const twice = await post(`/pending/${a.id}/decision`, { csrf, decision: 'deny' });
  assert.equal(twice.status, 409);
  assert.match(text(twice), /This request was already approved by alice at \d{4}-\d\d-\d\d [\d:]+ UTC; nothing was changed\./);
  assert.equal((await store.pendingById(a.id))!.state, 'approved');

  const old = await store.putPending(pendingInput({ subject: 'CN=too-late', createdAt: new Date(Date.now() - 7200_000), expiresAt: new Date(Date.now() - 1000) }));
  const late = await post(`/pending/${old.id}/decision`, { csrf, decision: 'approve' });
  assert.equal(late.status, 409);
  assert.match(text(late), /This request expired at .* before anyone decided; it can no longer be approved or denied/);
  assert.equal((await post(`/pending/${a.id}/decision`, { csrf, decision: 'maybe' })).status, 400);
  assert.equal((await post(`/pending/${a.id}/decision`, { csrf, decision: 'deny', reason: 'x'.repeat(501) })).status, 400);
  assert.equal((await post('/pending/nope/decision', { csrf, decision: 'deny' })).status, 404);
});

test('issued certificates: search by subject or serial, filter by label/expiry/status, pages, details, PEM download, revoke', async () => {
  for (let i = 0; i < 60; i++) {
    await store.record(recordInput((0x1000 + i).toString(16).toUpperCase(), {
      subject: `CN=fleet-${i}, O=Acme`,
      label: i % 2 ? 'odd' : 'even',
      certificate: certDer,
      notAfter: new Date(Date.now() + (i < 5 ? 3 : 300) * 86_400_000),
    }));
  }
  const all = text(await get('/certificates?q=fleet'));
  assert.match(all, /1–25 of 60/);
  assert.match(text(await get('/certificates?q=fleet&page=3')), /51–60 of 60/);
  assert.match(text(await get('/certificates?q=FLEET-1&label=odd')), /1–6 of 6/); // 1, 11, 13, 15, 17, 19
  assert.match(text(await get('/certificates?q=fleet&expiring=7')), /1–5 of 5/);
  const bySerial = text(await get('/certificates?q=00:10:2a'));
  assert.match(bySerial, /1–1 of 1/);
  assert.match(bySerial, /CN=fleet-42, O=Acme/);
  assert.equal((await get('/certificates?expiring=-1')).status, 400);

  const detail = await get('/certificates/102A');
  assert.match(text(detail), /Download PEM/);
  assert.match(text(detail), /Key<\/dt><dd>EC P-256/);
  const pem = await get('/certificates/102a.pem');
  assert.equal(pem.status, 200);
  assert.equal(pem.headers['content-disposition'], 'attachment; filename="102a.pem"');
  assert.match(openssl(['x509', '-noout', '-subject'], pem.body).toString(), /CN\s*=\s*real-cert/);
  assert.equal((await get('/certificates/FFFF')).status, 404);

  const csrf = tokenOf(await get('/certificates'));
  const r = await post('/certificates/102A/revoke', { csrf, reason: 'keyCompromise', back: 'list' });
  assert.equal(r.status, 303);
  const rec = await store.get('102A');
  assert.equal(rec!.status, 'revoked');
  assert.equal(rec!.revokedBy, 'alice');
  assert.equal(rec!.revocationReason, 'keyCompromise');
  assert.match(text(await get('/certificates?q=102A&done=revoked&serial=102A')), /Certificate 102A revoked/);
  const again = await post('/certificates/102A/revoke', { csrf, reason: 'superseded' });
  assert.equal(again.status, 409);
  assert.match(text(again), /already revoked by alice/);
  assert.equal((await get('/certificates?status=revoked&q=fleet')).text.match(/<tr data-serial/g)?.length, 1);
  assert.equal((await post('/certificates/102B/revoke', { csrf, reason: 'removeFromCRL' })).status, 400);
  assert.equal((await post('/certificates/102B/revoke', { reason: 'superseded' })).status, 403);
  assert.equal((await store.get('102B'))!.status, 'valid');
});

test('10,000 pending requests list in well under a second, paginated', async () => {
  const bulk = new MemoryStore();
  for (let i = 0; i < 10_000; i++) await bulk.putPending(pendingInput({ subject: `CN=bulk-${i}` }));
  const app = express();
  app.use('/a', estAdmin({ store: bulk, auth: () => 'tester' }));
  const s = createServer(app);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}/a`;
  try {
    for (const page of [1, 100, 200]) {
      const t0 = performance.now();
      const r = await fetchRaw(`${url}/pending?page=${page}`);
      const ms = performance.now() - t0;
      assert.equal(r.status, 200);
      assert.equal(r.text.match(/<tr data-id/g)?.length, 50);
      assert.match(text(r), new RegExp(`${(page - 1) * 50 + 1}–${page * 50} of 10000`));
      assert.ok(ms < 1000, `page ${page} took ${ms.toFixed(0)} ms`);
    }
    assert.doesNotMatch((await fetchRaw(`${url}/pending?page=200`)).text, /rel="next"/);
  } finally {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

test('function auth: its name is recorded; refusing is 401 without a Basic prompt', async () => {
  const s2 = new MemoryStore();
  const p = await s2.putPending(pendingInput());
  const handler = estAdmin({ store: s2, auth: (req) => (req.headers['x-sso-user'] as string | undefined) });
  const srv = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  try {
    const no = await fetchRaw(`${url}/pending`);
    assert.equal(no.status, 401);
    assert.equal(no.headers['www-authenticate'], undefined);
    const page = await fetchRaw(`${url}/pending`, { headers: { 'X-SSO-User': 'carol' } });
    assert.match(page.text, /href="\/pending\//, 'links work when mounted at the root');
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const r = await fetchRaw(`${url}/pending/${p.id}/decision`, { method: 'POST', headers: { 'X-SSO-User': 'carol', 'Content-Type': 'application/x-www-form-urlencoded' }, body: `csrf=${csrf}&decision=deny` });
    assert.equal(r.status, 303);
    assert.equal((await s2.pendingById(p.id))!.decidedBy, 'carol');
  } finally {
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  }
});

test('options are validated at start-up; scrypt hashes verify', async () => {
  const store2 = new MemoryStore();
  const cases: Array<[object, RegExp]> = [
    [{ store: store2 }, /`auth` is required/],
    [{ store: {}, auth: () => 'x' }, /`store` must be a RecordStore/],
    [{ store: store2, auth: { users: { alice: 'plaintext' } } }, /`auth.users.alice` must be a scrypt hash/],
    [{ store: store2, auth: { users: {} } }, /names no user/],
    [{ store: store2, auth: () => 'x', pageSize: 0 }, /`pageSize` must be a whole number from 1 to 1000/],
    [{ store: store2, auth: () => 'x', colour: 'red' }, /unknown option `colour`/],
  ];
  for (const [o, re] of cases) assert.throws(() => estAdmin(o as never), (e: unknown) => e instanceof EstConfigError && re.test(e.message));
  const h = await hashPassword('s3cret');
  assert.match(h, /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.equal(await verifyPassword('s3cret', h), true);
  assert.equal(await verifyPassword('s3creT', h), false);
  assert.equal(await verifyPassword('s3cret', 'garbage'), false);
});

test('with `ca`, the PEM download carries the chain after the certificate', async () => {
  const s3 = new MemoryStore();
  await s3.record(recordInput('0C', { certificate: certDer, label: 'lab' }));
  const caDer = new Uint8Array(openssl(['x509', '-in', pki.path('ca-1.crt'), '-outform', 'DER']));
  const labels: Array<string | undefined> = [];
  const handler = estAdmin({ store: s3, auth: () => 'dave', ca: { cacerts: (label) => (labels.push(label), [caDer]), enroll: () => new Uint8Array() } });
  const srv = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  try {
    const r = await fetchRaw(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/certificates/0C.pem`);
    assert.equal(r.status, 200);
    assert.equal(r.text.match(/BEGIN CERTIFICATE/g)?.length, 2);
    assert.deepEqual(labels, ['lab']);
  } finally {
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  }
});
