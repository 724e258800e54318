// PKCS#12 (RFC 7292) output for the CLI: key + certificates, readable by OpenSSL 3, browsers, Java.
import { createHash, createHmac, randomBytes, type KeyObject, type X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { Oid } from '../protocol/constants.js';
import { explicit, integer, octetString, oid, seq, set, nullValue } from '../protocol/der.js';

function dataContentInfo(der: Uint8Array): Uint8Array {
  return seq(oid(Oid.data), explicit(0, octetString(der)));
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
  const attrs = set(seq(oid(Oid.localKeyId), set(octetString(localKeyId))));
  const encryptedKey = key.export({ format: 'der', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: password });
  const keyBag = seq(oid(Oid.pkcs8ShroudedKeyBag), explicit(0, new Uint8Array(encryptedKey)), attrs);
  const certBags = certs.map((c, i) =>
    seq(oid(Oid.certBag), explicit(0, seq(oid(Oid.x509Certificate), explicit(0, octetString(new Uint8Array(c.raw))))), ...(i === 0 ? [attrs] : [])),
  );
  const authSafe = seq(dataContentInfo(seq(...certBags)), dataContentInfo(seq(keyBag)));
  const salt = randomBytes(16);
  const mac = createHmac('sha256', macKey(password, salt, iterations)).update(authSafe).digest();
  const macData = seq(seq(seq(oid(Oid.sha256), nullValue()), octetString(mac)), octetString(salt), integer(iterations));
  return seq(integer(3), dataContentInfo(authSafe), macData);
}
