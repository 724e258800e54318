// Public entry point of express-est.
export { est, type EstMiddleware } from './middleware/est.js';
export type { EstOptions, EstLogger } from './middleware/options.js';
export type { PathOrContent } from './middleware/load.js';
export type { TrustProxy } from './tls/trust-proxy.js';
export type { ProxyHeaders, ProxyHeadersPreset, CertHeaderFormat } from './tls/proxy-headers.js';
export type { CertificateAuthority, EnrollRequest, IssuingOperation, AuthMethod, SerialStore, MaybePromise } from './ca/types.js';
export type { ParsedCsr, CsrAttribute, CsrExtension, KeyType } from './protocol/pkcs10.js';
export {
  EstError,
  EstConfigError,
  EstBadRequestError,
  EstUnauthorizedError,
  EstForbiddenError,
  EstRetryLaterError,
  EstPolicyError,
  EstStoreError,
  ERROR_CATALOGUE,
  estError,
  type EstErrorCode,
  type EstErrorEntry,
  type EstErrorOptions,
  type EstErrorClassName,
} from './errors.js';
export { createEstMetrics, metricsHandler, type EstMetrics, type EstMetricsOptions, type AuthOutcome } from './observe/metrics.js';
export { healthHandler, runChecks, authBackendCheck, serialFileCheck, type ReadinessCheck, type HealthOptions } from './observe/health.js';
