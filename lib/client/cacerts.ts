// Classifies a /cacerts response (RFC 7030 §4.1.3): trust anchor, chain, Root CA Key Update certs (RFC 4210 §4.4).
import { X509Certificate } from 'node:crypto';

/** The CA certificates a /cacerts response carried, classified. */
export interface CaCertificates {
  /** Every certificate, in the order received (RFC 5272 §4.1: the order carries no meaning). */
  certificates: X509Certificate[];
  /**
   * The EST CA trust anchor: the self-signed certificate with the latest notAfter (NewWithNew during a
   * rollover); when the response holds no self-signed certificate, the one no other certificate issued.
   */
  trustAnchor: X509Certificate;
  /** Certificates between an issued certificate and the trust anchor (subordinate CAs), excluding rollover links. */
  chain: X509Certificate[];
  /** OldWithOld: the previous self-signed root, when the response shows a key rollover. */
  oldWithOld?: X509Certificate;
  /** OldWithNew: the old public key certified by the new key. */
  oldWithNew?: X509Certificate;
  /** NewWithOld: the new public key certified by the old key. */
  newWithOld?: X509Certificate;
  /** NewWithNew: the new self-signed root (equals `trustAnchor`), set only during a rollover. */
  newWithNew?: X509Certificate;
  /** Other self-signed certificates that are neither the trust anchor nor part of a rollover. */
  otherRoots: X509Certificate[];
}

function spki(c: X509Certificate): Buffer {
  return c.publicKey.export({ type: 'spki', format: 'der' });
}

function signedBy(c: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return c.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function selfSigned(c: X509Certificate): boolean {
  return c.subject === c.issuer && signedBy(c, c);
}

function notAfter(c: X509Certificate): number {
  return Date.parse(c.validTo);
}

/**
 * Sorts the certificates of a /cacerts response into trust anchor, chain and the RFC 4210 §4.4 Root
 * CA Key Update certificates: OldWithNew carries the OldWithOld key signed by the NewWithNew key,
 * NewWithOld the NewWithNew key signed by the OldWithOld key.
 */
export function classifyCaCertificates(certs: readonly X509Certificate[]): CaCertificates {
  if (certs.length === 0) throw new RangeError('no certificates');
  const roots = certs.filter(selfSigned).sort((a, b) => notAfter(b) - notAfter(a));
  const others = certs.filter((c) => !roots.includes(c));
  if (roots.length === 0) {
    // No root in the bag: the anchor is the certificate that no other certificate in the bag issued.
    const top = certs.find((c) => !certs.some((i) => i !== c && signedBy(c, i) && c.issuer === i.subject)) ?? certs[certs.length - 1]!;
    return { certificates: [...certs], trustAnchor: top, chain: certs.filter((c) => c !== top), otherRoots: [] };
  }
  const newRoot = roots[0]!;
  const newKey = spki(newRoot);
  const result: CaCertificates = { certificates: [...certs], trustAnchor: newRoot, chain: [], otherRoots: [] };
  const links = new Set<X509Certificate>();
  for (const old of roots.slice(1)) {
    const oldKey = spki(old);
    const oldWithNew = others.find((c) => spki(c).equals(oldKey) && signedBy(c, newRoot));
    const newWithOld = others.find((c) => spki(c).equals(newKey) && signedBy(c, old));
    if ((oldWithNew || newWithOld) && !result.oldWithOld) {
      result.oldWithOld = old;
      result.newWithNew = newRoot;
      if (oldWithNew) {
        result.oldWithNew = oldWithNew;
        links.add(oldWithNew);
      }
      if (newWithOld) {
        result.newWithOld = newWithOld;
        links.add(newWithOld);
      }
    } else {
      result.otherRoots.push(old);
    }
  }
  result.chain = others.filter((c) => !links.has(c));
  return result;
}
