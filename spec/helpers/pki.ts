// Test PKI made with the openssl CLI: CAs, keys, CSRs and client certificates in a temp dir (the one PKI helper of the specs).
import { execFileSync } from 'node:child_process';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCsr, type ParsedCsr } from '../../lib/protocol/pkcs10.js';

export type KeySpec = 'rsa2048' | 'rsa3072' | 'rsa4096' | 'rsa-pss' | 'p256' | 'p384' | 'p521' | 'ed25519' | 'ed448';

export function openssl(args: string[], input?: string | Buffer): Buffer {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
}

const GENPKEY: Record<KeySpec, string[]> = {
  rsa2048: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  rsa3072: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:3072'],
  rsa4096: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:4096'],
  'rsa-pss': ['-algorithm', 'RSA-PSS', '-pkeyopt', 'rsa_keygen_bits:2048'],
  p256: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  p521: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'],
  ed25519: ['-algorithm', 'ED25519'],
  ed448: ['-algorithm', 'ED448'],
};

/** A CA to sign with in-process: its certificate (path and DER) and its key, parsed. */
export interface TestCa {
  certPath: string;
  certDer: Uint8Array;
  key: KeyObject;
}

/** A scratch directory with helpers to make PKI material in it. */
export class TestPki {
  readonly dir: string;
  private n = 0;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'est-spec-'));
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  private fresh(prefix: string): string {
    return this.path(`${prefix}-${++this.n}`);
  }

  /** Generates a private key; returns its PEM path. */
  key(spec: KeySpec = 'p256'): string {
    const p = this.fresh(`key-${spec}`) + '.pem';
    openssl(['genpkey', ...GENPKEY[spec], '-out', p]);
    return p;
  }

  /** A self-signed CA certificate + key (+ serial path). */
  ca(spec: KeySpec = 'p256', subject = '/CN=Test EST CA/O=express-est tests', days = 3650): { cert: string; key: string; serial: string } {
    const base = this.fresh('ca');
    const key = this.key(spec);
    const cert = `${base}.crt`;
    openssl([
      'req', '-x509', '-new', '-key', key, '-subj', subject, '-days', String(days), '-out', cert,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-addext', 'subjectKeyIdentifier=hash',
    ]);
    return { cert, key, serial: `${base}.srl` };
  }

  /**
   * A CSR (PEM path and DER bytes). `attrs` go to [req_attributes] (e.g. challengePassword);
   * `exts` are `-addext` values.
   */
  csr(opts: { key?: string; keySpec?: KeySpec; subject?: string; exts?: string[]; attrs?: Record<string, string>; digest?: string } = {}): { pem: string; der: Buffer; key: string; path: string } {
    const key = opts.key ?? this.key(opts.keySpec ?? 'p256');
    const path = this.fresh('csr') + '.pem';
    const subject = opts.subject ?? '/CN=device-1/O=Demo Devices';
    // With [req_attributes] openssl ignores -subj's attributes, so the DN goes into the config too.
    const args = ['req', '-new', '-key', key, ...(opts.attrs ? [] : ['-subj', subject]), '-out', path];
    for (const e of opts.exts ?? []) args.push('-addext', e);
    if (opts.digest) args.push(`-${opts.digest}`);
    if (opts.attrs) {
      const conf = this.fresh('req') + '.cnf';
      const dn = subject.split('/').filter(Boolean);
      const lines = ['[req]', 'distinguished_name=dn', 'attributes=attrs', 'prompt=no', '[dn]', ...dn, '[attrs]'];
      for (const [k, v] of Object.entries(opts.attrs)) lines.push(`${k}=${v.replace(/\$/g, '\\$')}`);
      writeFileSync(conf, lines.join('\n') + '\n');
      args.push('-config', conf);
    }
    openssl(args);
    const pem = readFileSync(path, 'latin1');
    const der = openssl(['req', '-in', path, '-outform', 'DER']);
    return { pem, der, key, path };
  }

  /** A client certificate signed by `ca` (openssl x509 -req), with clientAuth unless `eku` says otherwise. */
  clientCert(ca: { cert: string; key: string }, opts: { keySpec?: KeySpec; subject?: string; san?: string; days?: number; eku?: string } = {}): { cert: string; key: string } {
    const c = this.csr({ keySpec: opts.keySpec ?? 'p256', subject: opts.subject ?? '/CN=client-1/O=Demo Devices' });
    const cert = this.fresh('client') + '.crt';
    const ext = this.fresh('ext') + '.cnf';
    writeFileSync(ext, ['basicConstraints=CA:FALSE', `extendedKeyUsage=${opts.eku ?? 'clientAuth'}`, ...(opts.san ? [`subjectAltName=${opts.san}`] : [])].join('\n') + '\n');
    openssl(['x509', '-req', '-in', c.path, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', String(opts.days ?? 30), '-out', cert, '-extfile', ext]);
    return { cert, key: c.key };
  }

  /** A TLS server certificate for 127.0.0.1/localhost signed by `ca`. */
  serverCert(ca: { cert: string; key: string }): { cert: string; key: string } {
    const c = this.csr({ keySpec: 'p256', subject: '/CN=localhost' });
    const cert = this.fresh('server') + '.crt';
    const ext = this.fresh('ext') + '.cnf';
    writeFileSync(ext, 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n');
    openssl(['x509', '-req', '-in', c.path, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '30', '-out', cert, '-extfile', ext]);
    return { cert, key: c.key };
  }

  /** A self-signed CA for signing in-process (openssl adds SKI/AKI); `extra` replaces the default -addext values. */
  signingCa(spec: KeySpec, opts: { days?: number; subject?: string; extra?: string[]; keyPath?: string } = {}): TestCa {
    const keyPath = opts.keyPath ?? this.key(spec);
    const certPath = this.fresh(`ca-${spec}`) + '.crt';
    const ext = opts.extra ?? ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];
    openssl([
      'req', '-x509', '-new', '-key', keyPath, '-subj', opts.subject ?? `/CN=Test ${spec} CA/O=express-est`,
      '-days', String(opts.days ?? 3650), '-out', certPath, ...ext.flatMap((e) => ['-addext', e]),
    ]);
    const certDer = new Uint8Array(openssl(['x509', '-in', certPath, '-outform', 'DER']));
    return { certPath, certDer, key: createPrivateKey(readFileSync(keyPath)) };
  }

  /** A DER CSR with a fresh key, parsed; `addext` are -addext values. */
  parsedCsr(spec: KeySpec, subject: string, addext: string[] = []): ParsedCsr {
    const keyPath = this.key(spec);
    const der = openssl(['req', '-new', '-key', keyPath, '-subj', subject, '-outform', 'DER', ...addext.flatMap((e) => ['-addext', e])]);
    return parseCsr(new Uint8Array(der));
  }

  /** `openssl x509 -text` of a DER certificate. */
  text(certDer: Uint8Array): string {
    return openssl(['x509', '-inform', 'DER', '-text', '-noout'], Buffer.from(certDer)).toString();
  }

  /** `openssl verify` of a DER certificate against a CA file; its output (throws when verification fails). */
  verify(caPath: string, certDer: Uint8Array, purpose?: string): string {
    const leaf = this.fresh('leaf') + '.pem';
    openssl(['x509', '-inform', 'DER', '-out', leaf], Buffer.from(certDer));
    return openssl(['verify', '-CAfile', caPath, ...(purpose ? ['-purpose', purpose] : []), leaf]).toString();
  }

  write(name: string, data: string | Buffer): string {
    const p = this.path(name);
    writeFileSync(p, data);
    return p;
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** PEM text of the certificates in a base64 certs-only PKCS#7 body, via `openssl pkcs7 -print_certs`. */
export function pkcs7Certs(base64Body: string | Buffer): string {
  const der = Buffer.from(base64Body.toString().replace(/\s+/g, ''), 'base64');
  return openssl(['pkcs7', '-inform', 'DER', '-print_certs'], der).toString();
}

/** `openssl x509 -text` of a PEM certificate. */
export function x509Text(pem: string): string {
  return openssl(['x509', '-noout', '-text'], pem).toString();
}

/** Runs `openssl verify`; returns its output (throws when it fails). */
export function verifyCert(caFile: string, pem: string, dir: string): string {
  const p = join(dir, `verify-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(p, pem);
  return execFileSync('openssl', ['verify', '-CAfile', caFile, p], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}
