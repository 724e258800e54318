// Hostile input, structure-aware: each POST operation gets valid requests whose DER has been
// mutated where it matters (a length, a tag, a cut at a boundary, a node repeated, deep nesting).
// Every answer is a 4xx with a reason, or a 200 for a mutation that left a valid request; never a
// 5xx, never a dropped connection, and the server keeps answering.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { est, type EstMiddleware } from '../../lib/index.js';
import { TestPki } from '../helpers/pki.js';
import { basic, b64lines, fetchRaw } from '../helpers/http.js';
import { prng } from '../helpers/prng.js';
import { startAuthBackend, startEstServer, type Running } from '../helpers/servers.js';
import { bcMissing, compileBc } from '../helpers/bc.js';

const bcSkip = bcMissing();
const pki = new TestPki();
const ca = pki.ca('p256');
const serverCert = pki.serverCert(ca);
const client = pki.clientCert(ca);
const AUTH = basic('estuser', 'estpass');
let auth: Awaited<ReturnType<typeof startAuthBackend>>;
let srv: Running;
const plain: Server[] = [];
const middlewares: EstMiddleware[] = [];

before(async () => {
  auth = await startAuthBackend();
  srv = await startEstServer(pki, { ca: ca.cert, serverCert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, authRequest: auth.url });
});
after(async () => {
  for (const s of plain) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
  for (const m of middlewares) await m.close();
  await srv?.close();
  await auth?.close();
  pki.cleanup();
});

/**
 * Where each TLV of `der` starts, its header length and its content length, constructed ones
 * walked into. Bouncy Castle writes CMS with indefinite lengths (BER): such a node's content runs
 * to its end-of-contents octets.
 */
function nodes(der: Uint8Array): Array<{ at: number; header: number; length: number }> {
  const out: Array<{ at: number; header: number; length: number }> = [];
  /** Walks from `from` to `to` (or to an end-of-contents when `to` is open); returns where it stopped. */
  const walk = (from: number, to: number, depth: number, open: boolean): number => {
    let p = from;
    while (p + 2 <= to && depth < 64) {
      const tag = der[p]!;
      if (open && tag === 0 && der[p + 1] === 0) return p + 2;
      let len = der[p + 1]!;
      let header = 2;
      if (len === 0x80) {
        if (!(tag & 0x20)) return to;
        const node = { at: p, header, length: 0 };
        out.push(node);
        const end = walk(p + 2, to, depth + 1, true);
        node.length = end - p - 2;
        p = end;
        continue;
      }
      if (len & 0x80) {
        const n = len & 0x7f;
        if (n > 4 || p + 2 + n > to) return to;
        len = 0;
        for (let i = 0; i < n; i++) len = len * 256 + der[p + 2 + i]!;
        header += n;
      }
      if (p + header + len > to) return to;
      out.push({ at: p, header, length: len });
      // OCTET STRING and BIT STRING often hold DER too (extensions, keys, the signed content).
      if (tag & 0x20 || tag === 0x04) walk(p + header, p + header + len, depth + 1, false);
      else if (tag === 0x03 && len > 1) walk(p + header + 1, p + header + len, depth + 1, false);
      p += header + len;
    }
    return to;
  };
  walk(0, der.length, 0, false);
  return out;
}

