// Builds what est() runs on from the parsed options: the serial store, the CA (and, later, the
// record store) and the frozen configuration the request path reads.
import type { X509Certificate } from 'node:crypto';
import { EstConfigError, EstError, estError } from '../errors.js';
import type { CmsSigner } from '../protocol/cms-signed-data.js';
import type { CertificateAuthority, SerialStore } from '../ca/types.js';
import type { AuthCacheOptions } from '../auth/auth-cache.js';
import { CaMaterialError, FileCertificateAuthority } from '../ca/file-ca.js';
import { FileSerialStore } from '../ca/serial-file-store.js';
import { RandomSerialStore } from '../ca/random-serial-store.js';
import { LeasedSerialStore } from '../ca/leased-serial-store.js';
import type { CsrAttrsItem } from '../protocol/csrattrs.js';
import { useCryptoThreads } from '../protocol/crypto-pool.js';
import { defaultIndexPath } from '../store/file-store.js';
import { embeddedStore, isPgPool, postgresStore } from '../store/store-option.js';
import type { RecordStore } from '../store/types.js';
import type { ProxyHeaders } from '../tls/proxy-headers.js';
import type { TlsFactsConfig } from '../tls/tls-facts.js';
import { defaultSerialPath } from './directives.js';
import { createApprover, type Approver } from '../approve/approve.js';
import { secondsSince, type EstMetrics } from '../observe/metrics.js';
import { label, type EstLogger, type ParsedOptions } from './options.js';

/** The validated configuration the middleware runs on. */
export interface EstConfig extends TlsFactsConfig {
  ca: CertificateAuthority;
  /** True when `ca` was supplied by the user (it then decides on otpChallenge itself, and closes itself). */
  customCa: boolean;
  /** Pre-encoded /cacerts certificates when the CA is file-backed (constant). */
  cacertsDer?: Uint8Array[];
  /** est_csr_attrs: the configured DER and its items, parsed once. */
  csrAttrs?: { der: Uint8Array; items: CsrAttrsItem[] };
  pop: boolean;
  popAcceptTls13Finished: boolean;
  authRequest?: URL;
  authRequestTimeout: number;
  authRequestCache?: AuthCacheOptions;
  trustAnchors: X509Certificate[];
  trustProxy: (address: string) => boolean;
  proxyHeaders: ProxyHeaders;
  maxBodySize: number;
  bodyTimeout: number;
  maxSubjectAltNames: number;
  maxSubjectSize: number;
  logger: EstLogger;
  /** The issuance ledger (DESIGN "issue + record"); absent with `store: false`, or a custom CA without `store`. */
  store?: RecordStore;
  /** The store was chosen explicitly (`store` or `caIndex`): re-enrollment then requires a record. */
  storeExplicit: boolean;
  /** est() built the store (and closes it); a RecordStore passed in belongs to its owner. */
  storeOwned: boolean;
  /** Signs Full PKI Responses and encrypted server-generated keys: `cmsSigner`, else the file CA. */
  cmsSigner?: CmsSigner;
  serverKeygenKeys?: ParsedOptions['serverKeygenKeys'];
  serverKeygenRecipients?: ParsedOptions['serverKeygenRecipients'];
  /** The approve stage; absent with approval 'auto'. */
  approver?: Approver;
  metrics?: EstMetrics;
}

/** The serial store with every next() timed into `est_store_duration_seconds{store="serial"}`. */
function timedSerialStore(store: SerialStore, metrics: EstMetrics | undefined): SerialStore {
  if (!metrics) return store;
  const timed: SerialStore = {
    async next(count) {
      const start = process.hrtime.bigint();
      try {
        return await store.next(count);
      } finally {
        metrics.store.observe({ store: 'serial', operation: 'next' }, secondsSince(start));
      }
    },
  };
  if (store.close) timed.close = () => store.close!();
  return timed;
}

/** `cmsSigner`, or the file CA's own certificate, chain and key. */
function cmsSignerOf(o: ParsedOptions): CmsSigner | undefined {
  const pick = (certs: X509Certificate[], privateKey: CmsSigner['privateKey']): CmsSigner => ({
    certificate: new Uint8Array(certs[0]!.raw),
    privateKey,
    chain: certs.slice(1).map((c) => new Uint8Array(c.raw)),
  });
  if (o.cmsSigner) return pick(o.cmsSigner.certificates, o.cmsSigner.privateKey);
  if (!o.ca && o.caRootCertificate && o.caPrivateKey) return pick(o.caRootCertificate.certs, o.caPrivateKey);
  return undefined;
}

