// The in-memory RecordStore against the store contract, plus what only it does (the clock, copies).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore, formatSerial, serialKey } from '../../lib/store/memory-store.js';
import { pendingContract, pendingInput, recordInput } from './pending-contract.js';

test('MemoryStore: the RecordStore contract', async (t) => {
  await pendingContract(t, async () => new MemoryStore());
});

test('MemoryStore: serials are unique and formatted like the serial file', async () => {
  const s = new MemoryStore({ firstSerial: 0xfen });
  const got = await s.nextSerials(3);
  assert.deepEqual(got, [0xfen, 0xffn, 0x100n]);
  assert.deepEqual(got.map(formatSerial), ['FE', 'FF', '0100']);
  assert.equal(serialKey('00:0a'), 'A');
  await s.record(recordInput('0A'));
  await assert.rejects(s.record(recordInput('000a')), { code: 'ERR_EST_STORE_DUPLICATE' });
});

test('MemoryStore: a pending request expires when the clock passes expiresAt', async () => {
  let now = Date.now();
  const s = new MemoryStore({ now: () => new Date(now) });
  const p = await s.putPending(pendingInput({ expiresAt: new Date(now + 1000) }));
  assert.equal((await s.pendingById(p.id))!.state, 'pending');
  now += 1000;
  assert.equal((await s.pendingById(p.id))!.state, 'expired');
  assert.equal((await s.listPending({ state: 'expired' })).total, 1);
});

test('MemoryStore: returns copies; a closed store refuses', async () => {
  const s = new MemoryStore();
  const p = await s.putPending(pendingInput());
  p.state = 'approved';
  p.sans.push('DNS:evil');
  const again = await s.pendingById(p.id);
  assert.equal(again!.state, 'pending');
  assert.equal(again!.sans.length, 1);
  await s.close();
  await assert.rejects(s.check(), { code: 'ERR_EST_STORE_CLOSED' });
});
