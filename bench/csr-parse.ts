// der.ts vs asn1js/pkijs on PKCS#10 parsing, the hot path of every enrollment: `npm run bench:csr`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { parseCsr } from '../lib/protocol/pkcs10.js';

const dir = mkdtempSync(join(tmpdir(), 'bench-csr-'));
function csr(name: string, keyArgs: string[], exts: string[]): Uint8Array {
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['genpkey', ...keyArgs, '-out', key], { stdio: 'pipe' });
  const args = ['req', '-new', '-key', key, '-subj', '/CN=device-0001/O=Demo Devices/OU=Fleet', '-outform', 'DER', '-out', join(dir, `${name}.der`)];
  for (const e of exts) args.push('-addext', e);
  execFileSync('openssl', args);
  return new Uint8Array(readFileSync(join(dir, `${name}.der`)));
}

const EXTS = ['subjectAltName=DNS:device-0001.example.com,IP:192.0.2.10', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'];
const inputs = {
  'P-256 + 3 extensions': csr('p256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], EXTS),
  'RSA-2048 + 3 extensions': csr('rsa', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], EXTS),
};
rmSync(dir, { recursive: true, force: true });

/** What the check stage reads from a CSR, through pkijs's object model (asn1js underneath). */
function parseWithPkijs(der: Uint8Array): unknown {
  const req = new pkijs.CertificationRequest({ schema: asn1js.fromBER(der).result });
  const spki = req.subjectPublicKeyInfo.toSchema().toBER(false);
  const subject = req.subject.typesAndValues.map((tv) => `${tv.type}=${tv.value.valueBlock.value}`).join(',');
  const exts = (req.attributes ?? []).filter((a) => a.type === '1.2.840.113549.1.9.14').flatMap((a) => new pkijs.Extensions({ schema: a.values[0] }).extensions.map((e) => e.extnID));
  return [spki.byteLength, subject, exts, req.tbsView.byteLength];
}

function opsPerSecond(fn: () => unknown, ms = 1500): number {
  for (let i = 0; i < 2000; i++) fn(); // warm-up
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < 500; i++) fn();
    n += 500;
    t = performance.now();
  }
  return (n / (t - t0)) * 1000;
}

console.log('| CSR | der.ts parseCsr | asn1js.fromBER only | pkijs CertificationRequest | der.ts advantage |');
console.log('|---|---:|---:|---:|---:|');
for (const [name, der] of Object.entries(inputs)) {
  const ours = opsPerSecond(() => parseCsr(der));
  const ber = opsPerSecond(() => asn1js.fromBER(der));
  const model = opsPerSecond(() => parseWithPkijs(der));
  const f = (x: number) => Math.round(x).toLocaleString('en-US');
  console.log(`| ${name} | ${f(ours)}/s | ${f(ber)}/s | ${f(model)}/s | ${(ours / model).toFixed(1)}× |`);
}
