// IP address text -> the octets of a GeneralName iPAddress (RFC 5280 §4.2.1.6).
import { isIP } from 'node:net';

/**
 * The 4 (IPv4) or 16 (IPv6) octets of an address written as text. IPv6 takes every form of
 * RFC 4291 §2.2 (RFC 5952's canonical one included): `::` compression, leading zeros, an
 * embedded IPv4 tail. A zone (`fe80::1%eth0`), spaces or anything else that is not an address
 * throw a RangeError: an iPAddress has no zone and no other length.
 */
export function ipAddressBytes(text: string): Uint8Array {
  const family = text.includes('%') ? 0 : isIP(text);
  if (family === 4) return Uint8Array.from(text.split('.').map(Number));
  if (family !== 6) throw new RangeError(`not an IP address: ${JSON.stringify(text.slice(0, 64))}`);
  // isIP has checked the syntax; expand the embedded IPv4 tail into two groups, then `::`.
  let s = text;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    s = s.slice(0, v4.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const halves = s.split('::');
  const part = (p: string | undefined) => (p ? p.split(':') : []);
  const head = part(halves[0]);
  const tail = part(halves[1]);
  const groups = halves.length === 2 ? [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail] : head;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}
