// Client certificate path validation (RFC 5280 §6) on pkijs's CertificateChainValidationEngine.
import type { X509Certificate } from 'node:crypto';
import * as pkijs from 'pkijs';
import { Oid } from '../protocol/constants.js';
import { nodeEngine, pkijsCertificate } from '../protocol/pkix.js';

/** Outcome of validating a client certificate: ok with the path (leaf first), or the reason it failed. */
export type ChainResult = { ok: true; anchor: X509Certificate; path: X509Certificate[] } | { ok: false; reason: string };

/** Longest path accepted (leaf + intermediates + anchor); a header cap in front usually bites first. */
export const MAX_PATH_LENGTH = 10;

/**
 * Extensions this validator processes (RFC 5280 §6.1.4 (o): any other critical extension fails the
 * path). pkijs handles basicConstraints, keyUsage, nameConstraints and the policy extensions; we
 * handle pathLenConstraint and extendedKeyUsage; the key identifiers, alternative names, CRL
 * distribution points and authority information access carry no restriction to enforce here.
 */
const KNOWN_EXTENSIONS: ReadonlySet<string> = new Set([
  Oid.subjectKeyIdentifier, Oid.keyUsage, Oid.subjectAltName, Oid.issuerAltName, Oid.basicConstraints, Oid.nameConstraints,
  Oid.cRLDistributionPoints, Oid.certificatePolicies, Oid.policyMappings, Oid.authorityKeyIdentifier, Oid.policyConstraints,
  Oid.extKeyUsage, Oid.inhibitAnyPolicy, Oid.authorityInfoAccess,
]);

interface Node {
  x509: X509Certificate;
  pkijs: pkijs.Certificate;
  anchor: boolean;
}

const parsedAnchors = new WeakMap<X509Certificate, pkijs.Certificate>();

function anchorNode(a: X509Certificate): Node {
  let p = parsedAnchors.get(a);
  if (!p) parsedAnchors.set(a, (p = pkijsCertificate(a.raw)));
  return { x509: a, pkijs: p, anchor: true };
}

function inValidity(c: X509Certificate, now: number): boolean {
  return Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo);
}

function name(c: X509Certificate): string {
  return JSON.stringify(c.subject.replace(/\n/g, ', '));
}

function selfIssued(c: X509Certificate): boolean {
  return c.subject === c.issuer;
}

function pathLenConstraint(c: pkijs.Certificate): number | undefined {
  const ext = c.extensions?.find((e) => e.extnID === Oid.basicConstraints);
  const bc = ext?.parsedValue as pkijs.BasicConstraints | undefined;
  if (!bc || !bc.cA || bc.pathLenConstraint === undefined) return undefined;
  return typeof bc.pathLenConstraint === 'number' ? bc.pathLenConstraint : Number.MAX_SAFE_INTEGER;
}

/** The checks pkijs's engine leaves out, on a complete path (leaf first, anchor last). */
function extraChecks(path: Node[]): string | undefined {
  // RFC 5280 §6.1.4 (o): unrecognised critical extensions, on the leaf and every intermediate.
  for (let i = 0; i < path.length - 1; i++) {
    const n = path[i]!;
    const unknown = n.pkijs.extensions?.find((e) => e.critical && !KNOWN_EXTENSIONS.has(e.extnID));
    if (unknown) {
      return `${i === 0 ? 'client certificate' : `intermediate ${name(n.x509)}`} has an unrecognised critical extension ${unknown.extnID}`;
    }
  }
  // RFC 5280 §6.1.4 (l)/(m): a CA's pathLenConstraint caps the non-self-issued intermediates below
  // it. Applied to the anchor too, as OpenSSL does.
  for (let i = 1; i < path.length; i++) {
    const max = pathLenConstraint(path[i]!.pkijs);
    if (max === undefined) continue;
    const below = path.slice(1, i).filter((n) => !selfIssued(n.x509)).length;
    if (below > max) return `pathLenConstraint ${max} of ${name(path[i]!.x509)} exceeded (${below} intermediate CA${below === 1 ? '' : 's'} below it)`;
  }
  for (let i = 1; i < path.length - 1; i++) {
    if (!path[i]!.x509.ca) return `intermediate ${name(path[i]!.x509)} is not a CA (basicConstraints CA:TRUE missing)`;
  }
  return undefined;
}

/** Why pkijs refused, in words naming the certificate where we can tell. */
function engineReason(code: number, message: string, path: Node[], now: number): string {
  switch (code) {
    case 8: {
      const bad = path.find((n) => !inValidity(n.x509, now));
      if (bad?.anchor) return 'trust anchor is expired or not yet valid';
      return bad ? `intermediate ${name(bad.x509)} is expired or not yet valid` : 'a certificate in the chain is expired or not yet valid';
    }
    case 14:
      return `an intermediate certificate may not issue certificates (basicConstraints/keyUsage keyCertSign)`;
    case 41:
      return 'name constraints violated: a name is outside the permitted subtrees';
    case 42:
      return 'name constraints violated: a name is inside the excluded subtrees';
    case 98:
    case 99:
    case 0:
      return `certificate policy processing failed: ${message}`;
    default:
      return `chain rejected: ${message}`;
  }
}

