// The pending-request and record part of the RecordStore contract, run against every store.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import type { CertificateRecord, PendingRequest, RecordStore } from '../../lib/store/types.js';

type Ctx = TestContext;

export function pendingInput(over: Partial<PendingRequest> = {}): Omit<PendingRequest, 'id' | 'state'> {
  const now = Date.now();
  return {
    key: randomBytes(32).toString('hex'),
    operation: 'simpleenroll',
    csr: new Uint8Array(randomBytes(40)),
    subject: 'CN=device-1, O=Demo',
    sans: ['DNS:device-1.example'],
    keyType: 'EC P-256',
    requester: { method: 'auth-request', user: 'estuser' },
    peerAddress: '127.0.0.1',
    requestId: 'req-1',
    createdAt: new Date(now),
    expiresAt: new Date(now + 3600_000),
    ...over,
  };
}

export function recordInput(serial: string, over: Partial<CertificateRecord> = {}): CertificateRecord {
  const now = Date.now();
  return {
    serial,
    subject: `CN=dev-${serial}`,
    sans: [],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 30 * 86_400_000),
    issuer: 'CN=Test CA',
    operation: 'simpleenroll',
    requester: { method: 'certificate', certificateSubject: 'CN=old', certificateSerial: '0A' },
    peerAddress: '127.0.0.1',
    requestId: `r-${serial}`,
    certificate: new Uint8Array(randomBytes(64)),
    issuedAt: new Date(now),
    status: 'valid',
    ...over,
  };
}

/**
 * Registers the contract's tests on `t` for a store made fresh by `make` for each test. `records`
 * runs the record checks with synthetic certificates (stores that parse the DER have their own);
 * `bulk` is how many pending requests the listing test stores.
 */
