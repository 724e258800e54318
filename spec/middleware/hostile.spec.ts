// Hostile input: malformed bodies and headers get a clear 4xx, the server stays up, nothing is issued.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { TestPki, openssl } from '../helpers/pki.js';
import { basic, b64lines, fetchRaw } from '../helpers/http.js';
import { prng } from '../helpers/prng.js';
import { startEstServer, type Running } from '../helpers/servers.js';
import { est } from '../../lib/index.js';
import { sign } from 'node:crypto';
import { bitString, craftCsr, CN, integer, name, oid, p256, rdn, seq, set, tlv } from '../helpers/craft.js';

const pki = new TestPki();
const ca = pki.ca('p256');
const serverCert = pki.serverCert(ca);
const client = pki.clientCert(ca);
let srv: Running;
const issued: string[] = [];
const requestIds: string[] = [];
const logger = {
  info: (o: object) => {
    // The request's log line; an issuance carries the serial.
    if ((o as { serial?: string }).serial === undefined) return;
    issued.push((o as { serial: string }).serial);
    requestIds.push((o as { requestId: string }).requestId);
  },
  warn() {},
  error() {},
};

before(async () => {
  srv = await startEstServer(pki, { ca: ca.cert, serverCert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, logger });
});
after(async () => {
  await srv.close();
  pki.cleanup();
});

const post = (op: string, body: string | Buffer, headers: Record<string, string> = { 'Content-Type': 'application/pkcs10' }) =>
  fetchRaw(`${srv.url}/${op}`, { method: 'POST', headers, body, ...client });

describe('malformed request bodies', () => {
  const csr = pki.csr({ keySpec: 'p256' });
  const cases: Array<[string, string | Buffer]> = [
    ['empty body', ''],
    ['whitespace only', '  \r\n\t '],
    ['not base64', '!!!! not base64 ****'],
    ['base64url alphabet', csr.der.toString('base64url').replace(/^(.{10})/, '$1-_')],
    ['random base64 garbage', randomBytes(300).toString('base64')],
    ['truncated DER', b64lines(csr.der.subarray(0, csr.der.length - 20))],
    ['trailing data after the CSR', b64lines(Buffer.concat([csr.der, Buffer.from([0x05, 0x00])]))],
    ['a certificate instead of a CSR', readFileSync(ca.cert, 'latin1')],
    ['two PEM blocks', csr.pem + csr.pem],
    ['indefinite length', b64lines(Buffer.from([0x30, 0x80, 0x02, 0x01, 0x00, 0x00, 0x00]))],
    ['huge declared length', b64lines(Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x00]))],
    ['deep nesting', b64lines(Buffer.from(Array.from({ length: 200 }, () => [0x30, 0x80]).flat()))],
    ['bad signature', b64lines(Buffer.from(csr.der.map((b, i) => (i === csr.der.length - 3 ? b ^ 0xff : b))))],
  ];
  for (const [name, body] of cases) {
    it(`${name} → 400 with a one-line text/plain reason`, async () => {
      const n = issued.length;
      const r = await post('simpleenroll', body);
      assert.equal(r.status, 400, `${name}: ${r.status} ${r.text}`);
      assert.match(r.headers['content-type'] as string, /^text\/plain/);
      assert.equal(r.text.trim().split('\n').length, 1);
      assert.ok(r.text.length < 300);
      assert.equal(issued.length, n);
    });
  }
  it('an RSA-1024 key or a secp256k1 key is refused by policy with a reason', async () => {
    for (const [args, reason] of [[['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'], /RSA key size 1024/], [['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp256k1'], /curve secp256k1/]] as const) {
      const key = pki.path(`weak-${Math.random()}.pem`);
      openssl(['genpkey', ...args, '-out', key]);
      const r = await post('simpleenroll', b64lines(pki.csr({ key }).der));
      assert.equal(r.status, 400);
      assert.match(r.text, reason);
    }
  });
});

