// parseCertificates / parsePrivateKey: the one loader the middleware options and the client share.
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { toCertificates, toPrivateKey } from '../../lib/client/material.js';
import { loadCertificates, loadPrivateKey } from '../../lib/middleware/load.js';
import { MaterialError, parseCertificates, parsePrivateKey } from '../../lib/protocol/material.js';
import { TestPki } from '../helpers/pki.js';

test('certificates: a PEM bundle, DER, and the same answer from both callers', (t) => {
  const pki = new TestPki();
  t.after(() => pki.cleanup());
  const pem = readFileSync(pki.ca().cert, 'latin1');
  const bundle = pem + readFileSync(pki.ca('rsa2048').cert, 'latin1');
  const der = new Uint8Array(new X509Certificate(pem).raw);
  assert.equal(parseCertificates(bundle).length, 2);
  assert.equal(parseCertificates(Buffer.from(bundle)).length, 2);
  assert.equal(parseCertificates(der)[0]!.fingerprint256, new X509Certificate(pem).fingerprint256);
  assert.equal(loadCertificates(bundle, 'x')[1]!.fingerprint256, toCertificates(bundle, 'x')[1]!.fingerprint256);
  assert.throws(() => parseCertificates('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), (e: MaterialError) => e.index === undefined);
  assert.throws(() => parseCertificates(Uint8Array.of(0x30, 0x03, 1, 2, 3)), (e: MaterialError) => e.index === 0);
});

test('private keys: PEM, DER PKCS#8 and SEC1; an encrypted key is said to be encrypted', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = JSON.stringify(privateKey.export({ format: 'jwk' }));
  const same = (k: { export(o: { format: 'jwk' }): object }) => assert.equal(JSON.stringify(k.export({ format: 'jwk' })), jwk);
  same(parsePrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' }) as string));
  same(parsePrivateKey(privateKey.export({ format: 'pem', type: 'sec1' }) as string));
  same(parsePrivateKey(privateKey.export({ format: 'der', type: 'pkcs8' })));
  same(parsePrivateKey(privateKey.export({ format: 'der', type: 'sec1' })));
  same(toPrivateKey(privateKey.export({ format: 'der', type: 'sec1' }), 'k'));
  same(loadPrivateKey(privateKey.export({ format: 'der', type: 'sec1' }), 'k'));
  const encrypted = privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string;
  assert.throws(() => parsePrivateKey(encrypted), (e: MaterialError) => e.encrypted);
  const legacy = privateKey.export({ format: 'pem', type: 'sec1', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string;
  assert.match(legacy, /Proc-Type: 4,ENCRYPTED/);
  assert.throws(() => parsePrivateKey(legacy), (e: MaterialError) => e.encrypted);
  assert.throws(() => loadPrivateKey(encrypted, 'est: `caPrivateKey`'), { message: 'est: `caPrivateKey` is encrypted (a key without a passphrase is required)' });
  assert.throws(() => parsePrivateKey(Uint8Array.of(1, 2, 3)), (e: MaterialError) => e instanceof MaterialError && !e.encrypted);
});
