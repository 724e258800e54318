// The embedded record store: the serial file, OpenSSL's index.txt beside it, a ledger of the rest, and pending requests.
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasync, fstatSync, openSync, readFileSync, readSync, statSync, writeSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve as resolvePath } from 'node:path';
import { writeFileAtomic } from '../files/atomic-write.js';
import { EstStoreError } from '../errors.js';
import type { SerialStore } from '../ca/types.js';
import { FileLock, isErrno } from '../ca/file-lock.js';
import { GroupCommit } from '../ca/group-commit.js';
import { parseCertificate } from '../protocol/x509.js';
import { subjectDerOf } from './record.js';
import { LineOffsets } from './line-offsets.js';
import { SerialIndex } from './serial-index.js';
import {
  formatIndexLine,
  onelineName,
  parseIndexLine,
  revocationField,
  serialKey,
  serialText,
  type IndexLine,
} from './openssl-index.js';
import type {
  CertificateRecord,
  PendingQuery,
  PendingRequest,
  RecordQuery,
  RecordStore,
  RevocationReason,
  SerialStatus,
} from './types.js';

/** Options of {@link FileRecordStore}. */
export interface FileRecordStoreOptions {
  /** OpenSSL index.txt (created when missing, with `<index>.attr` saying `unique_subject = no`). */
  indexPath: string;
  /** Where serials come from (the serial file, leased or not, or random serials). */
  serialStore: SerialStore;
  /**
   * The cross-process lock index.txt is written under: the serial file's (`<caSerialNumber>.lock`).
   * @default a lock of its own, `<index>.lock` (random serials, no serial file)
   */
  lock?: FileLock;
  /**
   * How often index.txt is checked (size, mtime, inode) for changes made by other processes or
   * by `openssl ca -revoke`. @default 1000
   */
  watchIntervalMs?: number;
  /** Told about a failed reload of a changed index.txt (the previous state stays in use). */
  onError?: (err: Error) => void;
  /** `close()` also closes `serialStore` (when this store is its only user). @default false */
  closeSerialStore?: boolean;
}

/** The default index.txt for a serial file: same folder, extension replaced (`ca.srl` → `ca.index.txt`). */
export function defaultIndexPath(serialPath: string): string {
  return join(dirname(serialPath), basename(serialPath, extname(serialPath)) + '.index.txt');
}

/** index.txt is read at start-up (and after a rewrite) this many bytes at a time. */
const INDEX_CHUNK_BYTES = 64 << 10;
/** Entries allocated at start-up per line index.txt holds: room for 1/16 more before the first growth. */
const INDEX_HEADROOM = 1.0625;
/** Fewer bytes than any index.txt line has (status, date, three tabs, a serial, two more tabs, LF). */
const MIN_INDEX_LINE_BYTES = 20;
/** index.txt entries per exact line offset (LineOffsets' stride; the others are 16-bit distances from it): lines of ~100 bytes. */
const INDEX_LINES_PER_BASE = 16;
/** The same for the ledger, whose lines (a certificate in base64 and its JSON) are 1.5–5 KB. */
const LEDGER_LINES_PER_BASE = 8;
/** index.txt is scanned for its line offsets (on first need) this many bytes at a time. */
const INDEX_SCAN_BYTES = 256 << 10;
/** The ledger (`<index>.ledger`) is scanned for offsets this many bytes at a time. */
const LEDGER_CHUNK_BYTES = 4 << 20;

const STATUS_V = 0;
const STATUS_R = 1;
const STATUS_E = 2;

interface Revocation {
  at: Date;
  reason: RevocationReason;
}

/** What the ledger file (`<index>.ledger`) holds about a certificate, beyond index.txt. */
interface LedgerEntry {
  subject: string;
  sans: string[];
  notBefore: string;
  notAfter: string;
  issuer: string;
  label?: string;
  operation: CertificateRecord['operation'];
  requester: CertificateRecord['requester'];
  peerAddress: string;
  requestId: string;
  issuedAt: string;
}

interface PendingJson extends Omit<PendingRequest, 'csr' | 'createdAt' | 'expiresAt' | 'decidedAt'> {
  csr: string;
  createdAt: string;
  expiresAt: string;
  decidedAt?: string;
}

function unavailable(path: string, what: string, e: unknown): EstStoreError {
  return new EstStoreError('ERR_EST_STORE_UNAVAILABLE', `record store ${path}: ${what} (${(e as Error).message})`, { retryAfter: 5, cause: e });
}

/** Splits the complete lines of `buf` (up to its last LF); returns them and the bytes consumed. */
function completeLines(buf: Buffer): { lines: string[]; used: number } {
  const last = buf.lastIndexOf(10);
  if (last < 0) return { lines: [], used: 0 };
  const lines = buf.toString('utf8', 0, last).split('\n');
  return { lines, used: last + 1 };
}

function readRange(path: string, from: number, to: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(Math.max(0, to - from));
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, from + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/**
 * The line of `path` that starts at `offset`, without its LF (to the end of the file when it has
 * none). Reads 1 KB, then eight times more while no LF is in sight, up to `maxBytes`.
 */
function readLineAt(path: string, offset: number, maxBytes = Infinity): Buffer {
  for (let len = 1024; ; len *= 8) {
    const buf = readRange(path, offset, offset + len);
    const nl = buf.indexOf(10);
    if (nl >= 0) return buf.subarray(0, nl);
    if (buf.length < len || len >= maxBytes) return buf;
  }
}

/** Room for index.txt line offsets of `entries` entries. */
function indexOffsets(entries: number): LineOffsets {
  return new LineOffsets(entries, INDEX_LINES_PER_BASE);
}

/** Room for the ledger's line offsets of the index's `entries` entries and 1,024 more. */
function ledgerOffsets(entries: number): LineOffsets {
  return new LineOffsets(entries + 1024, LEDGER_LINES_PER_BASE);
}

/** The serial key of an index.txt line (its fourth field), or undefined. */
function serialOfIndexLine(line: string): string | undefined {
  let t = -1;
  for (let n = 0; n < 3; n++) {
    t = line.indexOf('\t', t + 1);
    if (t < 0) return undefined;
  }
  const end = line.indexOf('\t', t + 1);
  return end < 0 ? undefined : serialKey(line.slice(t + 1, end));
}

/** The offset of the first LF in `path` from `from` (before `to`), or -1. */
function findLf(path: string, from: number, to: number): number {
  for (let at = from; at < to; at += LEDGER_CHUNK_BYTES) {
    const buf = readRange(path, at, Math.min(to, at + LEDGER_CHUNK_BYTES));
    const nl = buf.indexOf(10);
    if (nl >= 0) return at + nl;
  }
  return -1;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
}

/**
 * Appends `text` (open and write are synchronous: page-cache work of microseconds, where each
 * thread-pool round trip costs 1–2 ms of waiting on a busy machine) and returns the open fd.
 */
function appendNow(path: string, text: string | Buffer): number {
  const fd = openSync(path, 'a', 0o644);
  try {
    const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** fdatasync on the pool (it waits for the disk), then close. */
async function flushAndClose(fd: number): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve())));
  } finally {
    closeSync(fd);
  }
}

