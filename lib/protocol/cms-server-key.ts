// Encrypted server-generated keys (RFC 7030 §4.4.1.1, §4.4.1.2, §4.4.2): AsymmetricKeyPackage, signed, in EnvelopedData; and opening one.
import type { X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { Oid } from './constants.js';
import { fromDer, nodeEngine, pkijsCertificate, toDer } from './pkix.js';
import { readSignedData, verifySignedData } from './cms-received.js';
import { CMS_OID, signedDataContent, type CmsSigner } from './cms-signed-data.js';

/** RFC 5958 §3: id-ct-KP-aKeyPackage. */
export const A_KEY_PACKAGE_OID = Oid.aKeyPackage;

/** How the key must be protected, as the CSR asked and the app resolved it. */
export type KeyProtection =
  /** DecryptKeyIdentifier (§4.4.1.1): a pre-shared AES key (16, 24 or 32 bytes) wraps the content key. */
  | { kind: 'symmetric'; keyId: Uint8Array; key: Uint8Array }
  /** AsymmetricDecryptKeyIdentifier (§4.4.1.2): RSA key transport or EC key agreement to this certificate. */
  | { kind: 'certificate'; certificate: Uint8Array };

/** The request cannot be served as asked (unusable key, algorithms the client does not accept). */
export class KeyProtectionError extends Error {}

const ALG = {
  aes128Wrap: Oid.aes128Wrap,
  aes192Wrap: Oid.aes192Wrap,
  aes256Wrap: Oid.aes256Wrap,
  rsaesOaep: Oid.rsaesOaep,
  rsaEncryption: Oid.rsaEncryption,
  ecdhSha256: Oid.ecdhSha256Kdf,
  ecdhSha384: Oid.ecdhSha384Kdf,
  ecdhSha512: Oid.ecdhSha512Kdf,
} as const;

/**
 * The capability OIDs listed in an SMIMECapabilities attribute value (RFC 8551 §2.5.2):
 * `SMIMECapabilities ::= SEQUENCE OF SEQUENCE { capabilityID OID, parameters ANY OPTIONAL }`.
 */
export function smimeCapabilityOids(valueDer: Uint8Array): string[] {
  const seq = fromDer(valueDer, 'SMIMECapabilities');
  if (!(seq instanceof asn1js.Sequence)) throw new KeyProtectionError('SMIMECapabilities is not a SEQUENCE');
  return seq.valueBlock.value.map((cap) => {
    const first = cap instanceof asn1js.Sequence ? cap.valueBlock.value[0] : undefined;
    if (!(first instanceof asn1js.ObjectIdentifier)) throw new KeyProtectionError('malformed SMIMECapability');
    return first.valueBlock.toString();
  });
}

function pick(wanted: readonly string[], offered: readonly string[] | undefined, what: string): string {
  if (!offered) return wanted[0]!;
  const hit = wanted.find((w) => offered.includes(w));
  if (!hit) throw new KeyProtectionError(`SMIMECapabilities offer no ${what} this server supports (${wanted.join(', ')})`);
  return hit;
}

/** keyUsage bits (RFC 5280 §4.2.1.3) of a pkijs certificate, or undefined when it has none. */
function keyUsageBits(c: pkijs.Certificate): number | undefined {
  const ext = c.extensions?.find((e) => e.extnID === Oid.keyUsage);
  if (!ext) return undefined;
  const bits = ext.parsedValue as asn1js.BitString | undefined;
  const view = bits?.valueBlock.valueHexView;
  return view && view.length > 0 ? view[0]! : 0;
}

function addRecipient(env: pkijs.EnvelopedData, p: KeyProtection, offered: readonly string[] | undefined): void {
  if (p.kind === 'symmetric') {
    // §4.4.2: kekri, version 4, kekid = the DecryptKeyIdentifier, AES key wrap (RFC 3394/3565).
    const byLength: Record<number, string> = { 16: ALG.aes128Wrap, 24: ALG.aes192Wrap, 32: ALG.aes256Wrap };
    const wrap = byLength[p.key.byteLength];
    if (!wrap) throw new KeyProtectionError(`the pre-shared key for this DecryptKeyIdentifier is ${p.key.byteLength} bytes; AES key wrap needs 16, 24 or 32`);
    pick([wrap], offered, `AES-${p.key.byteLength * 8} key wrap`);
    env.addRecipientByPreDefinedData(
      new Uint8Array(p.key).buffer,
      { keyIdentifier: new Uint8Array(p.keyId).buffer, keyEncryptionAlgorithm: { name: 'AES-KW', length: p.key.byteLength * 8 } as unknown as Parameters<pkijs.EnvelopedData['encrypt']>[0] },
      1,
      nodeEngine,
    );
    // RFC 3565 §2.3.2: the AES key wrap AlgorithmIdentifier has absent parameters (pkijs writes NULL).
    const kekri = env.recipientInfos[env.recipientInfos.length - 1]!.value as pkijs.KEKRecipientInfo;
    kekri.keyEncryptionAlgorithm = new pkijs.AlgorithmIdentifier({ algorithmId: wrap });
    return;
  }
  const cert = pkijsCertificate(p.certificate);
  const spkiAlg = cert.subjectPublicKeyInfo.algorithm.algorithmId;
  const ku = keyUsageBits(cert);
  if (spkiAlg === ALG.rsaEncryption) {
    // §4.4.1.2: the certificate must allow keyEncipherment (or carry no keyUsage).
    if (ku !== undefined && !(ku & 0x20)) throw new KeyProtectionError('the recipient certificate does not allow keyEncipherment');
    const alg = pick([ALG.rsaesOaep, ALG.rsaEncryption], offered, 'RSA key transport');
    env.addRecipientByCertificate(cert, { useOAEP: alg === ALG.rsaesOaep, oaepHashAlgorithm: 'SHA-256' }, 1, nodeEngine);
    return;
  }
  if (spkiAlg === Oid.ecPublicKey) {
    if (ku !== undefined && !(ku & 0x08)) throw new KeyProtectionError('the recipient certificate does not allow keyAgreement');
    const curve = (cert.subjectPublicKeyInfo.algorithm.algorithmParams as asn1js.ObjectIdentifier | undefined)?.valueBlock.toString();
    const preferred = curve === Oid.secp521r1 ? [ALG.ecdhSha512, ALG.ecdhSha384, ALG.ecdhSha256] : curve === Oid.secp384r1 ? [ALG.ecdhSha384, ALG.ecdhSha512, ALG.ecdhSha256] : [ALG.ecdhSha256, ALG.ecdhSha384, ALG.ecdhSha512];
    const alg = pick(preferred, offered, 'ECDH key agreement scheme');
    const kdf = alg === ALG.ecdhSha512 ? 'SHA-512' : alg === ALG.ecdhSha384 ? 'SHA-384' : 'SHA-256';
    env.addRecipientByCertificate(cert, { kdfAlgorithm: kdf, kekEncryptionLength: 256 }, 2, nodeEngine);
    return;
  }
  throw new KeyProtectionError(`cannot encrypt to a ${spkiAlg} key (RSA or EC expected)`);
}

/** Throws KeyProtectionError when `protection` cannot be used as asked (run before issuing anything). */
export function checkKeyProtection(protection: KeyProtection, offered?: readonly string[]): void {
  addRecipient(new pkijs.EnvelopedData(), protection, offered);
}

/** The subjectKeyIdentifier of a DER certificate, if it has one. */
export function subjectKeyIdentifier(certDer: Uint8Array): Uint8Array | undefined {
  const ext = pkijsCertificate(certDer).extensions?.find((e) => e.extnID === Oid.subjectKeyIdentifier);
  const v = ext?.parsedValue as asn1js.OctetString | undefined;
  return v ? new Uint8Array(v.valueBlock.valueHexView) : undefined;
}

/**
 * The `application/pkcs7-mime; smime-type=server-generated-key` body (DER ContentInfo): the PKCS#8
 * key as an AsymmetricKeyPackage (RFC 5958 §3), signed by `signer` when one is given (RFC 7030
 * §4.4.2: SignedData by whoever generated the key), then enveloped (AES-256-CBC) for the recipient.
 *
 * @param offered capability OIDs from the CSR's SMIMECapabilities, when it has one
 */
export async function serverGeneratedKey(pkcs8: Uint8Array, protection: KeyProtection, signer: CmsSigner | undefined, offered?: readonly string[]): Promise<Uint8Array> {
  const keyPackage = new Uint8Array(new asn1js.Sequence({ value: [fromDer(pkcs8, 'PKCS#8 key')] }).toBER(false));
  const inner = signer ? await signedDataContent(A_KEY_PACKAGE_OID, keyPackage, signer) : keyPackage;
  const env = new pkijs.EnvelopedData();
  addRecipient(env, protection, offered);
  await env.encrypt({ name: 'AES-CBC', length: 256 } as unknown as Parameters<pkijs.EnvelopedData['encrypt']>[0], new Uint8Array(inner).buffer, nodeEngine);
  // pkijs labels the content id-data; say what it is (RFC 5652 §6.1).
  env.encryptedContentInfo.contentType = signer ? CMS_OID.signedData : A_KEY_PACKAGE_OID;
  return toDer(new pkijs.ContentInfo({ contentType: CMS_OID.envelopedData, content: env.toSchema() }));
}

/** How the client opens the key it asked to be encrypted: its pre-shared key, or its certificate and private key. */
export type KeyUnprotection = { kind: 'symmetric'; key: Uint8Array } | { kind: 'certificate'; certificate: Uint8Array; privateKeyPkcs8: Uint8Array };

/** An opened server-generated key: the PKCS#8, and who signed it (absent when the server did not sign). */
export interface OpenedServerKey {
  pkcs8: Uint8Array;
  signer?: X509Certificate;
  /** Every certificate the SignedData carried (for the caller's trust decision). */
  certificates: X509Certificate[];
}

/**
 * Decrypts a `smime-type=server-generated-key` body (the inverse of serverGeneratedKey): finds the
 * recipient info that fits `unprotection`, decrypts, verifies the SignedData signature when there
 * is one (RFC 7030 §4.4.2) and returns the one key of the AsymmetricKeyPackage. Throws
 * KeyProtectionError when it cannot.
 */
export async function openServerGeneratedKey(der: Uint8Array, unprotection: KeyUnprotection): Promise<OpenedServerKey> {
  let env: pkijs.EnvelopedData;
  try {
    const ci = new pkijs.ContentInfo({ schema: fromDer(der, 'ContentInfo') });
    if (ci.contentType !== CMS_OID.envelopedData) throw new KeyProtectionError(`expected EnvelopedData, got content type ${ci.contentType}`);
    env = new pkijs.EnvelopedData({ schema: ci.content });
  } catch (e) {
    if (e instanceof KeyProtectionError) throw e;
    throw new KeyProtectionError(`malformed EnvelopedData: ${(e as Error).message}`);
  }
  const want = unprotection.kind === 'symmetric' ? [3] : [1, 2];
  const index = env.recipientInfos.findIndex((r) => want.includes(r.variant));
  if (index < 0) throw new KeyProtectionError(`no ${unprotection.kind === 'symmetric' ? 'KEKRecipientInfo' : 'KeyTransRecipientInfo or KeyAgreeRecipientInfo'} in the EnvelopedData`);
  let inner: Uint8Array;
  try {
    const params =
      unprotection.kind === 'symmetric'
        ? { preDefinedData: new Uint8Array(unprotection.key) }
        : { recipientCertificate: pkijsCertificate(unprotection.certificate), recipientPrivateKey: new Uint8Array(unprotection.privateKeyPkcs8) };
    inner = new Uint8Array(await env.decrypt(index, params, nodeEngine));
  } catch (e) {
    throw new KeyProtectionError(`cannot decrypt the server-generated key: ${(e as Error).message}`);
  }
  const contentType = env.encryptedContentInfo.contentType;
  let keyPackage = inner;
  const out: OpenedServerKey = { pkcs8: new Uint8Array(0), certificates: [] };
  if (contentType === CMS_OID.signedData) {
    try {
      const sd = readSignedData(toDer(new pkijs.ContentInfo({ contentType, content: fromDer(inner, 'SignedData') })));
      if (sd.eContentType !== A_KEY_PACKAGE_OID) throw new KeyProtectionError(`the SignedData holds ${sd.eContentType}, not an AsymmetricKeyPackage`);
      const who = await verifySignedData(sd, []);
      out.signer = who.tag as X509Certificate;
      out.certificates = sd.certificates;
      keyPackage = sd.content;
    } catch (e) {
      if (e instanceof KeyProtectionError) throw e;
      throw new KeyProtectionError(`the server-generated key's signature: ${(e as Error).message}`);
    }
  } else if (contentType !== A_KEY_PACKAGE_OID) {
    throw new KeyProtectionError(`unexpected encrypted content type ${contentType}`);
  }
  // AsymmetricKeyPackage ::= SEQUENCE SIZE (1..MAX) OF OneAsymmetricKey (RFC 5958 §3): exactly one here.
  const pkg = fromDer(keyPackage, 'AsymmetricKeyPackage');
  const keys = pkg instanceof asn1js.Sequence ? pkg.valueBlock.value : [];
  if (keys.length !== 1) throw new KeyProtectionError(`expected one key in the AsymmetricKeyPackage, got ${keys.length}`);
  out.pkcs8 = new Uint8Array(keys[0]!.toBER(false));
  return out;
}