export async function pendingContract(t: Ctx, make: () => Promise<RecordStore>, opts: { records?: boolean; bulk?: number } = {}): Promise<void> {
  const bulk = opts.bulk ?? 10_000;
  const each = async (name: string, fn: (s: RecordStore) => Promise<void>) => {
    await t.test(name, async () => {
      const s = await make();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    });
  };

  await each('putPending stores once per key; the same key returns the same request', async (s) => {
    const input = pendingInput();
    const a = await s.putPending(input);
    assert.equal(a.state, 'pending');
    assert.ok(a.id);
    const b = await s.putPending({ ...input, requestId: 'req-2' });
    assert.equal(b.id, a.id);
    assert.equal(b.requestId, 'req-1');
    const c = await s.putPending(pendingInput());
    assert.notEqual(c.id, a.id);
    assert.deepEqual((await s.pendingByKey(input.key))?.id, a.id);
    const byId = await s.pendingById(a.id);
    assert.deepEqual(Buffer.from(byId!.csr), Buffer.from(input.csr));
    assert.deepEqual(byId!.requester, input.requester);
    assert.equal(await s.pendingById('nope'), undefined);
    assert.equal(await s.pendingByKey('nope'), undefined);
  });

  await each('decide: pending → approved → issued; a second decision is refused with 409', async (s) => {
    const p = await s.putPending(pendingInput());
    const a = await s.decide(p.id, { state: 'approved', by: 'alice', reason: 'known device' });
    assert.equal(a.state, 'approved');
    assert.equal(a.decidedBy, 'alice');
    await assert.rejects(s.decide(p.id, { state: 'denied', by: 'bob' }), (e: { code: string; status: number }) => e.code === 'ERR_EST_STORE_DECIDED' && e.status === 409);
    const i = await s.decide(p.id, { state: 'issued', by: 'est', serial: '0A1B' });
    assert.equal(i.state, 'issued');
    assert.equal(i.serial, '0A1B');
    assert.equal(i.decidedBy, 'alice', 'the person who approved stays on record');
    await assert.rejects(s.decide(p.id, { state: 'issued', by: 'est', serial: '0A1C' }), { code: 'ERR_EST_STORE_DECIDED' });
  });

  await each('denied is final; expired requests read as expired, cannot be decided, and the same key then starts a new request', async (s) => {
    const p = await s.putPending(pendingInput());
    await s.decide(p.id, { state: 'denied', by: 'bob', reason: 'unknown device' });
    const d = await s.pendingById(p.id);
    assert.equal(d!.state, 'denied');
    assert.equal(d!.reason, 'unknown device');
    await assert.rejects(s.decide(p.id, { state: 'approved', by: 'alice' }), { code: 'ERR_EST_STORE_DECIDED' });

    const soon = pendingInput({ createdAt: new Date(Date.now() - 7200_000), expiresAt: new Date(Date.now() + 300) });
    const old = await s.putPending(soon);
    assert.equal(old.state, 'pending');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal((await s.pendingById(old.id))!.state, 'expired');
    assert.equal((await s.pendingByKey(soon.key))!.state, 'expired');
    await assert.rejects(s.decide(old.id, { state: 'approved', by: 'alice' }), { code: 'ERR_EST_STORE_DECIDED' });
    const renewed = await s.putPending({ ...soon, createdAt: new Date(), expiresAt: new Date(Date.now() + 3600_000) });
    assert.notEqual(renewed.id, old.id);
    assert.equal(renewed.state, 'pending');
    assert.equal((await s.pendingByKey(soon.key))!.id, renewed.id);
    // The expired one stays as history (memory, file) or is replaced in place (PostgreSQL).
    assert.ok([undefined, 'expired'].includes((await s.pendingById(old.id))?.state));
  });

  await each('listPending filters by state and pages, newest first', async (s) => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await s.putPending(pendingInput({ subject: `CN=n${i}`, createdAt: new Date(Date.now() - (7 - i) * 1000) }))).id);
    await s.decide(ids[0]!, { state: 'denied', by: 'bob' });
    const all = await s.listPending();
    assert.equal(all.total, 7);
    const pend = await s.listPending({ state: 'pending', limit: 4 });
    assert.equal(pend.total, 6);
    assert.equal(pend.requests.length, 4);
    const page2 = await s.listPending({ state: 'pending', limit: 4, offset: 4 });
    assert.equal(page2.requests.length, 2);
    assert.deepEqual(pend.requests.map((p) => p.subject), ['CN=n6', 'CN=n5', 'CN=n4', 'CN=n3']);
    const seen = new Set([...pend.requests, ...page2.requests].map((p) => p.id));
    assert.equal(seen.size, 6);
    assert.ok(!seen.has(ids[0]!));
    assert.equal((await s.listPending({ state: 'denied' })).requests[0]!.id, ids[0]);
  });

  if (opts.records !== false) await each('records: get by any serial spelling, list filters, revoke by whom, unknown serial 404', async (s) => {
    await s.record(recordInput('0A', { label: 'iot', subject: 'CN=Alpha' }));
    await s.record(recordInput('0B', { subject: 'CN=beta', notAfter: new Date(Date.now() + 3 * 86_400_000) }));
    assert.equal((await s.get('a'))?.subject, 'CN=Alpha');
    assert.equal((await s.get('000A'))?.subject, 'CN=Alpha');
    assert.equal(await s.status('0c'), 'unknown');
    assert.equal((await s.list({ subject: 'ALPHA' })).total, 1);
    assert.equal((await s.list({ label: 'iot' })).records[0]!.serial, '0A');
    assert.equal((await s.list({ expiringWithinDays: 7 })).records[0]!.serial, '0B');
    assert.equal((await s.list({ serial: 'b' })).total, 1);
    const r = await s.revoke('0a', 'keyCompromise', 'alice');
    assert.equal(r.status, 'revoked');
    assert.equal(r.revokedBy, 'alice');
    assert.equal(await s.status('0A'), 'revoked');
    assert.equal((await s.list({ status: 'revoked' })).total, 1);
    assert.deepEqual((await s.revoked()).map((x) => [x.serial, x.reason]), [['0A', 'keyCompromise']]);
    await assert.rejects(s.revoke('FF', 'unspecified', 'alice'), (e: { code: string; status: number }) => e.code === 'ERR_EST_STORE_UNKNOWN_SERIAL' && e.status === 404);
  });

  await each(`${bulk.toLocaleString('en')} pending requests: one page lists quickly`, async (s) => {
    // Arriving 100 at a time, as from many devices at once.
    for (let i = 0; i < bulk; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => s.putPending(pendingInput({ subject: `CN=bulk-${i + j}` }))));
    const t0 = performance.now();
    const page = await s.listPending({ state: 'pending', limit: 50, offset: bulk - 50 });
    const ms = performance.now() - t0;
    assert.equal(page.total, bulk);
    assert.equal(page.requests.length, 50);
    assert.ok(ms < 1000, `listPending took ${ms.toFixed(0)} ms`);
  });
}
