// The authorize stage (DESIGN "authorize"): nginx-http-est's rule for operations that need a client.
import type { IncomingMessage } from 'node:http';
import type { AuthMethod } from '../ca/types.js';
import { EstUnauthorizedError } from '../errors.js';
import type { TlsFacts } from '../tls/tls-facts.js';
import type { AuthRequestFn } from './auth-request.js';

/** How the client was authenticated, and the user name the auth backend gave (`X-EST-User`). */
export interface Authorized {
  method: AuthMethod;
  user?: string;
}

/**
 * A verified client certificate is enough; else the auth backend (est_auth_request) is asked;
 * with neither, 401 (RFC 7030 §3.2.3). Returns how the client was authenticated.
 */
export async function authorize(
  req: IncomingMessage,
  facts: TlsFacts,
  authRequest: AuthRequestFn | undefined,
  originalUri: string,
): Promise<Authorized> {
  if (facts.clientCertificateVerified) return { method: 'certificate' };
  if (authRequest) {
    const { user } = await authRequest(req, originalUri);
    return user === undefined ? { method: 'auth-request' } : { method: 'auth-request', user };
  }
  throw new EstUnauthorizedError(facts.clientCertificate ? `client certificate not accepted: ${facts.clientCertificateError ?? 'unverified'}` : 'authentication required: present a TLS client certificate');
}
