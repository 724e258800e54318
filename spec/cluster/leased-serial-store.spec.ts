// LeasedSerialStore: blocks taken from the inner store, handed out in order, refilled ahead of need.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeasedSerialStore } from '../../lib/ca/leased-serial-store.js';
import type { SerialStore } from '../../lib/ca/types.js';
import { est } from '../../lib/index.js';

/** An inner store like the serial file: consecutive serials from a counter, counting reservations. */
function counter(start = 0x1000n): SerialStore & { calls: number[]; last: bigint; fail?: Error } {
  const s = {
    calls: [] as number[],
    last: start,
    fail: undefined as Error | undefined,
    async next(count: number) {
      await new Promise((r) => setImmediate(r));
      if (s.fail) throw s.fail;
      s.calls.push(count);
      const out: bigint[] = [];
      for (let i = 0; i < count; i++) out.push(++s.last);
      return out;
    },
  };
  return s;
}

test('hands out consecutive serials from blocks of `lease`, fetching the next block before the first runs out', async () => {
  const inner = counter();
  const store = new LeasedSerialStore(inner, { lease: 10 });
  const got: bigint[] = [];
  for (let i = 0; i < 25; i++) got.push(...(await store.next(1)));
  assert.deepEqual(got, Array.from({ length: 25 }, (_, i) => 0x1001n + BigInt(i)));
  assert.ok(inner.calls.every((c) => c === 10));
  assert.ok(inner.calls.length >= 3 && inner.calls.length <= 4, `${inner.calls.length} reservations`);
  await store.close();
});

test('a burst larger than the lease is served by one reservation; counts > 1 stay consecutive', async () => {
  const inner = counter();
  const store = new LeasedSerialStore(inner, { lease: 4 });
  const burst = (await Promise.all(Array.from({ length: 9 }, () => store.next(1)))).flat();
  assert.equal(new Set(burst).size, 9);
  assert.equal(inner.calls[0], 9);
  const run = await store.next(3);
  assert.deepEqual(run, [run[0]!, run[0]! + 1n, run[0]! + 2n]);
  await store.close();
});

test('an inner failure reaches the waiting callers; the next call tries again', async () => {
  const inner = counter();
  const store = new LeasedSerialStore(inner, { lease: 5 });
  inner.fail = new Error('lock timeout');
  await assert.rejects(store.next(1), /lock timeout/);
  inner.fail = undefined;
  assert.deepEqual(await store.next(1), [0x1001n]);
  await store.close();
});

test('est(): serialLease is validated like every option', () => {
  assert.throws(() => est({ ca: { cacerts: () => [], enroll: async () => new Uint8Array() }, serialLease: 0 }), {
    code: 'ERR_EST_CONFIG',
    message: 'est: `serialLease` must be an integer from 1 to 1000000 (got 0)',
  });
});
