// The CSR's self-signature: its proof of possession of the private key (RFC 7030 §3.4).
import { estError } from '../errors.js';
import type { ParsedCsr } from '../protocol/pkcs10.js';

/**
 * Verifies the CSR signature (on a crypto thread); 400 when the algorithm is unsupported or it
 * fails, or when the key turns out unusable on import (an EC point off the curve: ERR_EST_CSR_KEY).
 */
export async function checkSignature(csr: ParsedCsr): Promise<void> {
  if (csr.signatureAlgorithmError) throw estError('ERR_EST_CSR_SIGNATURE', `CSR signature algorithm not supported: ${csr.signatureAlgorithmError}`);
  const r = await csr.verify();
  if (r.keyError !== undefined) throw estError('ERR_EST_CSR_KEY', `unsupported or malformed public key in CSR: ${r.keyError}`);
  if (!r.ok) throw estError('ERR_EST_CSR_SIGNATURE', 'CSR signature does not verify');
}
