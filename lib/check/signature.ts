// The CSR's self-signature: its proof of possession of the private key (RFC 7030 §3.4).
import { estError } from '../errors.js';
import type { ParsedCsr } from '../protocol/pkcs10.js';

/** Verifies the CSR signature (on the thread pool); 400 when the algorithm is unsupported or it fails. */
export async function checkSignature(csr: ParsedCsr): Promise<void> {
  if (csr.signatureAlgorithmError) throw estError('ERR_EST_CSR_SIGNATURE', `CSR signature algorithm not supported: ${csr.signatureAlgorithmError}`);
  if (!(await csr.verifySignature())) throw estError('ERR_EST_CSR_SIGNATURE', 'CSR signature does not verify');
}
