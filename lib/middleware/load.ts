// Reads option values that nginx takes as file names: a path, or PEM/DER content given inline.
import { KeyObject, type X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EstConfigError } from '../errors.js';
import { parseCertificates, parsePrivateKey, type MaterialError } from '../protocol/material.js';
import { looksLikePem } from '../protocol/pem.js';

/** A file path, or the file's content as a PEM/DER string or Buffer. */
export type PathOrContent = string | Buffer | Uint8Array;

/** Formats the start of every option error: est: `name` (directive). */
export function optionLabel(name: string, directive?: string): string {
  return directive ? `est: \`${name}\` (${directive})` : `est: \`${name}\``;
}

/** Loads bytes from a path or inline content; `path` is set when it came from a file. */
export function loadBytes(value: PathOrContent, label: string): { bytes: Uint8Array; path?: string } {
  if (typeof value === 'string') {
    if (looksLikePem(value)) return { bytes: Buffer.from(value, 'latin1') };
    if (value.length === 0) throw new EstConfigError(`${label} must not be empty`);
    try {
      return { bytes: readFileSync(value), path: value };
    } catch (e) {
      throw new EstConfigError(`${label} cannot read ${value}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
  }
  if (value instanceof Uint8Array) {
    if (value.length === 0) throw new EstConfigError(`${label} must not be empty`);
    return { bytes: value };
  }
  throw new EstConfigError(`${label} must be a file path, PEM/DER content (string or Buffer)`);
}

/** Every certificate in a PEM bundle, or one DER certificate. */
export function loadCertificates(value: PathOrContent, label: string): X509Certificate[] {
  const { bytes, path } = loadBytes(value, label);
  const where = path ? ` in ${path}` : '';
  try {
    return parseCertificates(bytes);
  } catch (e) {
    const { index, message } = e as MaterialError;
    if (index === undefined) throw new EstConfigError(`${label} holds no PEM CERTIFICATE block${where}`, { cause: e });
    throw new EstConfigError(`${label} certificate #${index + 1}${where} cannot be parsed: ${message}`, { cause: e });
  }
}

/** A private key from a KeyObject, a path, or PEM/DER content (unencrypted; like the module). */
export function loadPrivateKey(value: PathOrContent | KeyObject, label: string): KeyObject {
  if (value instanceof KeyObject) {
    if (value.type !== 'private') throw new EstConfigError(`${label} must be a private key (got a ${value.type} key)`);
    return value;
  }
  const { bytes, path } = loadBytes(value, label);
  try {
    return parsePrivateKey(bytes);
  } catch (e) {
    const { encrypted, message } = e as MaterialError;
    const msg = encrypted ? 'is encrypted (a key without a passphrase is required)' : `is not a readable private key (${message})`;
    throw new EstConfigError(`${label} ${msg}${path ? `: ${path}` : ''}`, { cause: e });
  }
}
