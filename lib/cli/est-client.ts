#!/usr/bin/env node
// est-client: the EST client CLI (cacerts, csrattrs, enroll, reenroll, serverkeygen, renew [--watch]).
import { X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { EstClient, type EstClientEvent, type EstClientOptions } from '../client/client.js';
import { generateKey, parseKeySpec, type KeySpec } from '../client/csr.js';
import { parseAttributeArg, planCsr, type CsrAttributeInput } from '../client/csr-requirements.js';
import { EstClientConfigError, EstClientError, EstHttpError, EstRetryLimitError } from '../client/errors.js';
import { certificatesPem, privateKeyPem } from '../client/files.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import { readInputFile, toCertificates, toPrivateKey } from '../client/material.js';
import { buildPkcs12 } from '../client/pkcs12.js';
import { watchRenewal, renewOnce, type RenewLogger, type RenewOptions } from '../client/renew.js';
import { encodeCertsOnly } from '../protocol/pkcs7.js';
import { Oid } from '../protocol/constants.js';

/** Exit codes: 0 success, 1 the server refused or failed, 2 usage or local error. */
export const EXIT = { ok: 0, server: 1, usage: 2 } as const;

const HELP = `Usage: est-client <command> <url> [options]

EST (RFC 7030) client. <url> is the server, e.g. https://est.example.com (the path
defaults to /.well-known/est); --label selects a CA label.

Commands:
  cacerts        fetch the CA certificates (trust anchor, chain, rollover certs)
  csrattrs       show the CSR attributes the server wants
  enroll         get a certificate for a new or given key (/simpleenroll)
  reenroll       renew the certificate given with --cert/--key (/simplereenroll)
  serverkeygen   let the server generate the key (/serverkeygen)
  renew          renew --cert/--key when due; with --watch keep doing it

Server authorization (one is required):
  --ca FILE                trust anchors (PEM) for the server certificate
  --system-ca              also trust the system's public CAs
  --insecure-bootstrap --fingerprint SHA256
                           cacerts only: accept the CA certs over an unverified connection
                           if one has this SHA-256 fingerprint (RFC 7030 §4.1.1)
Client authentication:
  -u, --user USER:PASS     HTTP Basic (sent when challenged; --preemptive to send at once)
  --auth-header VALUE      any Authorization header value
  --cert FILE --key FILE   TLS client certificate and key (for reenroll: the one renewed)
Request:
  --csr FILE               send this CSR (PEM or DER) as is
  --new-key FILE           key for the CSR (enroll; reenroll --rekey); generated when absent
  --key-type TYPE          rsa2048|rsa3072|rsa4096|p256|p384|p521|ed25519 (default p256)
  --subject DN             /CN=dev-1/O=Acme or CN=dev-1,O=Acme
  --san VALUE              DNS:name, IP:addr, email:addr, URI:uri (repeatable)
  --pop                    put the TLS channel binding in challengePassword (RFC 7030 §3.5)
  --attr NAME=VALUE        add a CSR attribute (repeatable): macAddress=00:1A:2B:3C:4D:5E,
                           challengePassword=SECRET, unstructuredName=..., or OID=text / OID=der:HEX
  --from-csrattrs          read /csrattrs first: pick the key type it asks for, turn on --pop
                           when it lists challengePassword, and stop (exit 2) naming every
                           required attribute that still needs a value
  --rekey                  reenroll/renew with a new key
Output:
  -o, --out FILE           certificate (default: stdout)
  --key-out FILE           generated or server-generated private key (mode 0600)
  --format pem|der         certificate format (default pem; der: cacerts as PKCS#7)
  --chain                  append the CA chain to the certificate file (pem)
  --p12 FILE --p12-password PASS   also write key + certificate as PKCS#12
renew:
  --renew-before WHEN      e.g. 33% of the lifetime (default), 48h, 30m, 600s
  --watch                  keep running: check every --interval (default 1h)
  --interval DURATION      e.g. 1h, 10m, 30s
  --retry-min/--retry-max DURATION   backoff after failures (default 30s / 15m)
TLS and retries:
  --label LABEL  --tls-min 1.2|1.3  --tls-max 1.2|1.3  --servername NAME
  --tls13-binding exporter|finished   PoP value under TLS 1.3 (default exporter)
  --timeout SECONDS (default 30)  --retries N (202 answers tolerated, default 5)
  --max-wait SECONDS  longest Retry-After honoured (default 3600)
  --wait DURATION     keep retrying a pending (202) request this long in all, e.g. 10m, 2h, 7d
                      (waiting for a person to approve; counts no attempts unless --retries)
  -q, --quiet   -v, --verbose   -h, --help

Exit codes: 0 success, 1 the server refused or failed, 2 usage or local error.

Examples:
  est-client cacerts https://est.example.com --insecure-bootstrap \\
      --fingerprint 3A:F1:...:9C -o ca.pem
  est-client enroll https://est.example.com --ca ca.pem -u device1:otp1234 \\
      --subject /CN=device1 --san DNS:device1.example.com --pop \\
      --new-key device1.key -o device1.crt
  est-client enroll https://est.example.com --ca ca.pem -u device1:otp1234 \\
      --subject /CN=device1 --from-csrattrs --attr macAddress=00:1A:2B:3C:4D:5E \\
      --new-key device1.key -o device1.crt
  est-client reenroll https://est.example.com --ca ca.pem --cert device1.crt \\
      --key device1.key -o device1.crt
  est-client serverkeygen https://est.example.com --ca ca.pem -u admin:secret \\
      --subject /CN=gw-7 --key-out gw-7.key -o gw-7.crt --p12 gw-7.p12 --p12-password changeit
  est-client renew https://est.example.com --ca ca.pem --cert device1.crt \\
      --key device1.key --renew-before 30% --watch --interval 1h
`;

class UsageError extends Error {}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  url: { type: 'string' },
  label: { type: 'string' },
  ca: { type: 'string' },
  'system-ca': { type: 'boolean' },
  'insecure-bootstrap': { type: 'boolean' },
  fingerprint: { type: 'string' },
  user: { type: 'string', short: 'u' },
  preemptive: { type: 'boolean' },
  'auth-header': { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  csr: { type: 'string' },
  'new-key': { type: 'string' },
  'key-type': { type: 'string' },
  subject: { type: 'string' },
  san: { type: 'string', multiple: true },
  pop: { type: 'boolean' },
  attr: { type: 'string', multiple: true },
  'from-csrattrs': { type: 'boolean' },
  rekey: { type: 'boolean' },
  out: { type: 'string', short: 'o' },
  'key-out': { type: 'string' },
  format: { type: 'string' },
  chain: { type: 'boolean' },
  p12: { type: 'string' },
  'p12-password': { type: 'string' },
  'renew-before': { type: 'string' },
  watch: { type: 'boolean' },
  interval: { type: 'string' },
  'retry-min': { type: 'string' },
  'retry-max': { type: 'string' },
  'tls-min': { type: 'string' },
  'tls-max': { type: 'string' },
  servername: { type: 'string' },
  'tls13-binding': { type: 'string' },
  timeout: { type: 'string' },
  retries: { type: 'string' },
  'max-wait': { type: 'string' },
  wait: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** Where the CLI writes: injectable for tests. */
export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  signal?: AbortSignal;
}

/** Parses `48h`, `30m`, `90s`, `2d` or a bare number of seconds into milliseconds. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${what}: expected a duration like 30s, 10m, 2h or 7d (got ${JSON.stringify(text)})`);
  const n = Number(m[1]);
  const unit = (m[2] ?? 's').toLowerCase();
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit]!;
}

/** Parses `--renew-before`: a percentage of the lifetime or a duration. */
export function parseRenewBefore(text: string): { percent: number } | { seconds: number } {
  const p = /^(\d+(?:\.\d+)?)\s*%$/.exec(text.trim());
  if (p) {
    const percent = Number(p[1]);
    if (percent <= 0 || percent >= 100) throw new UsageError(`--renew-before: a percentage must be between 0 and 100 (got ${text})`);
    return { percent };
  }
  return { seconds: parseDuration(text, '--renew-before') / 1000 };
}

function tlsVersion(v: string | undefined, flag: string): 'TLSv1.2' | 'TLSv1.3' | undefined {
  if (v === undefined) return undefined;
  if (v === '1.2' || v === 'TLSv1.2') return 'TLSv1.2';
  if (v === '1.3' || v === 'TLSv1.3') return 'TLSv1.3';
  throw new UsageError(`${flag}: expected 1.2 or 1.3 (RFC 8996 forbids older versions), got ${JSON.stringify(v)}`);
}

function positive(v: string | undefined, flag: string, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag}: expected a non-negative number, got ${JSON.stringify(v)}`);
  return n;
}

function basic(v: Values): { username: string; password: string } | undefined {
  if (v.user === undefined) return undefined;
  const i = v.user.indexOf(':');
  // RFC 7030 §3.2.3: the username may be empty.
  if (i < 0) throw new UsageError('-u/--user: expected USER:PASS (USER may be empty: ":PASS")');
  return { username: v.user.slice(0, i), password: v.user.slice(i + 1) };
}

function clientOptions(v: Values, url: string, log: (s: string) => void): EstClientOptions {
  const o: EstClientOptions = { url };
  if (v.label) o.label = v.label;
  if (v.ca) o.trustAnchors = toCertificates(readInputFile(v.ca, '--ca'), `--ca ${v.ca}`);
  if (v['system-ca']) o.useSystemTrust = true;
  if (v['insecure-bootstrap']) {
    if (!v.fingerprint) throw new UsageError('--insecure-bootstrap needs --fingerprint SHA256 (the CA certificate\'s, obtained out of band)');
    o.bootstrap = { fingerprint: v.fingerprint };
  } else if (v.fingerprint) {
    o.bootstrap = { fingerprint: v.fingerprint };
  }
  if (!v.ca && !v['system-ca'] && !v['insecure-bootstrap']) {
    throw new UsageError('no way to authorize the server: give --ca FILE, --system-ca, or --insecure-bootstrap --fingerprint SHA256');
  }
  const b = basic(v);
  if (b) o.basicAuth = b;
  if (v.preemptive) o.preemptiveAuth = true;
  if (v['auth-header']) o.authorization = v['auth-header'];
  if (v.cert || v.key) {
    if (!v.cert || !v.key) throw new UsageError('--cert and --key go together');
    o.certificate = toCertificates(readInputFile(v.cert, '--cert'), `--cert ${v.cert}`);
    o.privateKey = toPrivateKey(readInputFile(v.key, '--key'), `--key ${v.key}`);
  }
  const min = tlsVersion(v['tls-min'], '--tls-min');
  const max = tlsVersion(v['tls-max'], '--tls-max');
  if (min) o.minVersion = min;
  if (max) o.maxVersion = max;
  if (v.servername) o.servername = v.servername;
  if (v['tls13-binding']) {
    if (v['tls13-binding'] !== 'exporter' && v['tls13-binding'] !== 'finished') throw new UsageError('--tls13-binding: exporter or finished');
    o.tls13Binding = v['tls13-binding'];
  }
  o.timeout = positive(v.timeout, '--timeout', 30) * 1000;
  o.retry = { maxAttempts: Math.max(1, Math.floor(positive(v.retries, '--retries', 5))), maxDelay: positive(v['max-wait'], '--max-wait', 3600) };
  if (v.wait !== undefined) {
    o.retry.maxWait = parseDuration(v.wait, '--wait') / 1000;
    if (v.retries === undefined) o.retry.maxAttempts = Infinity;
  }
  o.onEvent = (e: EstClientEvent) => {
    if (e.type === 'retry-after') {
      log(`${e.operation}: ${e.message || 'accepted for later processing'} (202); retrying in ${e.seconds} s, attempt ${e.attempt}, ${formatSeconds(e.timeLeft)} left`);
    }
    else if (e.type === 'auth-challenge') log(`${e.operation}: server asked for ${e.scheme} authentication; sending credentials`);
    else if (e.type === 'connection-replaced') log(`${e.operation}: connection closed; rebuilding the PoP-linked CSR on a new one`);
    else if (e.type === 'bootstrap') log(`cacerts: bootstrap accepted; trust anchor ${e.trustAnchor.replace(/\n/g, ', ')}`);
  };
  return o;
}

/** `42 s`, `3 min 5 s`, `2 h 0 min`, `6 d 23 h`: the time left before giving up. */
function formatSeconds(total: number): string {
  if (!Number.isFinite(total)) return 'no limit';
  const t = Math.max(0, Math.floor(total));
  if (t < 60) return `${t} s`;
  if (t < 3600) return `${Math.floor(t / 60)} min ${t % 60} s`;
  if (t < 86_400) return `${Math.floor(t / 3600)} h ${Math.floor((t % 3600) / 60)} min`;
  return `${Math.floor(t / 86_400)} d ${Math.floor((t % 86_400) / 3600)} h`;
}

function oidName(oid: string): string {
  const names: Record<string, string> = { [Oid.challengePassword]: 'challengePassword', [Oid.extensionRequest]: 'extensionRequest', [Oid.ecPublicKey]: 'id-ecPublicKey', [Oid.rsaEncryption]: 'rsaEncryption', [Oid.secp256r1]: 'secp256r1', [Oid.secp384r1]: 'secp384r1', [Oid.secp521r1]: 'secp521r1', [Oid.ecdsaWithSHA256]: 'ecdsa-with-SHA256', [Oid.ecdsaWithSHA384]: 'ecdsa-with-SHA384', [Oid.sha256WithRSAEncryption]: 'sha256WithRSAEncryption', [Oid.ed25519]: 'Ed25519', [Oid.macAddress]: 'macAddress', [Oid.subjectAltName]: 'subjectAltName' };
  return names[oid] ? `${names[oid]} (${oid})` : oid;
}

function oneLine(dn: string): string {
  return dn.split('\n').join(', ');
}

/** Writes the certificate (and optional chain, key, PKCS#12) as asked. */
async function writeOutputs(v: Values, io: CliIo, cert: X509Certificate, all: X509Certificate[], key?: KeyObject): Promise<void> {
  const format = v.format ?? 'pem';
  if (format !== 'pem' && format !== 'der') throw new UsageError('--format: pem or der');
  const chain = v.chain ? all.filter((c) => c !== cert) : [];
  const data: string | Uint8Array = format === 'der' ? new Uint8Array(cert.raw) : certificatesPem([cert, ...chain]);
  if (v.out) await writeFileAtomic(v.out, data);
  else if (format === 'pem') io.stdout(data as string);
  else throw new UsageError('--format der needs -o FILE');
  if (key && v['key-out']) await writeFileAtomic(v['key-out'], privateKeyPem(key), { mode: 0o600 });
  if (v.p12) {
    if (!key) throw new UsageError('--p12 needs the private key (--new-key, --key or serverkeygen)');
    if (v['p12-password'] === undefined) throw new UsageError('--p12 needs --p12-password');
    await writeFileAtomic(v.p12, await buildPkcs12(key, [cert, ...all.filter((c) => c !== cert)], v['p12-password']), { mode: 0o600 });
  }
}

/** The key for a new CSR: read from --new-key when it exists, else generated (and saved there). */
async function csrKey(v: Values, wanted?: KeySpec): Promise<{ key: KeyObject; generated: boolean }> {
  const path = v['new-key'];
  if (path && existsSync(path)) return { key: toPrivateKey(readFileSync(path), `--new-key ${path}`), generated: false };
  if (!path && !v['key-out']) throw new UsageError('the new private key must be saved: give --new-key FILE (or --key-out FILE)');
  const key = (await generateKey(v['key-type'] ? parseKeySpec(v['key-type']) : (wanted ?? 'p256'))).privateKey;
  if (path) await writeFileAtomic(path, privateKeyPem(key), { mode: 0o600 });
  return { key, generated: true };
}

/** `--attr` values as CSR attributes; challengePassword there and `--pop` exclude each other. */
function attributesOf(v: Values): CsrAttributeInput[] {
  const attrs = (v.attr ?? []).map(parseAttributeArg);
  if (v.pop && attrs.some((a) => a.oid === Oid.challengePassword)) {
    throw new UsageError('--pop puts the TLS channel binding in challengePassword: drop --attr challengePassword');
  }
  return attrs;
}

/**
 * `--from-csrattrs`: reads /csrattrs and plans the CSR. Prints what is met; when a required
 * attribute still needs a value, names each one and stops before anything is sent.
 */
async function planFromCsrAttrs(client: EstClient, v: Values, attributes: CsrAttributeInput[], fixedKey: boolean, call: { signal?: AbortSignal }, io: CliIo, log: (s: string) => void): Promise<{ keyType?: KeySpec; pop: boolean }> {
  const plain = { keyType: undefined, pop: !!v.pop };
  if (!v['from-csrattrs']) return plain;
  if (v.csr) throw new UsageError('--from-csrattrs builds the CSR itself: drop --csr');
  const got = await client.csrattrs(call);
  if (got.items.length === 0) {
    log('csrattrs: the server requires no CSR attributes');
    return plain;
  }
  const plan = planCsr(got.items, { attributes, san: !!v.san?.length, pop: !!v.pop, fixedKey, ...(v['key-type'] ? { keyType: parseKeySpec(v['key-type']) } : {}) });
  for (const line of plan.satisfied) log(`csrattrs: ${line}`);
  if (plan.missing.length) {
    io.stderr(`est-client: the server's /csrattrs requires ${plan.missing.length === 1 ? 'an attribute' : 'attributes'} still without a value:\n${plan.missing.map((m) => `  ${m}\n`).join('')}`);
    throw new MissingAttributes();
  }
  return { ...(plan.keyType ? { keyType: plan.keyType } : {}), pop: plan.pop };
}

