// Operating the ledger from code: open a store, revoke, write a CRL, import the embedded files into PostgreSQL.
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type pg from 'pg';
import { EstStoreError } from '../errors.js';
import { FileSerialStore, parseSerialFile } from '../ca/serial-file-store.js';
import { RandomSerialStore } from '../ca/random-serial-store.js';
import { buildCrl } from './crl.js';
import { FileRecordStore, defaultIndexPath } from './file-store.js';
import { createPool, importRecords, PostgresRecordStore } from './postgres-store.js';
import type { RecordStore, RevocationReason } from './types.js';

/** Where the ledger is: a PostgreSQL URL or pool, or the embedded files. */
export interface StoreLocation {
  /** `postgres://…` or a `pg.Pool`. */
  store?: string | pg.Pool;
  /** The serial file (`caSerialNumber`); its lock guards index.txt. */
  serialFile?: string;
  /** index.txt. @default derived from `serialFile` (`ca.srl` → `ca.index.txt`) */
  index?: string;
}

/**
 * Opens the store an operator points at, for one-off work (no file watching). Throws
 * EstStoreError when it cannot (unreachable database, missing schema, corrupt index.txt);
 * `onError` hears what it works around (a damaged ledger line).
 */
export async function openStore(where: StoreLocation, options: { onError?: (e: Error) => void } = {}): Promise<RecordStore> {
  const onError = options.onError ? { onError: options.onError } : {};
  if (where.store !== undefined) {
    if (typeof where.store === 'string' && !/^postgres(ql)?:\/\//.test(where.store)) {
      throw new EstStoreError('ERR_EST_STORE_URL', `store must be a postgres:// URL (got ${JSON.stringify(where.store.slice(0, 40))})`, { status: 500 });
    }
    const s = new PostgresRecordStore(where.store, onError);
    try {
      await s.open();
    } catch (e) {
      await s.close().catch(() => {});
      throw e;
    }
    return s;
  }
  if (where.serialFile === undefined && where.index === undefined) {
    throw new EstStoreError('ERR_EST_STORE_URL', 'no store given: pass a postgres:// URL, or the serial file / index.txt', { status: 500 });
  }
  const serial = where.serialFile !== undefined ? new FileSerialStore(where.serialFile) : undefined;
  const indexPath = where.index ?? defaultIndexPath(where.serialFile!);
  return new FileRecordStore({ indexPath, serialStore: serial ?? new RandomSerialStore(), ...(serial ? { lock: serial.lock } : {}), watchIntervalMs: 0, closeSerialStore: true, ...onError });
}

/** Revokes one certificate; throws `ERR_EST_STORE_UNKNOWN_SERIAL` (404) for a serial never issued. */
export function revokeCertificate(store: RecordStore, serial: string, reason: RevocationReason = 'unspecified', by = 'est-admin'): ReturnType<RecordStore['revoke']> {
  return store.revoke(serial, reason, by);
}

/** Options of {@link createCrl}. */
export interface CreateCrlOptions {
  /** The CA certificate (PEM or DER bytes, or a path). */
  caCertificate: string | Uint8Array;
  /** The CA private key (PEM or DER bytes, a path, or a KeyObject). */
  caKey: string | Uint8Array | KeyObject;
  /** cRLNumber. @default the current Unix time in seconds (increases from one run to the next) */
  crlNumber?: bigint;
  /** Days until nextUpdate, 0 to {@link MAX_NEXT_UPDATE_DAYS}. @default 7 */
  nextUpdateDays?: number;
}

/** nextUpdate's bound (init-ca's `--days` bound): well inside a Time's year 9999 (RFC 5280 §5.1.2.5). */
export const MAX_NEXT_UPDATE_DAYS = 36_500;
/** cRLNumber is a non-negative INTEGER of at most 20 octets (RFC 5280 §5.2.3). */
const CRL_NUMBER_LIMIT = 1n << 159n;

function crlOption(message: string): EstStoreError {
  return new EstStoreError('ERR_EST_STORE_CRL_OPTION', `createCrl: ${message}`, { status: 500 });
}

function bytesOf(v: string | Uint8Array): Uint8Array {
  if (typeof v !== 'string') return v;
  return v.includes('-----BEGIN') ? Buffer.from(v) : readFileSync(v);
}

/** A CRL of every revocation in `store`, signed by the CA (DER). @see RFC 5280 §5 */
export async function createCrl(store: RecordStore, options: CreateCrlOptions): Promise<Uint8Array> {
  const days = options.nextUpdateDays ?? 7;
  if (typeof days !== 'number' || !(days >= 0 && days <= MAX_NEXT_UPDATE_DAYS)) {
    throw crlOption(`nextUpdateDays must be a number of days from 0 to ${MAX_NEXT_UPDATE_DAYS} (got ${String(days)})`);
  }
  const { crlNumber } = options;
  if (crlNumber !== undefined && (typeof crlNumber !== 'bigint' || crlNumber < 0n || crlNumber >= CRL_NUMBER_LIMIT)) {
    throw crlOption(`crlNumber must be a bigint from 0 to 2^159 - 1, at most 20 octets (got ${String(crlNumber).slice(0, 60)})`);
  }
  const cert = new X509Certificate(bytesOf(options.caCertificate));
  const key = typeof options.caKey === 'object' && 'asymmetricKeyType' in options.caKey ? options.caKey : createPrivateKey(Buffer.from(bytesOf(options.caKey as string | Uint8Array)));
  if (!cert.checkPrivateKey(key)) throw new EstStoreError('ERR_EST_STORE_CRL_KEY', 'the CA key does not match the CA certificate', { status: 500 });
  const now = new Date();
  return buildCrl({
    caCertificate: new Uint8Array(cert.raw),
    caKey: key,
    revoked: await store.revoked(),
    crlNumber: crlNumber ?? BigInt(Math.floor(now.getTime() / 1000)),
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + days * 86_400_000),
  });
}

/**
 * Copies the embedded store (serial file + index.txt + ledger) into PostgreSQL, and moves its
 * serial allocation past both the serial file's value and the highest imported serial.
 */
export async function importFiles(pool: pg.Pool | string, files: { serialFile?: string; index?: string }): Promise<{ inserted: number; nextSerialAbove: bigint }> {
  const p = typeof pool === 'string' ? createPool(pool) : pool;
  try {
    let highest = 0n;
    if (files.serialFile !== undefined) {
      try {
        highest = parseSerialFile(readFileSync(files.serialFile, 'latin1'), files.serialFile);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    const indexPath = files.index ?? (files.serialFile !== undefined ? defaultIndexPath(files.serialFile) : undefined);
    if (indexPath === undefined) throw new EstStoreError('ERR_EST_STORE_URL', 'db import needs the serial file or index.txt', { status: 500 });
    const file = new FileRecordStore({ indexPath, serialStore: new RandomSerialStore(), watchIntervalMs: 0 });
    try {
      return await importRecords(p, file.all(), highest);
    } finally {
      await file.close();
    }
  } finally {
    if (typeof pool === 'string') await p.end();
  }
}
