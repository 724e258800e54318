// Byte offsets of lines in a file, one per entry number, as index.txt's and the ledger's lines are found.

/** An entry's distance: none set yet. */
const NONE = 0xffff;
/** An entry's distance does not fit 16 bits (or lies before the base): its offset is in `far`. */
const FAR = 0xfffe;

/**
 * Entry i → the byte at which its line starts, or -1. What a `Uint32Array` of offsets did in
 * 2 + 8/stride bytes an entry instead of 4: a 16-bit distance each from a base kept for every
 * `stride` entries (an 8-byte float, so offsets past 4 GiB need no wider array). The base is the
 * first offset set in its stride; lines are found in file order, so the others follow it within
 * `stride` lines. An offset that does not fit (a line found again later, lines of several KB) is
 * kept exactly in a Map. A million index.txt lines at stride 16: 2.6 MB instead of 4.2.
 */
export class LineOffsets {
  private base: Float64Array;
  private distance: Uint16Array;
  private readonly far = new Map<number, number>();

  /** `stride`: entries per base, so that `stride` lines fit in 64 KB (~4 KB a line). */
  constructor(
    entries: number,
    private readonly stride: number,
  ) {
    this.distance = new Uint16Array(entries).fill(NONE);
    this.base = new Float64Array(Math.ceil(entries / stride)).fill(Number.NaN);
  }

  /** Entries that have room. */
  get length(): number {
    return this.distance.length;
  }

  /** The bytes held (for the memory spec), the Map's entries counted at 16 bytes each. */
  get bytes(): number {
    return this.distance.byteLength + this.base.byteLength + 16 * this.far.size;
  }

  /** Entry `i`'s offset, or -1 when none was set (or `i` is past the room made). */
  get(i: number): number {
    const d = this.distance[i];
    if (d === undefined || d === NONE) return -1;
    return d === FAR ? this.far.get(i)! : this.base[(i / this.stride) | 0]! + d;
  }

  /** Sets entry `i` to byte `at` (≥ 0), growing the room by half when `i` is past it. */
  set(i: number, at: number): void {
    if (i >= this.distance.length) this.grow(Math.max(i + 1, Math.ceil(this.distance.length * 1.5)));
    const s = (i / this.stride) | 0;
    let b = this.base[s]!;
    if (Number.isNaN(b)) b = this.base[s] = at;
    const d = at - b;
    if (this.distance[i] === FAR) this.far.delete(i);
    if (d >= 0 && d < FAR) this.distance[i] = d;
    else {
      this.distance[i] = FAR;
      this.far.set(i, at);
    }
  }

  /** Room for `entries` entries (never shrinks). */
  grow(entries: number): void {
    if (entries <= this.distance.length) return;
    const distance = new Uint16Array(entries).fill(NONE);
    distance.set(this.distance);
    this.distance = distance;
    const base = new Float64Array(Math.ceil(entries / this.stride)).fill(Number.NaN);
    base.set(this.base);
    this.base = base;
  }
}
