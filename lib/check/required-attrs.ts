// Required CSR attributes from est_csr_attrs, checked as real CSR content (RFC 7030 §4.5.2, RFC 9908 §3.2).
import { estError } from '../errors.js';
import { Oid } from '../protocol/constants.js';
import type { CsrAttrsItem } from '../protocol/csrattrs.js';
import { children, DerError, readOid, readSmallInt, readWhole, Tag } from '../protocol/der.js';
import { curveByOid } from '../protocol/key-types.js';
import type { ParsedCsr } from '../protocol/pkcs10.js';

const HASH_SIGS: Record<string, string[]> = {
  [Oid.sha256]: [Oid.sha256WithRSAEncryption, Oid.ecdsaWithSHA256],
  [Oid.sha384]: [Oid.sha384WithRSAEncryption, Oid.ecdsaWithSHA384],
  [Oid.sha512]: [Oid.sha512WithRSAEncryption, Oid.ecdsaWithSHA512],
};
const SIGNATURE_OIDS = new Set<string>([
  Oid.sha256WithRSAEncryption, Oid.sha384WithRSAEncryption, Oid.sha512WithRSAEncryption, Oid.rsassaPss,
  Oid.ecdsaWithSHA256, Oid.ecdsaWithSHA384, Oid.ecdsaWithSHA512, Oid.ed25519, Oid.ed448,
]);
const KEY_OIDS = new Set<string>([Oid.rsaEncryption, Oid.ecPublicKey, Oid.ed25519, Oid.ed448, Oid.rsassaPss]);
/** Informational items: templates (RFC 9908 §3.4) and serverkeygen encryption hints are not enforced. */
const NOT_ENFORCED = new Set<string>([Oid.certificationRequestInfoTemplate, Oid.smimeCapabilities, Oid.decryptKeyIdentifier, Oid.asymmDecryptKeyIdentifier]);

/** A compiled requirement: a predicate and the name used in the 400 reason. */
interface Requirement {
  name: string;
  keyOnly: boolean;
  test(csr: ParsedCsr): boolean;
}

function hasAttrOrExt(csr: ParsedCsr, oid: string): boolean {
  return csr.attributes.some((a) => a.oid === oid) || csr.extensions.some((e) => e.oid === oid);
}

function bareOid(oid: string): Requirement {
  if (KEY_OIDS.has(oid) && oid !== Oid.ed25519 && oid !== Oid.ed448) {
    return { name: `key algorithm ${oid}`, keyOnly: true, test: (c) => c.keyAlgorithmOid === oid };
  }
  if (oid === Oid.ed25519 || oid === Oid.ed448) {
    return { name: `key or signature algorithm ${oid}`, keyOnly: true, test: (c) => c.keyAlgorithmOid === oid || c.signatureAlgorithmOid === oid };
  }
  if (curveByOid(oid)) return { name: `curve ${oid}`, keyOnly: true, test: (c) => c.keyCurveOid === oid };
  if (SIGNATURE_OIDS.has(oid)) return { name: `signature algorithm ${oid}`, keyOnly: true, test: (c) => c.signatureAlgorithmOid === oid };
  if (HASH_SIGS[oid]) {
    const sigs = HASH_SIGS[oid]!;
    return { name: `hash ${oid}`, keyOnly: true, test: (c) => sigs.includes(c.signatureAlgorithmOid) };
  }
  if (oid === Oid.challengePassword) {
    // RFC 7894 §3.3: estIdentityLinking carries the same linking value.
    return { name: 'challengePassword', keyOnly: false, test: (c) => hasAttrOrExt(c, oid) || hasAttrOrExt(c, Oid.estIdentityLinking) };
  }
  return { name: oid, keyOnly: false, test: (c) => hasAttrOrExt(c, oid) };
}

function compile(item: CsrAttrsItem): Requirement[] {
  if ('oid' in item) return NOT_ENFORCED.has(item.oid) ? [] : [bareOid(item.oid)];
  const { attribute, values } = item;
  if (NOT_ENFORCED.has(attribute)) return [];
  if (attribute === Oid.extensionRequest) {
    // RFC 9908 §3.2: one value holding Extensions; each extnID must be requested. RFC 7030's
    // original (incorrect) example put bare OIDs there: read those as bare OIDs.
    const reqs: Requirement[] = [];
    for (const v of values) {
      const t = readWhole(v);
      if (t.tag === Tag.oid) {
        reqs.push(bareOid(readOid(t)));
        continue;
      }
      for (const ext of children(t)) {
        const extOid = readOid(children(ext)[0]!);
        reqs.push({ name: `extension ${extOid}`, keyOnly: false, test: (c) => c.extensions.some((e) => e.oid === extOid) });
      }
    }
    return reqs;
  }
  if (attribute === Oid.ecPublicKey) {
    const curves = values.map((v) => readOid(readWhole(v)));
    return [{
      name: `EC key on ${curves.join(' or ') || 'any curve'}`,
      keyOnly: true,
      test: (c) => c.keyAlgorithmOid === Oid.ecPublicKey && (curves.length === 0 || curves.includes(c.keyCurveOid ?? '')),
    }];
  }
  if (attribute === Oid.rsaEncryption) {
    const sizes = values.map((v) => readSmallInt(readWhole(v)));
    const min = sizes.length ? Math.min(...sizes) : 0;
    return [{
      name: `RSA key of at least ${min} bits`,
      keyOnly: true,
      test: (c) => (c.keyType?.kind === 'rsa' || c.keyType?.kind === 'rsa-pss') && c.keyType.bits >= min,
    }];
  }
  if (KEY_OIDS.has(attribute)) return [bareOid(attribute)];
  return [{ name: attribute, keyOnly: false, test: (c) => hasAttrOrExt(c, attribute) }];
}

/** Checks a CSR against the compiled requirements; `serverkeygen` skips key and signature items. */
export type RequiredAttrsCheck = (csr: ParsedCsr, serverkeygen: boolean) => void;

/** Compiles the configured CsrAttrs items (parsed once, at start-up); returns a checker run on every CSR. */
export function compileRequiredAttrs(items: readonly CsrAttrsItem[] | undefined): RequiredAttrsCheck {
  if (!items) return () => {};
  let reqs: Requirement[];
  try {
    reqs = items.flatMap(compile);
  } catch (e) {
    throw new DerError(`csrAttrs: ${(e as Error).message}`);
  }
  return (csr, serverkeygen) => {
    for (const r of reqs) {
      // RFC 7030 §4.4.1: the key and signature of a serverkeygen CSR are ignored.
      if (serverkeygen && r.keyOnly) continue;
      if (!r.test(csr)) throw estError('ERR_EST_CSR_ATTRS', `CSR lacks required attribute: ${r.name}`);
    }
  };
}
