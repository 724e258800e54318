// What a server's /csrattrs asks of a CSR, against what the caller supplies: attributes to add, key type, PoP.
import { Oid } from '../protocol/constants.js';
import type { CsrAttrsItem } from '../protocol/csrattrs.js';
import { children, readOid, readSmallInt, readWhole, tlv, Tag } from '../protocol/der.js';
import type { KeySpec } from './csr.js';
import { EstClientConfigError } from './errors.js';

/** One CSR attribute to add: type OID and the DER of each value. */
export interface CsrAttributeInput {
  oid: string;
  values: Uint8Array[];
}

/** Attribute names the CLI and SDK accept besides dotted OIDs, and how each value is encoded. */
const NAMED: Record<string, { oid: string; encode: (v: string) => Uint8Array }> = {
  // RFC 2307 §2.2 macAddress: IA5String, hex octets separated by ':'.
  macaddress: { oid: Oid.macAddress, encode: (v) => tlv(Tag.ia5String, Buffer.from(v, 'latin1')) },
  // PKCS#9 §5.4.1 challengePassword: DirectoryString (PrintableString when it fits).
  challengepassword: { oid: Oid.challengePassword, encode: directoryString },
  // PKCS#9 §5.4.2 unstructuredName: PKCS9String (IA5String when it fits).
  unstructuredname: { oid: '1.2.840.113549.1.9.2', encode: (v) => tlv(/^[\x00-\x7f]*$/.test(v) ? Tag.ia5String : Tag.utf8String, Buffer.from(v, 'utf8')) },
};

const NAME_OF: Record<string, string> = {
  [Oid.macAddress]: 'macAddress',
  [Oid.challengePassword]: 'challengePassword',
  '1.2.840.113549.1.9.2': 'unstructuredName',
  [Oid.subjectAltName]: 'subjectAltName',
  [Oid.extensionRequest]: 'extensionRequest',
};

function directoryString(v: string): Uint8Array {
  return tlv(/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(v) ? Tag.printableString : Tag.utf8String, Buffer.from(v, 'utf8'));
}

/** `name (oid)` for known OIDs, else the OID. */
export function describeOid(oid: string): string {
  return NAME_OF[oid] ? `${NAME_OF[oid]} (${oid})` : oid;
}

/**
 * Parses `NAME=value` or `OID=value` (`--attr`). Named: macAddress, challengePassword,
 * unstructuredName. A dotted OID takes a UTF8String value, or raw DER as `der:<hex>`.
 */
export function parseAttributeArg(text: string): CsrAttributeInput {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new EstClientConfigError(`--attr: expected NAME=value or OID=value (got ${JSON.stringify(text)})`);
  const name = text.slice(0, eq).trim();
  const value = text.slice(eq + 1);
  const named = NAMED[name.toLowerCase()];
  if (named) {
    if (named.oid === Oid.macAddress && !/^[0-9A-Fa-f]{1,2}([:-][0-9A-Fa-f]{1,2}){5,7}$/.test(value)) {
      throw new EstClientConfigError(`--attr macAddress: expected hex octets separated by ':' such as 00:1A:2B:3C:4D:5E (got ${JSON.stringify(value)})`);
    }
    return { oid: named.oid, values: [named.encode(value)] };
  }
  if (!/^[0-2](\.(0|[1-9]\d*))+$/.test(name)) {
    throw new EstClientConfigError(`--attr: unknown attribute ${JSON.stringify(name)} (use macAddress, challengePassword, unstructuredName or a dotted OID)`);
  }
  if (value.startsWith('der:')) {
    const hex = value.slice(4).replace(/[\s:]/g, '');
    if (!/^([0-9A-Fa-f]{2})+$/.test(hex)) throw new EstClientConfigError(`--attr ${name}: der: needs hex digits`);
    const der = Buffer.from(hex, 'hex');
    try {
      readWhole(der);
    } catch (e) {
      throw new EstClientConfigError(`--attr ${name}: der: value is not one DER element (${(e as Error).message})`);
    }
    return { oid: name, values: [new Uint8Array(der)] };
  }
  return { oid: name, values: [tlv(Tag.utf8String, Buffer.from(value, 'utf8'))] };
}

/** What the caller brings to a CSR. */
export interface CsrSupply {
  attributes: readonly CsrAttributeInput[];
  san: boolean;
  keyType?: KeySpec;
  pop: boolean;
  /** A key is given (its type cannot change). */
  fixedKey: boolean;
}

/** How to satisfy a server's CsrAttrs. */
export interface CsrPlan {
  /** Key type to generate, when the server asks for one and the caller chose none. */
  keyType?: KeySpec;
  /** Link the CSR to the TLS connection: the server lists challengePassword (RFC 7030 §3.5). */
  pop: boolean;
  /** One line per requirement that still needs a value from the caller. */
  missing: string[];
  /** One line per requirement already met, for the log. */
  satisfied: string[];
}