/**
 * Record batches written at once. A batch holds the lock only for its appends and then waits for
 * its two fdatasyncs (~0.3 ms here, more on a busy disk); the next batch appends meanwhile
 * instead of waiting behind that wait (BENCHMARKS.md, fifteenth run). More than two gained nothing.
 */
const WRITE_BATCHES_IN_FLIGHT = 2;

/** Appends `text` and resolves once it is on disk. */
function appendDurably(path: string, text: string): Promise<void> {
  return flushAndClose(appendNow(path, text));
}

/**
 * The embedded {@link RecordStore}: no server needed, and every file readable by OpenSSL or a person.
 *
 * - **Serials**: from `serialStore` (nginx-http-est's serial file, unchanged).
 * - **index.txt**: OpenSSL's CA database, one V/R/E line per certificate, so `openssl ca -revoke`,
 *   `-gencrl` and `-updatedb` work on it with a matching config. Appended under the serial file's
 *   lock. A `V` line for every record is written before `record()` resolves.
 * - **`<index>.ledger`**: what index.txt has no field for, one line per certificate
 *   (`SERIAL TAB I TAB {json} TAB base64(DER)`), and who revoked (`SERIAL TAB R TAB {json}`).
 * - **`<index>.pending`**: pending requests, one JSON snapshot per change (the last one wins).
 *
 * Writes are batched: concurrent `record()` calls share one lock, one append and one fsync per
 * file (group commit), and resolve once durable. The lock covers the check and the append only;
 * the fsync follows it, so processes sharing the files (`est-server --workers`) hold it for
 * microseconds each, and the next batch appends while one waits for its fsync (two in flight).
 * In memory: serial → status, the byte offset of
 * its index line, revocations; so `status()` never reads the disk for a known serial. index.txt is
 * polled (size, mtime, inode): appends by other processes are read incrementally; a replaced file
 * (`openssl ca -revoke` rewrites it) is reloaded whole, and any line the rewrite lost (appended
 * by us while openssl held its copy) is appended again.
 */
export class FileRecordStore implements RecordStore {
  readonly indexPath: string;
  readonly ledgerPath: string;
  readonly pendingPath: string;
  private readonly serialStore: SerialStore;
  private readonly lock: FileLock;
  private readonly onError: ((err: Error) => void) | undefined;
  private readonly closeSerialStore: boolean;

  // index.txt in memory: entry i (keys) has status keys.tag(i)
  private keys = new SerialIndex();
  /**
   * Entry i's line is at byte lineOffset.get(i). Only a record without a ledger line (one `openssl
   * ca` wrote) is read from index.txt, so the offsets are taken on first need, by an asynchronous
   * scan (offsetScan), and kept up to date from then on: a worker that only issues never holds
   * them (a million lines: 2.6 MB).
   */
  private lineOffset: LineOffsets | undefined;
  private offsetScan: Promise<void> | undefined;
  private revocations = new Map<string, Revocation>();
  private indexSeen = { ino: -1, size: 0, mtimeMs: 0 };
  private refreshedThisTurn = false;

  // The ledger's lines, read on first need (asynchronously, a chunk at a time), then followed
  // incrementally: entry i's `I` line starts at byte ledgerAt.get(i) (-1: none); a line whose serial
  // index.txt does not have (yet) is kept by key in ledgerOrphans. Allocated only once needed: a
  // worker that only issues never reads the ledger.
  private ledgerAt: LineOffsets | undefined;
  private ledgerOrphans = new Map<string, number>();
  /** keys.size when ledgerOrphans was last matched against index.txt. */
  private orphansMatchedAt = -1;
  private ledgerScan: Promise<void> | undefined;
  private revokedBy = new Map<string, string>();
  private ledgerSeen = { ino: -1, size: 0 };

  // pending requests
  private pending = new Map<string, PendingRequest>();
  private pendingSeen = 0;

  private readonly writes: GroupCommit<CertificateRecord, void>;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  /**
   * Loads index.txt (and pending requests) synchronously: a corrupt line is refused now with
   * `file:line` (EstStoreError `ERR_EST_STORE_INDEX`), like `nginx -t`.
   */
  constructor(options: FileRecordStoreOptions) {
    this.indexPath = resolvePath(options.indexPath);
    this.ledgerPath = this.indexPath + '.ledger';
    this.pendingPath = this.indexPath + '.pending';
    this.serialStore = options.serialStore;
    this.lock = options.lock ?? new FileLock(this.indexPath + '.lock', `index ${this.indexPath}`);
    this.onError = options.onError;
    this.closeSerialStore = options.closeSerialStore ?? false;
    this.writes = new GroupCommit(
      async (records) => {
        await this.writeBatch(records);
        return [];
      },
      () => this.lock.yieldToWaiters(),
      WRITE_BATCHES_IN_FLIGHT,
    );
    this.loadIndexWhole(true);
    this.catchUpPending();
    const every = options.watchIntervalMs ?? 1000;
    if (every > 0) {
      this.timer = setInterval(() => {
        try {
          this.refreshIndex();
        } catch (e) {
          this.onError?.(e as Error);
        }
      }, every);
      this.timer.unref();
    }
  }

  // ---- index.txt ----

  /**
   * While loading the whole file, once its first chunk is parsed: every array sized for the lines
   * the rest of the file will hold at that chunk's average length, plus INDEX_HEADROOM for the
   * certificates issued after start-up. Growing from 1,024 entries instead left 37 MB of
   * discarded arrays behind a million lines, and past 2^20 lines doubled the index.
   */
  private reserveFor(fileSize: number, bytesParsed: number, linesParsed: number): void {
    if (linesParsed === 0 || fileSize <= bytesParsed) return;
    // Bounded by the shortest line index.txt can hold (a corrupt first chunk must not size it).
    const lines = Math.min((fileSize / bytesParsed) * linesParsed, fileSize / MIN_INDEX_LINE_BYTES);
    const entries = Math.ceil(lines * INDEX_HEADROOM);
    this.keys.reserve(entries, this.keys.digitsPerKey);
    this.lineOffset?.grow(entries);
  }

  /**
   * Entry `i` now has `status` (its tag in `keys`: 0, V, for a key just added), from the line at
   * byte `lineAt`.
   */
  private setEntry(i: number, status: number, revocation: Revocation | undefined, lineAt: number): void {
    const wasRevoked = this.keys.tag(i) === STATUS_R;
    this.keys.setTag(i, status);
    this.lineOffset?.set(i, lineAt);
    if (revocation) this.revocations.set(this.keys.keyAt(i), revocation);
    else if (wasRevoked) this.revocations.delete(this.keys.keyAt(i));
  }

