// Test material for the CA specs, made with the openssl CLI in a temp dir.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCsr, type ParsedCsr } from '../../lib/protocol/pkcs10.js';

export type KeySpec = 'rsa2048' | 'rsa-pss' | 'p256' | 'p384' | 'p521' | 'ed25519' | 'ed448';

const GENPKEY: Record<KeySpec, string[]> = {
  rsa2048: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  'rsa-pss': ['-algorithm', 'RSA-PSS', '-pkeyopt', 'rsa_keygen_bits:2048'],
  p256: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  p521: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'],
  ed25519: ['-algorithm', 'ED25519'],
  ed448: ['-algorithm', 'ED448'],
};

/** Runs openssl; returns stdout. Throws with stderr on a non-zero exit. */
export function openssl(args: string[], input?: Buffer | string): Buffer {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export interface TestCa {
  certPath: string;
  certDer: Uint8Array;
  key: KeyObject;
}

/** A scratch directory for keys, certificates and CSRs. */
export class CaSpecPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'est-ca-spec-'));
  private n = 0;

  path(name: string): string {
    return join(this.dir, name);
  }

  key(spec: KeySpec): string {
    const p = this.path(`key-${spec}-${++this.n}.pem`);
    openssl(['genpkey', ...GENPKEY[spec], '-out', p]);
    return p;
  }

  /** A self-signed CA (openssl adds SKI/AKI); `extra` are further -addext values. */
  ca(spec: KeySpec, opts: { days?: number; subject?: string; extra?: string[]; keyPath?: string } = {}): TestCa {
    const keyPath = opts.keyPath ?? this.key(spec);
    const certPath = this.path(`ca-${spec}-${++this.n}.crt`);
    const ext = opts.extra ?? ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];
    openssl([
      'req', '-x509', '-new', '-key', keyPath, '-subj', opts.subject ?? `/CN=Test ${spec} CA/O=express-est`,
      '-days', String(opts.days ?? 3650), '-out', certPath, ...ext.flatMap((e) => ['-addext', e]),
    ]);
    const certDer = new Uint8Array(openssl(['x509', '-in', certPath, '-outform', 'DER']));
    return { certPath, certDer, key: createPrivateKey(readFileSync(keyPath)) };
  }

  /** A DER CSR, parsed. */
  csr(spec: KeySpec, subject: string, addext: string[] = []): ParsedCsr {
    const keyPath = this.key(spec);
    const der = openssl(['req', '-new', '-key', keyPath, '-subj', subject, '-outform', 'DER', ...addext.flatMap((e) => ['-addext', e])]);
    return parseCsr(new Uint8Array(der));
  }

  /** `openssl x509 -text` of a DER certificate. */
  text(certDer: Uint8Array): string {
    return openssl(['x509', '-inform', 'DER', '-text', '-noout'], Buffer.from(certDer)).toString();
  }

  /** `openssl verify` against a CA file; returns its output (throws when verification fails). */
  verify(caPath: string, certDer: Uint8Array, purpose?: string): string {
    const leaf = this.path(`leaf-${++this.n}.pem`);
    openssl(['x509', '-inform', 'DER', '-out', leaf], Buffer.from(certDer));
    return openssl(['verify', '-CAfile', caPath, ...(purpose ? ['-purpose', purpose] : []), leaf]).toString();
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