/** One mutation of `der`, picked by `rnd`. */
function mutate(der: Buffer, rnd: () => number): Buffer {
  const all = nodes(der);
  const node = all[Math.floor(rnd() * all.length)]!;
  const kind = Math.floor(rnd() * 9);
  const m = Buffer.from(der);
  const lengthAt = node.at + 1;
  switch (kind) {
    case 0: // a length off by a little
      m[node.header === 2 ? lengthAt : node.at + node.header - 1] = (m[node.header === 2 ? lengthAt : node.at + node.header - 1]! + (rnd() < 0.5 ? 1 : 255)) & 0xff;
      return m;
    case 1: // a length that claims gigabytes
      return Buffer.concat([m.subarray(0, lengthAt), Buffer.from([0x84, 0x7f, 0xff, 0xff, 0xff]), m.subarray(node.at + node.header)]);
    case 2: // indefinite length (BER, not DER)
      return Buffer.concat([m.subarray(0, lengthAt), Buffer.from([0x80]), m.subarray(node.at + node.header)]);
    case 3: // another tag
      m[node.at] = Math.floor(rnd() * 256);
      return m;
    case 4: // cut at the node's start or inside it
      return m.subarray(0, node.at + Math.floor(rnd() * (node.header + node.length)));
    case 5: // the node twice (lengths above it not fixed)
      return Buffer.concat([m.subarray(0, node.at + node.header + node.length), m.subarray(node.at, node.at + node.header + node.length), m.subarray(node.at + node.header + node.length)]);
    case 6: // the node removed
      return Buffer.concat([m.subarray(0, node.at), m.subarray(node.at + node.header + node.length)]);
    case 7: // content zeroed
      m.fill(0, node.at + node.header, node.at + node.header + node.length);
      return m;
    default: // a long-form length where short form is required (not DER)
      return node.header === 2 && node.length < 0x80 ? Buffer.concat([m.subarray(0, lengthAt), Buffer.from([0x81, node.length]), m.subarray(node.at + 2)]) : Buffer.concat([m, Buffer.from([0])]);
  }
}

/** A SEQUENCE nested `depth` times around `inner`. */
function nested(depth: number, inner: Buffer): Buffer {
  let b = inner;
  for (let i = 0; i < depth; i++) {
    const len = b.length;
    const head = len < 0x80 ? Buffer.from([0x30, len]) : len < 0x100 ? Buffer.from([0x30, 0x81, len]) : len < 0x10000 ? Buffer.from([0x30, 0x82, len >> 8, len & 0xff]) : Buffer.from([0x30, 0x83, len >> 16, (len >> 8) & 0xff, len & 0xff]);
    b = Buffer.concat([head, b]);
  }
  return b;
}

const N = Number(process.env.EST_FUZZ_N ?? 120);
const SEED = Number(process.env.EST_FUZZ_SEED ?? 20261207);

/**
 * Sends `base`, then the nested bombs and N mutations of it. `strict`: a 200 only for a body equal
 * to `base` (every byte of a CSR but its signature is signed, and the signature is checked).
 */
async function fuzz(op: string, base: Buffer, headers: Record<string, string>, strict: boolean, tls: { cert?: string; key?: string } = {}): Promise<{ accepted: number; statuses: Map<number, number> }> {
  const rnd = prng(SEED + op.length);
  const statuses = new Map<number, number>();
  const send = (body: Buffer) => fetchRaw(`${srv.url}/${op}`, { method: 'POST', headers, body: b64lines(body), ...tls });
  const ok = await send(base);
  assert.equal(ok.status, 200, `the unmutated ${op} request: ${ok.status} ${ok.text}`);
  let accepted = 0;
  const bodies: Buffer[] = [nested(20_000, Buffer.alloc(0)), nested(2_000, base), Buffer.concat([base, base])];
  for (let i = 0; i < N; i++) bodies.push(mutate(base, rnd));
  for (const [i, body] of bodies.entries()) {
    const r = await send(body);
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    assert.ok(r.status < 500, `${op}, seed ${SEED}, case ${i} (${body.toString('base64').slice(0, 60)}…): ${r.status} ${r.text.slice(0, 300)}`);
    if (r.status === 200) {
      accepted++;
      if (strict) assert.ok(body.equals(base), `${op} case ${i}: a changed request was accepted: ${body.toString('hex')}`);
    } else if (!/^application\/pkcs7-mime; smime-type=CMC-response/.test(String(r.headers['content-type'] ?? ''))) assert.equal(r.text.trim().split('\n').length, 1, `${op} case ${i}: a one-line reason: ${r.text.slice(0, 300)}`);
  }
  assert.equal((await fetchRaw(`${srv.url}/cacerts`)).status, 200);
  return { accepted, statuses };
}

