// Auto-renew: `watchRenewal` with minute-scale certificates, a server outage, and the CLI (`renew --watch`, SIGTERM).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { FileCertificateAuthority, RandomSerialStore } from '../../lib/ca/index.js';
import { watchRenewal, type RenewLogger } from '../../lib/client/index.js';
import { main } from '../../lib/cli/est-client.js';
import { startAuthBackend } from '../helpers/servers.js';
import { basicPki, openssl, pem, startServer, TestPki, type EstFixture } from './fixtures.js';

const pki = new TestPki();
const { ca, server: serverCert } = basicPki(pki);
let auth: Awaited<ReturnType<typeof startAuthBackend>>;
const fingerprint = new X509Certificate(pem(ca.cert)).fingerprint256;

/** A CA issuing certificates that live `seconds` (after the 5-minute backdate). */
function shortLivedCa(seconds: number): FileCertificateAuthority {
  return new FileCertificateAuthority({
    certificate: new Uint8Array(new X509Certificate(pem(ca.cert)).raw),
    chain: [],
    privateKey: createPrivateKey(pem(ca.key)),
    serialStore: new RandomSerialStore(),
    validityDays: seconds / 86400,
  });
}

async function start(port?: number): Promise<EstFixture> {
  return startServer({ serverCert, clientCa: ca.cert }, { ca: shortLivedCa(30), rootCertificate: ca.cert, authRequest: auth.url, pop: true }, port ? { port } : {});
}

/** Resolves when `pred` holds, polling every 50 ms (bounded). */
async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  auth = await startAuthBackend();
});
after(async () => {
  await auth.close();
  pki.cleanup();
});

describe('watchRenewal', () => {
  it('bootstraps, enrolls, renews before expiry, survives the server being down, stops on abort', async () => {
    let srv = await start();
    const port = srv.port;
    const files = { certFile: pki.path('w.crt'), keyFile: pki.path('w.key'), caFile: pki.path('w-ca.pem') };
    const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
    const logger: RenewLogger = (level, message, fields) => lines.push({ level, message, ...(fields ? { fields } : {}) });
    const ac = new AbortController();
    const count = (m: string) => lines.filter((l) => l.message === m).length;
    const watching = watchRenewal({
      url: srv.origin, ...files, fingerprint, basicAuth: { username: 'estuser', password: 'estpass' }, subject: '/CN=watched/O=Tests', san: ['DNS:watched.example'],
      pop: true, renewBefore: { seconds: 28 }, interval: 250, retryBackoff: { min: 100, max: 400 }, logger, signal: ac.signal,
    });
    try {
      await until(() => count('certificate enrolled') === 1, 5000, 'first enrollment');
      assert.ok(existsSync(files.caFile) && existsSync(files.keyFile));
      assert.equal((statSync(files.keyFile).mode & 0o777).toString(8), '600');
      const first = new X509Certificate(readFileSync(files.certFile));
      const key1 = readFileSync(files.keyFile, 'latin1');
      // 30 s lifetime, renew when < 28 s are left: due 2 s after issuance.
      await until(() => count('certificate renewed') >= 1, 6000, 'renewal');
      const second = new X509Certificate(readFileSync(files.certFile));
      assert.notEqual(second.serialNumber, first.serialNumber);
      assert.equal(second.subject, first.subject);
      assert.equal(second.subjectAltName, 'DNS:watched.example');
      assert.equal(readFileSync(files.keyFile, 'latin1'), key1, 'same key without rekey');
      assert.ok(Date.parse(second.validTo) - Date.now() > 0, 'renewed before expiry');

      // Outage: failures are logged with growing backoff; the current files stay untouched.
      await srv.close();
      const failedBefore = lines.filter((l) => l.level === 'error').length;
      await until(() => lines.filter((l) => l.level === 'error').length >= failedBefore + 3, 8000, 'failures while down');
      const errors = lines.filter((l) => l.level === 'error').slice(-3);
      assert.match(errors[0]!.message, /renewal failed: cacerts: .*ECONNREFUSED/);
      const waits = errors.map((e) => e.fields!.retryInSeconds as number);
      assert.ok(waits[1]! >= waits[0]! && waits[2]! <= 0.4, `backoff grows and is capped: ${waits}`);
      assert.equal(new X509Certificate(readFileSync(files.certFile)).serialNumber, second.serialNumber);

      const renewedBefore = count('certificate renewed');
      srv = await start(port);
      await until(() => count('certificate renewed') > renewedBefore, 5000, 'renewal after the outage');
      const third = new X509Certificate(readFileSync(files.certFile));
      assert.ok(third.checkIssued(new X509Certificate(pem(ca.cert))));
    } finally {
      ac.abort();
      await watching;
      await srv.close();
    }
    assert.equal(lines.at(-1)!.message, 'stopped watching');
  });
});

