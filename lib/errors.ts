// Error classes with stable codes, and the one catalogue of codes; the middleware renders EstError as a status + one-line reason.

/** Base class of every error the package raises on purpose. `code` is stable: match on it. */
export class EstError extends Error {
  /** Stable machine-readable code, `ERR_EST_*`. */
  readonly code: string;
  /** HTTP status the middleware answers with. */
  readonly status: number;
  /** Seconds to put in `Retry-After` (202/503). */
  readonly retryAfter?: number;
  /** Extra response headers (e.g. `WWW-Authenticate` on a 401). */
  readonly headers?: Record<string, string>;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { cause?: unknown; retryAfter?: number; headers?: Record<string, string> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    if (options.retryAfter !== undefined) this.retryAfter = options.retryAfter;
    if (options.headers !== undefined) this.headers = options.headers;
  }
}

/** A bad option given to `est()` or the CLI; thrown at start-up, never per request. */
export class EstConfigError extends EstError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(500, 'ERR_EST_CONFIG', message, options);
  }
}

/** The request is malformed: body, encoding or ASN.1 (400). */
export class EstBadRequestError extends EstError {
  constructor(message: string, code = 'ERR_EST_BAD_REQUEST', options: { cause?: unknown } = {}) {
    super(400, code, message, options);
  }
}

/** Authentication is missing or failed (401). Always carries a `WWW-Authenticate` challenge. */
export class EstUnauthorizedError extends EstError {
  constructor(message = 'authentication required', wwwAuthenticate: string | undefined = 'Basic realm="est"') {
    super(401, 'ERR_EST_UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': wwwAuthenticate || 'Basic realm="est"' } });
  }
}

/** Authenticated but not allowed (403). */
export class EstForbiddenError extends EstError {
  constructor(message = 'forbidden', code = 'ERR_EST_FORBIDDEN') {
    super(403, code, message);
  }
}

/** The CA accepted the request for later processing (RFC 7030 §4.2.3): 202 with Retry-After. */
export class EstRetryLaterError extends EstError {
  constructor(retryAfterSeconds: number, message = 'request accepted for manual approval; retry later') {
    super(202, 'ERR_EST_RETRY_LATER', message, { retryAfter: Math.max(0, Math.ceil(retryAfterSeconds)) });
  }
}

/** The CA refused the request by policy (default 403; a custom CA may choose another 4xx/5xx). */
export class EstPolicyError extends EstError {
  constructor(message: string, status = 403, code = 'ERR_EST_POLICY') {
    super(status, code, message);
  }
}

/**
 * The record store refused or failed (ERR_EST_STORE_*). Unavailable stores are 503 with
 * Retry-After: a certificate whose record could not be written is never returned.
 */
export class EstStoreError extends EstError {
  constructor(code: string, message: string, options: { status?: number; retryAfter?: number; cause?: unknown } = {}) {
    super(options.status ?? 503, code, message, { cause: options.cause, ...(options.retryAfter !== undefined ? { retryAfter: options.retryAfter } : {}) });
  }
}

/** The classes a catalogued code is raised as. */
export type EstErrorClassName =
  | 'EstError'
  | 'EstConfigError'
  | 'EstBadRequestError'
  | 'EstUnauthorizedError'
  | 'EstForbiddenError'
  | 'EstRetryLaterError'
  | 'EstPolicyError'
  | 'EstStoreError';

/** One catalogue row: the class a code is raised as, its HTTP status and the shape of its message. */
export interface EstErrorEntry {
  readonly class: EstErrorClassName;
  /** HTTP status; a custom CA may choose another status for ERR_EST_POLICY. */
  readonly status: number;
  /** What the one-line reason says (`<…>` marks the variable part). */
  readonly message: string;
}

/**
 * Every `ERR_EST_*` code the server side raises: code → class, status and message shape. Raise
 * them with {@link estError} (code, message, options: the one argument order). README.md's error
 * table is generated from this (spec/errors/catalogue.spec.ts checks both).
 */
