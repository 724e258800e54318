// What a handler knows about one request, and what est() prepared once for all of them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthMethod } from '../ca/types.js';
import type { CheckContext } from '../check/index.js';
import type { TlsFacts } from '../tls/tls-facts.js';
import type { EstConfig } from './assemble.js';
import type { Prepared } from './respond.js';

/** Built once per est(): constant responses and compiled checks. */
export interface Constants {
  /** /cacerts when the certificates are constant. */
  cacerts?: Prepared;
  /** /csrattrs when constant (configured, or none: 204). */
  csrattrs?: Prepared;
  /** True when the CA answers /csrattrs itself (no csrAttrs option). */
  csrattrsFromCa: boolean;
  /** Adds challengePassword when `pop` is on (RFC 7030 §4.5.2). */
  popCsrAttrs: (der: Uint8Array | undefined) => Uint8Array | undefined;
}

/** One request as the operation handlers see it. */
export interface RequestContext extends CheckContext {
  req: IncomingMessage;
  res: ServerResponse;
  config: EstConfig;
  /** Constant per est(): see {@link Constants}. */
  prepared: Constants;
  /** The request id: a sane incoming `X-Request-Id`, else generated (for logs and records). */
  requestId: string;
  label?: string;
  facts: TlsFacts;
  authenticatedBy: AuthMethod;
  /** The user name the auth backend returned in `X-EST-User`, if any (recorded in the ledger). */
  user?: string;
}