describe('degenerate public keys (one such request used to abort the process)', () => {
  // A CSR built by hand around a SubjectPublicKeyInfo; the signature is junk (the key has no private half).
  const tlv = (tag: number, ...body: Buffer[]) => {
    const b = Buffer.concat(body);
    const len = b.length < 0x80 ? Buffer.of(b.length) : b.length < 0x100 ? Buffer.of(0x81, b.length) : Buffer.of(0x82, b.length >> 8, b.length & 255);
    return Buffer.concat([Buffer.of(tag), len, b]);
  };
  const csrAround = (spki: Buffer) => {
    const cn = tlv(0x30, tlv(0x31, tlv(0x30, Buffer.from('0603550403', 'hex'), tlv(0x0c, Buffer.from('degenerate')))));
    const info = tlv(0x30, Buffer.from('020100', 'hex'), cn, spki, Buffer.from('a000', 'hex'));
    return tlv(0x30, info, Buffer.from('300a06082a8648ce3d040302', 'hex'), tlv(0x03, Buffer.of(0), randomBytes(70)));
  };
  const spkis: Array<[string, Buffer]> = [
    ['EC point at infinity', Buffer.from('3019301306072a8648ce3d020106082a8648ce3d03010703020000', 'hex')],
    ['EC empty point', Buffer.from('3018301306072a8648ce3d020106082a8648ce3d030107030100', 'hex')],
    ['EC compressed x off the curve', Buffer.concat([Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'), Buffer.of(2), Buffer.alloc(32, 1)])],
  ];
  for (const [name, spki] of spkis) {
    for (const op of ['simpleenroll', 'simplereenroll', 'serverkeygen']) {
      it(`${name} to /${op} → 400, and the server keeps answering`, async () => {
        const n = issued.length;
        const r = await post(op, b64lines(csrAround(spki)));
        if (op === 'serverkeygen') {
          // RFC 7030 §4.4.1: the CSR's key may be a placeholder; the server makes a P-256 key of its own.
          assert.equal(r.status, 200, r.text);
          assert.equal(issued.length, n + 1);
        } else {
          assert.equal(r.status, 400, `${op}: ${r.status} ${r.text}`);
          assert.match(r.text, /EC key/);
          assert.equal(issued.length, n);
        }
        const alive = await fetchRaw(`${srv.url}/cacerts`, { method: 'GET' });
        assert.equal(alive.status, 200);
      });
    }
  }
});

describe('malformed fields inside a well-formed CSR (each used to answer 500)', () => {
  const key = p256();
  const point = key.spki.subarray(key.spki.length - 65);
  /** certificationRequestInfo around `spki`, signed; `sigAlg` replaces the signature algorithm. */
  const around = (spki: Uint8Array, sigAlg = seq(oid('1.2.840.10045.4.3.2'))) => {
    const info = seq(integer(0), name(rdn(CN, tlv(0x0c, Buffer.from('device')))), spki, tlv(0xa0));
    return Buffer.from(seq(info, sigAlg, bitString(sign('sha256', info, key.privateKey))));
  };
  const beyondUnicode = tlv(0x1c, Uint8Array.of(0x7f, 0xff, 0xff, 0xff));
  const attribute = (type: string, value: Uint8Array) => seq(oid(type), set(value));
  const cases: Array<[string, Buffer, RegExp]> = [
    ['an empty key AlgorithmIdentifier', around(seq(seq(), bitString(point))), /malformed PKCS#10 request/],
    ['an empty signature AlgorithmIdentifier', around(key.spki, seq()), /malformed PKCS#10 request/],
    ['a challengePassword beyond Unicode', craftCsr({ subject: name(rdn(CN, tlv(0x0c, Buffer.from('device')))), key, attributes: [attribute('1.2.840.113549.1.9.7', beyondUnicode)] }), /malformed PKCS#10 request: UniversalString/],
    ['an otpChallenge beyond Unicode', craftCsr({ subject: name(rdn(CN, tlv(0x0c, Buffer.from('device')))), key, attributes: [attribute('1.2.840.113549.1.9.16.2.56', beyondUnicode)] }), /UniversalString/],
    ['an estIdentityLinking beyond Unicode', craftCsr({ subject: name(rdn(CN, tlv(0x0c, Buffer.from('device')))), key, attributes: [attribute('1.2.840.113549.1.9.16.2.58', beyondUnicode)] }), /UniversalString/],
    // OpenSSL cannot read a name holding a lone surrogate ("illegal characters"): never issued.
    ['a CN BMPString holding a lone surrogate', craftCsr({ subject: name(rdn(CN, tlv(0x1e, Uint8Array.of(0xd8, 0x00)))), key }), /surrogate/],
    ['a CN UniversalString holding a surrogate', craftCsr({ subject: name(rdn(CN, tlv(0x1c, Uint8Array.of(0, 0, 0xdc, 0x00)))), key }), /surrogate/],
  ];
  for (const [what, der, reason] of cases) {
    for (const op of ['simpleenroll', 'serverkeygen']) {
      it(`${what} to /${op} → 400 with its reason, nothing issued`, async () => {
        const n = issued.length;
        const r = await post(op, b64lines(der));
        assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
        assert.match(r.text, reason);
        assert.equal(r.text.trim().split('\n').length, 1);
        assert.equal(issued.length, n);
      });
    }
  }
});

describe('hostile headers', () => {
  it('absurd Content-Length, duplicate and odd content types do not crash the server', async () => {
    const r1 = await post('simpleenroll', 'x', { 'Content-Type': 'application/pkcs10; boundary="x;y"; =; ;;' });
    assert.equal(r1.status, 400);
    const r2 = await post('simpleenroll', 'x', { 'Content-Type': 'application/pkcs10', 'Content-Transfer-Encoding': '\u00ff weird' });
    assert.equal(r2.status, 400);
    const r3 = await fetchRaw(`${srv.url}/${'a'.repeat(5000)}`);
    assert.equal(r3.status, 404);
    assert.ok(r3.text.length < 200);
  });
  it('a client that disconnects mid-body leaves the server healthy', async () => {
    const port = new URL(srv.url).port;
    await new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: Number(port), rejectUnauthorized: false }, () => {
        s.write('POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\nContent-Length: 5000\r\n\r\nMIIB');
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 50);
      });
      s.on('error', () => resolve());
    });
    assert.equal((await fetchRaw(`${srv.url}/cacerts`)).status, 200);
  });
});

describe('a body still arriving when the answer is given early (401, 413)', () => {
  /**
   * Opens a connection, sends `head` and then 1 KB more of body every 20 ms, for as long as the
   * server lets it; returns the answer and how long after it the server cut the connection.
   */
  const upload = (head: string, withCert: boolean) =>
    new Promise<{ answer: string; cutAfterMs: number }>((resolve, reject) => {
      let more: NodeJS.Timeout | undefined;
      const s = connect({ host: '127.0.0.1', port: srv.port, rejectUnauthorized: false, ...(withCert ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}) }, () => {
        s.write(head);
        more = setInterval(() => s.writable && s.write(head.includes('chunked') ? `400\r\n${'A'.repeat(1024)}\r\n` : 'A'.repeat(1024)), 20);
      });
      let answer = '';
      let answeredAt = 0;
      const limit = setTimeout(() => s.destroy(new Error('still open 10 s after the answer')), 10_000);
      s.on('data', (c: Buffer) => {
        answer += c.toString('latin1');
        answeredAt ||= performance.now();
      });
      s.on('error', () => {});
      s.on('close', () => {
        clearInterval(more);
        clearTimeout(limit);
        if (!answeredAt) return reject(new Error('closed without an answer'));
        resolve({ answer, cutAfterMs: performance.now() - answeredAt });
      });
    });
  it('an endless chunked upload after a 401: read and dropped for 2 s, then cut (not at node\'s 300 s requestTimeout)', async () => {
    const r = await upload('POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n' + 'A'.repeat(1024) + '\r\n', false);
    assert.match(r.answer, /^HTTP\/1\.1 401 /);
    assert.ok(r.cutAfterMs > 1_500 && r.cutAfterMs < 5_000, `cut ${r.cutAfterMs} ms after the answer`);
  });
  it('a declared body past the limit: 413, the upload read and dropped for 2 s, then cut', async () => {
    const r = await upload('POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\nContent-Length: 100000000\r\n\r\n', true);
    assert.match(r.answer, /^HTTP\/1\.1 413 /);
    assert.ok(r.cutAfterMs > 1_500 && r.cutAfterMs < 5_000, `cut ${r.cutAfterMs} ms after the answer`);
  });
  it('a small body in flight behind a 401: the whole answer arrives, and the connection serves the next request', async () => {
    const body = b64lines(pki.csr().der);
    const answer = await new Promise<string>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: srv.port, rejectUnauthorized: false }, () => {
        s.write(`POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\nContent-Length: ${body.length}\r\n\r\n`);
        // The body follows a moment after the 401; then, on the same connection, /cacerts.
        setTimeout(() => s.write(body), 100);
        setTimeout(() => s.write('GET /.well-known/est/cacerts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 3_000);
      });
      let out = '';
      s.on('data', (c: Buffer) => (out += c.toString('latin1')));
      s.on('error', reject);
      s.on('close', () => resolve(out));
    });
    assert.match(answer, /^HTTP\/1\.1 401 [^]*HTTP\/1\.1 200 [^]*application\/pkcs7-mime/);
  });
});

