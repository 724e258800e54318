// Builds what est() runs on from the parsed options: the serial store, the CA (and, later, the
// record store) and the frozen configuration the request path reads.
import type { X509Certificate } from 'node:crypto';
import { EstConfigError } from '../errors.js';
import type { CertificateAuthority, SerialStore } from '../ca/types.js';
import { CaMaterialError, FileCertificateAuthority } from '../ca/file-ca.js';
import { FileSerialStore } from '../ca/serial-file-store.js';
import { RandomSerialStore } from '../ca/random-serial-store.js';
import { LeasedSerialStore } from '../ca/leased-serial-store.js';
import type { CsrAttrsItem } from '../protocol/csrattrs.js';
import type { ProxyHeaders } from '../tls/proxy-headers.js';
import type { TlsFactsConfig } from '../tls/tls-facts.js';
import { defaultSerialPath } from './directives.js';
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
  trustAnchors: X509Certificate[];
  trustProxy: (address: string) => boolean;
  proxyHeaders: ProxyHeaders;
  maxBodySize: number;
  logger: EstLogger;
}

/** The sequential serial file (optionally leased), or random serials. */
function buildSerialStore(o: ParsedOptions): SerialStore {
  if (o.serialMode === 'random') return new RandomSerialStore();
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
    return o.serialLease > 1 ? new LeasedSerialStore(file, { lease: o.serialLease }) : file;
  } catch (e) {
    throw new EstConfigError(`${label('caSerialNumber')}: ${(e as Error).message}`, { cause: e });
  }
}

/** The file CA from the ca* options; its constructor checks certificate and key once. */
function buildFileCa(o: ParsedOptions, chain: X509Certificate[]): FileCertificateAuthority {
  const caCert = o.caRootCertificate!.certs[0]!;
  const serialStore = buildSerialStore(o);
  try {
    return new FileCertificateAuthority({
      certificate: new Uint8Array(caCert.raw),
      chain: chain.map((c) => new Uint8Array(c.raw)),
      privateKey: o.caPrivateKey!,
      serialStore,
      validityDays: o.caValidityDays,
      allowServerAuth: o.allowServerAuth,
    });
  } catch (e) {
    void serialStore.close?.();
    if (!(e instanceof CaMaterialError)) throw e;
    const option = e.part === 'key' ? 'caPrivateKey' : 'caRootCertificate';
    throw new EstConfigError(`${label(option)}: ${e.message}`, { cause: e });
  }
}

/** The CA, the /cacerts certificates and the default trust anchors. */
function buildCa(o: ParsedOptions): { ca: CertificateAuthority; cacerts?: X509Certificate[]; anchors: X509Certificate[] } {
  if (o.ca) return o.rootCertificate ? { ca: o.ca, cacerts: o.rootCertificate, anchors: o.rootCertificate } : { ca: o.ca, anchors: [] };
  const caCerts = o.caRootCertificate!.certs;
  const root = o.rootCertificate ?? caCerts;
  const ca = buildFileCa(o, root);
  const anchors = [...root, ...caCerts.filter((c) => !root.some((r) => r.fingerprint256 === c.fingerprint256))];
  return { ca, cacerts: root, anchors };
}

/** Builds the CA and serial store from parsed options and freezes the configuration. */
export function assemble(o: ParsedOptions): Readonly<EstConfig> {
  const { ca, cacerts, anchors } = buildCa(o);
  const config: EstConfig = {
    ca,
    customCa: o.ca !== undefined,
    pop: o.pop,
    popAcceptTls13Finished: o.popAcceptTls13Finished,
    authRequestTimeout: o.authRequestTimeout,
    trustAnchors: o.trustAnchors ?? anchors,
    trustProxy: o.trustProxy,
    proxyHeaders: o.proxyHeaders,
    maxBodySize: o.maxBodySize,
    logger: o.logger,
  };
  if (cacerts) config.cacertsDer = cacerts.map((c) => new Uint8Array(c.raw));
  if (o.csrAttrs) config.csrAttrs = o.csrAttrs;
  if (o.authRequest) config.authRequest = o.authRequest;
  return Object.freeze(config);
}
