// Keeps a certificate fresh: checks it, re-enrolls before expiry, refreshes the CA certs, retries
// with backoff. The engine behind `est-client renew [--watch]`.
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Oid } from '../protocol/constants.js';
import { parseCertificate } from '../protocol/x509.js';
import { EstClient, type CsrTemplate, type EstClientOptions } from './client.js';
import { ecKeySpecOf, generateKey, type KeySpec } from './csr.js';
import { EstClientConfigError, EstClientError } from './errors.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import { certificatesPem, privateKeyPem } from './files.js';
import { toCertificates, toPrivateKey } from './material.js';
import { sleep } from './retry-after.js';

/** Where the renewer reports what it does. */
export type RenewLogger = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** Options of `renewOnce` / `watchRenewal`. */
export interface RenewOptions {
  /** EST server URL. */
  url: string;
  label?: string;
  /** PEM certificate file: read, and replaced when renewed. */
  certFile: string;
  /** PEM private key file: read (created when missing), replaced on rekey. */
  keyFile: string;
  /** PEM CA certificates file: the trust anchors; refreshed from /cacerts on every renewal. */
  caFile: string;
  /**
   * When to renew: `{ seconds }` of remaining lifetime, or `{ percent }` of the total lifetime
   * (notBefore to notAfter) still left. @default { percent: 33 }
   */
  renewBefore?: { seconds: number } | { percent: number };
  /** Generate a new key on every renewal instead of keeping the current one. @default false */
  rekey?: boolean;
  /** Key type for new keys. @default the current key's type, else 'p256' */
  keyType?: KeySpec;
  /** Put the TLS channel binding in the CSR (RFC 7030 §3.5). @default false */
  pop?: boolean;
  /** Subject and SANs for a first enrollment (when there is no certificate yet). */
  subject?: string;
  san?: string[];
  /** Bootstrap fingerprint (SHA-256 of the CA certificate) when `caFile` does not exist yet. */
  fingerprint?: string;
  /** Credentials for a first enrollment, or when the certificate already expired. */
  basicAuth?: { username: string; password: string };
  authorization?: string;
  /** Extra EstClient options (TLS versions, timeout, servername, tls13Binding, retry). */
  client?: Pick<EstClientOptions, 'minVersion' | 'maxVersion' | 'timeout' | 'servername' | 'tls13Binding' | 'retry' | 'useSystemTrust' | 'preemptiveAuth'>;
  /** Milliseconds between checks in watch mode. @default 3600000 */
  interval?: number;
  /** Backoff after a failure: first wait and cap, in milliseconds. @default { min: 30000, max: 900000 } */
  retryBackoff?: { min: number; max: number };
  logger?: RenewLogger;
  signal?: AbortSignal;
}

/** What one check did. */
export interface RenewOutcome {
  action: 'none' | 'reenrolled' | 'enrolled';
  notAfter: Date;
  /** When the certificate becomes due for renewal. */
  dueAt: Date;
  serial: string;
}

const noop: RenewLogger = () => undefined;

function keySpecOf(key: KeyObject): KeySpec {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return d.modulusLength === 4096 ? 'rsa4096' : d.modulusLength === 3072 ? 'rsa3072' : 'rsa2048';
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec') return ecKeySpecOf(d.namedCurve ?? '') ?? 'p256';
  return 'p256';
}

/** When `cert` is due for renewal under `rule`. */
export function renewalDueAt(cert: X509Certificate, rule: RenewOptions['renewBefore'] = { percent: 33 }): Date {
  const nb = Date.parse(cert.validFrom);
  const na = Date.parse(cert.validTo);
  const before = 'seconds' in rule ? rule.seconds * 1000 : ((na - nb) * rule.percent) / 100;
  return new Date(na - before);
}

function readCerts(path: string): X509Certificate[] | undefined {
  if (!existsSync(path)) return undefined;
  return toCertificates(readFileSync(path, 'latin1'), path);
}

/**
 * One check: renews when the certificate is due (or missing), refreshing the CA certificates
 * first. Throws on failure; files are only replaced by complete, verified results.
 */
