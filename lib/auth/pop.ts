// Identity/POP linking (RFC 7030 §3.5): the CSR carries the TLS channel binding in challengePassword.
import { timingSafeEqual } from 'node:crypto';
import { EstBadRequestError } from '../errors.js';
import { Oid } from '../protocol/constants.js';
import { stringAttribute, type ParsedCsr } from '../protocol/pkcs10.js';
import type { TlsFacts } from '../tls/tls-facts.js';

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The base64 values a correct client may have sent on this connection. */
export function expectedBindings(facts: TlsFacts, acceptTls13Finished: boolean): string[] {
  const out: string[] = [];
  const { tlsUnique, tlsExporter } = facts.bindings;
  if (facts.protocol === 'TLSv1.3') {
    // RFC 9266 tls-exporter (as RFC 9148 applies it); optionally the OpenSSL Finished-based value.
    if (tlsExporter) out.push(tlsExporter.toString('base64'));
    if (tlsUnique && acceptTls13Finished) out.push(tlsUnique.toString('base64'));
  } else if (tlsUnique) {
    out.push(tlsUnique.toString('base64')); // RFC 5929 tls-unique
  }
  return out;
}

/**
 * Verifies linking values present in the CSR (challengePassword, RFC 7894 estIdentityLinking). With
 * `required` (est_pop on) at least one must be present. A value that is present must always match
 * (RFC 7030 §3.5 "MUST verify"), compared byte for byte over its full length.
 */
export function checkPop(csr: ParsedCsr, facts: TlsFacts, required: boolean, acceptTls13Finished: boolean): void {
  const linking = stringAttribute(csr, Oid.estIdentityLinking);
  const provided = [csr.challengePassword, linking].filter((v): v is string => v !== undefined);
  if (provided.length === 0) {
    if (required) throw new EstBadRequestError('proof-of-possession linking required: put the base64 TLS channel binding in challengePassword (RFC 7030 §3.5)', 'ERR_EST_POP_MISSING');
    return;
  }
  if (!required) return; // without est_pop, challengePassword is not interpreted (nginx-http-est behaviour)
  const expected = expectedBindings(facts, acceptTls13Finished);
  if (expected.length === 0) {
    throw new EstBadRequestError('proof-of-possession linking cannot be checked: no TLS channel binding is available for this connection', 'ERR_EST_POP_UNAVAILABLE');
  }
  for (const value of provided) {
    if (!expected.some((e) => sameString(e, value.trim()))) {
      throw new EstBadRequestError('proof-of-possession linking failed: challengePassword does not match this TLS connection\'s channel binding (RFC 7030 §3.5)', 'ERR_EST_POP_MISMATCH');
    }
  }
}
