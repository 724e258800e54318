// The PostgreSQL record store: serials from a sequence, records, revocations and pending requests in tables.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { EstStoreError } from '../errors.js';
import { randomSerialStart } from '../ca/serial-file-store.js';
import { MAX_SERIAL } from '../ca/types.js';
import { GroupCommit } from '../ca/group-commit.js';
import { serialKey, serialText } from './openssl-index.js';
import type {
  CertificateRecord,
  PendingQuery,
  PendingRequest,
  RecordQuery,
  RecordStore,
  RevocationReason,
  SerialStatus,
} from './types.js';

/** The schema version `migrate()` brings a database to. */
export const SCHEMA_VERSION = 1;

/**
 * Schema, version 1. Serials: `serial_base + nextval(est_serial_seq)`: the sequence makes them
 * unique across every process and host; the base (a random 159-bit start, like the serial file's,
 * or past the highest imported serial) keeps them long. The primary key makes a duplicate
 * impossible whatever happens.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS est_meta (
  id int PRIMARY KEY CHECK (id = 1),
  schema_version int NOT NULL,
  serial_base numeric(50,0) NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS est_serial_seq AS bigint MINVALUE 1 START 1;
CREATE TABLE IF NOT EXISTS est_certificates (
  serial text PRIMARY KEY CHECK (serial ~ '^([0-9A-F]{2})+$'),
  subject text NOT NULL,
  sans jsonb NOT NULL DEFAULT '[]',
  not_before timestamptz,
  not_after timestamptz NOT NULL,
  issuer text NOT NULL DEFAULT '',
  label text,
  operation text NOT NULL,
  requester jsonb NOT NULL,
  peer_address text NOT NULL DEFAULT '',
  request_id text NOT NULL DEFAULT '',
  certificate bytea NOT NULL,
  issued_at timestamptz NOT NULL DEFAULT now(),
  status text NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
  revoked_at timestamptz,
  revocation_reason text,
  revoked_by text
);
CREATE INDEX IF NOT EXISTS est_certificates_issued_at ON est_certificates (issued_at DESC);
CREATE INDEX IF NOT EXISTS est_certificates_not_after ON est_certificates (not_after);
CREATE INDEX IF NOT EXISTS est_certificates_label ON est_certificates (label);
CREATE INDEX IF NOT EXISTS est_certificates_revoked ON est_certificates (serial) WHERE status = 'revoked';
CREATE TABLE IF NOT EXISTS est_pending (
  id text PRIMARY KEY,
  key text NOT NULL UNIQUE,
  operation text NOT NULL,
  label text,
  csr bytea NOT NULL,
  subject text NOT NULL,
  sans jsonb NOT NULL DEFAULT '[]',
  key_type text NOT NULL,
  requester jsonb NOT NULL,
  peer_address text NOT NULL,
  request_id text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'issued')),
  decided_at timestamptz,
  decided_by text,
  reason text,
  serial text
);
CREATE INDEX IF NOT EXISTS est_pending_created ON est_pending (created_at DESC);
`;

/** Arbitrary key of the advisory lock that serializes migrations and imports. */
const MIGRATE_LOCK = 7030_0001;

/** A connection string with the password hidden, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** Whether a pg error means "cannot talk to the database now" rather than a bad statement. */
function isConnectionError(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  const code = err?.code ?? '';
  return (
    /^(08|57P|53)/.test(code) ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH'].includes(code) ||
    /Connection terminated|timeout|connect|Client has encountered a connection error|not queryable/i.test(err?.message ?? '')
  );
}

/** Creates the pool for a `postgres://` URL: bounded waits, so a stopped database means a quick 503. */
export function createPool(url: string, options: { max?: number } = {}): pg.Pool {
  return new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 10_000,
    query_timeout: 10_000,
    application_name: 'express-est',
  });
}

/** Creates or upgrades the schema (idempotent; serialized by an advisory lock). */
export async function migrate(pool: pg.Pool): Promise<{ created: boolean; version: number }> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATE_LOCK]);
    const had = await c.query<{ exists: boolean }>("SELECT to_regclass('est_meta') IS NOT NULL AS exists");
    await c.query(SCHEMA);
    const r = await c.query('INSERT INTO est_meta (id, schema_version, serial_base) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING', [SCHEMA_VERSION, randomSerialStart().toString()]);
    await c.query('UPDATE est_meta SET schema_version = $1 WHERE schema_version < $1', [SCHEMA_VERSION]);
    await c.query('COMMIT');
    return { created: !had.rows[0]!.exists || r.rowCount === 1, version: SCHEMA_VERSION };
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    c.release();
  }
}

