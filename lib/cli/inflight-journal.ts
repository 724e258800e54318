// The in-flight journal of an est-server worker: one fixed-size slot per open request in a file, read by the primary when the worker dies.
import { closeSync, ftruncateSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Environment variable by which the primary tells a worker where to keep its journal. */
export const JOURNAL_DIR_ENV = 'EST_SERVER_INFLIGHT_DIR';

/** Bytes per slot: the request id, method, path (clipped) and peer address. */
const SLOT_BYTES = 256;
/** Slots per worker; requests beyond this many at once are not journaled. */
export const JOURNAL_SLOTS = 1024;

/**
 * A worker's journal. `begin` writes the request's line into a free slot and `end` clears it:
 * one `pwrite` each, synchronous, so the line is in the kernel's page cache before any of the
 * request's own code runs. A worker that dies in the middle of a request, even by a native abort
 * that runs no JavaScript, leaves its line behind for the primary to read.
 */
export interface InflightJournal {
  /** Records a request; returns its slot (-1 when every slot is taken). */
  begin(line: string): number;
  /** Clears a slot taken by `begin`. */
  end(slot: number): void;
  /** Closes and removes the journal (orderly exit). */
  close(): void;
}

function journalPath(dir: string, pid: number): string {
  return join(dir, `${pid}.inflight`);
}

/** Opens (creating or truncating) the journal of process `pid` in `dir`. */
export function openJournal(dir: string, pid = process.pid): InflightJournal {
  const path = journalPath(dir, pid);
  const fd = openSync(path, 'w+', 0o600);
  ftruncateSync(fd, SLOT_BYTES * JOURNAL_SLOTS);
  const free: number[] = [];
  for (let i = JOURNAL_SLOTS - 1; i >= 0; i--) free.push(i);
  const scratch = Buffer.alloc(SLOT_BYTES);
  const empty = Buffer.alloc(1);
  let open = true;
  return {
    begin(line) {
      const slot = free.pop();
      if (slot === undefined || !open) return -1;
      scratch.fill(0);
      scratch.write(line, 0, SLOT_BYTES - 1, 'utf8');
      writeSync(fd, scratch, 0, SLOT_BYTES, slot * SLOT_BYTES);
      return slot;
    },
    end(slot) {
      if (slot < 0 || !open) return;
      writeSync(fd, empty, 0, 1, slot * SLOT_BYTES);
      free.push(slot);
    },
    close() {
      if (!open) return;
      open = false;
      closeSync(fd);
      rmSync(path, { force: true });
    },
  };
}

/** The lines a (dead) worker left in its journal, then removes the file. */
export function takeJournal(dir: string, pid: number): string[] {
  const path = journalPath(dir, pid);
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch {
    return [];
  }
  rmSync(path, { force: true });
  const lines: string[] = [];
  for (let off = 0; off + SLOT_BYTES <= data.length; off += SLOT_BYTES) {
    if (data[off] === 0) continue;
    const end = data.indexOf(0, off);
    lines.push(data.toString('utf8', off, end < 0 || end > off + SLOT_BYTES ? off + SLOT_BYTES : end));
  }
  return lines;
}
