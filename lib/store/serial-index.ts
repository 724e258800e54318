// The serials of index.txt in memory: canonical hex key → entry number, held in typed arrays.

/** Longest key: RFC 5280 §4.1.2.2 allows 20 octets; index.txt lines are accepted up to 64 hex digits. */
const MAX_KEY = 64;
/** What find() returns for a key not there. */
const EMPTY = -1;
/** keyLength's low 6 bits: a key's digits less one (1-64); the top 2: its tag. */
const LENGTH_MASK = 0x3f;
const TAG_SHIFT = 6;
/**
 * A table slot holds entry number + 1 (0: empty) in this many bytes, little-endian, while the
 * entries fit (16,777,214 of them); past that, in 4.
 */
const SLOT_BYTES = 3;
const SLOT_LIMIT = 2 ** 24 - 1;
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
/** The table is grown (by GROWTH) once more than this share of its slots is used. */
const MAX_LOAD = 0.75;
/** One key start kept per this many entries; the others are summed from the key lengths. */
const STRIDE = 16;

/** FNV-1a, one digit value (0-15) at a time: hash() over a key's bytes, place() over stored nibbles. */
const FNV_OFFSET = 0x811c9dc5;
const fnv = (h: number, digit: number) => Math.imul(h ^ digit, 0x01000193);

/**
 * A set of serial keys (uppercase hex without leading zeros, at most 64 digits, as `serialKey()`
 * makes them), each with its entry number 0, 1, 2… in the order added. It does what a
 * `Map<string, number>` did, in typed arrays: each digit a nibble, so ~9.25 bytes for a serial of
 * 8 digits (~25 for a random 20-octet one) against ~50 for a Map of strings, and nothing for V8's
 * garbage collector to trace, which with a million records in the ledger made every full
 * collection mark a million strings.
 *
 * Keys can be added and looked up from a Buffer's bytes (index.txt's own), so loading the file
 * creates no string per line. Each key carries a 2-bit tag for its owner (the file store keeps
 * its certificate's status there), in the byte that holds its length.
 */
export class SerialIndex {
  /** The keys' digits, two to a byte (the first in the high nibble), back to back in the order added. */
  private digits = new Uint8Array(8 * 1024);
  /** Entry i's key has (keyLength[i] & LENGTH_MASK) + 1 digits (1-64); the top two bits are its tag. */
  private keyLength = new Uint8Array(1024);
  /**
   * Where (in nibbles) entry i·STRIDE's key starts; entry i's start is base[i / STRIDE] plus the
   * lengths of the entries before it in its stride. 1.25 bytes an entry instead of 4 for a start
   * each: with a million serials, 3 MB less.
   */
  private base = new Uint32Array(1024 / STRIDE);
  /** Nibbles used: where the next key goes. */
  private used = 0;
  /**
   * Open addressing, linear probing: `slotBytes` bytes a slot (entry number + 1, or 0 when empty);
   * at most MAX_LOAD full. Its size is not a power of two (see slotOf), so it is grown by GROWTH
   * and sized for what reserve() asks, not rounded up to double it. With a million serials,
   * 4.2 MB: 5.7 with 4-byte slots, 8.4 with a power of two.
   */
  private table = new Uint8Array(2048 * SLOT_BYTES);
  private slotBytes = SLOT_BYTES;
  private count = 0;
  /** A string key's characters, for the byte-wise lookups (keys are ASCII hex). */
  private readonly scratch = new Uint8Array(MAX_KEY);

  /** `slotLimit`: entries from which slots take 4 bytes (lower only in the spec, to reach it). */
  constructor(private readonly slotLimit = SLOT_LIMIT) {}

  get size(): number {
    return this.count;
  }

  /** Slots in the table. */
  private get slots(): number {
    return this.table.length / this.slotBytes;
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
    const slots = this.slots;
    for (let slot = slotOf(hash(buf, from, to), slots); ; slot = nextSlot(slot, slots)) {
      const i = this.entryIn(this.table, slot);
      if (i === EMPTY || this.keyIs(i, buf, from, to)) return i;
    }
  }

  /** The tag of entry `i` (0-3; 0 until set). */
  tag(i: number): number {
    return this.keyLength[i]! >>> TAG_SHIFT;
  }

  /** Sets entry `i`'s tag (0-3). */
  setTag(i: number, tag: number): void {
    this.keyLength[i] = (this.keyLength[i]! & LENGTH_MASK) | (tag << TAG_SHIFT);
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
    const at = this.used;
    if (at + n > 0xffffffff) throw new RangeError('serial index over 4 Gi digits');
    if (i === this.keyLength.length) this.growEntries(Math.ceil(this.keyLength.length * GROWTH));
    const bytes = (at + n + 1) >>> 1;
    if (bytes > this.digits.length) this.growDigits(Math.max(Math.ceil(this.digits.length * GROWTH), bytes));
    for (let k = 0; k < n; k++) {
      const j = at + k;
      const v = NIBBLE[buf[from + k]!]!;
      // A fresh nibble's byte is zero until written: its low half belongs to the next digit.
      this.digits[j >>> 1] = j & 1 ? (this.digits[j >>> 1]! & 0xf0) | v : v << 4;
    }
    if (i % STRIDE === 0) this.base[i / STRIDE] = at;
    this.keyLength[i] = n - 1;
    this.used = at + n;
    this.count++;
    if (this.count > this.slots * MAX_LOAD) this.rehash(Math.ceil(this.slots * GROWTH));
    else if (this.count >= this.slotLimit && this.slotBytes === SLOT_BYTES) this.rehash(this.slots);
    else this.place(i, at, this.table, this.slots);
    return i;
  }

