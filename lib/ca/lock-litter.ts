// Scratch files of the serial-file lock and rewrite that a killed process (kill -9) left next to the serial file.
import { readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

/**
 * Scratch names, each `<base><kind>-<pid>-<hex>`: `<file>.lock.new-` (a lock token written aside
 * before it is linked into place), `<file>.lock.stale-` (a broken lock moved aside) and
 * `.<file>.tmp-` (a serial file rewrite before its rename, files/atomic-write.ts). A live process
 * removes each within milliseconds.
 */
function scratchPattern(serialPath: string): RegExp {
  const base = basename(serialPath).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\.?${base}(\\.lock\\.new|\\.lock\\.stale|\\.tmp)-(\\d+)-([0-9a-f]+)$`);
}

/**
 * This host's name, read once (file-lock.ts writes it into lock tokens). Were it changed while a
 * process runs, that process's locks would only look like another host's, broken by age alone.
 */
export const HOST_NAME = hostname();

/**
 * This host's tag, the first hex digits of a `.lock.new` name's random part (file-lock.ts): a
 * process killed between creating that file and writing its token leaves it empty, and the name
 * alone must then say which host's pid it carries.
 */
export const HOST_TAG = createHash('sha256').update(HOST_NAME).digest('hex').slice(0, 8);

/** Younger scratch files are left alone whatever their pid says: they may be another host's, in flight. */
const MIN_AGE_MS = 1000;

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Whether a scratch file is litter: its process is dead on this host (a `.lock.new` file names
 * its host in its token; the others are judged by pid after {@link MIN_AGE_MS}), or it is older
 * than `staleMs` whoever made it.
 */
function isLitter(kind: string, pid: number, tag: string, ageMs: number, token: string | undefined, staleMs: number): boolean {
  if (ageMs > staleMs) return true;
  if (alive(pid)) return false;
  if (kind === '.lock.new') {
    const host = token?.split(' ')[1];
    if (host === HOST_NAME || (!host && tag.startsWith(HOST_TAG))) return true;
  }
  return ageMs > MIN_AGE_MS;
}

/** Removes the litter next to `serialPath` at start-up (synchronously, with the constructor's other checks). Returns how many. */
export function removeLockLitterSync(serialPath: string, staleMs: number): number {
  const dir = dirname(serialPath);
  const pattern = scratchPattern(serialPath);
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    try {
      const ageMs = Date.now() - statSync(path).mtimeMs;
      const token = m[1] === '.lock.new' ? readFileSync(path, 'latin1') : undefined;
      if (isLitter(m[1]!, Number(m[2]), m[3]!, ageMs, token, staleMs)) {
        unlinkSync(path);
        removed++;
      }
    } catch {
      /* gone meanwhile */
    }
  }
  return removed;
}

/**
 * The same, for the stale-lock breaker. It runs only after a holder died (rare), and one
 * readdir plus a stat per scratch file is cheap, so it shares the synchronous walk.
 */
export async function removeLockLitter(serialPath: string, staleMs: number): Promise<number> {
  return removeLockLitterSync(serialPath, staleMs);
}
