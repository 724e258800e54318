// Key pairs and PKCS#10 requests (RFC 2986) on Node's crypto and the der.ts writer.
// Hand-written: the client depends on protocol/ only and shares der.ts with the server's CSR parser.
import { createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import { Oid } from '../protocol/constants.js';
import { bool, ctxTag, integer, octetString, oid, seq, set, setOf, tlv, Tag, bitString } from '../protocol/der.js';
import { signData, signingAlgorithmFor } from '../protocol/algorithms.js';
import { ipAddressBytes } from '../protocol/ip-address.js';
import { attributeShortName, attributeTypeOid } from '../protocol/name.js';
import { curveByName } from '../protocol/key-types.js';
import { EstClientConfigError } from './errors.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** Key types the helpers generate. */
export type KeySpec = 'rsa2048' | 'rsa3072' | 'rsa4096' | 'p256' | 'p384' | 'p521' | 'ed25519';

const KEY_ALIASES: Record<string, KeySpec> = {
  rsa: 'rsa2048', 'rsa-2048': 'rsa2048', rsa2048: 'rsa2048', 'rsa-3072': 'rsa3072', rsa3072: 'rsa3072', 'rsa-4096': 'rsa4096', rsa4096: 'rsa4096',
  ec: 'p256', ecdsa: 'p256', p256: 'p256', 'ec-p256': 'p256', p384: 'p384', 'ec-p384': 'p384', p521: 'p521', 'ec-p521': 'p521',
  ed25519: 'ed25519',
};

/** The EC key spec for a supported curve named any usual way (`P-384`, `secp384r1`), from protocol/key-types. */
export function ecKeySpecOf(curveName: string): KeySpec | undefined {
  const c = curveByName(curveName) ?? curveByName(curveName.toUpperCase());
  return c ? (`p${c.nist.slice(2)}` as KeySpec) : undefined;
}

/** Parses a key type name (`rsa`, `rsa3072`, `ec`, `p384`, `secp384r1`, `ed25519`, …); throws naming the choices. */
export function parseKeySpec(text: string): KeySpec {
  const t = text.trim().toLowerCase();
  const k = KEY_ALIASES[t] ?? ecKeySpecOf(t);
  if (!k) throw new EstClientConfigError(`unknown key type ${JSON.stringify(text)} (use rsa2048, rsa3072, rsa4096, p256, p384, p521 or ed25519)`);
  return k;
}

/**
 * Generates a key pair off the event loop.
 * @default 'p256'
 */
export async function generateKey(spec: KeySpec | string = 'p256'): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  const k = parseKeySpec(spec);
  switch (k) {
    case 'rsa2048':
    case 'rsa3072':
    case 'rsa4096':
      return generateKeyPairAsync('rsa', { modulusLength: Number(k.slice(3)) });
    case 'p256':
    case 'p384':
    case 'p521':
      return generateKeyPairAsync('ec', { namedCurve: curveByName(`P-${k.slice(1)}`)!.name });
    case 'ed25519':
      return generateKeyPairAsync('ed25519');
  }
}

// ---- Names (RFC 5280 §4.1.2.4) ----

function attributeValue(type: string, value: string): Uint8Array {
  const bytes = Buffer.from(value, 'utf8');
  if (type === Oid.countryName || type === Oid.serialNumber) {
    if (!/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value)) throw new EstClientConfigError(`subject: ${attributeShortName(type)} must be printable ASCII (got ${JSON.stringify(value)})`);
    if (type === Oid.countryName && value.length !== 2) throw new EstClientConfigError(`subject: C must be a two-letter country code (got ${JSON.stringify(value)})`);
    return tlv(Tag.printableString, bytes);
  }
  if (type === Oid.emailAddress || type === Oid.domainComponent) return tlv(Tag.ia5String, bytes);
  return tlv(Tag.utf8String, bytes);
}

function splitUnescaped(text: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      cur += text[++i];
      continue;
    }
    if (ch === sep) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function rdn(text: string): Uint8Array {
  const atvs = splitUnescaped(text, '+').map((atv) => {
    const eq = atv.indexOf('=');
    if (eq <= 0) throw new EstClientConfigError(`subject: expected TYPE=value, got ${JSON.stringify(atv)}`);
    const name = atv.slice(0, eq).trim();
    const type = /^\d+(\.\d+)+$/.test(name) ? name : attributeTypeOid(name);
    if (!type) throw new EstClientConfigError(`subject: unknown attribute type ${JSON.stringify(name)} (use CN, O, OU, C, L, ST, serialNumber, emailAddress, DC, UID or a dotted OID)`);
    return seq(oid(type), attributeValue(type, atv.slice(eq + 1).trim()));
  });
  return setOf(atvs);
}

/**
 * Encodes a subject DN. Two notations: OpenSSL's `/C=FR/O=Acme/CN=device-1` (in DER order, most
 * significant first) and RFC 4514's `CN=device-1,O=Acme,C=FR` (least significant first, reversed
 * into DER order). `+` joins a multi-valued RDN; `\` escapes a separator. An empty string is the
 * empty Name.
 */
export function encodeSubject(text: string): Uint8Array {
  const t = text.trim();
  if (t === '' || t === '/') return seq();
  const rdns = t.startsWith('/') ? splitUnescaped(t.slice(1), '/') : splitUnescaped(t, ',').reverse();
  return seq(...rdns.filter((r) => r.trim() !== '').map(rdn));
}

// ---- subjectAltName (RFC 5280 §4.2.1.6) ----

