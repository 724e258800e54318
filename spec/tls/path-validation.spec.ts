// RFC 5280 §6 path validation of client certificates: good chains pass, hostile chains (made with the openssl CLI) fail with their reason.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { after, describe, test } from 'node:test';
import { verifyChain } from '../../lib/tls/verify-chain.js';
import { openssl, TestPki, type KeySpec } from '../helpers/pki.js';

const pki = new TestPki();
after(() => pki.cleanup());

interface Issued {
  cert: string;
  key: string;
  x509: X509Certificate;
}

let n = 0;
/** Issues a certificate with `openssl x509 -req` and the given extension lines. */
function issue(issuer: { cert: string; key: string }, subject: string, ext: string[], opts: { keySpec?: KeySpec; days?: number; key?: string } = {}): Issued {
  const key = opts.key ?? pki.key(opts.keySpec ?? 'p256');
  const csr = pki.path(`pv-${++n}.csr`);
  const cert = pki.path(`pv-${n}.crt`);
  const extFile = pki.path(`pv-${n}.ext`);
  openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr]);
  writeFileSync(extFile, ext.join('\n') + '\n');
  openssl(['x509', '-req', '-in', csr, '-CA', issuer.cert, '-CAkey', issuer.key, '-CAcreateserial', '-days', String(opts.days ?? 30), '-extfile', extFile, '-out', cert]);
  return { cert, key, x509: new X509Certificate(readFileSync(cert)) };
}

const CA_EXT = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash', 'authorityKeyIdentifier=keyid'];
const LEAF_EXT = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth', 'authorityKeyIdentifier=keyid'];

const rootFiles = pki.ca('p256', '/CN=PV Root/O=express-est tests');
const root = new X509Certificate(readFileSync(rootFiles.cert));
const anchors = [root];

