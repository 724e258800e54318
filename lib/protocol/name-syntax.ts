// Structural checks of X.501 Names and GeneralNames (RFC 5280 §4.1.2.4, §4.1.2.6, §4.2.1.6) before they are copied into a certificate.
import { Oid } from './constants.js';
import { children, content, DerError, isUnicodeScalar, readOid, readWhole, Tag, type Tlv } from './der.js';

/** Why a Name or GeneralName cannot go into a certificate: the message names the rule. */
export class NameSyntaxError extends Error {
  override name = 'NameSyntaxError';
}

/** One AttributeTypeAndValue: its type and its (character string) value. */
export interface NameAttribute {
  oid: string;
  /** The value's ASN.1 tag. */
  tag: number;
  /** The decoded string. */
  text: string;
}

/** Most AttributeTypeAndValues one Name may hold (deeper names are refused before any other work). */
export const MAX_NAME_ATTRIBUTES = 64;

/** Character-string tags a DirectoryString may use (RFC 5280 §4.1.2.4). */
const DIRECTORY_STRING = new Set<number>([Tag.printableString, Tag.utf8String, Tag.teletexString, Tag.universalString, Tag.bmpString]);

/**
 * Syntax of the attribute types RFC 5280 Appendix A bounds: allowed string tags and the upper
 * bound (ub-*) in characters. Other attribute types may hold any single DER value.
 */
const ATTRIBUTE_SYNTAX: Readonly<Record<string, { name: string; tags: ReadonlySet<number>; min?: number; max: number }>> = {
  [Oid.commonName]: { name: 'commonName', tags: DIRECTORY_STRING, max: 64 },
  [Oid.surname]: { name: 'surname', tags: DIRECTORY_STRING, max: 32768 },
  [Oid.serialNumber]: { name: 'serialNumber', tags: new Set([Tag.printableString]), max: 64 },
  [Oid.countryName]: { name: 'countryName', tags: new Set([Tag.printableString]), min: 2, max: 2 },
  [Oid.localityName]: { name: 'localityName', tags: DIRECTORY_STRING, max: 128 },
  [Oid.stateOrProvinceName]: { name: 'stateOrProvinceName', tags: DIRECTORY_STRING, max: 128 },
  [Oid.organizationName]: { name: 'organizationName', tags: DIRECTORY_STRING, max: 64 },
  [Oid.organizationalUnitName]: { name: 'organizationalUnitName', tags: DIRECTORY_STRING, max: 64 },
  [Oid.title]: { name: 'title', tags: DIRECTORY_STRING, max: 64 },
  [Oid.nameAttribute]: { name: 'name', tags: DIRECTORY_STRING, max: 32768 },
  [Oid.givenName]: { name: 'givenName', tags: DIRECTORY_STRING, max: 32768 },
  [Oid.initials]: { name: 'initials', tags: DIRECTORY_STRING, max: 32768 },
  [Oid.generationQualifier]: { name: 'generationQualifier', tags: DIRECTORY_STRING, max: 32768 },
  [Oid.dnQualifier]: { name: 'dnQualifier', tags: new Set([Tag.printableString]), max: 64 },
  [Oid.pseudonym]: { name: 'pseudonym', tags: DIRECTORY_STRING, max: 128 },
  [Oid.domainComponent]: { name: 'domainComponent', tags: new Set([Tag.ia5String]), max: 63 },
  [Oid.emailAddress]: { name: 'emailAddress', tags: new Set([Tag.ia5String]), max: 255 },
};

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a character string strictly: valid UTF-8/UCS-2/UCS-4, PrintableString and IA5 alphabets. */
function decodeString(t: Tlv, what: string): string | undefined {
  const c = content(t);
  switch (t.tag) {
    case Tag.utf8String:
      try {
        return utf8.decode(c);
      } catch {
        throw new NameSyntaxError(`${what} is not valid UTF-8`);
      }
    case Tag.printableString: {
      const s = Buffer.from(c).toString('latin1');
      if (!PRINTABLE.test(s)) throw new NameSyntaxError(`${what} has characters outside PrintableString`);
      return s;
    }
    case Tag.ia5String:
    case 0x1a: // VisibleString
    case 0x12: {
      // NumericString
      for (const b of c) if (b > 0x7f) throw new NameSyntaxError(`${what} has characters outside IA5String`);
      return Buffer.from(c).toString('latin1');
    }
    case Tag.teletexString:
      return Buffer.from(c).toString('latin1');
    case Tag.bmpString: {
      if (c.length % 2) throw new NameSyntaxError(`${what} is an odd-length BMPString`);
      let s = '';
      for (let i = 0; i < c.length; i += 2) {
        const unit = (c[i]! << 8) | c[i + 1]!;
        // UCS-2 has no surrogates as characters; OpenSSL cannot read a name holding one.
        if (!isUnicodeScalar(unit)) throw new NameSyntaxError(`${what} holds a surrogate, which a BMPString cannot`);
        s += String.fromCharCode(unit);
      }
      return s;
    }
    case Tag.universalString: {
      if (c.length % 4) throw new NameSyntaxError(`${what} is a UniversalString of bad length`);
      let s = '';
      for (let i = 0; i < c.length; i += 4) {
        const cp = ((c[i]! << 24) | (c[i + 1]! << 16) | (c[i + 2]! << 8) | c[i + 3]!) >>> 0;
        if (!isUnicodeScalar(cp)) throw new NameSyntaxError(`${what} holds a surrogate or a code point beyond Unicode`);
        s += String.fromCodePoint(cp);
      }
      return s;
    }
    default:
      return undefined;
  }
}

