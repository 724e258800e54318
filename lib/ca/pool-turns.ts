// Turns on libuv's thread pool: at most a few jobs of one kind at once, so they never hold every pool thread.

/** Options of {@link PoolTurns}. */
export interface PoolTurnsOptions {
  /** Jobs that run at once. */
  atOnce: number;
  /** Jobs that may wait for a turn; past that, `run()` rejects with `full()`. @default Infinity */
  maxWaiting?: number;
  /** The error a job turned away gets. */
  full?: () => Error;
}

/**
 * Runs jobs that each occupy a libuv pool thread for a long time (an RSA key generation, a
 * password's scrypt) at most `atOnce` at a time, the rest in arrival order: the pool's other
 * users (the record store's fsyncs, file reads) keep the remaining threads.
 */
export class PoolTurns {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly atOnce: number;
  private readonly maxWaiting: number;
  private readonly full: () => Error;

  constructor(options: PoolTurnsOptions) {
    this.atOnce = options.atOnce;
    this.maxWaiting = options.maxWaiting ?? Infinity;
    this.full = options.full ?? (() => new Error('too many jobs waiting'));
  }

  /** Runs `job` in its turn; rejects with `full()`, without running it, when the queue is full. */
  run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running < this.atOnce) {
      this.running++;
      return this.hold(job);
    }
    if (this.waiting.length >= this.maxWaiting) return Promise.reject(this.full());
    return new Promise<void>((turn) => this.waiting.push(turn)).then(() => this.hold(job));
  }

  /** Runs `job`, then hands its turn to the next in line (or gives it back). */
  private async hold<T>(job: () => Promise<T>): Promise<T> {
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
