// /serverkeygen with DecryptKeyIdentifier / AsymmetricDecryptKeyIdentifier end to end: openssl cms -decrypt and the SDK's decrypt open the key.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { EstClient, generateKey } from '../../lib/client/index.js';
import { buildCsr } from '../../lib/client/csr.js';
import { Oid } from '../../lib/protocol/constants.js';
import { octetString, oid, seq } from '../../lib/protocol/der.js';
import { parseMultipart } from '../../lib/protocol/multipart.js';
import { defaultIndexPath } from '../../lib/store/file-store.js';
import { TestPki, openssl } from '../helpers/pki.js';
import { basic, b64lines, fetchRaw } from '../helpers/http.js';
import { startAuthBackend, startEstServer, type Running } from '../helpers/servers.js';

const pki = new TestPki();
const ca = pki.ca('p256');
const serverCert = pki.serverCert(ca);
const psk = randomBytes(32);
const PSK_ID = Buffer.from('fleet-key-7');
// A device certificate the app knows by its subjectKeyIdentifier (RSA: key transport).
const registered = pki.clientCert(ca, { keySpec: 'rsa2048', subject: '/CN=registered-rsa' });
const registeredX509 = new X509Certificate(readFileSync(registered.cert));
const skiOf = (certPath: string) => Buffer.from(openssl(['x509', '-in', certPath, '-noout', '-ext', 'subjectKeyIdentifier']).toString().split('\n')[1]!.trim().replace(/:/g, ''), 'hex');
const registeredSki = skiOf(registered.cert);
// Another one the app knows, which the operator revokes (in the ledger, with openssl ca).
const retired = pki.clientCert(ca, { keySpec: 'rsa2048', subject: '/CN=retired-rsa' });
const retiredSki = skiOf(retired.cert);
let auth: Awaited<ReturnType<typeof startAuthBackend>>;
let srv: Running;
let plain: Running;
const headers = { 'Content-Type': 'application/pkcs10', Authorization: basic('estuser', 'estpass') };

before(async () => {
  auth = await startAuthBackend();
  const base = { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, authRequest: auth.url };
  srv = await startEstServer(pki, { ca: ca.cert, serverCert }, {
    ...base,
    serverKeygenKeys: (id) => (Buffer.from(id).equals(PSK_ID) ? psk : undefined),
    serverKeygenRecipients: (id) => (Buffer.from(id).equals(registeredSki) ? registeredX509 : Buffer.from(id).equals(retiredSki) ? readFileSync(retired.cert, 'latin1') : undefined),
  });
  plain = await startEstServer(pki, { ca: ca.cert, serverCert }, { ...base, serialMode: 'random', caSerialNumber: undefined } as never);
});
after(async () => {
  await srv.close();
  await plain.close();
  await auth.close();
  pki.cleanup();
});

/** A serverkeygen CSR carrying `attrs`, built with the SDK's CSR builder. */
async function csrWith(attrs: { oid: string; values: Uint8Array[] }[]): Promise<Buffer> {
  const { privateKey } = await generateKey('p256');
  return Buffer.from(await buildCsr({ privateKey, subject: '/CN=skg-enc', attributes: attrs }));
}

/** The key part of a serverkeygen response: its Content-Type and DER. */
function keyPart(r: { body: Buffer; headers: Record<string, string | string[] | undefined> }): { type: string; der: Buffer; cert: Buffer } {
  const parts = parseMultipart(r.body, r.headers['content-type'] as string);
  assert.equal(parts.length, 2);
  const b64 = (p: { body: Uint8Array }) => Buffer.from(Buffer.from(p.body).toString('latin1').replace(/\s+/g, ''), 'base64');
  return { type: parts[0]!.headers['content-type']!, der: b64(parts[0]!), cert: b64(parts[1]!) };
}

