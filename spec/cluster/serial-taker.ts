// Child process for the kill -9 spec: takes serials from a shared file without end, printing each once it is handed out.
import { LeasedSerialStore } from '../../lib/ca/leased-serial-store.js';
import { FileSerialStore } from '../../lib/ca/serial-file-store.js';

const [serialPath, leaseText] = process.argv.slice(2);
const lease = Number(leaseText ?? 1);
const file = new FileSerialStore(serialPath!);
const store = lease > 1 ? new LeasedSerialStore(file, { lease }) : file;
for (;;) {
  // Bursts, so that group commit and several reservations in flight are exercised too.
  const got = await Promise.all(Array.from({ length: 1 + Math.floor(Math.random() * 16) }, () => store.next(1)));
  process.stdout.write(got.map(([s]) => s!.toString(16) + '\n').join(''));
}