describe('property: mutated CSR bytes', () => {
  it('every mutation of a valid CSR gets a 4xx (or a valid 200), never a crash or a 5xx', async () => {
    const base = pki.csr({ keySpec: 'p256', exts: ['subjectAltName=DNS:fuzz.example'] }).der;
    const seed = Number(process.env.EST_FUZZ_SEED ?? 20261123);
    const rnd = prng(seed);
    const N = Number(process.env.EST_FUZZ_N ?? 300);
    let accepted = 0;
    for (let i = 0; i < N; i++) {
      const m = Buffer.from(base);
      const kind = Math.floor(rnd() * 4);
      const pos = Math.floor(rnd() * m.length);
      let body: Buffer = m;
      if (kind === 0) m[pos] = Math.floor(rnd() * 256);
      else if (kind === 1) m[pos]! ^= 1 << Math.floor(rnd() * 8);
      else if (kind === 2) body = Buffer.concat([m.subarray(0, pos), m.subarray(pos + 1 + Math.floor(rnd() * 8))]);
      else body = Buffer.concat([m.subarray(0, pos), randomBytes(1 + Math.floor(rnd() * 4)), m.subarray(pos)]);
      const r = await post('simpleenroll', b64lines(body));
      assert.ok(r.status === 400 || r.status === 200, `seed ${seed} case ${i}: status ${r.status} ${r.text}`);
      if (r.status === 200) accepted++;
    }
    // Only mutations that keep a valid signed CSR may pass (e.g. none, realistically).
    assert.ok(accepted < N / 10, `too many mutated CSRs accepted: ${accepted}`);
    assert.equal((await fetchRaw(`${srv.url}/cacerts`)).status, 200);
  });
});

