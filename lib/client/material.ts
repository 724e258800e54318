// Certificates and keys given to the client as PEM, DER or Node objects (PEM only at the edges).
import { KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseCertificates, parsePrivateKey } from '../protocol/material.js';
import { EstClientConfigError } from './errors.js';

/** One or more certificates: PEM text (any number of blocks), DER bytes, or X509Certificate. */
export type CertificateInput = string | Uint8Array | X509Certificate | readonly (string | Uint8Array | X509Certificate)[];

/** A private key: PEM text, DER PKCS#8 bytes, or a KeyObject. */
export type PrivateKeyInput = string | Uint8Array | KeyObject;

/** Parses certificate input into X509Certificate objects (PEM may hold several). */
export function toCertificates(input: CertificateInput, what: string): X509Certificate[] {
  const items = (Array.isArray(input) ? input : [input]) as (string | Uint8Array | X509Certificate)[];
  return items.flatMap((item) => {
    if (item instanceof X509Certificate) return [item];
    try {
      return parseCertificates(item);
    } catch (e) {
      throw new EstClientConfigError(`${what}: not a certificate (PEM or DER): ${(e as Error).message}`);
    }
  });
}

/** Parses a private key (PEM: PKCS#8, PKCS#1 RSA, SEC1 EC; DER: PKCS#8 or SEC1). */
export function toPrivateKey(input: PrivateKeyInput, what: string): KeyObject {
  if (input instanceof KeyObject) {
    if (input.type !== 'private') throw new EstClientConfigError(`${what}: expected a private key`);
    return input;
  }
  try {
    return parsePrivateKey(input);
  } catch (e) {
    throw new EstClientConfigError(`${what}: not an unencrypted private key (PEM, or DER PKCS#8 or SEC1): ${(e as Error).message}`);
  }
}

/** Reads a file for the CLI, with a message naming the option. */
export function readInputFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new EstClientConfigError(`${what}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** SHA-256 fingerprint in the canonical form used for comparisons: lower-case hex, no separators. */
export function normalizeFingerprint(fp: string): string {
  return fp.replace(/^sha256[:=]/i, '').replace(/[:\s-]/g, '').toLowerCase();
}

/** The SHA-256 fingerprint of a certificate, normalized. */
export function fingerprintOf(cert: X509Certificate): string {
  return normalizeFingerprint(cert.fingerprint256);
}
