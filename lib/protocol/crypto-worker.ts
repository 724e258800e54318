// The code of a crypto thread (crypto-pool.ts): it imports CSR public keys, verifies their
// signatures, and signs with the CA keys it was given, synchronously, off the event loop.
//
// It is kept as source text and started with `eval: true`, so that it runs the same from the
// TypeScript sources (under tsx, whose loader a worker file would not get), from the compiled
// package and from a bundle. It needs nothing but node:crypto and node:worker_threads. Messages
// are CryptoBatch in, CryptoResult[] out (crypto-pool.ts); the key-import messages are those of
// public-key.ts importKeyInput.
import { KEY_IMPORT_ERRORS } from './public-key.js';

export const CRYPTO_THREAD_SOURCE = `
'use strict';
const { createPublicKey, sign, verify, webcrypto } = require('node:crypto');
const { parentPort } = require('node:worker_threads');
const keys = new Map();
const ERRORS = ${JSON.stringify(KEY_IMPORT_ERRORS)};

async function importKey(input) {
  try {
    switch (input.format) {
      case 'ec-point':
        // WebCrypto's raw import (RFC 5480 §2.2 form 04‖X‖Y, checked on the curve): ~20 µs less per
        // P-256 key than createPublicKey from a JWK. verify() takes the CryptoKey as it is.
        return await webcrypto.subtle.importKey('raw', input.key, { name: 'ECDSA', namedCurve: input.curve }, false, ['verify']);
      case 'jwk':
        return createPublicKey({ key: input.key, format: 'jwk' });
      default:
        return createPublicKey({ key: Buffer.from(input.key), format: 'der', type: 'spki' });
    }
  } catch {
    throw { keyError: input.format === 'der' ? ERRORS.pss : input.format === 'ec-point' ? ERRORS.ec : ERRORS.other };
  }
}

async function run(job) {
  const p = job.params;
  if (job.op === 'verify') {
    let key;
    try {
      key = await importKey(job.key);
    } catch (e) {
      return { ok: false, keyError: e.keyError };
    }
    try {
      const input = { key };
      if (p.padding !== undefined) Object.assign(input, { padding: p.padding, saltLength: p.saltLength });
      if (p.dsaEncoding) input.dsaEncoding = p.dsaEncoding;
      return { ok: verify(p.hash, job.data, input, job.signature) };
    } catch {
      return { ok: false };
    }
  }
  const key = keys.get(job.keyId);
  if (!key) return { error: 'signing key ' + job.keyId + ' was never sent to this thread' };
  try {
    const input = { key };
    if (p.dsaEncoding) input.dsaEncoding = p.dsaEncoding;
    return { signature: new Uint8Array(sign(p.hash, job.data, input)) };
  } catch (e) {
    return { error: String(e && e.message) };
  }
}

// One batch after the other, whatever the imports await: the pool pairs answers with batches in order.
let previous = Promise.resolve();
parentPort.on('message', (batch) => {
  previous = previous.then(async () => {
    for (const [id, key] of batch.keys) keys.set(id, key);
    const results = [];
    for (const job of batch.jobs) results.push(await run(job));
    parentPort.postMessage(results);
  }).catch((e) => {
    // As before the imports awaited: an error here ends the thread (crypto-pool.ts handles that).
    process.nextTick(() => { throw e; });
  });
});
`;