/** What `openssl verify` says about the same chain (cross-check; purpose sslclient as nginx applies). */
function opensslVerifies(leaf: Issued, chain: Issued[], attime?: number): boolean {
  const untrusted = pki.write(`pv-untrusted-${++n}.pem`, chain.map((c) => readFileSync(c.cert, 'latin1')).join(''));
  const args = ['verify', '-CAfile', rootFiles.cert, '-purpose', 'sslclient', ...(chain.length ? ['-untrusted', untrusted] : []), ...(attime ? ['-attime', String(Math.floor(attime / 1000))] : []), leaf.cert];
  try {
    execFileSync('openssl', args, { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

async function expectRefused(leaf: Issued, chain: Issued[], reason: RegExp, now?: number): Promise<void> {
  const r = await verifyChain(leaf.x509, chain.map((c) => c.x509), anchors, now);
  assert.equal(r.ok, false, 'our validator must refuse');
  assert.match((r as { reason: string }).reason, reason);
  assert.equal(opensslVerifies(leaf, chain, now), false, 'openssl verify refuses it too');
}

async function expectAccepted(leaf: Issued, chain: Issued[], now?: number): Promise<void> {
  const r = await verifyChain(leaf.x509, chain.map((c) => c.x509), anchors, now);
  assert.deepEqual(r.ok ? 'ok' : (r as { reason: string }).reason, 'ok');
  assert.equal(opensslVerifies(leaf, chain, now), true, 'openssl verify accepts it too');
}

describe('path validation (RFC 5280 §6) on pkijs', () => {
  const inter = issue(rootFiles, '/CN=PV Issuing CA', CA_EXT);
  const leaf = issue(inter, '/CN=device-7', LEAF_EXT);

  test('root → intermediate → leaf verifies, in any order, with duplicates and with unrelated extras', async () => {
    await expectAccepted(leaf, [inter]);
    const stray = issue(rootFiles, '/CN=PV Other CA', CA_EXT);
    const r = await verifyChain(leaf.x509, [stray.x509, inter.x509, inter.x509, root], anchors);
    assert.equal(r.ok, true);
    assert.deepEqual(r.ok && r.path.map((c) => c.subject), ['CN=device-7', 'CN=PV Issuing CA', 'CN=PV Root\nO=express-est tests']);
  });

  test('an intermediate without CA:TRUE', async () => {
    const notCa = issue(rootFiles, '/CN=PV Not A CA', ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,keyCertSign']);
    await expectRefused(issue(notCa, '/CN=device-8', LEAF_EXT), [notCa], /intermediate "CN=PV Not A CA" is not a CA \(basicConstraints CA:TRUE missing\)/);
    const noBc = issue(rootFiles, '/CN=PV No BC', ['keyUsage=critical,keyCertSign']);
    await expectRefused(issue(noBc, '/CN=device-9', LEAF_EXT), [noBc], /intermediate "CN=PV No BC" is not a CA/);
  });

  test('an intermediate CA whose keyUsage lacks keyCertSign', async () => {
    const noSign = issue(rootFiles, '/CN=PV No keyCertSign', ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,digitalSignature']);
    const r = await verifyChain(issue(noSign, '/CN=device-10', LEAF_EXT).x509, [noSign.x509], anchors);
    assert.equal(r.ok, false);
  });

  test('pathLenConstraint exceeded; the same chain within the constraint passes', async () => {
    const top0 = issue(rootFiles, '/CN=PV Top pathlen 0', ['basicConstraints=critical,CA:TRUE,pathlen:0', 'keyUsage=critical,keyCertSign']);
    const sub0 = issue(top0, '/CN=PV Sub under 0', CA_EXT);
    await expectRefused(issue(sub0, '/CN=device-11', LEAF_EXT), [sub0, top0], /pathLenConstraint 0 of "CN=PV Top pathlen 0" exceeded \(1 intermediate CA below it\)/);
    const top1 = issue(rootFiles, '/CN=PV Top pathlen 1', ['basicConstraints=critical,CA:TRUE,pathlen:1', 'keyUsage=critical,keyCertSign']);
    const sub1 = issue(top1, '/CN=PV Sub under 1', CA_EXT);
    await expectAccepted(issue(sub1, '/CN=device-12', LEAF_EXT), [sub1, top1]);
    // The anchor's own constraint counts too (as OpenSSL applies it).
    const tightRootFiles = pki.ca('p256', '/CN=PV Tight Root');
    const tight = issue(tightRootFiles, '/CN=PV Tight Root', ['basicConstraints=critical,CA:TRUE,pathlen:0', 'keyUsage=critical,keyCertSign', 'subjectKeyIdentifier=hash'], { key: tightRootFiles.key });
    const under = issue(tight, '/CN=PV Under Tight', CA_EXT);
    const r = await verifyChain(issue(under, '/CN=device-13', LEAF_EXT).x509, [under.x509], [tight.x509]);
    assert.deepEqual(r.ok ? 'ok' : r.reason, 'pathLenConstraint 0 of "CN=PV Tight Root" exceeded (1 intermediate CA below it)');
  });

  test('name constraints: a SAN outside the permitted subtree, or inside an excluded one', async () => {
    const constrained = issue(rootFiles, '/CN=PV Constrained', [...CA_EXT, 'nameConstraints=critical,permitted;DNS:.example.com,excluded;DNS:.bad.example.com']);
    await expectAccepted(issue(constrained, '/CN=device-14', [...LEAF_EXT, 'subjectAltName=DNS:d14.example.com']), [constrained]);
    await expectRefused(issue(constrained, '/CN=device-15', [...LEAF_EXT, 'subjectAltName=DNS:d15.evil.test']), [constrained], /name constraints violated: a name is outside the permitted subtrees/);
    await expectRefused(issue(constrained, '/CN=device-16', [...LEAF_EXT, 'subjectAltName=DNS:x.bad.example.com']), [constrained], /name constraints violated: a name is inside the excluded subtrees/);
  });

  test('an unrecognised critical extension, on an intermediate or on the leaf', async () => {
    const odd = issue(rootFiles, '/CN=PV Odd CA', [...CA_EXT, '1.3.6.1.4.1.55555.1=critical,ASN1:NULL']);
    await expectRefused(issue(odd, '/CN=device-17', LEAF_EXT), [odd], /intermediate "CN=PV Odd CA" has an unrecognised critical extension 1\.3\.6\.1\.4\.1\.55555\.1/);
    await expectRefused(issue(inter, '/CN=device-18', [...LEAF_EXT, '1.3.6.1.4.1.55555.2=critical,ASN1:NULL']), [inter], /client certificate has an unrecognised critical extension 1\.3\.6\.1\.4\.1\.55555\.2/);
    // Not critical: ignored, as RFC 5280 §4.2 allows.
    await expectAccepted(issue(inter, '/CN=device-19', [...LEAF_EXT, '1.3.6.1.4.1.55555.3=ASN1:NULL']), [inter]);
  });

  test('an expired intermediate (the leaf itself still valid)', async () => {
    const shortLived = issue(rootFiles, '/CN=PV Short Lived CA', CA_EXT, { days: 1 });
    const leaf20 = issue(shortLived, '/CN=device-20', LEAF_EXT, { days: 30 });
    await expectAccepted(leaf20, [shortLived]);
    await expectRefused(leaf20, [shortLived], /intermediate "CN=PV Short Lived CA" is expired or not yet valid/, Date.now() + 3 * 86_400_000);
  });

  test('a wrong-issuer signature: an intermediate named after the root but signed by another key', async () => {
    const impostorRoot = pki.ca('p256', '/CN=PV Root/O=express-est tests');
    const forged = issue(impostorRoot, '/CN=PV Forged CA', CA_EXT);
    await expectRefused(issue(forged, '/CN=device-21', LEAF_EXT), [forged], /signature of "CN=PV Forged CA" does not verify with the key of trust anchor "CN=PV Root, O=express-est tests"/);
  });

  test('a self-signed leaf, and a leaf from an unknown CA', async () => {
    const selfSigned = pki.ca('p256', '/CN=device-22');
    const r = await verifyChain(new X509Certificate(readFileSync(selfSigned.cert)), [], anchors);
    assert.deepEqual(r, { ok: false, reason: 'client certificate does not chain to a trusted CA' });
  });

  test('a certificate off the leaf\'s path that chains on its own does not vouch for the leaf (forged leaf beside a genuine one)', async () => {
    // A leaf with a broken signature beside its correctly signed copy (which pkijs's own path
    // building matched to it: accepted before), and a leaf issued by a genuine device certificate
    // (no keyUsage, so TLS stacks link it as an issuer): neither path may be completed by a
    // presented certificate that chains to the root on its own.
    const genuine = issue(inter, '/CN=device-24', ['basicConstraints=CA:FALSE', 'authorityKeyIdentifier=keyid']);
    const raw = Buffer.from(leaf.x509.raw);
    raw[raw.length - 5]! ^= 0x01;
    const broken: Issued = { cert: pki.write('pv-broken.pem', new X509Certificate(raw).toString()), key: leaf.key, x509: new X509Certificate(raw) };
    await expectRefused(broken, [inter, genuine], /signature of "CN=device-7" does not verify with the key of intermediate "CN=PV Issuing CA"/);
    const byDevice = issue({ cert: genuine.cert, key: genuine.key }, '/CN=admin', LEAF_EXT);
    await expectRefused(byDevice, [genuine, inter], /intermediate "CN=device-24" is not a CA|does not verify/);
    const r = await verifyChain(broken.x509, [genuine.x509, inter.x509, leaf.x509], anchors);
    assert.equal(r.ok, false);
  });

  test('cycles and look-alike intermediates cannot make the search loop or explode', async () => {
    // Two CAs that issued each other, plus seven look-alikes of the issuing CA with other keys.
    const aFiles = { key: pki.key('p256'), cert: '' };
    const bFiles = { key: pki.key('p256'), cert: '' };
    aFiles.cert = pki.path('pv-a-self.crt');
    openssl(['req', '-x509', '-new', '-key', aFiles.key, '-subj', '/CN=PV Loop A', '-days', '30', '-out', aFiles.cert]);
    bFiles.cert = pki.path('pv-b-self.crt');
    openssl(['req', '-x509', '-new', '-key', bFiles.key, '-subj', '/CN=PV Loop B', '-days', '30', '-out', bFiles.cert]);
    const aByB = issue(bFiles, '/CN=PV Loop A', CA_EXT, { key: aFiles.key });
    const bByA = issue(aFiles, '/CN=PV Loop B', CA_EXT, { key: bFiles.key });
    const leafA = issue(aFiles, '/CN=device-23', LEAF_EXT);
    const lookalikes = Array.from({ length: 7 }, () => issue(pki.ca('p256', '/CN=PV Root/O=express-est tests'), '/CN=PV Issuing CA', CA_EXT).x509);
    // Finishing at all is the point: pkijs's default issuer search has no cycle check.
    const r = await verifyChain(leafA.x509, [aByB.x509, bByA.x509], anchors);
    assert.deepEqual(r, { ok: false, reason: 'client certificate does not chain to a trusted CA' });
    const r2 = await verifyChain(leaf.x509, [...lookalikes, inter.x509], anchors);
    assert.deepEqual(r2.ok || r2.reason, true, 'the genuine intermediate is still found among look-alikes');
  });

  test('worst case cost: 8 RSA-4096 intermediates, cold (figures printed)', async () => {
    let issuer: { cert: string; key: string } = rootFiles;
    const chain: Issued[] = [];
    for (let i = 0; i < 8; i++) {
      const c = issue(issuer, `/CN=PV Deep ${i}`, CA_EXT, { keySpec: 'rsa4096' });
      chain.push(c);
      issuer = c;
    }
    const deepLeaf = issue(issuer, '/CN=device-deep', LEAF_EXT);
    const reversed = [...chain].reverse().map((c) => c.x509);
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const r = await verifyChain(deepLeaf.x509, reversed, anchors);
      times.push(performance.now() - t);
      assert.equal(r.ok, true);
    }
    times.sort((a, b) => a - b);
    const median = times[10]!;
    console.log(`verifyChain, 8 RSA-4096 intermediates + P-256 leaf: min ${times[0]!.toFixed(2)} ms, median ${median.toFixed(2)} ms, max ${times[19]!.toFixed(2)} ms`);
    // The minimum is what the work costs; the median also measures the shared machine.
    assert.ok(times[0]! < 100, `min ${times[0]} ms`);
  });
});
