// The approve stage (after check, before issue): issue now, park the request for a person (202), or refuse.
import { createHash, type X509Certificate } from 'node:crypto';
import type { IssuingOperation } from '../ca/types.js';
import { EstRetryLaterError, estError, type EstError } from '../errors.js';
import { Oid } from '../protocol/constants.js';
import { formatGeneralNames } from '../protocol/general-names.js';
import { describeKeyType, type ParsedCsr } from '../protocol/pkcs10.js';
import { findExtension } from '../protocol/x509.js';
import type { PendingRequest, RecordStore, Requester } from '../store/types.js';
import type { ApprovalConfig, ApprovalContext, ApprovalDecision } from './options.js';

/** What the issuing path knows when it reaches the approve stage. */
export interface ApprovalInput {
  operation: IssuingOperation;
  label?: string;
  /** The checked request. */
  csr: ParsedCsr;
  requester: Requester;
  clientCertificate?: X509Certificate;
  peerAddress: string;
  requestId: string;
}

/**
 * How to go on: issue (and, for a request a person approved, mark it issued afterwards), or
 * answer with the certificate already issued for this very request.
 */
export type Approval =
  | { kind: 'issue'; pendingId?: string }
  | { kind: 'issued'; certificate: Uint8Array; serial: string };

export interface Approver {
  /** Throws EstRetryLaterError (202) while a person has not decided, EstForbiddenError (403) when refused. */
  approve(input: ApprovalInput): Promise<Approval>;
  /** After issue + record of an approved request: marks it issued with the serial. */
  issued(pendingId: string, serial: string): Promise<void>;
  /** Issuing an approved request failed: let the next repeat try again. */
  release(pendingId: string): void;
}

/**
 * The identity of a request: SHA-256 over the operation, the label, who asked (method, user,
 * client certificate) and the CSR's DER. The same CSR from the same identity to the same
 * operation and label is the same request; anything else is a new one, so a person's decision
 * covers exactly what they were shown (not, say, /serverkeygen or another label's CA profile).
 */
export function pendingKey(input: Pick<ApprovalInput, 'operation' | 'label' | 'requester'>, csrDer: Uint8Array): string {
  const { requester } = input;
  const who = JSON.stringify([input.operation, input.label ?? '', requester.method, requester.user ?? '', requester.certificateSubject ?? '', requester.certificateSerial ?? '']);
  const h = createHash('sha256');
  h.update(who);
  h.update('\n');
  h.update(csrDer);
  return h.digest('hex');
}

/** The requested SANs as text; a malformed extension reads as none (the check stage refuses it before issue). */
export function csrSans(csr: ParsedCsr): string[] {
  const san = findExtension(csr.extensions, Oid.subjectAltName);
  if (!san) return [];
  try {
    return formatGeneralNames(san.value);
  } catch {
    return ['(malformed subjectAltName)'];
  }
}

const DECISIONS: ReadonlySet<string> = new Set(['issue', 'pending', 'deny']);

/**
 * Builds the approve stage. `'auto'` never touches the store. Otherwise the policy answers first;
 * only a `'pending'` answer consults the store, whose state then governs: pending → 202, approved →
 * issue, issued → the same certificate again, denied → 403. A request that expired undecided is
 * replaced by a new one (the store's putPending does that), so its repeat is queued afresh (202).
 *
 * @see RFC 7030 §4.2.3
 */
