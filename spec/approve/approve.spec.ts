// The approve stage alone: options, policy answers, and what the store's state makes of a repeat.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createApprover, csrSans, pendingKey, type ApprovalInput } from '../../lib/approve/approve.js';
import { parseApprovalOptions, type ApprovalContext } from '../../lib/approve/options.js';
import { EstConfigError } from '../../lib/errors.js';
import { est, type EstOptions } from '../../lib/index.js';
import { parseCsr } from '../../lib/protocol/pkcs10.js';
import { MemoryStore } from '../../lib/store/memory-store.js';
import { TestPki } from '../helpers/pki.js';
import { recordInput } from '../store/pending-contract.js';

const pki = new TestPki();
after(() => pki.cleanup());
const csrA = parseCsr(pki.csr({ subject: '/CN=dev-a/O=Demo', exts: ['subjectAltName=DNS:dev-a.example,IP:192.0.2.7,IP:2001:db8::1,email:a@example.com'] }).der);
const csrB = parseCsr(pki.csr({ subject: '/CN=dev-b' }).der);

function input(csr = csrA, over: Partial<ApprovalInput> = {}): ApprovalInput {
  return { operation: 'simpleenroll', csr, requester: { method: 'auth-request', user: 'estuser' }, peerAddress: '192.0.2.1', requestId: 'rq-1', ...over };
}

test('options: defaults, and each bad value names its option', () => {
  assert.deepEqual({ ...parseApprovalOptions({}) }, { policy: 'auto', retryAfter: 60, expiry: 7 * 86_400_000 });
  const bad: Array<[object, string]> = [
    [{ approval: 'sometimes' }, "est: `approval` must be 'auto', 'manual' or a function returning 'issue' | 'pending' | 'deny' (got \"sometimes\")"],
    [{ approvalRetryAfter: 0 }, 'est: `approvalRetryAfter` must be a whole number of seconds from 1 to 86400 (got 0)'],
    [{ approvalRetryAfter: 1.5 }, 'est: `approvalRetryAfter` must be a whole number of seconds from 1 to 86400 (got 1.5)'],
    [{ approvalExpiry: '7d' }, 'est: `approvalExpiry` must be a whole number of seconds from 1 to 31536000 (got "7d")'],
  ];
  for (const [o, message] of bad) assert.throws(() => parseApprovalOptions(o as never), (e: unknown) => e instanceof EstConfigError && e.message === message && e.code === 'ERR_EST_CONFIG');
});

test("'auto' needs no store and builds no stage", () => {
  assert.equal(createApprover(parseApprovalOptions({}), undefined), undefined);
  assert.throws(() => createApprover(parseApprovalOptions({ approval: 'manual' }), undefined), /record store/);
});

test('SANs as text; the identity covers the operation, the label, who asked and the CSR bytes', () => {
  assert.deepEqual(csrSans(csrA), ['DNS:dev-a.example', 'IP:192.0.2.7', 'IP:2001:db8::1', 'email:a@example.com']);
  const who = { operation: 'simpleenroll' as const, requester: { method: 'auth-request' as const, user: 'u1' } };
  assert.equal(pendingKey(who, csrA.der), pendingKey({ ...who, requester: { ...who.requester } }, csrA.der));
  assert.notEqual(pendingKey(who, csrA.der), pendingKey({ ...who, requester: { ...who.requester, user: 'u2' } }, csrA.der));
  assert.notEqual(pendingKey(who, csrA.der), pendingKey(who, csrB.der));
  assert.notEqual(pendingKey(who, csrA.der), pendingKey({ ...who, requester: { method: 'certificate', certificateSerial: '01' } }, csrA.der));
  assert.notEqual(pendingKey(who, csrA.der), pendingKey({ ...who, operation: 'serverkeygen' }, csrA.der));
  assert.notEqual(pendingKey(who, csrA.der), pendingKey({ ...who, label: 'other' }, csrA.der));
  assert.equal(pendingKey({ ...who, label: undefined }, csrA.der), pendingKey(who, csrA.der));
});

