// Certs-only CMC Simple PKI Response: a degenerate CMS SignedData (RFC 5272 §4.1, RFC 7030 §4.1.3).
// Hand-written: a fixed frame around certificate bytes, built on every enrollment; signed CMS (the
// Full PKI Response, encrypted keys) uses pkijs in cms-signed-data.ts.
import { Oid } from './constants.js';
import { children, ctxTag, DerError, explicit, integer, oid, raw, readOid, readWhole, seq, set, Tag, tlv } from './der.js';

/**
 * ```
 * ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
 * SignedData ::= SEQUENCE { version 1, digestAlgorithms SET {} , encapContentInfo { id-data },
 *   certificates [0] IMPLICIT SET OF Certificate, signerInfos SET {} }
 * ```
 * Certificates keep the given order (clients must not assume one, RFC 5272 §4.1).
 */
export function encodeCertsOnly(certs: readonly Uint8Array[]): Uint8Array {
  const signedData = seq(
    integer(1),
    set(),
    seq(oid(Oid.data)),
    tlv(ctxTag(0, true), ...certs),
    set(),
  );
  return seq(oid(Oid.signedData), explicit(0, signedData));
}

/** The certificates of a certs-only (or any) SignedData ContentInfo, as DER. */
export function decodeCertsOnly(der: Uint8Array): Uint8Array[] {
  const top = readWhole(der, Tag.sequence, 'PKCS#7 ContentInfo');
  const [typeTlv, contentTlv] = children(top);
  if (!typeTlv || readOid(typeTlv) !== Oid.signedData || !contentTlv) throw new DerError('not a PKCS#7 SignedData');
  const sd = children(children(contentTlv)[0]!);
  const certSet = sd.find((t) => t.tag === ctxTag(0, true));
  if (!certSet) return [];
  return children(certSet)
    .filter((t) => t.tag === Tag.sequence)
    .map((t) => raw(t));
}