  private indexError(lineNo: number, reason: string): EstStoreError {
    return new EstStoreError('ERR_EST_STORE_INDEX', `${this.indexPath}${Number.isNaN(lineNo) ? '' : `:${lineNo}`}: ${reason}`, { status: 500 });
  }

  /**
   * Parses the complete lines of `buf` (line numbers from `firstLine`); returns the bytes used
   * (up to the last LF) and the number of lines. `fileOffset`: where `buf` starts in the file.
   * `fresh`: loading the whole file, where a repeated serial is an error (as for openssl ca).
   * Fast path for V/E lines (the bulk); R lines and anything odd go through parseIndexLine,
   * which also words the error.
   */
  private parseInto(buf: Buffer, firstLine: number, fresh: boolean, fileOffset: number): { used: number; lines: number } {
    const used = buf.lastIndexOf(10) + 1;
    const text = buf.toString('latin1', 0, used);
    let pos = 0;
    let lineNo = firstLine;
    let lines = 0;
    while (pos < text.length) {
      const nl = text.indexOf('\n', pos);
      let i: number;
      let status = -1;
      let revocation: Revocation | undefined;
      let keyFrom = -1;
      let keyTo = -1;
      const c0 = text.charCodeAt(pos);
      if ((c0 === 0x56 /* V */ || c0 === 0x45) /* E */ && text.charCodeAt(pos + 1) === 9) {
        const t2 = text.indexOf('\t', pos + 2);
        const t3 = t2 + 1;
        const t4 = text.indexOf('\t', t3 + 1);
        const t5 = t4 < 0 ? -1 : text.indexOf('\t', t4 + 1);
        const t6 = t5 < 0 ? -1 : text.indexOf('\t', t5 + 1);
        if (t2 > 0 && t2 < nl && text.charCodeAt(t3) === 9 && t4 > t3 + 1 && t4 < nl && t5 > 0 && t5 < nl && (t6 < 0 || t6 > nl) && asn1TimeOk(text, pos + 2, t2)) {
          keyFrom = canonicalHexStart(buf, t3 + 1, t4);
          keyTo = t4;
          status = c0 === 0x56 ? STATUS_V : STATUS_E;
        }
      }
      // The bulk (V/E lines with an uppercase hex serial) goes by bytes, without a string per line.
      let key: string | undefined;
      if (keyFrom >= 0) i = this.keys.findBytes(buf, keyFrom, keyTo);
      else {
        const l = parseIndexLine(Buffer.from(text.slice(pos, nl), 'latin1').toString('utf8'));
        if (typeof l === 'string') throw this.indexError(lineNo, l);
        key = l.serial;
        status = l.status === 'V' ? STATUS_V : l.status === 'R' ? STATUS_R : STATUS_E;
        if (l.status === 'R') revocation = { at: l.revokedAt!, reason: l.reason! };
        i = this.keys.find(key);
      }
      if (fresh && i >= 0) {
        const dup = this.keys.keyAt(i);
        throw this.indexError(lineNo, `serial ${serialText(dup)} already on line ${firstLineOf(readFileSync(this.indexPath, 'latin1'), dup)}`);
      }
      if (i < 0) i = key === undefined ? this.keys.addBytes(buf, keyFrom, keyTo) : this.keys.add(key);
      // latin1: one character per byte, so pos is the line's byte offset in buf.
      this.setEntry(i, status, revocation, fileOffset + pos);
      pos = nl + 1;
      lineNo++;
      lines++;
    }
    return { used, lines };
  }

  /**
   * Parses the whole of index.txt a chunk at a time: a 1,000,000-line file (~70 MB) never sits
   * in memory whole, as a buffer and again as a string, next to the index built from it.
   * Returns the bytes consumed (up to the last complete line) and the file's stat.
   */
  private parseWholeFile(): { used: number; st: Stats } {
    const fd = openSync(this.indexPath, 'r');
    try {
      const st = fstatSync(fd);
      let buf = Buffer.allocUnsafe(INDEX_CHUNK_BYTES);
      let carry = 0;
      let offset = 0;
      let lineNo = 1;
      for (;;) {
        if (carry === buf.length) {
          // One line longer than the buffer: grow it (a corrupt file may hold anything).
          const bigger = Buffer.allocUnsafe(buf.length * 2);
          buf.copy(bigger, 0, 0, carry);
          buf = bigger;
        }
        const n = readSync(fd, buf, carry, buf.length - carry, offset + carry);
        if (n === 0) break;
        const filled = carry + n;
        const { used, lines } = this.parseInto(buf.subarray(0, filled), lineNo, true, offset);
        if (offset === 0) this.reserveFor(st.size, used, lines);
        lineNo += lines;
        buf.copy(buf, 0, used, filled);
        carry = filled - used;
        offset += used;
      }
      return { used: offset, st };
    } finally {
      closeSync(fd);
    }
  }

  /** (Re)reads the whole index.txt. Returns serials known before that the file no longer has. */
  private loadIndexWhole(atStartup: boolean): string[] {
    const st = statOrUndefined(this.indexPath);
    if (!st) {
      if (!atStartup && this.keys.size > 0) return [...this.keys.keys()];
      this.indexSeen = { ino: -1, size: 0, mtimeMs: 0 };
      return [];
    }
    const before = this.keys;
    const old = { keys: this.keys, lineOffset: this.lineOffset, rev: this.revocations, ledgerAt: this.ledgerAt };
    this.keys = new SerialIndex();
    // Offsets in use are kept in use: the parse below fills them.
    this.lineOffset = old.lineOffset && indexOffsets(old.lineOffset.length);
    this.revocations = new Map();
    let read: { used: number; st: Stats };
    try {
      read = this.parseWholeFile();
    } catch (e) {
      Object.assign(this, { keys: old.keys, lineOffset: old.lineOffset, revocations: old.rev, ledgerAt: old.ledgerAt });
      throw e;
    }
    this.indexSeen = { ino: read.st.ino, size: read.used, mtimeMs: read.st.mtimeMs };
    if (old.ledgerAt) this.renumberLedger(old.keys, old.ledgerAt);
    const lost: string[] = [];
    if (!atStartup) for (const k of before.keys()) if (!this.keys.has(k)) lost.push(k);
    return lost;
  }

  /**
   * After index.txt was reloaded whole (its entries numbered afresh): the ledger offsets known
   * under the old numbering, moved to the new one; those of serials the file no longer has are
   * kept by key (restoreLost() reads them).
   */
  private renumberLedger(oldKeys: SerialIndex, oldAt: LineOffsets): void {
    const at = ledgerOffsets(this.keys.size);
    for (let i = 0; i < oldKeys.size; i++) {
      const o = oldAt.get(i);
      if (o < 0) continue;
      const key = oldKeys.keyAt(i);
      const j = this.keys.find(key);
      if (j >= 0) at.set(j, o);
      else this.ledgerOrphans.set(key, o);
    }
    this.ledgerAt = at;
    this.orphansMatchedAt = -1;
  }

