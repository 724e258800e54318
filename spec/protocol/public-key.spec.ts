// importSpki: every key is validated before Node sees it; valid keys load the same as OpenSSL's DER decoder.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { test } from 'node:test';
import { children, readBitStringBytes, readOid, readWhole, Tag } from '../../lib/protocol/der.js';
import { keyTypeOf } from '../../lib/protocol/pkcs10.js';
import { importSpki, PublicKeyError } from '../../lib/protocol/public-key.js';

function load(spki: Uint8Array) {
  const [alg, bits] = children(readWhole(spki, Tag.sequence));
  return importSpki(spki, alg!, readBitStringBytes(bits!), readOid(children(alg!)[0]!));
}

function refusal(spki: Uint8Array): string {
  try {
    load(spki);
  } catch (e) {
    assert.ok(e instanceof PublicKeyError, `PublicKeyError expected, got ${(e as Error).name}: ${(e as Error).message}`);
    return e.message;
  }
  assert.fail('key was accepted');
}

const keys: Array<[string, KeyObject]> = [
  ['RSA-2048', generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey],
  ['RSA-2047, e=3', generateKeyPairSync('rsa', { modulusLength: 2047, publicExponent: 3 }).publicKey],
  ['RSA-PSS 2048', generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey],
  ['P-256', generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey],
  ['P-384', generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey],
  ['P-521', generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey],
  ['Ed25519', generateKeyPairSync('ed25519').publicKey],
  ['Ed448', generateKeyPairSync('ed448').publicKey],
];

for (const [name, key] of keys) {
  test(`${name}: same key and details as the DER decoder`, () => {
    const spki = key.export({ type: 'spki', format: 'der' });
    const got = load(spki);
    assert.ok(got.key.export({ type: 'spki', format: 'der' }).equals(spki));
    assert.deepEqual(got.type, keyTypeOf(createPublicKey({ key: spki, format: 'der', type: 'spki' })));
    assert.equal(got.key.asymmetricKeyType, key.asymmetricKeyType);
  });
}

const EC_P256_PREFIX = (len: number) => Buffer.from(`30${(24 + len).toString(16)}301306072a8648ce3d020106082a8648ce3d030107${'03' + (len + 1).toString(16).padStart(2, '0')}00`, 'hex');

test('compressed EC points are expanded and checked on the curve', () => {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  const y = Buffer.from(jwk.y!, 'base64url');
  const compressed = Buffer.concat([EC_P256_PREFIX(33), Buffer.of(2 + (y[31]! & 1)), Buffer.from(jwk.x!, 'base64url')]);
  const b = load(compressed);
  assert.deepEqual(b.type, { kind: 'ec', curve: 'prime256v1' });
  assert.deepEqual(b.key.export({ format: 'jwk' }), jwk);
  // An x with no point on the curve for either y.
  let bad = 0;
  for (let i = 0; i < 64 && bad === 0; i++) {
    const x = Buffer.alloc(32, i);
    try {
      load(Buffer.concat([EC_P256_PREFIX(33), Buffer.of(2), x]));
    } catch (e) {
      assert.ok(e instanceof PublicKeyError);
      bad++;
    }
  }
  assert.ok(bad > 0, 'some x has no point on P-256');
});

// Each of these either aborted Node (point at infinity) or loaded a key that must not be certified.
const hostile: Array<[string, Buffer, RegExp]> = [
  ['point at infinity (BIT STRING 00 00)', Buffer.from('3019301306072a8648ce3d020106082a8648ce3d03010703020000', 'hex'), /point must be/],
  ['empty point', Buffer.from('3018301306072a8648ce3d020106082a8648ce3d030107030100', 'hex'), /point must be/],
  ['hybrid point form 06', Buffer.concat([EC_P256_PREFIX(65), Buffer.of(6), Buffer.alloc(64, 1)]), /point must be/],
  ['point of the wrong length', Buffer.concat([EC_P256_PREFIX(64), Buffer.of(4), Buffer.alloc(63, 1)]), /point must be/],
  // ecParameters SEQUENCE { version 1, ... } in place of the namedCurve OID (RFC 5480 §2.1.1 forbids it).
  ['explicit curve parameters', Buffer.concat([Buffer.from('305c3016' + '06072a8648ce3d0201' + '300b020101' + '0603550403' + '0101ff' + '034200', 'hex'), Buffer.of(4), Buffer.alloc(64, 1)]), /name a curve/],
  ['negative RSA modulus', Buffer.from('301f300d06092a864886f70d010101050003' + '0e00300b0204ffffffff0203010001', 'hex'), /minimal positive/],
];
for (const [name, spki, why] of hostile) {
  test(`refused before Node sees it: ${name}`, () => assert.match(refusal(spki), why));
}

function rsaSpki(nBytes: Buffer, e: Buffer): Buffer {
  const int = (b: Buffer) => (b[0]! & 0x80 ? Buffer.concat([Buffer.of(0), b]) : b);
  const tlv = (tag: number, body: Buffer) => {
    const len = body.length < 0x80 ? Buffer.of(body.length) : body.length < 0x100 ? Buffer.of(0x81, body.length) : Buffer.of(0x82, body.length >> 8, body.length & 255);
    return Buffer.concat([Buffer.of(tag), len, body]);
  };
  const rsaKey = tlv(0x30, Buffer.concat([tlv(2, int(nBytes)), tlv(2, int(e))]));
  return tlv(0x30, Buffer.concat([Buffer.from('300d06092a864886f70d0101010500', 'hex'), tlv(3, Buffer.concat([Buffer.of(0), rsaKey]))]));
}

test('RSA: exponent 1, even exponent, even modulus and tiny moduli are refused', () => {
  const n = Buffer.from(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }).n!, 'base64url');
  assert.match(refusal(rsaSpki(n, Buffer.of(1))), /exponent/);
  assert.match(refusal(rsaSpki(n, Buffer.of(2))), /exponent/);
  assert.match(refusal(rsaSpki(n, Buffer.alloc(9, 0x7f))), /exponent/);
  const even = Buffer.from(n);
  even[even.length - 1]! &= 0xfe;
  assert.match(refusal(rsaSpki(even, Buffer.of(1, 0, 1))), /modulus/);
  assert.match(refusal(rsaSpki(Buffer.alloc(32, 0x7f), Buffer.of(1, 0, 1))), /modulus/);
  assert.equal(load(rsaSpki(n, Buffer.of(1, 0, 1))).type.kind, 'rsa');
});

test('a point off the curve is refused', () => {
  const spki = Buffer.from(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }));
  spki[spki.length - 1]! ^= 1;
  assert.match(refusal(spki), /not on the curve/);
});

test('reading the details of the point at infinity aborts Node: the reason for validating first', () => {
  // Documented here so a Node upgrade that fixes it is noticed; runs in a child so this process survives.
  const r = spawnSync(process.execPath, ['-e', "require('crypto').createPublicKey({key: Buffer.from('3019301306072a8648ce3d020106082a8648ce3d03010703020000','hex'), format: 'der', type: 'spki'}).asymmetricKeyDetails"], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
});
