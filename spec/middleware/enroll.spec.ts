// End to end over real HTTPS: every operation, auth mode and key type, checked with the openssl CLI.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { TestPki, openssl, pkcs7Certs, verifyCert, x509Text, type KeySpec } from '../helpers/pki.js';
import { basic, b64lines, fetchRaw } from '../helpers/http.js';
import { startAuthBackend, startEstServer, type Running } from '../helpers/servers.js';
import { CN, craftCsr, name, oid, p256, rdn, seq, set, tlv, utf8 } from '../helpers/craft.js';

const pki = new TestPki();
const ca = pki.ca('p256');
const serverCert = pki.serverCert(ca);
let auth: Awaited<ReturnType<typeof startAuthBackend>>;
let srv: Running;
const good = { 'Content-Type': 'application/pkcs10', Authorization: basic('estuser', 'estpass') };

before(async () => {
  auth = await startAuthBackend();
  srv = await startEstServer(pki, { ca: ca.cert, serverCert }, {
    caRootCertificate: ca.cert,
    caPrivateKey: ca.key,
    caSerialNumber: ca.serial,
    authRequest: auth.url,
  });
});
after(async () => {
  await srv.close();
  await auth.close();
  pki.cleanup();
});

function post(op: string, body: string | Buffer, headers: Record<string, string> = good, extra: { cert?: string; key?: string } = {}) {
  return fetchRaw(`${srv.url}/${op}`, { method: 'POST', headers, body, ...extra });
}

function issuedPem(body: Buffer): string {
  const pem = pkcs7Certs(body);
  assert.equal((pem.match(/BEGIN CERTIFICATE/g) ?? []).length, 1, 'only the issued certificate (RFC 7030 §4.2.3)');
  return pem;
}