/**
 * Builds a path from `leaf` through `intermediates` (as presented, any order) to one of `anchors`
 * and validates it as RFC 5280 §6.1 says: signatures (Node's crypto, so every key type the CA
 * supports), validity, basicConstraints and keyUsage of each issuer, pathLenConstraint, name
 * constraints, policies, unrecognised critical extensions, and that the leaf may be used for
 * clientAuth. Never trusts a proxy's verdict. Revocation is not checked here.
 */
export async function verifyChain(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
  now = Date.now(),
): Promise<ChainResult> {
  if (anchors.length === 0) return { ok: false, reason: 'no trust anchors configured' };
  if (!inValidity(leaf, now)) return { ok: false, reason: 'client certificate is expired or not yet valid' };
  // As OpenSSL's "sslclient" purpose (what nginx ssl_verify_client applies): an extendedKeyUsage, when
  // present, must allow clientAuth (RFC 5280 §4.2.1.12).
  const eku = leaf.keyUsage as string[] | undefined;
  if (eku && eku.length > 0 && !eku.includes(Oid.kpClientAuth) && !eku.includes(Oid.anyExtendedKeyUsage)) {
    return { ok: false, reason: 'client certificate extendedKeyUsage does not allow clientAuth' };
  }
  const directAnchor = anchors.find((a) => a.raw.equals(leaf.raw));
  if (directAnchor) return { ok: true, anchor: directAnchor, path: [leaf] };
  if (intermediates.length + 2 > MAX_PATH_LENGTH) return { ok: false, reason: `certificate chain too long (at most ${MAX_PATH_LENGTH - 2} intermediates)` };

  let leafNode: Node;
  const nodes: Node[] = [];
  try {
    leafNode = { x509: leaf, pkijs: pkijsCertificate(leaf.raw), anchor: false };
    const seen = new Set<string>([leaf.fingerprint256, ...anchors.map((a) => a.fingerprint256)]);
    for (const c of intermediates) {
      // pkijs drops duplicates itself and would then lose track of the leaf: pass each once.
      if (seen.has(c.fingerprint256)) continue;
      seen.add(c.fingerprint256);
      nodes.push({ x509: c, pkijs: pkijsCertificate(c.raw), anchor: false });
    }
  } catch (e) {
    return { ok: false, reason: `malformed certificate in chain: ${(e as Error).message}` };
  }
  const anchorNodes = anchors.map(anchorNode);

  // The path is built from the leaf up, one issuer per certificate, chosen greedily (anchors
  // first, then CA intermediates), each intermediate used once, so it stays linear and bounded.
  // Only this path is handed to pkijs: a presented certificate off it (one that chains to an
  // anchor on its own) says nothing about the leaf.
  const path: Node[] = [leafNode];
  const issuerOf = new Map<pkijs.Certificate, Node>();
  let signatureFailure: string | undefined;
  const candidates = [...anchorNodes, ...nodes.filter((n) => n.x509.ca), ...nodes.filter((n) => !n.x509.ca)];
  while (!path[path.length - 1]!.anchor && path.length < MAX_PATH_LENGTH) {
    const child = path[path.length - 1]!;
    const issuer = candidates.find((cand) => {
      if (path.includes(cand) || cand.x509.subject !== child.x509.issuer) return false;
      let good = false;
      try {
        good = child.x509.verify(cand.x509.publicKey);
      } catch {
        good = false;
      }
      if (!good) signatureFailure ??= `signature of ${name(child.x509)} does not verify with the key of ${cand.anchor ? 'trust anchor' : 'intermediate'} ${name(cand.x509)}`;
      return good;
    });
    if (!issuer) break;
    issuerOf.set(child.pkijs, issuer);
    path.push(issuer);
  }
  const complete = path.length >= 2 && path[path.length - 1]!.anchor;
  if (!complete) return { ok: false, reason: signatureFailure ?? 'client certificate does not chain to a trusted CA' };

  const engine = new pkijs.CertificateChainValidationEngine({
    trustedCerts: [path[path.length - 1]!.pkijs],
    // pkijs takes the last of `certs` as the end-entity certificate.
    certs: [...path.slice(1, -1).map((n) => n.pkijs), leafNode.pkijs],
    checkDate: new Date(now),
    findIssuer: (cert: pkijs.Certificate) => {
      const issuer = issuerOf.get(cert);
      return Promise.resolve(issuer ? [issuer.pkijs] : []);
    },
  });
  let result: pkijs.CertificateChainValidationEngineVerifyResult;
  try {
    result = await engine.verify({ passedWhenNotRevValues: true }, nodeEngine);
  } catch (e) {
    result = { result: false, resultCode: -1, resultMessage: (e as Error).message };
  }
  // Our reasons first where they apply: they name the certificate at fault.
  const extra = extraChecks(path);
  if (extra) return { ok: false, reason: extra };
  if (!result.result) return { ok: false, reason: engineReason(result.resultCode ?? -1, result.resultMessage ?? 'unknown', path, now) };
  return { ok: true, anchor: path[path.length - 1]!.x509, path: path.map((n) => n.x509) };
}