export function createApprover(config: ApprovalConfig, store: RecordStore | undefined, now: () => Date = () => new Date()): Approver | undefined {
  if (config.policy === 'auto') return undefined;
  if (!store) throw new TypeError('createApprover: a record store is needed for pending requests');
  const policy = config.policy;
  /** Approved requests being issued by this process: a concurrent repeat waits instead of issuing twice. */
  const issuing = new Set<string>();

  async function decide(input: ApprovalInput): Promise<ApprovalDecision> {
    if (policy === 'manual') return 'pending';
    const ctx: ApprovalContext = {
      operation: input.operation,
      authenticatedBy: input.requester.method,
      subject: input.csr.subject,
      sans: csrSans(input.csr),
      keyType: describeKeyType(input.csr.keyType),
      csr: input.csr,
      peerAddress: input.peerAddress,
      requestId: input.requestId,
    };
    if (input.label !== undefined) ctx.label = input.label;
    if (input.requester.user !== undefined) ctx.user = input.requester.user;
    if (input.clientCertificate) ctx.clientCertificate = input.clientCertificate;
    const d = await policy(ctx);
    if (typeof d !== 'string' || !DECISIONS.has(d)) {
      throw estError('ERR_EST_APPROVAL_POLICY', `the approval policy returned ${JSON.stringify(d)}, not 'issue', 'pending' or 'deny'`);
    }
    return d;
  }

  async function fromStore(p: PendingRequest): Promise<Approval> {
    switch (p.state) {
      case 'pending':
        throw new EstRetryLaterError(config.retryAfter, `pending approval (request ${p.id}); retry in ${config.retryAfter} s`);
      case 'approved':
        if (issuing.has(p.id)) throw new EstRetryLaterError(1, `approved (request ${p.id}); being issued, retry in 1 s`);
        issuing.add(p.id);
        return { kind: 'issue', pendingId: p.id };
      case 'denied':
        throw estError('ERR_EST_APPROVAL_DENIED', `request denied${p.reason ? `: ${oneLine(p.reason)}` : ''}`);
      case 'expired': // only in a race with the expiry: putPending replaces expired requests
        throw estError('ERR_EST_APPROVAL_EXPIRED', `pending request ${p.id} expired undecided; send a new CSR to ask again`);
      case 'issued':
        return reissue(p);
    }
  }

  /** A repeat after issuance gets the certificate issued for it, unless that cannot or must not be. */
  async function reissue(p: PendingRequest): Promise<Approval> {
    if (p.operation === 'serverkeygen') {
      throw estError('ERR_EST_APPROVAL_ISSUED', `request ${p.id} was issued (serial ${p.serial}); a server-generated key is delivered once, send a new request`);
    }
    const record = p.serial !== undefined ? await store!.get(p.serial) : undefined;
    if (!record) throw estError('ERR_EST_APPROVAL_RECORD', `request ${p.id} is marked issued but its record (serial ${p.serial}) is missing`);
    if (record.status === 'revoked') {
      throw estError('ERR_EST_APPROVAL_REVOKED', `the certificate issued for this request (serial ${record.serial}) was revoked`);
    }
    return { kind: 'issued', certificate: record.certificate, serial: record.serial };
  }

  return {
    async approve(input) {
      const d = await decide(input);
      if (d === 'issue') return { kind: 'issue' };
      if (d === 'deny') throw estError('ERR_EST_APPROVAL_DENIED', 'request denied by the approval policy');
      const created = now();
      const p = await store.putPending({
        key: pendingKey(input, input.csr.der),
        operation: input.operation,
        ...(input.label !== undefined ? { label: input.label } : {}),
        csr: input.csr.der,
        subject: input.csr.subject,
        sans: csrSans(input.csr),
        keyType: describeKeyType(input.csr.keyType),
        requester: input.requester,
        peerAddress: input.peerAddress,
        requestId: input.requestId,
        createdAt: created,
        expiresAt: new Date(created.getTime() + config.expiry),
      });
      return fromStore(p);
    },
    async issued(pendingId, serial) {
      try {
        await store.decide(pendingId, { state: 'issued', by: 'est', serial });
      } catch (e) {
        // Another process issued the same approved request first: both certificates are
        // recorded, the request points at the first one, and this client gets its own.
        if ((e as EstError).code !== 'ERR_EST_STORE_DECIDED') throw e;
      } finally {
        issuing.delete(pendingId);
      }
    },
    release(pendingId) {
      issuing.delete(pendingId);
    },
  };
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ').slice(0, 200);
}
