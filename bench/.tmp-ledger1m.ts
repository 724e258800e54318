import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { FileRecordStore } from '../lib/store/file-store.js';
import { recordInput } from '../spec/store/pending-contract.js';
const dir = '/tmp/l1m';
const N = Number(process.env.N ?? 1_000_000);
const mb = () => (process.memoryUsage().rss / 1048576).toFixed(1);
if (!existsSync(`${dir}/index.txt`)) {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=device-0001/O=Bench Devices', '-keyout', `${dir}/k.pem`, '-out', `${dir}/leaf.der`, '-outform', 'DER', '-days', '30']);
  const der = new Uint8Array(readFileSync(`${dir}/leaf.der`));
  const store = new FileRecordStore({ indexPath: `${dir}/index.txt`, serialStore: { next: () => Promise.resolve([]) }, watchIntervalMs: 0 });
  const template = recordInput('0', { certificate: der, subject: 'CN=device-0001,O=Bench Devices', sans: ['DNS:device-0001.example'] });
  let serial = 0x100000n;
  const t = Date.now();
  for (let i = 0; i < N; i += 1000) await Promise.all(Array.from({ length: 1000 }, () => store.record({ ...template, serial: (serial++).toString(16).toUpperCase(), issuedAt: new Date() })));
  await store.close();
  console.log('written', N, 'in', Date.now() - t, 'ms');
  process.exit(0);
}
let t = performance.now();
const store = new FileRecordStore({ indexPath: `${dir}/index.txt`, serialStore: { next: () => Promise.resolve([]) }, watchIntervalMs: 0 });
console.log('open', (performance.now() - t).toFixed(0), 'ms, rss', mb());
let maxLag = 0; let last = performance.now();
const iv = setInterval(() => { const now = performance.now(); maxLag = Math.max(maxLag, now - last - 5); last = now; }, 5);
const key = (0x100000 + Math.floor(N / 2)).toString(16).toUpperCase();
t = performance.now();
const r = await store.get(key);
console.log('first get', (performance.now() - t).toFixed(0), 'ms', r?.subject, 'rss', mb(), 'max loop lag', maxLag.toFixed(0));
t = performance.now();
await store.get((0x100000 + 17).toString(16).toUpperCase());
console.log('second get', (performance.now() - t).toFixed(2), 'ms');
for (let j = 0; j < 3; j++) { t = performance.now(); await store.get((0x100000 + 1000 * j).toString(16).toUpperCase()); console.log('get', (performance.now() - t).toFixed(2), 'ms'); }
maxLag = 0; t = performance.now();
const s = await store.list({ subject: 'nomatch' });
console.log('search 1M', (performance.now() - t).toFixed(0), 'ms total', s.total, 'rss', mb(), 'lag', maxLag.toFixed(0));
for (const q of [{}, { offset: 500_000 }, { status: 'revoked' as const }]) {
  maxLag = 0; t = performance.now();
  const l = await store.list(q);
  console.log('list', JSON.stringify(q), (performance.now() - t).toFixed(0), 'ms total', l.total, 'n', l.records.length, 'rss', mb(), 'lag', maxLag.toFixed(0));
}
clearInterval(iv);
await store.close();
