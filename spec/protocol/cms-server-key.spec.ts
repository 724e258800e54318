// Encrypted server-generated keys: EnvelopedData (kekri, ktri, kari) over a signed AsymmetricKeyPackage, opened with `openssl cms`.
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import * as asn1js from 'asn1js';
import { A_KEY_PACKAGE_OID, KeyProtectionError, openServerGeneratedKey, serverGeneratedKey, smimeCapabilityOids } from '../../lib/protocol/cms-server-key.js';
import { CMS_OID } from '../../lib/protocol/cms-signed-data.js';
import { openssl, TestPki } from '../helpers/pki.js';

const pki = new TestPki();
after(() => pki.cleanup());
const ca = pki.ca('p256');
const signer = { certificate: new Uint8Array(openssl(['x509', '-in', ca.cert, '-outform', 'DER'])), privateKey: createPrivateKey(readFileSync(ca.key)) };

const generated = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pkcs8 = new Uint8Array(generated.privateKey.export({ type: 'pkcs8', format: 'der' }));

let n = 0;
function file(data: Uint8Array): string {
  return pki.write(`sk-${++n}.bin`, Buffer.from(data));
}

/** Wraps a bare SignedData in a ContentInfo so `openssl cms -verify` reads it. */
function contentInfo(contentType: string, inner: Uint8Array): Uint8Array {
  const seq = new asn1js.Sequence({
    value: [new asn1js.ObjectIdentifier({ value: contentType }), new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [asn1js.fromBER(new Uint8Array(inner)).result] })],
  });
  return new Uint8Array(seq.toBER(false));
}

/** The one OneAsymmetricKey inside an AsymmetricKeyPackage, as DER. */
function onlyKey(pkg: Uint8Array): Uint8Array {
  const seq = asn1js.fromBER(new Uint8Array(pkg)).result as asn1js.Sequence;
  assert.equal(seq.valueBlock.value.length, 1);
  return new Uint8Array(seq.valueBlock.value[0]!.toBER(false));
}

/** `openssl cms -verify` of the decrypted SignedData against the CA; returns the eContent. */
function verifySigned(signedDataDer: Uint8Array): Uint8Array {
  const info = file(contentInfo(CMS_OID.signedData, signedDataDer));
  const out = pki.path(`sk-${++n}.out`);
  execFileSync('openssl', ['cms', '-verify', '-inform', 'DER', '-in', info, '-CAfile', ca.cert, '-binary', '-purpose', 'any', '-out', out], { stdio: 'pipe' });
  const printed = openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', info]).toString();
  assert.match(printed, /eContentType: .*\(2\.16\.840\.1\.101\.2\.1\.2\.78\.5\)/);
  return new Uint8Array(readFileSync(out));
}

function printed(der: Uint8Array): string {
  return openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', file(der)]).toString();
}

