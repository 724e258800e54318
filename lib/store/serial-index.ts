// The serials of index.txt in memory: canonical hex key → entry number, held in typed arrays.

/** Longest key: RFC 5280 §4.1.2.2 allows 20 octets; index.txt lines are accepted up to 64 hex digits. */
const MAX_KEY = 64;
const EMPTY = -1;

/**
 * A set of serial keys (uppercase hex without leading zeros, at most 64 digits, as `serialKey()`
 * makes them), each with its entry number 0, 1, 2… in the order added. It does what a
 * `Map<string, number>` did, in typed arrays: ~30 bytes a serial against ~50 for a Map of
 * strings, and nothing for V8's garbage collector to trace, which with a million records in the
 * ledger made every full collection mark a million strings.
 *
 * Keys can be added and looked up from a Buffer's bytes (index.txt's own), so loading the file
 * creates no string per line.
 */
export class SerialIndex {
  /** The keys' characters, one byte each, back to back. */
  private chars = new Uint8Array(16 * 1024);
  private charsUsed = 0;
  /** Entry i's key is chars[start[i], start[i] + len[i]). */
  private start = new Uint32Array(1024);
  private len = new Uint8Array(1024);
  /** Open addressing, linear probing: entry number or EMPTY; at most half full. */
  private table = new Int32Array(2048).fill(EMPTY);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The entry number of `key`, or -1. */
  find(key: string): number {
    if (key.length > MAX_KEY) return EMPTY;
    const mask = this.table.length - 1;
    for (let slot = hashString(key) & mask; ; slot = (slot + 1) & mask) {
      const i = this.table[slot]!;
      if (i === EMPTY || this.sameAsString(i, key)) return i;
    }
  }

  has(key: string): boolean {
    return this.find(key) !== EMPTY;
  }

  /** The entry number of the key buf[from, to) (canonical already), or -1. */
  findBytes(buf: Uint8Array, from: number, to: number): number {
    if (to - from > MAX_KEY) return EMPTY;
    const mask = this.table.length - 1;
    for (let slot = hashBytes(buf, from, to) & mask; ; slot = (slot + 1) & mask) {
      const i = this.table[slot]!;
      if (i === EMPTY || this.sameAsBytes(i, buf, from, to)) return i;
    }
  }

  /** Adds `key` (not yet in the index) and returns its entry number. */
  add(key: string): number {
    if (key.length === 0 || key.length > MAX_KEY) throw new RangeError(`serial key of ${key.length} digits`);
    const i = this.reserve(key.length);
    const at = this.start[i]!;
    for (let k = 0; k < key.length; k++) this.chars[at + k] = key.charCodeAt(k);
    this.place(i, hashString(key));
    return i;
  }

  /** Adds the key buf[from, to) (canonical, not yet in the index) and returns its entry number. */
  addBytes(buf: Uint8Array, from: number, to: number): number {
    if (to <= from || to - from > MAX_KEY) throw new RangeError(`serial key of ${to - from} digits`);
    const i = this.reserve(to - from);
    this.chars.set(buf.subarray(from, to), this.start[i]!);
    this.place(i, hashBytes(buf, from, to));
    return i;
  }

  /** The key of entry `i`. */
  keyAt(i: number): string {
    const at = this.start[i]!;
    return String.fromCharCode.apply(null, this.chars.subarray(at, at + this.len[i]!) as unknown as number[]);
  }

  /** Every key, in the order added. */
  *keys(): IterableIterator<string> {
    for (let i = 0; i < this.count; i++) yield this.keyAt(i);
  }

  private reserve(n: number): number {
    const i = this.count;
    if (i === this.start.length) {
      const start = new Uint32Array(i * 2);
      start.set(this.start);
      this.start = start;
      const len = new Uint8Array(i * 2);
      len.set(this.len);
      this.len = len;
    }
    if (this.charsUsed + n > this.chars.length) {
      const chars = new Uint8Array(Math.max(this.chars.length * 2, this.charsUsed + n));
      chars.set(this.chars.subarray(0, this.charsUsed));
      this.chars = chars;
    }
    if (this.charsUsed + n > 0xffffffff) throw new RangeError('serial index over 4 GiB');
    this.start[i] = this.charsUsed;
    this.len[i] = n;
    this.charsUsed += n;
    this.count++;
    return i;
  }

  private place(i: number, hash: number): void {
    if (this.count * 2 > this.table.length) return this.rehash(this.table.length * 2);
    const mask = this.table.length - 1;
    let slot = hash & mask;
    while (this.table[slot] !== EMPTY) slot = (slot + 1) & mask;
    this.table[slot] = i;
  }

  private rehash(size: number): void {
    const table = new Int32Array(size).fill(EMPTY);
    const mask = size - 1;
    for (let i = 0; i < this.count; i++) {
      const at = this.start[i]!;
      let slot = hashBytes(this.chars, at, at + this.len[i]!) & mask;
      while (table[slot] !== EMPTY) slot = (slot + 1) & mask;
      table[slot] = i;
    }
    this.table = table;
  }

  private sameAsString(i: number, key: string): boolean {
    const n = this.len[i]!;
    if (n !== key.length) return false;
    const at = this.start[i]!;
    for (let k = 0; k < n; k++) if (this.chars[at + k] !== key.charCodeAt(k)) return false;
    return true;
  }

  private sameAsBytes(i: number, buf: Uint8Array, from: number, to: number): boolean {
    const n = this.len[i]!;
    if (n !== to - from) return false;
    const at = this.start[i]!;
    for (let k = 0; k < n; k++) if (this.chars[at + k] !== buf[from + k]) return false;
    return true;
  }
}

// FNV-1a over the characters (one byte each); both forms give the same hash for the same key.
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < s.length; k++) h = Math.imul(h ^ s.charCodeAt(k), 0x01000193);
  return h >>> 0;
}

function hashBytes(buf: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let k = from; k < to; k++) h = Math.imul(h ^ buf[k]!, 0x01000193);
  return h >>> 0;
}
