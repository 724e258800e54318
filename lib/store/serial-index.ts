// The serials of index.txt in memory: canonical hex key → entry number, held in typed arrays.

/** Longest key: RFC 5280 §4.1.2.2 allows 20 octets; index.txt lines are accepted up to 64 hex digits. */
const MAX_KEY = 64;
const EMPTY = -1;

/**
 * A set of serial keys (uppercase hex without leading zeros, at most 64 digits, as `serialKey()`
 * makes them), each with its entry number 0, 1, 2… in the order added. It does what a
 * `Map<string, number>` did, in typed arrays: ~25 bytes a serial against ~50 for a Map of
 * strings, and nothing for V8's garbage collector to trace, which with a million records in the
 * ledger made every full collection mark a million strings.
 *
 * Keys can be added and looked up from a Buffer's bytes (index.txt's own), so loading the file
 * creates no string per line.
 */
export class SerialIndex {
  /** The keys' characters, one byte each, back to back in the order added. */
  private chars = new Uint8Array(16 * 1024);
  /** Entry i's key is chars[start[i], start[i + 1]); start[count] is where the next key goes. */
  private start = new Uint32Array(1024);
  /** Open addressing, linear probing: entry number or EMPTY; at most half full. */
  private table = new Int32Array(2048).fill(EMPTY);
  private count = 0;
  /** A string key's characters, for the byte-wise lookups (keys are ASCII hex). */
  private readonly scratch = new Uint8Array(MAX_KEY);

  get size(): number {
    return this.count;
  }

  /** The entry number of `key`, or -1. */
  find(key: string): number {
    if (key.length > MAX_KEY) return EMPTY;
    return this.findBytes(this.scratch, 0, this.toScratch(key));
  }

  has(key: string): boolean {
    return this.find(key) !== EMPTY;
  }

  /** The entry number of the key buf[from, to) (canonical already), or -1. */
  findBytes(buf: Uint8Array, from: number, to: number): number {
    if (to - from > MAX_KEY) return EMPTY;
    const mask = this.table.length - 1;
    for (let slot = hash(buf, from, to) & mask; ; slot = (slot + 1) & mask) {
      const i = this.table[slot]!;
      if (i === EMPTY || this.keyIs(i, buf, from, to)) return i;
    }
  }

  /** Adds `key` (not yet in the index) and returns its entry number. */
  add(key: string): number {
    if (key.length > MAX_KEY) throw new RangeError(`serial key of ${key.length} digits`);
    return this.addBytes(this.scratch, 0, this.toScratch(key));
  }

  /** Adds the key buf[from, to) (canonical, not yet in the index) and returns its entry number. */
  addBytes(buf: Uint8Array, from: number, to: number): number {
    const n = to - from;
    if (n <= 0 || n > MAX_KEY) throw new RangeError(`serial key of ${n} digits`);
    const i = this.count;
    const at = this.start[i]!;
    if (at + n > 0xffffffff) throw new RangeError('serial index over 4 GiB');
    if (i + 1 === this.start.length) {
      const start = new Uint32Array(this.start.length * 2);
      start.set(this.start);
      this.start = start;
    }
    if (at + n > this.chars.length) {
      const chars = new Uint8Array(Math.max(this.chars.length * 2, at + n));
      chars.set(this.chars.subarray(0, at));
      this.chars = chars;
    }
    this.chars.set(buf.subarray(from, to), at);
    this.start[i + 1] = at + n;
    this.count++;
    if (this.count * 2 > this.table.length) this.rehash(this.table.length * 2);
    else this.place(i, this.table);
    return i;
  }

  /** The key of entry `i`. */
  keyAt(i: number): string {
    return String.fromCharCode.apply(null, this.chars.subarray(this.start[i]!, this.start[i + 1]!) as unknown as number[]);
  }

  /** Every key, in the order added. */
  *keys(): IterableIterator<string> {
    for (let i = 0; i < this.count; i++) yield this.keyAt(i);
  }

  /** Copies `key`'s characters into scratch; returns their number. */
  private toScratch(key: string): number {
    for (let k = 0; k < key.length; k++) this.scratch[k] = key.charCodeAt(k);
    return key.length;
  }

  private place(i: number, table: Int32Array): void {
    const mask = table.length - 1;
    let slot = hash(this.chars, this.start[i]!, this.start[i + 1]!) & mask;
    while (table[slot] !== EMPTY) slot = (slot + 1) & mask;
    table[slot] = i;
  }

  private rehash(size: number): void {
    const table = new Int32Array(size).fill(EMPTY);
    for (let i = 0; i < this.count; i++) this.place(i, table);
    this.table = table;
  }

  private keyIs(i: number, buf: Uint8Array, from: number, to: number): boolean {
    const at = this.start[i]!;
    if (this.start[i + 1]! - at !== to - from) return false;
    for (let k = 0; k < to - from; k++) if (this.chars[at + k] !== buf[from + k]) return false;
    return true;
  }
}

/** FNV-1a over the key's characters (one byte each). */
function hash(buf: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let k = from; k < to; k++) h = Math.imul(h ^ buf[k]!, 0x01000193);
  return h >>> 0;
}
