// Sequential serials in nginx-http-est's serial file format, safe across processes (lock file + atomic rewrite).
import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import { link, open, readFile, rename, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, resolve as resolvePath } from 'node:path';
import { EstError } from '../errors.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import { MAX_SERIAL } from './types.js';
import type { SerialStore } from './types.js';

/** Options of {@link FileSerialStore}. */
export interface FileSerialStoreOptions {
  /**
   * A lock file older than this is considered abandoned and broken, whoever holds it. The
   * critical section takes milliseconds, so this only matters after a crash.
   * @default 30000
   */
  staleLockMs?: number;
  /**
   * How long `next()` waits for the lock before failing with `ERR_EST_SERIAL_LOCK` (503).
   * @default 10000
   */
  lockTimeoutMs?: number;
}

/**
 * The file's text for a serial: uppercase hex, an even number of digits, one trailing LF —
 * the format nginx-http-est reads and writes (e.g. `1002\n`).
 */
export function formatSerial(serial: bigint): string {
  let hex = serial.toString(16).toUpperCase();
  if (hex.length % 2) hex = '0' + hex;
  return hex + '\n';
}

function serialFileError(path: string, reason: string, cause?: unknown): EstError {
  return new EstError(500, 'ERR_EST_SERIAL_FILE', `serial file ${path}: ${reason}`, cause === undefined ? {} : { cause });
}

/**
 * Parses the serial file's text (the last issued serial, hex). Surrounding whitespace and
 * lowercase or odd-length hex are tolerated; anything else is an error, never a silent reset.
 */
export function parseSerialFile(text: string, path = 'serial file'): bigint {
  const s = text.trim();
  if (s === '') throw serialFileError(path, 'is empty (expected the last issued serial number in hex, e.g. "1000"; delete the file to start from a random serial)');
  if (s.startsWith('-')) throw serialFileError(path, `holds a negative number (${JSON.stringify(s.slice(0, 42))}); serial numbers must be positive (RFC 5280 §4.1.2.2)`);
  if (!/^[0-9A-Fa-f]+$/.test(s)) throw serialFileError(path, `is not a hex serial number (starts with ${JSON.stringify(s.slice(0, 20))})`);
  const v = BigInt('0x' + s);
  // RFC 5280 §4.1.2.2: at most 20 octets, positive, so below 2^159.
  if (v > MAX_SERIAL) throw serialFileError(path, 'holds a serial longer than 20 octets (RFC 5280 §4.1.2.2 allows at most 2^159-1)');
  return v;
}

/**
 * A random start for a missing file: 20 random bytes with the first octet in 0x01..0x3F, i.e.
 * at least 2^152 and below 2^158. That is 40 hex digits like nginx-http-est's start, and
 * leaves at least 2^158 serials before the 20-octet limit.
 */
export function randomSerialStart(): bigint {
  const b = randomBytes(20);
  b[0] = (b[0]! & 0x3f) || 0x01;
  return BigInt('0x' + b.toString('hex'));
}