describe('serverGeneratedKey (RFC 7030 §4.4.2)', () => {
  test('DecryptKeyIdentifier: kekri with AES key wrap; openssl cms -decrypt -secretkey opens it; the signature verifies', async () => {
    for (const len of [16, 24, 32]) {
      const key = randomBytes(len);
      const keyId = Buffer.from('device-psk-1');
      const der = await serverGeneratedKey(pkcs8, { kind: 'symmetric', keyId, key }, signer);
      const text = printed(der);
      assert.match(text, /d\.kekri:/);
      assert.match(text, new RegExp(`algorithm: id-aes${len * 8}-wrap`));
      assert.match(text, /contentType: pkcs7-signedData/);
      const out = pki.path(`sk-${++n}.out`);
      openssl(['cms', '-decrypt', '-inform', 'DER', '-in', file(der), '-secretkey', key.toString('hex'), '-secretkeyid', keyId.toString('hex'), '-out', out]);
      const inner = verifySigned(new Uint8Array(readFileSync(out)));
      assert.deepEqual(Buffer.from(onlyKey(inner)), Buffer.from(pkcs8));
      // A wrong key does not open it.
      assert.throws(() => openssl(['cms', '-decrypt', '-inform', 'DER', '-in', file(der), '-secretkey', randomBytes(len).toString('hex'), '-secretkeyid', keyId.toString('hex')]));
    }
  });

  for (const spec of ['rsa2048', 'p256', 'p384'] as const) {
    test(`AsymmetricDecryptKeyIdentifier, ${spec} recipient: ${spec.startsWith('rsa') ? 'ktri (RSAES-OAEP)' : 'kari (ECDH)'}; openssl cms -decrypt -recip opens it`, async () => {
      const recipient = pki.clientCert(ca, { keySpec: spec });
      const certDer = new Uint8Array(openssl(['x509', '-in', recipient.cert, '-outform', 'DER']));
      const der = await serverGeneratedKey(pkcs8, { kind: 'certificate', certificate: certDer }, signer);
      assert.match(printed(der), spec.startsWith('rsa') ? /d\.ktri:[\s\S]*rsaesOaep/ : /d\.kari:[\s\S]*dhSinglePass-stdDH-sha(256|384)kdf-scheme/);
      const out = pki.path(`sk-${++n}.out`);
      openssl(['cms', '-decrypt', '-inform', 'DER', '-in', file(der), '-recip', recipient.cert, '-inkey', recipient.key, '-out', out]);
      const inner = verifySigned(new Uint8Array(readFileSync(out)));
      // The PKCS#8 inside is a usable key.
      const keyFile = file(onlyKey(inner));
      assert.match(openssl(['pkey', '-inform', 'DER', '-in', keyFile, '-noout', '-text']).toString(), /Private-Key: \(256 bit/);
      // Another key cannot open it.
      const stranger = pki.clientCert(ca, { keySpec: spec });
      assert.throws(() => openssl(['cms', '-decrypt', '-inform', 'DER', '-in', file(der), '-recip', stranger.cert, '-inkey', stranger.key]));
    });
  }

  test('without a signer the AsymmetricKeyPackage is enveloped directly', async () => {
    const key = randomBytes(32);
    const der = await serverGeneratedKey(pkcs8, { kind: 'symmetric', keyId: Buffer.from('k'), key }, undefined);
    assert.match(printed(der), new RegExp(`contentType: .*\\(${A_KEY_PACKAGE_OID.replace(/\./g, '\\.')}\\)`));
    const out = pki.path(`sk-${++n}.out`);
    openssl(['cms', '-decrypt', '-inform', 'DER', '-in', file(der), '-secretkey', key.toString('hex'), '-secretkeyid', Buffer.from('k').toString('hex'), '-out', out]);
    assert.deepEqual(Buffer.from(onlyKey(new Uint8Array(readFileSync(out)))), Buffer.from(pkcs8));
  });

  test('refusals: bad PSK length, keyUsage without keyEncipherment/keyAgreement, SMIMECapabilities without a usable algorithm', async () => {
    await assert.rejects(serverGeneratedKey(pkcs8, { kind: 'symmetric', keyId: Buffer.from('k'), key: randomBytes(20) }, signer), KeyProtectionError);
    const signOnly = pki.path('sk-signonly.crt');
    const c = pki.csr({ keySpec: 'rsa2048' });
    writeFileSync(pki.path('sk-signonly.ext'), 'keyUsage=critical,digitalSignature\n');
    openssl(['x509', '-req', '-in', c.path, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '3', '-extfile', pki.path('sk-signonly.ext'), '-out', signOnly]);
    await assert.rejects(
      serverGeneratedKey(pkcs8, { kind: 'certificate', certificate: new Uint8Array(openssl(['x509', '-in', signOnly, '-outform', 'DER'])) }, signer),
      { message: 'the recipient certificate does not allow keyEncipherment' },
    );
    await assert.rejects(serverGeneratedKey(pkcs8, { kind: 'symmetric', keyId: Buffer.from('k'), key: randomBytes(16) }, signer, ['2.16.840.1.101.3.4.1.45']), {
      message: /SMIMECapabilities offer no AES-128 key wrap/,
    });
  });

  test('openServerGeneratedKey is the inverse, for every recipient kind; a wrong key fails', async () => {
    const psk = randomBytes(32);
    const sym = await serverGeneratedKey(pkcs8, { kind: 'symmetric', keyId: Buffer.from('k1'), key: psk }, signer);
    const opened = await openServerGeneratedKey(sym, { kind: 'symmetric', key: psk });
    assert.deepEqual(Buffer.from(opened.pkcs8), Buffer.from(pkcs8));
    assert.equal(opened.signer?.subject, 'CN=Test EST CA\nO=express-est tests');
    await assert.rejects(openServerGeneratedKey(sym, { kind: 'symmetric', key: randomBytes(32) }), KeyProtectionError);
    for (const spec of ['rsa2048', 'p384'] as const) {
      const r = pki.clientCert(ca, { keySpec: spec });
      const certificate = new Uint8Array(openssl(['x509', '-in', r.cert, '-outform', 'DER']));
      const privateKeyPkcs8 = new Uint8Array(createPrivateKey(readFileSync(r.key)).export({ type: 'pkcs8', format: 'der' }));
      const der = await serverGeneratedKey(pkcs8, { kind: 'certificate', certificate }, undefined);
      const o = await openServerGeneratedKey(der, { kind: 'certificate', certificate, privateKeyPkcs8 });
      assert.deepEqual(Buffer.from(o.pkcs8), Buffer.from(pkcs8));
      assert.equal(o.signer, undefined, 'unsigned when the server has no signer');
    }
  });

  test('smimeCapabilityOids reads the attribute value', () => {
    const v = new asn1js.Sequence({
      value: [
        new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: '2.16.840.1.101.3.4.1.45' })] }),
        new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.1.7' }), new asn1js.Null()] }),
      ],
    });
    assert.deepEqual(smimeCapabilityOids(new Uint8Array(v.toBER(false))), ['2.16.840.1.101.3.4.1.45', '1.2.840.113549.1.1.7']);
    assert.throws(() => smimeCapabilityOids(new Uint8Array([0x04, 0x00])), KeyProtectionError);
  });
});
