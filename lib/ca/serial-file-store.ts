// Sequential serials in nginx-http-est's serial file format, safe across processes (lock file + atomic rewrite).
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants as fsConstants, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import { EstError } from '../errors.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import { FileLock, isErrno, type FileLockOptions } from './file-lock.js';
import { MAX_SERIAL } from './types.js';
import { removeLockLitterSync } from './lock-litter.js';
import type { SerialStore } from './types.js';

/** Options of {@link FileSerialStore}. */
/** Options of {@link FileSerialStore}: those of its lock (`staleLockMs`, `lockTimeoutMs`). */
export type FileSerialStoreOptions = FileLockOptions;

/**
 * The file's text for a serial: uppercase hex, an even number of digits, one trailing LF —
 * the format nginx-http-est reads and writes (e.g. `1002\n`).
 */
export function formatSerial(serial: bigint): string {
  return serialText(serial) + '\n';
}

/** A serial as openssl and the serial file write it: uppercase hex, an even number of digits (leading zero kept). */
export function serialText(serial: bigint): string {
  const hex = serial.toString(16).toUpperCase();
  return hex.length % 2 ? '0' + hex : hex;
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
  /** The cross-process lock (`<file>.lock`); the file record store writes index.txt under it too. */
  readonly lock: FileLock;
  private queue: Waiter[] = [];
  private draining: Promise<void> | undefined;
  private lastIssued: bigint | undefined;
  private closed = false;
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
    this.lock = new FileLock(this.lockPath, `serial file ${this.path}`, options);
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
    // Scratch files of processes killed mid-write (kill -9) would otherwise pile up.
    removeLockLitterSync(this.path, this.lock.staleLockMs);
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
        await this.lock.yieldToWaiters();
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
    return this.lock.withLock(async () => {
      let last: bigint;
      const text = this.readSerialText();
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
    });
  }

  /**
   * The serial file's text, or undefined when it does not exist. Remembers its mode for rewrites.
   * Synchronous: a read of the page cache, done holding the lock (see writeFileAtomic).
   */
  private readSerialText(): string | undefined {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined;
      throw serialFileError(this.path, `cannot be read (${(e as Error).message})`, e);
    }
    try {
      if (this.mode === undefined) this.mode = fstatSync(fd).mode & 0o777;
      // A valid file is at most 40 hex digits and a line end; read a little more to detect junk.
      const buf = Buffer.alloc(256);
      const bytesRead = readSync(fd, buf, 0, buf.length, 0);
      if (bytesRead === buf.length) throw serialFileError(this.path, 'is too large to be a serial number file');
      return buf.toString('latin1', 0, bytesRead);
    } catch (e) {
      if (e instanceof EstError) throw e;
      throw serialFileError(this.path, `cannot be read (${(e as Error).message})`, e);
    } finally {
      closeSync(fd);
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
}
