// One writer for index.txt under `est-server --workers`: each worker sends each tick's new records
// to the primary at once (not after its previous batch is answered), which appends them (group commit: one lock, one fsync per file for whatever
// every worker sent meanwhile) and answers once they are durable.
//
// Without it the workers take turns at the index lock; a lock polled by processes whose event
// loops are busy serving requests is held for tens of milliseconds per batch, and enrollment
// under load halved. The primary serves no requests, so its turn at the lock is short. Other
// writers (est-admin, `openssl ca`, a revocation in a worker) still go through the lock.
import cluster, { type Worker } from 'node:cluster';
import { FileLock } from '../ca/file-lock.js';
import type { SerialStore } from '../ca/types.js';
import { EstStoreError } from '../errors.js';
import { FileRecordStore, type LedgerRelay } from './file-store.js';
import type { CertificateRecord } from './types.js';

/** Set by est-server's primary in each worker's environment: write index.txt through the primary. */
export const LEDGER_RELAY_ENV = 'EST_LEDGER_RELAY';

/** A CertificateRecord as it crosses the IPC channel (JSON: dates as ISO text, DER as base64). */
type WireRecord = Omit<CertificateRecord, 'notBefore' | 'notAfter' | 'issuedAt' | 'revokedAt' | 'certificate'> & { notBefore: string; notAfter: string; issuedAt: string; certificate: string };

interface RelayRequest {
  type: 'est-ledger';
  id: number;
  index: string;
  lock: string;
  records: WireRecord[];
}

interface RelayReply {
  type: 'est-ledger-done';
  id: number;
  error?: { code: string; message: string; status: number; retryAfter?: number };
}

function toWire(r: CertificateRecord): WireRecord {
  const { notBefore, notAfter, issuedAt, certificate, revokedAt: _revokedAt, ...rest } = r;
  return { ...rest, notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(), issuedAt: issuedAt.toISOString(), certificate: Buffer.from(certificate).toString('base64') };
}

function fromWire(w: WireRecord): CertificateRecord {
  return { ...w, notBefore: new Date(w.notBefore), notAfter: new Date(w.notAfter), issuedAt: new Date(w.issuedAt), certificate: new Uint8Array(Buffer.from(w.certificate, 'base64')) };
}


let workerSide: LedgerRelay | undefined;

/** In an est-server worker (LEDGER_RELAY_ENV set), the relay to the primary; otherwise undefined. */
export function clusterLedgerRelay(): LedgerRelay | undefined {
  if (!cluster.isWorker || process.env[LEDGER_RELAY_ENV] !== '1' || !process.send) return undefined;
  if (workerSide) return workerSide;
  const waiting = new Map<number, { resolve(): void; reject(e: Error): void }>();
  let nextId = 1;
  process.on('message', (m: RelayReply) => {
    if (m?.type !== 'est-ledger-done') return;
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.error) w.reject(new EstStoreError(m.error.code, m.error.message, { status: m.error.status, ...(m.error.retryAfter !== undefined ? { retryAfter: m.error.retryAfter } : {}) }));
    else w.resolve();
  });
  process.once('disconnect', () => {
    for (const w of waiting.values()) w.reject(new EstStoreError('ERR_EST_STORE_UNAVAILABLE', 'record store: the est-server primary went away before the record was written'));
    waiting.clear();
  });
  workerSide = (index, lock, records) =>
    new Promise<void>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      const message: RelayRequest = { type: 'est-ledger', id, index, lock, records: records.map(toWire) };
      process.send!(message, undefined, {}, (err: Error | null) => {
        if (!err) return;
        waiting.delete(id);
        reject(new EstStoreError('ERR_EST_STORE_UNAVAILABLE', `record store: cannot reach the est-server primary (${err.message})`));
      });
    });
  return workerSide;
}

/** Serials are never taken through the primary's writer. */
const NO_SERIALS: SerialStore = {
  next: () => Promise.reject(new Error('the ledger relay allocates no serials')),
};

/** The primary's side: one FileRecordStore per index.txt the workers write, opened on first use. */
export class LedgerRelayServer {
  private readonly stores = new Map<string, FileRecordStore>();

  /** `onOpen` is told each index.txt the first time a worker sends records for it. */
  constructor(private readonly onOpen?: (index: string) => void) {}

  /** Handles a worker's message; returns false when it is not a relay request. */
  handle(worker: Worker, m: unknown): boolean {
    const req = m as RelayRequest;
    if (typeof m !== 'object' || m === null || req.type !== 'est-ledger') return false;
    const reply = (error?: RelayReply['error']) => {
      if (worker.isConnected()) worker.send({ type: 'est-ledger-done', id: req.id, ...(error ? { error } : {}) } satisfies RelayReply);
    };
    let store: FileRecordStore;
    try {
      store = this.storeFor(req.index, req.lock);
    } catch (e) {
      reply(errorOf(e));
      return true;
    }
    Promise.all(req.records.map((w) => store.record(fromWire(w)))).then(
      () => reply(),
      (e: unknown) => reply(errorOf(e)),
    );
    return true;
  }

  private storeFor(index: string, lock: string): FileRecordStore {
    let s = this.stores.get(index);
    if (!s) {
      s = new FileRecordStore({ indexPath: index, serialStore: NO_SERIALS, lock: new FileLock(lock, `index ${index}`), watchIntervalMs: 0 });
      this.stores.set(index, s);
      this.onOpen?.(index);
    }
    return s;
  }

  async close(): Promise<void> {
    await Promise.all([...this.stores.values()].map((s) => s.close()));
    this.stores.clear();
  }
}

function errorOf(e: unknown): RelayReply['error'] {
  if (e instanceof EstStoreError) return { code: e.code, message: e.message, status: e.status, ...(e.retryAfter !== undefined ? { retryAfter: e.retryAfter } : {}) };
  return { code: 'ERR_EST_STORE_UNAVAILABLE', message: `record store: ${(e as Error).message}`, status: 503, retryAfter: 5 };
}
