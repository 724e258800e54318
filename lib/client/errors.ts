// Errors raised by the EST client. Each has a stable `code` (ERR_EST_CLIENT_*) to match on.

/** Base class of every error the EST client raises on purpose. */
export class EstClientError extends Error {
  /** Stable machine-readable code, `ERR_EST_CLIENT_*`. */
  readonly code: string;

  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * The server answered with a status other than the success the operation expects (RFC 7030 §4.2.3:
 * any other status is an error). `reason` is the server's plaintext explanation (RFC 8951 §5), trimmed.
 */
export class EstHttpError extends EstClientError {
  /** HTTP status the server sent. */
  readonly status: number;
  /** The server's human-readable reason (response body as text, at most 1000 characters). */
  readonly reason: string;
  /** Response headers (lower-case names). */
  readonly headers: Record<string, string>;

  constructor(status: number, reason: string, headers: Record<string, string>, operation: string) {
    const why = reason ? `: ${reason.split(/\r?\n/)[0]}` : '';
    super(status === 401 ? 'ERR_EST_CLIENT_UNAUTHORIZED' : 'ERR_EST_CLIENT_HTTP', `${operation}: server answered ${status}${why}`);
    this.status = status;
    this.reason = reason;
    this.headers = headers;
  }
}

/** The server keeps answering 202 (RFC 7030 §4.2.3) beyond the configured retry cap. */
export class EstRetryLimitError extends EstClientError {
  /** The last Retry-After the server asked for, in seconds. */
  readonly retryAfter: number;

  constructor(operation: string, attempts: number, retryAfter: number, why: string) {
    super('ERR_EST_CLIENT_RETRY_LIMIT', `${operation}: request still pending after ${attempts} attempt(s) (server asks to retry in ${retryAfter} s; ${why})`);
    this.retryAfter = retryAfter;
  }
}

/** A response the client cannot use: wrong media type, bad base64, malformed PKCS#7 or key. */
export class EstResponseError extends EstClientError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_EST_CLIENT_RESPONSE', message, options);
  }
}

/**
 * The server could not be authorized: TLS verification failed, the certificate does not match the
 * URI (RFC 7030 §3.6), or a bootstrap check (fingerprint or callback, §4.1.1) refused the CA certs.
 */
export class EstTrustError extends EstClientError {
  constructor(message: string, code = 'ERR_EST_CLIENT_TRUST', options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** A bad option given to `EstClient`, a helper or the CLI. */
export class EstClientConfigError extends EstClientError {
  constructor(message: string) {
    super('ERR_EST_CLIENT_CONFIG', message);
  }
}

/** Proof-of-possession linking is impossible on this connection (no channel binding available). */
export class EstPopError extends EstClientError {
  constructor(message: string) {
    super('ERR_EST_CLIENT_POP', message);
  }
}

/** A network-level failure: connection refused, reset, timeout. */
export class EstNetworkError extends EstClientError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_EST_CLIENT_NETWORK', message, options);
  }
}
