// The approval options (no nginx equivalent): who decides whether a checked request is issued now.
import type { X509Certificate } from 'node:crypto';
import type { AuthMethod, IssuingOperation, MaybePromise } from '../ca/types.js';
import { EstConfigError } from '../errors.js';
import type { ParsedCsr } from '../protocol/pkcs10.js';

/** What the approve stage does with one checked request. */
export type ApprovalDecision = 'issue' | 'pending' | 'deny';

/** Everything an approval policy may look at. The CSR has passed every check already. */
export interface ApprovalContext {
  operation: IssuingOperation;
  label?: string;
  authenticatedBy: AuthMethod;
  /** User name from the auth backend (or the Basic user it approved), if any. */
  user?: string;
  /** The verified TLS client certificate, if any. */
  clientCertificate?: X509Certificate;
  /** The CSR's subject as text (`CN=dev-1, O=Acme`). */
  subject: string;
  /** The requested subject alternative names as text (`DNS:…`, `IP:…`, `email:…`, `URI:…`). */
  sans: string[];
  /** `EC P-256`, `RSA-2048`, `Ed25519`, … */
  keyType: string;
  csr: ParsedCsr;
  peerAddress: string;
  requestId: string;
}

/**
 * `'auto'`: issue at once (the default, today's behaviour); `'manual'`: every request waits for a
 * person; or a function answering per request.
 */
export type ApprovalPolicy = 'auto' | 'manual' | ((ctx: ApprovalContext) => MaybePromise<ApprovalDecision>);

/** The options est() takes for approval. */
export interface ApprovalOptions {
  /**
   * No nginx equivalent. Decides, after every check and before issuing, whether a request is
   * issued now, waits for a person (202 + Retry-After, RFC 7030 §4.2.3) or is refused (403).
   * Anything but `'auto'` needs a record store, where pending requests are kept.
   * @default 'auto'
   */
  approval?: ApprovalPolicy;
  /** Seconds a client is told to wait (`Retry-After`) while its request is pending. @default 60 */
  approvalRetryAfter?: number;
  /** Seconds a pending request waits for a decision before it expires. @default 604800 (7 days) */
  approvalExpiry?: number;
}

/** The validated approval settings. */
export interface ApprovalConfig {
  policy: 'auto' | 'manual' | ((ctx: ApprovalContext) => MaybePromise<ApprovalDecision>);
  retryAfter: number;
  /** Milliseconds. */
  expiry: number;
}

function seconds(name: string, def: number, max: number) {
  return (v: unknown): number => {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
      throw new EstConfigError(`est: \`${name}\` must be a whole number of seconds from 1 to ${max} (got ${JSON.stringify(v)})`);
    }
    return v;
  };
}

/** `approval`: 'auto' (default), 'manual' or a function. */
export function parseApprovalPolicy(v: unknown): ApprovalConfig['policy'] {
  const policy = v ?? 'auto';
  if (policy !== 'auto' && policy !== 'manual' && typeof policy !== 'function') {
    throw new EstConfigError(`est: \`approval\` must be 'auto', 'manual' or a function returning 'issue' | 'pending' | 'deny' (got ${JSON.stringify(policy)})`);
  }
  return policy as ApprovalConfig['policy'];
}

/** `approvalRetryAfter`: seconds, default 60. */
export const parseApprovalRetryAfter = seconds('approvalRetryAfter', 60, 86_400);

/** `approvalExpiry`: seconds, default 7 days. */
export const parseApprovalExpiry = seconds('approvalExpiry', 7 * 86_400, 365 * 86_400);

/** Validates the approval options (at start-up); throws EstConfigError naming the option. */
export function parseApprovalOptions(o: ApprovalOptions): ApprovalConfig {
  return Object.freeze({
    policy: parseApprovalPolicy(o.approval),
    retryAfter: parseApprovalRetryAfter(o.approvalRetryAfter),
    expiry: parseApprovalExpiry(o.approvalExpiry) * 1000,
  });
}
