// cryptoThreads: CSR verification and certificate signing on worker threads, or (0) on libuv's pool; same answers either way.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { est, EstConfigError } from '../../lib/index.js';
import { cryptoPoolStats } from '../../lib/protocol/crypto-pool.js';
import { b64lines, fetchRaw } from '../helpers/http.js';
import { pkcs7Certs, TestPki, verifyCert, type KeySpec } from '../helpers/pki.js';
import { startEstServer } from '../helpers/servers.js';

const pki = new TestPki();
const ca = pki.ca('p256');
const serverCert = pki.serverCert(ca);
const client = pki.clientCert(ca);
after(() => pki.cleanup());

/** A CSR whose signature does not verify: the last byte of the signature flipped. */
function badSignature(der: Buffer): Buffer {
  const out = Buffer.from(der);
  out[out.length - 1]! ^= 0x01;
  return out;
}

describe('cryptoThreads', () => {
  for (const threads of [0, 2]) {
    it(`${threads === 0 ? '0: Node callback crypto' : `${threads} threads`}: RSA, RSA-PSS, P-384 and Ed25519 CSRs enroll (openssl verify), a bad signature is a 400, ${threads ? 'and the work ran on the threads' : 'and no thread was used'}`, async () => {
      const srv = await startEstServer(pki, { ca: ca.cert, serverCert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, cryptoThreads: threads });
      try {
        const before = cryptoPoolStats().jobs;
        const post = (der: Buffer) => fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10' }, body: b64lines(der), cert: client.cert, key: client.key });
        const specs: KeySpec[] = ['rsa2048', 'rsa-pss', 'p384', 'ed25519'];
        for (const keySpec of specs) {
          const r = await post(pki.csr({ keySpec, subject: `/CN=threads-${threads}-${keySpec}` }).der);
          assert.equal(r.status, 200, `${keySpec}: ${r.text}`);
          assert.match(verifyCert(ca.cert, pkcs7Certs(r.body), pki.dir), /OK/);
        }
        const bad = await post(badSignature(pki.csr({ subject: '/CN=bad-signature' }).der));
        assert.equal(bad.status, 400);
        assert.match(bad.text, /CSR signature does not verify/);
        const jobs = cryptoPoolStats().jobs - before;
        // Each enrollment: one verification and one signature; the refused CSR: one verification.
        if (threads) assert.equal(jobs, 2 * specs.length + 1);
        else assert.equal(jobs, 0);
      } finally {
        await srv.close();
      }
    });
  }

  /** Runs `lines` as a module in a fresh `node [nodeArgs]` with tsx; returns its stdout. */
  function runInChild(lines: string[], nodeArgs: string[] = []): string {
    const r = spawnSync(process.execPath, [...nodeArgs, '--import', 'tsx', '--input-type=module', '-e', lines.join('\n')], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.signal, null, `still running after 20 s (killed): ${r.stdout}${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  }

  const cryptoPoolUrl = JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../lib/protocol/crypto-pool.ts')).href);

  /** One signature on `threads` crypto threads in a child; prints "signed <threads running> <jobs done>". */
  function signInChild(threads: number, nodeArgs: string[] = []) {
    return runInChild(
      [
        `import { generateKeyPairSync } from 'node:crypto';`,
        `import { useCryptoThreads, signOffLoop, cryptoPoolStats } from ${cryptoPoolUrl};`,
        `useCryptoThreads(${threads});`,
        `const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });`,
        `const sig = await signOffLoop({ hash: 'sha256', dsaEncoding: 'der' }, new Uint8Array([1, 2, 3]), privateKey);`,
        `const { threads, jobs } = cryptoPoolStats();`,
        `console.log(sig.length > 60 ? 'signed' : 'short', threads, jobs);`,
      ],
      nodeArgs,
    );
  }

  it('EC keys on a crypto thread (imported from the raw point): P-256, P-384 and P-521 verify, a wrong signature does not, a point off the curve is refused as such', () => {
    const stdout = runInChild([
      `import { generateKeyPairSync, sign } from 'node:crypto';`,
      `import { useCryptoThreads, verifyOffLoop, cryptoPoolStats } from ${cryptoPoolUrl};`,
      `useCryptoThreads(1);`,
      `const out = [];`,
      `for (const [crv, hash] of [['P-256', 'sha256'], ['P-384', 'sha384'], ['P-521', 'sha512']]) {`,
      `  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: crv });`,
      `  const jwk = publicKey.export({ format: 'jwk' });`,
      `  const point = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);`,
      `  const data = Buffer.from('to be signed ' + crv);`,
      `  const sig = sign(hash, data, privateKey);`,
      `  const params = { hash, dsaEncoding: 'der' };`,
      `  const good = await verifyOffLoop({ format: 'ec-point', curve: crv, key: point }, params, data, sig);`,
      `  const other = await verifyOffLoop({ format: 'ec-point', curve: crv, key: point }, params, Buffer.from('something else'), sig);`,
      `  const off = Buffer.from(point); off[off.length - 1] ^= 1;`,
      `  const offCurve = await verifyOffLoop({ format: 'ec-point', curve: crv, key: off }, params, data, sig);`,
      `  out.push([crv, good.ok, other.ok, offCurve.ok, offCurve.keyError ?? null]);`,
      `}`,
      `console.log(JSON.stringify({ out, jobs: cryptoPoolStats().jobs }));`,
    ]);
    const { out, jobs } = JSON.parse(stdout) as { out: unknown[][]; jobs: number };
    for (const [crv, good, other, off, keyError] of out) {
      assert.equal(good, true, `${crv}: the signature verifies`);
      assert.equal(other, false, `${crv}: not over other data`);
      assert.equal(off, false, `${crv}: a point off the curve`);
      assert.equal(keyError, 'EC key: point is not on the curve', `${crv}: refused as a key error`);
    }
    assert.equal(out.length, 3);
    assert.equal(jobs, 9, 'all nine ran on the thread');
  });

  it('idle crypto threads do not keep the process alive: it exits once its work is done', () => {
    // Two threads, one job: the thread that never got one must not hold the event loop either.
    assert.equal(signInChild(2), 'signed 2 1');
  });

  it('starts its threads under V8 heap flags given to node (est-server under --max-old-space-size)', () => {
    // A Worker refuses V8 flags in an explicit execArgv: passing the process's own made every job fail.
    assert.equal(signInChild(1, ['--max-old-space-size=200', '--max-semi-space-size=4']), 'signed 1 1');
  });

  it('rejects a bad value naming the option', () => {
    for (const v of [-1, 1.5, 65, '2']) {
      assert.throws(() => est({ caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, cryptoThreads: v as number }), (e: unknown) => e instanceof EstConfigError && e.message === `est: \`cryptoThreads\` must be an integer from 0 to 64 (got ${JSON.stringify(v)})`);
    }
  });
});