  /** Reads what changed in index.txt since last time: appended lines, or the whole file when replaced. */
  private refreshIndex(): void {
    const st = statOrUndefined(this.indexPath);
    const seen = this.indexSeen;
    if (!st) return;
    if (st.ino === seen.ino && st.size === seen.size && st.mtimeMs === seen.mtimeMs) return;
    if (st.ino === seen.ino && st.size > seen.size) return this.takeAppended(readRange(this.indexPath, seen.size, st.size), st);
    if (st.ino === seen.ino && st.size === seen.size) {
      this.indexSeen = { ...seen, mtimeMs: st.mtimeMs };
      return;
    }
    const lost = this.loadIndexWhole(false);
    if (lost.length) void this.restoreLost(lost).catch((e: Error) => this.onError?.(e));
  }

  /** Lines appended to index.txt since `indexSeen` (`buf`, read or just written), into memory; `st` is the file now. */
  private takeAppended(buf: Buffer, st: Stats): void {
    const seen = this.indexSeen;
    const { used } = this.parseInto(buf, NaN, false, seen.size);
    this.indexSeen = { ino: st.ino, size: seen.size + used, mtimeMs: st.mtimeMs };
  }

  /**
   * refreshIndex() at most once per turn of the event loop: the status checks of every request
   * that reaches it in one turn share a stat (under load, several), each still seeing the file as
   * it was after its request arrived.
   */
  private refreshIndexThisTurn(): void {
    if (this.refreshedThisTurn) return;
    this.refreshIndex();
    this.refreshedThisTurn = true;
    setImmediate(() => (this.refreshedThisTurn = false));
  }

  /** Appends again the lines a rewrite by `openssl ca` dropped (it copied the file before our append). */
  private async restoreLost(lost: string[]): Promise<void> {
    await this.lock.withLock(async () => {
      this.refreshIndex();
      let text = '';
      for (const k of lost) {
        if (this.keys.has(k)) continue;
        const r = await this.readLedger(k);
        if (!r) continue;
        text += formatIndexLine('V', new Date(r.entry.notAfter), serialText(k), FileRecordStore.onelineOf(r)) + '\n';
      }
      if (text) {
        await appendDurably(this.indexPath, text);
        this.refreshIndex();
      }
    });
  }

  // ---- ledger ----

  /**
   * Reads the ledger up to its end (what was appended since last time). One scan at a time; a
   * caller arriving during one waits for it, then reads whatever was appended after it began.
   */
  private async catchUpLedger(): Promise<void> {
    if (!this.ledgerScan && this.ledgerAt) {
      // Read to its end already (the usual case for a page of records): a stat says so.
      const st = statOrUndefined(this.ledgerPath);
      if (st ? st.ino === this.ledgerSeen.ino && st.size === this.ledgerSeen.size : this.ledgerSeen.ino === -1) return this.matchOrphans();
    }
    while (this.ledgerScan) await this.ledgerScan.catch(() => {});
    this.ledgerScan = this.scanLedger();
    try {
      await this.ledgerScan;
    } finally {
      this.ledgerScan = undefined;
    }
  }

  /**
   * The ledger from `ledgerSeen` to its end, a chunk at a time, each read on the pool: with a
   * million certificates it is about a gigabyte, and the event loop serves requests between chunks.
   */
  private async scanLedger(): Promise<void> {
    this.ledgerAt ??= ledgerOffsets(this.keys.size);
    let fh;
    try {
      fh = await open(this.ledgerPath, 'r');
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return;
      throw e;
    }
    try {
      let st = await fh.stat();
      if (st.ino !== this.ledgerSeen.ino || st.size < this.ledgerSeen.size) {
        // Another file than the one read so far (or a shorter one): read it from its start.
        if (this.ledgerSeen.ino !== -1) this.forgetLedger();
        this.ledgerSeen = { ino: st.ino, size: 0 };
      }
      let buf: Buffer | undefined;
      let restats = 0;
      while (st.size > this.ledgerSeen.size) {
        const from = this.ledgerSeen.size;
        const want = Math.min(st.size - from, LEDGER_CHUNK_BYTES);
        if (!buf || buf.length < want) buf = Buffer.allocUnsafe(want);
        const { bytesRead } = await fh.read(buf, 0, want, from);
        if (bytesRead === 0) break;
        const used = this.parseLedger(buf.subarray(0, bytesRead), from);
        if (used === 0) {
          // No complete line in a whole chunk: the last line is still being written (or is huge).
          if (bytesRead < LEDGER_CHUNK_BYTES) break;
          const nl = findLf(this.ledgerPath, from + bytesRead, st.size);
          if (nl < 0) break;
          this.ledgerSeen.size = nl + 1;
        } else this.ledgerSeen.size = from + used;
        // Caught up with the size seen: look again for lines appended meanwhile, a few times at
        // most (under load other writers append all along; the next call reads the rest).
        if (this.ledgerSeen.size >= st.size && restats++ < 3) st = await fh.stat();
      }
    } finally {
      await fh.close();
    }
    this.matchOrphans();
  }

  /** The complete lines of `buf` (at byte `base` of the ledger) into ledgerAt; returns the bytes used. */
  private parseLedger(buf: Buffer, base: number): number {
    let pos = 0;
    for (;;) {
      const nl = buf.indexOf(10, pos);
      if (nl < 0) return pos;
      const t1 = buf.indexOf(9, pos);
      if (t1 > pos && t1 < nl) {
        const kind = buf[t1 + 1];
        if (kind === 0x49 /* I */) this.setLedgerLine(buf, pos, t1, base + pos);
        else if (kind === 0x52 /* R */) {
          try {
            const j = JSON.parse(buf.toString('utf8', t1 + 3, nl)) as { by?: string };
            if (j.by) this.revokedBy.set(buf.toString('latin1', pos, t1), j.by);
          } catch {
            /* a damaged R line only loses who revoked */
          }
        }
      }
      pos = nl + 1;
    }
  }

  /** The ledger line of serial buf[from, to) starts at byte `at`. */
  private setLedgerLine(buf: Buffer, from: number, to: number, at: number): void {
    const i = this.keys.findBytes(buf, from, to);
    if (i < 0) {
      // Kept for when index.txt has the serial; a key that can never be one (a damaged line) is not.
      if (to - from <= 64) this.ledgerOrphans.set(buf.toString('latin1', from, to), at);
      return;
    }
    this.ledgerAt!.set(i, at);
  }

  /** Ledger lines read before index.txt had their serial: moved to their entries now that it has. */
  private matchOrphans(): void {
    if (this.orphansMatchedAt === this.keys.size || this.ledgerOrphans.size === 0) return;
    for (const [key, at] of this.ledgerOrphans) {
      const i = this.keys.find(key);
      if (i < 0) continue;
      this.ledgerAt!.set(i, at);
      this.ledgerOrphans.delete(key);
    }
    this.orphansMatchedAt = this.keys.size;
  }