const CURVE_KEY: Record<string, KeySpec> = { [Oid.secp256r1]: 'p256', [Oid.secp384r1]: 'p384', [Oid.secp521r1]: 'p521' };
const HASH_KEY: Record<string, KeySpec> = {
  [Oid.sha384]: 'p384', [Oid.ecdsaWithSHA384]: 'p384', [Oid.sha512]: 'p521', [Oid.ecdsaWithSHA512]: 'p521',
};
/** Attributes the server lists for information only (RFC 9908 templates, serverkeygen hints). */
const INFORMATIONAL = new Set<string>([Oid.certificationRequestInfoTemplate, Oid.smimeCapabilities, Oid.decryptKeyIdentifier, Oid.asymmDecryptKeyIdentifier, Oid.extensionReqTemplate]);
/** Bare OIDs that say something about the key or signature, not an attribute to add. */
const KEYISH = new Set<string>([Oid.rsaEncryption, Oid.ecPublicKey, Oid.ed25519, Oid.ed448, Oid.rsassaPss, Oid.sha256, Oid.sha256WithRSAEncryption, Oid.ecdsaWithSHA256]);

function rsaSpec(bits: number): KeySpec {
  return bits <= 2048 ? 'rsa2048' : bits <= 3072 ? 'rsa3072' : 'rsa4096';
}

/**
 * What an extensionRequest value asks for (RFC 9908 §3.2): extension OIDs, and bare OIDs as in
 * RFC 7030's original example, which servers read as attributes.
 */
function requestedExtensions(values: readonly Uint8Array[]): Array<{ oid: string; bare: boolean }> {
  const out: Array<{ oid: string; bare: boolean }> = [];
  for (const v of values) {
    const t = readWhole(v);
    if (t.tag === Tag.oid) out.push({ oid: readOid(t), bare: true });
    else for (const ext of children(t)) out.push({ oid: readOid(children(ext)[0]!), bare: false });
  }
  return out;
}

/**
 * Reads the server's CsrAttrs against what the caller supplies. Key-type wishes pick the key to
 * generate; challengePassword turns PoP linking on; every attribute or extension that needs a value
 * the caller did not give is listed in `missing`.
 *
 * @see RFC 7030 §4.5.2, RFC 9908 §3
 */
export function planCsr(items: readonly CsrAttrsItem[], supply: CsrSupply): CsrPlan {
  const plan: CsrPlan = { pop: supply.pop, missing: [], satisfied: [] };
  const have = new Set(supply.attributes.map((a) => a.oid));
  const wantKey = (spec: KeySpec, why: string) => {
    if (supply.keyType || supply.fixedKey) return void plan.satisfied.push(`${why}: using the key given`);
    plan.keyType ??= spec;
    plan.satisfied.push(`${why}: generating a ${plan.keyType} key`);
  };
  const needAttr = (oid: string) => {
    if (have.has(oid)) plan.satisfied.push(`${describeOid(oid)}: from --attr`);
    else if (oid === Oid.challengePassword) {
      plan.pop = true;
      plan.satisfied.push(`${describeOid(oid)}: PoP linking (--pop)`);
    } else plan.missing.push(`${describeOid(oid)}: give --attr ${NAME_OF[oid] ?? oid}=<value>`);
  };
  for (const item of items) {
    const oid = 'oid' in item ? item.oid : item.attribute;
    if (INFORMATIONAL.has(oid)) continue;
    if (CURVE_KEY[oid]) wantKey(CURVE_KEY[oid]!, `curve ${oid}`);
    else if (HASH_KEY[oid]) wantKey(HASH_KEY[oid]!, `hash/signature ${oid}`);
    else if (oid === Oid.ecPublicKey && 'attribute' in item && item.values.length) {
      wantKey(CURVE_KEY[readOid(readWhole(item.values[0]!))] ?? 'p256', 'EC key');
    } else if (oid === Oid.rsaEncryption && 'attribute' in item && item.values.length) {
      wantKey(rsaSpec(Math.min(...item.values.map((v) => readSmallInt(readWhole(v))))), 'RSA key');
    } else if (oid === Oid.ed25519) wantKey('ed25519', 'Ed25519 key');
    else if (oid === Oid.rsaEncryption) wantKey('rsa2048', 'RSA key');
    else if (KEYISH.has(oid)) plan.satisfied.push(`${oid}: met by the default key and signature`);
    else if (oid === Oid.extensionRequest && 'attribute' in item) {
      for (const ext of requestedExtensions(item.values)) {
        if (ext.oid === Oid.subjectAltName) {
          if (supply.san) plan.satisfied.push(`extension ${describeOid(ext.oid)}: from --san`);
          else plan.missing.push(`extension ${describeOid(ext.oid)}: give --san DNS:<name> (or IP:, email:, URI:)`);
        } else if (ext.bare) needAttr(ext.oid);
        else plan.missing.push(`extension ${describeOid(ext.oid)}: est-client requests only subjectAltName; build the CSR yourself and pass it with --csr`);
      }
    } else needAttr(oid);
  }
  return plan;
}
