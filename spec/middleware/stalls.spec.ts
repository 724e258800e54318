// Event-loop stalls: each hostile shape (huge TLS client chain, giant OID, PEM litter, wide names) must not block other requests for more than 50 ms.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { TestPki, openssl } from '../helpers/pki.js';
import { b64lines, fetchRaw } from '../helpers/http.js';
import { startEstServer, type Running } from '../helpers/servers.js';
import { CN, craftCertificate, craftCsr, ext, ia5, name, p256, rdn, rsaSpkiWithExponent, SAN, seq, tlv, utf8 } from '../helpers/craft.js';

const LIMIT_MS = 50;
const pki = new TestPki();
const ca = pki.ca('p256');
const serverCert = pki.serverCert(ca);
const client = pki.clientCert(ca);
let srv: Running;
const figures: string[] = [];

before(async () => {
  srv = await startEstServer(pki, { ca: ca.cert, serverCert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial });
});
after(async () => {
  await srv.close();
  pki.cleanup();
  process.stdout.write(`# worst event-loop stalls (ms, best of 5 rounds): ${figures.join('; ')}\n`);
});

/**
 * CPU time of this process's main thread alone, in ms: Linux's per-thread schedstat (ns). The
 * process-wide `cpuUsage()` also counts the libuv pool and GC helper threads, which run beside
 * the event loop and block nothing. Falls back to it where schedstat is missing.
 */
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
const mainThreadCpuMs: () => number = existsSync(SCHEDSTAT)
  ? () => Number(readFileSync(SCHEDSTAT, 'latin1').split(' ')[0]) / 1e6
  : () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };

/**
 * Runs `attack` while a 1 ms timer watches the event loop; returns the longest gap between ticks.
 * A gap counts only as far as the main thread used CPU in it: on a shared machine the process may
 * simply not be scheduled for a while, which is not a stall it caused.
 */
async function worstStall(attack: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let lastCpu = mainThreadCpuMs();
  let worst = 0;
  const tick = () => {
    const now = performance.now();
    const cpu = mainThreadCpuMs();
    worst = Math.max(worst, Math.min(now - last, cpu - lastCpu));
    last = now;
    lastCpu = cpu;
  };
  const probe = setInterval(tick, 1);
  try {
    await attack();
  } finally {
    clearInterval(probe);
  }
  tick();
  return worst;
}

/**
 * The worst stall of the best of five rounds: a real stall repeats every round, while a pause
 * caused by other processes on a shared machine rarely hits all five.
 */
async function measure(label: string, attack: () => Promise<unknown>): Promise<number> {
  const rounds: number[] = [];
  for (let i = 0; i < 5; i++) rounds.push(await worstStall(attack));
  const best = Math.min(...rounds);
  figures.push(`${label} ${best.toFixed(1)} [${rounds.map((r) => r.toFixed(0)).join(',')}]`);
  return best;
}

const post = (body: string, auth = true) =>
  fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10' }, body, ...(auth ? client : {}) });

/** One connection from another process (so that only the server's work is measured), presenting the chain. */
const CLIENT = `
  const tls = require('node:tls'); const fs = require('node:fs');
  const [port, certFile, chainFile, keyFile, request] = process.argv.slice(1);
  const s = tls.connect({ host: '127.0.0.1', port: Number(port), rejectUnauthorized: false, servername: 'localhost',
    cert: fs.readFileSync(certFile, 'latin1') + fs.readFileSync(chainFile, 'latin1'), key: fs.readFileSync(keyFile) }, () => s.write(request));
  let out = ''; s.on('data', (c) => (out += c.toString('latin1')));
  s.on('close', () => process.stdout.write(out)); s.on('error', (e) => process.stdout.write('client error: ' + e.message));`;
const connectWithChain = (leafFile: string, chainFile: string, leafKey: string, requestLine: string) =>
  new Promise<string>((resolve, reject) => {
    const request = `${requestLine}\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/pkcs10\r\nContent-Length: 0\r\n\r\n`;
    const p = spawn(process.execPath, ['-e', CLIENT, String(srv.port), leafFile, chainFile, leafKey, request], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString('latin1')));
    p.on('error', reject);
    p.on('close', () => resolve(out));
  });