describe('encrypted server-generated keys (RFC 7030 §4.4.1.1, §4.4.1.2, §4.4.2)', () => {
  it('DecryptKeyIdentifier: the key part is server-generated-key EnvelopedData that openssl cms -decrypt opens with the PSK', async () => {
    const csr = await csrWith([{ oid: Oid.decryptKeyIdentifier, values: [octetString(PSK_ID)] }]);
    const r = await fetchRaw(`${srv.url}/serverkeygen`, { method: 'POST', headers, body: b64lines(csr) });
    assert.equal(r.status, 200, r.text);
    const part = keyPart(r);
    assert.equal(part.type, 'application/pkcs7-mime; smime-type=server-generated-key');
    const out = pki.path('skg-sym.out');
    openssl(['cms', '-decrypt', '-inform', 'DER', '-in', pki.write('skg-sym.der', part.der), '-secretkey', psk.toString('hex'), '-secretkeyid', PSK_ID.toString('hex'), '-out', out]);
    // The decrypted content is the CA-signed SignedData over the AsymmetricKeyPackage.
    const signed = readFileSync(out);
    const info = Buffer.concat([Buffer.from([0x30, 0x82, 0, 0, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x82, (signed.length >> 8) & 0xff, signed.length & 0xff]), signed]);
    info.writeUInt16BE(info.length - 4, 2);
    const pkg = pki.path('skg-sym.pkg');
    execFileSync('openssl', ['cms', '-verify', '-inform', 'DER', '-in', pki.write('skg-sym.p7', info), '-CAfile', ca.cert, '-purpose', 'any', '-binary', '-out', pkg], { stdio: 'pipe' });
    // AsymmetricKeyPackage: SEQUENCE { OneAsymmetricKey }; its one element is the PKCS#8 key.
    const seqBytes = readFileSync(pkg);
    const inner = seqBytes.subarray(seqBytes[1]! & 0x80 ? 2 + (seqBytes[1]! & 0x7f) : 2);
    const key = createPrivateKey({ key: inner, format: 'der', type: 'pkcs8' });
    const cert = new X509Certificate(execFileSync('openssl', ['pkcs7', '-inform', 'DER', '-print_certs'], { input: part.cert }));
    assert.equal(cert.publicKey.export({ format: 'pem', type: 'spki' }), createPublicKey(key).export({ format: 'pem', type: 'spki' }), 'the certificate certifies the encrypted key');
  });

  it('the SDK: serverKeygen({ decrypt: { keyId, key } }) opens it and checks the signer against its trust anchors', async () => {
    const c = new EstClient({ url: srv.url.replace('/.well-known/est', ''), trustAnchors: readFileSync(ca.cert, 'latin1'), basicAuth: { username: 'estuser', password: 'estpass' } });
    try {
      const r = await c.serverKeygen({ subject: '/CN=sdk-sym', decrypt: { keyId: PSK_ID, key: psk } });
      assert.equal(r.certificate.subject, 'CN=sdk-sym');
      assert.ok(r.certificate.checkPrivateKey(r.privateKey));
    } finally {
      await c.close();
    }
  });

  it('AsymmetricDecryptKeyIdentifier naming the client\'s own TLS certificate (EC: key agreement); SDK decrypt', async () => {
    const device = pki.clientCert(ca, { keySpec: 'p256', subject: '/CN=device-ec' });
    const c = new EstClient({ url: srv.url.replace('/.well-known/est', ''), trustAnchors: readFileSync(ca.cert, 'latin1'), certificate: readFileSync(device.cert, 'latin1'), privateKey: readFileSync(device.key, 'latin1') });
    try {
      const r = await c.serverKeygen({ subject: '/CN=device-ec-2', decrypt: { certificate: readFileSync(device.cert, 'latin1'), privateKey: readFileSync(device.key, 'latin1') } });
      assert.ok(r.certificate.checkPrivateKey(r.privateKey));
    } finally {
      await c.close();
    }
  });

  it('AsymmetricDecryptKeyIdentifier found through serverKeygenRecipients (RSA: key transport); openssl cms -decrypt -recip', async () => {
    const csr = await csrWith([{ oid: Oid.asymmDecryptKeyIdentifier, values: [octetString(registeredSki)] }, { oid: Oid.smimeCapabilities, values: [seq(seq(oid('1.2.840.113549.1.1.7')))] }]);
    const r = await fetchRaw(`${srv.url}/serverkeygen`, { method: 'POST', headers, body: b64lines(csr) });
    assert.equal(r.status, 200, r.text);
    const part = keyPart(r);
    assert.match(openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', pki.write('skg-rsa.der', part.der)]).toString(), /d\.ktri:[\s\S]*rsaesOaep/);
    openssl(['cms', '-decrypt', '-inform', 'DER', '-in', pki.path('skg-rsa.der'), '-recip', registered.cert, '-inkey', registered.key, '-out', pki.path('skg-rsa.out')]);
    assert.ok(readFileSync(pki.path('skg-rsa.out')).length > 100);
  });

  it('a recipient certificate the ledger has revoked (openssl ca -revoke on index.txt) is 400 and nothing is issued', async () => {
    const conf = pki.write('openssl-ca.cnf', ['[ca]', 'default_ca = d', '[d]', `database = ${defaultIndexPath(ca.serial)}`, `certificate = ${ca.cert}`, `private_key = ${ca.key}`, 'default_md = sha256', ''].join('\n'));
    const csr = await csrWith([{ oid: Oid.asymmDecryptKeyIdentifier, values: [octetString(retiredSki)] }, { oid: Oid.smimeCapabilities, values: [seq(seq(oid('1.2.840.113549.1.1.7')))] }]);
    const ok = await fetchRaw(`${srv.url}/serverkeygen`, { method: 'POST', headers, body: b64lines(csr) });
    assert.equal(ok.status, 200, ok.text);
    openssl(['ca', '-config', conf, '-revoke', retired.cert, '-crl_reason', 'keyCompromise', '-batch']);
    const before = readFileSync(ca.serial, 'latin1');
    const r = await fetchRaw(`${srv.url}/serverkeygen`, { method: 'POST', headers, body: b64lines(csr) });
    assert.equal(r.status, 400);
    const serial = new X509Certificate(readFileSync(retired.cert)).serialNumber.toUpperCase();
    assert.equal(r.text, `the identified key cannot protect the server-generated key: its certificate (serial ${serial}) has been revoked\n`);
    assert.equal(readFileSync(ca.serial, 'latin1'), before, 'no serial was taken: nothing issued');
  });

  it('an unknown identifier is 400 and nothing is issued; encryption not configured is 501; unusable capabilities 400', async () => {
    const before = readFileSync(ca.serial, 'latin1');
    const unknown = await fetchRaw(`${srv.url}/serverkeygen`, { method: 'POST', headers, body: b64lines(await csrWith([{ oid: Oid.decryptKeyIdentifier, values: [octetString(Buffer.from('nope'))] }])) });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.text, 'no pre-shared key known for DecryptKeyIdentifier 6e6f7065\n');
    const unknownCert = await fetchRaw(`${srv.url}/serverkeygen`, { method: 'POST', headers, body: b64lines(await csrWith([{ oid: Oid.asymmDecryptKeyIdentifier, values: [octetString(Buffer.from('0102', 'hex'))] }])) });
    assert.equal(unknownCert.status, 400);
    assert.equal(unknownCert.text, 'no certificate known for AsymmetricDecryptKeyIdentifier 0102\n');
    const noWrap = await fetchRaw(`${srv.url}/serverkeygen`, {
      method: 'POST',
      headers,
      body: b64lines(await csrWith([{ oid: Oid.decryptKeyIdentifier, values: [octetString(PSK_ID)] }, { oid: Oid.smimeCapabilities, values: [seq(seq(oid('2.16.840.1.101.3.4.1.5')))] }])),
    });
    assert.equal(noWrap.status, 400);
    assert.match(noWrap.text, /SMIMECapabilities offer no AES-256 key wrap/);
    assert.equal(readFileSync(ca.serial, 'latin1'), before, 'no serial was taken: nothing issued');
    const off = await fetchRaw(`${plain.url}/serverkeygen`, { method: 'POST', headers, body: b64lines(await csrWith([{ oid: Oid.decryptKeyIdentifier, values: [octetString(PSK_ID)] }])) });
    assert.equal(off.status, 501);
    assert.match(off.text, /serverKeygenKeys/);
  });
});
