// The file ledger's read side at scale: get(), a page of list() and a search, over a ledger of n records.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchFileStores, benchRecords, writeBenchLeaf } from './ledger-fixture.js';
import { compileLib } from './servers.js';

const USAGE = `Usage: npm run bench:ledger-read -- [options]

Writes n records through FileRecordStore.record() (index.txt + ledger, the compiled lib/), then in
a fresh store prints: start-up, the first get() (which reads the whole ledger) and the next ones, a
page of list() at the start and in the middle, list({ status: 'revoked' }), and a search that reads
every record (list({ subject }), matching none of them and all of them). For each: wall time, RSS after it, and the longest the event
loop went without a turn meanwhile (a 1 ms timer's lateness).

Options:
  --records <n>   records in the ledger (default 1000000; writing them takes ~25 s a million)
  --dir <folder>  keep the files there and reuse them on the next run (default: a fresh temporary
                  folder, removed afterwards)
  --no-search     skip the searches
  -h, --help      this text
`;

const { values } = parseArgs({ options: { records: { type: 'string' }, dir: { type: 'string' }, 'no-search': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const n = Number(values.records ?? 1_000_000);
if (!Number.isInteger(n) || n < 1) throw new Error('--records must be a positive integer');
const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'est-ledger-read-'));
mkdirSync(dir, { recursive: true });
const FIRST = 0x100000n;

const lib = compileLib();
const openStore = await benchFileStores(lib);
const open = () => openStore(dir);
const mb = () => (process.memoryUsage().rss / 1048576).toFixed(1);

try {
  if (!existsSync(join(dir, 'index.txt'))) {
    writeBenchLeaf(join(dir, 'leaf.der'), join(dir, 'leaf.key'));
    const recordOf = benchRecords(join(dir, 'leaf.der'));
    const store = open();
    let serial = FIRST;
    const t = performance.now();
    for (let i = 0; i < n; i += 1000) {
      await Promise.all(Array.from({ length: Math.min(1000, n - i) }, () => store.record(recordOf(serial++))));
    }
    await store.close();
    process.stdout.write(`wrote ${n.toLocaleString('en-US')} records in ${((performance.now() - t) / 1000).toFixed(1)} s (${dir})\n`);
  }

  // The event loop's longest wait for a turn, from a 1 ms timer's lateness.
  let worst = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 1);
    last = now;
  }, 1);
  const step = async (what: string, fn: () => Promise<unknown> | unknown) => {
    await new Promise((r) => setTimeout(r, 20));
    worst = 0;
    last = performance.now();
    const t = performance.now();
    const out = await fn();
    const ms = performance.now() - t;
    await new Promise((r) => setImmediate(r));
    process.stdout.write(`| ${what} | ${ms.toFixed(ms < 10 ? 2 : 0)} | ${mb()} | ${Math.max(worst, 0).toFixed(0)} |${out === undefined ? '' : ` ${out}`}\n`);
  };
  const key = (i: number) => (FIRST + BigInt(i)).toString(16).toUpperCase();
  process.stdout.write(`\n| ${n.toLocaleString('en-US')} records | ms | RSS MB after | longest stall, ms |\n|---|---|---|---|\n`);
  let store!: ReturnType<typeof open>;
  await step('start-up (index.txt)', () => void (store = open()));
  await step('first get() (reads the ledger)', async () => void (await store.get(key(Math.floor(n / 2)))));
  for (const i of [17, n - 1, 1000]) await step(`get() of record ${i}`, async () => void (await store.get(key(i))));
  await step('list(): first page of 50', async () => void (await store.list()));
  await step('list(): the page at the middle', async () => void (await store.list({ offset: Math.floor(n / 2) })));
  await step("list({ status: 'revoked' })", async () => void (await store.list({ status: 'revoked' })));
  if (!values['no-search']) {
    await step("list({ subject: 'no such' }): a search that no record matches", async () => void (await store.list({ subject: 'no such' })));
    await step("list({ subject: 'device' }): a search that every record matches", async () => `total ${(await store.list({ subject: 'device' })).total}`);
  }
  clearInterval(timer);
  await store.close();
} finally {
  if (!values.dir) rmSync(dir, { recursive: true, force: true });
}
