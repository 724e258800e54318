// File CA and certificate profile: issue for every key type, check with openssl x509/verify.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import crypto, { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { EstError } from '../../lib/errors.js';
import type { ParsedCsr } from '../../lib/protocol/pkcs10.js';
import { parseCertificate } from '../../lib/protocol/x509.js';
import { CaMaterialError, FileCertificateAuthority, checkCaMaterial, findCaMaterialProblem } from '../../lib/ca/file-ca.js';
import { RandomSerialStore } from '../../lib/ca/random-serial-store.js';
import { generateKeyLike, rsaBitsFor } from '../../lib/ca/keygen.js';
import { BACKDATE_MS, buildTbsCertificate, createIssuerProfile, keyIdentifier, MAX_SERIAL, readSpki, subjectKeyOfCsr } from '../../lib/ca/profile.js';
import { signingAlgorithmFor } from '../../lib/protocol/algorithms.js';
import type { EnrollRequest, SerialStore } from '../../lib/ca/types.js';
import { openssl, TestPki, type KeySpec, type TestCa } from '../helpers/pki.js';

const hexColons = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase().match(/../g)!.join(':');

const pki = new TestPki();
after(() => pki.cleanup());

function request(csr: ParsedCsr, spkiDer = csr.spkiDer): EnrollRequest {
  return { operation: 'simpleenroll', csr, spkiDer, authenticatedBy: 'certificate', peerAddress: '192.0.2.7', label: 'devices' };
}

class CountingStore implements SerialStore {
  constructor(private v = 0x1000n) {}
  async next(count: number): Promise<bigint[]> {
    return Array.from({ length: count }, () => ++this.v);
  }
}

/** The lines of one extension block in `openssl x509 -text` (header + value lines). */
function extBlock(text: string, name: string): string | undefined {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.trim().startsWith(name + ':'));
  if (i < 0) return undefined;
  const out = [lines[i]!.trim()];
  for (let j = i + 1; j < lines.length && /^ {16}/.test(lines[j]!); j++) out.push(lines[j]!.trim());
  return out.join('\n');
}

const CA_SPECS: { spec: KeySpec; sigText: RegExp }[] = [
  { spec: 'rsa2048', sigText: /sha256WithRSAEncryption/ },
  { spec: 'p256', sigText: /ecdsa-with-SHA256/ },
  { spec: 'p384', sigText: /ecdsa-with-SHA384/ },
  { spec: 'p521', sigText: /ecdsa-with-SHA512/ },
  { spec: 'ed25519', sigText: /ED25519/ },
];
const CSR_SPECS: KeySpec[] = ['rsa2048', 'rsa-pss', 'p256', 'p384', 'p521', 'ed25519', 'ed448'];

