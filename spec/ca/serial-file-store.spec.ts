// FileSerialStore: nginx-http-est's file format, group commit, cross-process lock, stale locks, bad files.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { EstError } from '../../lib/errors.js';
import { MAX_SERIAL } from '../../lib/ca/profile.js';
import { FileSerialStore, formatSerial, parseSerialFile } from '../../lib/ca/serial-file-store.js';

const dir = mkdtempSync(join(tmpdir(), 'est-serial-spec-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (content?: string): string => {
  const p = join(dir, `serial-${++n}.srl`);
  if (content !== undefined) writeFileSync(p, content);
  return p;
};
const read = (p: string) => readFileSync(p, 'latin1');
const isCode = (code: string, msg?: RegExp) => (e: EstError) => e.code === code && (!msg || msg.test(e.message));

test('format: uppercase hex, even number of digits, trailing LF', () => {
  assert.equal(formatSerial(0x1002n), '1002\n');
  assert.equal(formatSerial(0xabcn), '0ABC\n');
  assert.equal(formatSerial(0xffn), 'FF\n');
  assert.equal(parseSerialFile('0abc\n'), 0xabcn);
  assert.equal(parseSerialFile('  ABC \r\n'), 0xabcn);
});

test('continues from "1000\\n": 1001, 1002, then a block of 3', async () => {
  const p = fresh('1000\n');
  const s = new FileSerialStore(p);
  assert.deepEqual(await s.next(1), [0x1001n]);
  assert.equal(read(p), '1001\n');
  assert.deepEqual(await s.next(1), [0x1002n]);
  assert.equal(read(p), '1002\n');
  assert.deepEqual(await s.next(3), [0x1003n, 0x1004n, 0x1005n]);
  assert.equal(read(p), '1005\n');
  await s.close();
  await assert.rejects(s.next(1), isCode('ERR_EST_SERIAL_FILE', /closed/));
});

test('missing file: random 159-bit start, 40 hex digits', async () => {
  const p = fresh();
  const s = new FileSerialStore(p);
  const [first] = await s.next(1);
  const text = read(p);
  assert.match(text, /^[0-9A-F]{40}\n$/);
  assert.equal(BigInt('0x' + text.trim()), first);
  assert.ok(first! > 1n << 152n && first! < 1n << 158n, first!.toString(16));
  const other = new FileSerialStore(fresh());
  assert.notEqual((await other.next(1))[0], first, 'each missing file gets its own random start');
});

test('200 concurrent next(1): 200 distinct consecutive serials, file ends at the max', async () => {
  const p = fresh('00FF\n');
  let reservations = 0;
  const s = new (class extends FileSerialStore {
    protected override reserve(total: number): Promise<bigint> {
      reservations++;
      return super.reserve(total);
    }
  })(p);
  const got = (await Promise.all(Array.from({ length: 200 }, () => s.next(1)))).map(([v]) => v!);
  assert.equal(new Set(got).size, 200);
  const max = got.reduce((a, b) => (a > b ? a : b));
  assert.equal(max, 0xffn + 200n);
  assert.equal(read(p), formatSerial(max));
  assert.equal(reservations, 1, 'group commit: one lock + read + write for the whole burst');
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-') || f.endsWith('.lock')), []);
});

test('two processes taking 2,000 serials each from one file: 4,000 distinct, file ends at the max', async () => {
  const p = fresh('1000\n');
  const worker = fileURLToPath(new URL('./serial-worker.ts', import.meta.url));
  const startAt = String(Date.now() + 1500);
  const run = () => promisify(execFile)(process.execPath, ['--import', 'tsx', worker, p, '2000', startAt], { maxBuffer: 1 << 20 });
  const outs = await Promise.all([run(), run()]);
  const perProcess = outs.map((o) => o.stdout.trim().split('\n').map((h) => BigInt('0x' + h)));
  const all = perProcess.flat();
  // The two processes interleaved (they contended for the lock), rather than running one after the other.
  const a = new Set(perProcess[0]);
  let runs = 1;
  for (let v = 0x1002n; v <= 0x1000n + 4000n; v++) if (a.has(v) !== a.has(v - 1n)) runs++;
  assert.ok(runs > 10, `only ${runs} alternations between the processes`);
  assert.equal(all.length, 4000);
  assert.equal(new Set(all).size, 4000, 'no duplicates');
  const max = all.reduce((a, b) => (a > b ? a : b));
  assert.equal(max, 0x1000n + 4000n, 'no gaps either: every serial was handed out once');
  assert.equal(read(p), formatSerial(max));
  assert.ok(!existsSync(p + '.lock'));
});

test('a stale lock whose process is dead is broken', async () => {
  const p = fresh('10\n');
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  writeFileSync(p + '.lock', `${dead} ${hostname()} deadbeef ${Date.now()}\n`);
  const s = new FileSerialStore(p, { lockTimeoutMs: 2000 });
  assert.deepEqual(await s.next(1), [0x11n]);
  assert.ok(!existsSync(p + '.lock'));
});

test('a live lock is waited for; an old one is broken', async () => {
  const p = fresh('20\n');
  // pid 1 is alive; the lock is fresh, so the store waits and then gives up with 503.
  writeFileSync(p + '.lock', `1 ${hostname()} cafe ${Date.now()}\n`);
  const s = new FileSerialStore(p, { lockTimeoutMs: 150, staleLockMs: 30_000 });
  await assert.rejects(s.next(1), (e: EstError) => e.code === 'ERR_EST_SERIAL_LOCK' && e.status === 503 && e.retryAfter === 1);
  assert.equal(read(p), '20\n');
  // Once the lock is older than staleLockMs it is broken.
  const old = (Date.now() - 60_000) / 1000;
  utimesSync(p + '.lock', old, old);
  assert.deepEqual(await s.next(1), [0x21n]);
  assert.ok(!existsSync(p + '.lock'));
});

test('a malformed serial file is an error, never a reset', async () => {
  const cases: [string, RegExp][] = [
    ['hello\n', /is not a hex serial number/],
    ['', /is empty/],
    ['\n', /is empty/],
    ['-01\n', /negative/],
    ['01'.repeat(21) + '\n', /longer than 20 octets/],
    ['80' + '00'.repeat(19) + '\n', /longer than 20 octets/],
  ];
  for (const [content, msg] of cases) {
    const p = fresh(content);
    assert.throws(() => new FileSerialStore(p), isCode('ERR_EST_SERIAL_FILE', msg), JSON.stringify(content));
    assert.match(String((() => { try { new FileSerialStore(p); } catch (e) { return (e as Error).message; } })()), new RegExp(p.replace(/[.]/g, '\\.')));
  }
  // Garbage written while running: next() fails and the file is left alone.
  const p = fresh('1000\n');
  const s = new FileSerialStore(p);
  await s.next(1);
  writeFileSync(p, 'garbage');
  await assert.rejects(s.next(1), isCode('ERR_EST_SERIAL_FILE', /not a hex serial/));
  assert.equal(read(p), 'garbage');
  // A file that went backwards under a running process is refused too.
  writeFileSync(p, '0FFF\n');
  await assert.rejects(s.next(1), isCode('ERR_EST_SERIAL_FILE', /went backwards/));
  assert.throws(() => new FileSerialStore(join(dir, 'no-such-dir', 'x.srl')), isCode('ERR_EST_SERIAL_FILE', /does not exist/));
});

test('exhaustion at 2^159-1 is refused, the file unchanged', async () => {
  const p = fresh(formatSerial(MAX_SERIAL - 1n));
  const s = new FileSerialStore(p);
  assert.deepEqual(await s.next(1), [MAX_SERIAL]);
  await assert.rejects(s.next(1), isCode('ERR_EST_SERIAL_EXHAUSTED'));
  assert.equal(read(p), formatSerial(MAX_SERIAL));
  await assert.rejects(s.next(0), RangeError);
});
