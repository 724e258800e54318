// `est-server init-ca`: a CA key and certificate, a csrattrs.der and a TLS certificate to start from.
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateKey, parseKeySpec } from '../client/csr.js';
import { Oid } from '../protocol/constants.js';
import { encodeCsrAttrs, type CsrAttrsItem } from '../protocol/csrattrs.js';
import { integer, oid } from '../protocol/der.js';
import { toPem } from '../protocol/pem.js';
import { createDemoCa, createDemoServerCert } from './demo-pki.js';

export const INIT_CA_USAGE = `Usage: est-server init-ca [options]

Makes what est() and est-server need to issue certificates, in one folder:
  ca.key, ca.crt     the CA's private key (mode 0600) and self-signed certificate
  csrattrs.der       the CSR attributes /csrattrs serves and enrollment requires
  tls/server.key, tls/server.crt, tls/server.pem (key + certificate, for HAProxy)
                     a TLS server certificate issued by the CA
  config.json        an est-server configuration using them
The serial file (ca.srl) is created on the first issuance, as nginx-http-est does.

Options:
  --dir <dir>            where to write (default ./est-ca)
  --cn <name>            CA common name (default "EST CA")
  --org <name>           CA organization (default "express-est")
  --key-type <type>      p256 (default), p384, p521, rsa2048, rsa3072, rsa4096, ed25519
  --days <n>             CA certificate lifetime (default 3650)
  --server-name <name>   DNS name or IP of the TLS certificate (repeatable;
                         default localhost, 127.0.0.1, ::1)
  --csr-attr <item>      required in CSRs (repeatable): macAddress, challengePassword,
                         p256|p384|p521 (EC key on that curve), rsa2048|rsa3072|rsa4096
                         (RSA key of at least that size), or a dotted OID.
                         Default: none (an empty CsrAttrs)
  --force                overwrite existing files
  -h, --help             this text`;

const CURVES: Record<string, string> = { p256: Oid.secp256r1, p384: Oid.secp384r1, p521: Oid.secp521r1 };

/** One `--csr-attr` value as a CsrAttrs item (RFC 9908 §3). */
export function csrAttrItem(text: string): CsrAttrsItem {
  const t = text.trim();
  const lower = t.toLowerCase();
  if (lower === 'macaddress') return { oid: Oid.macAddress };
  if (lower === 'challengepassword') return { oid: Oid.challengePassword };
  if (CURVES[lower]) return { attribute: Oid.ecPublicKey, values: [oid(CURVES[lower]!)] };
  const rsa = /^rsa(\d{4})$/.exec(lower);
  if (rsa) return { attribute: Oid.rsaEncryption, values: [integer(Number(rsa[1]))] };
  if (/^[0-2](\.(0|[1-9]\d*))+$/.test(t)) return { oid: t };
  throw new Error(`--csr-attr: unknown item ${JSON.stringify(text)} (macAddress, challengePassword, p256, p384, p521, rsa2048, rsa3072, rsa4096 or a dotted OID)`);
}

function write(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}

/** Runs `est-server init-ca`; resolves with the exit code. */
export async function initCa(argv: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: {
        dir: { type: 'string' },
        cn: { type: 'string' },
        org: { type: 'string' },
        'key-type': { type: 'string' },
        days: { type: 'string' },
        'server-name': { type: 'string', multiple: true },
        'csr-attr': { type: 'string', multiple: true },
        force: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`est-server init-ca: ${(e as Error).message}\n\n${INIT_CA_USAGE}\n`);
    return 2;
  }
  if (v.help) {
    process.stdout.write(INIT_CA_USAGE + '\n');
    return 0;
  }
  const dir = resolve(v.dir ?? 'est-ca');
  const f = (n: string) => join(dir, n);
  try {
    const days = v.days === undefined ? 3650 : Number(v.days);
    if (!Number.isInteger(days) || days < 1 || days > 36500) throw new Error(`--days must be an integer from 1 to 36500 (got ${v.days})`);
    const items = (v['csr-attr'] ?? []).map(csrAttrItem);
    const keyType = parseKeySpec(v['key-type'] ?? 'p256');
    const outputs = ['ca.key', 'ca.crt', 'csrattrs.der', 'config.json', 'tls/server.key', 'tls/server.crt', 'tls/server.pem'];
    const existing = outputs.filter((n) => existsSync(f(n)));
    if (existing.length && !v.force) throw new Error(`${existing.map(f).join(', ')} already exist${existing.length === 1 ? 's' : ''}; use --force to overwrite (a new CA invalidates every certificate the old one issued)`);
    mkdirSync(join(dir, 'tls'), { recursive: true, mode: 0o755 });
    const ca = await createDemoCa(days, { keyPair: await generateKey(keyType), cn: v.cn ?? 'EST CA', o: v.org ?? 'express-est' });
    const server = await createDemoServerCert(ca, v['server-name'] ?? ['localhost', '127.0.0.1', '::1']);
    const serverKeyPem = server.key.export({ format: 'pem', type: 'pkcs8' }) as string;
    const serverCertPem = toPem(server.certDer, 'CERTIFICATE');
    write(f('ca.key'), ca.key.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600);
    write(f('ca.crt'), toPem(ca.certDer, 'CERTIFICATE'));
    write(f('csrattrs.der'), encodeCsrAttrs(items));
    write(f('tls/server.key'), serverKeyPem, 0o600);
    write(f('tls/server.crt'), serverCertPem);
    write(f('tls/server.pem'), serverCertPem + serverKeyPem, 0o600);
    const config = {
      port: 8443,
      tls: { cert: 'tls/server.crt', key: 'tls/server.key', clientCa: 'ca.crt' },
      rootCertificate: 'ca.crt',
      caRootCertificate: 'ca.crt',
      caPrivateKey: 'ca.key',
      caSerialNumber: 'ca.srl',
      csrAttrs: 'csrattrs.der',
      caValidityDays: 30,
    };
    write(f('config.json'), JSON.stringify(config, null, 2) + '\n');
    const fp = new X509Certificate(ca.certDer).fingerprint256;
    process.stdout.write(
      `CA created in ${dir}\n` +
        `  ca.crt        ${new X509Certificate(ca.certDer).subject.split('\n').join(', ')} (${keyType}, ${days} days)\n` +
        `  SHA-256       ${fp}\n` +
        `  ca.key        private key, mode 0600: keep it secret\n` +
        `  csrattrs.der  ${items.length ? `${items.length} required item(s)` : 'nothing required'}\n` +
        `  tls/          server certificate for ${(v['server-name'] ?? ['localhost', '127.0.0.1', '::1']).join(', ')}\n` +
        `  config.json   est-server configuration\n\n` +
        `Next: est-server ${join(dir, 'config.json')}\n`,
    );
    return 0;
  } catch (e) {
    process.stderr.write(`est-server init-ca: ${(e as Error).message}\n`);
    return e instanceof Error && /already exist|--|unknown key type/.test(e.message) ? 2 : 1;
  }
}