describe('FileCertificateAuthority', () => {
  const cas = new Map<KeySpec, TestCa>();
  const csrs = new Map<KeySpec, ParsedCsr>();
  let evil: ParsedCsr;

  before(() => {
    for (const { spec } of CA_SPECS) cas.set(spec, pki.signingCa(spec));
    for (const spec of CSR_SPECS) csrs.set(spec, pki.parsedCsr(spec, `/CN=device-${spec}/O=Demo Devices`));
    evil = pki.parsedCsr('p256', '/CN=evil/O=Demo Devices', [
      'basicConstraints=critical,CA:TRUE',
      'keyUsage=critical,digitalSignature,keyCertSign,cRLSign,keyAgreement',
      'nameConstraints=critical,permitted;DNS:example.com',
      'subjectAltName=DNS:evil.example.com,IP:10.0.0.1',
      'extendedKeyUsage=serverAuth,clientAuth,codeSigning,1.3.6.1.5.5.7.3.28',
      'certificatePolicies=1.2.3.4',
    ]);
  });

  for (const { spec: caSpec, sigText } of CA_SPECS) {
    test(`${caSpec} CA issues for every key type; openssl verifies`, async () => {
      const ca = cas.get(caSpec)!;
      const fca = new FileCertificateAuthority({ certificate: ca.certDer, chain: [ca.certDer], privateKey: ca.key, serialStore: new CountingStore(), validityDays: 30 });
      const caSki = extBlock(pki.text(ca.certDer), 'X509v3 Subject Key Identifier')!.split('\n')[1]!;
      for (const csrSpec of CSR_SPECS) {
        const csr = csrs.get(csrSpec)!;
        const der = await fca.enroll(request(csr));
        const text = pki.text(der);
        assert.match(text, /Version: 3 \(0x2\)/);
        assert.match(text.split('Signature Value')[0]!, sigText, `${caSpec}: signature algorithm`);
        assert.match(text, new RegExp(`Subject: CN ?= ?device-${csrSpec}, O ?= ?Demo Devices`));
        assert.equal(extBlock(text, 'X509v3 Basic Constraints'), 'X509v3 Basic Constraints: critical\nCA:FALSE');
        const ku = extBlock(text, 'X509v3 Key Usage')!;
        assert.equal(ku, `X509v3 Key Usage: critical\n${csrSpec === 'rsa2048' ? 'Digital Signature, Key Encipherment' : 'Digital Signature'}`);
        assert.equal(extBlock(text, 'X509v3 Extended Key Usage'), 'X509v3 Extended Key Usage:\nTLS Web Client Authentication');
        const ski = extBlock(text, 'X509v3 Subject Key Identifier')!.split('\n')[1]!;
        const aki = extBlock(text, 'X509v3 Authority Key Identifier')!.split('\n')[1]!;
        assert.equal(aki.replace(/^keyid:/, ''), caSki, 'AKI = CA SKI');
        assert.notEqual(ski, caSki);
        // SKI = SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1).
        assert.equal(ski, hexColons(keyIdentifier(csr.spkiDer)));
        assert.equal(extBlock(text, 'X509v3 Subject Alternative Name'), undefined);
        assert.match(pki.verify(ca.certPath, der, 'sslclient'), /: OK/);
        // The certified key is the CSR's.
        const x = new X509Certificate(Buffer.from(der));
        assert.ok(x.publicKey.export({ type: 'spki', format: 'der' }).equals(Buffer.from(csr.spkiDer)));
        assert.ok(x.verify(createPublicKey(ca.key)));
      }
    });
  }

  test('a CSR asking for CA:TRUE, keyCertSign, nameConstraints gets none; SAN copied', async () => {
    const ca = cas.get('p384')!;
    const logs: { obj: Record<string, unknown>; msg?: string }[] = [];
    const fca = new FileCertificateAuthority({
      certificate: ca.certDer, chain: [ca.certDer], privateKey: ca.key, serialStore: new CountingStore(), validityDays: 30,
      logger: { info: (obj, msg) => logs.push({ obj: obj as Record<string, unknown>, msg }) },
    });
    const der = await fca.enroll(request(evil));
    const text = pki.text(der);
    assert.equal(extBlock(text, 'X509v3 Basic Constraints'), 'X509v3 Basic Constraints: critical\nCA:FALSE');
    assert.equal(extBlock(text, 'X509v3 Key Usage'), 'X509v3 Key Usage: critical\nDigital Signature, Key Agreement');
    assert.doesNotMatch(text, /Certificate Sign|CRL Sign|Name Constraints|Policies|Code Signing|1\.3\.6\.1\.5\.5\.7\.3\.28|CMC/);
    assert.equal(extBlock(text, 'X509v3 Extended Key Usage'), 'X509v3 Extended Key Usage:\nTLS Web Client Authentication');
    assert.equal(extBlock(text, 'X509v3 Subject Alternative Name'), 'X509v3 Subject Alternative Name:\nDNS:evil.example.com, IP Address:10.0.0.1');
    assert.match(text, /ecdsa-with-SHA384/);
    assert.match(pki.verify(ca.certPath, der), /: OK/);
    // openssl refuses it as an issuer: it is not a CA.
    assert.throws(() => pki.verify(pki.path('none.pem'), der));
    assert.equal(logs.length, 1);
    assert.equal(logs[0]!.msg, 'CSR extensions ignored by the certificate profile');
    assert.deepEqual(
      { ...logs[0]!.obj, notAfter: undefined },
      {
        serial: '1001', subject: 'CN=evil, O=Demo Devices', label: 'devices', operation: 'simpleenroll', authenticatedBy: 'certificate', peerAddress: '192.0.2.7', notAfter: undefined,
        ignoredExtensions: ['2.5.29.19', '2.5.29.30', '2.5.29.32', '2.5.29.37:1.3.6.1.5.5.7.3.1', '2.5.29.37:1.3.6.1.5.5.7.3.3', '2.5.29.37:1.3.6.1.5.5.7.3.28'],
      },
    );
  });

  test('serverAuth only when requested and allowServerAuth', async () => {
    const ca = cas.get('p256')!;
    const fca = new FileCertificateAuthority({ certificate: ca.certDer, chain: [], privateKey: ca.key, serialStore: new CountingStore(), validityDays: 30, allowServerAuth: true });
    const text = pki.text(await fca.enroll(request(evil)));
    assert.equal(extBlock(text, 'X509v3 Extended Key Usage'), 'X509v3 Extended Key Usage:\nTLS Web Server Authentication, TLS Web Client Authentication');
    const plain = pki.text(await fca.enroll(request(csrs.get('p256')!)));
    assert.equal(extBlock(plain, 'X509v3 Extended Key Usage'), 'X509v3 Extended Key Usage:\nTLS Web Client Authentication');
    assert.deepEqual(fca.cacerts(), [ca.certDer], 'empty chain falls back to the CA certificate');
  });

  test('empty subject: SAN becomes critical; without SAN the request is refused', async () => {
    const ca = cas.get('p256')!;
    const fca = new FileCertificateAuthority({ certificate: ca.certDer, chain: [ca.certDer], privateKey: ca.key, serialStore: new CountingStore(), validityDays: 30 });
    const withSan = pki.parsedCsr('p256', '/', ['subjectAltName=DNS:device.example']);
    const text = pki.text(await fca.enroll(request(withSan)));
    assert.equal(extBlock(text, 'X509v3 Subject Alternative Name'), 'X509v3 Subject Alternative Name: critical\nDNS:device.example');
    await assert.rejects(fca.enroll(request(pki.parsedCsr('p256', '/'))), (e: EstError) => e.code === 'ERR_EST_CSR_SUBJECT' && e.status === 400);
  });

  test('validity: backdated 5 min, validityDays, clamped to the CA notAfter', async () => {
    const ca = cas.get('p256')!;
    const fca = new FileCertificateAuthority({ certificate: ca.certDer, chain: [ca.certDer], privateKey: ca.key, serialStore: new CountingStore(), validityDays: 30 });
    const t0 = Date.now();
    const c = parseCertificate(await fca.enroll(request(csrs.get('p256')!)));
    // The CA was made seconds ago, so the 5-minute backdating is clamped to its notBefore.
    assert.equal(c.notBefore.getTime(), parseCertificate(ca.certDer).notBefore.getTime());
    assert.ok(Math.abs(c.notAfter.getTime() - (t0 + 30 * 86_400_000)) < 3000);
    assert.equal(c.serial, 0x1001n);
    // A day later the backdating applies in full.
    const profile = createIssuerProfile({ caCertificate: ca.certDer, signatureAlgorithm: signingAlgorithmFor(ca.key).algorithmIdentifier, validityDays: 30 });
    const later = new Date(t0 + 86_400_000);
    const r = buildTbsCertificate(profile, { serial: 5n, subjectDer: csrs.get('p256')!.subjectDer, spkiDer: csrs.get('p256')!.spkiDer, requestedExtensions: [] }, later);
    const sec = Math.floor(later.getTime() / 1000) * 1000;
    assert.equal(r.notBefore.getTime(), sec - BACKDATE_MS);
    assert.equal(r.notAfter.getTime(), sec + 30 * 86_400_000);
    assert.throws(() => buildTbsCertificate(profile, { serial: 0n, subjectDer: csrs.get('p256')!.subjectDer, spkiDer: csrs.get('p256')!.spkiDer, requestedExtensions: [] }), /serial number out of range/);
    assert.throws(
      () => buildTbsCertificate(profile, { serial: 1n, subjectDer: csrs.get('p256')!.subjectDer, spkiDer: csrs.get('p256')!.spkiDer, requestedExtensions: [] }, new Date(Date.UTC(2100, 0, 1))),
      (e: EstError) => e.code === 'ERR_EST_CA_EXPIRED',
    );

    const shortCa = pki.signingCa('p256', { days: 2 });
    const short = new FileCertificateAuthority({ certificate: shortCa.certDer, chain: [], privateKey: shortCa.key, serialStore: new CountingStore(), validityDays: 30 });
    const s = parseCertificate(await short.enroll(request(csrs.get('p256')!)));
    assert.equal(s.notAfter.getTime(), parseCertificate(shortCa.certDer).notAfter.getTime());
    // notBefore never precedes the CA's own notBefore.
    assert.ok(s.notBefore.getTime() >= parseCertificate(shortCa.certDer).notBefore.getTime());
    assert.match(pki.verify(shortCa.certPath, new Uint8Array(Buffer.from(parseCertificate(await short.enroll(request(csrs.get('p256')!))).der))), /: OK/);
  });

  test('2050 and later: GeneralizedTime', async () => {
    const ca = pki.signingCa('p256', { days: 40 * 365 });
    const fca = new FileCertificateAuthority({ certificate: ca.certDer, chain: [], privateKey: ca.key, serialStore: new CountingStore(), validityDays: 30 * 365 });
    const der = await fca.enroll(request(csrs.get('ed25519')!));
    const dump = openssl(['asn1parse', '-inform', 'DER'], Buffer.from(der)).toString();
    assert.match(dump, /UTCTIME/);
    assert.match(dump, /GENERALIZEDTIME/);
    assert.ok(parseCertificate(der).notAfter.getUTCFullYear() >= 2050);
    assert.match(pki.verify(ca.certPath, der), /: OK/);
  });

  test('serverkeygen-style: certifies the given SPKI, not the CSR key', async () => {
    const ca = cas.get('rsa2048')!;
    const fca = new FileCertificateAuthority({ certificate: ca.certDer, chain: [], privateKey: ca.key, serialStore: new RandomSerialStore(), validityDays: 7 });
    const csr = csrs.get('p256')!;
    const key = await generateKeyLike(csr.keyType!);
    const der = await fca.enroll({ ...request(csr, key.spkiDer), operation: 'serverkeygen' });
    const x = new X509Certificate(Buffer.from(der));
    assert.ok(x.publicKey.export({ type: 'spki', format: 'der' }).equals(Buffer.from(key.spkiDer)));
    assert.ok(x.checkPrivateKey(createPrivateKey({ key: Buffer.from(key.privateKeyPkcs8), format: 'der', type: 'pkcs8' })));
    const serial = parseCertificate(der).serial;
    assert.ok(serial > 0n && serial <= MAX_SERIAL);
    assert.match(pki.verify(ca.certPath, der), /: OK/);
  });

  test('checkCaMaterial: key mismatch, not a CA, no certificate signing, expired', () => {
    const p256 = cas.get('p256')!;
    const p384 = cas.get('p384')!;
    assert.equal(checkCaMaterial(p256.certDer, p256.key), undefined);
    assert.equal(checkCaMaterial(p256.certDer, p384.key), "the CA private key does not match the CA certificate's public key");
    assert.match(checkCaMaterial(p256.certDer, createPublicKey(p256.key))!, /must be a private key/);
    const leaf = pki.signingCa('p256', { extra: ['basicConstraints=critical,CA:FALSE'] });
    assert.match(checkCaMaterial(leaf.certDer, leaf.key)!, /^the certificate is not a CA certificate/);
    const noSign = pki.signingCa('p256', { extra: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,digitalSignature'] });
    assert.match(checkCaMaterial(noSign.certDer, noSign.key)!, /does not permit certificate signing/);
    const expiry = parseCertificate(p256.certDer).notAfter;
    assert.equal(checkCaMaterial(p256.certDer, p256.key, new Date(expiry.getTime() + 1000)), `the CA certificate expired on ${expiry.toISOString()}`);
    // Messages about the certificate never mention "key", so the caller can blame the right option.
    for (const m of [checkCaMaterial(leaf.certDer, leaf.key)!, checkCaMaterial(noSign.certDer, noSign.key)!]) assert.doesNotMatch(m, /key/i);
    assert.throws(() => new FileCertificateAuthority({ certificate: p256.certDer, chain: [], privateKey: p384.key, serialStore: new CountingStore(), validityDays: 1 }), TypeError);
  });

  test('a CA material problem says which part is at fault (the option est() blames)', () => {
    const p256 = cas.get('p256')!;
    const p384 = cas.get('p384')!;
    assert.equal(findCaMaterialProblem(p256.certDer, p384.key)?.part, 'key');
    assert.equal(findCaMaterialProblem(p256.certDer, createPublicKey(p256.key))?.part, 'key');
    const leaf = pki.signingCa('p256', { extra: ['basicConstraints=critical,CA:FALSE'] });
    assert.equal(findCaMaterialProblem(leaf.certDer, leaf.key)?.part, 'certificate');
    // A certificate problem is reported before a key problem.
    assert.equal(findCaMaterialProblem(leaf.certDer, p384.key)?.part, 'certificate');
    const expiry = parseCertificate(p256.certDer).notAfter;
    assert.equal(findCaMaterialProblem(p256.certDer, p256.key, new Date(expiry.getTime() + 1000))?.part, 'certificate');
    assert.throws(
      () => new FileCertificateAuthority({ certificate: p256.certDer, chain: [], privateKey: p384.key, serialStore: new CountingStore(), validityDays: 1 }),
      (e: unknown) => e instanceof CaMaterialError && e.part === 'key',
    );
  });

  test('the profile takes the key from the parsed CSR, as reading the SPKI would', () => {
    for (const spec of CSR_SPECS) {
      const csr = csrs.get(spec)!;
      assert.deepEqual(subjectKeyOfCsr(csr, csr.spkiDer), readSpki(csr.spkiDer), spec);
    }
    const p256 = csrs.get('p256')!;
    // Another SPKI (a server-generated key) is read by the profile itself.
    assert.equal(subjectKeyOfCsr(p256, csrs.get('p384')!.spkiDer), undefined);
    assert.equal(subjectKeyOfCsr(p256, Uint8Array.from(p256.spkiDer)), undefined);
  });

  test('serverkeygen: a new key like the CSR\'s, certified; close() closes the serial store', async () => {
    const ca = cas.get('p256')!;
    let closed = 0;
    const store: SerialStore = { next: async (n) => Array.from({ length: n }, (_, i) => 0x2000n + BigInt(i)), close: async () => void closed++ };
    const fca = new FileCertificateAuthority({ certificate: ca.certDer, chain: [], privateKey: ca.key, serialStore: store, validityDays: 7 });
    const csr = csrs.get('p384')!;
    const { privateKeyPkcs8, certificate } = await fca.serverkeygen({ ...request(csr), operation: 'serverkeygen' });
    const key = createPrivateKey({ key: Buffer.from(privateKeyPkcs8), format: 'der', type: 'pkcs8' });
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'secp384r1');
    const x = new X509Certificate(Buffer.from(certificate));
    assert.ok(x.checkPrivateKey(key));
    assert.ok(!x.publicKey.export({ type: 'spki', format: 'der' }).equals(Buffer.from(csr.spkiDer)));
    assert.match(pki.verify(ca.certPath, certificate), /: OK/);
    await fca.close();
    assert.equal(closed, 1);
  });
});

describe('generateKeyLike', () => {
  test('follows the key type; RSA clamped to 2048–4096; unknown curve refused', async () => {
    assert.deepEqual([1024, 2048, 2049, 3072, 4096, 8192].map(rsaBitsFor), [2048, 2048, 3072, 3072, 4096, 4096]);
    const cases = [
      { kt: { kind: 'rsa', bits: 1024 } as const, check: (k: ReturnType<typeof createPrivateKey>) => k.asymmetricKeyType === 'rsa' && k.asymmetricKeyDetails?.modulusLength === 2048 },
      { kt: { kind: 'rsa-pss', bits: 2048 } as const, check: (k: ReturnType<typeof createPrivateKey>) => k.asymmetricKeyType === 'rsa' },
      { kt: { kind: 'ec', curve: 'prime256v1' } as const, check: (k: ReturnType<typeof createPrivateKey>) => k.asymmetricKeyDetails?.namedCurve === 'prime256v1' },
      { kt: { kind: 'ec', curve: 'secp384r1' } as const, check: (k: ReturnType<typeof createPrivateKey>) => k.asymmetricKeyDetails?.namedCurve === 'secp384r1' },
      { kt: { kind: 'ec', curve: 'secp521r1' } as const, check: (k: ReturnType<typeof createPrivateKey>) => k.asymmetricKeyDetails?.namedCurve === 'secp521r1' },
      { kt: { kind: 'ed25519' } as const, check: (k: ReturnType<typeof createPrivateKey>) => k.asymmetricKeyType === 'ed25519' },
      { kt: { kind: 'ed448' } as const, check: (k: ReturnType<typeof createPrivateKey>) => k.asymmetricKeyType === 'ed448' },
    ];
    await Promise.all(
      cases.map(async ({ kt, check }) => {
        const g = await generateKeyLike(kt);
        const priv = createPrivateKey({ key: Buffer.from(g.privateKeyPkcs8), format: 'der', type: 'pkcs8' });
        assert.ok(check(priv), JSON.stringify(kt));
        assert.ok(createPublicKey(priv).export({ type: 'spki', format: 'der' }).equals(Buffer.from(g.spkiDer)));
      }),
    );
    await assert.rejects(generateKeyLike({ kind: 'ec', curve: 'secp256k1' }), (e: EstError) => e.code === 'ERR_EST_CSR_KEY');
  });
});

describe('generateKeyLike under load', () => {
  test('at most two RSA key pairs are generated at once (the rest queue); EC keys do not wait for them', async () => {
    const real = crypto.generateKeyPair;
    let rsaRunning = 0;
    let mostRsa = 0;
    (crypto as { generateKeyPair: unknown }).generateKeyPair = (type: string, options: unknown, cb: (...a: unknown[]) => void) => {
      if (type === 'rsa') mostRsa = Math.max(mostRsa, ++rsaRunning);
      (real as (...a: unknown[]) => void)(type, options, (...a: unknown[]) => {
        if (type === 'rsa') rsaRunning--;
        cb(...a);
      });
    };
    syncBuiltinESMExports();
    try {
      const order: string[] = [];
      const rsa = Array.from({ length: 6 }, (_, i) => generateKeyLike({ kind: 'rsa', bits: 2048 }).then(() => order.push(`rsa${i}`)));
      const ec = generateKeyLike({ kind: 'ec', curve: 'prime256v1' }).then(() => order.push('ec'));
      await Promise.all([...rsa, ec]);
      assert.equal(mostRsa, 2);
      assert.equal(order.length, 7);
      assert.ok(order.indexOf('ec') < 4, `the EC key came before most RSA ones: ${order.join(' ')}`);
    } finally {
      (crypto as { generateKeyPair: unknown }).generateKeyPair = real;
      syncBuiltinESMExports();
    }
  });
});

describe('RandomSerialStore', () => {
  test('positive, at most 16 octets, distinct', async () => {
    const s = await new RandomSerialStore().next(1000);
    assert.equal(new Set(s).size, 1000);
    for (const v of s) assert.ok(v > 0n && v < 1n << 127n);
    // At least 64 random bits: the values spread over the high bits too.
    assert.ok(s.some((v) => v >= 1n << 120n));
  });
});
