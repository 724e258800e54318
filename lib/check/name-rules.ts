// Name policy of the check stage: what a CSR's subject and subjectAltName must satisfy before any CA copies them.
import { estError } from '../errors.js';
import { Oid } from '../protocol/constants.js';
import { readWhole, Tag } from '../protocol/der.js';
import { checkGeneralNames, checkNameSyntax, NameSyntaxError, type NameAttribute } from '../protocol/name-syntax.js';
import type { ParsedCsr } from '../protocol/pkcs10.js';
import { parseCertificate } from '../protocol/x509.js';

/** Limits and names the rules need, fixed at start-up. */
export interface NameRulesOptions {
  /** Most GeneralNames in a requested subjectAltName. */
  maxSubjectAltNames: number;
  /** Largest DER subject Name, in bytes. */
  maxSubjectSize: number;
  /** DER certificates whose subjects no issued certificate may carry (the CA chain, trust anchors). */
  caCertificates: readonly Uint8Array[];
}

/** The compiled name rules: throws a 400 `ERR_EST_CSR_NAME` naming the rule a CSR breaks. */
export type NameRulesCheck = (csr: ParsedCsr) => void;

/** Canonical text of a Name for equality (RFC 5280 §7.1: case and inner whitespace ignored). */
function canonical(attrs: readonly NameAttribute[]): string {
  return attrs.map((a) => `${a.oid}=${a.text.normalize('NFKC').toLowerCase().trim().replace(/\s+/g, ' ')}`).join('\u0001');
}

function refuse(message: string): never {
  throw estError('ERR_EST_CSR_NAME', message);
}

/**
 * Compiles the name rules: every CSR's subject is a well-formed Name within `maxSubjectSize`
 * bytes (RFC 5280 §4.1.2.4, §4.1.2.6; bounds of Appendix A; no NUL characters) and is not the
 * name of a CA certificate; its subjectAltName, when requested, is well formed, holds at most
 * `maxSubjectAltNames` names (RFC 5280 §4.2.1.6) and no directoryName that is a CA certificate's name. A violation is a 400 `ERR_EST_CSR_NAME` naming the rule.
 */
export function compileNameRules(options: NameRulesOptions): NameRulesCheck {
  const caNames = new Set<string>();
  for (const der of options.caCertificates) {
    try {
      caNames.add(canonical(checkNameSyntax(readWhole(parseCertificate(der).subjectDer, Tag.sequence, 'CA subject'), 'CA subject')));
    } catch {
      // A CA name this parser does not accept cannot be equal to an accepted subject.
    }
  }
  return (csr) => {
    if (csr.subjectDer.length > options.maxSubjectSize) {
      refuse(`subject is ${csr.subjectDer.length} bytes; at most ${options.maxSubjectSize} are allowed (maxSubjectSize)`);
    }
    try {
      const attrs = checkNameSyntax(readWhole(csr.subjectDer, Tag.sequence, 'subject'));
      if (attrs.length > 0 && caNames.has(canonical(attrs))) refuse("subject equals a CA certificate's name: an issued certificate may not impersonate its issuer (RFC 5280 §4.1.2.6)");
      const san = csr.extensions.find((e) => e.oid === Oid.subjectAltName);
      if (san) {
        for (const g of checkGeneralNames(san.value, options.maxSubjectAltNames)) {
          if (g.name && g.name.length > 0 && caNames.has(canonical(g.name))) {
            refuse("subjectAltName directoryName equals a CA certificate's name: an issued certificate may not impersonate its issuer (RFC 5280 §4.1.2.6, §4.2.1.6)");
          }
        }
      }
    } catch (e) {
      if (e instanceof NameSyntaxError) refuse(e.message);
      throw e;
    }
  };
}
