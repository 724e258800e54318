// /serverkeygen key protection (RFC 7030 §4.4.1.1, §4.4.1.2): which key the CSR names, found before anything is issued.
import { X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import { estError } from '../errors.js';
import { Oid } from '../protocol/constants.js';
import { checkKeyProtection, KeyProtectionError, serverGeneratedKey, smimeCapabilityOids, subjectKeyIdentifier, type KeyProtection } from '../protocol/cms-server-key.js';
import type { ParsedCsr } from '../protocol/pkcs10.js';
import { fromDer, PkixDecodeError } from '../protocol/pkix.js';
import { certificateRevoked } from '../store/revoked.js';
import type { RequestContext } from './context.js';
import { storeUnavailable } from './store-unavailable.js';

/** A resolved request for an encrypted key: the key or certificate to encrypt to, and the client's algorithms. */
export interface KeyRequest {
  protection: KeyProtection;
  offered?: string[];
}

/** The single OCTET STRING value of a CSR attribute. */
function octetAttribute(csr: ParsedCsr, oid: string, name: string): Uint8Array | undefined {
  const attr = csr.attributes.find((a) => a.oid === oid);
  if (!attr) return undefined;
  try {
    const v = attr.values.length === 1 ? fromDer(attr.values[0]!, name) : undefined;
    if (v instanceof asn1js.OctetString && v.valueBlock.valueHexView.length > 0) return new Uint8Array(v.valueBlock.valueHexView);
  } catch (e) {
    if (!(e instanceof PkixDecodeError)) throw e;
  }
  throw estError('ERR_EST_CSR_MALFORMED', `malformed PKCS#10 request: ${name} must be one non-empty OCTET STRING`);
}

/** A `serverKeygenRecipients` answer (an X509Certificate, PEM or DER) as a certificate. */
function x509Of(v: X509Certificate | string | Uint8Array): X509Certificate {
  return v instanceof X509Certificate ? v : new X509Certificate(typeof v === 'string' ? v : Buffer.from(v));
}

/**
 * Reads DecryptKeyIdentifier / AsymmetricDecryptKeyIdentifier and finds the key they name:
 * the app's pre-shared key (`serverKeygenKeys`); for the asymmetric case the client's own verified
 * TLS certificate when its subjectKeyIdentifier matches, else the app's `serverKeygenRecipients`.
 * Unknown identifier: 400 (RFC 7030 §4.4.1.1/§4.4.1.2 "terminate the request and return an
 * error"); not configured at all: 501. Undefined when the CSR asks for no encryption.
 */
export async function keyRequestOf(ctx: RequestContext, csr: ParsedCsr): Promise<KeyRequest | undefined> {
  const symmetricId = octetAttribute(csr, Oid.decryptKeyIdentifier, 'DecryptKeyIdentifier');
  const asymmetricId = octetAttribute(csr, Oid.asymmDecryptKeyIdentifier, 'AsymmetricDecryptKeyIdentifier');
  if (!symmetricId && !asymmetricId) return undefined;
  if (symmetricId && asymmetricId) throw estError('ERR_EST_CSR_MALFORMED', 'malformed PKCS#10 request: both DecryptKeyIdentifier and AsymmetricDecryptKeyIdentifier present');
  let offered: string[] | undefined;
  const caps = csr.attributes.find((a) => a.oid === Oid.smimeCapabilities);
  if (caps) {
    try {
      offered = caps.values.flatMap((v) => smimeCapabilityOids(v));
    } catch (e) {
      throw estError('ERR_EST_CSR_MALFORMED', `malformed PKCS#10 request: SMIMECapabilities: ${(e as Error).message}`);
    }
  }
  let protection: KeyProtection;
  if (symmetricId) {
    const lookup = ctx.config.serverKeygenKeys;
    if (!lookup) throw estError('ERR_EST_KEY_ENCRYPTION', 'DecryptKeyIdentifier: no pre-shared keys are configured on this server (serverKeygenKeys); omit it to receive the key over TLS');
    const key = await lookup(symmetricId);
    if (!key) throw estError('ERR_EST_KEY_UNKNOWN', `no pre-shared key known for DecryptKeyIdentifier ${Buffer.from(symmetricId).toString('hex')}`);
    protection = { kind: 'symmetric', keyId: symmetricId, key: new Uint8Array(key) };
  } else {
    const id = Buffer.from(asymmetricId!);
    let recipient: X509Certificate | undefined;
    const own = ctx.facts.clientCertificateVerified ? ctx.facts.clientCertificate : undefined;
    if (own) {
      const ski = subjectKeyIdentifier(new Uint8Array(own.raw));
      if (ski && id.equals(ski)) recipient = own;
    }
    if (!recipient && ctx.config.serverKeygenRecipients) {
      const found = await ctx.config.serverKeygenRecipients(asymmetricId!);
      if (found !== undefined) recipient = x509Of(found);
    }
    if (!recipient) throw estError('ERR_EST_KEY_UNKNOWN', `no certificate known for AsymmetricDecryptKeyIdentifier ${id.toString('hex')}`);
    await refuseRevokedRecipient(ctx, recipient);
    protection = { kind: 'certificate', certificate: new Uint8Array(recipient.raw) };
  }
  try {
    checkKeyProtection(protection, offered);
  } catch (e) {
    if (e instanceof KeyProtectionError) throw estError('ERR_EST_KEY_UNUSABLE', `the identified key cannot protect the server-generated key: ${e.message}`);
    throw e;
  }
  return offered ? { protection, offered } : { protection };
}

/**
 * A new private key is not sealed to a certificate the ledger has revoked (RFC 5280 §5.3; its
 * key may be the compromised one): 400, as any key that cannot protect it.
 */
async function refuseRevokedRecipient(ctx: RequestContext, cert: X509Certificate): Promise<void> {
  const store = ctx.config.store;
  if (!store) return;
  let revoked: boolean;
  try {
    revoked = await certificateRevoked(store, cert);
  } catch (e) {
    throw storeUnavailable(ctx, 'the certificate ledger cannot be read', e, { serial: cert.serialNumber });
  }
  if (revoked) throw estError('ERR_EST_KEY_UNUSABLE', `the identified key cannot protect the server-generated key: its certificate (serial ${cert.serialNumber.toUpperCase()}) has been revoked`);
}

/** The encrypted key part's body (DER), signed by the configured CMS signer when there is one. */
export function encryptedKey(ctx: RequestContext, pkcs8: Uint8Array, request: KeyRequest): Promise<Uint8Array> {
  return serverGeneratedKey(pkcs8, request.protection, ctx.config.cmsSigner, request.offered);
}
