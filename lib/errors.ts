// Error classes with stable codes; the middleware renders EstError as a status + one-line reason.

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
  constructor(message = 'authentication required', wwwAuthenticate = 'Basic realm="est"') {
    super(401, 'ERR_EST_UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': wwwAuthenticate } });
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
