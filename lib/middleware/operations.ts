// The EST operation table (RFC 7030 §3.2.2): the one place that says, for each operation, its
// method, whether it needs an authenticated client, the request body's media type and its handler.
import { MediaType } from '../protocol/constants.js';
import type { RequestContext } from './context.js';
import { fullcmc } from './fullcmc.js';
import { cacerts, csrattrs } from './handlers.js';
import { issueAndRespond, readCheckedCsr } from './issue.js';

export type OperationName = 'cacerts' | 'csrattrs' | 'simpleenroll' | 'simplereenroll' | 'serverkeygen' | 'fullcmc';

export interface Operation {
  name: OperationName;
  method: 'GET' | 'POST';
  /** Needs an authenticated client (RFC 7030 §4.2, §4.4); /cacerts and /csrattrs never do (§4.1.2, §4.5). */
  auth: boolean;
  /** Media type of the request body (POST), checked before it is read (415 otherwise). */
  contentType?: string;
  /** Answers the request once it is routed and authorized. */
  handler(ctx: RequestContext): Promise<void>;
}

/** An issuing operation: POST of a base64 PKCS#10 body (RFC 7030 §4.2.1, §4.4.1), through issue.ts. */
function issuing(name: 'simpleenroll' | 'simplereenroll' | 'serverkeygen'): Operation {
  const contentType = MediaType.pkcs10;
  return { name, method: 'POST', auth: true, contentType, handler: async (ctx) => issueAndRespond(ctx, await readCheckedCsr(ctx, name, contentType)) };
}

export const OPERATIONS: Readonly<Record<OperationName, Operation>> = Object.freeze({
  cacerts: { name: 'cacerts', method: 'GET', auth: false, handler: cacerts },
  csrattrs: { name: 'csrattrs', method: 'GET', auth: false, handler: csrattrs },
  simpleenroll: issuing('simpleenroll'),
  simplereenroll: issuing('simplereenroll'),
  serverkeygen: issuing('serverkeygen'),
  // RFC 7030 §4.3: the body is application/pkcs7-mime (a CMC Full PKI Request).
  fullcmc: { name: 'fullcmc', method: 'POST', auth: true, contentType: MediaType.pkcs7, handler: fullcmc },
});

/**
 * Path segments a label may never take (RFC 7030 §3.2.2), plus RFC 8295's extension components.
 */
export const RESERVED_SEGMENTS: ReadonlySet<string> = new Set([
  ...Object.keys(OPERATIONS),
  'pal', 'eecerts', 'crls', 'symmetrickeys', 'firmware', 'tamp',
]);

/** The `Allow` header value for an operation (HEAD rides along with GET). */
export function allowHeader(op: Operation): string {
  return op.method === 'GET' ? 'GET, HEAD' : 'POST';
}

export function lookupOperation(name: string): Operation | undefined {
  return Object.hasOwn(OPERATIONS, name) ? OPERATIONS[name as OperationName] : undefined;
}
