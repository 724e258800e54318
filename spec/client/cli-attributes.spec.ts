// est-client satisfying /csrattrs (--attr, --from-csrattrs) and refusing a certificate for another key.
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { CertificateAuthority } from '../../lib/index.js';
import { FileCertificateAuthority, RandomSerialStore } from '../../lib/ca/index.js';
import { main } from '../../lib/cli/est-client.js';
import { startAuthBackend } from '../helpers/servers.js';
import { basicPki, openssl, startServer, TestPki, type EstFixture } from './fixtures.js';

const pki = new TestPki();
const { ca, server: serverCert } = basicPki(pki);
let auth: Awaited<ReturnType<typeof startAuthBackend>>;
let macServer: EstFixture; // the module README's csrattrs: SEQUENCE { macAddress }
let rfcServer: EstFixture; // RFC 7030 §4.5.2's example, pop on
let rogue: EstFixture; // a CA that certifies a key of its own choosing
const closers: Array<() => Promise<void>> = [];

/** The module README's recipe: `openssl asn1parse -genconf` with a SEQUENCE of one OID. */
function moduleReadmeCsrAttrs(): string {
  const conf = pki.path('csrattrs.conf');
  writeFileSync(conf, 'asn1=SEQUENCE:a\n[a]\nf1=OID:1.3.6.1.1.1.1.22\n');
  const out = pki.path('csrattrs.der');
  openssl(['asn1parse', '-genconf', conf, '-noout', '-out', out]);
  return out;
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

before(async () => {
  auth = await startAuthBackend();
  const base = { caRootCertificate: ca.cert, caPrivateKey: ca.key, serialMode: 'random' as const, authRequest: auth.url };
  macServer = await startServer({ serverCert, clientCa: ca.cert }, { ...base, csrAttrs: moduleReadmeCsrAttrs() });
  const rfc = Buffer.from(readFileSync(new URL('../fixtures/rfc7030-a2-csrattrs.b64', import.meta.url), 'latin1'), 'base64');
  rfcServer = await startServer({ serverCert, clientCa: ca.cert }, { ...base, csrAttrs: rfc, pop: true });
  const fileCa = new FileCertificateAuthority({
    certificate: new Uint8Array(new X509Certificate(readFileSync(ca.cert)).raw),
    chain: [],
    privateKey: (await import('node:crypto')).createPrivateKey(readFileSync(ca.key)),
    serialStore: new RandomSerialStore(),
    validityDays: 1,
  });
  const otherKey = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }));
  const misbehaving: CertificateAuthority = { cacerts: () => fileCa.cacerts(), enroll: (req) => fileCa.enroll({ ...req, spkiDer: otherKey }) };
  rogue = await startServer({ serverCert, clientCa: ca.cert }, { ca: misbehaving, rootCertificate: ca.cert, authRequest: auth.url });
  closers.push(macServer.close, rfcServer.close, rogue.close, auth.close);
});
after(async () => {
  for (const c of closers) await c();
  pki.cleanup();
});

const common = (origin: string) => [origin, '--ca', ca.cert, '-u', 'estuser:estpass', '-q'];

describe('est-client and /csrattrs', () => {
  it("the module README's macAddress example enrolls with --attr macAddress=…", async () => {
    const key = pki.path('mac.key');
    const crt = pki.path('mac.crt');
    const r = await cli(['enroll', ...common(macServer.origin), '--subject', '/CN=mac-device', '--attr', 'macAddress=00:1A:2B:3C:4D:5E', '--new-key', key, '-o', crt]);
    assert.equal(r.code, 0, r.err);
    assert.match(openssl(['verify', '-CAfile', ca.cert, crt]).toString(), /OK/);
    // The same with the dotted OID.
    const r2 = await cli(['enroll', ...common(macServer.origin), '--subject', '/CN=mac-2', '--attr', '1.3.6.1.1.1.1.22=00:1A:2B:3C:4D:5F', '--new-key', pki.path('mac2.key'), '-o', pki.path('mac2.crt')]);
    assert.equal(r2.code, 0, r2.err);
  });

  it('without the attribute the server refuses (exit 1); --from-csrattrs says what is missing first (exit 2, nothing sent)', async () => {
    const r = await cli(['enroll', ...common(macServer.origin), '--subject', '/CN=x', '--new-key', pki.path('x.key'), '-o', pki.path('x.crt')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /CSR lacks required attribute: 1\.3\.6\.1\.1\.1\.1\.22/);
    const key = pki.path('y.key');
    const seenBefore = auth.seen.length;
    const r2 = await cli(['enroll', ...common(macServer.origin), '--subject', '/CN=y', '--from-csrattrs', '--new-key', key, '-o', pki.path('y.crt')]);
    assert.equal(r2.code, 2);
    assert.match(r2.err, /macAddress \(1\.3\.6\.1\.1\.1\.1\.22\): give --attr macAddress=<value>/);
    assert.equal(existsSync(key), false, 'no key generated');
    assert.equal(auth.seen.length, seenBefore, 'no enrollment attempted');
    const r3 = await cli(['enroll', ...common(macServer.origin), '--subject', '/CN=y', '--from-csrattrs', '--attr', 'macAddress=00:1A:2B:3C:4D:60', '--new-key', key, '-o', pki.path('y.crt')]);
    assert.equal(r3.code, 0, r3.err);
  });

  it("RFC 7030's example: --from-csrattrs picks a P-384 key and PoP linking; macAddress still comes from --attr", async () => {
    const r = await cli(['enroll', ...common(rfcServer.origin), '--subject', '/CN=rfc', '--from-csrattrs', '--new-key', pki.path('rfc.key'), '-o', pki.path('rfc.crt')]);
    assert.equal(r.code, 2);
    assert.match(r.err, /macAddress/);
    assert.doesNotMatch(r.err, /challengePassword|secp384r1/);
    const key = pki.path('rfc2.key');
    const crt = pki.path('rfc2.crt');
    const r2 = await cli(['enroll', rfcServer.origin, '--ca', ca.cert, '-u', 'estuser:estpass', '--subject', '/CN=rfc', '--from-csrattrs', '--attr', 'macAddress=00:1A:2B:3C:4D:61', '--new-key', key, '-o', crt]);
    assert.equal(r2.code, 0, r2.err);
    assert.match(r2.err, /generating a p384 key/);
    assert.match(r2.err, /challengePassword.*PoP linking/);
    assert.match(openssl(['pkey', '-in', key, '-text_pub', '-noout']).toString(), /NIST CURVE: P-384|secp384r1/);
  });

  it('bad --attr values and --attr challengePassword with --pop are usage errors (exit 2)', async () => {
    for (const attr of ['macAddress=zz', 'nosuchname=1', '1.2.3=der:0x', 'noequals']) {
      const r = await cli(['enroll', ...common(macServer.origin), '--attr', attr, '--new-key', pki.path('u.key')]);
      assert.equal(r.code, 2, attr);
      assert.match(r.err, /--attr/);
    }
    const r = await cli(['enroll', ...common(macServer.origin), '--attr', 'challengePassword=x', '--pop', '--new-key', pki.path('u.key')]);
    assert.equal(r.code, 2);
  });

  it('a certificate for another key than the request\'s: exit 1, a clear message, nothing written', async () => {
    const crt = pki.path('rogue.crt');
    const r = await cli(['enroll', ...common(rogue.origin), '--subject', '/CN=victim', '--new-key', pki.path('rogue.key'), '-o', crt]);
    assert.equal(r.code, 1);
    assert.match(r.err, /returned a certificate for another key .*CN=victim.*not the key in the request/);
    assert.equal(existsSync(crt), false);
  });
});