/**
 * Imports records (from an embedded store) and moves serial allocation past `highestSerial`, so a
 * deployment moving from one host's serial file to PostgreSQL never reuses a serial. Records
 * already present are kept. Returns how many were inserted.
 */
export async function importRecords(pool: pg.Pool, records: AsyncIterable<CertificateRecord> | Iterable<CertificateRecord>, highestSerial: bigint): Promise<{ inserted: number; nextSerialAbove: bigint }> {
  const c = await pool.connect();
  let inserted = 0;
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATE_LOCK]);
    let batch: CertificateRecord[] = [];
    const flush = async () => {
      if (!batch.length) return;
      const r = await c.query(INSERT_SQL + ' ON CONFLICT (serial) DO NOTHING', insertParams(batch));
      inserted += r.rowCount ?? 0;
      for (const rec of batch) if (rec.status === 'revoked') {
        await c.query(
          "UPDATE est_certificates SET status = 'revoked', revoked_at = $2, revocation_reason = $3, revoked_by = $4 WHERE serial = $1 AND status = 'valid'",
          [rec.serial, rec.revokedAt ?? new Date(), rec.revocationReason ?? 'unspecified', rec.revokedBy ?? 'import'],
        );
      }
      batch = [];
    };
    let highest = highestSerial;
    for await (const rec of records) {
      const v = BigInt('0x' + rec.serial);
      if (v > highest) highest = v;
      batch.push(rec);
      if (batch.length >= 2000) await flush();
    }
    await flush();
    // New serials are serial_base + nextval: make the base at least the highest imported serial and
    // never lower than anything already handed out (base + last_value).
    await c.query('UPDATE est_meta SET serial_base = GREATEST(serial_base + (SELECT last_value FROM est_serial_seq), $1::numeric)', [highest.toString()]);
    const b = await c.query<{ base: string; last: string }>('SELECT serial_base::text AS base, (SELECT last_value FROM est_serial_seq)::text AS last FROM est_meta');
    await c.query('COMMIT');
    return { inserted, nextSerialAbove: BigInt(b.rows[0]!.base) + BigInt(b.rows[0]!.last) };
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    c.release();
  }
}

const INSERT_SQL = `INSERT INTO est_certificates
  (serial, subject, sans, not_before, not_after, issuer, label, operation, requester, peer_address, request_id, certificate, issued_at)
  SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[], $8::text[],
                       $9::jsonb[], $10::text[], $11::text[], $12::bytea[], $13::timestamptz[])`;

function validDate(d: Date): Date | null {
  return Number.isNaN(d.getTime()) ? null : d;
}

function insertParams(records: CertificateRecord[]): unknown[] {
  const cols: unknown[][] = Array.from({ length: 13 }, () => []);
  for (const r of records) {
    const key = serialKey(r.serial);
    if (key === undefined) throw new EstStoreError('ERR_EST_STORE_RECORD', `record has a bad serial ${JSON.stringify(r.serial)}`, { status: 500 });
    const v = [
      serialText(key), r.subject, JSON.stringify(r.sans), validDate(r.notBefore), r.notAfter, r.issuer, r.label ?? null, r.operation,
      JSON.stringify(r.requester), r.peerAddress, r.requestId, Buffer.from(r.certificate.buffer, r.certificate.byteOffset, r.certificate.byteLength), validDate(r.issuedAt) ?? new Date(),
    ];
    v.forEach((x, i) => cols[i]!.push(x));
  }
  return cols;
}

interface CertRow {
  serial: string;
  subject: string;
  sans: string[];
  not_before: Date | null;
  not_after: Date;
  issuer: string;
  label: string | null;
  operation: CertificateRecord['operation'];
  requester: CertificateRecord['requester'];
  peer_address: string;
  request_id: string;
  certificate: Buffer;
  issued_at: Date;
  status: 'valid' | 'revoked';
  revoked_at: Date | null;
  revocation_reason: RevocationReason | null;
  revoked_by: string | null;
}

