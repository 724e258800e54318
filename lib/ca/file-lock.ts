// A lock file that holds across processes: created exclusively with its holder's pid, host and a token.
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { link, readFile, rename, stat, unlink } from 'node:fs/promises';
import { EstError } from '../errors.js';
import { HOST_NAME, HOST_TAG, removeLockLitter } from './lock-litter.js';

/** Options of {@link FileLock}. */
export interface FileLockOptions {
  /**
   * A lock file older than this is considered abandoned and broken, whoever holds it. The
   * critical section takes milliseconds, so this only matters after a crash.
   * @default 30000
   */
  staleLockMs?: number;
  /**
   * How long to wait for the lock before failing with `ERR_EST_SERIAL_LOCK` (503).
   * @default 10000
   */
  lockTimeoutMs?: number;
}

/** Whether `e` is a Node system error with one of these codes. */
export function isErrno(e: unknown, ...codes: string[]): boolean {
  return typeof e === 'object' && e !== null && codes.includes((e as NodeJS.ErrnoException).code ?? '');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return !isErrno(e, 'ESRCH');
  }
}

/**
 * What makes each token and scratch name of this process unique, fixed once: a random part and a
 * counter instead of fresh random bytes per attempt (a few microseconds each on the lock's path).
 */
const PROCESS_NONCE = randomBytes(6).toString('hex');
let attemptCounter = 0;
const nextUnique = () => PROCESS_NONCE + (attemptCounter++).toString(16);

/** Retries on the next turn of the event loop before the first sleep. */
const QUICK_RETRIES = 4;

/** How long the lock must have been waited for before its holder is checked for staleness. */
const STALE_CHECK_AFTER_MS = 20;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The lock guarding the serial file (`<serial file>.lock`), and the index.txt written beside it:
 * - the lock file appears with its token already in it (written aside, then hard-linked into
 *   place, which fails if it exists);
 * - a lock whose process is dead (same host) or that is older than `staleLockMs` is broken;
 * - a process waiting for it leaves a hint (`<lock>.wait`) so that the holder lets it in.
 * Within a process, callers take turns (a promise chain), so one process holds it once at a time.
 */
export class FileLock {
  readonly lockPath: string;
  /** What the lock protects, for messages (`serial file /x/ca.srl`). */
  private readonly what: string;
  private readonly waitPath: string;
  /** See {@link FileLockOptions.staleLockMs}. */
  readonly staleLockMs: number;
  private readonly lockTimeoutMs: number;
  private releasedAt = -Infinity;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(lockPath: string, what: string, options: FileLockOptions = {}) {
    this.lockPath = lockPath;
    this.what = what;
    this.waitPath = lockPath + '.wait';
    this.staleLockMs = options.staleLockMs ?? 30_000;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
  }