function isErrno(e: unknown, ...codes: string[]): boolean {
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

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Waiter {
  count: number;
  resolve(serials: bigint[]): void;
  reject(err: unknown): void;
}

/**
 * A {@link SerialStore} on nginx-http-est's serial file (`est_ca_serial_number`): the file holds
 * the **last issued** serial as uppercase hex with an even number of digits and a trailing LF;
 * each certificate takes the next integer. A missing file starts from {@link randomSerialStart}
 * (the random value counts as "last issued", so the first certificate gets start + 1).
 *
 * Unlike the nginx module it is safe with several workers:
 * - within a process, concurrent `next()` calls are coalesced: one lock + read + write serves
 *   every caller queued at that moment (group commit);
 * - across processes, `<file>.lock` (created exclusively, holding pid, host and a token) guards
 *   the read-modify-write; a lock whose process is dead (same host) or that is older than
 *   `staleLockMs` is broken;
 * - the file is replaced atomically (temp file in the same directory, fsync, rename, fsync of
 *   the directory), so a reader never sees a torn or empty file.
 *
 * A malformed file is an error (`ERR_EST_SERIAL_FILE`), never reset; running past 2^159-1
 * fails with `ERR_EST_SERIAL_EXHAUSTED` (RFC 5280 §4.1.2.2). Serials are never 0.
 */
export class FileSerialStore implements SerialStore {
  /** Absolute path of the serial file. */
  readonly path: string;
  readonly lockPath: string;
  /** Hint file by which a process waiting for the lock asks the holder to let it in. */
  private readonly waitPath: string;
  private readonly staleLockMs: number;
  private readonly lockTimeoutMs: number;
  private queue: Waiter[] = [];
  private draining: Promise<void> | undefined;
  private lastIssued: bigint | undefined;
  private closed = false;
  private releasedAt = -Infinity;
  /** Permission bits of the serial file, kept on rewrites. */
  private mode: number | undefined;
  /** The serial file's directory, kept open to fsync renames; null when that is not possible. */
  private dirHandle: FileHandle | null | undefined;

  /**
   * Checks synchronously that the directory is writable and that an existing file parses, so
   * a bad file fails at start-up. Throws `EstError` (`ERR_EST_SERIAL_FILE`).
   */
  constructor(path: string, options: FileSerialStoreOptions = {}) {
    this.path = resolvePath(path);
    this.lockPath = this.path + '.lock';
    this.waitPath = this.lockPath + '.wait';
    this.staleLockMs = options.staleLockMs ?? 30_000;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    const dir = dirname(this.path);
    try {
      if (!statSync(dir).isDirectory()) throw serialFileError(this.path, `${dir} is not a directory`);
      accessSync(dir, fsConstants.W_OK);
    } catch (e) {
      if (e instanceof EstError) throw e;
      throw serialFileError(this.path, `directory ${dir} is not writable or does not exist (${(e as Error).message})`, e);
    }
    let text: string | undefined;
    try {
      text = readFileSync(this.path, 'latin1');
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw serialFileError(this.path, `cannot be read (${(e as Error).message})`, e);
    }
    if (text !== undefined) parseSerialFile(text, this.path);
  }

  /**
   * Reserves `count` consecutive serials and returns them in order. Concurrent callers share
   * one lock, read and write.
   */
  next(count: number): Promise<bigint[]> {
    if (!Number.isInteger(count) || count < 1) return Promise.reject(new RangeError(`count must be a positive integer (got ${count})`));
    if (this.closed) return Promise.reject(new EstError(500, 'ERR_EST_SERIAL_FILE', `serial store for ${this.path} is closed`));
    return new Promise<bigint[]>((resolve, reject) => {
      this.queue.push({ count, resolve, reject });
      // Start on a microtask so that every caller of the current tick joins the first batch.
      if (!this.draining) this.draining = Promise.resolve().then(() => this.drain());
    });
  }

  /** Waits for reservations in flight; later `next()` calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    await this.draining;
    await this.dirHandle?.close().catch(() => {});
    this.dirHandle = null;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length) {
        // Fairness across processes: the lock is polled, so a process that takes it again right
        // after releasing it could starve the others. When one waits, give it up to 10 ms to get in.
        if (performance.now() - this.releasedAt < 5) {
          for (let i = 0; i < 10 && (await this.otherProcessWaiting()); i++) await sleep(1);
        }
        const batch = this.queue;
        this.queue = [];
        const total = batch.reduce((n, w) => n + w.count, 0);
        try {
          let next = await this.reserve(total);
          for (const w of batch) {
            const mine: bigint[] = [];
            for (let i = 0; i < w.count; i++) mine.push(next++);
            w.resolve(mine);
          }
        } catch (e) {
          for (const w of batch) w.reject(e);
        }
      }
    } finally {
      this.draining = undefined;
    }
  }

  /** Takes `total` serials under the lock (one lock + read + write); returns the first. */
  protected async reserve(total: number): Promise<bigint> {
    await this.lock();
    try {
      let last: bigint;
      const text = await this.readSerialText();
      if (text === undefined) {
        last = randomSerialStart();
      } else {
        last = parseSerialFile(text, this.path);
        if (this.lastIssued !== undefined && last < this.lastIssued) {
          throw serialFileError(
            this.path,
            `went backwards (holds ${formatSerial(last).trim()}, this process already issued ${formatSerial(this.lastIssued).trim()}); refusing to risk duplicate serial numbers`,
          );
        }
      }
      const newLast = last + BigInt(total);
      if (newLast > MAX_SERIAL) {
        throw new EstError(503, 'ERR_EST_SERIAL_EXHAUSTED', `serial file ${this.path}: serial numbers exhausted (the next would exceed 20 octets, RFC 5280 §4.1.2.2); start a new serial file or use random serials`);
      }
      await this.writeAtomic(formatSerial(newLast));
      this.lastIssued = newLast;
      return last + 1n;
    } finally {
      await this.unlock();
      this.releasedAt = performance.now();
    }
  }

  /** The serial file's text, or undefined when it does not exist. Remembers its mode for rewrites. */
  private async readSerialText(): Promise<string | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(this.path, 'r');
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined;
      throw serialFileError(this.path, `cannot be read (${(e as Error).message})`, e);
    }
    try {
      if (this.mode === undefined) this.mode = (await fh.stat()).mode & 0o777;
      // A valid file is at most 40 hex digits and a line end; read a little more to detect junk.
      const buf = Buffer.alloc(256);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      if (bytesRead === buf.length) throw serialFileError(this.path, 'is too large to be a serial number file');
      return buf.toString('latin1', 0, bytesRead);
    } catch (e) {
      if (e instanceof EstError) throw e;
      throw serialFileError(this.path, `cannot be read (${(e as Error).message})`, e);
    } finally {
      await fh.close();
    }
  }

  private async writeAtomic(text: string): Promise<void> {
    // The directory stays open between writes, to fsync each rename without reopening it.
    if (this.dirHandle === undefined) this.dirHandle = await open(dirname(this.path), 'r').catch(() => null);
    try {
      await writeFileAtomic(this.path, text, { mode: this.mode ?? 0o644, ...(this.dirHandle ? { directory: this.dirHandle } : {}) });
    } catch (e) {
      throw serialFileError(this.path, `cannot be written (${(e as Error).message})`, e);
    }
  }

  /** Creates the lock file exclusively, waiting with backoff and breaking stale locks. */
  private async lock(): Promise<void> {
    const token = `${process.pid} ${hostname()} ${randomBytes(8).toString('hex')} ${Date.now()}\n`;
    const deadline = Date.now() + this.lockTimeoutMs;
    let delay = 1;
    let announced = false;
    for (;;) {
      // The lock appears with its token already in it (written aside, then hard-linked into
      // place, which fails if it exists): a kill -9 between creating the lock and writing the pid
      // would otherwise leave an anonymous lock that blocks every process until staleLockMs.
      const aside = `${this.lockPath}.new-${process.pid}-${randomBytes(6).toString('hex')}`;
      try {
        await writeFile(aside, token, { encoding: 'latin1', mode: 0o644 });
        try {
          await link(aside, this.lockPath);
        } finally {
          void unlink(aside).catch(() => {});
        }
        if (announced) await this.withdrawWaitHint();
        return;
      } catch (e) {
        if (!isErrno(e, 'EEXIST')) throw serialFileError(this.path, `cannot create lock file ${this.lockPath} (${(e as Error).message})`, e);
      }
      if (await this.breakIfStale()) continue;
      if (!announced) {
        announced = true;
        await writeFile(this.waitPath, String(process.pid), 'latin1').catch(() => {});
      }
      if (Date.now() >= deadline) {
        throw new EstError(503, 'ERR_EST_SERIAL_LOCK', `serial file ${this.path}: lock ${this.lockPath} still held after ${this.lockTimeoutMs} ms`, { retryAfter: 1 });
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 4);
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
      throw serialFileError(this.path, `cannot read lock file ${this.lockPath} (${(e as Error).message})`, e);
    }
    const [pidText, host] = observed.split(' ');
    const pid = Number(pidText);
    const deadHolder = host === hostname() && Number.isInteger(pid) && pid > 0 && pid !== process.pid && !pidAlive(pid);
    if (!deadHolder && ageMs <= this.staleLockMs) return false;
    const aside = `${this.lockPath}.stale-${process.pid}-${randomBytes(6).toString('hex')}`;
    try {
      await rename(this.lockPath, aside);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return true;
      throw serialFileError(this.path, `cannot break stale lock ${this.lockPath} (${(e as Error).message})`, e);
    }
    const taken = await readFile(aside, 'latin1').catch(() => '');
    if (taken !== observed) {
      // Someone else broke the stale lock and took a fresh one in between: put theirs back.
      await link(aside, this.lockPath).catch(() => {});
      await unlink(aside).catch(() => {});
      return false;
    }
    await unlink(aside).catch(() => {});
    return true;
  }

  /** Whether another process left a wait hint (`<file>.lock.wait`, holding its pid). */
  private async otherProcessWaiting(): Promise<boolean> {
    try {
      return (await readFile(this.waitPath, 'latin1')) !== String(process.pid);
    } catch {
      return false;
    }
  }

  private async withdrawWaitHint(): Promise<void> {
    try {
      if ((await readFile(this.waitPath, 'latin1')) === String(process.pid)) await unlink(this.waitPath);
    } catch {
      /* only a hint */
    }
  }

  /**
   * Removes our lock. It is not re-read first: only a holder stuck for longer than `staleLockMs`
   * could lose it to another process, and then the damage would already be done.
   */
  private async unlock(): Promise<void> {
    await unlink(this.lockPath).catch(() => {});
  }
}
