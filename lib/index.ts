// Public entry point of express-est.
export { est, type EstMiddleware } from './middleware/est.js';
export type { EstOptions, EstLogger } from './middleware/options.js';
export type { PathOrContent } from './middleware/load.js';
export type { TrustProxy } from './tls/trust-proxy.js';
export type { ProxyHeaders, ProxyHeadersPreset, CertHeaderFormat } from './tls/proxy-headers.js';
export type { CertificateAuthority, EnrollRequest, IssuingOperation, AuthMethod, SerialStore, MaybePromise } from './ca/types.js';
export type { ParsedCsr, CsrAttribute, CsrExtension, KeyType } from './protocol/pkcs10.js';
export type { ApprovalPolicy, ApprovalContext, ApprovalDecision, ApprovalOptions } from './approve/options.js';
export { estAdmin, hashPassword, verifyPassword, type EstAdminOptions, type EstAdminHandler, type AdminAuth } from './admin/index.js';
export { MemoryStore, type MemoryStoreOptions } from './store/memory-store.js';
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
export type {
  RecordStore,
  CertificateRecord,
  Requester,
  RecordQuery,
  RevocationReason,
  SerialStatus,
  PendingRequest,
  PendingQuery,
} from './store/types.js';
export { FileRecordStore, defaultIndexPath, type FileRecordStoreOptions } from './store/file-store.js';
export { PostgresRecordStore, migrate, importRecords, createPool, SCHEMA_VERSION, type PostgresRecordStoreOptions } from './store/postgres-store.js';
export { openStore, revokeCertificate, createCrl, importFiles, type StoreLocation, type CreateCrlOptions } from './store/admin.js';
export { buildCrl, type CrlInput } from './store/crl.js';
export { recordOf, type IssuanceContext } from './store/record.js';
export type { StoreOption } from './store/store-option.js';