function fromRow(row: CertRow): CertificateRecord {
  const r: CertificateRecord = {
    serial: row.serial,
    subject: row.subject,
    sans: row.sans,
    notBefore: row.not_before ?? new Date(NaN),
    notAfter: row.not_after,
    issuer: row.issuer,
    operation: row.operation,
    requester: row.requester,
    peerAddress: row.peer_address,
    requestId: row.request_id,
    certificate: new Uint8Array(row.certificate),
    issuedAt: row.issued_at,
    status: row.status,
  };
  if (row.label !== null) r.label = row.label;
  if (row.revoked_at) r.revokedAt = row.revoked_at;
  if (row.revocation_reason) r.revocationReason = row.revocation_reason;
  if (row.revoked_by) r.revokedBy = row.revoked_by;
  return r;
}

interface PendingRow {
  id: string;
  key: string;
  operation: PendingRequest['operation'];
  label: string | null;
  csr: Buffer;
  subject: string;
  sans: string[];
  key_type: string;
  requester: PendingRequest['requester'];
  peer_address: string;
  request_id: string;
  created_at: Date;
  expires_at: Date;
  state: PendingRequest['state'];
  decided_at: Date | null;
  decided_by: string | null;
  reason: string | null;
  serial: string | null;
}

function pendingFromRow(row: PendingRow): PendingRequest {
  const p: PendingRequest = {
    id: row.id,
    key: row.key,
    operation: row.operation,
    csr: new Uint8Array(row.csr),
    subject: row.subject,
    sans: row.sans,
    keyType: row.key_type,
    requester: row.requester,
    peerAddress: row.peer_address,
    requestId: row.request_id,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    state: row.state === 'pending' && row.expires_at.getTime() <= Date.now() ? 'expired' : row.state,
  };
  if (row.label !== null) p.label = row.label;
  if (row.decided_at) p.decidedAt = row.decided_at;
  if (row.decided_by !== null) p.decidedBy = row.decided_by;
  if (row.reason !== null) p.reason = row.reason;
  if (row.serial !== null) p.serial = row.serial;
  return p;
}

/** Options of {@link PostgresRecordStore}. */
export interface PostgresRecordStoreOptions {
  /** Seconds for `Retry-After` when the database cannot be reached. @default 5 */
  retryAfter?: number;
  /** Told about errors of idle pool connections (a restarted or killed server). */
  onError?: (err: Error) => void;
}

/**
 * The {@link RecordStore} on PostgreSQL (the `pg` package), for many processes on many hosts.
 *
 * - Serials: `serial_base + nextval('est_serial_seq')` (see the schema): the sequence hands each
 *   value out once, across every connection; the primary key on `serial` makes a duplicate
 *   impossible by constraint. Concurrent `nextSerials()` calls of a process share one query.
 * - `record()`: concurrent calls share one multi-row INSERT (one commit, one WAL flush), and
 *   resolve once it is committed.
 * - A database that cannot be reached (stopped, restarting, connection killed) makes every call
 *   fail with `ERR_EST_STORE_UNAVAILABLE` (503, Retry-After); the pool opens new connections on the
 *   next call, so service resumes by itself when the database is back.
 */
export class PostgresRecordStore implements RecordStore {
  readonly pool: pg.Pool;
  private readonly owned: boolean;
  private readonly describe: string;
  private readonly retryAfter: number;
  private readonly serials = new GroupCommit<number, bigint[]>((counts) => this.reserve(counts));
  /**
   * Concurrent record() calls share one INSERT (a prepared statement: parsed and planned once per
   * connection). Up to 3 batches at once, on different pool connections: a batch mostly waits for
   * its commit's WAL flush, and PostgreSQL flushes concurrent commits together.
   */
  private readonly inserts = new GroupCommit<CertificateRecord, void>(
    async (records) => {
      await this.q('recording certificates', { name: 'est_insert_v1', text: INSERT_SQL }, insertParams(records));
      return [];
    },
    undefined,
    3,
  );
  /** Concurrent status() calls (one per certificate-authenticated request) share one query; two at once. */
  private readonly statuses = new GroupCommit<string, SerialStatus>(
    async (serials) => {
      const r = await this.q<{ serial: string; status: 'valid' | 'revoked' }>('reading a status', { name: 'est_status_v1', text: 'SELECT serial, status FROM est_certificates WHERE serial = ANY($1::text[])' }, [[...new Set(serials)]]);
      const found = new Map(r.rows.map((row) => [row.serial, row.status]));
      return serials.map((s) => found.get(s) ?? 'unknown');
    },
    undefined,
    2,
  );

