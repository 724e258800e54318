// Which peer addresses count as trusted TLS terminators (RFC 9440 §4: opt-in, default off).
import { BlockList, isIP } from 'node:net';
import { EstConfigError } from '../errors.js';

/** `'loopback'`, an IP, a CIDR (`10.0.0.0/8`), a list of those, or a predicate. */
export type TrustProxy = string | readonly string[] | ((address: string) => boolean);

function normalise(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** Compiles the option into a predicate over the socket's remote address. */
export function parseTrustProxy(value: unknown): (address: string) => boolean {
  if (value === undefined || value === false) return () => false;
  if (typeof value === 'function') {
    const fn = value as (a: string) => boolean;
    return (a) => fn(normalise(a)) === true;
  }
  const entries = typeof value === 'string' ? [value] : Array.isArray(value) ? value : undefined;
  if (!entries || entries.some((e) => typeof e !== 'string')) {
    throw new EstConfigError('est: `trustProxy` must be an address, a CIDR, \'loopback\', a list of those, or a function');
  }
  const list = new BlockList();
  for (const raw of entries as string[]) {
    const e = raw.trim();
    if (e === 'loopback') {
      list.addSubnet('127.0.0.0', 8, 'ipv4');
      list.addAddress('::1', 'ipv6');
      continue;
    }
    const [addr, bits] = e.split('/');
    const family = isIP(addr ?? '');
    if (!family) throw new EstConfigError(`est: \`trustProxy\` entry ${JSON.stringify(raw)} is not an IP address or CIDR`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) {
      list.addAddress(addr!, type);
    } else {
      const n = Number(bits);
      if (!Number.isInteger(n) || n < 0 || n > (family === 4 ? 32 : 128)) {
        throw new EstConfigError(`est: \`trustProxy\` entry ${JSON.stringify(raw)} has a bad prefix length`);
      }
      list.addSubnet(addr!, n, type);
    }
  }
  return (address: string) => {
    const a = normalise(address);
    const fam = isIP(a);
    return fam !== 0 && list.check(a, fam === 4 ? 'ipv4' : 'ipv6');
  };
}
