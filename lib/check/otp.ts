// RFC 7894 otpChallenge: every challenge attribute present must be processed (§4).
import { estError } from '../errors.js';
import { Oid } from '../protocol/constants.js';
import { DerError } from '../protocol/der.js';
import { stringAttribute, type ParsedCsr } from '../protocol/pkcs10.js';

/** The CSR's otpChallenge, or undefined; 400 when the attribute is malformed. */
export function readOtp(csr: ParsedCsr): string | undefined {
  try {
    return stringAttribute(csr, Oid.otpChallenge);
  } catch (e) {
    if (e instanceof DerError) throw estError('ERR_EST_CSR_MALFORMED', `malformed challenge attribute: ${e.message}`);
    throw e;
  }
}

/**
 * Has the OTP verified: the auth backend checks it (header X-EST-OTP-Challenge); a custom CA
 * receives it in EnrollRequest.otpChallenge and decides. With neither, 400.
 */
export async function checkOtp(otp: string, verify: ((otp: string) => Promise<void>) | undefined, customCa: boolean): Promise<void> {
  if (verify) return verify(otp);
  if (!customCa) throw estError('ERR_EST_OTP_UNVERIFIED', 'otpChallenge present but no authorization backend (authRequest) can verify it (RFC 7894 §4)');
}