  /** Drops what was read of a ledger file that has since been replaced or changed: the next scan reads it from its start. */
  private forgetLedger(): void {
    this.ledgerAt = ledgerOffsets(this.keys.size);
    this.ledgerOrphans.clear();
    this.revokedBy.clear();
    this.ledgerSeen = { ino: -1, size: 0 };
  }

  /** Where the ledger line of `key` starts, or -1 (after catchUpLedger()). */
  private ledgerOffsetOf(key: string): number {
    const i = this.keys.find(key);
    const at = i >= 0 && this.ledgerAt ? this.ledgerAt.get(i) : -1;
    return at >= 0 ? at : (this.ledgerOrphans.get(key) ?? -1);
  }

  /** The ledger line of a serial key: its JSON and DER (read through `window` when given). */
  private async readLedger(key: string, window?: LedgerWindow, again = false): Promise<{ entry: LedgerEntry; der: Uint8Array } | undefined> {
    await this.catchUpLedger();
    const off = this.ledgerOffsetOf(key);
    if (off < 0) return undefined;
    const line = (window ? window.lineAt(off) : readLineAt(this.ledgerPath, off)).toString('utf8');
    if (!line.startsWith(key + '\t') && !again) {
      // Not the line its offset was taken for: the file was changed in place (an edit, a restore
      // over it). Its offsets are read again, once.
      this.forgetLedger();
      window?.clear();
      return this.readLedger(key, window, true);
    }
    try {
      const { entry, base64 } = parseLedgerLine(line, key);
      return { entry, der: new Uint8Array(Buffer.from(base64, 'base64')) };
    } catch (e) {
      // A damaged line (edited, truncated): the record is what index.txt knows, and the operator is told.
      this.onError?.(new EstStoreError('ERR_EST_STORE_LEDGER', `${this.ledgerPath}: the line of serial ${serialText(key)} at byte ${off} cannot be read (${(e as Error).message})`, { status: 500 }));
      return undefined;
    }
  }

  /** index.txt's one-line subject of a ledger record (for a line to write again). */
  private static onelineOf(r: { entry: LedgerEntry; der: Uint8Array }): string {
    try {
      return onelineName(parseCertificate(r.der).subjectDer);
    } catch {
      return '/' + r.entry.subject.split(', ').join('/');
    }
  }

