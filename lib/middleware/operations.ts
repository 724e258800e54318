// The EST operation table (RFC 7030 §3.2.2): the one place that says which method and auth each needs.

export type OperationName = 'cacerts' | 'csrattrs' | 'simpleenroll' | 'simplereenroll' | 'serverkeygen' | 'fullcmc';

export interface Operation {
  name: OperationName;
  method: 'GET' | 'POST';
  /** Needs an authenticated client (RFC 7030 §4.2, §4.4); /cacerts and /csrattrs never do (§4.1.2, §4.5). */
  auth: boolean;
}

export const OPERATIONS: Readonly<Record<OperationName, Operation>> = Object.freeze({
  cacerts: { name: 'cacerts', method: 'GET', auth: false },
  csrattrs: { name: 'csrattrs', method: 'GET', auth: false },
  simpleenroll: { name: 'simpleenroll', method: 'POST', auth: true },
  simplereenroll: { name: 'simplereenroll', method: 'POST', auth: true },
  serverkeygen: { name: 'serverkeygen', method: 'POST', auth: true },
  fullcmc: { name: 'fullcmc', method: 'POST', auth: true },
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
