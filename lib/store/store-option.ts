// The `store` option: which RecordStore a value names (a store, a postgres:// URL, a pg.Pool, or none).
import type pg from 'pg';
import type { SerialStore } from '../ca/types.js';
import type { FileLock } from '../ca/file-lock.js';
import { FileRecordStore } from './file-store.js';
import { PostgresRecordStore } from './postgres-store.js';
import type { RecordStore } from './types.js';

/**
 * Value of the `store` option: a {@link RecordStore}, a `postgres://` / `postgresql://` URL, a
 * `pg.Pool`, or `false` for no ledger at all.
 */
export type StoreOption = RecordStore | string | pg.Pool | false;

const METHODS = ['nextSerials', 'record', 'get', 'status', 'list', 'revoke', 'revoked', 'putPending', 'pendingByKey', 'pendingById', 'listPending', 'decide', 'check', 'close'] as const;

/** The RecordStore methods `v` lacks (empty when it is one). */
export function missingStoreMethods(v: object): string[] {
  return METHODS.filter((m) => typeof (v as Record<string, unknown>)[m] !== 'function');
}

/** Whether `v` looks like a pg.Pool (duck-typed: another copy of `pg` may have made it). */
export function isPgPool(v: unknown): v is pg.Pool {
  const o = v as Record<string, unknown>;
  return typeof v === 'object' && v !== null && typeof o.query === 'function' && typeof o.connect === 'function' && typeof o.end === 'function' && 'totalCount' in o;
}

/** Why a string is not a usable PostgreSQL URL, or undefined when it is. */
export function badPostgresUrl(s: string): string | undefined {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return 'is not a URL';
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') return `must be a postgres:// URL (got ${u.protocol}//…)`;
  if (!u.hostname && !u.searchParams.get('host')) return 'names no host';
  return undefined;
}

/** A store that must be opened (connected, schema checked) before the first request. */
export interface Openable {
  open(): Promise<void>;
}

export function isOpenable(s: RecordStore): s is RecordStore & Openable {
  return typeof (s as Partial<Openable>).open === 'function';
}

/** Builds the embedded store over `serialStore`, writing index.txt under `lock` (the serial file's). */
export function embeddedStore(indexPath: string, serialStore: SerialStore, lock: FileLock | undefined, onError?: (e: Error) => void): FileRecordStore {
  return new FileRecordStore({ indexPath, serialStore, ...(lock ? { lock } : {}), ...(onError ? { onError } : {}) });
}

/** The PostgreSQL store for a URL or pool (not yet opened). */
export function postgresStore(value: string | pg.Pool, onError?: (e: Error) => void): PostgresRecordStore {
  return new PostgresRecordStore(value, onError ? { onError } : {});
}
