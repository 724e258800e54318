// The serials of index.txt in memory: canonical hex key → entry number, held in typed arrays.

/** Longest key: RFC 5280 §4.1.2.2 allows 20 octets; index.txt lines are accepted up to 64 hex digits. */
const MAX_KEY = 64;
const EMPTY = -1;
/** Not a digit of a key: what NIBBLE holds for every byte but 0-9 and A-F. */
const NOT_HEX = 0xff;

/** A key character's value (0-15), or NOT_HEX. Keys are uppercase, so lowercase is not a digit. */
const NIBBLE = new Uint8Array(256).fill(NOT_HEX);
for (let c = 0; c < 10; c++) NIBBLE[0x30 + c] = c;
for (let c = 0; c < 6; c++) NIBBLE[0x41 + c] = 10 + c;
const HEX = '0123456789ABCDEF';
/**
 * How the arrays grow once full. Doubling made a million keys (just past 2^20) cost twice the
 * memory of 1,000,000 and a second copy of every array while it grew; 1.5× bounds both.
 */
const GROWTH = 1.5;
/** The table is grown (doubled: its size stays a power of two) once more than this share of its slots is used. */
const MAX_LOAD = 0.75;

/** FNV-1a, one digit value (0-15) at a time: hash() over a key's bytes, place() over stored nibbles. */
const FNV_OFFSET = 0x811c9dc5;
const fnv = (h: number, digit: number) => Math.imul(h ^ digit, 0x01000193);

/**
 * A set of serial keys (uppercase hex without leading zeros, at most 64 digits, as `serialKey()`
 * makes them), each with its entry number 0, 1, 2… in the order added. It does what a
 * `Map<string, number>` did, in typed arrays: each digit a nibble, so ~16 bytes for a serial of
 * 8 digits (~34 for a random 20-octet one) against ~50 for a Map of strings, and nothing for V8's
 * garbage collector to trace, which with a million records in the ledger made every full
 * collection mark a million strings.
 *
 * Keys can be added and looked up from a Buffer's bytes (index.txt's own), so loading the file
 * creates no string per line.
 */
export class SerialIndex {
  /** The keys' digits, two to a byte (the first in the high nibble), back to back in the order added. */
  private digits = new Uint8Array(8 * 1024);
  /** Entry i's key is digits start[i] to start[i + 1] (in nibbles); start[count] is where the next key goes. */
  private start = new Uint32Array(1024);
  /** Open addressing, linear probing: entry number or EMPTY; at most MAX_LOAD full. */
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
    for (let k = from; k < to; k++) if (NIBBLE[buf[k]!] === NOT_HEX) throw new RangeError(`serial key with a character that is not an uppercase hex digit (${buf[k]})`);
    const i = this.count;
    const at = this.start[i]!;
    if (at + n > 0xffffffff) throw new RangeError('serial index over 4 Gi digits');
    if (i + 1 === this.start.length) this.growStart(Math.ceil(this.start.length * GROWTH));
    const bytes = (at + n + 1) >>> 1;
    if (bytes > this.digits.length) this.growDigits(Math.max(Math.ceil(this.digits.length * GROWTH), bytes));
    for (let k = 0; k < n; k++) {
      const j = at + k;
      const v = NIBBLE[buf[from + k]!]!;
      // A fresh nibble's byte is zero until written: its low half belongs to the next digit.
      this.digits[j >>> 1] = j & 1 ? (this.digits[j >>> 1]! & 0xf0) | v : v << 4;
    }
    this.start[i + 1] = at + n;
    this.count++;
    if (this.count > this.table.length * MAX_LOAD) this.rehash(this.table.length * 2);
    else this.place(i, this.table);
    return i;
  }

  /**
   * Room for `entries` keys of `digitsPerKey` digits on average, allocated now: index.txt's loader
   * sizes the arrays once from the file's size instead of growing them a step at a time.
   */
  reserve(entries: number, digitsPerKey: number): void {
    if (entries + 1 > this.start.length) this.growStart(entries + 1);
    const bytes = Math.ceil((entries * digitsPerKey) / 2);
    if (bytes > this.digits.length) this.growDigits(bytes);
    let slots = this.table.length;
    while (entries > slots * MAX_LOAD) slots *= 2;
    if (slots > this.table.length) this.rehash(slots);
  }

  /** Average digits of the keys so far (0 when empty). */
  get digitsPerKey(): number {
    return this.count ? this.start[this.count]! / this.count : 0;
  }

  private growStart(length: number): void {
    const start = new Uint32Array(length);
    start.set(this.start.subarray(0, this.count + 1));
    this.start = start;
  }

  private growDigits(length: number): void {
    const digits = new Uint8Array(length);
    digits.set(this.digits.subarray(0, (this.start[this.count]! + 1) >>> 1));
    this.digits = digits;
  }

  /** The key of entry `i`. */
  keyAt(i: number): string {
    let key = '';
    for (let j = this.start[i]!; j < this.start[i + 1]!; j++) key += HEX[this.digitAt(j)];
    return key;
  }

  private digitAt(j: number): number {
    const b = this.digits[j >>> 1]!;
    return j & 1 ? b & 0x0f : b >>> 4;
  }

  /** Every key, in the order added. */
  *keys(): IterableIterator<string> {
    for (let i = 0; i < this.count; i++) yield this.keyAt(i);
  }

  /** Copies `key`'s characters into scratch; returns their number. */
  private toScratch(key: string): number {
    // A character beyond one byte must not alias a digit when stored into a byte: it becomes 0, no digit.
    for (let k = 0; k < key.length; k++) {
      const c = key.charCodeAt(k);
      this.scratch[k] = c < 0x80 ? c : 0;
    }
    return key.length;
  }

  private place(i: number, table: Int32Array): void {
    const mask = table.length - 1;
    let h = FNV_OFFSET;
    for (let j = this.start[i]!; j < this.start[i + 1]!; j++) h = fnv(h, this.digitAt(j));
    let slot = (h >>> 0) & mask;
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
    for (let k = 0; k < to - from; k++) if (this.digitAt(at + k) !== NIBBLE[buf[from + k]!]) return false;
    return true;
  }
}

/** The hash of the key buf[from, to): the same as place() computes from its stored nibbles. */
function hash(buf: Uint8Array, from: number, to: number): number {
  let h = FNV_OFFSET;
  for (let k = from; k < to; k++) h = fnv(h, NIBBLE[buf[k]!]!);
  return h >>> 0;
}