/** The approve stage from `approval*`; anything but 'auto' keeps pending requests in the store. */
function buildApprover(o: ParsedOptions, store: RecordStore | undefined): Approver | undefined {
  if (o.approval === 'auto') return undefined;
  if (!store) {
    throw new EstConfigError(`est: \`approval\` ${typeof o.approval === 'function' ? 'as a function' : `'${o.approval}'`} needs a record store to keep pending requests in (${o.store === false ? 'not `store: false`' : 'set `store`'})`);
  }
  return createApprover({ policy: o.approval, retryAfter: o.approvalRetryAfter, expiry: o.approvalExpiry * 1000 }, store);
}

/** The sequential serial file (optionally leased), or random serials; and the file, for its lock. */
function buildSerialStore(o: ParsedOptions): { serials: SerialStore; file?: FileSerialStore } {
  if (o.serialMode === 'random') return { serials: new RandomSerialStore() };
  let path = o.caSerialNumber;
  if (path === undefined) {
    const caPath = o.caRootCertificate?.path;
    if (caPath === undefined) {
      throw new EstConfigError(`${label('caSerialNumber')} is required when caRootCertificate is given as content, not a path (or use serialMode 'random')`);
    }
    path = defaultSerialPath(caPath);
  }
  try {
    const file = new FileSerialStore(path);
    return { serials: o.serialLease > 1 ? new LeasedSerialStore(file, { lease: o.serialLease }) : file, file };
  } catch (e) {
    throw new EstConfigError(`${label('caSerialNumber')}: ${(e as Error).message}`, { cause: e });
  }
}

/** Where serials come from: the serial file (or random), or a store that allocates them. */
function serialsFor(o: ParsedOptions, store: RecordStore | undefined): { serials: SerialStore; file?: FileSerialStore } {
  const fromStore = store !== undefined && o.store !== undefined && o.store !== false && o.caSerialNumber === undefined && o.serialMode === 'sequential';
  if (!fromStore) return buildSerialStore(o);
  // The client gets 503 + Retry-After and nothing internal; the log gets the cause.
  const next = (n: number) =>
    store.nextSerials(n).catch((e: unknown) => {
      o.logger.error({ err: e, code: (e as EstError).code }, `no serial number could be reserved: ${(e as Error).message}`);
      throw estError('ERR_EST_STORE_UNAVAILABLE', 'no serial number could be reserved; retry later', { retryAfter: e instanceof EstError && e.retryAfter !== undefined ? e.retryAfter : 5 });
    });
  // serialLease: blocks of serials from the database too (one query per block, not per batch).
  return { serials: o.serialLease > 1 ? new LeasedSerialStore({ next }, { lease: o.serialLease }) : { next } };
}

/** The file CA from the ca* options; its constructor checks certificate and key once. */
function buildFileCa(o: ParsedOptions, chain: X509Certificate[], serialStore: SerialStore): FileCertificateAuthority {
  const caCert = o.caRootCertificate!.certs[0]!;
  serialStore = timedSerialStore(serialStore, o.metrics);
  try {
    return new FileCertificateAuthority({
      certificate: new Uint8Array(caCert.raw),
      chain: chain.map((c) => new Uint8Array(c.raw)),
      privateKey: o.caPrivateKey!,
      serialStore,
      validityDays: o.caValidityDays,
      allowServerAuth: o.allowServerAuth,
      logger: o.logger,
    });
  } catch (e) {
    void serialStore.close?.();
    if (!(e instanceof CaMaterialError)) throw e;
    const option = e.part === 'key' ? 'caPrivateKey' : 'caRootCertificate';
    throw new EstConfigError(`${label(option)}: ${e.message}`, { cause: e });
  }
}

/** A store given by value: PostgreSQL from a URL or pool, or the RecordStore itself. */
function givenStore(o: ParsedOptions): { store: RecordStore; owned: boolean } | undefined {
  const v = o.store;
  if (v === undefined || v === false) return undefined;
  if (typeof v === 'string' || isPgPool(v)) return { store: postgresStore(v, (e) => o.logger.warn({ err: e }, `store: ${e.message}`)), owned: true };
  return { store: v, owned: false };
}