/** A manual approver whose first request (input()) a person has approved. */
async function oneApproved() {
  const store = new MemoryStore();
  const ap = createApprover(parseApprovalOptions({ approval: 'manual' }), store)!;
  await assert.rejects(ap.approve(input()), { status: 202 });
  const p = (await store.listPending()).requests[0]!;
  await store.decide(p.id, { state: 'approved', by: 'alice' });
  return { store, ap, p };
}

test("'manual': an approval covers its operation and label only; the same CSR to /serverkeygen or another label waits for its own", async () => {
  const { store, ap, p } = await oneApproved();
  await assert.rejects(ap.approve(input(csrA, { operation: 'serverkeygen' })), { status: 202 });
  await assert.rejects(ap.approve(input(csrA, { label: 'servers' })), { status: 202 });
  assert.equal((await store.listPending()).total, 3);
  assert.deepEqual(await ap.approve(input()), { kind: 'issue', pendingId: p.id });
});

test("'manual': 202 while pending; same request same entry; another CSR a new one; approved → issue once, then the same certificate", async () => {
  const store = new MemoryStore();
  const ap = createApprover(parseApprovalOptions({ approval: 'manual', approvalRetryAfter: 5 }), store)!;
  await assert.rejects(ap.approve(input()), (e: { status: number; retryAfter: number; message: string }) => e.status === 202 && e.retryAfter === 5 && /^pending approval \(request [0-9a-f-]+\); retry in 5 s$/.test(e.message));
  await assert.rejects(ap.approve(input(csrA, { requestId: 'rq-2' })), { status: 202 });
  assert.equal((await store.listPending()).total, 1);
  const p = (await store.listPending()).requests[0]!;
  assert.equal(p.subject, 'CN=dev-a, O=Demo');
  assert.equal(p.keyType, 'EC P-256');
  assert.equal(p.requestId, 'rq-1');
  assert.equal(p.peerAddress, '192.0.2.1');
  assert.equal(p.expiresAt.getTime() - p.createdAt.getTime(), 7 * 86_400_000);
  await assert.rejects(ap.approve(input(csrB)), { status: 202 });
  assert.equal((await store.listPending()).total, 2);

  await store.decide(p.id, { state: 'approved', by: 'alice' });
  const go = await ap.approve(input());
  assert.deepEqual(go, { kind: 'issue', pendingId: p.id });
  // A concurrent repeat while this process issues: wait a second, do not issue twice.
  await assert.rejects(ap.approve(input()), (e: { status: number; retryAfter: number }) => e.status === 202 && e.retryAfter === 1);
  const rec = recordInput('1F');
  await store.record(rec);
  await ap.issued(p.id, '1F');
  const again = await ap.approve(input());
  assert.equal(again.kind, 'issued');
  assert.deepEqual(again.kind === 'issued' && Buffer.from(again.certificate), Buffer.from(rec.certificate));
  await store.revoke('1F', 'keyCompromise', 'alice');
  await assert.rejects(ap.approve(input()), (e: { status: number; code: string }) => e.status === 403 && e.code === 'ERR_EST_APPROVAL_REVOKED');
});

test('a failed issue releases the request for the next repeat', async () => {
  const { ap, p } = await oneApproved();
  assert.equal((await ap.approve(input())).kind, 'issue');
  ap.release(p.id);
  assert.equal((await ap.approve(input())).kind, 'issue');
});