describe('GET /cacerts', () => {
  it('returns the CA certificate as base64 certs-only PKCS#7 with Content-Length', async () => {
    const r = await fetchRaw(`${srv.url}/cacerts`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/pkcs7-mime');
    assert.equal(r.headers['content-transfer-encoding'], 'base64');
    assert.equal(Number(r.headers['content-length']), r.body.length);
    assert.equal(r.headers['transfer-encoding'], undefined);
    for (const line of r.text.split('\r\n').slice(0, -1)) assert.ok(line.length <= 64 && line.length > 0);
    assert.ok(r.text.endsWith('\r\n') && !r.text.endsWith('\r\n\r\n'));
    const pem = pkcs7Certs(r.body);
    const caDer = openssl(['x509', '-in', ca.cert, '-outform', 'DER']);
    assert.deepEqual(openssl(['x509', '-outform', 'DER'], pem), caDer);
  });
  it('HEAD gives the headers without a body; query strings are ignored', async () => {
    const g = await fetchRaw(`${srv.url}/cacerts?x=1`);
    const h = await fetchRaw(`${srv.url}/cacerts`, { method: 'HEAD' });
    assert.equal(g.status, 200);
    assert.equal(h.status, 200);
    assert.equal(h.body.length, 0);
    assert.equal(h.headers['content-length'], g.headers['content-length']);
  });
});

describe('routing', () => {
  it('unknown operation 404, wrong method 405 with Allow, fullcmc asks for auth first', async () => {
    assert.equal((await fetchRaw(`${srv.url}/foobar`)).status, 404);
    assert.equal((await fetchRaw(`${srv.url}/cacerts/`)).status, 404);
    assert.equal((await fetchRaw(`${srv.url}`)).status, 404);
    const r405 = await fetchRaw(`${srv.url}/cacerts`, { method: 'POST', body: 'x' });
    assert.equal(r405.status, 405);
    assert.equal(r405.headers['allow'], 'GET, HEAD');
    const r405b = await fetchRaw(`${srv.url}/simpleenroll`);
    assert.equal(r405b.status, 405);
    assert.equal(r405b.headers['allow'], 'POST');
    assert.equal((await post('fullcmc', 'x', { 'Content-Type': 'application/pkcs7-mime' })).status, 401);
    // Not base64, so not a CMC request at all: a plain 400 (spec/middleware/fullcmc.spec.ts has the rest).
    const f = await post('fullcmc', 'x', { ...good, 'Content-Type': 'application/pkcs7-mime; smime-type=CMC-request' });
    assert.equal(f.status, 400);
    assert.match(f.headers['content-type'] as string, /^text\/plain/);
  });
});

describe('POST /simpleenroll', () => {
  const specs: KeySpec[] = ['p256', 'p384', 'p521', 'rsa2048', 'rsa3072', 'ed25519'];
  for (const spec of specs) {
    it(`issues for a ${spec} CSR made by openssl; openssl verify accepts it`, async () => {
      const csr = pki.csr({ keySpec: spec, subject: `/CN=dev-${spec}/O=Demo Devices` });
      const r = await post('simpleenroll', b64lines(csr.der), { ...good, 'Content-Transfer-Encoding': 'base64' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers['content-type'], 'application/pkcs7-mime; smime-type=certs-only');
      assert.equal(r.headers['content-transfer-encoding'], 'base64');
      const pem = issuedPem(r.body);
      assert.match(verifyCert(ca.cert, pem, pki.dir), /OK/);
      const text = x509Text(pem);
      assert.match(text, new RegExp(`Subject: CN = dev-${spec}, O = Demo Devices`));
      assert.match(text, /CA:FALSE/);
      assert.match(text, /ecdsa-with-SHA256/);
      // The certified key is the CSR's key.
      const certPub = openssl(['x509', '-noout', '-pubkey'], pem).toString();
      const csrPub = openssl(['pkey', '-in', csr.key, '-pubout']).toString();
      assert.equal(certPub, csrPub);
    });
  }

  it('works with curl exactly as RFC 7030 examples do', async () => {
    const csr = pki.csr({ keySpec: 'p256' });
    const file = pki.write('csr.b64', b64lines(csr.der));
    // Async: the server runs in this process, so a blocking child would deadlock it.
    const { stdout: out } = await promisify(execFile)('curl', [
      '-sS', '--cacert', ca.cert, '--resolve', `localhost:${srv.port}:127.0.0.1`, '-u', 'estuser:estpass',
      '--data-binary', `@${file}`, '-H', 'Content-Type: application/pkcs10', '-H', 'Content-Transfer-Encoding: base64',
      '-D', pki.path('curl-headers'), `https://localhost:${srv.port}/.well-known/est/simpleenroll`,
    ], { encoding: 'buffer' });
    assert.match(readFileSync(pki.path('curl-headers'), 'latin1'), /^HTTP\/1.1 200/);
    const pem = issuedPem(out);
    assert.match(verifyCert(ca.cert, pem, pki.dir), /OK/);
  });

  it('accepts every base64 layout, PEM armour, raw DER and Content-Type variants (RFC 8951)', async () => {
    const csr = pki.csr({ keySpec: 'rsa2048' });
    const b64 = csr.der.toString('base64');
    const bodies: Array<[string, string | Buffer, Record<string, string>]> = [
      ['one line, no newline', b64, good],
      ['76-column CRLF', b64lines(csr.der, '\r\n', 76), good],
      ['PEM armour', csr.pem, good],
      ['surrounding whitespace', `\n  ${b64lines(csr.der)}  \n`, good],
      ['raw DER', csr.der, { ...good, 'Content-Transfer-Encoding': 'binary' }],
      ['no padding', b64.replace(/=+$/, ''), good],
      ['type with parameters', b64, { ...good, 'Content-Type': 'application/pkcs10; charset=us-ascii' }],
      ['upper-case type', b64, { ...good, 'Content-Type': 'APPLICATION/PKCS10' }],
    ];
    for (const [name, body, headers] of bodies) {
      const r = await post('simpleenroll', body, headers);
      assert.equal(r.status, 200, `${name}: ${r.text}`);
    }
  });

  it('applies the allow-list profile: a CSR asking for CA:TRUE and keyCertSign gets neither', async () => {
    const csr = pki.csr({
      keySpec: 'p256',
      exts: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature', 'subjectAltName=DNS:dev.example.com,IP:10.1.2.3', 'extendedKeyUsage=serverAuth,clientAuth'],
    });
    const r = await post('simpleenroll', b64lines(csr.der));
    assert.equal(r.status, 200, r.text);
    const text = x509Text(issuedPem(r.body));
    assert.match(text, /CA:FALSE/);
    assert.doesNotMatch(text, /CA:TRUE/);
    assert.doesNotMatch(text, /Certificate Sign|CRL Sign/);
    assert.match(text, /DNS:dev.example.com, IP Address:10.1.2.3/);
    assert.match(text, /TLS Web Server Authentication/);
    assert.match(text, /Subject Key Identifier/);
    assert.match(text, /Authority Key Identifier/);
  });

  it('authenticates with a verified client certificate without asking the auth backend', async () => {
    const client = pki.clientCert(ca);
    const before = auth.seen.length;
    const csr = pki.csr();
    const r = await post('simpleenroll', b64lines(csr.der), { 'Content-Type': 'application/pkcs10' }, client);
    assert.equal(r.status, 200, r.text);
    assert.equal(auth.seen.length, before);
  });
});

describe('authRequest (est_auth_request)', () => {
  const csrBody = () => b64lines(pki.csr().der);
  it('401 from the backend is passed back with its WWW-Authenticate and an empty body', async () => {
    for (const headers of [{ 'Content-Type': 'application/pkcs10' }, { 'Content-Type': 'application/pkcs10', Authorization: basic('estuser', 'wrong') }] as Record<string, string>[]) {
      const r = await post('simpleenroll', csrBody(), headers);
      assert.equal(r.status, 401);
      assert.equal(r.headers['www-authenticate'], 'Basic realm="est-demo"');
      assert.equal(r.headers['content-length'], '0');
      assert.equal(r.body.length, 0);
    }
  });
  it('any scheme the backend approves works (Bearer)', async () => {
    const r = await post('simpleenroll', csrBody(), { 'Content-Type': 'application/pkcs10', Authorization: 'Bearer good-token' });
    assert.equal(r.status, 200, r.text);
  });
  it('403 passes through; a backend 500 is a 500, never an allow', async () => {
    assert.equal((await post('simpleenroll', csrBody(), { 'Content-Type': 'application/pkcs10', Authorization: basic('deny', 'x') })).status, 403);
    const r = await post('simpleenroll', csrBody(), { 'Content-Type': 'application/pkcs10', Authorization: basic('boom', 'x') });
    assert.equal(r.status, 500);
    assert.match(r.headers['content-type'] as string, /^text\/plain/);
  });
  it('forwards the client headers plus X-Original-URI/-Method, not the body headers', async () => {
    await post('simpleenroll', csrBody(), { ...good, 'X-Device': 'abc' });
    const h = auth.seen.at(-1)!;
    assert.equal(h['x-device'], 'abc');
    assert.equal(h['x-original-uri'], '/.well-known/est/simpleenroll');
    assert.equal(h['x-original-method'], 'POST');
    assert.equal(h['content-type'], undefined);
  });
  it('an RFC 7894 otpChallenge goes to the backend (X-EST-OTP-Challenge); a wrong one is refused', async () => {
    const otp = (v: string) => b64lines(pki.csr({ attrs: { '1.2.840.113549.1.9.16.2.56': v } }).der);
    const ok = await post('simpleenroll', otp('good-otp'));
    assert.equal(ok.status, 200, ok.text);
    assert.equal(auth.seen.at(-1)!['x-est-otp-challenge'], 'good-otp');
    assert.equal((await post('simpleenroll', otp('stolen'))).status, 403);
    // A client cannot smuggle the header itself.
    const r = await post('simpleenroll', b64lines(pki.csr().der), { ...good, 'X-EST-OTP-Challenge': 'good-otp' });
    assert.equal(r.status, 200);
    assert.equal(auth.seen.at(-1)!['x-est-otp-challenge'], undefined);
  });
  it('an otpChallenge that cannot travel in a header or is past 255 characters is a 400, and the backend is not asked; a non-ASCII one goes as its UTF-8 octets', async () => {
    const key = p256();
    const withOtp = (value: Uint8Array) =>
      b64lines(craftCsr({ subject: name(rdn(CN, utf8('otp-device'))), key, attributes: [seq(oid('1.2.840.113549.1.9.16.2.56'), set(value))] }));
    const refused: Array<[string, Uint8Array, RegExp]> = [
      ['CR LF', utf8('123\r\nX-Injected: 1'), /otpChallenge holds a control character/],
      ['NUL', utf8('12\u000034'), /control character/],
      ['DEL', utf8('12\u007f34'), /control character/],
      ['empty', utf8(''), /otpChallenge must have 1 to 255 characters \(has 0\)/],
      ['256 characters', utf8('7'.repeat(256)), /1 to 255 characters \(has 256\)/],
      ['20,000 characters', utf8('7'.repeat(20_000)), /\(has 20000\)/],
    ];
    for (const [what, value, reason] of refused) {
      const n = auth.seen.length;
      const r = await post('simpleenroll', withOtp(value));
      assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
      assert.match(r.text, reason, what);
      // The Basic credentials are checked first; the OTP never reaches the backend.
      assert.ok(auth.seen.slice(n).every((h) => h['x-est-otp-challenge'] === undefined), what);
    }
    // 255 characters, and characters beyond Latin-1: asked, refused by the backend (not good-otp), never a 500.
    for (const otp of ['7'.repeat(255), 'pässwörd ✓ 𝄞']) {
      const r = await post('simpleenroll', withOtp(tlv(0x0c, Buffer.from(otp, 'utf8'))));
      assert.equal(r.status, 403, `${otp.slice(0, 20)}: ${r.status} ${r.text}`);
      assert.equal(Buffer.from(auth.seen.at(-1)!['x-est-otp-challenge'] as string, 'latin1').toString('utf8'), otp);
    }
  });
  it('cacerts and csrattrs never need authentication', async () => {
    const n = auth.seen.length;
    assert.equal((await fetchRaw(`${srv.url}/cacerts`)).status, 200);
    assert.equal((await fetchRaw(`${srv.url}/csrattrs`)).status, 204);
    assert.equal(auth.seen.length, n);
  });
});

describe('POST /simplereenroll (RFC 7030 §4.2.2)', () => {
  it('renews with the same subject and SAN over the client certificate; rejects other names', async () => {
    const client = pki.clientCert(ca, { subject: '/CN=renew-me/O=Demo Devices', san: 'DNS:renew-me.example' });
    const same = pki.csr({ key: client.key, subject: '/CN=renew-me/O=Demo Devices', exts: ['subjectAltName=DNS:renew-me.example'] });
    const r = await post('simplereenroll', b64lines(same.der), { 'Content-Type': 'application/pkcs10' }, client);
    assert.equal(r.status, 200, r.text);
    const rekey = pki.csr({ keySpec: 'p384', subject: '/CN=renew-me/O=Demo Devices', exts: ['subjectAltName=DNS:renew-me.example'] });
    assert.equal((await post('simplereenroll', b64lines(rekey.der), { 'Content-Type': 'application/pkcs10' }, client)).status, 200);
    const other = pki.csr({ subject: '/CN=someone-else/O=Demo Devices', exts: ['subjectAltName=DNS:renew-me.example'] });
    const r2 = await post('simplereenroll', b64lines(other.der), { 'Content-Type': 'application/pkcs10' }, client);
    assert.equal(r2.status, 400);
    assert.match(r2.text, /subject/);
    const moreSan = pki.csr({ subject: '/CN=renew-me/O=Demo Devices', exts: ['subjectAltName=DNS:renew-me.example,DNS:extra.example'] });
    const r3 = await post('simplereenroll', b64lines(moreSan.der), { 'Content-Type': 'application/pkcs10' }, client);
    assert.equal(r3.status, 400);
    assert.match(r3.text, /subjectAltName/);
  });
  it('refuses re-enrollment without the certificate being renewed', async () => {
    const r = await post('simplereenroll', b64lines(pki.csr().der));
    assert.equal(r.status, 403);
    assert.match(r.text, /client certificate being renewed/);
  });
});

describe('POST /serverkeygen (RFC 7030 §4.4)', () => {
  for (const [spec, pattern] of [['p384', /NIST CURVE: P-384|ASN1 OID: secp384r1/], ['rsa2048', /Private-Key: \(2048 bit/], ['ed25519', /ED25519 Private-Key/]] as const) {
    it(`returns a PKCS#8 ${spec} key first and its certificate second, CRLF MIME`, async () => {
      const csr = pki.csr({ keySpec: spec });
      const r = await post('serverkeygen', b64lines(csr.der));
      assert.equal(r.status, 200, r.text);
      const ct = r.headers['content-type'] as string;
      const boundary = /boundary=([^;]+)/.exec(ct)![1]!;
      assert.match(ct, /^multipart\/mixed; boundary=/);
      const parts = r.text.split(`--${boundary}`);
      assert.equal(parts.length, 4, 'preamble, two parts, closing');
      assert.equal(parts[3], '--\r\n');
      assert.match(parts[1]!, /^\r\nContent-Type: application\/pkcs8\r\nContent-Transfer-Encoding: base64\r\n\r\n/);
      assert.match(parts[2]!, /^\r\nContent-Type: application\/pkcs7-mime; smime-type=certs-only\r\nContent-Transfer-Encoding: base64\r\n\r\n/);
      assert.doesNotMatch(r.text.replace(/\r\n/g, ''), /\n/, 'no bare LF');
      const keyDer = Buffer.from(parts[1]!.split('\r\n\r\n')[1]!.replace(/\s/g, ''), 'base64');
      const keyText = openssl(['pkey', '-inform', 'DER', '-noout', '-text'], keyDer).toString();
      assert.match(keyText, pattern);
      const certPem = pkcs7Certs(Buffer.from(parts[2]!.split('\r\n\r\n')[1]!));
      const keyPub = openssl(['pkey', '-inform', 'DER', '-pubout'], keyDer).toString();
      assert.equal(openssl(['x509', '-noout', '-pubkey'], certPem).toString(), keyPub);
      assert.match(verifyCert(ca.cert, certPem, pki.dir), /OK/);
    });
  }
  it('ignores the CSR signature (RFC 7030 §4.4.1)', async () => {
    const der = Buffer.from(pki.csr().der);
    der[der.length - 5]! ^= 0x01;
    assert.equal((await post('simpleenroll', b64lines(der))).status, 400);
    assert.equal((await post('serverkeygen', b64lines(der))).status, 200);
  });
});

describe('csrattrs and required attributes (est_csr_attrs)', () => {
  it('serves the configured DER unchanged, adds challengePassword with pop, enforces real attributes', async () => {
    const conf = pki.write('attrs.cnf', 'asn1=SEQUENCE:a\n[a]\nf1=OID:1.3.6.1.1.1.1.22\nf2=OID:1.2.840.10045.4.3.2\n');
    const der = pki.path('attrs.der');
    openssl(['asn1parse', '-genconf', conf, '-noout', '-out', der]);
    const s = await startEstServer(pki, { ca: ca.cert, serverCert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, csrAttrs: der, authRequest: auth.url });
    try {
      const r = await fetchRaw(`${s.url}/csrattrs`);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'application/csrattrs');
      assert.deepEqual(Buffer.from(r.text.replace(/\s/g, ''), 'base64'), readFileSync(der));
      // macAddress only in the subject DN: not a CSR attribute → 400 naming it.
      const inDn = pki.csr({ subject: '/CN=dev/O=x' });
      const bad = await fetchRaw(`${s.url}/simpleenroll`, { method: 'POST', headers: good, body: b64lines(inDn.der) });
      assert.equal(bad.status, 400);
      assert.match(bad.text, /1\.3\.6\.1\.1\.1\.1\.22/);
      const withAttr = pki.csr({ attrs: { '1.3.6.1.1.1.1.22': 'AA-BB-CC-DD-EE-FF' } });
      const ok = await fetchRaw(`${s.url}/simpleenroll`, { method: 'POST', headers: good, body: b64lines(withAttr.der) });
      assert.equal(ok.status, 200, ok.text);
    } finally {
      await s.close();
    }
    const p = await startEstServer(pki, { ca: ca.cert, serverCert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, csrAttrs: der, pop: true });
    try {
      const r = await fetchRaw(`${p.url}/csrattrs`);
      const text = openssl(['asn1parse', '-inform', 'DER'], Buffer.from(r.text.replace(/\s/g, ''), 'base64')).toString();
      assert.match(text, /challengePassword/);
      assert.match(text, /1\.3\.6\.1\.1\.1\.1\.22/);
    } finally {
      await p.close();
    }
  });
});

describe('limits', () => {
  it('413 past maxBodySize, 415 on a wrong or missing Content-Type', async () => {
    const big = 'A'.repeat(70 * 1024);
    assert.equal((await post('simpleenroll', big)).status, 413);
    assert.equal((await post('simpleenroll', 'abc', { Authorization: good.Authorization, 'Content-Type': 'application/x-www-form-urlencoded' })).status, 415);
    const r = await post('simpleenroll', 'abc', { Authorization: good.Authorization });
    assert.equal(r.status, 415);
    assert.match(r.text, /Content-Type/);
  });
});

void writeFileSync;
