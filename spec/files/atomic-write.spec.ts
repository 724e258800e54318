// writeFileAtomic: the one writer behind the serial file, the demo PKI and the client's output files.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../lib/files/atomic-write.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('replaces the content whole, with the mode asked for a new file, and leaves no temp file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'key.pem');
  writeFileSync(path, 'old content that is longer than the new one\n');
  await writeFileAtomic(path, 'new\n', { mode: 0o600 });
  assert.equal(readFileSync(path, 'utf8'), 'new\n');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  await writeFileAtomic(join(dir, 'bytes.der'), Uint8Array.of(0x30, 0x00));
  assert.deepEqual([...readFileSync(join(dir, 'bytes.der'))], [0x30, 0x00]);
  assert.deepEqual(readdirSync(dir).sort(), ['bytes.der', 'key.pem']);
});

test('concurrent writers: the file always holds one complete version', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'serial');
  const versions = Array.from({ length: 20 }, (_, i) => `${i}`.repeat(4096));
  await Promise.all(versions.map((v) => writeFileAtomic(path, v)));
  assert.ok(versions.includes(readFileSync(path, 'utf8')));
  assert.deepEqual(readdirSync(dir), ['serial']);
});

test('a failed rename removes the temp file and reports the error', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'taken');
  mkdirSync(join(path, 'child'), { recursive: true }); // a non-empty directory cannot be renamed over
  await assert.rejects(writeFileAtomic(path, 'x'), (e: NodeJS.ErrnoException) => typeof e.code === 'string');
  assert.deepEqual(readdirSync(dir), ['taken']);
  await assert.rejects(writeFileAtomic(join(dir, 'missing', 'f'), 'x'), { code: 'ENOENT' });
});
