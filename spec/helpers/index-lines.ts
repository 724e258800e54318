// A large OpenSSL index.txt written straight to disk, as `openssl ca` keeps it: for start-up and throughput at a million records.
import { appendFileSync, writeFileSync } from 'node:fs';

/** Where {@link writeIndexLines} numbers its serials from: far above any test's serial file. */
export const INDEX_LINES_START = 0x10000000n;

/**
 * Writes `count` lines into a fresh index.txt at `path`: serials from INDEX_LINES_START up, each
 * line `V` except one in a thousand (`i % 1000 === 7`), revoked for keyCompromise.
 */
export function writeIndexLines(path: string, count: number, org = 'Demo Devices'): void {
  writeFileSync(path, '');
  const chunk: string[] = [];
  for (let i = 0; i < count; i++) {
    const revoked = i % 1000 === 7;
    chunk.push(`${revoked ? 'R' : 'V'}\t300101000000Z\t${revoked ? '260101000000Z,keyCompromise' : ''}\t${(INDEX_LINES_START + BigInt(i)).toString(16).toUpperCase()}\tunknown\t/O=${org}/CN=device-${i}`);
    if (chunk.length === 100_000 || i === count - 1) {
      appendFileSync(path, chunk.join('\n') + '\n');
      chunk.length = 0;
    }
  }
}