describe('a TLS client presenting a 96-certificate chain with huge RSA exponents', () => {
  // Leaf with a real key (the handshake proves possession), then 95 "intermediates" with the same
  // name, 3072-bit RSA keys with 768-bit exponents and junk signatures: every one is a candidate issuer.
  const leafKey = pki.key('p256');
  const leafKeyObj = { pem: leafKey };
  const issuerName = name(rdn(CN, utf8('hostile chain')));
  const spki = rsaSpkiWithExponent(768);
  const chainPems: string[] = [];
  const leafSpki = openssl(['pkey', '-in', leafKeyObj.pem, '-pubout', '-outform', 'DER']);
  const leafDer = craftCertificate({ subject: name(rdn(CN, utf8('hostile leaf'))), issuer: issuerName, spki: leafSpki, ca: false });
  for (let i = 0; i < 95; i++) chainPems.push(openssl(['x509', '-inform', 'DER'], craftCertificate({ subject: issuerName, issuer: issuerName, spki, ca: true })).toString());
  const leafFile = pki.write('hostile-leaf.pem', openssl(['x509', '-inform', 'DER'], leafDer));
  const chainFile = pki.write('hostile-chain.pem', chainPems.join(''));

  it('the chain is as big as the attack (96 certificates, > 90 KB)', () => {
    assert.equal(chainPems.length + 1, 96);
    const bytes = chainPems.reduce((n, p) => n + (p.length * 3) / 4, leafDer.length);
    assert.ok(bytes > 90_000, `${bytes}`);
  });

  it(`GET /cacerts over such a connection stalls the event loop < ${LIMIT_MS} ms`, async () => {
    let answer = '';
    const stall = await measure('chain96 /cacerts', async () => (answer = await connectWithChain(leafFile, chainFile, leafKey, 'GET /.well-known/est/cacerts HTTP/1.1')));
    assert.match(answer, /HTTP\/1\.1 200/);
    assert.ok(stall < LIMIT_MS, `worst stall ${stall.toFixed(1)} ms`);
  });

  it(`POST /simpleenroll (authenticating) over such a connection: 401, stall < ${LIMIT_MS} ms`, async () => {
    let answer = '';
    const stall = await measure('chain96 /simpleenroll', async () => (answer = await connectWithChain(leafFile, chainFile, leafKey, 'POST /.well-known/est/simpleenroll HTTP/1.1')));
    assert.match(answer, /HTTP\/1\.1 401/);
    assert.ok(stall < LIMIT_MS, `worst stall ${stall.toFixed(1)} ms`);
  });
});

describe('a client chain at the caps: 8 certificates, RSA-4096 keys with 64-bit exponents', () => {
  const leafKey = pki.key('p256');
  const issuerName = name(rdn(CN, utf8('capped chain')));
  const spki = rsaSpkiWithExponent(64, 4096);
  const leafSpki = openssl(['pkey', '-in', leafKey, '-pubout', '-outform', 'DER']);
  const leafPem = openssl(['x509', '-inform', 'DER'], craftCertificate({ subject: name(rdn(CN, utf8('capped leaf'))), issuer: issuerName, spki: leafSpki, ca: false, signatureBytes: 512 })).toString();
  const chain: string[] = [];
  for (let i = 0; i < 7; i++) chain.push(openssl(['x509', '-inform', 'DER'], craftCertificate({ subject: issuerName, issuer: issuerName, spki, ca: true, signatureBytes: 512 })).toString());
  const leafFile = pki.write('capped-leaf.pem', leafPem);
  const chainFile = pki.write('capped-chain.pem', chain.join(''));

  it(`POST /simpleenroll: 401, stall < ${LIMIT_MS} ms`, async () => {
    let answer = '';
    const stall = await measure('chain8 at caps /simpleenroll', async () => (answer = await connectWithChain(leafFile, chainFile, leafKey, 'POST /.well-known/est/simpleenroll HTTP/1.1')));
    assert.match(answer, /HTTP\/1\.1 401/);
    assert.ok(stall < LIMIT_MS, `worst stall ${stall.toFixed(1)} ms`);
  });
});

describe('hostile CSR shapes', () => {
  const key = p256();
  const giantOid = (octets: number) => {
    // 2.999 then one arc spread over `octets` base-128 octets.
    const arc = Buffer.alloc(octets, 0xff);
    arc[octets - 1] = 0x7f;
    return tlv(0x06, Uint8Array.of(0x88, 0x37), arc);
  };
  const shapes: Array<[string, () => string]> = [
    ['a 46,000-byte OID in the subject', () => b64lines(craftCsr({ key, subject: name(tlv(0x31, seq(giantOid(46_000), utf8('x')))) }))],
    ['64 KB of repeated -----BEGIN A-----', () => '-----BEGIN A-----\n'.repeat(Math.floor(65_000 / 18))],
    ['a 1,000-RDN subject', () => b64lines(craftCsr({ key, subject: name(...Array.from({ length: 1000 }, (_, i) => rdn(CN, utf8(`n${i}`)))) }))],
    ['4,000 dNSNames in the subjectAltName', () => b64lines(craftCsr({ key, subject: name(rdn(CN, utf8('wide'))), extensions: [ext(SAN, seq(...Array.from({ length: 4000 }, (_, i) => tlv(0x82, Buffer.from(`h${i}.x`)))))] }))],
    ['2,000 attributes', () => b64lines(craftCsr({ key, subject: name(rdn(CN, utf8('many'))), attributes: Array.from({ length: 2000 }, () => seq(tlv(0x06, Uint8Array.of(0x2a, 0x03)), tlv(0x31, ia5('v')))) }))],
  ];
  for (const [label, make] of shapes) {
    it(`${label}: 400 and stall < ${LIMIT_MS} ms`, async () => {
      const body = make();
      assert.ok(body.length <= 65_536, `${label}: body ${body.length} bytes must fit maxBodySize`);
      let status = 0;
      let text = '';
      const stall = await measure(label, async () => ({ status, text } = await post(body)));
      assert.equal(status, 400, `${label}: ${status} ${text}`);
      assert.ok(stall < LIMIT_MS, `${label}: worst stall ${stall.toFixed(1)} ms`);
    });
  }
});

void writeFileSync;
