// The file store's in-memory serial index: what a Map<string, number> did, in typed arrays.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { SerialIndex } from '../../lib/store/serial-index.js';

describe('SerialIndex', () => {
  test('numbers keys in the order added and finds them by string or by bytes, across many rehashes', () => {
    const idx = new SerialIndex();
    const keys: string[] = [];
    // Sequential serials (the serial file's), random 20-octet ones and the edge lengths.
    for (let n = 0; n < 50_000; n++) keys.push((0x1000 + n).toString(16).toUpperCase());
    for (let n = 0; n < 5_000; n++) keys.push(randomBytes(20).toString('hex').toUpperCase().replace(/^0+/, '') || '0');
    keys.push('0', 'F'.repeat(64));
    const unique = [...new Set(keys)];
    for (const [i, k] of unique.entries()) {
      assert.equal(idx.find(k), -1);
      assert.equal(i % 2 ? idx.add(k) : idx.addBytes(Buffer.from(`x${k}y`, 'latin1'), 1, k.length + 1), i);
    }
    assert.equal(idx.size, unique.length);
    for (const [i, k] of unique.entries()) {
      assert.equal(idx.find(k), i, k);
      assert.equal(idx.findBytes(Buffer.from(`\t${k}\t`, 'latin1'), 1, k.length + 1), i, k);
      assert.equal(idx.keyAt(i), k);
    }
    assert.deepEqual([...idx.keys()], unique);
  });

  test('reserve() keeps the keys added before it; adding past what was reserved grows without losing any', () => {
    const idx = new SerialIndex();
    const key = (n: number) => (0x5000 + n * 7919).toString(16).toUpperCase();
    for (let n = 0; n < 3_000; n++) assert.equal(idx.add(key(n)), n);
    assert.equal(idx.digitsPerKey, [...idx.keys()].reduce((a, k) => a + k.length, 0) / 3_000);
    idx.reserve(40_000, idx.digitsPerKey);
    for (let n = 0; n < 3_000; n++) assert.equal(idx.find(key(n)), n, key(n));
    // Past the reservation (and with longer keys than it was sized for): 1.5× growth from there.
    for (let n = 3_000; n < 100_000; n++) assert.equal(n % 2 ? idx.add(key(n) + 'ABCDEF') : idx.add(key(n)), n);
    for (let n = 0; n < 100_000; n++) assert.equal(idx.find(n % 2 && n >= 3_000 ? key(n) + 'ABCDEF' : key(n)), n);
    assert.equal(idx.find(key(100_000)), -1);
    // A reservation smaller than what is there changes nothing.
    idx.reserve(10, 1);
    assert.equal(idx.find(key(99_998)), 99_998);
  });

  test('memory: ~9.25 bytes a reserved 8-digit key (4 of digits, 1 of length and tag, 1/16 of a start, a table of 3-byte slots 3/4 full at most)', () => {
    const idx = new SerialIndex();
    idx.reserve(100_000, 8);
    for (let n = 0; n < 100_000; n++) idx.add((0x10000000 + n).toString(16).toUpperCase());
    // A start per key (4 bytes) and a power-of-two table (2^18 slots here) of 4-byte slots made it ~18.5.
    const perKey = idx.bytes / 100_000;
    assert.ok(perKey >= 9 && perKey <= 9.5, `${perKey} bytes a key`);
    assert.equal(idx.find('10000000'), 0);
    assert.equal(idx.find('1001869F'), 99_999);
  });

  test('keys of every length from 1 to 64 digits, mixed across the 16-entry strides, each found and read back', () => {
    const idx = new SerialIndex();
    const key = (n: number) => ((n * 2654435761) >>> 0).toString(16).toUpperCase().replace(/^0+/, '').padEnd((n % 64) + 1, 'F').slice(0, (n % 64) + 1).replace(/^0/, '1');
    const keys = [...new Set(Array.from({ length: 5_000 }, (_, n) => key(n)))];
    keys.forEach((k, n) => assert.equal(idx.add(k), n));
    keys.forEach((k, n) => {
      assert.equal(idx.keyAt(n), k);
      assert.equal(idx.find(k), n);
    });
    assert.equal(idx.digitsPerKey, keys.reduce((a, k) => a + k.length, 0) / keys.length);
  });

  test('tells absent keys apart from prefixes, extensions and other cases of present ones', () => {
    const idx = new SerialIndex();
    idx.add('1000');
    idx.add('ABCDEF');
    for (const k of ['100', '10000', '1001', 'abcdef', 'ABCDE', 'ABCDEF0', '', 'F'.repeat(65)]) {
      assert.equal(idx.find(k), -1, k);
      assert.equal(idx.has(k), false, k);
    }
    assert.equal(idx.findBytes(Buffer.from('1000'), 0, 3), -1);
    assert.equal(idx.has('ABCDEF'), true);
  });

  test('a probe that meets a longer or shorter key on its way is not a match (every prefix of 2,000 keys)', () => {
    // Prefixes of present keys are absent; their probes cross the present keys' slots often
    // enough (a half-full table) that a comparison of only the shorter length would match one.
    const idx = new SerialIndex();
    const keys = Array.from({ length: 2_000 }, (_, n) => (0x10000000 + n * 7919).toString(16).toUpperCase());
    for (const k of keys) idx.add(k);
    const present = new Set(keys);
    let probed = 0;
    for (const k of keys) {
      for (let len = 1; len < k.length; len++) {
        const prefix = k.slice(0, len);
        if (present.has(prefix)) continue;
        probed++;
        assert.equal(idx.find(prefix), -1, prefix);
      }
      // …and the key with a digit more, whose probe may meet the key itself.
      if (!present.has(k + '0')) assert.equal(idx.find(k + '0'), -1, k + '0');
    }
    assert.ok(probed > 10_000);
  });

  test('refuses empty keys, keys over 64 digits and anything but uppercase hex digits', () => {
    const idx = new SerialIndex();
    assert.throws(() => idx.add(''), RangeError);
    assert.throws(() => idx.add('1'.repeat(65)), RangeError);
    assert.throws(() => idx.addBytes(Buffer.from('1'.repeat(65)), 0, 65), RangeError);
    for (const k of ['abc', '12G4', '1 2', '-1', '\u0141']) assert.throws(() => idx.add(k), RangeError, k);
    assert.equal(idx.size, 0);
    // Digits are stored as nibbles: a character beyond one byte must not alias one ('\u0141' & 0xff is 'A').
    idx.add('A');
    idx.add('1A');
    assert.equal(idx.find('\u0141'), -1);
    assert.equal(idx.find('1\u0141'), -1);
    assert.equal(idx.find('a'), -1);
    assert.deepEqual([idx.find('A'), idx.find('1A')], [0, 1]);
  });

  test('each key keeps its tag (0-3) apart from its length, across every length from 1 to 64', () => {
    const idx = new SerialIndex();
    // Lengths 1-64 four times over, told apart by their first digit (1-4).
    const keys = Array.from({ length: 64 * 4 }, (_, n) => String(1 + (n >> 6)) + 'F'.repeat(n % 64));
    keys.forEach((k) => idx.add(k));
    assert.equal(new Set(keys).size, keys.length);
    keys.forEach((_, n) => assert.equal(idx.tag(n), 0, 'untagged'));
    keys.forEach((_, n) => idx.setTag(n, n % 4));
    keys.forEach((k, n) => {
      assert.equal(idx.tag(n), n % 4);
      assert.equal(idx.keyAt(n), k, 'a tag is not part of the length');
      assert.equal(idx.find(k), n);
    });
    idx.setTag(5, 0);
    assert.equal(idx.tag(5), 0);
    assert.equal(idx.keyAt(5), keys[5]);
    assert.equal(idx.tag(6), 2, 'a neighbour keeps its own');
  });

  test('past the entries 3-byte slots can number, slots of 4 bytes: every key still found (a low limit, to reach it)', () => {
    const idx = new SerialIndex(3_000);
    const key = (n: number) => (0x5000 + n * 7).toString(16).toUpperCase();
    for (let n = 0; n < 2_999; n++) idx.add(key(n));
    const narrow = idx.bytes;
    idx.add(key(2_999));
    assert.ok(idx.bytes > narrow, 'the table widened when the limit was reached');
    for (let n = 3_000; n < 20_000; n++) idx.add(key(n));
    for (let n = 0; n < 20_000; n++) assert.equal(idx.find(key(n)), n, key(n));
    assert.equal(idx.find(key(20_000)), -1);
    // The default limit is that of 3 bytes: 2^24 - 1 entry numbers + 1 for an empty slot.
    const wide = new SerialIndex();
    wide.reserve(100_000, 4);
    // keyLength, a start per 16, slots for 3/4 full at 3 bytes, 4-digit keys at two to a byte.
    assert.equal(wide.bytes, 100_000 + Math.ceil(100_000 / 16) * 4 + Math.ceil(100_000 / 0.75) * 3 + 200_000);
  });

  test('odd and even key lengths side by side keep each other\'s digits (two to a byte)', () => {
    const idx = new SerialIndex();
    const keys = ['1', '23', '456', '789A', 'BCDEF', 'F', '10', '0'];
    for (const k of keys) idx.add(k);
    assert.deepEqual([...idx.keys()], keys);
    for (const [i, k] of keys.entries()) assert.equal(idx.find(k), i, k);
  });
});