  /** `pool`: a `postgres://` URL (the store owns and ends the pool) or a `pg.Pool` (yours to end). */
  constructor(pool: pg.Pool | string, options: PostgresRecordStoreOptions = {}) {
    this.owned = typeof pool === 'string';
    this.pool = typeof pool === 'string' ? createPool(pool) : pool;
    this.describe = typeof pool === 'string' ? redactUrl(pool) : 'PostgreSQL pool';
    this.retryAfter = options.retryAfter ?? 5;
    // An idle connection that dies (server restart, pg_terminate_backend) emits 'error' on the pool;
    // unhandled, that would end the process. The pool drops it and connects anew on the next query.
    this.pool.on('error', (err) => options.onError?.(err));
  }

  /**
   * Checks at start-up that the database answers and has the schema (`est-admin db migrate`).
   * Rejects with EstStoreError `ERR_EST_STORE_UNAVAILABLE` or `ERR_EST_STORE_SCHEMA`.
   */
  async open(): Promise<void> {
    let version: number | undefined;
    try {
      const has = await this.pool.query<{ t: boolean }>("SELECT to_regclass('est_meta') IS NOT NULL AS t");
      if (has.rows[0]?.t) version = (await this.pool.query<{ v: number }>('SELECT schema_version AS v FROM est_meta WHERE id = 1')).rows[0]?.v;
    } catch (e) {
      throw new EstStoreError('ERR_EST_STORE_UNAVAILABLE', `cannot reach ${this.describe}: ${(e as Error).message || (e as { code?: string }).code}`, { cause: e, retryAfter: this.retryAfter });
    }
    if (version === undefined) throw new EstStoreError('ERR_EST_STORE_SCHEMA', `${this.describe} has no express-est schema; run \`est-admin db migrate --store <url>\` first`, { status: 500 });
    if (version > SCHEMA_VERSION) throw new EstStoreError('ERR_EST_STORE_SCHEMA', `${this.describe} has schema version ${version}, newer than this express-est understands (${SCHEMA_VERSION})`, { status: 500 });
    if (version < SCHEMA_VERSION) throw new EstStoreError('ERR_EST_STORE_SCHEMA', `${this.describe} has schema version ${version}; run \`est-admin db migrate\``, { status: 500 });
  }

  private fail(e: unknown, what: string): EstStoreError {
    if (e instanceof EstStoreError) return e;
    const err = e as { code?: string; message?: string };
    if (err?.code === '23505') return new EstStoreError('ERR_EST_STORE_DUPLICATE', `${what}: ${err.message}`, { status: 500, cause: e });
    const why = isConnectionError(e) ? 'database unavailable' : 'database error';
    return new EstStoreError('ERR_EST_STORE_UNAVAILABLE', `${what}: ${why} (${err?.message || err?.code || String(e)})`, { retryAfter: this.retryAfter, cause: e });
  }