describe('property: structure-aware mutations of every POST operation', () => {
  const pkcs10 = { 'Content-Type': 'application/pkcs10', Authorization: AUTH };

  it('/simpleenroll: a mutated CSR is a 4xx with a reason (or a 200), never a 5xx', async () => {
    const csr = pki.csr({ exts: ['subjectAltName=DNS:fuzz.example,IP:192.0.2.1'], attrs: { challengePassword: 'x' } });
    await fuzz('simpleenroll', csr.der, pkcs10, true);
  });

  it('/serverkeygen: the same, where the CSR\'s key and signature are ignored (RFC 7030 §4.4.1), so a change to them may pass', async () => {
    const csr = pki.csr({ subject: '/CN=fuzz-keygen' });
    const { accepted } = await fuzz('serverkeygen', csr.der, pkcs10, false);
    assert.ok(accepted < N / 4, `too many mutated CSRs accepted: ${accepted}`);
  });

  it('/simplereenroll with the client certificate of the subject: the same', async () => {
    const subject = '/CN=client-1/O=Demo Devices';
    const csr = pki.csr({ subject });
    await fuzz('simplereenroll', csr.der, { 'Content-Type': 'application/pkcs10' }, true, client);
  });

  // The parts of a Full PKI Request outside the signature (ContentInfo, SignedData's version and
  // digestAlgorithms) may be BER (RFC 5652 §2): a long-form length there is no reason to refuse it.
  it('/fullcmc: a mutated Full PKI Request (from Bouncy Castle) is a 4xx CMC response or a one-line reason', { skip: bcSkip }, async () => {
    const bc = compileBc(pki.dir);
    const csr = pki.csr({ subject: '/CN=fuzz-cmc/O=Demo Devices' });
    const csrPath = pki.write('fuzz-cmc-csr.der', csr.der);
    const out = pki.path('fuzz-cmc.der');
    bc(['request', csrPath, csr.key, '-', out, 'txid=77', 'nonce=01020304']);
    const { accepted } = await fuzz('fullcmc', readFileSync(out), { 'Content-Type': 'application/pkcs7-mime; smime-type=CMC-request', Authorization: AUTH }, false);
    assert.ok(accepted < N / 4, `too many mutated requests accepted: ${accepted}`);
  });
});

/** est() behind a trusted proxy (loopback) on plain HTTP, its TLS facts in `preset`'s headers. */
async function behindProxy(preset: 'nginx' | 'haproxy'): Promise<number> {
  const m = est({ caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, trustProxy: 'loopback', proxyHeaders: preset });
  middlewares.push(m);
  const s = createServer((req, res) => m(req, res));
  plain.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as AddressInfo).port;
}

function post(port: number, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers: { 'Content-Type': 'application/pkcs10', 'Content-Length': String(body.length), ...headers }, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('latin1')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('property: a mutated client certificate forwarded by a trusted proxy', () => {
  const certDer = Buffer.from(readFileSync(client.cert, 'latin1').replace(/-----[^-]+-----|\s+/g, ''), 'base64');
  const pem = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${b64lines(der)}-----END CERTIFICATE-----\n`;
  const forms = {
    nginx: (der: Buffer) => ({ 'X-SSL-Client-Cert': encodeURIComponent(pem(der)), 'X-SSL-Client-Verify': 'SUCCESS' }),
    haproxy: (der: Buffer) => ({ 'Client-Cert': `:${der.toString('base64')}:` }),
  };
  for (const preset of ['nginx', 'haproxy'] as const) {
    it(`${preset} headers: 401, 403 or 400 with a reason (or a 200 for a certificate still valid), never a 5xx`, async () => {
      const port = await behindProxy(preset);
      const csr = b64lines(pki.csr({ subject: '/CN=client-1/O=Demo Devices' }).der);
      const ok = await post(port, '/.well-known/est/simplereenroll', forms[preset](certDer), csr);
      assert.equal(ok.status, 200, ok.text);
      const rnd = prng(SEED + 7);
      for (let i = 0; i < N; i++) {
        const m = mutate(certDer, rnd);
        const r = await post(port, '/.well-known/est/simplereenroll', forms[preset](m), csr);
        assert.ok(r.status < 500, `${preset}, seed ${SEED}, case ${i}: ${r.status} ${r.text.slice(0, 300)}`);
        if (r.status === 200) assert.ok(m.equals(certDer), `${preset} case ${i}: a changed certificate was accepted: ${m.toString('hex')}`);
        else assert.equal(r.text.trim().split('\n').length, 1, `${preset} case ${i}: a one-line reason: ${r.text.slice(0, 300)}`);
      }
    });
  }
});
