// The one atomic file writer: temp file, fsync, rename, fsync of the directory.
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

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

/**
 * Replaces `path` so that a reader sees the old content or the new, never a torn or empty file,
 * and a crash after it resolves keeps the new: the data goes to a temp file in the same
 * directory, which is fsync'd, renamed over `path`, and the directory is fsync'd so the rename
 * itself is durable. Some platforms cannot fsync a directory; that alone is not an error.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const fh = await open(tmp, 'wx', options.mode ?? 0o644);
    try {
      await fh.writeFile(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
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