  /** A query; a `{ name, text }` is prepared once per connection (pg's named statements). */
  private async q<R extends pg.QueryResultRow>(what: string, sql: string | { name: string; text: string }, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await (typeof sql === 'string' ? this.pool.query<R>(sql, params) : this.pool.query<R>({ ...sql, values: params }));
    } catch (e) {
      throw this.fail(e, what);
    }
  }

  // ---- serials ----

  nextSerials(count: number): Promise<bigint[]> {
    if (!Number.isInteger(count) || count < 1) return Promise.reject(new RangeError(`count must be a positive integer (got ${count})`));
    return this.serials.add(count);
  }

  /** One query for a batch of reservations: `serial_base + nextval` per serial. */
  private async reserve(counts: number[]): Promise<bigint[][]> {
    const total = counts.reduce((n, c) => n + c, 0);
    const r = await this.q<{ s: string }>('reserving serials', "SELECT (m.serial_base + nextval('est_serial_seq'))::text AS s FROM est_meta m, generate_series(1, $1::int) WHERE m.id = 1", [total]);
    const serials = r.rows.map((row) => BigInt(row.s));
    if (serials.length !== total) throw new EstStoreError('ERR_EST_STORE_SCHEMA', 'est_meta has no row; run `est-admin db migrate`', { status: 500 });
    if (serials.some((s) => s > MAX_SERIAL)) throw new EstStoreError('ERR_EST_SERIAL_EXHAUSTED', 'serial numbers exhausted (past 20 octets, RFC 5280 §4.1.2.2)', { status: 503 });
    let i = 0;
    return counts.map((c) => serials.slice(i, (i += c)));
  }

  // ---- records ----

  record(record: CertificateRecord): Promise<void> {
    return this.inserts.add(record);
  }

  async get(serial: string): Promise<CertificateRecord | undefined> {
    const key = serialKey(serial);
    if (key === undefined) return undefined;
    const r = await this.q<CertRow>('reading a record', 'SELECT * FROM est_certificates WHERE serial = $1', [serialText(key)]);
    return r.rows[0] ? fromRow(r.rows[0]) : undefined;
  }

  async status(serial: string): Promise<SerialStatus> {
    const key = serialKey(serial);
    if (key === undefined) return 'unknown';
    return this.statuses.add(serialText(key));
  }

  async list(query: RecordQuery = {}): Promise<{ records: CertificateRecord[]; total: number }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (query.subject !== undefined) where.push(`strpos(lower(subject), lower(${p(query.subject)})) > 0`);
    if (query.serial !== undefined) where.push(`serial = ${p(serialText(serialKey(query.serial) ?? 'ZZ'))}`);
    if (query.label !== undefined) where.push(`label = ${p(query.label)}`);
    if (query.status !== undefined) where.push(`status = ${p(query.status)}`);
    if (query.expiringWithinDays !== undefined) where.push(`not_after > now() AND not_after <= now() + ${p(query.expiringWithinDays)}::float8 * interval '1 day'`);
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = await this.q<{ n: string }>('listing records', `SELECT count(*)::text AS n FROM est_certificates ${w}`, params);
    const rows = await this.q<CertRow>(
      'listing records',
      `SELECT * FROM est_certificates ${w} ORDER BY issued_at DESC, serial DESC LIMIT ${p(query.limit ?? 50)} OFFSET ${p(query.offset ?? 0)}`,
      params,
    );
    return { records: rows.rows.map(fromRow), total: Number(total.rows[0]!.n) };
  }

  async revoke(serial: string, reason: RevocationReason, by: string, at: Date = new Date()): Promise<CertificateRecord> {
    const key = serialKey(serial);
    const unknown = () => new EstStoreError('ERR_EST_STORE_UNKNOWN_SERIAL', `serial ${serial} was never issued by this CA (not in the database)`, { status: 404 });
    if (key === undefined) throw unknown();
    const r = await this.q<CertRow>(
      'revoking',
      "UPDATE est_certificates SET status = 'revoked', revoked_at = $2, revocation_reason = $3, revoked_by = $4 WHERE serial = $1 AND status = 'valid' RETURNING *",
      [serialText(key), at, reason, by],
    );
    if (r.rows[0]) return fromRow(r.rows[0]);
    const existing = await this.get(key);
    if (!existing) throw unknown();
    return existing; // already revoked: unchanged
  }

  async revoked(): Promise<Array<{ serial: string; revokedAt: Date; reason: RevocationReason }>> {
    const r = await this.q<{ serial: string; revoked_at: Date; revocation_reason: RevocationReason | null }>(
      'listing revocations',
      "SELECT serial, revoked_at, revocation_reason FROM est_certificates WHERE status = 'revoked' ORDER BY revoked_at",
    );
    return r.rows.map((row) => ({ serial: row.serial, revokedAt: row.revoked_at, reason: row.revocation_reason ?? 'unspecified' }));
  }

  // ---- pending requests ----

  async putPending(request: Omit<PendingRequest, 'id' | 'state'>): Promise<PendingRequest> {
    const id = randomBytes(8).toString('hex');
    // A new request, or the one with the same key (replaced only when it expired undecided).
    const r = await this.q<PendingRow>(
      'storing a pending request',
      `INSERT INTO est_pending AS p (id, key, operation, label, csr, subject, sans, key_type, requester, peer_address, request_id, created_at, expires_at, state)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'pending')
       ON CONFLICT (key) DO UPDATE SET id = EXCLUDED.id, operation = EXCLUDED.operation, label = EXCLUDED.label, csr = EXCLUDED.csr,
         subject = EXCLUDED.subject, sans = EXCLUDED.sans, key_type = EXCLUDED.key_type, requester = EXCLUDED.requester,
         peer_address = EXCLUDED.peer_address, request_id = EXCLUDED.request_id, created_at = EXCLUDED.created_at,
         expires_at = EXCLUDED.expires_at, state = 'pending', decided_at = NULL, decided_by = NULL, reason = NULL, serial = NULL
       WHERE p.state = 'pending' AND p.expires_at <= now()
       RETURNING *`,
      [
        id, request.key, request.operation, request.label ?? null, Buffer.from(request.csr), request.subject, JSON.stringify(request.sans), request.keyType,
        JSON.stringify(request.requester), request.peerAddress, request.requestId, request.createdAt, request.expiresAt,
      ],
    );
    if (r.rows[0]) return pendingFromRow(r.rows[0]);
    const existing = await this.pendingByKey(request.key);
    if (!existing) throw new EstStoreError('ERR_EST_STORE_UNAVAILABLE', 'pending request vanished while being stored; retry', { retryAfter: 1 });
    return existing;
  }

  async pendingByKey(key: string): Promise<PendingRequest | undefined> {
    const r = await this.q<PendingRow>('reading a pending request', 'SELECT * FROM est_pending WHERE key = $1', [key]);
    return r.rows[0] ? pendingFromRow(r.rows[0]) : undefined;
  }

  async pendingById(id: string): Promise<PendingRequest | undefined> {
    const r = await this.q<PendingRow>('reading a pending request', 'SELECT * FROM est_pending WHERE id = $1', [id]);
    return r.rows[0] ? pendingFromRow(r.rows[0]) : undefined;
  }

  async listPending(query: PendingQuery = {}): Promise<{ requests: PendingRequest[]; total: number }> {
    const cond =
      query.state === undefined ? 'TRUE'
      : query.state === 'expired' ? "state = 'pending' AND expires_at <= now()"
      : query.state === 'pending' ? "state = 'pending' AND expires_at > now()"
      : 'state = $3';
    const params: unknown[] = [query.limit ?? 50, query.offset ?? 0];
    if (cond === 'state = $3') params.push(query.state);
    const rows = await this.q<PendingRow & { total: string }>(
      'listing pending requests',
      `SELECT *, count(*) OVER ()::text AS total FROM est_pending WHERE ${cond} ORDER BY created_at DESC LIMIT $1 OFFSET $2`,
      params,
    );
    let total = Number(rows.rows[0]?.total ?? 0);
    if (!rows.rows.length && (query.offset ?? 0) > 0) {
      const c = await this.q<{ n: string }>('listing pending requests', `SELECT count(*)::text AS n FROM est_pending WHERE ${cond.replace('$3', '$1')}`, params.slice(2));
      total = Number(c.rows[0]!.n);
    }
    return { requests: rows.rows.map(pendingFromRow), total };
  }

  async decide(id: string, decision: { state: 'approved' | 'denied' | 'issued'; by: string; reason?: string; serial?: string }): Promise<PendingRequest> {
    // approved → issued is the one change allowed after a decision; an expired request cannot be decided.
    const r = await this.q<PendingRow>(
      'deciding a pending request',
      `UPDATE est_pending SET state = $2,
         decided_at = CASE WHEN state = 'approved' THEN decided_at ELSE now() END,
         decided_by = CASE WHEN state = 'approved' THEN decided_by ELSE $3 END,
         reason = COALESCE($4, reason), serial = COALESCE($5, serial)
       WHERE id = $1 AND ((state = 'pending' AND expires_at > now()) OR (state = 'approved' AND $2 = 'issued'))
       RETURNING *`,
      [id, decision.state, decision.by, decision.reason ?? null, decision.serial ?? null],
    );
    if (r.rows[0]) return pendingFromRow(r.rows[0]);
    const cur = await this.pendingById(id);
    if (!cur) throw new EstStoreError('ERR_EST_STORE_UNKNOWN_REQUEST', `no pending request ${id}`, { status: 404 });
    throw new EstStoreError('ERR_EST_STORE_DECIDED', `request ${id} is already ${cur.state}`, { status: 409 });
  }

  // ---- health ----

  async check(): Promise<void> {
    await this.q('checking the database', 'SELECT 1');
  }

  async close(): Promise<void> {
    await this.inserts.idle();
    await this.serials.idle();
    if (this.owned) await this.pool.end();
  }
}