/** Stops a command after the missing attributes were listed (exit 2). */
class MissingAttributes extends Error {}

async function runCommand(cmd: string, url: string, v: Values, io: CliIo): Promise<number> {
  const log = (s: string) => {
    if (!v.quiet) io.stderr(s + '\n');
  };
  const call = io.signal ? { signal: io.signal } : {};
  if (cmd === 'renew') return renew(url, v, io, log);
  const client = new EstClient(clientOptions(v, url, log));
  try {
    switch (cmd) {
      case 'cacerts': {
        const ca = await client.cacerts(call);
        log(`trust anchor: ${oneLine(ca.trustAnchor.subject)} (SHA-256 ${ca.trustAnchor.fingerprint256})`);
        for (const c of ca.chain) log(`chain:        ${oneLine(c.subject)}`);
        if (ca.oldWithOld) {
          log(`rollover:     OldWithOld ${oneLine(ca.oldWithOld.subject)}, NewWithNew ${oneLine(ca.trustAnchor.subject)}`);
          if (ca.oldWithNew) log('              OldWithNew present');
          if (ca.newWithOld) log('              NewWithOld present');
        }
        if (v.format === 'der') {
          if (!v.out) throw new UsageError('--format der needs -o FILE');
          await writeFileAtomic(v.out, encodeCertsOnly(ca.certificates.map((c) => new Uint8Array(c.raw))));
        } else if (v.out) await writeFileAtomic(v.out, certificatesPem(ca.certificates));
        else io.stdout(certificatesPem(ca.certificates));
        return EXIT.ok;
      }
      case 'csrattrs': {
        const a = await client.csrattrs(call);
        if (a.items.length === 0) io.stdout('no CSR attributes\n');
        for (const i of a.items) io.stdout('oid' in i ? `${oidName(i.oid)}\n` : `${oidName(i.attribute)}: ${i.values.map((x) => Buffer.from(x).toString('hex')).join(', ')}\n`);
        if (v.out && a.der) await writeFileAtomic(v.out, a.der);
        return EXIT.ok;
      }
      case 'enroll':
      case 'reenroll': {
        if (v.csr) {
          if (v.pop) throw new UsageError('--pop needs the client to build the CSR: drop --csr');
          if (v.attr || v['from-csrattrs']) throw new UsageError('--attr and --from-csrattrs need the client to build the CSR: drop --csr');
          const csr = readInputFile(v.csr, '--csr');
          const r = cmd === 'enroll' ? await client.simpleEnroll(csr, call) : await client.simpleReenroll(csr, call);
          log(`issued: ${oneLine(r.certificate.subject)} serial ${r.certificate.serialNumber}, valid until ${r.certificate.validTo}`);
          await writeOutputs(v, io, r.certificate, r.certificates);
          return EXIT.ok;
        }
        if (cmd === 'reenroll' && (!v.cert || !v.key)) throw new UsageError('reenroll needs --cert and --key (the certificate being renewed)');
        const attributes = attributesOf(v);
        const fixedKey = (cmd === 'reenroll' && !v.rekey) || (!!v['new-key'] && existsSync(v['new-key']));
        const plan = await planFromCsrAttrs(client, v, attributes, fixedKey, call, io, log);
        const key = cmd === 'reenroll' && !v.rekey ? toPrivateKey(readInputFile(v.key!, '--key'), `--key ${v.key}`) : (await csrKey(v, plan.keyType)).key;
        const tpl = {
          privateKey: key,
          pop: plan.pop,
          ...(v.subject !== undefined ? { subject: v.subject } : {}),
          ...(v.san ? { san: v.san } : {}),
          ...(attributes.length ? { attributes } : {}),
        };
        if (cmd === 'enroll' && v.subject === undefined) log('note: no --subject; requesting an empty subject');
        const r = cmd === 'enroll' ? await client.simpleEnroll(tpl, call) : await client.simpleReenroll(tpl, call);
        log(`issued: ${oneLine(r.certificate.subject)} serial ${r.certificate.serialNumber}, valid until ${r.certificate.validTo}`);
        await writeOutputs(v, io, r.certificate, r.certificates, key);
        return EXIT.ok;
      }
      case 'serverkeygen': {
        if (!v['key-out'] && !v.p12) throw new UsageError('serverkeygen: the server-generated key must be saved: give --key-out FILE (or --p12)');
        const attributes = attributesOf(v);
        const plan = await planFromCsrAttrs(client, v, attributes, false, call, io, log);
        const keyType = v['key-type'] ? parseKeySpec(v['key-type']) : plan.keyType;
        const tpl = {
          pop: plan.pop,
          ...(v.subject !== undefined ? { subject: v.subject } : {}),
          ...(v.san ? { san: v.san } : {}),
          ...(keyType ? { keyType } : {}),
          ...(attributes.length ? { attributes } : {}),
        };
        const r = v.csr ? await client.serverKeygen(readInputFile(v.csr, '--csr'), call) : await client.serverKeygen(tpl, call);
        log(`issued with a server-generated ${r.privateKey.asymmetricKeyType} key: ${oneLine(r.certificate.subject)} serial ${r.certificate.serialNumber}`);
        await writeOutputs(v, io, r.certificate, r.certificates, r.privateKey);
        return EXIT.ok;
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    }
  } finally {
    await client.close();
  }
}

async function renew(url: string, v: Values, io: CliIo, log: (s: string) => void): Promise<number> {
  if (!v.cert || !v.key) throw new UsageError('renew needs --cert FILE and --key FILE (read, and replaced when renewed)');
  if (!v.ca) throw new UsageError('renew needs --ca FILE (read, and refreshed from /cacerts; with --fingerprint it may not exist yet)');
  const logger: RenewLogger = (level, message, fields) => {
    if (level === 'info' && v.quiet) return;
    const extra = fields ? Object.entries(fields).map(([k, x]) => ` ${k}=${typeof x === 'string' ? x : JSON.stringify(x)}`).join('') : '';
    io.stderr(`${new Date().toISOString()} ${level.toUpperCase()} ${message}${extra}\n`);
  };
  const o: RenewOptions = { url, certFile: v.cert, keyFile: v.key, caFile: v.ca, logger, renewBefore: parseRenewBefore(v['renew-before'] ?? '33%') };
  if (v.label) o.label = v.label;
  if (v.rekey) o.rekey = true;
  if (v['key-type']) o.keyType = parseKeySpec(v['key-type']);
  if (v.pop) o.pop = true;
  if (v.subject !== undefined) o.subject = v.subject;
  if (v.san) o.san = v.san;
  if (v.fingerprint) o.fingerprint = v.fingerprint;
  const b = basic(v);
  if (b) o.basicAuth = b;
  if (v['auth-header']) o.authorization = v['auth-header'];
  const min = tlsVersion(v['tls-min'], '--tls-min');
  const max = tlsVersion(v['tls-max'], '--tls-max');
  o.client = { timeout: positive(v.timeout, '--timeout', 30) * 1000, retry: { maxAttempts: Math.max(1, Math.floor(positive(v.retries, '--retries', 5))), maxDelay: positive(v['max-wait'], '--max-wait', 3600) } };
  if (min) o.client.minVersion = min;
  if (max) o.client.maxVersion = max;
  if (v.servername) o.client.servername = v.servername;
  if (v['system-ca']) o.client.useSystemTrust = true;
  if (v.preemptive) o.client.preemptiveAuth = true;
  if (v['tls13-binding'] === 'finished' || v['tls13-binding'] === 'exporter') o.client.tls13Binding = v['tls13-binding'];
  if (io.signal) o.signal = io.signal;
  if (v.watch) {
    o.interval = parseDuration(v.interval ?? '1h', '--interval');
    o.retryBackoff = { min: parseDuration(v['retry-min'] ?? '30s', '--retry-min'), max: parseDuration(v['retry-max'] ?? '15m', '--retry-max') };
    await watchRenewal(o);
    return EXIT.ok;
  }
  void log;
  await renewOnce(o);
  return EXIT.ok;
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (e) {
    io.stderr(`est-client: ${(e as Error).message}\nTry 'est-client --help'.\n`);
    return EXIT.usage;
  }
  if (values.help || positionals.length === 0) {
    (values.help ? io.stdout : io.stderr)(HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const [cmd, posUrl, ...rest] = positionals;
  const url = values.url ?? posUrl;
  try {
    if (!['cacerts', 'csrattrs', 'enroll', 'reenroll', 'serverkeygen', 'renew'].includes(cmd!)) throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    if (!url) throw new UsageError(`${cmd}: the server URL is missing (est-client ${cmd} https://est.example.com ...)`);
    if (rest.length > 0 || (values.url && posUrl)) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0] ?? posUrl)}`);
    if (values['insecure-bootstrap'] && cmd !== 'cacerts' && cmd !== 'renew') throw new UsageError('--insecure-bootstrap is for cacerts only (RFC 7030 §4.1.1): fetch the CA certs first, then use --ca');
    return await runCommand(cmd!, url, values, io);
  } catch (e) {
    if (io.signal?.aborted) return EXIT.ok;
    if (e instanceof MissingAttributes) return EXIT.usage;
    if (e instanceof UsageError) {
      io.stderr(`est-client: ${e.message}\nTry 'est-client --help'.\n`);
      return EXIT.usage;
    }
    if (e instanceof EstHttpError) {
      io.stderr(`est-client: ${e.message}${e.reason && e.reason !== e.reason.split(/\r?\n/)[0] ? `\n${e.reason}` : ''}\n`);
      return EXIT.server;
    }
    if (e instanceof EstRetryLimitError) {
      io.stderr(`est-client: ${e.message}\n`);
      return EXIT.server;
    }
    if (e instanceof EstClientConfigError) {
      io.stderr(`est-client: ${e.message}\n`);
      return EXIT.usage;
    }
    if (e instanceof EstClientError) {
      io.stderr(`est-client: ${e.message}\n`);
      // Trust, bootstrap, response and network failures are about the server: 1. Local ones (PoP impossible, not bootstrapped): 2.
      return ['ERR_EST_CLIENT_RESPONSE', 'ERR_EST_CLIENT_BOOTSTRAP', 'ERR_EST_CLIENT_TRUST', 'ERR_EST_CLIENT_NETWORK'].includes(e.code) ? EXIT.server : EXIT.usage;
    }
    io.stderr(`est-client: ${(e as Error).message ?? String(e)}\n`);
    return EXIT.usage;
  }
}

/** Runs the CLI as a process: real stdio, SIGTERM/SIGINT cancel, exit code set. */
export function runAsProcess(): void {
  const ac = new AbortController();
  const stop = () => ac.abort(new Error('terminated'));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  main(process.argv.slice(2), { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), signal: ac.signal }).then(
    (code) => {
      process.exitCode = code;
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
    },
    (e) => {
      process.stderr.write(`est-client: ${(e as Error).stack ?? e}\n`);
      process.exitCode = EXIT.usage;
    },
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) runAsProcess();
