// X.501 Name -> RFC 4514-style text, for logs and error messages only (never for comparisons).
import { children, readOid, readString, type Tlv } from './der.js';

const SHORT: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '1.3.6.1.1.1.1.22': 'macAddress',
};

/** Formats a Name TLV as `CN=a, O=b` (most significant RDN first, as openssl prints it). */
export function formatName(name: Tlv): string {
  const parts: string[] = [];
  for (const rdn of children(name)) {
    for (const atv of children(rdn)) {
      const [type, value] = children(atv);
      const key = SHORT[readOid(type!)] ?? readOid(type!);
      let text: string;
      try {
        text = readString(value!);
      } catch {
        text = '#' + Buffer.from(value!.buf.subarray(value!.start, value!.end)).toString('hex');
      }
      parts.push(`${key}=${text.replace(/[,+"\\<>;]/g, (c) => '\\' + c)}`);
    }
  }
  return parts.join(', ');
}
