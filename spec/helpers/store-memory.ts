// Run as a child process by spec/store/file-store.spec.ts ("memory"): records 30,000 certificates
// through a fresh FileRecordStore and prints the heap it kept per record, measured after a full GC.
// A process of its own, so that no earlier test's garbage is freed during the measurement.
// Usage: node --expose-gc --import tsx store-memory.ts <ca.crt> <serial file>
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FileSerialStore } from '../../lib/ca/serial-file-store.js';
import { defaultIndexPath, FileRecordStore } from '../../lib/store/file-store.js';
import { recordOf } from '../../lib/store/record.js';

const [caCert, serialPath] = process.argv.slice(2) as [string, string];
const gc = (globalThis as { gc?: () => void }).gc!;
const serial = new FileSerialStore(serialPath);
const store = new FileRecordStore({ indexPath: defaultIndexPath(serialPath), serialStore: serial, lock: serial.lock, watchIntervalMs: 0, closeSerialStore: true });
const base = recordOf(new Uint8Array(new X509Certificate(readFileSync(caCert)).raw), { operation: 'simpleenroll', requester: { method: 'none' }, peerAddress: '192.0.2.7', requestId: 'r' });
const record = (i: number) => store.record({ ...base, serial: (0x4000000000000000n + BigInt(i)).toString(16).toUpperCase() });
const n = 30_000;
gc();
gc();
const before = process.memoryUsage().heapUsed;
// A turn of the event loop every 32 records keeps batches small, as under a few dozen connections
// (each batch's lines are read back as one text).
for (let i = 0; i < n; i += 250) await Promise.all(Array.from({ length: 250 }, (_, j) => (j % 32 === 0 ? new Promise((r) => setImmediate(r)) : Promise.resolve()).then(() => record(i + j))));
gc();
gc();
const perRecord = (process.memoryUsage().heapUsed - before) / n;
const status = await store.status('4000000000000000');
await store.close();
console.log(JSON.stringify({ perRecord, status }));
