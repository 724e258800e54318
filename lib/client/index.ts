// Public entry of `express-est/client`: the EST client SDK.
export { EstClient } from './client.js';
export type { EstClientOptions, BootstrapOptions, CallOptions, CsrTemplate, EnrollInput, ServerKeygenInput, ServerKeygenDecrypt, EnrollResult, ServerKeygenResult, CsrAttrsResult, EstClientEvent } from './client.js';
export { classifyCaCertificates, type CaCertificates } from './cacerts.js';
export { parseAttributeArg, planCsr, describeOid, type CsrAttributeInput, type CsrSupply, type CsrPlan } from './csr-requirements.js';
export { buildCsr, generateKey, parseKeySpec, encodeSubject, encodeSubjectAltName, type CsrOptions, type CsrExtensionInput, type KeySpec } from './csr.js';
export type { ChannelBinding } from './transport.js';
export type { CertificateInput, PrivateKeyInput } from './material.js';
export { parseRetryAfter } from './retry-after.js';
export { watchRenewal, renewOnce, type RenewOptions, type RenewLogger, type RenewOutcome } from './renew.js';
export {
  EstClientError,
  EstHttpError,
  EstRetryLimitError,
  EstResponseError,
  EstTrustError,
  EstClientConfigError,
  EstPopError,
  EstNetworkError,
} from './errors.js';
