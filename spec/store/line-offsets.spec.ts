// The file store's line offsets in memory: what a Uint32Array (then a Float64Array) of offsets did, in 16-bit distances.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LineOffsets } from '../../lib/store/line-offsets.js';

/** A deterministic stream of numbers in [0, 1) (xorshift), so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('LineOffsets', () => {
  test('keeps every offset exactly: lines of every length, past 4 GiB, set again later or earlier, grown', () => {
    const random = rng(7);
    const want: number[] = [];
    const offsets = new LineOffsets(64, 16);
    let at = 0;
    for (let i = 0; i < 40_000; i++) {
      if (i === offsets.length) offsets.grow(Math.ceil(offsets.length * 1.5));
      // Mostly index.txt-sized lines, some of several KB (a stride past 64 KB), one jump past 4 GiB.
      const r = random();
      at += r < 0.9 ? 60 + Math.floor(random() * 200) : r < 0.99 ? 4_000 + Math.floor(random() * 30_000) : 70_000;
      if (i === 20_000) at += 2 ** 32;
      offsets.set(i, at);
      want.push(at);
      // Now and then an entry found again: its line appended later, or (a ledger orphan) earlier.
      if (i > 100 && random() < 0.02) {
        const j = Math.floor(random() * i);
        const again = random() < 0.5 ? at + 1 + Math.floor(random() * 100) : Math.floor(random() * at);
        offsets.set(j, again);
        want[j] = again;
      }
    }
    for (let i = 0; i < want.length; i++) assert.equal(offsets.get(i), want[i], `entry ${i}`);
    assert.equal(offsets.get(want.length), -1, 'room made, nothing set');
    assert.equal(offsets.get(offsets.length + 5), -1, 'past the room');
    assert.ok(want[20_000]! > 2 ** 32, 'the jump past 4 GiB was checked above');
    assert.equal(new LineOffsets(1, 16).get(0), -1, 'a fresh entry has none');
  });

  test('an offset set far, then near again, leaves the side table', () => {
    const offsets = new LineOffsets(32, 16);
    offsets.set(0, 1_000);
    const small = offsets.bytes;
    offsets.set(1, 1_000 + 70_000);
    offsets.set(2, 500);
    assert.equal(offsets.bytes, small + 32, 'two offsets kept aside');
    assert.deepEqual([offsets.get(0), offsets.get(1), offsets.get(2)], [1_000, 71_000, 500]);
    offsets.set(1, 1_100);
    offsets.set(2, 1_200);
    assert.equal(offsets.bytes, small);
    assert.deepEqual([offsets.get(0), offsets.get(1), offsets.get(2)], [1_000, 1_100, 1_200]);
  });

  test("a million index.txt lines' offsets take 2.5 bytes each, not 4", () => {
    const n = 1_000_000;
    const offsets = new LineOffsets(n, 16);
    const random = rng(3);
    let at = 0;
    let last = 0;
    for (let i = 0; i < n; i++) {
      offsets.set(i, at);
      last = at;
      at += 70 + Math.floor(random() * 120);
    }
    const perEntry = offsets.bytes / n;
    assert.ok(perEntry >= 2.5 && perEntry < 2.51, `${perEntry.toFixed(2)} bytes an offset`);
    assert.equal(offsets.get(n - 1), last);
    assert.equal(offsets.get(n / 2 + 3) < offsets.get(n / 2 + 4), true);
  });
});
