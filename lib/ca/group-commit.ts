// Group commit: calls that arrive while a batch is being written wait, then go together in the next one.

/**
 * Batches concurrent calls: `add()` queues an item; one `write(items)` at a time takes everything
 * queued so far and resolves each item with its result (same order), or rejects them all. The
 * first batch starts on a microtask, so every caller of the current tick joins it. Used for
 * serial reservations and record writes: one lock, one fsync or one commit serves the whole batch.
 */
export class GroupCommit<T, R> {
  private queue: Array<{ item: T; resolve(r: R): void; reject(e: unknown): void }> = [];
  private running: Promise<void> | undefined;

  /** `beforeBatch` runs before each batch is taken (e.g. to let another process have the lock). */
  constructor(
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly beforeBatch?: () => Promise<void>,
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) this.running = Promise.resolve().then(() => this.drain());
    });
  }

  /** Resolves when nothing is queued or being written. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length) {
        await this.beforeBatch?.();
        const batch = this.queue;
        this.queue = [];
        try {
          const results = await this.write(batch.map((b) => b.item));
          batch.forEach((b, i) => b.resolve(results[i]!));
        } catch (e) {
          for (const b of batch) b.reject(e);
        }
      }
    } finally {
      this.running = undefined;
    }
  }
}
