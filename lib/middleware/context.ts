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

/** What the request's one log line says, filled in as the request goes down the path. */
export interface Observed {
  operation?: string;
  label?: string;
  peer?: string;
  auth?: AuthMethod;
  /** The Basic user name, or the verified client certificate's subject. */
  user?: string;
  /** Issued certificate: serial as openssl writes it, and subject. */
  serial?: string;
  subject?: string;
  /** simplereenroll: `renew` (same key) or `rekey`. */
  reenroll?: string;
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
  /** When the request arrived (`process.hrtime.bigint()`), for the issuance latency. */
  startedAt: bigint;
  observed: Observed;
}