  /**
   * index.txt's line offsets, read from the file a chunk at a time on the pool (a million lines
   * are ~70 MB), the event loop serving requests between chunks. lineOffset is in place from the
   * start, so lines appended meanwhile get theirs from takeAppended(), and the scan sets only what
   * is still unset. When the whole file is reloaded meanwhile, that reload fills a fresh
   * lineOffset itself and the scan stops; when the file was replaced before it could be opened,
   * none is left in place and the next need scans again.
   */
  private async scanIndexOffsets(): Promise<void> {
    this.refreshIndex();
    const offsets = indexOffsets(this.keys.size + 1024);
    const { keys, indexSeen: seen } = this;
    this.lineOffset = offsets;
    let fh;
    try {
      fh = await open(this.indexPath, 'r');
      if ((await fh.stat()).ino !== seen.ino) {
        if (this.lineOffset === offsets) this.lineOffset = undefined;
        return;
      }
      const buf = Buffer.allocUnsafe(INDEX_SCAN_BYTES);
      let from = 0;
      // The line buf[lineFrom, lineTo), at file offset from + lineFrom: its entry's offset, if still unset.
      const take = (lineFrom: number, lineTo: number) => {
        const key = serialOfIndexLine(buf.toString('latin1', lineFrom, lineTo));
        const i = key === undefined ? -1 : keys.find(key);
        if (i >= 0 && offsets.get(i) < 0) offsets.set(i, from + lineFrom);
      };
      while (from < seen.size && this.lineOffset === offsets) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, seen.size - from), from);
        if (bytesRead === 0 || this.lineOffset !== offsets) return;
        let pos = 0;
        for (let nl = buf.indexOf(10); nl >= 0 && nl < bytesRead; pos = nl + 1, nl = buf.indexOf(10, pos)) take(pos, nl);
        if (pos > 0) from += pos;
        else {
          // A line longer than the buffer: its serial is in its first bytes; then on past its end.
          take(0, bytesRead);
          const nl = findLf(this.indexPath, from + bytesRead, seen.size);
          if (nl < 0) return;
          from = nl + 1;
        }
      }
    } catch (e) {
      if (this.lineOffset === offsets) this.lineOffset = undefined;
      if (!isErrno(e, 'ENOENT')) throw e;
    } finally {
      await fh?.close();
    }
  }

  /** The index.txt line of serial key `key` (records that have no ledger entry): read at its offset. */
  private async readIndexLine(key: string): Promise<IndexLine | undefined> {
    // Three scans at most: each one that fails leaves none in place (a file replaced meanwhile).
    for (let scans = 0; (this.offsetScan || !this.lineOffset) && scans < 3; scans++) {
      this.offsetScan ??= this.scanIndexOffsets().finally(() => (this.offsetScan = undefined));
      await this.offsetScan.catch((e: Error) => this.onError?.(e));
    }
    const i = this.keys.find(key);
    if (i < 0 || !this.lineOffset) return undefined;
    try {
      const l = parseIndexLine(readLineAt(this.indexPath, this.lineOffset.get(i), 1 << 20).toString('utf8'));
      // The file may have been rewritten since its offsets were taken: then not this line.
      return typeof l !== 'string' && l.serial === key ? l : undefined;
    } catch {
      return undefined;
    }
  }

  private async recordOf(key: string, window?: LedgerWindow): Promise<CertificateRecord | undefined> {
    const i = this.keys.find(key);
    if (i < 0) return undefined;
    const st = this.keys.tag(i);
    const rev = this.revocations.get(key);
    const fromLedger = await this.readLedger(key, window);
    let r: CertificateRecord;
    if (fromLedger) {
      const e = fromLedger.entry;
      r = {
        serial: serialText(key),
        subject: e.subject,
        sans: e.sans,
        notBefore: new Date(e.notBefore),
        notAfter: new Date(e.notAfter),
        issuer: e.issuer,
        operation: e.operation,
        requester: e.requester,
        peerAddress: e.peerAddress,
        requestId: e.requestId,
        certificate: fromLedger.der,
        issuedAt: new Date(e.issuedAt),
        status: 'valid',
      };
      if (e.label !== undefined) r.label = e.label;
    } else {
      // A line written by `openssl ca` itself: only what index.txt knows.
      const l = await this.readIndexLine(key);
      if (!l) return undefined;
      r = {
        serial: serialText(key),
        subject: l.subject,
        sans: [],
        notBefore: new Date(NaN),
        notAfter: l.expiry,
        issuer: '',
        operation: 'simpleenroll',
        requester: { method: 'none' },
        peerAddress: '',
        requestId: '',
        certificate: new Uint8Array(0),
        issuedAt: new Date(NaN),
        status: 'valid',
      };
    }
    if (st === STATUS_R && rev) {
      r.status = 'revoked';
      r.revokedAt = rev.at;
      r.revocationReason = rev.reason;
      const by = this.revokedBy.get(key);
      if (by !== undefined) r.revokedBy = by;
    }
    return r;
  }

  // ---- RecordStore: certificates ----

  nextSerials(count: number): Promise<bigint[]> {
    return this.serialStore.next(count);
  }

  record(record: CertificateRecord): Promise<void> {
    if (this.closed) return Promise.reject(new EstStoreError('ERR_EST_STORE_CLOSED', `record store ${this.indexPath} is closed`));
    return this.writes.add(record);
  }

  /** One lock, one append + fsync to the ledger and one to index.txt (side by side), for a whole batch. */
  private async writeBatch(records: CertificateRecord[]): Promise<void> {
    let ledger = '';
    let index = '';
    const keys: string[] = [];
    for (const r of records) {
      const key = serialKey(r.serial);
      if (key === undefined) throw new EstStoreError('ERR_EST_STORE_RECORD', `record has a bad serial ${JSON.stringify(r.serial)}`, { status: 500 });
      let oneline: string;
      try {
        oneline = onelineName(subjectDerOf(r.certificate));
      } catch (e) {
        throw new EstStoreError('ERR_EST_STORE_RECORD', `record ${r.serial}: the certificate cannot be parsed (${(e as Error).message})`, { status: 500 });
      }
      const entry: LedgerEntry = {
        subject: r.subject,
        sans: r.sans,
        notBefore: r.notBefore.toISOString(),
        notAfter: r.notAfter.toISOString(),
        issuer: r.issuer,
        ...(r.label !== undefined ? { label: r.label } : {}),
        operation: r.operation,
        requester: r.requester,
        peerAddress: r.peerAddress,
        requestId: r.requestId,
        issuedAt: r.issuedAt.toISOString(),
      };
      ledger += `${key}\tI\t${JSON.stringify(entry)}\t${Buffer.from(r.certificate).toString('base64')}\n`;
      index += formatIndexLine('V', r.notAfter, serialText(key), oneline) + '\n';
      keys.push(key);
    }
    // Under the lock: check and append (no disk wait, so the lock is held for microseconds).
    const fds = await this.lock.withLock(async () => {
      try {
        this.refreshIndex();
      } catch (e) {
        throw unavailable(this.indexPath, 'cannot be read', e);
      }
      for (const k of keys) {
        if (this.keys.has(k)) throw new EstStoreError('ERR_EST_STORE_DUPLICATE', `serial ${serialText(k)} is already in ${this.indexPath}`, { status: 500 });
      }
      const opened: number[] = [];
      const indexBytes = Buffer.from(index, 'utf8');
      try {
        await this.ensureAttrFile();
        opened.push(appendNow(this.ledgerPath, ledger));
        opened.push(appendNow(this.indexPath, indexBytes));
      } catch (e) {
        for (const fd of opened) closeSync(fd);
        throw unavailable(this.indexPath, 'cannot be written', e);
      }
      try {
        this.takeOwnLines(opened[1]!, indexBytes);
      } catch (e) {
        this.onError?.(e as Error);
      }
      return opened;
    });
    // After the lock: both files flushed side by side (fdatasync covers whatever is in the file, so
    // another writer appending meanwhile is harmless). The batch resolves, and any certificate in
    // it leaves, only once both are durable.
    try {
      await Promise.all(fds.map(flushAndClose));
    } catch (e) {
      throw unavailable(this.indexPath, 'cannot be written', e);
    }
  }

  /**
   * Our lines just appended to index.txt (fd `fd`), into memory. When the file is the one read up
   * to its end just before the append (same inode, grown by exactly our bytes), they are taken from
   * `bytes` at the offsets they now have, without reading them back; otherwise (replaced or
   * appended to by another writer meanwhile) the file is read as usual.
   */
  private takeOwnLines(fd: number, bytes: Buffer): void {
    const st = fstatSync(fd);
    const seen = this.indexSeen;
    if (st.ino !== seen.ino || st.size !== seen.size + bytes.length) return this.refreshIndex();
    this.takeAppended(bytes, st);
  }

  private attrChecked = false;

  /** openssl ca defaults to unique_subject = yes; devices re-enroll with the same subject. */
  private async ensureAttrFile(): Promise<void> {
    if (this.attrChecked) return;
    const attr = this.indexPath + '.attr';
    try {
      const fh = await open(attr, 'wx', 0o644);
      try {
        await fh.write('unique_subject = no\n');
        await fh.datasync();
      } finally {
        await fh.close();
      }
    } catch (e) {
      if (!isErrno(e, 'EEXIST')) throw e;
    }
    this.attrChecked = true;
  }

  async get(serial: string): Promise<CertificateRecord | undefined> {
    const key = serialKey(serial);
    if (key === undefined) return undefined;
    if (!this.keys.has(key)) this.refreshIndex();
    return this.recordOf(key);
  }

  async status(serial: string): Promise<SerialStatus> {
    const key = serialKey(serial);
    if (key === undefined) return 'unknown';
    // Revoked or issued a moment ago by another process (or openssl ca) since the last poll.
    this.refreshIndexThisTurn();
    const i = this.keys.find(key);
    if (i < 0) return 'unknown';
    return this.keys.tag(i) === STATUS_R ? 'revoked' : 'valid';
  }

  async list(query: RecordQuery = {}): Promise<{ records: CertificateRecord[]; total: number }> {
    this.refreshIndex();
    await this.catchUpLedger();
    const limit = query.limit ?? 50;
    const offset = query.offset ?? 0;
    const subject = query.subject?.toLowerCase();
    const now = Date.now();
    const horizon = query.expiringWithinDays !== undefined ? now + query.expiringWithinDays * 86_400_000 : undefined;
    // The index as it is now: a reload while records are read below replaces these, not changes them.
    const { keys } = this;
    // The ledger's offsets, taken again after each wait: readLedger() re-reads them when it finds
    // the file changed in place (same numbering, so only while `keys` is still this index's).
    const snapshot = this.ledgerAt!;
    const current = () => (this.keys === keys ? this.ledgerAt! : snapshot);
    let ledgerAt = snapshot;
    const n = keys.size;
    // Newest first: the ledger's records in reverse order of appending (index.txt's lines are
    // appended in the same order, under the same lock), then the lines the ledger does not have.
    let only = -1;
    if (query.serial !== undefined) {
      const want = serialKey(query.serial);
      only = want === undefined ? -1 : keys.find(want);
      if (only < 0) return { records: [], total: 0 };
    }
    const matched: CertificateRecord[] = [];
    let total = 0;
    let read = 0;
    // Filters on the record itself need each record read; otherwise only the page's are.
    const readEach = subject !== undefined || query.label !== undefined || horizon !== undefined;
    const window = new LedgerWindow(this.ledgerPath);
    // A subject search first looks for the text in the raw ledger line (one lowercase pass, no
    // JSON): a subject containing it holds it verbatim in the line, unless the text has a
    // character JSON escapes, in which case every record is read.
    const rawFilter = subject !== undefined && !/["\\\u0000-\u001f]/.test(subject) ? subject : undefined;
    // Pass 0: entries with a ledger line, last first; pass 1: the others, in file order.
    for (let k = 0; k < (only >= 0 ? 1 : 2 * n); k++) {
      const i = only >= 0 ? only : k < n ? n - 1 - k : k - n;
      if ((k & 0x3ffff) === 0x3ffff) {
        // Counting a million entries takes tens of milliseconds: a turn for requests now and then.
        await new Promise<void>((r) => setImmediate(r));
        ledgerAt = current();
      }
      const at = ledgerAt.get(i);
      if (only < 0 && (k < n) !== (at >= 0)) continue;
      if (query.status && (keys.tag(i) === STATUS_R ? 'revoked' : 'valid') !== query.status) continue;
      if (!readEach && !(total >= offset && matched.length < limit)) {
        total++;
        continue;
      }
      // A search reads every record: let the event loop serve requests every few hundred.
      if (++read % 256 === 0) {
        await new Promise<void>((r) => setImmediate(r));
        ledgerAt = current();
      }
      const onPage = total >= offset && matched.length < limit;
      // Off the page a match only counts: the ledger line's JSON answers, without the record.
      const key = keys.keyAt(i);
      let line = at >= 0 ? window.lineAt(at).toString('utf8') : undefined;
      // Another serial's line there: the file changed in place; recordOf() reads it again.
      if (line !== undefined && !line.startsWith(key + '\t')) line = undefined;
      if (rawFilter !== undefined && line !== undefined && !line.toLowerCase().includes(rawFilter)) continue;
      const entry = !onPage && line !== undefined ? ledgerEntryOf(line, key) : undefined;
      const r = entry ? undefined : await this.recordOf(key, window);
      ledgerAt = current();
      const fields = entry ? { subject: entry.subject, label: entry.label, notAfter: new Date(entry.notAfter) } : r;
      if (!fields) continue;
      if (subject !== undefined && !fields.subject.toLowerCase().includes(subject)) continue;
      if (query.label !== undefined && fields.label !== query.label) continue;
      if (horizon !== undefined && !(fields.notAfter.getTime() > now && fields.notAfter.getTime() <= horizon)) continue;
      if (onPage && r) matched.push(r);
      total++;
    }
    return { records: matched, total };
  }

  /** Every record, in index.txt order (for `est-admin db import`). */
  async *all(): AsyncGenerator<CertificateRecord> {
    this.refreshIndex();
    const keys = this.keys;
    for (let i = 0; i < keys.size; i++) {
      const r = await this.recordOf(keys.keyAt(i));
      if (r) yield r;
    }
  }

  async revoke(serial: string, reason: RevocationReason, by: string, at: Date = new Date()): Promise<CertificateRecord> {
    const key = serialKey(serial);
    if (reason === 'privilegeWithdrawn' || reason === 'AACompromise') {
      throw new EstStoreError('ERR_EST_STORE_REASON', `reason ${reason} cannot be written to index.txt (openssl ca does not know it)`, { status: 400 });
    }
    const unknown = () => new EstStoreError('ERR_EST_STORE_UNKNOWN_SERIAL', `serial ${serial} was never issued by this CA (not in ${this.indexPath})`, { status: 404 });
    if (key === undefined) throw unknown();
    await this.lock.withLock(async () => {
      // Rewrite index.txt as `openssl ca -revoke` does: the whole file, changed line, atomic rename.
      let buf: Buffer;
      try {
        buf = readFileSync(this.indexPath);
      } catch (e) {
        if (isErrno(e, 'ENOENT')) throw unknown();
        throw unavailable(this.indexPath, 'cannot be read', e);
      }
      const text = buf.toString('utf8');
      const lines = text.split('\n');
      let found = -1;
      for (let n = 0; n < lines.length && found < 0; n++) if (serialOfIndexLine(lines[n]!) === key) found = n;
      if (found < 0) throw unknown();
      const l = parseIndexLine(lines[found]!);
      if (typeof l === 'string') throw new EstStoreError('ERR_EST_STORE_INDEX', `${this.indexPath}:${found + 1}: ${l}`, { status: 500 });
      if (l.status === 'R') return; // already revoked: unchanged
      const f = lines[found]!.split('\t');
      f[0] = 'R';
      f[2] = revocationField(at, reason);
      lines[found] = f.join('\t');
      try {
        await writeFileAtomic(this.indexPath, lines.join('\n'));
        await appendDurably(this.ledgerPath, `${key}\tR\t${JSON.stringify({ by, at: at.toISOString(), reason })}\n`);
      } catch (e) {
        throw unavailable(this.indexPath, 'cannot be written', e);
      }
      this.revokedBy.set(key, by);
      this.loadIndexWhole(false);
    });
    const r = await this.recordOf(key);
    if (!r) throw unknown();
    return r;
  }

  async revoked(): Promise<Array<{ serial: string; revokedAt: Date; reason: RevocationReason }>> {
    this.refreshIndex();
    return [...this.revocations.entries()].map(([k, v]) => ({ serial: serialText(k), revokedAt: v.at, reason: v.reason }));
  }

  // ---- RecordStore: pending requests ----

  private catchUpPending(): void {
    const st = statOrUndefined(this.pendingPath);
    if (!st || st.size <= this.pendingSeen) return;
    const { lines, used } = completeLines(readRange(this.pendingPath, this.pendingSeen, st.size));
    for (const line of lines) {
      if (!line) continue;
      let j: PendingJson;
      try {
        j = JSON.parse(line) as PendingJson;
      } catch {
        continue; // a torn line from a crash: the request is asked again
      }
      const p: PendingRequest = {
        ...j,
        csr: new Uint8Array(Buffer.from(j.csr, 'base64')),
        createdAt: new Date(j.createdAt),
        expiresAt: new Date(j.expiresAt),
        ...(j.decidedAt !== undefined ? { decidedAt: new Date(j.decidedAt) } : {}),
      } as PendingRequest;
      if (j.decidedAt === undefined) delete p.decidedAt;
      this.pending.set(p.id, p);
    }
    this.pendingSeen += used;
  }

  private withExpiry(p: PendingRequest): PendingRequest {
    if (p.state === 'pending' && p.expiresAt.getTime() <= Date.now()) return { ...p, state: 'expired' };
    return { ...p };
  }

  private async writePending(p: PendingRequest): Promise<void> {
    const j: PendingJson = {
      ...p,
      csr: Buffer.from(p.csr).toString('base64'),
      createdAt: p.createdAt.toISOString(),
      expiresAt: p.expiresAt.toISOString(),
      ...(p.decidedAt ? { decidedAt: p.decidedAt.toISOString() } : {}),
    } as PendingJson;
    try {
      await appendDurably(this.pendingPath, JSON.stringify(j) + '\n');
    } catch (e) {
      throw unavailable(this.pendingPath, 'cannot be written', e);
    }
    this.catchUpPending();
  }

  private byKey(key: string): PendingRequest | undefined {
    let found: PendingRequest | undefined;
    for (const p of this.pending.values()) if (p.key === key && (!found || p.createdAt >= found.createdAt)) found = p;
    return found;
  }

  async putPending(request: Omit<PendingRequest, 'id' | 'state'>): Promise<PendingRequest> {
    return this.lock.withLock(async () => {
      this.catchUpPending();
      const existing = this.byKey(request.key);
      if (existing && this.withExpiry(existing).state !== 'expired') return this.withExpiry(existing);
      const p: PendingRequest = { ...request, id: randomBytes(8).toString('hex'), state: 'pending' };
      await this.writePending(p);
      return this.withExpiry(p);
    });
  }

  async pendingByKey(key: string): Promise<PendingRequest | undefined> {
    this.catchUpPending();
    const p = this.byKey(key);
    return p && this.withExpiry(p);
  }

  async pendingById(id: string): Promise<PendingRequest | undefined> {
    this.catchUpPending();
    const p = this.pending.get(id);
    return p && this.withExpiry(p);
  }

  async listPending(query: PendingQuery = {}): Promise<{ requests: PendingRequest[]; total: number }> {
    this.catchUpPending();
    const all = [...this.pending.values()].map((p) => this.withExpiry(p)).filter((p) => !query.state || p.state === query.state);
    all.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    const offset = query.offset ?? 0;
    return { requests: all.slice(offset, offset + (query.limit ?? 50)), total: all.length };
  }

  async decide(id: string, decision: { state: 'approved' | 'denied' | 'issued'; by: string; reason?: string; serial?: string }): Promise<PendingRequest> {
    return this.lock.withLock(async () => {
      this.catchUpPending();
      const cur = this.pending.get(id);
      if (!cur) throw new EstStoreError('ERR_EST_STORE_UNKNOWN_REQUEST', `no pending request ${id}`, { status: 404 });
      const now = this.withExpiry(cur);
      // approved → issued is the one change allowed after a decision.
      const allowed = now.state === 'pending' || (now.state === 'approved' && decision.state === 'issued');
      if (!allowed) throw new EstStoreError('ERR_EST_STORE_DECIDED', `request ${id} is already ${now.state}`, { status: 409 });
      const next: PendingRequest = { ...cur, state: decision.state };
      if (decision.state !== 'issued' || !cur.decidedBy) {
        next.decidedAt = new Date();
        next.decidedBy = decision.by;
      }
      if (decision.reason !== undefined) next.reason = decision.reason;
      if (decision.serial !== undefined) next.serial = decision.serial;
      await this.writePending(next);
      return { ...next };
    });
  }

  // ---- health ----

  async check(): Promise<void> {
    try {
      this.refreshIndex();
    } catch (e) {
      if (e instanceof EstStoreError) throw e;
      throw unavailable(this.indexPath, 'cannot be read', e);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.writes.idle();
    if (this.closeSerialStore) await this.serialStore.close?.();
  }
}

/** Whether text[from, to) is YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ with a plausible month and day. */
function asn1TimeOk(text: string, from: number, to: number): boolean {
  const n = to - from;
  if ((n !== 13 && n !== 15) || text.charCodeAt(to - 1) !== 0x5a) return false;
  for (let i = from; i < to - 1; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  const m = from + n - 11; // MMDDHHMMSSZ
  const month = (text.charCodeAt(m) - 48) * 10 + text.charCodeAt(m + 1) - 48;
  const day = (text.charCodeAt(m + 2) - 48) * 10 + text.charCodeAt(m + 3) - 48;
  const hour = (text.charCodeAt(m + 4) - 48) * 10 + text.charCodeAt(m + 5) - 48;
  return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23;
}

/**
 * Where the canonical key of the hex serial buf[from, to) starts (leading zeros skipped, one
 * kept for zero), or -1 when it is not all uppercase hex or longer than 64 digits (such lines
 * take parseIndexLine's way, which also lowercases and words the error).
 */
function canonicalHexStart(buf: Buffer, from: number, to: number): number {
  if (to - from > 64) return -1;
  for (let i = from; i < to; i++) {
    const c = buf[i]!;
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46))) return -1;
  }
  let start = from;
  while (start < to - 1 && buf[start] === 0x30) start++;
  return start;
}