  /** Runs `fn` holding the lock; callers in this process queue behind each other. */
  withLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(async () => {
      await this.acquire();
      try {
        return await fn();
      } finally {
        await this.release();
      }
    });
    this.tail = run.catch(() => {});
    return run;
  }

  /**
   * Fairness across processes: the lock is polled, so a process that takes it again right after
   * releasing it could starve the others. When one waits, give it up to 10 ms to get in.
   */
  async yieldToWaiters(): Promise<void> {
    if (performance.now() - this.releasedAt >= 5) return;
    for (let i = 0; i < 10 && this.otherProcessWaiting(); i++) await sleep(1);
  }

  private fail(reason: string, cause?: unknown): EstError {
    return new EstError(500, 'ERR_EST_SERIAL_FILE', `${this.what}: ${reason}`, cause === undefined ? {} : { cause });
  }

  /** Creates the lock file exclusively, waiting with backoff and breaking stale locks. */
  private async acquire(): Promise<void> {
    const token = `${process.pid} ${HOST_NAME} ${nextUnique()} ${Date.now()}\n`;
    const started = Date.now();
    const deadline = started + this.lockTimeoutMs;
    let delay = 1;
    let attempts = 0;
    let announced = false;
    for (;;) {
      if (this.tryTake(token)) {
        if (announced) this.withdrawWaitHint();
        return;
      }
      // A live holder keeps the lock for well under a millisecond (a few for a serial lease), so
      // the stale check (async reads) waits until the lock has been held STALE_CHECK_AFTER_MS.
      if (Date.now() - started >= STALE_CHECK_AFTER_MS && (await this.breakIfStale())) continue;
      if (!announced) {
        announced = true;
        try {
          writeFileSync(this.waitPath, String(process.pid), 'latin1'); // a few bytes; see tryTake
        } catch {
          /* only a hint */
        }
      }
      if (Date.now() >= deadline) {
        throw new EstError(503, 'ERR_EST_SERIAL_LOCK', `${this.what}: lock ${this.lockPath} still held after ${this.lockTimeoutMs} ms`, { retryAfter: 1 });
      }
      // The holder keeps it for ~0.1 ms: try again after the event loop's other work a few
      // times before sleeping (a timer waits at least 1 ms).
      if (++attempts <= QUICK_RETRIES) {
        await new Promise<void>((r) => setImmediate(r));
        continue;
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 4);
    }
  }

  /**
   * One attempt, synchronous: the lock's file operations are page-cache metadata changes of tens of
   * microseconds, while each thread-pool round trip of the async calls waits for a thread and then
   * for the event loop (1–2 ms each on a busy 2-core machine, 5–9 ms for an uncontended acquire).
   * The token is written aside, then hard-linked into place: a kill -9 between creating the lock
   * and writing the pid would otherwise leave an anonymous lock that blocks every process until
   * staleLockMs. Returns false when the lock is held.
   */
  private tryTake(token: string): boolean {
    const aside = `${this.lockPath}.new-${process.pid}-${HOST_TAG}${nextUnique()}`;
    try {
      writeFileSync(aside, token, { encoding: 'latin1', mode: 0o644 });
      try {
        linkSync(aside, this.lockPath);
      } finally {
        try {
          unlinkSync(aside);
        } catch {
          /* litter is removed at the next start (lock-litter.ts) */
        }
      }
      return true;
    } catch (e) {
      if (isErrno(e, 'EEXIST')) return false;
      throw this.fail(`cannot create lock file ${this.lockPath} (${(e as Error).message})`, e);
    }
  }

  /**
   * Removes the lock when its holder is dead (same host) or it is older than `staleLockMs`.
   * Returns true when the caller should retry at once. The lock is renamed aside and checked
   * to be the one judged stale before it is deleted, so a fresh lock taken meanwhile survives.
   */
  private async breakIfStale(): Promise<boolean> {
    let observed: string;
    let ageMs: number;
    try {
      observed = await readFile(this.lockPath, 'latin1');
      ageMs = Date.now() - (await stat(this.lockPath)).mtimeMs;
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return true; // released meanwhile
      throw this.fail(`cannot read lock file ${this.lockPath} (${(e as Error).message})`, e);
    }
    const [pidText, host] = observed.split(' ');
    const pid = Number(pidText);
    const deadHolder = host === HOST_NAME && Number.isInteger(pid) && pid > 0 && pid !== process.pid && !pidAlive(pid);
    if (!deadHolder && ageMs <= this.staleLockMs) return false;
    const aside = `${this.lockPath}.stale-${process.pid}-${nextUnique()}`;
    try {
      await rename(this.lockPath, aside);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return true;
      throw this.fail(`cannot break stale lock ${this.lockPath} (${(e as Error).message})`, e);
    }
    const taken = await readFile(aside, 'latin1').catch(() => '');
    if (taken !== observed) {
      // Someone else broke the stale lock and took a fresh one in between: put theirs back.
      await link(aside, this.lockPath).catch(() => {});
      await unlink(aside).catch(() => {});
      return false;
    }
    await unlink(aside).catch(() => {});
    // The dead holder may have left scratch files too (lock-litter.ts).
    if (this.lockPath.endsWith('.lock')) await removeLockLitter(this.lockPath.slice(0, -'.lock'.length), this.staleLockMs).catch(() => 0);
    return true;
  }

  /**
   * Whether another process left a wait hint (`<file>.lock.wait`, holding its pid). Checked with
   * existsSync first: no hint is the usual case, and a failed read costs an exception (13 µs
   * against 2 µs), once per batch under load.
   */
  private otherProcessWaiting(): boolean {
    if (!existsSync(this.waitPath)) return false;
    try {
      return readFileSync(this.waitPath, 'latin1') !== String(process.pid); // a few bytes; see tryTake
    } catch {
      return false;
    }
  }

  /** Synchronous, as tryTake: it runs while the lock is held. */
  private withdrawWaitHint(): void {
    try {
      if (readFileSync(this.waitPath, 'latin1') === String(process.pid)) unlinkSync(this.waitPath);
    } catch {
      /* only a hint */
    }
  }

  /**
   * Removes our lock. It is not re-read first: only a holder stuck for longer than `staleLockMs`
   * could lose it to another process, and then the damage would already be done.
   */
  private async release(): Promise<void> {
    try {
      unlinkSync(this.lockPath); // synchronous for the reason given at tryTake
    } catch {
      /* already gone: broken as stale */
    }
    this.releasedAt = performance.now();
  }
}
