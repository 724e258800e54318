// Which CSR keys the CA certifies (the one list lives in protocol/key-types.ts).
import { estError } from '../errors.js';
import { keyTypeProblem, type KeyType } from '../protocol/key-types.js';

/** Key types the CA certifies: RSA 2048–16384, EC P-256/384/521, Ed25519, Ed448. `why` explains an unreadable key. */
export function checkKeyPolicy(k: KeyType | undefined, why?: string): void {
  if (!k) throw estError('ERR_EST_CSR_KEY', `unsupported or malformed public key in CSR${why ? `: ${why}` : ''}`);
  const problem = keyTypeProblem(k);
  if (problem) throw estError('ERR_EST_CSR_KEY', problem);
}
