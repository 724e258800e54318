// The one atomic file writer: temp file, fsync, rename, fsync of the directory.
import { randomBytes } from 'node:crypto';
import { closeSync, fsync, openSync, renameSync, writeSync } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';

/** How {@link writeFileAtomic} writes. */
export interface AtomicWriteOptions {
  /**
   * Permission bits of a new file (before the umask).
   * @default 0o644
   */
  mode?: number;
  /**
   * The file's directory, already open, for a caller that writes the same file often (the
   * serial store); without it the directory is opened and closed for each write.
   */
  directory?: FileHandle;
}

/** Up to this size the data is written with synchronous calls (see {@link writeFileAtomic}). */
const SYNC_WRITE_MAX = 64 * 1024;

const fsyncFd = promisify(fsync);

/**
 * Replaces `path` so that a reader sees the old content or the new, never a torn or empty file,
 * and a crash after it resolves keeps the new: the data goes to a temp file in the same
 * directory, which is fsync'd, renamed over `path`, and the directory is fsync'd so the rename
 * itself is durable. Some platforms cannot fsync a directory; that alone is not an error.
 *
 * Small data (the serial file, a key, a certificate) is opened, written and renamed with
 * synchronous calls: page-cache work of microseconds, where each thread-pool round trip waits
 * 1–2 ms on a busy machine, and the serial file is rewritten holding its lock. Only the two
 * fsyncs, which wait for the disk, go to the pool.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  try {
    if (bytes.length <= SYNC_WRITE_MAX) {
      const fd = openSync(tmp, 'wx', options.mode ?? 0o644);
      try {
        for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
        await fsyncFd(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
    } else {
      const fh = await open(tmp, 'wx', options.mode ?? 0o644);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    }
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await syncDirectory(dir, options.directory);
}

async function syncDirectory(dir: string, open_: FileHandle | undefined): Promise<void> {
  if (open_) return open_.sync().catch(() => {});
  const fh = await open(dir, 'r').catch(() => null);
  if (!fh) return;
  await fh.sync().catch(() => {});
  await fh.close();
}
