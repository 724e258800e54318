// An in-memory RecordStore: complete, for tests and as the reference for the contract in types.ts.
import { randomUUID } from 'node:crypto';
import { EstStoreError } from '../errors.js';
import type {
  CertificateRecord,
  PendingQuery,
  PendingRequest,
  RecordQuery,
  RecordStore,
  RevocationReason,
  SerialStatus,
} from './types.js';

/** Serial as a lookup key: uppercase hex without leading zeros (`00AB` and `ab` are one serial). */
export function serialKey(serial: string): string {
  const s = serial.replace(/:/g, '').toUpperCase().replace(/^0+/, '');
  return s === '' ? '0' : s;
}

/** Uppercase hex with an even number of digits, as the serial file and `openssl ca` write it. */
export function formatSerial(n: bigint): string {
  const h = n.toString(16).toUpperCase();
  return h.length % 2 ? '0' + h : h;
}

const DAY_MS = 86_400_000;

export interface MemoryStoreOptions {
  /** The first serial `nextSerials` hands out. @default 1 */
  firstSerial?: bigint;
  /** The clock (tests move it). @default () => new Date() */
  now?: () => Date;
}

/**
 * Keeps everything in maps; nothing survives the process. Returns copies, so a caller never
 * changes what is stored by changing what it got back. Pending requests that passed `expiresAt`
 * undecided read as `expired` from then on.
 */
