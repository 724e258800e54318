// Public entry of the CA layer: the file CA, its profile, serial stores and server-side key generation.
export type { CertificateAuthority, EnrollRequest, IssuingOperation, AuthMethod, MaybePromise, SerialStore } from './types.js';
export { MAX_SERIAL } from './types.js';
export {
  FileCertificateAuthority,
  checkCaMaterial,
  findCaMaterialProblem,
  CaMaterialError,
  type CaMaterialPart,
  type CaMaterialProblem,
  type FileCertificateAuthorityOptions,
  type FileCaLogger,
} from './file-ca.js';
export {
  buildTbsCertificate,
  createIssuerProfile,
  keyIdentifier,
  readSpki,
  subjectKeyOfCsr,
  BACKDATE_MS,
  type IssuerProfile,
  type IssuerProfileOptions,
  type SubjectInput,
  type TbsResult,
  type SubjectKeyKind,
  type SubjectKey,
} from './profile.js';
export { FileSerialStore, formatSerial, parseSerialFile, randomSerialStart, type FileSerialStoreOptions } from './serial-file-store.js';
export { RandomSerialStore } from './random-serial-store.js';
export { generateKeyLike, keygenAndEnroll, rsaBitsFor, type GeneratedKey, type ServerKeygenResult } from './keygen.js';
