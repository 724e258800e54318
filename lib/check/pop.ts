// Identity/POP linking (RFC 7030 §3.5): the CSR carries the TLS channel binding in challengePassword.
import { timingSafeEqual } from 'node:crypto';
import { estError } from '../errors.js';
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

/** Why no binding can be checked, phrased for the operator reading the client's error. */
function unavailableReason(facts: TlsFacts, acceptTls13Finished: boolean): string {
  const base = 'proof-of-possession linking cannot be checked: no TLS channel binding is available for this connection';
  if (facts.bindingError) return `${base} (${facts.bindingError})`;
  if (facts.source === 'none') return `${base} (TLS is terminated elsewhere and the peer is not a trusted proxy)`;
  if (facts.source === 'proxy') {
    if (facts.protocol === 'TLSv1.3' && facts.bindings.tlsUnique && !acceptTls13Finished) {
      return `${base} (TLS 1.3 behind the proxy: pass the exporter secret for tls-exporter, or enable popAcceptTls13Finished)`;
    }
    return `${base} (the TLS terminator does not pass tls-unique; nginx, Envoy, Traefik and Apache cannot: use HAProxy or TCP pass-through)`;
  }
  return base;
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
    if (required) throw estError('ERR_EST_POP_MISSING', 'proof-of-possession linking required: put the base64 TLS channel binding in challengePassword (RFC 7030 §3.5)');
    return;
  }
  if (!required) return; // without est_pop, challengePassword is not interpreted (nginx-http-est behaviour)
  const expected = expectedBindings(facts, acceptTls13Finished);
  if (expected.length === 0) throw estError('ERR_EST_POP_UNAVAILABLE', unavailableReason(facts, acceptTls13Finished));
  // RFC 7894 §4: every linking attribute present must verify. Compared exactly (caseExactMatch).
  for (const value of provided) {
    if (!expected.some((e) => sameString(e, value))) {
      throw estError('ERR_EST_POP_MISMATCH', 'proof-of-possession linking failed: challengePassword does not match this TLS connection\'s channel binding (RFC 7030 §3.5)');
    }
  }
}
