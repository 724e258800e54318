// Hand-built DER for hostile tests: CSRs with arbitrary subjects/extensions (properly signed), certificates, odd RSA keys.
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { bitString, explicit, integer, octetString, oid, seq, set, tlv, time, nullValue } from '../../lib/protocol/der.js';

export { seq, set, tlv, oid, octetString, explicit, integer, bitString };

/** UTF8String / PrintableString / IA5String TLVs. */
export const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
export const printable = (s: string) => tlv(0x13, Buffer.from(s, 'latin1'));
export const ia5 = (s: string) => tlv(0x16, Buffer.from(s, 'latin1'));

/** One RDN with one ATV. */
export const rdn = (type: string, value: Uint8Array) => set(seq(oid(type), value));
export const CN = '2.5.4.3';
export const O = '2.5.4.10';
/** A Name from RDNs. */
export const name = (...rdns: Uint8Array[]) => seq(...rdns);

const P256_SIG = seq(oid('1.2.840.10045.4.3.2'));

/** A P-256 key pair for signing crafted CSRs. */
export function p256(): { privateKey: KeyObject; spki: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, spki: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })) };
}

/** A PKCS#10 request around `subject` (DER Name) and extensions, self-signed with `key`. */
export function craftCsr(opts: { subject: Uint8Array; key: { privateKey: KeyObject; spki: Uint8Array }; extensions?: Uint8Array[]; attributes?: Uint8Array[] }): Buffer {
  const attrs: Uint8Array[] = [...(opts.attributes ?? [])];
  if (opts.extensions?.length) attrs.push(seq(oid('1.2.840.113549.1.9.14'), set(seq(...opts.extensions))));
  const info = seq(integer(0), opts.subject, opts.key.spki, tlv(0xa0, ...attrs));
  const sig = sign('sha256', info, opts.key.privateKey);
  return Buffer.from(seq(info, P256_SIG, bitString(sig)));
}

/** An Extension ::= SEQUENCE { extnID, extnValue OCTET STRING }. */
export const ext = (extnId: string, value: Uint8Array) => seq(oid(extnId), octetString(value));
export const SAN = '2.5.29.17';

/**
 * An RSA SubjectPublicKeyInfo with a random odd modulus of `modulusBits` bits and a public exponent
 * of `expBits` bits. Nobody holds its private half: it only has to cost its verifier time.
 */
export function rsaSpkiWithExponent(expBits: number, modulusBits = 3072): Uint8Array {
  const n = randomBytes(modulusBits / 8);
  n[0]! |= 0x80;
  n[n.length - 1]! |= 1;
  const e = randomBytes(Math.ceil(expBits / 8));
  e[0]! |= 0x80;
  e[e.length - 1]! |= 1;
  const rsaKey = seq(integer(new Uint8Array(n)), integer(new Uint8Array(e)));
  return seq(seq(oid('1.2.840.113549.1.1.1'), nullValue()), bitString(rsaKey));
}

/** A v3 certificate with a junk signature (or a real one when `signer` is given). */
export function craftCertificate(opts: { subject: Uint8Array; issuer: Uint8Array; spki: Uint8Array; ca: boolean; signer?: KeyObject; serial?: number; signatureBytes?: number }): Buffer {
  const now = Date.now();
  const bc = seq(oid('2.5.29.19'), tlv(0x01, Uint8Array.of(0xff)), octetString(opts.ca ? seq(tlv(0x01, Uint8Array.of(0xff))) : seq()));
  const sigAlg = seq(oid('1.2.840.113549.1.1.11'), nullValue());
  const alg = opts.signer ? P256_SIG : sigAlg;
  const tbs = seq(
    explicit(0, integer(2)),
    integer(opts.serial ?? 1 + Math.floor(Math.random() * 1e9)),
    alg,
    opts.issuer,
    seq(time(new Date(now - 86_400_000)), time(new Date(now + 86_400_000))),
    opts.subject,
    opts.spki,
    explicit(3, seq(bc)),
  );
  const signature = opts.signer ? sign('sha256', tbs, opts.signer) : randomBytes(opts.signatureBytes ?? 384);
  return Buffer.from(seq(tbs, alg, bitString(signature)));
}