export const ERROR_CATALOGUE = Object.freeze({
  ERR_EST_CONFIG: { class: 'EstConfigError', status: 500, message: 'est: `<option>` (<directive>) <what is wrong>; at start-up, never per request' },
  ERR_EST_NOT_FOUND: { class: 'EstError', status: 404, message: 'unknown EST operation: <name>' },
  ERR_EST_METHOD: { class: 'EstError', status: 405, message: '<operation> accepts <methods> only (with `Allow`)' },
  ERR_EST_CONTENT_TYPE: { class: 'EstError', status: 415, message: 'unsupported Content-Type <type>: expected <types>' },
  ERR_EST_BODY_TOO_LARGE: { class: 'EstError', status: 413, message: 'request body larger than <limit> bytes' },
  ERR_EST_BODY: { class: 'EstError', status: 400, message: 'could not read request body: <reason>' },
  ERR_EST_BODY_TIMEOUT: { class: 'EstError', status: 408, message: 'request body not received within <bodyTimeout> ms (the connection is closed)' },
  ERR_EST_BAD_PATH: { class: 'EstError', status: 400, message: 'the CA label in the path is not valid percent-encoding' },
  ERR_EST_PROXY_HEADER: { class: 'EstError', status: 400, message: 'the TLS fact header <name> arrived <n> times; the trusted proxy must replace it, not append to it' },
  ERR_EST_BODY_ENCODING: { class: 'EstBadRequestError', status: 400, message: 'the body is not base64 (RFC 8951): <reason>' },
  ERR_EST_BAD_REQUEST: { class: 'EstBadRequestError', status: 400, message: 'malformed request content: <reason>' },
  ERR_EST_CSR_MALFORMED: { class: 'EstBadRequestError', status: 400, message: 'malformed PKCS#10 request: <reason>' },
  ERR_EST_CSR_SIGNATURE: { class: 'EstBadRequestError', status: 400, message: 'CSR signature does not verify, or its algorithm is not supported' },
  ERR_EST_CSR_KEY: { class: 'EstBadRequestError', status: 400, message: 'the CSR key type or size is not allowed: <key>' },
  ERR_EST_CSR_NAME: { class: 'EstBadRequestError', status: 400, message: 'the CSR subject or subjectAltName breaks <rule> (RFC 5280 §4.1.2.4, §4.1.2.6, §4.2.1.6; maxSubjectSize, maxSubjectAltNames)' },
  ERR_EST_CSR_SUBJECT: { class: 'EstPolicyError', status: 400, message: 'the CSR has an empty subject and no subjectAltName' },
  ERR_EST_CSR_ATTRS: { class: 'EstBadRequestError', status: 400, message: 'CSR lacks required attribute: <attribute>' },
  ERR_EST_OTP_UNVERIFIED: { class: 'EstBadRequestError', status: 400, message: 'otpChallenge present but nothing can verify it' },
  ERR_EST_POP_MISSING: { class: 'EstBadRequestError', status: 400, message: 'proof-of-possession linking required' },
  ERR_EST_POP_MISMATCH: { class: 'EstBadRequestError', status: 400, message: 'proof-of-possession linking failed' },
  ERR_EST_POP_UNAVAILABLE: { class: 'EstBadRequestError', status: 400, message: 'proof-of-possession linking cannot be checked: <why>' },
  ERR_EST_REENROLL_SUBJECT: { class: 'EstBadRequestError', status: 400, message: 'CSR subject differs from the certificate being renewed' },
  ERR_EST_REENROLL_SAN: { class: 'EstBadRequestError', status: 400, message: 'CSR subjectAltName differs from the certificate being renewed' },
  ERR_EST_REENROLL_NO_CERT: { class: 'EstForbiddenError', status: 403, message: 're-enrollment requires the TLS client certificate being renewed' },
  ERR_EST_UNAUTHORIZED: { class: 'EstUnauthorizedError', status: 401, message: 'authentication required (always with `WWW-Authenticate`)' },
  ERR_EST_ADMIN_BUSY: { class: 'EstError', status: 503, message: '<n> admin logins are already being checked; retry in a second (with `Retry-After`)' },
  ERR_EST_FORBIDDEN: { class: 'EstForbiddenError', status: 403, message: 'authorization backend denied the request' },
  ERR_EST_POLICY: { class: 'EstPolicyError', status: 403, message: 'the CA refused the request: <reason> (a custom CA may choose the status)' },
  ERR_EST_RETRY_LATER: { class: 'EstRetryLaterError', status: 202, message: 'request accepted for manual approval; retry later (with `Retry-After`)' },
  ERR_EST_AUTH_BACKEND: { class: 'EstError', status: 500, message: 'authorization backend unavailable, or answered <status>' },
  ERR_EST_KEY_ENCRYPTION: { class: 'EstError', status: 501, message: 'encrypted server-generated keys are not configured: <option>' },
  ERR_EST_KEY_UNKNOWN: { class: 'EstBadRequestError', status: 400, message: 'no key known for the <DecryptKeyIdentifier or AsymmetricDecryptKeyIdentifier> <id>' },
  ERR_EST_KEY_UNUSABLE: { class: 'EstBadRequestError', status: 400, message: 'the identified key cannot protect the server-generated key: <why>' },
  ERR_EST_CMC: { class: 'EstError', status: 400, message: 'Full PKI Request refused: <reason> (the body is a CMC Full PKI Response; status per RFC 7030 §4.3.2)' },
  ERR_EST_NOT_IMPLEMENTED: { class: 'EstError', status: 501, message: '<operation> is not implemented' },
  ERR_EST_CA: { class: 'EstError', status: 500, message: 'the CA returned a malformed certificate, or none to distribute' },
  ERR_EST_CA_EXPIRED: { class: 'EstError', status: 503, message: 'the CA certificate expired on <date>' },
  ERR_EST_SERIAL: { class: 'EstError', status: 500, message: 'serial number out of range' },
  ERR_EST_SERIAL_FILE: { class: 'EstError', status: 500, message: 'serial file <path>: <reason>' },
  ERR_EST_SERIAL_LOCK: { class: 'EstError', status: 503, message: 'serial file <path>: lock still held after <ms> ms (with `Retry-After`)' },
  ERR_EST_SERIAL_EXHAUSTED: { class: 'EstError', status: 503, message: 'serial file <path>: serial numbers exhausted' },
  ERR_EST_STORE_UNAVAILABLE: { class: 'EstStoreError', status: 503, message: 'record store unavailable: <reason> (with `Retry-After`)' },
  ERR_EST_STORE_UNKNOWN_SERIAL: { class: 'EstStoreError', status: 404, message: 'no certificate with serial <serial> was issued' },
  ERR_EST_STORE_DECIDED: { class: 'EstStoreError', status: 409, message: 'the pending request was already decided' },
  ERR_EST_STORE_UNKNOWN_REQUEST: { class: 'EstStoreError', status: 404, message: 'no pending request <id>' },
  ERR_EST_STORE_DUPLICATE: { class: 'EstStoreError', status: 500, message: 'serial <serial> is already recorded (refused by the store, never issued twice)' },
  ERR_EST_STORE_RECORD: { class: 'EstStoreError', status: 500, message: 'record <serial>: <what is malformed>' },
  ERR_EST_STORE_INDEX: { class: 'EstStoreError', status: 500, message: '<index.txt>:<line>: <what is wrong>; at start-up' },
  ERR_EST_STORE_LEDGER: { class: 'EstStoreError', status: 500, message: '<ledger>: the line of serial <serial> at byte <offset> cannot be read (<why>); reported, the record is what index.txt knows' },
  ERR_EST_STORE_SCHEMA: { class: 'EstStoreError', status: 500, message: 'the database has no (or another) express-est schema: run `est-admin db migrate`' },
  ERR_EST_STORE_URL: { class: 'EstStoreError', status: 500, message: 'store must be a postgres:// URL' },
  ERR_EST_STORE_REASON: { class: 'EstStoreError', status: 400, message: 'reason <reason> cannot be written to index.txt' },
  ERR_EST_STORE_CLOSED: { class: 'EstStoreError', status: 503, message: 'record store <path> is closed' },
  ERR_EST_STORE_CRL_KEY: { class: 'EstStoreError', status: 500, message: 'the CA key does not match the CA certificate' },
  ERR_EST_STORE_CRL_OPTION: { class: 'EstStoreError', status: 500, message: 'createCrl: <nextUpdateDays or crlNumber> must be <its range> (got <value>)' },
  ERR_EST_REENROLL_REVOKED: { class: 'EstForbiddenError', status: 403, message: 'the client certificate (serial <serial>) has been revoked' },
  ERR_EST_CERT_REVOKED: { class: 'EstForbiddenError', status: 403, message: 'the client certificate (serial <serial>) has been revoked' },
  ERR_EST_REENROLL_NOT_ISSUED: { class: 'EstForbiddenError', status: 403, message: 'the client certificate (serial <serial>) was not issued by this CA' },
  ERR_EST_APPROVAL_DENIED: { class: 'EstForbiddenError', status: 403, message: 'request denied: <reason given by the admin, or the approval policy>' },
  ERR_EST_APPROVAL_EXPIRED: { class: 'EstForbiddenError', status: 403, message: 'pending request <id> expired undecided' },
  ERR_EST_APPROVAL_ISSUED: { class: 'EstForbiddenError', status: 403, message: 'request <id> was issued; a server-generated key is delivered once' },
  ERR_EST_APPROVAL_POLICY: { class: 'EstError', status: 500, message: 'the approval policy returned <value>, not issue, pending or deny' },
  ERR_EST_APPROVAL_RECORD: { class: 'EstError', status: 500, message: 'request <id> is marked issued but its record is missing' },
  ERR_EST_APPROVAL_REVOKED: { class: 'EstForbiddenError', status: 403, message: 'the certificate issued for this request (serial <serial>) was revoked' },
  ERR_EST_INTERNAL: { class: 'EstError', status: 500, message: 'internal server error (logged, nothing revealed)' },
} as const satisfies Record<string, EstErrorEntry>);

