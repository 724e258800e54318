// PKCS#12 (RFC 7292) output for the CLI: key + certificates, readable by OpenSSL 3, browsers, Java.
import { createHash, createHmac, randomBytes, type KeyObject, type X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { explicit, integer, octetString, oid, seq, set, nullValue } from '../protocol/der.js';

const OID_DATA = '1.2.840.113549.1.7.1';
const OID_KEY_BAG_SHROUDED = '1.2.840.113549.1.12.10.1.2';
const OID_CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const OID_X509_CERT = '1.2.840.113549.1.9.22.1';
const OID_LOCAL_KEY_ID = '1.2.840.113549.1.9.21';
const OID_SHA256 = '2.16.840.1.101.3.4.2.1';

function dataContentInfo(der: Uint8Array): Uint8Array {
  return seq(oid(OID_DATA), explicit(0, octetString(der)));
}

/** PKCS#12 key derivation (RFC 7292 App. B.2) with SHA-256, via node-forge (off the hot path). */
function macKey(password: string, salt: Buffer, iterations: number): Buffer {
  const bytes = forge.pkcs12.generateKey(password, forge.util.createBuffer(salt.toString('binary')), 3, iterations, 32, forge.md.sha256.create());
  return Buffer.from(bytes.getBytes(), 'binary');
}

/**
 * Builds a PFX: the key as a pkcs8ShroudedKeyBag (PBES2/AES-256-CBC, Node's encoder), the
 * certificates as certBags (leaf first), both tagged with localKeyId, and an HMAC-SHA-256 MAC.
 *
 * ```
 * PFX ::= SEQUENCE { version 3, authSafe ContentInfo, macData MacData OPTIONAL }
 * MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER }
 * ```
 */
export function buildPkcs12(key: KeyObject, certs: readonly X509Certificate[], password: string, iterations = 2048): Uint8Array {
  const localKeyId = createHash('sha1').update(certs[0]!.raw).digest();
  const attrs = set(seq(oid(OID_LOCAL_KEY_ID), set(octetString(localKeyId))));
  const encryptedKey = key.export({ format: 'der', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: password });
  const keyBag = seq(oid(OID_KEY_BAG_SHROUDED), explicit(0, new Uint8Array(encryptedKey)), attrs);
  const certBags = certs.map((c, i) =>
    seq(oid(OID_CERT_BAG), explicit(0, seq(oid(OID_X509_CERT), explicit(0, octetString(new Uint8Array(c.raw))))), ...(i === 0 ? [attrs] : [])),
  );
  const authSafe = seq(dataContentInfo(seq(...certBags)), dataContentInfo(seq(keyBag)));
  const salt = randomBytes(16);
  const mac = createHmac('sha256', macKey(password, salt, iterations)).update(authSafe).digest();
  const macData = seq(seq(seq(oid(OID_SHA256), nullValue()), octetString(mac)), octetString(salt), integer(iterations));
  return seq(integer(3), dataContentInfo(authSafe), macData);
}