export class MemoryStore implements RecordStore {
  private nextSerial: bigint;
  private readonly now: () => Date;
  private readonly records = new Map<string, CertificateRecord>();
  /** Insertion order of records (newest last); list() walks it backwards. */
  private readonly order: string[] = [];
  private readonly pending = new Map<string, PendingRequest>();
  private readonly pendingKeys = new Map<string, string>();
  private readonly pendingOrder: string[] = [];
  private closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.nextSerial = options.firstSerial ?? 1n;
    this.now = options.now ?? (() => new Date());
  }

  private ensureOpen(): void {
    if (this.closed) throw new EstStoreError('ERR_EST_STORE_CLOSED', 'the record store is closed');
  }

  async nextSerials(count: number): Promise<bigint[]> {
    this.ensureOpen();
    const out: bigint[] = [];
    for (let i = 0; i < count; i++) out.push(this.nextSerial++);
    return out;
  }

  async record(record: CertificateRecord): Promise<void> {
    this.ensureOpen();
    const k = serialKey(record.serial);
    if (this.records.has(k)) throw new EstStoreError('ERR_EST_STORE_DUPLICATE', `serial ${record.serial} is already recorded`, { status: 500 });
    this.records.set(k, structuredClone(record));
    this.order.push(k);
  }

  async get(serial: string): Promise<CertificateRecord | undefined> {
    this.ensureOpen();
    const r = this.records.get(serialKey(serial));
    return r && structuredClone(r);
  }

  async status(serial: string): Promise<SerialStatus> {
    this.ensureOpen();
    return this.records.get(serialKey(serial))?.status ?? 'unknown';
  }

  async list(query: RecordQuery = {}): Promise<{ records: CertificateRecord[]; total: number }> {
    this.ensureOpen();
    const subject = query.subject?.toLowerCase();
    const serial = query.serial !== undefined ? serialKey(query.serial) : undefined;
    const now = this.now().getTime();
    const horizon = query.expiringWithinDays !== undefined ? now + query.expiringWithinDays * DAY_MS : undefined;
    const hits: CertificateRecord[] = [];
    for (let i = this.order.length - 1; i >= 0; i--) {
      const r = this.records.get(this.order[i]!)!;
      if (serial !== undefined && serialKey(r.serial) !== serial) continue;
      if (subject !== undefined && !r.subject.toLowerCase().includes(subject)) continue;
      if (query.label !== undefined && r.label !== query.label) continue;
      if (query.status !== undefined && r.status !== query.status) continue;
      if (horizon !== undefined && (r.notAfter.getTime() <= now || r.notAfter.getTime() > horizon)) continue;
      hits.push(r);
    }
    const offset = query.offset ?? 0;
    const limit = query.limit ?? 50;
    return { records: hits.slice(offset, offset + limit).map((r) => structuredClone(r)), total: hits.length };
  }

  async revoke(serial: string, reason: RevocationReason, by: string, at?: Date): Promise<CertificateRecord> {
    this.ensureOpen();
    const r = this.records.get(serialKey(serial));
    if (!r) throw new EstStoreError('ERR_EST_STORE_UNKNOWN_SERIAL', `serial ${serial} was never issued by this CA`, { status: 404 });
    // A second revocation keeps the first one's date, reason and author.
    if (r.status !== 'revoked') {
      r.status = 'revoked';
      r.revokedAt = at ?? this.now();
      r.revocationReason = reason;
      r.revokedBy = by;
    }
    return structuredClone(r);
  }

  async revoked(): Promise<Array<{ serial: string; revokedAt: Date; reason: RevocationReason }>> {
    this.ensureOpen();
    const out: Array<{ serial: string; revokedAt: Date; reason: RevocationReason }> = [];
    for (const k of this.order) {
      const r = this.records.get(k)!;
      if (r.status === 'revoked') out.push({ serial: r.serial, revokedAt: new Date(r.revokedAt!), reason: r.revocationReason ?? 'unspecified' });
    }
    return out;
  }

  /** Undecided requests past their expiry become `expired` (lazily, when next read). Keys map to the newest request. */
  private fresh(p: PendingRequest): PendingRequest {
    if (p.state === 'pending' && p.expiresAt.getTime() <= this.now().getTime()) p.state = 'expired';
    return p;
  }

  /** The same key returns the request stored for it, unless that one expired: then a new request starts. */
  async putPending(request: Omit<PendingRequest, 'id' | 'state'>): Promise<PendingRequest> {
    this.ensureOpen();
    const existing = this.pendingKeys.get(request.key);
    if (existing !== undefined) {
      const p = this.fresh(this.pending.get(existing)!);
      if (p.state !== 'expired') return structuredClone(p);
    }
    const p: PendingRequest = { ...structuredClone(request), id: randomUUID(), state: 'pending' };
    this.pending.set(p.id, p);
    this.pendingKeys.set(p.key, p.id);
    this.pendingOrder.push(p.id);
    return structuredClone(this.fresh(p));
  }

  async pendingByKey(key: string): Promise<PendingRequest | undefined> {
    this.ensureOpen();
    const id = this.pendingKeys.get(key);
    return id === undefined ? undefined : structuredClone(this.fresh(this.pending.get(id)!));
  }

  async pendingById(id: string): Promise<PendingRequest | undefined> {
    this.ensureOpen();
    const p = this.pending.get(id);
    return p && structuredClone(this.fresh(p));
  }

  /** Newest first, like list(). */
  async listPending(query: PendingQuery = {}): Promise<{ requests: PendingRequest[]; total: number }> {
    this.ensureOpen();
    const hits: PendingRequest[] = [];
    for (let i = this.pendingOrder.length - 1; i >= 0; i--) {
      const p = this.fresh(this.pending.get(this.pendingOrder[i]!)!);
      if (query.state === undefined || p.state === query.state) hits.push(p);
    }
    const offset = query.offset ?? 0;
    const limit = query.limit ?? 50;
    return { requests: hits.slice(offset, offset + limit).map((p) => structuredClone(p)), total: hits.length };
  }

  /** pending → approved | denied | issued; approved → issued. Anything else is already decided (409). */
  async decide(id: string, decision: { state: 'approved' | 'denied' | 'issued'; by: string; reason?: string; serial?: string }): Promise<PendingRequest> {
    this.ensureOpen();
    const p = this.pending.get(id);
    if (!p) throw new EstStoreError('ERR_EST_STORE_UNKNOWN_REQUEST', `no pending request ${id}`, { status: 404 });
    this.fresh(p);
    const allowed = p.state === 'pending' || (p.state === 'approved' && decision.state === 'issued');
    if (!allowed) {
      throw new EstStoreError('ERR_EST_STORE_DECIDED', `request ${id} is already ${p.state}${p.decidedBy ? ` (by ${p.decidedBy})` : ''}`, { status: 409 });
    }
    if (decision.state === 'issued' && decision.serial === undefined) throw new TypeError('decide: an issued request needs its serial');
    const at = this.now();
    // The person's decision stays on record when the request is later marked issued.
    if (p.state === 'pending' || decision.state !== 'issued') {
      p.decidedAt = at;
      p.decidedBy = decision.by;
      if (decision.reason !== undefined) p.reason = decision.reason;
    }
    p.state = decision.state;
    if (decision.serial !== undefined) p.serial = decision.serial;
    return structuredClone(p);
  }

  async check(): Promise<void> {
    this.ensureOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
