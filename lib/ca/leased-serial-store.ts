// Serial numbers taken from another store in blocks (a lease), so that certificates do not wait for the file.
import type { SerialStore } from './types.js';

/** Options of {@link LeasedSerialStore}. */
export interface LeasedSerialStoreOptions {
  /** Serials taken from the inner store at a time. */
  lease: number;
  /**
   * Take the next block in the background when fewer than this many serials are left, so that
   * requests under load never wait for the serial file.
   * @default half the lease
   */
  refillBelow?: number;
}

/**
 * A {@link SerialStore} that reserves serials from `inner` (normally the `FileSerialStore` on
 * nginx-http-est's serial file) `lease` at a time and hands them out from memory.
 *
 * Why: every reservation from the serial file takes its cross-process lock and waits for an
 * fsync (about 4–8 ms here). With one process, group commit hides that; with several processes
 * on one file they take turns holding the lock, and enrollments queue behind each other's
 * fsyncs (see BENCHMARKS.md). With a lease, one reservation serves `lease` certificates.
 *
 * What it changes: the file holds the end of the latest block reserved rather than the last
 * serial issued, so after a stop or a crash the unused rest of a block is skipped. Serial
 * numbers stay unique and positive (each block is written to the file before any of it is
 * used, so a kill -9 can only leave gaps, never a reuse); they are no longer gap-free.
 */
export class LeasedSerialStore implements SerialStore {
  private readonly inner: SerialStore;
  private readonly lease: number;
  private readonly refillBelow: number;
  /** Blocks reserved and not yet handed out, as [next, last] inclusive, oldest first. */
  private blocks: Array<[bigint, bigint]> = [];
  private available = 0;
  private refilling: Promise<void> | undefined;
  private waiters: Array<{ count: number; resolve(v: bigint[]): void; reject(e: unknown): void }> = [];
  private closed = false;

  constructor(inner: SerialStore, options: LeasedSerialStoreOptions) {
    if (!Number.isInteger(options.lease) || options.lease < 1) throw new RangeError(`lease must be a positive integer (got ${options.lease})`);
    this.inner = inner;
    this.lease = options.lease;
    this.refillBelow = options.refillBelow ?? Math.floor(options.lease / 2);
  }

  next(count: number): Promise<bigint[]> {
    if (!Number.isInteger(count) || count < 1) return Promise.reject(new RangeError(`count must be a positive integer (got ${count})`));
    if (this.closed) return this.inner.next(count); // the inner store reports closed
    if (this.waiters.length === 0) {
      const got = this.take(count);
      if (got) {
        this.maybeRefill();
        return Promise.resolve(got);
      }
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ count, resolve, reject });
      this.maybeRefill(true);
    });
  }

  /** Waits for a block in flight, then closes the inner store. The unused serials are skipped. */
  async close(): Promise<void> {
    this.closed = true;
    await this.refilling;
    await this.inner.close?.();
  }

  /** `count` consecutive serials from the blocks in hand, or undefined when they do not hold them. */
  private take(count: number): bigint[] | undefined {
    while (this.blocks.length) {
      const b = this.blocks[0]!;
      const left = Number(b[1] - b[0] + 1n);
      if (left >= count) {
        const out: bigint[] = [];
        for (let i = 0; i < count; i++) out.push(b[0]++);
        this.available -= count;
        if (b[0] > b[1]) this.blocks.shift();
        return out;
      }
      // Too few left in this block for a consecutive run: skip them (a gap, never a reuse).
      this.available -= left;
      this.blocks.shift();
    }
    return undefined;
  }

  private maybeRefill(force = false): void {
    if (this.refilling || this.closed) return;
    if (!force && this.available >= this.refillBelow) return;
    this.refilling = this.refill().finally(() => {
      this.refilling = undefined;
      // Waiters that arrived during the refill, or a block that ran low again meanwhile.
      if (this.waiters.length) this.maybeRefill(true);
      else this.maybeRefill();
    });
  }

  private async refill(): Promise<void> {
    // Start on a microtask so that every caller of the current tick is counted in this block.
    await null;
    const wanted = this.waiters.reduce((n, w) => n + w.count, 0);
    try {
      const serials = await this.inner.next(Math.max(this.lease, wanted));
      // The inner store returns consecutive serials.
      this.blocks.push([serials[0]!, serials[serials.length - 1]!]);
      this.available += serials.length;
    } catch (e) {
      const failed = this.waiters;
      this.waiters = [];
      for (const w of failed) w.reject(e);
      return;
    }
    while (this.waiters.length) {
      const got = this.take(this.waiters[0]!.count);
      if (!got) break;
      this.waiters.shift()!.resolve(got);
    }
  }
}
