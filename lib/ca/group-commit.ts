// Group commit: calls that arrive while a batch is being written wait, then go together in the next one.

/**
 * Batches concurrent calls: `add()` queues an item; `write(items)` takes everything queued so far
 * and resolves each item with its result (same order), or rejects them all. The first batch
 * starts on a microtask, so every caller of the current tick joins it. Used for serial
 * reservations and record writes: one lock, one fsync or one commit serves the whole batch.
 *
 * `concurrency` batches may be written at once (default 1). More than one suits writes whose
 * time is mostly a wait (an fsync, a database commit): a call that arrives while one batch waits
 * goes out in the next at once instead of waiting for it, so the wait is paid about once instead
 * of about one and a half times on average, at the cost of smaller batches.
 */
export class GroupCommit<T, R> {
  private queue: Array<{ item: T; resolve(r: R): void; reject(e: unknown): void }> = [];
  /** Batches being written, and whether one is being started (beforeBatch, microtask). */
  private inFlight = 0;
  private starting = false;
  private readonly idleWaiters: Array<() => void> = [];

  /** `beforeBatch` runs before each batch is taken (e.g. to let another process have the lock). */
  constructor(
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly beforeBatch?: () => Promise<void>,
    private readonly concurrency = 1,
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer (got ${concurrency})`);
  }

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  /** Resolves when nothing is queued or being written. */
  idle(): Promise<void> {
    if (!this.busy()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private busy(): boolean {
    return this.queue.length > 0 || this.inFlight > 0 || this.starting;
  }

  /** Starts a batch when there is work and room for it. */
  private pump(): void {
    if (this.starting || !this.queue.length || this.inFlight >= this.concurrency) {
      if (!this.busy()) for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    this.starting = true;
    void Promise.resolve()
      .then(() => this.beforeBatch?.())
      .catch(() => {})
      .then(() => {
        this.starting = false;
        const batch = this.queue;
        this.queue = [];
        if (!batch.length) return this.pump();
        this.inFlight++;
        void this.run(batch);
        this.pump();
      });
  }

  private async run(batch: Array<{ item: T; resolve(r: R): void; reject(e: unknown): void }>): Promise<void> {
    try {
      const results = await this.write(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(results[i]!));
    } catch (e) {
      for (const b of batch) b.reject(e);
    } finally {
      this.inFlight--;
      this.pump();
    }
  }
}
