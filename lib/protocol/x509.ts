// The parts of an X.509 certificate (RFC 5280 §4.1) that the server compares or copies.
// Hand-written on der.ts: read on the request path (exact byte ranges for name comparison) where
// pkijs's object model costs an order of magnitude more (BENCHMARKS.md); path validation uses pkijs.
import {
  children,
  content,
  ctxTag,
  DerError,
  expectChildren,
  raw,
  readBigInt,
  readBoolean,
  readOid,
  readTime,
  readWhole,
  Tag,
  type Tlv,
} from './der.js';
import type { CsrExtension } from './pkcs10.js';

/**
 * ```
 * Certificate ::= SEQUENCE { tbsCertificate TBSCertificate, signatureAlgorithm, signatureValue }
 * TBSCertificate ::= SEQUENCE { version [0] EXPLICIT, serialNumber, signature, issuer, validity,
 *   subject, subjectPublicKeyInfo, issuerUniqueID [1], subjectUniqueID [2], extensions [3] EXPLICIT }
 * ```
 */
export interface CertificateParts {
  der: Uint8Array;
  serial: bigint;
  issuerDer: Uint8Array;
  subjectDer: Uint8Array;
  spkiDer: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  extensions: CsrExtension[];
}

/** Splits a DER certificate into the parts we use. Throws DerError when malformed. */
export function parseCertificate(der: Uint8Array): CertificateParts {
  const top = readWhole(der, Tag.sequence, 'certificate');
  const [tbs] = children(top);
  if (!tbs) throw new DerError('empty certificate');
  const f = expectChildren(tbs, Tag.sequence, 'tbsCertificate');
  let i = 0;
  if (f[0]?.tag === ctxTag(0, true)) i++;
  const serial = readBigInt(f[i++]!);
  i++; // signature
  const issuer = f[i++]!;
  const validity = children(f[i++]!);
  const subject = f[i++]!;
  const spki = f[i++]!;
  if (!spki || spki.tag !== Tag.sequence || subject.tag !== Tag.sequence || issuer.tag !== Tag.sequence) {
    throw new DerError('bad tbsCertificate');
  }
  const extensions: CsrExtension[] = [];
  for (; i < f.length; i++) {
    if (f[i]!.tag !== ctxTag(3, true)) continue;
    const exts = children(f[i]!)[0]!;
    for (const ext of expectChildren(exts, Tag.sequence, 'Extensions')) {
      const e = children(ext);
      const critical = e.length === 3 ? readBoolean(e[1]!) : false;
      extensions.push({ oid: readOid(e[0]!), critical, value: content(e[e.length - 1]!) });
    }
  }
  return {
    der,
    serial,
    issuerDer: raw(issuer),
    subjectDer: raw(subject),
    spkiDer: raw(spki),
    notBefore: readTime(validity[0]!),
    notAfter: readTime(validity[1]!),
    extensions,
  };
}

/** The value of one extension, or undefined. */
export function findExtension(exts: readonly CsrExtension[], oid: string): CsrExtension | undefined {
  return exts.find((e) => e.oid === oid);
}

/** Reads basicConstraints cA from an extension value. */
export function isCaBasicConstraints(value: Uint8Array): boolean {
  const f = children(readWhole(value, Tag.sequence, 'basicConstraints'));
  return f[0] !== undefined && f[0].tag === Tag.boolean && readBoolean(f[0] as Tlv);
}
