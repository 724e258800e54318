// X.501 Name -> RFC 4514-style text, for logs and error messages only (never for comparisons).
import { Oid } from './constants.js';
import { children, DerError, readOid, readString, type Tlv } from './der.js';

/**
 * Name attribute types: the short name printed (as OpenSSL prints it), then other names a
 * subject string may use (matched case-insensitively). The one table for reading and printing.
 */
const ATTRIBUTES: ReadonlyArray<readonly [oid: string, short: string, ...aliases: string[]]> = [
  [Oid.commonName, 'CN', 'commonName'],
  [Oid.surname, 'SN', 'surname'],
  [Oid.serialNumber, 'serialNumber'],
  [Oid.countryName, 'C'],
  [Oid.localityName, 'L'],
  [Oid.stateOrProvinceName, 'ST', 'S'],
  [Oid.streetAddress, 'street'],
  [Oid.organizationName, 'O'],
  [Oid.organizationalUnitName, 'OU'],
  [Oid.title, 'title'],
  [Oid.givenName, 'GN', 'givenName'],
  [Oid.domainComponent, 'DC'],
  [Oid.userId, 'UID'],
  [Oid.emailAddress, 'emailAddress', 'email'],
  [Oid.macAddress, 'macAddress'],
];

const SHORT = new Map<string, string>(ATTRIBUTES.map(([oid, short]) => [oid, short]));
const BY_NAME = new Map<string, string>(ATTRIBUTES.flatMap(([oid, ...names]) => names.map((n) => [n.toLowerCase(), oid] as [string, string])));

/** The OID of an attribute type named `CN`, `commonName`, `O`, `email`, … (case-insensitive). */
export function attributeTypeOid(name: string): string | undefined {
  return BY_NAME.get(name.toLowerCase());
}

/** The short name of an attribute type (`CN` for 2.5.4.3), or undefined for one not in the table. */
export function attributeShortName(oid: string): string | undefined {
  return SHORT.get(oid);
}

/** Formats a Name TLV as `CN=a, O=b` (most significant RDN first, as openssl prints it). */
export function formatName(name: Tlv): string {
  const parts: string[] = [];
  for (const rdn of children(name)) {
    for (const atv of children(rdn)) {
      const [type, value, extra] = children(atv);
      // AttributeTypeAndValue ::= SEQUENCE { type OID, value ANY } (RFC 5280 §4.1.2.4): exactly two fields.
      if (!type || !value || extra) throw new DerError('an AttributeTypeAndValue in the Name must have exactly a type and a value (RFC 5280 §4.1.2.4)');
      const key = SHORT.get(readOid(type)) ?? readOid(type);
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