/** The embedded store over the serial file (under its lock), or beside the CA certificate in random mode. */
function buildEmbeddedStore(o: ParsedOptions, serials: SerialStore, file: FileSerialStore | undefined): RecordStore {
  let indexPath = o.caIndex;
  if (indexPath === undefined) {
    const base = file?.path ?? o.caRootCertificate?.path;
    if (base === undefined) {
      throw new EstConfigError('est: `caIndex` is required when caRootCertificate is given as content in random serial mode (or set `store`, or `store: false` for no ledger)');
    }
    indexPath = defaultIndexPath(base);
  }
  try {
    return embeddedStore(indexPath, serials, file?.lock, (e) => o.logger.error({ err: e }, `caIndex: ${e.message}`));
  } catch (e) {
    throw new EstConfigError(`est: \`caIndex\`: ${(e as Error).message}`, { cause: e });
  }
}

/** The CA, the /cacerts certificates, the default trust anchors, and the record store. */
function buildCa(o: ParsedOptions): { ca: CertificateAuthority; cacerts?: X509Certificate[]; anchors: X509Certificate[]; store?: RecordStore; owned: boolean } {
  const given = givenStore(o);
  if (o.ca) {
    const base = o.rootCertificate ? { ca: o.ca, cacerts: o.rootCertificate, anchors: o.rootCertificate } : { ca: o.ca, anchors: [] };
    return { ...base, ...(given ? { store: given.store } : {}), owned: given?.owned ?? false };
  }
  const caCerts = o.caRootCertificate!.certs;
  const root = o.rootCertificate ?? caCerts;
  const { serials, file } = serialsFor(o, given?.store);
  let store = given?.store;
  if (!store && o.store !== false) {
    try {
      store = buildEmbeddedStore(o, serials, file);
    } catch (e) {
      void serials.close?.();
      throw e;
    }
  }
  const ca = buildFileCa(o, root, serials);
  const anchors = [...root, ...caCerts.filter((c) => !root.some((r) => r.fingerprint256 === c.fingerprint256))];
  return { ca, cacerts: root, anchors, ...(store ? { store } : {}), owned: given ? given.owned : store !== undefined };
}

/** Builds the CA and serial store from parsed options and freezes the configuration. */
export function assemble(o: ParsedOptions): Readonly<EstConfig> {
  // Checked before anything is opened: pending requests need a store.
  if (o.approval !== 'auto' && (o.store === false || (o.ca !== undefined && o.store === undefined))) buildApprover(o, undefined);
  useCryptoThreads(o.cryptoThreads);
  const { ca, cacerts, anchors, store, owned } = buildCa(o);
  const config: EstConfig = {
    ca,
    customCa: o.ca !== undefined,
    pop: o.pop,
    popAcceptTls13Finished: o.popAcceptTls13Finished,
    authRequestTimeout: o.authRequestTimeout,
    ...(o.authRequestCache ? { authRequestCache: o.authRequestCache } : {}),
    trustAnchors: o.trustAnchors ?? anchors,
    trustProxy: o.trustProxy,
    proxyHeaders: o.proxyHeaders,
    maxBodySize: o.maxBodySize,
    bodyTimeout: o.bodyTimeout,
    maxSubjectAltNames: o.maxSubjectAltNames,
    maxSubjectSize: o.maxSubjectSize,
    logger: o.logger,
    storeExplicit: (o.store !== undefined && o.store !== false) || o.caIndex !== undefined,
    storeOwned: owned,
  };
  if (store) config.store = store;
  if (cacerts) config.cacertsDer = cacerts.map((c) => new Uint8Array(c.raw));
  if (o.csrAttrs) config.csrAttrs = o.csrAttrs;
  if (o.authRequest) config.authRequest = o.authRequest;
  const signer = cmsSignerOf(o);
  if (signer) config.cmsSigner = signer;
  if (o.serverKeygenKeys) config.serverKeygenKeys = o.serverKeygenKeys;
  if (o.serverKeygenRecipients) config.serverKeygenRecipients = o.serverKeygenRecipients;
  const approver = buildApprover(o, store);
  if (approver) config.approver = approver;
  if (o.metrics) config.metrics = o.metrics;
  return Object.freeze(config);
}
