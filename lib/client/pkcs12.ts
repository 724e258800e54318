// PKCS#12 (RFC 7292) output for the CLI: key + certificates, readable by OpenSSL 3, browsers, Java.
// The key is encrypted by Node (PBES2), the frame written with der.ts (a few fixed SEQUENCEs), and the
// MAC's RFC 7292 key derivation, which node:crypto lacks, comes from pkijs's engine.
import { createHash, randomBytes, type KeyObject, type X509Certificate } from 'node:crypto';
import { Oid } from '../protocol/constants.js';
import { explicit, integer, octetString, oid, seq, set, nullValue } from '../protocol/der.js';
import { nodeEngine } from '../protocol/pkix.js';

function dataContentInfo(der: Uint8Array): Uint8Array {
  return seq(oid(Oid.data), explicit(0, octetString(der)));
}

/**
 * HMAC-SHA-256 with the PKCS#12 MAC key derivation (RFC 7292 App. B.2, ID 3, password as BMPString),
 * which node:crypto lacks: pkijs's engine does it on Node's WebCrypto.
 */
async function pkcs12Mac(password: string, salt: Buffer, iterations: number, content: Uint8Array): Promise<Uint8Array> {
  const mac = await nodeEngine.stampDataWithPassword({
    password: new Uint8Array(Buffer.from(password, 'utf8')).buffer,
    hashAlgorithm: 'SHA-256',
    salt: new Uint8Array(salt).buffer,
    iterationCount: iterations,
    contentToStamp: new Uint8Array(content).buffer,
  });
  return new Uint8Array(mac);
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
export async function buildPkcs12(key: KeyObject, certs: readonly X509Certificate[], password: string, iterations = 2048): Promise<Uint8Array> {
  const localKeyId = createHash('sha1').update(certs[0]!.raw).digest();
  const attrs = set(seq(oid(Oid.localKeyId), set(octetString(localKeyId))));
  const encryptedKey = key.export({ format: 'der', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: password });
  const keyBag = seq(oid(Oid.pkcs8ShroudedKeyBag), explicit(0, new Uint8Array(encryptedKey)), attrs);
  const certBags = certs.map((c, i) =>
    seq(oid(Oid.certBag), explicit(0, seq(oid(Oid.x509Certificate), explicit(0, octetString(new Uint8Array(c.raw))))), ...(i === 0 ? [attrs] : [])),
  );
  const authSafe = seq(dataContentInfo(seq(...certBags)), dataContentInfo(seq(keyBag)));
  const salt = randomBytes(16);
  const mac = await pkcs12Mac(password, salt, iterations, authSafe);
  const macData = seq(seq(seq(oid(Oid.sha256), nullValue()), octetString(mac)), octetString(salt), integer(iterations));
  return seq(integer(3), dataContentInfo(authSafe), macData);
}
