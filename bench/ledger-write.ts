// The file ledger's write path alone: what one record costs in CPU, by batch size, with and without fsync, one writer or two.
import { spawn, type ChildProcess } from 'node:child_process';
import fs, { mkdtempSync, rmSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { benchFileStores, benchRecords, writeBenchLeaf } from './ledger-fixture.js';
import { compileLib } from './servers.js';
import { machineCpu } from './system.js';

const USAGE = `Usage: npm run bench:ledger -- [options]

Writes records into a FileRecordStore (index.txt + ledger, the compiled lib/) from plain loops, no
HTTP, and prints per record: wall time, the writing process's CPU (user + system) and the whole
machine's (which includes the kernel's journal threads an fsync wakes). Records go in groups of
--batch concurrent record() calls, so each group is one batch of the store's group commit.

Cases, each in fresh processes and a fresh folder:
  one writer            one process, batches of b
  one writer, no fsync  the same with fdatasync made a no-op (what the fsyncs cost)
  two writers           two processes sharing one index.txt and its lock, batches of b each (what
                        est-server --workers 2 does)
  one writer, 2b        one process, batches of 2b: what one writer per host would do with the two
                        workers' records (before the cost of sending them to it)

Options:
  --records <n>    records per writer and case, after 1,000 of warm-up (default 20000)
  --batch <list>   batch sizes, comma-separated (default 4,16,64)
  -h, --help       this text
`;

interface Sample {
  records: number;
  wallMs: number;
  /** user + system µs of the writing process */
  cpuUs: number;
}

/** One writer (a child process): `records` records in groups of `batch`; prints a Sample as JSON. */
async function writer(dir: string, batch: number, records: number, base: bigint, noSync: boolean): Promise<void> {
  if (noSync) {
    (fs as { fdatasync: unknown }).fdatasync = (_fd: number, cb: (e: null) => void) => process.nextTick(cb, null);
    syncBuiltinESMExports();
  }
  const store = (await benchFileStores(compileLib()))(dir);
  const recordOf = benchRecords(join(dir, 'leaf.der'));
  let serial = base;
  const record = () => store.record(recordOf(serial++));
  const run = async (n: number) => {
    for (let i = 0; i < n; i += batch) await Promise.all(Array.from({ length: Math.min(batch, n - i) }, record));
  };
  await run(1_000);
  // The two writers of a case start measuring together.
  process.stdout.write('ready\n');
  await new Promise((r) => process.stdin.once('data', r));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await run(records);
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  await store.close();
  process.stdout.write(JSON.stringify({ records, wallMs, cpuUs: c.user + c.system } satisfies Sample) + '\n');
}

/** Runs `writers` writer processes on one folder; per record: wall µs, process CPU µs, machine CPU µs. */
async function runCase(leafDer: string, batch: number, records: number, writers: number, noSync: boolean): Promise<{ wall: number; cpu: number; machine: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'est-ledger-bench-'));
  let children: ChildProcess[] = [];
  try {
    fs.copyFileSync(leafDer, join(dir, 'leaf.der'));
    children = Array.from({ length: writers }, (_, w) =>
      spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', dir, String(batch), String(records), String(0x100000 + w * 0x10000000), noSync ? '1' : '0'], {
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    );
    const lines = children.map((c) => {
      const it = createInterface({ input: c.stdout! })[Symbol.asyncIterator]();
      return async () => {
        const r = await it.next();
        if (r.done) throw new Error('a writer exited early');
        return r.value;
      };
    });
    await Promise.all(lines.map((next) => next()));
    const m0 = machineCpu();
    for (const c of children) c.stdin!.write('go\n');
    const samples = (await Promise.all(lines.map((next) => next()))).map((l) => JSON.parse(l) as Sample);
    const m1 = machineCpu();
    const total = samples.reduce((a, s) => a + s.records, 0);
    const wallMs = Math.max(...samples.map((s) => s.wallMs));
    // /proc/stat counts in clock ticks (USER_HZ, 100 a second on Linux).
    return { wall: (wallMs * 1000) / total, cpu: samples.reduce((a, s) => a + s.cpuUs, 0) / total, machine: ((m1.busy - m0.busy) * 10_000) / total };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  const [dir, batch, records, base, noSync] = process.argv.slice(3);
  await writer(dir!, Number(batch), Number(records), BigInt(base!), noSync === '1');
  process.exit(0);
}

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '4,16,64' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const records = Number(values.records);
const batches = values.batch!.split(',').map(Number);
if (!Number.isInteger(records) || records < 100 || batches.some((b) => !Number.isInteger(b) || b < 1)) {
  process.stderr.write('--records must be an integer ≥ 100 and --batch positive integers\n');
  process.exit(2);
}

// The writers load this build (compileLib() returns EST_BENCH_LIB when set).
process.env.EST_BENCH_LIB = compileLib();
const scratch = mkdtempSync(join(tmpdir(), 'est-ledger-leaf-'));
const leaf = join(scratch, 'leaf.der');
writeBenchLeaf(leaf, join(scratch, 'leaf.key'));
const fmt = (r: { wall: number; cpu: number; machine: number }) => `${r.wall.toFixed(1).padStart(7)} ${r.cpu.toFixed(1).padStart(8)} ${r.machine.toFixed(1).padStart(8)}`;
process.stdout.write(`µs per record (${records} records a writer)        wall  process  machine\n`);
for (const b of batches) {
  process.stdout.write(`batch ${b}: one writer                      ${fmt(await runCase(leaf, b, records, 1, false))}\n`);
  process.stdout.write(`batch ${b}: one writer, no fsync            ${fmt(await runCase(leaf, b, records, 1, true))}\n`);
  process.stdout.write(`batch ${b}: two writers, one index.txt      ${fmt(await runCase(leaf, b, records, 2, false))}\n`);
  process.stdout.write(`batch ${b}: one writer, batches of ${2 * b}`.padEnd(42) + `${fmt(await runCase(leaf, 2 * b, records * 2, 1, false))}\n`);
}
rmSync(scratch, { recursive: true, force: true });