describe('unauthenticated and spoofed', () => {
  it('no credentials and no authRequest: 401 with a WWW-Authenticate challenge and nothing issued', async () => {
    const n = issued.length;
    const r = await fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10', Authorization: basic('a', 'b') }, body: b64lines(pki.csr().der) });
    assert.equal(r.status, 401);
    assert.ok(r.headers['www-authenticate']);
    assert.equal(r.body.length, 0);
    assert.equal(issued.length, n);
  });
  it('a self-signed client certificate is not authenticated', async () => {
    const other = pki.ca('p256', '/CN=Evil CA');
    const evil = pki.clientCert(other);
    const r = await fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10' }, body: b64lines(pki.csr().der), ...evil });
    assert.equal(r.status, 401);
  });
  it('a forged leaf chained to a genuine client certificate (no keyUsage, so TLS links it as the issuer) is not authenticated', async () => {
    // The genuine certificate is public; the forged "CN=admin" leaf names it as issuer but is
    // signed by a look-alike CA of the same name. Node hands over [forged, genuine], and the
    // genuine one chains to the CA on its own: that must not complete the forged leaf's path.
    const genuine = pki.clientCert(ca, { subject: '/CN=bystander/O=Demo Devices' });
    const lookalike = pki.ca('p256', '/CN=bystander/O=Demo Devices');
    const forged = pki.clientCert(lookalike, { subject: '/CN=admin/O=Demo Devices' });
    const chain = pki.write('forged-chain.pem', readFileSync(forged.cert, 'latin1') + readFileSync(genuine.cert, 'latin1'));
    const n = issued.length;
    const r = await fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10' }, body: b64lines(pki.csr({ subject: '/CN=admin/O=Demo Devices' }).der), cert: chain, key: forged.key });
    assert.equal(r.status, 401, r.text);
    assert.equal(issued.length, n);
  });
});

describe('challenge attributes (RFC 7894 §4)', () => {
  it('an otpChallenge nobody can verify is refused, not ignored', async () => {
    const csr = pki.csr({ attrs: { '1.2.840.113549.1.9.16.2.56': '123456' } });
    const r = await post('simpleenroll', b64lines(csr.der));
    assert.equal(r.status, 400);
    assert.match(r.text, /otpChallenge/);
  });
});

describe('bad files at start-up', () => {
  it('a garbage key file, a non-CA certificate, a mismatched key: EstConfigError, not a crash later', () => {
    const garbage = pki.write('garbage.pem', '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n');
    assert.throws(() => est({ caRootCertificate: ca.cert, caPrivateKey: garbage, caSerialNumber: ca.serial }), { code: 'ERR_EST_CONFIG' });
    assert.throws(() => est({ caRootCertificate: client.cert, caPrivateKey: client.key, caSerialNumber: ca.serial }), { code: 'ERR_EST_CONFIG' });
    const other = pki.ca('p256');
    assert.throws(() => est({ caRootCertificate: ca.cert, caPrivateKey: other.key, caSerialNumber: ca.serial }), { code: 'ERR_EST_CONFIG' });
  });
});

describe('request id', () => {
  it('a sane X-Request-Id is kept; a hostile or missing one is replaced by a generated id', async () => {
    const sent = ['req-42.a:b', 'x'.repeat(65), 'two words', 'evil\u00e9', undefined];
    for (const id of sent) {
      const headers: Record<string, string> = { 'Content-Type': 'application/pkcs10' };
      if (id !== undefined) headers['X-Request-Id'] = id;
      const r = await post('simpleenroll', b64lines(pki.csr().der), headers);
      assert.equal(r.status, 200, r.text);
    }
    const got = requestIds.slice(-sent.length);
    assert.equal(got[0], 'req-42.a:b');
    for (const g of got.slice(1)) assert.match(g, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(new Set(got).size, got.length);
  });
});