/**
 * Encodes one SAN entry: `DNS:host`, `IP:addr`, `email:a@b`, `URI:scheme:…`, or a bare value
 * (an IP address, an e-mail address when it has `@`, a URI when it has `://`, else a DNS name).
 */
export function encodeGeneralName(entry: string): Uint8Array {
  const m = /^(dns|ip|email|rfc822|uri):(.*)$/i.exec(entry.trim());
  let kind = m ? m[1]!.toLowerCase() : '';
  const value = m ? m[2]!.trim() : entry.trim();
  if (!value) throw new EstClientConfigError(`san: empty value in ${JSON.stringify(entry)}`);
  if (!kind) kind = isIP(value) ? 'ip' : value.includes('://') ? 'uri' : value.includes('@') ? 'email' : 'dns';
  const ascii = (v: string) => {
    if (!/^[\x20-\x7e]+$/.test(v)) throw new EstClientConfigError(`san: ${JSON.stringify(v)} must be ASCII (use punycode for IDNs)`);
    return Buffer.from(v, 'latin1');
  };
  switch (kind) {
    case 'dns':
      return tlv(ctxTag(2, false), ascii(value));
    case 'email':
    case 'rfc822':
      return tlv(ctxTag(1, false), ascii(value));
    case 'uri':
      return tlv(ctxTag(6, false), ascii(value));
    default:
      try {
        return tlv(ctxTag(7, false), ipAddressBytes(value));
      } catch {
        throw new EstClientConfigError(`san: ${JSON.stringify(value)} is not an IP address`);
      }
  }
}

/** The DER value (extnValue contents) of a subjectAltName extension. */
export function encodeSubjectAltName(entries: readonly string[]): Uint8Array {
  return seq(...entries.map(encodeGeneralName));
}

// ---- PKCS#10 ----

/** One extension to request (extensionRequest, PKCS#9 §5.4.2). */
export interface CsrExtensionInput {
  oid: string;
  critical?: boolean;
  /** DER of the extension's value (the contents of extnValue). */
  value: Uint8Array;
}

/** What `buildCsr` puts in a certification request. */
export interface CsrOptions {
  /** The private key that signs the request (its public key is the one certified). */
  privateKey: KeyObject;
  /** Subject DN as text (see `encodeSubject`) or DER Name. @default empty Name */
  subject?: string | Uint8Array;
  /** subjectAltName entries (`DNS:…`, `IP:…`, `email:…`, `URI:…`). */
  san?: readonly string[];
  /**
   * challengePassword (PKCS#9 §5.4.1): the TLS channel binding for PoP linking (RFC 7030 §3.5), set
   * by the client itself when it builds the CSR with `pop`. PrintableString when possible, else UTF8String.
   */
  challengePassword?: string;
  /** Extra requested extensions (a subjectAltName here wins over `san`). */
  extensions?: readonly CsrExtensionInput[];
  /** Extra attributes (type OID and the DER of each value). */
  attributes?: readonly { oid: string; values: readonly Uint8Array[] }[];
}

function directoryString(value: string): Uint8Array {
  const bytes = Buffer.from(value, 'utf8');
  return tlv(/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value) ? Tag.printableString : Tag.utf8String, bytes);
}

/**
 * Builds and signs a DER PKCS#10 request.
 *
 * ```
 * CertificationRequestInfo ::= SEQUENCE { version INTEGER { v1(0) }, subject Name,
 *   subjectPKInfo SubjectPublicKeyInfo, attributes [0] IMPLICIT SET OF Attribute }
 * CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
 * ```
 */
export async function buildCsr(options: CsrOptions): Promise<Uint8Array> {
  const key = options.privateKey;
  if (!key || key.type !== 'private') throw new EstClientConfigError('buildCsr: `privateKey` must be a private KeyObject');
  const name = options.subject === undefined ? seq() : typeof options.subject === 'string' ? encodeSubject(options.subject) : options.subject;
  const spki = new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));

  const exts: CsrExtensionInput[] = [...(options.extensions ?? [])];
  if (options.san && options.san.length > 0 && !exts.some((e) => e.oid === Oid.subjectAltName)) {
    exts.unshift({ oid: Oid.subjectAltName, value: encodeSubjectAltName(options.san) });
  }
  const attrs: Uint8Array[] = [];
  if (options.challengePassword !== undefined) {
    if (options.challengePassword.length > 255) throw new EstClientConfigError('buildCsr: challengePassword is limited to 255 characters (PKCS#9)');
    attrs.push(seq(oid(Oid.challengePassword), set(directoryString(options.challengePassword))));
  }
  if (exts.length > 0) {
    const extSeq = seq(...exts.map((e) => seq(oid(e.oid), ...(e.critical ? [bool(true)] : []), octetString(e.value))));
    attrs.push(seq(oid(Oid.extensionRequest), set(extSeq)));
  }
  for (const a of options.attributes ?? []) attrs.push(seq(oid(a.oid), set(...a.values)));

  const info = seq(integer(0), name, spki, tlv(ctxTag(0, true), ...(attrs.length ? [setOfContent(attrs)] : [new Uint8Array(0)])));
  const alg = signingAlgorithmFor(key);
  const signature = await signData(alg.params, info, key);
  return seq(info, alg.algorithmIdentifier, bitString(signature));
}

/** The sorted concatenation of SET OF elements (DER), without the SET header. */
function setOfContent(elements: Uint8Array[]): Uint8Array {
  const s = setOf(elements);
  // setOf returns a SET TLV; strip its tag and length to reuse the content under [0] IMPLICIT.
  let off = 2;
  if (s[1]! & 0x80) off = 2 + (s[1]! & 0x7f);
  return s.subarray(off);
}