function oidName(oid: string): string {
  return ATTRIBUTE_SYNTAX[oid]?.name ?? oid;
}

/**
 * Checks a Name (RFC 5280 §4.1.2.4):
 *
 * ```
 * Name ::= SEQUENCE OF RelativeDistinguishedName
 * RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue
 * AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY DEFINED BY type }
 * ```
 *
 * plus the string syntax and upper bounds of the attribute types Appendix A defines, and no NUL
 * character in any string (the null-prefix trick). Returns the attributes in order.
 */
export function checkNameSyntax(name: Tlv, what = 'subject'): NameAttribute[] {
  if (name.tag !== Tag.sequence) throw new NameSyntaxError(`${what} is not a SEQUENCE OF RelativeDistinguishedName (RFC 5280 §4.1.2.4)`);
  const out: NameAttribute[] = [];
  try {
    for (const rdn of children(name)) {
      if (rdn.tag !== Tag.set) throw new NameSyntaxError(`${what}: a RelativeDistinguishedName must be a SET, not tag 0x${rdn.tag.toString(16)} (RFC 5280 §4.1.2.4)`);
      const atvs = children(rdn);
      if (atvs.length === 0) throw new NameSyntaxError(`${what}: an empty RelativeDistinguishedName (RFC 5280 §4.1.2.4: SET SIZE (1..MAX))`);
      for (const atv of atvs) {
        if (out.length >= MAX_NAME_ATTRIBUTES) throw new NameSyntaxError(`${what} has more than ${MAX_NAME_ATTRIBUTES} attributes`);
        if (atv.tag !== Tag.sequence) throw new NameSyntaxError(`${what}: an AttributeTypeAndValue must be a SEQUENCE (RFC 5280 §4.1.2.4)`);
        const f = children(atv);
        if (f.length !== 2) throw new NameSyntaxError(`${what}: an AttributeTypeAndValue must have exactly a type and a value, not ${f.length} fields (RFC 5280 §4.1.2.4)`);
        const oid = readOid(f[0]!);
        const value = f[1]!;
        const syntax = ATTRIBUTE_SYNTAX[oid];
        const label = `${what} ${oidName(oid)}`;
        if (syntax && !syntax.tags.has(value.tag)) throw new NameSyntaxError(`${label} has the wrong string type (RFC 5280 §4.1.2.4, Appendix A)`);
        const text = decodeString(value, label);
        // Relying parties (OpenSSL's X509_NAME_ENTRY among them) load only character strings here.
        if (text === undefined) throw new NameSyntaxError(`${label} must be a character string, not ASN.1 tag 0x${value.tag.toString(16)}`);
        if (text.includes('\0')) throw new NameSyntaxError(`${label} contains a NUL character`);
        if (syntax) {
          const n = [...text].length;
          if (n < (syntax.min ?? 1) || n > syntax.max) {
            throw new NameSyntaxError(`${label} must be ${syntax.min === syntax.max ? syntax.max : `${syntax.min ?? 1} to ${syntax.max}`} characters (got ${n}; RFC 5280 Appendix A upper bound)`);
          }
        }
        out.push({ oid, tag: value.tag, text });
      }
    }
  } catch (e) {
    if (e instanceof DerError) throw new NameSyntaxError(`${what}: ${e.message}`);
    throw e;
  }
  return out;
}

/** One GeneralName of a subjectAltName, as far as policy looks at it. */
export interface GeneralNameEntry {
  /** The CHOICE number: 0 otherName, 1 rfc822Name, 2 dNSName, 4 directoryName, 6 URI, 7 iPAddress, 8 registeredID. */
  kind: number;
  /** Text of IA5String forms; the address bytes of an iPAddress. */
  value?: string | Uint8Array;
  /** A directoryName's attributes. */
  name?: NameAttribute[];
}

