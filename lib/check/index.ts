// The check stage (DESIGN "check"): everything a parsed CSR must pass before anything is issued.
// Key policy, signature, required attributes, proof-of-possession linking, OTP, re-enroll identity.
import type { X509Certificate } from 'node:crypto';
import type { IssuingOperation } from '../ca/types.js';
import { estError } from '../errors.js';
import { DerError } from '../protocol/der.js';
import type { ParsedCsr } from '../protocol/pkcs10.js';
import type { TlsFacts } from '../tls/tls-facts.js';
import { checkKeyPolicy } from './key-policy.js';
import type { NameRulesCheck } from './name-rules.js';
import { checkOtp, readOtp } from './otp.js';
import { checkPop } from './pop.js';
import { checkReenroll, type ReenrollKind } from './reenroll.js';
import type { RequiredAttrsCheck } from './required-attrs.js';
import { checkSignature } from './signature.js';

export { compileRequiredAttrs, type RequiredAttrsCheck } from './required-attrs.js';
export { compileNameRules, type NameRulesCheck } from './name-rules.js';
export { otpHeaderValue } from './otp.js';
export type { ReenrollKind } from './reenroll.js';

/** What the check stage needs to know about the request and the configuration. */
export interface CheckContext {
  facts: TlsFacts;
  /** est_pop: linking required. */
  pop: boolean;
  popAcceptTls13Finished: boolean;
  /** est_csr_attrs, compiled once. */
  requiredAttrs: RequiredAttrsCheck;
  /** A custom CA decides on an otpChallenge itself when no auth backend can verify it. */
  customCa: boolean;
  /** Verifies an RFC 7894 otpChallenge with the auth backend, when one is configured. */
  verifyOtp?: (otp: string) => Promise<void>;
  /** Subject and subjectAltName rules, compiled once (name-rules.ts). */
  nameRules: NameRulesCheck;
}

/** A CSR that passed the check stage, with what the checks found out. */
export interface CheckedRequest {
  operation: IssuingOperation;
  csr: ParsedCsr;
  /** RFC 7894 otpChallenge, verified or left to the custom CA. */
  otpChallenge?: string;
  /** For /simplereenroll: same key (renew) or a new one (rekey), RFC 7030 §4.2.2. */
  reenroll?: ReenrollKind;
}

function checkLinking(ctx: CheckContext, csr: ParsedCsr): string | undefined {
  try {
    checkPop(csr, ctx.facts, ctx.pop, ctx.popAcceptTls13Finished);
  } catch (e) {
    if (e instanceof DerError) throw estError('ERR_EST_CSR_MALFORMED', `malformed challenge attribute: ${e.message}`);
    throw e;
  }
  return readOtp(csr);
}

/** Runs every check for `operation` in order; throws the first failure as a catalogued EstError. */
export async function checkRequest(ctx: CheckContext, csr: ParsedCsr, operation: IssuingOperation): Promise<CheckedRequest> {
  const serverkeygen = operation === 'serverkeygen';
  // Structure and bounds of the names first: cheap, and before any signature work.
  ctx.nameRules(csr);
  if (!serverkeygen) {
    checkKeyPolicy(csr.keyType, csr.keyError);
    // The self-signature is the proof of possession (RFC 7030 §3.4); not for serverkeygen (§4.4.1).
    await checkSignature(csr);
  }
  ctx.requiredAttrs(csr, serverkeygen);
  const otp = checkLinking(ctx, csr);
  if (otp !== undefined) await checkOtp(otp, ctx.verifyOtp, ctx.customCa);
  const checked: CheckedRequest = { operation, csr };
  if (otp !== undefined) checked.otpChallenge = otp;
  if (operation === 'simplereenroll') {
    const current: X509Certificate | undefined = ctx.facts.clientCertificateVerified ? ctx.facts.clientCertificate : undefined;
    checked.reenroll = checkReenroll(csr, current);
  }
  return checked;
}
