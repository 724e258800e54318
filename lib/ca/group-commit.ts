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

/**
 * Batches the calls of one tick and sends each batch at once, without waiting for the one before:
 * for a receiver that batches again itself (est-server's primary merges every worker's records
 * into its own group commit), so that a record waits for one durable write, not for two.
 */
export class TickBatch<T> {
  private queue: Array<{ item: T; resolve(): void; reject(e: unknown): void }> = [];
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly send: (items: T[]) => Promise<void>) {}

  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length === 1) queueMicrotask(() => this.flush());
    });
  }

  /** Resolves when every batch sent so far has been answered. */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    const sent = this.send(batch.map((b) => b.item)).then(
      () => batch.forEach((b) => b.resolve()),
      (e: unknown) => batch.forEach((b) => b.reject(e)),
    );
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent));
  }
}
