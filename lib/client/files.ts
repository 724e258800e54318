// Output files: PEM/DER/PKCS#12, written atomically (temp file + rename) with private keys at 0600.
import { randomBytes, type KeyObject, type X509Certificate } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { toPem } from '../protocol/pem.js';

/** Replaces `path` atomically: readers see the old or the new content, never a partial file. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
}

/** Certificates as concatenated PEM blocks. */
export function certificatesPem(certs: readonly X509Certificate[]): string {
  return certs.map((c) => toPem(new Uint8Array(c.raw), 'CERTIFICATE')).join('');
}

/** A private key as PKCS#8 PEM. */
export function privateKeyPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }) as string;
}