test('denied → 403 with the reason; an expired request starts anew (202); serverkeygen is delivered once', async () => {
  let now = Date.now();
  const store = new MemoryStore({ now: () => new Date(now) });
  const ap = createApprover(parseApprovalOptions({ approval: 'manual', approvalExpiry: 60 }), store, () => new Date(now))!;
  await assert.rejects(ap.approve(input()), { status: 202 });
  const p = (await store.listPending()).requests[0]!;
  await store.decide(p.id, { state: 'denied', by: 'bob', reason: 'not ours\r\nX-Injected: 1' });
  await assert.rejects(ap.approve(input()), (e: { status: number; code: string; message: string }) => e.status === 403 && e.code === 'ERR_EST_APPROVAL_DENIED' && e.message === 'request denied: not ours X-Injected: 1');

  await assert.rejects(ap.approve(input(csrB)), { status: 202 });
  const first = (await store.listPending({ state: 'pending' })).requests[0]!;
  now += 61_000;
  await assert.rejects(ap.approve(input(csrB)), { status: 202 });
  assert.equal((await store.pendingById(first.id))!.state, 'expired');
  const second = (await store.listPending({ state: 'pending' })).requests;
  assert.equal(second.length, 1);
  assert.notEqual(second[0]!.id, first.id);

  const kg = input(csrB, { operation: 'serverkeygen', requester: { method: 'certificate', certificateSerial: '02' } });
  await assert.rejects(ap.approve(kg), { status: 202 });
  const k = (await store.listPending({ state: 'pending' })).requests[0]!;
  await store.decide(k.id, { state: 'approved', by: 'alice' });
  assert.equal((await ap.approve(kg)).kind, 'issue');
  await store.record(recordInput('20'));
  await ap.issued(k.id, '20');
  await assert.rejects(ap.approve(kg), (e: { status: number; code: string }) => e.status === 403 && e.code === 'ERR_EST_APPROVAL_ISSUED');
});

test('a policy function sees the request and decides; a bad answer is a 500', async () => {
  const store = new MemoryStore();
  const seen: ApprovalContext[] = [];
  const ap = createApprover(
    parseApprovalOptions({
      approval: async (ctx) => {
        seen.push(ctx);
        return ctx.subject.includes('dev-a') ? 'pending' : ctx.user === 'mallory' ? 'deny' : ctx.user === 'junk' ? ('yes' as never) : 'issue';
      },
    }),
    store,
  )!;
  assert.deepEqual(await ap.approve(input(csrB)), { kind: 'issue' });
  assert.equal((await store.listPending()).total, 0, "'issue' touches no store");
  await assert.rejects(ap.approve(input()), { status: 202 });
  await assert.rejects(ap.approve(input(csrB, { requester: { method: 'auth-request', user: 'mallory' } })), (e: { status: number; message: string }) => e.status === 403 && e.message === 'request denied by the approval policy');
  await assert.rejects(ap.approve(input(csrB, { requester: { method: 'auth-request', user: 'junk' } })), (e: { status: number; code: string }) => e.status === 500 && e.code === 'ERR_EST_APPROVAL_POLICY');
  const c = seen[1]!;
  assert.equal(c.operation, 'simpleenroll');
  assert.equal(c.authenticatedBy, 'auth-request');
  assert.equal(c.user, 'estuser');
  assert.equal(c.keyType, 'EC P-256');
  assert.equal(c.peerAddress, '192.0.2.1');
  assert.deepEqual(c.sans.slice(0, 1), ['DNS:dev-a.example']);
});

test('est(): approval options are checked at start-up, naming the option', () => {
  const ca = pki.ca('p256');
  const base = { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial };
  const cases: Array<[object, string]> = [
    [{ approval: 'later' }, "est: `approval` must be 'auto', 'manual' or a function returning 'issue' | 'pending' | 'deny' (got \"later\")"],
    [{ approval: 'manual', approvalRetryAfter: -5 }, 'est: `approvalRetryAfter` must be a whole number of seconds from 1 to 86400 (got -5)'],
    [{ approval: 'manual', store: false }, "est: `approval` 'manual' needs a record store to keep pending requests in (not `store: false`)"],
    [{ approval: () => 'issue', store: false }, 'est: `approval` as a function needs a record store to keep pending requests in (not `store: false`)'],
  ];
  for (const [o, message] of cases) assert.throws(() => est({ ...base, ...o } as EstOptions), (e: unknown) => e instanceof EstConfigError && e.message === message, message);
  const custom = { cacerts: () => [], enroll: () => new Uint8Array() };
  assert.throws(() => est({ ca: custom, approval: 'manual' }), /needs a record store to keep pending requests in \(set `store`\)/);
  const m = est({ ca: custom, approval: 'manual', store: new MemoryStore() });
  assert.ok(m.store instanceof MemoryStore);
  void m.close();
});
