// The record store: what the CA issued, what was revoked, and what waits for a person's decision.
// One interface, two implementations: the embedded file store (serial file + OpenSSL index.txt)
// and PostgreSQL. The request path only ever calls this interface (DESIGN "issue + record").
import type { AuthMethod, IssuingOperation } from '../ca/types.js';

/** RFC 5280 §5.3.1 CRLReason, by the names `openssl ca -crl_reason` uses. */
export type RevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'CACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'removeFromCRL'
  | 'privilegeWithdrawn'
  | 'AACompromise';

/** Who asked for a certificate, and how they proved it. */
export interface Requester {
  method: AuthMethod;
  /** User name the auth backend returned (e.g. an `X-EST-User` response header), if any. */
  user?: string;
  /** Subject and serial (uppercase hex) of the verified TLS client certificate, if any. */
  certificateSubject?: string;
  certificateSerial?: string;
}

/** What is known about one issued certificate. */
export interface CertificateRecord {
  /** Uppercase hex, even number of digits, as the serial file and `openssl ca` write it. */
  serial: string;
  subject: string;
  /** Subject alternative names as text (`DNS:a.example`, `IP:192.0.2.1`, `email:…`, `URI:…`). */
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  issuer: string;
  label?: string;
  operation: IssuingOperation;
  requester: Requester;
  peerAddress: string;
  requestId: string;
  /** DER of the certificate. */
  certificate: Uint8Array;
  /** When it was recorded. */
  issuedAt: Date;
  status: 'valid' | 'revoked';
  revokedAt?: Date;
  revocationReason?: RevocationReason;
  /** Who revoked it (admin user, `est-admin`, a CMC request's signer). */
  revokedBy?: string;
}

/** Filters for listing records. */
export interface RecordQuery {
  /** Case-insensitive substring of the subject. */
  subject?: string;
  /** Exact serial (any case, leading zeros ignored). */
  serial?: string;
  label?: string;
  /** Only certificates whose notAfter is within this many days from now (and not yet past). */
  expiringWithinDays?: number;
  status?: 'valid' | 'revoked';
  /** Page size (default 50) and offset; results newest first. */
  limit?: number;
  offset?: number;
}

/** The state of a certificate as re-enrollment and CRLs see it. */
export type SerialStatus = 'valid' | 'revoked' | 'unknown';

/** A CSR waiting for a person (RFC 7030 §4.2.3). */
export interface PendingRequest {
  /** Stable id (used in admin URLs). */
  id: string;
  /**
   * Identity of the request: SHA-256 over (requester identity, CSR DER), hex. The same CSR from
   * the same identity maps to the same pending request; another CSR is a new request.
   */
  key: string;
  operation: IssuingOperation;
  label?: string;
  /** DER of the checked PKCS#10 request. */
  csr: Uint8Array;
  subject: string;
  sans: string[];
  /** `EC P-256`, `RSA-2048`, … */
  keyType: string;
  requester: Requester;
  peerAddress: string;
  requestId: string;
  createdAt: Date;
  expiresAt: Date;
  state: 'pending' | 'approved' | 'denied' | 'issued' | 'expired';
  decidedAt?: Date;
  decidedBy?: string;
  reason?: string;
  /** Serial of the certificate issued after approval (state 'issued'). */
  serial?: string;
}

export interface PendingQuery {
  state?: PendingRequest['state'];
  limit?: number;
  offset?: number;
}

/**
 * The store behind the CA. Every write resolves only once it is durable (fsync'd, or committed);
 * implementations batch concurrent writes (group commit). A rejected write means the certificate
 * must not be returned: the middleware answers 503 with Retry-After.
 */
export interface RecordStore {
  /** Reserves `count` serial numbers never handed out before, across processes and hosts. */
  nextSerials(count: number): Promise<bigint[]>;
  /** Records an issued certificate; resolves when durable. */
  record(record: CertificateRecord): Promise<void>;
  /** One record by serial (any case, leading zeros ignored). */
  get(serial: string): Promise<CertificateRecord | undefined>;
  /** Whether a serial was issued by this store and is valid or revoked; no scan of the whole ledger. */
  status(serial: string): Promise<SerialStatus>;
  list(query?: RecordQuery): Promise<{ records: CertificateRecord[]; total: number }>;
  /** Revokes; throws EstStoreError('ERR_EST_STORE_UNKNOWN_SERIAL', …, { status: 404 }) for a serial never issued. */
  revoke(serial: string, reason: RevocationReason, by: string, at?: Date): Promise<CertificateRecord>;
  /** Every revoked certificate, for a CRL. */
  revoked(): Promise<Array<{ serial: string; revokedAt: Date; reason: RevocationReason }>>;

  /** Stores a pending request, or returns the existing one with the same `key`. */
  putPending(request: Omit<PendingRequest, 'id' | 'state'>): Promise<PendingRequest>;
  pendingByKey(key: string): Promise<PendingRequest | undefined>;
  pendingById(id: string): Promise<PendingRequest | undefined>;
  listPending(query?: PendingQuery): Promise<{ requests: PendingRequest[]; total: number }>;
  /**
   * Records a decision on a pending request. Throws EstStoreError('ERR_EST_STORE_DECIDED', …, { status: 409 }) when it
   * was already decided or has expired.
   */
  decide(id: string, decision: { state: 'approved' | 'denied' | 'issued'; by: string; reason?: string; serial?: string }): Promise<PendingRequest>;

  /**
   * Optional: connects and checks the store once at start-up (PostgreSQL: reachable, schema
   * migrated). est() calls it for `middleware.ready()`; a rejection becomes an EstConfigError
   * naming `store`. Stores that are ready when constructed leave it out.
   */
  open?(): Promise<void>;
  /** Throws when the store cannot be used now (for /readyz). */
  check(): Promise<void>;
  close(): Promise<void>;
}
