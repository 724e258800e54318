// importSpki: the JWK fast path loads the same key, with the same details, as OpenSSL's DER decoder.
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { test } from 'node:test';
import { children, readBitStringBytes, readOid, readWhole, Tag } from '../../lib/protocol/der.js';
import { keyTypeOf } from '../../lib/protocol/pkcs10.js';
import { importSpki } from '../../lib/protocol/public-key.js';

function load(spki: Uint8Array) {
  const [alg, bits] = children(readWhole(spki, Tag.sequence));
  return importSpki(spki, alg!, readBitStringBytes(bits!), readOid(children(alg!)[0]!));
}

function viaDecoder(spki: Uint8Array): KeyObject | undefined {
  try {
    return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

const keys: Array<[string, KeyObject]> = [
  ['RSA-2048', generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey],
  ['RSA-2047, e=3', generateKeyPairSync('rsa', { modulusLength: 2047, publicExponent: 3 }).publicKey],
  ['P-256', generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey],
  ['P-384', generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey],
  ['P-521', generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey],
  ['Ed25519', generateKeyPairSync('ed25519').publicKey],
  ['Ed448', generateKeyPairSync('ed448').publicKey],
];

for (const [name, key] of keys) {
  test(`${name}: fast path, same key and details as the DER decoder`, () => {
    const spki = key.export({ type: 'spki', format: 'der' });
    const got = load(spki);
    assert.ok(got?.type, 'fast path taken');
    assert.ok(got.key.export({ type: 'spki', format: 'der' }).equals(spki));
    assert.deepEqual(got.type, keyTypeOf(viaDecoder(spki)!));
    assert.equal(got.key.asymmetricKeyType, key.asymmetricKeyType);
  });
}

test('RSA-PSS and compressed EC points go through the DER decoder', () => {
  const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' });
  const a = load(pss);
  assert.ok(a && a.type === undefined && a.key.asymmetricKeyType === 'rsa-pss');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const jwk = ec.export({ format: 'jwk' });
  const y = Buffer.from(jwk.y!, 'base64url');
  // SPKI with the point in compressed form (02/03 || X), as some devices send.
  const prefix = Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex');
  const compressed = Buffer.concat([prefix, Buffer.of(2 + (y[31]! & 1)), Buffer.from(jwk.x!, 'base64url')]);
  const b = load(compressed);
  assert.ok(b && b.type === undefined);
  assert.deepEqual(b.key.export({ format: 'jwk' }), jwk);
});

test('a point off the curve, or a malformed RSA key, loads neither way', () => {
  const spki = Buffer.from(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }));
  spki[spki.length - 1]! ^= 1;
  assert.equal(load(spki), undefined);
  assert.equal(viaDecoder(spki), undefined);
  // RSAPublicKey with a negative modulus (no leading zero octet): refused by the fast path, left to OpenSSL.
  const bad = Buffer.from('301f300d06092a864886f70d010101050003' + '0e00300b0204ffffffff0203010001', 'hex');
  const got = load(bad);
  const ref = viaDecoder(bad);
  assert.equal(got === undefined, ref === undefined);
  if (got) assert.equal(got.type, undefined);
});
