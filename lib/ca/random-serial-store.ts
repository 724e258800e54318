// Random serial numbers: 127 CSPRNG bits each, no state, nothing shared between processes.
import { randomBytes } from 'node:crypto';
import type { SerialStore } from './types.js';

/**
 * A {@link SerialStore} that draws every serial from the CSPRNG: 16 random bytes with the top
 * bit cleared, so each serial is positive, at most 16 octets and carries 127 random bits
 * (RFC 5280 §4.1.2.2; CA/B Forum BR §7.1 asks for at least 64). Collisions are negligible
 * (birthday bound ~2^63 certificates), so no state or lock is needed, even across processes.
 */
export class RandomSerialStore implements SerialStore {
  /** Returns `count` fresh random serials. */
  async next(count: number): Promise<bigint[]> {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be a positive integer (got ${count})`);
    const out: bigint[] = [];
    while (out.length < count) {
      const bytes = randomBytes(16);
      bytes[0]! &= 0x7f;
      const v = BigInt('0x' + bytes.toString('hex'));
      if (v !== 0n) out.push(v); // RFC 5280 §4.1.2.2: positive
    }
    return out;
  }
}