describe('est-client CLI', () => {
  const run = async (args: string[]) => {
    let out = '';
    let err = '';
    const code = await main(args, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
    return { code, out, err };
  };

  it('every command, exit codes 0/1/2, PEM/DER/PKCS#12 outputs', async () => {
    const srv = await start();
    try {
      const url = srv.origin;
      const caOut = pki.path('cli-ca.pem');
      let r = await run(['cacerts', url, '--insecure-bootstrap', '--fingerprint', fingerprint, '-o', caOut]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /trust anchor: CN=Test EST CA/);
      assert.equal(new X509Certificate(readFileSync(caOut)).fingerprint256, fingerprint);
      r = await run(['cacerts', url, '--insecure-bootstrap', '--fingerprint', '00:11']);
      assert.equal(r.code, 1);
      assert.match(r.err, /bootstrap refused/);
      r = await run(['enroll', url, '--insecure-bootstrap', '--fingerprint', fingerprint]);
      assert.equal(r.code, 2);
      r = await run(['csrattrs', url, '--ca', caOut]);
      assert.match(r.out, /challengePassword \(1\.2\.840\.113549\.1\.9\.7\)/);

      const key = pki.path('cli.key');
      const key2 = pki.path('cli-rsa.key');
      const cert = pki.path('cli.crt');
      r = await run(['enroll', url, '--ca', caOut, '-u', 'estuser:wrong', '--subject', '/CN=cli-device', '--pop', '--new-key', key, '-o', cert]);
      assert.equal(r.code, 1);
      assert.match(r.err, /server answered 401/);
      assert.ok(existsSync(key), 'the generated key was saved before the request');
      r = await run(['enroll', url, '--ca', caOut, '-u', 'estuser:estpass', '--subject', '/CN=cli-device', '--san', 'DNS:cli.example', '--key-type', 'rsa2048', '--pop', '--new-key', key2, '-o', cert, '--chain']);
      assert.equal(r.code, 0, r.err);
      assert.match(openssl(['verify', '-CAfile', caOut, cert]).toString(), /OK/);
      assert.equal(createPrivateKey(readFileSync(key2)).asymmetricKeyType, 'rsa');
      assert.ok(new X509Certificate(readFileSync(cert)).checkPrivateKey(createPrivateKey(readFileSync(key2))));

      const der = pki.path('cli-renewed.der');
      const p12 = pki.path('cli.p12');
      r = await run(['reenroll', url, '--ca', caOut, '--cert', cert, '--key', key2, '--pop', '-o', der, '--format', 'der', '--p12', p12, '--p12-password', 'pw']);
      assert.equal(r.code, 0, r.err);
      assert.match(new X509Certificate(readFileSync(der)).subject, /cli-device/);
      assert.match(openssl(['pkcs12', '-in', p12, '-passin', 'pass:pw', '-nodes']).toString(), /BEGIN PRIVATE KEY/);

      const skKey = pki.path('sk.key');
      r = await run(['serverkeygen', url, '--ca', caOut, '--cert', cert, '--key', key2, '--subject', '/CN=cli-skg', '--pop', '--key-out', skKey, '-o', pki.path('sk.crt')]);
      assert.equal(r.code, 0, r.err);
      assert.ok(new X509Certificate(readFileSync(pki.path('sk.crt'))).checkPrivateKey(createPrivateKey(readFileSync(skKey))));

      r = await run(['renew', url, '--ca', caOut, '--cert', cert, '--key', key2, '--renew-before', '99%', '--rekey', '--pop']);
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /certificate renewed .*newKey=true/);
      assert.ok(new X509Certificate(readFileSync(cert)).checkPrivateKey(createPrivateKey(readFileSync(key2))));

      // A CSR made by openssl, sent as is (no PoP: this server requires it, so the refusal is the server's).
      const csr = pki.csr({ subject: '/CN=from-openssl' });
      r = await run(['enroll', url, '--ca', caOut, '-u', 'estuser:estpass', '--csr', csr.path]);
      assert.equal(r.code, 1);
      assert.match(r.err, /400: proof-of-possession linking required/);
      r = await run(['enroll', url, '--ca', caOut, '--csr', csr.path, '--pop']);
      assert.equal(r.code, 2);
      r = await run(['enroll', url]);
      assert.equal(r.code, 2);
      assert.match(r.err, /no way to authorize the server/);
      r = await run(['enroll', url, '--ca', caOut, '-u', 'x']);
      assert.equal(r.code, 2);
      r = await run(['renew', url, '--ca', caOut, '--cert', cert, '--key', key2, '--renew-before', '150%']);
      assert.equal(r.code, 2);
    } finally {
      await srv.close();
    }
  });

  it('as a process: --help, and renew --watch exits 0 on SIGTERM', async () => {
    const srv = await start();
    const spawnCli = (args: string[]) => spawn(process.execPath, ['--import', 'tsx', 'lib/cli/est-client.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const help = spawnCli(['--help']);
      let helpOut = '';
      help.stdout.on('data', (d: Buffer) => (helpOut += d));
      assert.equal(await new Promise((r) => help.on('close', r)), 0);
      assert.match(helpOut, /Examples:/);

      const caFile = pki.write('sig-ca.pem', pem(ca.cert));
      const w = spawnCli(['renew', srv.origin, '--ca', caFile, '--cert', pki.path('sig.crt'), '--key', pki.path('sig.key'), '-u', 'estuser:estpass', '--subject', '/CN=sig', '--pop', '--watch', '--interval', '1h']);
      let err = '';
      w.stderr.on('data', (d: Buffer) => (err += d));
      await until(() => /certificate enrolled/.test(err), 10_000, 'enrollment by the CLI');
      w.kill('SIGTERM');
      assert.equal(await new Promise((r) => w.on('close', r)), 0);
      assert.match(err, /stopped watching/);
    } finally {
      await srv.close();
    }
  });
});
