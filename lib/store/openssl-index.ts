// OpenSSL's CA database (`index.txt`, as `openssl ca` reads and writes it): one line per certificate.
import { children, readOid, readString, readWhole, Tag } from '../protocol/der.js';
import { attributeShortName } from '../protocol/name.js';
import type { RevocationReason } from './types.js';

/**
 * One line of index.txt: six tab-separated fields (apps/lib/apps.h DB_type .. DB_name):
 *   status   V (valid), R (revoked) or E (expired, written by `openssl ca -updatedb`)
 *   expiry   the certificate's notAfter as ASN.1 text: YYMMDDHHMMSSZ, or YYYYMMDDHHMMSSZ from 2050
 *   revoked  empty, or the revocation time (same format), optionally `,reason` (`,keyTime,<time>` …)
 *   serial   uppercase hex, even number of digits
 *   file     always `unknown` here (openssl keeps it too)
 *   subject  the subject in openssl's one-line form, `/C=DE/O=Example/CN=device-1`
 */
export interface IndexLine {
  status: 'V' | 'R' | 'E';
  expiry: Date;
  revokedAt?: Date;
  reason?: RevocationReason;
  /** Canonical key: uppercase hex without leading zeros ("0" for zero). */
  serial: string;
  subject: string;
}

/** RFC 5280 §5.3.1 CRLReason codes, by the names `openssl ca -crl_reason` takes. */
export const REASON_CODES: Readonly<Record<RevocationReason, number>> = Object.freeze({
  unspecified: 0,
  keyCompromise: 1,
  CACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  AACompromise: 10,
});

const REASON_BY_LOWER = new Map<string, RevocationReason>(Object.keys(REASON_CODES).map((r) => [r.toLowerCase(), r as RevocationReason]));

/** A reason name, any case (`keycompromise`), or undefined when it is not one. */
export function parseReason(name: string): RevocationReason | undefined {
  return REASON_BY_LOWER.get(name.toLowerCase());
}

/** Canonical serial key: uppercase hex without leading zeros; undefined when `s` is not hex. */
export function serialKey(s: string): string | undefined {
  const t = s.trim();
  if (!/^[0-9A-Fa-f]{1,64}$/.test(t)) return undefined;
  const u = t.replace(/^0+/, '').toUpperCase();
  return u === '' ? '0' : u;
}

/** The serial as index.txt and the serial file write it: uppercase hex, even number of digits. */
export function serialText(v: bigint | string): string {
  let hex = typeof v === 'bigint' ? v.toString(16).toUpperCase() : v.toUpperCase();
  if (hex.length % 2) hex = '0' + hex;
  return hex;
}

/** ASN.1 time text as openssl stores it: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
export function asn1TimeText(d: Date): string {
  const digits = d.toISOString().slice(0, 19).replace(/[-T:]/g, '');
  const y = d.getUTCFullYear();
  return (y >= 1950 && y < 2050 ? digits.slice(2) : digits) + 'Z';
}

/** Parses YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ; undefined when malformed. */
export function parseAsn1Time(s: string): Date | undefined {
  let m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  let y: number;
  if (m) {
    y = Number(m[1]);
    y = y < 50 ? 2000 + y : 1900 + y;
  } else {
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) return undefined;
    y = Number(m[1]);
  }
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return undefined;
  return new Date(Date.UTC(y, mo - 1, d, h, mi, se));
}

/**
 * Parses one line (without its LF). Returns the line, or a one-line reason why it is not one.
 * Accepts everything `openssl ca` writes: reason names in any case, `keyTime,<t>` (keyCompromise),
 * `CAkeyTime,<t>` (CACompromise), `certificateHold,<instruction>`.
 */
export function parseIndexLine(line: string): IndexLine | string {
  const f = line.split('\t');
  if (f.length !== 6) return `expected 6 tab-separated fields, found ${f.length}`;
  const [st, exp, rev, ser, , subject] = f as [string, string, string, string, string, string];
  if (st !== 'V' && st !== 'R' && st !== 'E') return `status must be V, R or E (got ${JSON.stringify(st.slice(0, 8))})`;
  const expiry = parseAsn1Time(exp);
  if (!expiry) return `expiry ${JSON.stringify(exp.slice(0, 20))} is not YYMMDDHHMMSSZ`;
  const serial = serialKey(ser);
  if (serial === undefined) return `serial ${JSON.stringify(ser.slice(0, 70))} is not hex`;
  const out: IndexLine = { status: st, expiry, serial, subject };
  if (st === 'R') {
    const parts = rev.split(',');
    const at = parseAsn1Time(parts[0]!);
    if (!at) return `revocation time ${JSON.stringify(parts[0]!.slice(0, 20))} is not YYMMDDHHMMSSZ`;
    out.revokedAt = at;
    if (parts.length > 1) {
      const name = parts[1]!;
      const lower = name.toLowerCase();
      const reason = lower === 'keytime' ? 'keyCompromise' : lower === 'cakeytime' ? 'CACompromise' : parseReason(name);
      if (!reason) return `unknown revocation reason ${JSON.stringify(name.slice(0, 30))}`;
      out.reason = reason;
    } else {
      out.reason = 'unspecified';
    }
  } else if (rev !== '') {
    return `a ${st} line must have an empty revocation field`;
  }
  return out;
}

/** The revocation field: time, and `,reason` unless unspecified (as `openssl ca -revoke` writes it). */
export function revocationField(at: Date, reason: RevocationReason): string {
  return asn1TimeText(at) + (reason === 'unspecified' ? '' : `,${reason}`);
}

/** Formats a line (without LF). `serialHex` is written as given (uppercase, even digits). */
export function formatIndexLine(status: 'V' | 'R' | 'E', expiry: Date, serialHex: string, subject: string, revoked?: { at: Date; reason: RevocationReason }): string {
  return [status, asn1TimeText(expiry), revoked ? revocationField(revoked.at, revoked.reason) : '', serialHex, 'unknown', subject].join('\t');
}

/**
 * A Name in openssl's one-line form (X509_NAME_oneline): `/type=value` per attribute, most
 * significant first; bytes outside printable ASCII as `\xHH` (so tabs and newlines never reach the file).
 */
export function onelineName(nameDer: Uint8Array): string {
  let out = '';
  for (const rdn of children(readWhole(nameDer, Tag.sequence, 'Name'))) {
    for (const atv of children(rdn)) {
      const [type, value] = children(atv);
      const oid = readOid(type!);
      let text: string;
      try {
        text = readString(value!);
      } catch {
        text = '';
      }
      let esc = '';
      for (const b of Buffer.from(text, 'utf8')) esc += b < 0x20 || b > 0x7e ? '\\x' + b.toString(16).toUpperCase().padStart(2, '0') : String.fromCharCode(b);
      out += `/${attributeShortName(oid) ?? oid}=${esc}`;
    }
  }
  return out;
}