/**
 * A ledger `I` line of serial `key` (`SERIAL TAB I TAB {json} TAB base64(DER)`): its JSON and its
 * certificate's base64. Throws saying what is wrong with a damaged one.
 */
function parseLedgerLine(line: string, key: string): { entry: LedgerEntry; base64: string } {
  const parts = line.split('\t');
  if (parts[0] !== key) throw new Error('another serial is at that offset');
  const entry = JSON.parse(parts[2] ?? '') as LedgerEntry;
  if (typeof entry !== 'object' || entry === null || typeof entry.subject !== 'string' || typeof entry.notAfter !== 'string') throw new TypeError('not a ledger entry');
  return { entry, base64: parts[3] ?? '' };
}

/** parseLedgerLine()'s entry, or undefined for a damaged line (its record is then read, and reported, whole). */
function ledgerEntryOf(line: string, key: string): LedgerEntry | undefined {
  try {
    return parseLedgerLine(line, key).entry;
  } catch {
    return undefined;
  }
}

/** How much of the ledger a {@link LedgerWindow} reads at once. */
const LEDGER_WINDOW_BYTES = 1 << 20;
/** How far past a line's start a window reaches (a ledger line is ~1 KB; longer ones are read alone). */
const LEDGER_LINE_REACH = 64 * 1024;

