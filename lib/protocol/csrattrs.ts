// CSR Attributes (RFC 7030 §4.5.2 as corrected by RFC 8951 §4 and RFC 9908 §3).
// Hand-written on der.ts: pkijs has no CsrAttrs type, and the configured DER must be served byte for byte.
import { Oid } from './constants.js';
import { children, DerError, oid, raw, readOid, readWhole, seq, set, Tag, type Tlv } from './der.js';

/**
 * ```
 * CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID
 * AttrOrOID ::= CHOICE { oid OBJECT IDENTIFIER, attribute Attribute }
 * Attribute ::= SEQUENCE { type OBJECT IDENTIFIER, values SET SIZE(1..MAX) OF ANY }
 * ```
 */
export type CsrAttrsItem = { oid: string } | { attribute: string; values: Uint8Array[] };

/** Parses DER CsrAttrs; throws DerError naming what is wrong. Empty value SETs are tolerated (RFC 9908). */
export function parseCsrAttrs(der: Uint8Array): CsrAttrsItem[] {
  const top = readWhole(der, Tag.sequence, 'CsrAttrs');
  return children(top).map((item: Tlv): CsrAttrsItem => {
    if (item.tag === Tag.oid) return { oid: readOid(item) };
    if (item.tag !== Tag.sequence) throw new DerError('CsrAttrs item is neither an OID nor an Attribute');
    const [type, values, extra] = children(item);
    if (!type || !values || extra || values.tag !== Tag.set) throw new DerError('bad Attribute in CsrAttrs');
    return { attribute: readOid(type), values: children(values).map(raw) };
  });
}

/** Encodes CsrAttrs. */
export function encodeCsrAttrs(items: readonly CsrAttrsItem[]): Uint8Array {
  return seq(
    ...items.map((i) => ('oid' in i ? oid(i.oid) : seq(oid(i.attribute), set(...i.values)))),
  );
}

/** True when the CsrAttrs already names challengePassword (bare OID or attribute). */
export function mentions(items: readonly CsrAttrsItem[], wanted: string): boolean {
  return items.some((i) => ('oid' in i ? i.oid : i.attribute) === wanted);
}

/**
 * The configured CsrAttrs with challengePassword added when `pop` is on (RFC 7030 §4.5.2).
 * `items` are `der` already parsed, when the caller has them.
 */
export function withChallengePassword(der: Uint8Array | undefined, items?: readonly CsrAttrsItem[]): Uint8Array {
  if (!der) return encodeCsrAttrs([{ oid: Oid.challengePassword }]);
  if (mentions(items ?? parseCsrAttrs(der), Oid.challengePassword)) return der;
  // Append the bare OID to the original SEQUENCE's content so the configured bytes stay as they are.
  const top = readWhole(der, Tag.sequence);
  return seq(der.subarray(top.contentStart, top.end), oid(Oid.challengePassword));
}