const DNS_NAME = /^(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$/;
const IA5_VISIBLE = /^[\x21-\x7e]+$/;

function ia5(t: Tlv, what: string): string {
  if (t.tag & 0x20) throw new NameSyntaxError(`${what} must be a primitive IA5String (RFC 5280 §4.2.1.6)`);
  const c = content(t);
  for (const b of c) {
    if (b === 0) throw new NameSyntaxError(`${what} contains a NUL character`);
    if (b > 0x7f) throw new NameSyntaxError(`${what} has characters outside IA5String (RFC 5280 §4.2.1.6)`);
  }
  return Buffer.from(c).toString('latin1');
}

/**
 * Checks a subjectAltName value (RFC 5280 §4.2.1.6) and returns its entries:
 *
 * ```
 * GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName
 * GeneralName ::= CHOICE { otherName [0] AnotherName, rfc822Name [1] IA5String, dNSName [2] IA5String,
 *   x400Address [3], directoryName [4] Name, ediPartyName [5], uniformResourceIdentifier [6] IA5String,
 *   iPAddress [7] OCTET STRING, registeredID [8] OBJECT IDENTIFIER }
 * AnotherName ::= SEQUENCE { type-id OBJECT IDENTIFIER, value [0] EXPLICIT ANY DEFINED BY type-id }
 * ```
 *
 * dNSName in the preferred name syntax (RFC 1034 §3.5, a leading `*.` tolerated), iPAddress of 4
 * or 16 octets, IA5 strings without NUL or controls; x400Address and ediPartyName are refused.
 */
export function checkGeneralNames(value: Uint8Array, maxEntries: number): GeneralNameEntry[] {
  const out: GeneralNameEntry[] = [];
  let entries: Tlv[];
  try {
    entries = children(readWhole(value, Tag.sequence, 'subjectAltName'));
  } catch (e) {
    throw new NameSyntaxError(`subjectAltName is not a SEQUENCE OF GeneralName: ${(e as Error).message} (RFC 5280 §4.2.1.6)`);
  }
  if (entries.length === 0) throw new NameSyntaxError('subjectAltName is empty (RFC 5280 §4.2.1.6: SIZE (1..MAX))');
  if (entries.length > maxEntries) throw new NameSyntaxError(`subjectAltName has ${entries.length} names; at most ${maxEntries} are allowed (maxSubjectAltNames)`);
  try {
    for (const g of entries) {
      if ((g.tag & 0xc0) !== 0x80) throw new NameSyntaxError(`subjectAltName: a GeneralName must be a context-specific [0]..[8] choice (RFC 5280 §4.2.1.6)`);
      const kind = g.tag & 0x1f;
      const constructed = (g.tag & 0x20) !== 0;
      switch (kind) {
        case 0: {
          const f = constructed ? children(g) : [];
          if (f.length !== 2 || f[1]!.tag !== 0xa0 || children(f[1]!).length !== 1) {
            throw new NameSyntaxError('subjectAltName otherName must be SEQUENCE { type-id OID, [0] EXPLICIT value } (RFC 5280 §4.2.1.6)');
          }
          readOid(f[0]!);
          out.push({ kind });
          break;
        }
        case 1: {
          const s = ia5(g, 'subjectAltName rfc822Name');
          const at = s.lastIndexOf('@');
          if (!IA5_VISIBLE.test(s) || at <= 0 || at === s.length - 1) throw new NameSyntaxError('subjectAltName rfc822Name must be a mailbox local-part@domain (RFC 5280 §4.2.1.6)');
          out.push({ kind, value: s });
          break;
        }
        case 2: {
          const s = ia5(g, 'subjectAltName dNSName');
          if (s.length > 253 || !DNS_NAME.test(s)) throw new NameSyntaxError('subjectAltName dNSName must be a host name in the preferred name syntax (RFC 5280 §4.2.1.6, RFC 1034 §3.5)');
          out.push({ kind, value: s });
          break;
        }
        case 4: {
          const f = constructed ? children(g) : [];
          if (f.length !== 1) throw new NameSyntaxError('subjectAltName directoryName must hold exactly one Name (RFC 5280 §4.2.1.6)');
          out.push({ kind, name: checkNameSyntax(f[0]!, 'subjectAltName directoryName') });
          break;
        }
        case 6: {
          const s = ia5(g, 'subjectAltName URI');
          if (!IA5_VISIBLE.test(s) || !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(s)) throw new NameSyntaxError('subjectAltName URI must be an absolute URI without spaces (RFC 5280 §4.2.1.6, RFC 3986)');
          out.push({ kind, value: s });
          break;
        }
        case 7: {
          const c = content(g);
          if (constructed || (c.length !== 4 && c.length !== 16)) throw new NameSyntaxError(`subjectAltName iPAddress must be 4 or 16 octets, not ${c.length} (RFC 5280 §4.2.1.6)`);
          out.push({ kind, value: c });
          break;
        }
        case 8: {
          if (constructed) throw new NameSyntaxError('subjectAltName registeredID must be an OBJECT IDENTIFIER (RFC 5280 §4.2.1.6)');
          readOid({ ...g, tag: Tag.oid });
          out.push({ kind });
          break;
        }
        default:
          throw new NameSyntaxError(`subjectAltName GeneralName [${kind}] is not accepted (x400Address and ediPartyName are not supported)`);
      }
    }
  } catch (e) {
    if (e instanceof DerError) throw new NameSyntaxError(`subjectAltName: ${e.message} (RFC 5280 §4.2.1.6)`);
    throw e;
  }
  return out;
}
