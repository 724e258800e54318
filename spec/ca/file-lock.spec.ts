// FileLock's fairness hint: a process that released the lock a moment ago lets a waiting one in first.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FileLock } from '../../lib/ca/file-lock.js';

const dir = mkdtempSync(join(tmpdir(), 'est-file-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Milliseconds yieldToWaiters() takes right after a release (it only yields within 5 ms of one). */
async function yieldAfterRelease(lock: FileLock): Promise<number> {
  await lock.withLock(async () => {});
  const t0 = performance.now();
  await lock.yieldToWaiters();
  return performance.now() - t0;
}

test("right after a release, yieldToWaiters waits while another process's wait hint is there, not for none or its own", async () => {
  const lock = new FileLock(join(dir, 'ca.srl.lock'), 'serial file (spec)');
  const hint = lock.lockPath + '.wait';
  // It sleeps 1 ms at a time, up to 10 times, while the hint is there: 10 ms at least.
  assert.ok((await yieldAfterRelease(lock)) < 8, 'no hint: no wait');
  writeFileSync(hint, String(process.pid));
  assert.ok((await yieldAfterRelease(lock)) < 8, 'our own hint: no wait');
  writeFileSync(hint, '999999');
  assert.ok((await yieldAfterRelease(lock)) >= 10, "another process's hint: the holder waits for it");
  unlinkSync(hint);
  assert.ok((await yieldAfterRelease(lock)) < 8, 'the hint withdrawn: no wait');
});
