// Child process for the serial-file spec: takes serials from a shared file in waves of concurrent calls.
import { FileSerialStore } from '../../lib/ca/serial-file-store.js';

const [path, countText, startAt] = process.argv.slice(2);
const store = new FileSerialStore(path!);
const total = Number(countText);
const out: string[] = [];
// Both workers start at the same instant, so that they really contend for the lock.
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt ?? 0) - Date.now())));
let left = total;
while (left > 0) {
  // Mix single calls and bursts so that both the lock and the group commit are exercised.
  const wave = Math.min(left, 1 + Math.floor(Math.random() * 20));
  const got = await Promise.all(Array.from({ length: wave }, () => store.next(1)));
  for (const [s] of got) out.push(s!.toString(16));
  left -= wave;
}
await store.close();
process.stdout.write(out.join('\n') + '\n');
