// Benchmark fixtures made with the openssl CLI: a CA per key type, TLS and client certificates, fixed CSRs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** CA key types the benchmark compares. */
export type CaKind = 'p256' | 'rsa2048';

const GENPKEY: Record<CaKind, string[]> = {
  p256: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  rsa2048: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
};

export interface CaFixture {
  kind: CaKind;
  cert: string;
  key: string;
  /** TLS server certificate (P-256, SAN 127.0.0.1/localhost) signed by this CA. */
  server: { cert: string; key: string };
  /** TLS client certificate (P-256, clientAuth) signed by this CA: authenticates enrollments. */
  client: { cert: string; key: string; certPem: string; keyPem: string };
}

export interface Fixtures {
  dir: string;
  cas: Record<CaKind, CaFixture>;
  /** Base64 bodies (64-column lines, as most EST clients send) of distinct P-256 CSRs. */
  csrBodies: string[];
  cleanup(): void;
}

function openssl(args: string[]): Buffer {
  return execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

function wrap64(b64: string): string {
  return b64.replace(/.{1,64}/g, '$&\n');
}

/** Creates everything under a fresh temp directory; `csrCount` CSRs are shared by both CAs. */
export function makeFixtures(csrCount = 32): Fixtures {
  const dir = mkdtempSync(join(tmpdir(), 'est-bench-'));
  const p = (n: string) => join(dir, n);
  const key = (kind: CaKind, name: string) => {
    openssl(['genpkey', ...GENPKEY[kind], '-out', p(name)]);
    return p(name);
  };
  const leaf = (ca: { cert: string; key: string }, name: string, subject: string, ext: string) => {
    const k = key('p256', `${name}.key`);
    openssl(['req', '-new', '-key', k, '-subj', subject, '-out', p(`${name}.csr`)]);
    writeFileSync(p(`${name}.ext`), ext);
    openssl(['x509', '-req', '-in', p(`${name}.csr`), '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', '0x' + Date.now().toString(16), '-days', '30', '-out', p(`${name}.crt`), '-extfile', p(`${name}.ext`)]);
    return { cert: p(`${name}.crt`), key: k };
  };
  const cas = {} as Record<CaKind, CaFixture>;
  for (const kind of ['p256', 'rsa2048'] as const) {
    const caKey = key(kind, `ca-${kind}.key`);
    const caCert = p(`ca-${kind}.crt`);
    openssl([
      'req', '-x509', '-new', '-key', caKey, '-subj', `/CN=Bench ${kind} CA/O=express-est bench`, '-days', '3650', '-out', caCert,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'subjectKeyIdentifier=hash',
    ]);
    const ca = { cert: caCert, key: caKey };
    const server = leaf(ca, `server-${kind}`, '/CN=localhost', 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n');
    const client = leaf(ca, `client-${kind}`, '/CN=bench-client/O=Demo Devices', 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
    cas[kind] = { kind, ...ca, server, client: { ...client, certPem: readFileSync(client.cert, 'latin1'), keyPem: readFileSync(client.key, 'latin1') } };
  }
  const csrBodies: string[] = [];
  for (let i = 0; i < csrCount; i++) {
    const k = key('p256', `csr-${i}.key`);
    const der = openssl(['req', '-new', '-key', k, '-subj', `/CN=bench-device-${i}/O=Demo Devices`, '-addext', `subjectAltName=DNS:device-${i}.example`, '-outform', 'DER']);
    csrBodies.push(wrap64(der.toString('base64')));
  }
  return { dir, cas, csrBodies, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