  /**
   * Room for `entries` keys of `digitsPerKey` digits on average, allocated now: index.txt's loader
   * sizes the arrays once from the file's size instead of growing them a step at a time.
   */
  reserve(entries: number, digitsPerKey: number): void {
    if (entries > this.keyLength.length) this.growEntries(entries);
    const bytes = Math.ceil((entries * digitsPerKey) / 2);
    if (bytes > this.digits.length) this.growDigits(bytes);
    const slots = Math.ceil(entries / MAX_LOAD);
    if (slots > this.slots) this.rehash(slots);
  }

  /** The bytes the index's arrays hold (allocated, used or not). */
  get bytes(): number {
    return this.digits.byteLength + this.keyLength.byteLength + this.base.byteLength + this.table.byteLength;
  }

  /** Average digits of the keys so far (0 when empty). */
  get digitsPerKey(): number {
    return this.count ? this.used / this.count : 0;
  }

  private growEntries(entries: number): void {
    const keyLength = new Uint8Array(entries);
    keyLength.set(this.keyLength.subarray(0, this.count));
    this.keyLength = keyLength;
    const base = new Uint32Array(Math.ceil(entries / STRIDE));
    base.set(this.base.subarray(0, Math.ceil(this.count / STRIDE)));
    this.base = base;
  }

  private growDigits(length: number): void {
    const digits = new Uint8Array(length);
    digits.set(this.digits.subarray(0, (this.used + 1) >>> 1));
    this.digits = digits;
  }

  /** Where entry `i`'s key starts, in nibbles. */
  private startOf(i: number): number {
    let at = this.base[(i / STRIDE) | 0]!;
    for (let j = i - (i % STRIDE); j < i; j++) at += this.lengthOf(j);
    return at;
  }

  /** Digits of entry `i`'s key. */
  private lengthOf(i: number): number {
    return (this.keyLength[i]! & LENGTH_MASK) + 1;
  }

  /** The key of entry `i`. */
  keyAt(i: number): string {
    let key = '';
    const at = this.startOf(i);
    for (let j = at; j < at + this.lengthOf(i); j++) key += HEX[this.digitAt(j)];
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

  /** The entry number in `table`'s slot `slot`, or EMPTY. */
  private entryIn(table: Uint8Array, slot: number): number {
    const j = slot * this.slotBytes;
    const v = table[j]! | (table[j + 1]! << 8) | (table[j + 2]! << 16) | (this.slotBytes === 4 ? table[j + 3]! << 24 : 0);
    return (v >>> 0) - 1;
  }

  /** Puts entry `i`, whose key starts at nibble `at`, into `table` of `slots` slots. */
  private place(i: number, at: number, table: Uint8Array, slots: number): void {
    let h = FNV_OFFSET;
    for (let j = at; j < at + this.lengthOf(i); j++) h = fnv(h, this.digitAt(j));
    let slot = slotOf(h >>> 0, slots);
    while (this.entryIn(table, slot) !== EMPTY) slot = nextSlot(slot, slots);
    const v = i + 1;
    const j = slot * this.slotBytes;
    table[j] = v;
    table[j + 1] = v >>> 8;
    table[j + 2] = v >>> 16;
    if (this.slotBytes === 4) table[j + 3] = v >>> 24;
  }

  /** A new table of `slots` slots (4 bytes each once the entries no longer fit 3), every entry placed again. */
  private rehash(slots: number): void {
    if (this.count >= this.slotLimit) this.slotBytes = 4;
    const table = new Uint8Array(slots * this.slotBytes);
    for (let i = 0, at = 0; i < this.count; at += this.lengthOf(i++)) this.place(i, at, table, slots);
    this.table = table;
  }

  private keyIs(i: number, buf: Uint8Array, from: number, to: number): boolean {
    if (this.lengthOf(i) !== to - from) return false;
    const at = this.startOf(i);
    for (let k = 0; k < to - from; k++) if (this.digitAt(at + k) !== NIBBLE[buf[from + k]!]) return false;
    return true;
  }
}

/** A table slot from a 32-bit hash: its share of 2^32 scaled to the table's size (a multiplication, where % is a division). */
function slotOf(h: number, size: number): number {
  return ((h / 4294967296) * size) | 0;
}

/** Linear probing's next slot, wrapping at the table's end. */
function nextSlot(slot: number, size: number): number {
  return slot + 1 === size ? 0 : slot + 1;
}

/** The hash of the key buf[from, to): the same as place() computes from its stored nibbles. */
function hash(buf: Uint8Array, from: number, to: number): number {
  let h = FNV_OFFSET;
  for (let k = from; k < to; k++) h = fnv(h, NIBBLE[buf[k]!]!);
  return h >>> 0;
}
