// Certificates and private keys from PEM or DER into Node objects: the one loader behind the
// middleware's options (middleware/load.ts) and the client's inputs (client/material.ts).
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { looksLikePem, parsePem } from './pem.js';

/** PEM labels that hold an X.509 certificate (RFC 7468 §5.1, plus OpenSSL's older ones). */
const CERTIFICATE_LABELS: ReadonlySet<string> = new Set(['CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE']);

/**
 * Why material could not be loaded. Callers wrap it in their own error class (EstConfigError,
 * EstClientConfigError) with the option or argument it came from.
 */
export class MaterialError extends Error {
  /** For certificates: the 0-based position of the one that failed; undefined when none was found. */
  readonly index: number | undefined;
  /** For keys: the key is encrypted (only unencrypted keys are read, like nginx-http-est). */
  readonly encrypted: boolean;
  constructor(message: string, options: { index?: number; encrypted?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MaterialError';
    this.index = options.index;
    this.encrypted = options.encrypted ?? false;
  }
}

/** Every certificate in PEM text (any number of blocks; a string is always PEM), or one DER certificate. */
export function parseCertificates(input: string | Uint8Array): X509Certificate[] {
  let ders: Uint8Array[];
  if (typeof input === 'string' || looksLikePem(input)) {
    const text = typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
    ders = parsePem(text).filter((b) => CERTIFICATE_LABELS.has(b.label)).map((b) => b.der);
    if (ders.length === 0) throw new MaterialError('no CERTIFICATE PEM block');
  } else {
    ders = [input];
  }
  return ders.map((der, index) => {
    try {
      return new X509Certificate(Buffer.from(der));
    } catch (e) {
      throw new MaterialError((e as Error).message, { index, cause: e });
    }
  });
}

/** An unencrypted private key: PEM (PKCS#8, PKCS#1 RSA, SEC1 EC; a string is always PEM), or DER PKCS#8 or SEC1. */
export function parsePrivateKey(input: string | Uint8Array): KeyObject {
  const key = typeof input === 'string' ? input : Buffer.from(input);
  try {
    if (typeof key === 'string' || looksLikePem(key)) return createPrivateKey({ key, format: 'pem' });
    try {
      return createPrivateKey({ key, format: 'der', type: 'pkcs8' });
    } catch {
      return createPrivateKey({ key, format: 'der', type: 'sec1' });
    }
  } catch (e) {
    const message = (e as Error).message;
    // OpenSSL 3 says "interrupted or cancelled" for an encrypted PEM key read without a passphrase.
    const text = typeof key === 'string' ? key : key.toString('latin1');
    const encrypted = /passphrase|encrypted/i.test(message) || /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text);
    throw new MaterialError(message, { encrypted, cause: e });
  }
}