/** A catalogued error code. */
export type EstErrorCode = keyof typeof ERROR_CATALOGUE;

/** What {@link estError} passes on besides code and message. */
export interface EstErrorOptions {
  cause?: unknown;
  retryAfter?: number;
  headers?: Record<string, string>;
  /** Overrides the catalogue's status (ERR_EST_POLICY from a custom CA, store errors). */
  status?: number;
}

/**
 * Creates the catalogued error for `code`: the right class and status, one argument order
 * (code, message, options). The public constructors keep their historical orders for callers.
 */
export function estError(code: EstErrorCode, message: string, options: EstErrorOptions = {}): EstError {
  const entry: EstErrorEntry = ERROR_CATALOGUE[code];
  const status = options.status ?? entry.status;
  const cause = options.cause === undefined ? {} : { cause: options.cause };
  switch (entry.class) {
    case 'EstConfigError':
      return new EstConfigError(message, cause);
    case 'EstBadRequestError':
      return new EstBadRequestError(message, code, cause);
    case 'EstUnauthorizedError':
      return new EstUnauthorizedError(message, options.headers?.['WWW-Authenticate']);
    case 'EstForbiddenError':
      return new EstForbiddenError(message, code);
    case 'EstRetryLaterError':
      return new EstRetryLaterError(options.retryAfter ?? 0, message);
    case 'EstPolicyError':
      return new EstPolicyError(message, status, code);
    case 'EstStoreError':
      return new EstStoreError(code, message, { ...options, status });
    case 'EstError':
      return new EstError(status, code, message, options);
  }
}
