// What bench:ledger and bench:ledger-read share: the compiled FileRecordStore, a real leaf
// certificate (index.txt's line takes its subject) and a record of it under any serial.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FileRecordStore as Store } from '../lib/store/file-store.js';
import type { CertificateRecord } from '../lib/store/types.js';
import { recordInput } from '../spec/store/pending-contract.js';

/**
 * Opens FileRecordStores of the compiled lib/ at `lib` (loaded once, here, so that opening one
 * measures the store alone): on `dir`/index.txt, with no serial store and no watching.
 */
export async function benchFileStores(lib: string): Promise<(dir: string) => Store> {
  const { FileRecordStore } = (await import(pathToFileURL(join(lib, 'store/file-store.js')).href)) as typeof import('../lib/store/file-store.js');
  return (dir) => new FileRecordStore({ indexPath: join(dir, 'index.txt'), serialStore: { next: () => Promise.resolve([]) }, watchIntervalMs: 0 });
}

/** A self-signed P-256 certificate for CN=device-0001 written (DER) to `path` with the openssl CLI. */
export function writeBenchLeaf(path: string, keyPath: string): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-subj', '/CN=device-0001/O=Bench Devices', '-addext', 'subjectAltName=DNS:device-0001.example', '-days', '30', '-outform', 'DER', '-out', path], { stdio: 'ignore' });
}

/** Records of the leaf at `leafPath`: the store's contract tests' record, under serial `serial` (hex). */
export function benchRecords(leafPath: string): (serial: bigint) => CertificateRecord {
  const template = recordInput('0', { certificate: new Uint8Array(readFileSync(leafPath)), subject: 'CN=device-0001,O=Bench Devices', sans: ['DNS:device-0001.example'] });
  return (serial) => ({ ...template, serial: serial.toString(16).toUpperCase(), issuedAt: new Date() });
}