/**
 * Ledger lines read through a window of the file, for a list() that reads many records: the file
 * in 1 MB pieces instead of a read per line. Newest first walks the file backwards, so a window
 * ends just past the line it was read for.
 */
class LedgerWindow {
  private start = 0;
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly path: string) {}

  /** Forgets what was read (the file changed in place). */
  clear(): void {
    this.buf = Buffer.alloc(0);
  }

  /** The line at byte `off`, without its LF. */
  lineAt(off: number): Buffer {
    let nl = off >= this.start && off < this.start + this.buf.length ? this.buf.indexOf(10, off - this.start) : -1;
    if (nl < 0) {
      this.start = Math.max(0, off + LEDGER_LINE_REACH - LEDGER_WINDOW_BYTES);
      this.buf = readRange(this.path, this.start, off + LEDGER_LINE_REACH);
      nl = this.buf.indexOf(10, off - this.start);
      if (nl < 0) return readLineAt(this.path, off);
    }
    return this.buf.subarray(off - this.start, nl);
  }
}

/** Line number of the first line whose serial is `key` (for the duplicate message). */
function firstLineOf(text: string, key: string): number {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = parseIndexLine(lines[i]!);
    if (typeof l !== 'string' && l.serial === key) return i + 1;
  }
  return 0;
}