export async function renewOnce(o: RenewOptions): Promise<RenewOutcome> {
  const log = o.logger ?? noop;
  const rule = o.renewBefore ?? { percent: 33 };
  const current = readCerts(o.certFile)?.[0];
  const currentKey = existsSync(o.keyFile) ? toPrivateKey(readFileSync(o.keyFile, 'latin1'), o.keyFile) : undefined;
  const now = Date.now();
  if (current) {
    const dueAt = renewalDueAt(current, rule);
    const notAfter = new Date(Date.parse(current.validTo));
    if (now < dueAt.getTime()) {
      log('info', 'certificate is fresh', { serial: current.serialNumber, notAfter: notAfter.toISOString(), renewAt: dueAt.toISOString() });
      return { action: 'none', notAfter, dueAt, serial: current.serialNumber };
    }
    log('info', now >= notAfter.getTime() ? 'certificate expired: enrolling again' : 'certificate due for renewal', { serial: current.serialNumber, notAfter: notAfter.toISOString() });
  } else {
    log('info', 'no certificate yet: enrolling', { certFile: o.certFile });
  }
  const expired = !current || now >= Date.parse(current.validTo);
  if (current && currentKey && !current.checkPrivateKey(currentKey)) throw new EstClientConfigError(`${o.keyFile} does not match ${o.certFile}`);

  const anchors = readCerts(o.caFile);
  if (!anchors && !o.fingerprint) throw new EstClientConfigError(`${o.caFile} does not exist: give the CA certificates, or a --fingerprint to bootstrap them (RFC 7030 §4.1.1)`);
  const base: EstClientOptions = { url: o.url, ...(o.client ?? {}) };
  if (o.label) base.label = o.label;
  if (anchors) base.trustAnchors = anchors;
  if (o.fingerprint) base.bootstrap = { fingerprint: o.fingerprint };
  if (o.basicAuth) base.basicAuth = o.basicAuth;
  if (o.authorization) base.authorization = o.authorization;
  if (!expired && current && currentKey) {
    base.certificate = current;
    base.privateKey = currentKey;
  }
  if (expired && !o.basicAuth && !o.authorization && current) {
    throw new EstClientConfigError(`${o.certFile} expired on ${current.validTo}: re-enrollment needs a valid client certificate; give credentials (-u) to enroll again`);
  }
  const client = new EstClient(base);
  try {
    // Refresh the CA certificates first (a rollover shows up here), then enroll under them.
    const ca = await client.cacerts(o.signal ? { signal: o.signal } : {});
    const caPem = certificatesPem(ca.certificates);
    if (!anchors || certificatesPem(anchors) !== caPem) {
      await writeFileAtomic(o.caFile, caPem);
      log('info', anchors ? 'CA certificates changed: updated' : 'CA certificates stored', { caFile: o.caFile, trustAnchor: ca.trustAnchor.subject, rollover: !!ca.oldWithOld });
    }
    const newKey = o.rekey || !currentKey ? (await generateKey(o.keyType ?? (currentKey ? keySpecOf(currentKey) : 'p256'))).privateKey : currentKey;
    const call = o.signal ? { signal: o.signal } : {};
    const template = { privateKey: newKey, pop: !!o.pop };
    let result;
    let action: RenewOutcome['action'];
    if (!expired && current) {
      result = await client.simpleReenroll(template, call);
      action = 'reenrolled';
    } else {
      // First enrollment, or the certificate expired: Basic/Authorization instead of mTLS.
      const t: CsrTemplate = { ...template };
      const parts = current ? parseCertificate(new Uint8Array(current.raw)) : undefined;
      if (o.subject !== undefined) t.subject = o.subject;
      else if (parts) t.subject = parts.subjectDer;
      if (o.san) t.san = o.san;
      else if (parts?.extensions.some((e) => e.oid === Oid.subjectAltName)) t.extensions = parts.extensions.filter((e) => e.oid === Oid.subjectAltName);
      result = await client.simpleEnroll(t, call);
      action = 'enrolled';
    }
    const cert = result.certificate;
    if (!cert.publicKey.export({ type: 'spki', format: 'der' }).equals(createPublicKey(newKey).export({ type: 'spki', format: 'der' }))) {
      throw new EstClientError('ERR_EST_CLIENT_RESPONSE', 'the issued certificate does not certify the requested key');
    }
    // Key first, then certificate: each file is replaced atomically.
    if (newKey !== currentKey) await writeFileAtomic(o.keyFile, privateKeyPem(newKey), { mode: 0o600 });
    await writeFileAtomic(o.certFile, certificatesPem([cert]));
    const notAfter = new Date(Date.parse(cert.validTo));
    const dueAt = renewalDueAt(cert, rule);
    log('info', action === 'reenrolled' ? 'certificate renewed' : 'certificate enrolled', { serial: cert.serialNumber, notAfter: notAfter.toISOString(), renewAt: dueAt.toISOString(), newKey: newKey !== currentKey });
    return { action, notAfter, dueAt, serial: cert.serialNumber };
  } finally {
    await client.close();
  }
}

/**
 * Watch mode: checks every `interval` (sooner when renewal falls due earlier), renews when due,
 * and after a failure retries with exponential backoff. Resolves when `signal` aborts.
 */
export async function watchRenewal(o: RenewOptions): Promise<void> {
  const log = o.logger ?? noop;
  const interval = o.interval ?? 3_600_000;
  const backoff = o.retryBackoff ?? { min: 30_000, max: 900_000 };
  let failures = 0;
  log('info', 'watching certificate', { certFile: o.certFile, intervalSeconds: interval / 1000 });
  while (!o.signal?.aborted) {
    let wait: number;
    try {
      const r = await renewOnce(o);
      failures = 0;
      const untilDue = r.dueAt.getTime() - Date.now();
      if (r.action !== 'none' && untilDue <= 0) {
        log('warn', 'the new certificate is already due for renewal: its lifetime is shorter than the renewal threshold', { notAfter: r.notAfter.toISOString() });
        wait = interval;
      } else {
        wait = Math.max(0, Math.min(interval, untilDue));
      }
    } catch (e) {
      if (o.signal?.aborted) break;
      failures++;
      wait = Math.min(backoff.max, backoff.min * 2 ** (failures - 1));
      const err = e as EstClientError;
      log('error', `renewal failed: ${err.message}`, { code: err.code, attempt: failures, retryInSeconds: wait / 1000 });
    }
    try {
      await sleep(wait, o.signal);
    } catch {
      break;
    }
  }
  log('info', 'stopped watching');
}
