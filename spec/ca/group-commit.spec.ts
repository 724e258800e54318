// GroupCommit: callers of one tick share a batch; at most `concurrency` batches are written at once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GroupCommit } from '../../lib/ca/group-commit.js';

/** A write whose batches finish only when the test says so. */
function gatedWriter() {
  const batches: number[][] = [];
  const gates: Array<() => void> = [];
  let active = 0;
  let maxActive = 0;
  const write = async (items: number[]) => {
    batches.push(items);
    active++;
    maxActive = Math.max(maxActive, active);
    await new Promise<void>((r) => gates.push(r));
    active--;
    if (items.includes(-1)) throw new Error('batch refused');
    return items.map((i) => i * 10);
  };
  return {
    write,
    batches,
    max: () => maxActive,
    /** Lets the oldest batch still waiting finish. */
    releaseOldest: () => gates.shift()!(),
    /** Lets every batch waiting now finish. */
    releaseAll: () => gates.splice(0).forEach((g) => g()),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('GroupCommit', () => {
  test('calls of one tick share a batch; calls during a write wait for the next one', async () => {
    const w = gatedWriter();
    const gc = new GroupCommit(w.write);
    const first = [gc.add(1), gc.add(2), gc.add(3)];
    await tick();
    assert.deepEqual(w.batches, [[1, 2, 3]]);
    const second = [gc.add(4), gc.add(5)];
    await tick();
    assert.equal(w.batches.length, 1, 'one batch at a time by default');
    w.releaseOldest();
    assert.deepEqual(await Promise.all(first), [10, 20, 30]);
    await tick();
    assert.deepEqual(w.batches[1], [4, 5]);
    w.releaseOldest();
    assert.deepEqual(await Promise.all(second), [40, 50]);
    await gc.idle();
    assert.equal(w.max(), 1);
  });

  test('concurrency 2: a second batch goes out while the first waits, never a third', async () => {
    const w = gatedWriter();
    const gc = new GroupCommit(w.write, undefined, 2);
    const a = gc.add(1);
    await tick();
    const b = gc.add(2);
    await tick();
    const c = [gc.add(3), gc.add(4)];
    await tick();
    assert.deepEqual(w.batches, [[1], [2]], 'two batches in flight; the third waits');
    w.releaseOldest();
    assert.equal(await a, 10);
    await tick();
    assert.deepEqual(w.batches[2], [3, 4], 'the waiting calls go together when a slot frees');
    w.releaseAll();
    assert.equal(await b, 20);
    assert.deepEqual(await Promise.all(c), [30, 40]);
    await gc.idle();
    assert.equal(w.max(), 2);
  });

  test('a failed batch rejects its own calls only; idle() waits for every batch', async () => {
    const w = gatedWriter();
    const gc = new GroupCommit(w.write, undefined, 2);
    const bad = [gc.add(-1), gc.add(7)];
    await tick();
    const good = gc.add(8);
    await tick();
    let idle = false;
    const idleP = gc.idle().then(() => (idle = true));
    w.releaseAll();
    await assert.rejects(bad[0]!, /batch refused/);
    await assert.rejects(bad[1]!, /batch refused/);
    assert.equal(await good, 80);
    await idleP;
    assert.ok(idle);
  });

  test('beforeBatch runs before each batch is taken; a bad concurrency is refused', async () => {
    const order: string[] = [];
    const gc = new GroupCommit(
      async (items: number[]) => {
        order.push(`write ${items.join(',')}`);
        return items;
      },
      async () => {
        order.push('before');
      },
    );
    await Promise.all([gc.add(1), gc.add(2)]);
    await gc.add(3);
    assert.deepEqual(order, ['before', 'write 1,2', 'before', 'write 3']);
    assert.throws(() => new GroupCommit(async (x: number[]) => x, undefined, 0), /concurrency must be a positive integer/);
  });
});
