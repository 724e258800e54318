// RFC 7894 otpChallenge: every challenge attribute present must be processed (§4).
import { estError } from '../errors.js';
import { Oid } from '../protocol/constants.js';
import { DerError } from '../protocol/der.js';
import { stringAttribute, type ParsedCsr } from '../protocol/pkcs10.js';

/** otpChallenge is a DirectoryString {255} (RFC 7894 §3.1, Appendix A). */
const MAX_OTP_CHARACTERS = 255;

/**
 * The CSR's otpChallenge, or undefined; 400 when the attribute is malformed, empty, longer than
 * 255 characters, or holds a control character (it travels to the auth backend in a header).
 */
export function readOtp(csr: ParsedCsr): string | undefined {
  let otp: string | undefined;
  try {
    otp = stringAttribute(csr, Oid.otpChallenge);
  } catch (e) {
    if (e instanceof DerError) throw estError('ERR_EST_CSR_MALFORMED', `malformed challenge attribute: ${e.message}`);
    throw e;
  }
  if (otp === undefined) return undefined;
  const characters = [...otp].length;
  if (characters === 0 || characters > MAX_OTP_CHARACTERS) {
    throw estError('ERR_EST_CSR_MALFORMED', `malformed challenge attribute: otpChallenge must have 1 to ${MAX_OTP_CHARACTERS} characters (has ${characters})`);
  }
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(otp)) throw estError('ERR_EST_CSR_MALFORMED', 'malformed challenge attribute: otpChallenge holds a control character');
  return otp;
}

/**
 * The value of the X-EST-OTP-Challenge header for `otp`: its UTF-8 octets, each as one header
 * octet (ASCII as is), as a proxy forwards bytes; readOtp has already refused control characters.
 */
export function otpHeaderValue(otp: string): string {
  return Buffer.from(otp, 'utf8').toString('latin1');
}

/**
 * Has the OTP verified: the auth backend checks it (header X-EST-OTP-Challenge); a custom CA
 * receives it in EnrollRequest.otpChallenge and decides. With neither, 400.
 */
export async function checkOtp(otp: string, verify: ((otp: string) => Promise<void>) | undefined, customCa: boolean): Promise<void> {
  if (verify) return verify(otp);
  if (!customCa) throw estError('ERR_EST_OTP_UNVERIFIED', 'otpChallenge present but no authorization backend (authRequest) can verify it (RFC 7894 §4)');
}
