// Client certificate path validation against the configured trust anchors (RFC 5280 §6, simplified).
import type { X509Certificate } from 'node:crypto';
import { Oid } from '../protocol/constants.js';

/** Outcome of validating a client certificate: ok, or the reason it failed. */
export type ChainResult = { ok: true; anchor: X509Certificate } | { ok: false; reason: string };


function inValidity(c: X509Certificate, now: number): boolean {
  return Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo);
}

function signedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/**
 * Builds a path from `leaf` through `intermediates` (as presented, any order) to one of `anchors`;
 * checks signatures, validity dates, that every issuer is a CA and that the leaf may be used for
 * clientAuth. Never trusts a proxy's verdict.
 */
export function verifyChain(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
  now = Date.now(),
): ChainResult {
  if (anchors.length === 0) return { ok: false, reason: 'no trust anchors configured' };
  if (!inValidity(leaf, now)) return { ok: false, reason: 'client certificate is expired or not yet valid' };
  // As OpenSSL's "sslclient" purpose (what nginx ssl_verify_client applies): an extendedKeyUsage, when
  // present, must allow clientAuth (RFC 5280 §4.2.1.12).
  const eku = leaf.keyUsage as string[] | undefined;
  if (eku && eku.length > 0 && !eku.includes(Oid.kpClientAuth) && !eku.includes(Oid.anyExtendedKeyUsage)) {
    return { ok: false, reason: 'client certificate extendedKeyUsage does not allow clientAuth' };
  }
  let current = leaf;
  const used = new Set<string>();
  for (let depth = 0; depth < 8; depth++) {
    const anchor = anchors.find((a) => signedBy(current, a));
    if (anchor) {
      if (!inValidity(anchor, now)) return { ok: false, reason: 'trust anchor is expired' };
      return { ok: true, anchor };
    }
    const next = intermediates.find((i) => !used.has(i.fingerprint256) && i.ca && signedBy(current, i));
    if (!next) return { ok: false, reason: 'client certificate does not chain to a trusted CA' };
    if (!inValidity(next, now)) return { ok: false, reason: 'an intermediate certificate is expired' };
    used.add(next.fingerprint256);
    current = next;
  }
  return { ok: false, reason: 'certificate chain too long' };
}
