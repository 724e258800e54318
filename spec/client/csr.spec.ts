// Key, CSR and PKCS#12 helpers, checked with the openssl CLI.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { buildCsr, encodeSubject, generateKey, parseKeySpec, parseRetryAfter, classifyCaCertificates, EstClientConfigError } from '../../lib/client/index.js';
import { buildPkcs12 } from '../../lib/client/pkcs12.js';
import { toPem } from '../../lib/protocol/pem.js';
import { parseCsr } from '../../lib/protocol/pkcs10.js';
import { openssl, pem, TestPki } from './fixtures.js';

const pki = new TestPki();
after(() => pki.cleanup());

describe('CSR helpers', () => {
  for (const spec of ['rsa2048', 'p256', 'p384', 'ed25519'] as const) {
    it(`buildCsr with a ${spec} key: openssl verifies it and reads subject, SAN, challengePassword`, async () => {
      const { privateKey } = await generateKey(spec);
      const der = await buildCsr({
        privateKey,
        subject: '/C=FR/O=Acme Devices/OU=Line 3/CN=device-42',
        san: ['DNS:device-42.example', 'IP:192.0.2.7', 'IP:2001:db8::1', 'email:ops@example.com', 'URI:urn:dev:42'],
        challengePassword: '+rrCir/7+EYu50T4',
      });
      const text = openssl(['req', '-inform', 'DER', '-noout', '-text'], Buffer.from(der)).toString();
      assert.match(text, /Subject: C ?= ?FR, O ?= ?Acme Devices, OU ?= ?Line 3, CN ?= ?device-42/);
      assert.match(text, /DNS:device-42\.example, IP Address:192\.0\.2\.7, IP Address:2001:DB8:0:0:0:0:0:1, email:ops@example\.com, URI:urn:dev:42/);
      assert.match(text, /challengePassword\s*:\+rrCir\/7\+EYu50T4/);
      const parsed = parseCsr(der);
      assert.equal(parsed.challengePassword, '+rrCir/7+EYu50T4');
      assert.equal(await parsed.verifySignature(), true);
    });
  }

  it('an IPv6 SAN with a zone, or a bad address, is refused instead of encoded wrongly', async () => {
    const { privateKey } = await generateKey('p256');
    for (const san of ['IP:fe80::1%eth0', 'IP:1::2::3', 'fe80::1%eth0']) {
      await assert.rejects(buildCsr({ privateKey, subject: 'CN=dev', san: [san] }), (e: Error) => e instanceof EstClientConfigError && /is not an IP address/.test(e.message), san);
    }
  });

  it('openssl prints "verify OK" (stderr) for our CSRs', async () => {
    const { privateKey } = await generateKey('p256');
    const path = pki.write('ours.csr', toPem(await buildCsr({ privateKey, subject: 'CN=dev,O=Acme' }), 'CERTIFICATE REQUEST'));
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync('openssl', ['req', '-in', path, '-verify', '-noout', '-subject'], { encoding: 'utf8' });
    assert.match(r.stderr + r.stdout, /verify OK|Certificate request self-signature verify OK/);
    assert.match(r.stdout, /subject=O ?= ?Acme, CN ?= ?dev/, 'RFC 4514 order is reversed into DER order');
  });

  it('subjects: both notations, escapes, multi-valued RDNs, errors', () => {
    assert.deepEqual(encodeSubject('/O=Acme/CN=a'), encodeSubject('CN=a,O=Acme'));
    assert.deepEqual(encodeSubject('CN=a\\,b'), encodeSubject('/CN=a,b'));
    assert.equal(encodeSubject('').length, 2);
    assert.ok(encodeSubject('/CN=a+serialNumber=123'));
    assert.throws(() => encodeSubject('/XX=1'), EstClientConfigError);
    assert.throws(() => encodeSubject('/C=FRA'), /two-letter/);
    assert.equal(parseKeySpec('EC'), 'p256');
    assert.equal(parseKeySpec('rsa'), 'rsa2048');
    // Curve names come from the one curve list (protocol/key-types.ts), spelled any usual way.
    for (const [name, spec] of [['prime256v1', 'p256'], ['secp256r1', 'p256'], ['P-256', 'p256'], ['p-384', 'p384'], ['secp384r1', 'p384'], ['secp521r1', 'p521'], ['ec-p521', 'p521']]) {
      assert.equal(parseKeySpec(name!), spec, name);
    }
    assert.throws(() => parseKeySpec('secp256k1'), /unknown key type/);
    assert.throws(() => parseKeySpec('dsa'), /unknown key type/);
  });

  it('Retry-After: delay-seconds and HTTP-date', () => {
    assert.equal(parseRetryAfter('120'), 120);
    const now = Date.parse('2025-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now), 30);
    assert.equal(parseRetryAfter('Tue, 31 Dec 2024 00:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });

  it('PKCS#12 output opens with openssl pkcs12 (EC and RSA keys, with chain)', async () => {
    const ca = pki.ca('p256');
    for (const spec of ['p256', 'rsa2048'] as const) {
      const client = pki.clientCert(ca, { keySpec: spec });
      const { createPrivateKey } = await import('node:crypto');
      const key = createPrivateKey(pem(client.key));
      const p12 = await buildPkcs12(key, [new X509Certificate(pem(client.cert)), new X509Certificate(pem(ca.cert))], 's3cret');
      const path = pki.write(`out-${spec}.p12`, Buffer.from(p12));
      const text = openssl(['pkcs12', '-in', path, '-passin', 'pass:s3cret', '-nodes']).toString();
      assert.equal((text.match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
      assert.match(text, /BEGIN PRIVATE KEY/);
      assert.match(text, /localKeyID/);
      assert.throws(() => openssl(['pkcs12', '-in', path, '-passin', 'pass:wrong', '-nodes']));
    }
    // The MAC key derivation takes the password as a BMPString (RFC 7292 App. B.1): non-ASCII too.
    const client = pki.clientCert(ca);
    const { createPrivateKey } = await import('node:crypto');
    const p12 = await buildPkcs12(createPrivateKey(pem(client.key)), [new X509Certificate(pem(client.cert))], 'pässwörd-€');
    const path = pki.write('out-utf8.p12', Buffer.from(p12));
    assert.match(openssl(['pkcs12', '-in', path, '-passin', 'pass:pässwörd-€', '-nodes']).toString(), /BEGIN PRIVATE KEY/);
  });

  it('classification without a root in the bag: the top certificate is the anchor', () => {
    const root = pki.ca('p256', '/CN=Root');
    const inter = pki.path('inter.crt');
    const csr = pki.csr({ subject: '/CN=Intermediate' });
    const ext = pki.write('inter.cnf', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n');
    openssl(['x509', '-req', '-in', csr.path, '-CA', root.cert, '-CAkey', root.key, '-CAcreateserial', '-days', '30', '-extfile', ext, '-out', inter]);
    const only = classifyCaCertificates([new X509Certificate(pem(inter))]);
    assert.match(only.trustAnchor.subject, /Intermediate/);
    const both = classifyCaCertificates([new X509Certificate(pem(inter)), new X509Certificate(pem(root.cert))]);
    assert.match(both.trustAnchor.subject, /CN=Root/);
    assert.equal(both.chain.length, 1);
  });
});

