// POST /fullcmc end to end over real HTTPS: Bouncy Castle builds the Full PKI Requests, BC and openssl read our Full PKI Responses.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { TestPki, openssl, verifyCert } from '../helpers/pki.js';
import { basic, b64lines, fetchRaw } from '../helpers/http.js';
import { startAuthBackend, startEstServer, withAuthEstServer, type Running } from '../helpers/servers.js';
import { recordOf } from '../../lib/store/record.js';
import { bcMissing, compileBc } from '../helpers/bc.js';
import * as pkijs from 'pkijs';
import { CN, craftCertificate, name, rdn, rsaSpkiWithExponent, utf8 } from '../helpers/craft.js';

const skip = bcMissing();
const pki = new TestPki();
const ca = pki.ca('p256');
const serverCert = pki.serverCert(ca);
const CMC = { 'Content-Type': 'application/pkcs7-mime; smime-type=CMC-request', Authorization: basic('estuser', 'estpass') };
let auth: Awaited<ReturnType<typeof startAuthBackend>>;
let srv: Running;
let bc: (args: string[]) => string;
let n = 0;

before(async () => {
  if (skip) return;
  bc = compileBc(pki.dir);
  auth = await startAuthBackend();
  srv = await startEstServer(pki, { ca: ca.cert, serverCert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, authRequest: auth.url });
});
after(async () => {
  await srv?.close();
  await auth?.close();
  pki.cleanup();
});

/** A Full PKI Request from Bouncy Castle: self-signed with the CSR key unless `signer` is given. */
function request(csr: { der: Buffer; key: string } | undefined, extra: string[] = [], signer?: { cert: string; key: string }): Buffer {
  const out = pki.path(`fc-${++n}.der`);
  const csrPath = csr ? pki.write(`fc-csr-${n}.der`, csr.der) : '-';
  bc(['request', csrPath, signer?.key ?? csr!.key, signer?.cert ?? '-', out, ...extra]);
  return readFileSync(out);
}

async function send(der: Buffer, headers: Record<string, string> = CMC, tls: { cert?: string; key?: string } = {}) {
  const r = await fetchRaw(`${srv.url}/fullcmc`, { method: 'POST', headers, body: b64lines(der), ...tls });
  return r;
}

/** BC's reading of a response body (base64), signature checked against the CA. */
function bcRead(body: Buffer): string {
  const file = pki.write(`fc-resp-${++n}.der`, Buffer.from(body.toString('latin1').replace(/\s+/g, ''), 'base64'));
  const out = bc(['response', file, ca.cert]);
  assert.match(out, /signatureVerifies=true/);
  return out;
}

describe('POST /fullcmc (RFC 7030 §4.3)', { skip }, () => {
  it('a PKCS#10 in a signed PKIData is issued: 200 CMC-response with the certificate and chain; BC and openssl read it', async () => {
    const csr = pki.csr({ subject: '/CN=cmc-device-1/O=Demo Devices' });
    const r = await send(request(csr, ['txid=31337', 'nonce=0a0b0c0d']));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['content-type'], 'application/pkcs7-mime; smime-type=CMC-response');
    assert.equal(r.headers['content-transfer-encoding'], 'base64');
    const out = bcRead(r.body);
    assert.match(out, /statusInfoV2 status=0 bodyList=3,/, 'the request is body part 3, after transactionId and senderNonce');
    assert.match(out, /transactionId=31337/);
    assert.match(out, /recipientNonce=0a0b0c0d/);
    assert.match(out, /certificate=CN=cmc-device-1,O=Demo Devices/);
    const der = Buffer.from(r.text.replace(/\s+/g, ''), 'base64');
    const file = pki.write(`fc-${++n}.der`, der);
    execFileSync('openssl', ['cms', '-verify', '-inform', 'DER', '-in', file, '-CAfile', ca.cert, '-purpose', 'any', '-out', pki.path(`fc-${++n}.out`)], { stdio: 'pipe' });
    const certs = openssl(['pkcs7', '-inform', 'DER', '-in', file, '-print_certs']).toString();
    const leaf = certs.split(/(?=subject=)/).find((c) => c.includes('cmc-device-1'))!;
    const leafPem = leaf.slice(leaf.indexOf('-----BEGIN'));
    assert.match(verifyCert(ca.cert, leafPem, pki.dir), /OK/);
    // The issued certificate certifies the CSR's key.
    assert.equal(openssl(['x509', '-noout', '-pubkey'], leafPem).toString(), openssl(['req', '-in', csr.path, '-noout', '-pubkey']).toString());
  });

  it('the same authentication as simpleenroll: no credentials, 401', async () => {
    const csr = pki.csr();
    const r = await send(request(csr), { 'Content-Type': CMC['Content-Type'] });
    assert.equal(r.status, 401);
  });

  it('the same policy as simpleenroll: a refused key gets 400 with failInfo badAlg in a CMC response', async () => {
    const weakKey = pki.path('fc-weak.key');
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', weakKey]);
    const weak = pki.csr({ key: weakKey });
    const r = await send(request(weak, ['txid=5']));
    assert.equal(r.status, 400);
    assert.equal(r.headers['content-type'], 'application/pkcs7-mime; smime-type=CMC-response');
    const out = bcRead(r.body);
    assert.match(out, /statusInfoV2 status=2 bodyList=2, string=RSA key size 1024 not allowed.* failInfo=0/);
    assert.match(out, /transactionId=5/);
  });

  it('a tampered request: 400 badMessageCheck; an unknown control: 400 badRequest naming it', async () => {
    const csr = pki.csr();
    const der = request(csr, ['txid=8']);
    const i = der.indexOf(csr.der.subarray(csr.der.length - 8));
    der[i + 3]! ^= 0x01;
    const t = await send(der);
    assert.equal(t.status, 400);
    assert.match(bcRead(t.body), /status=2 bodyList=1,2, string=Full PKI Request signature: messageDigest does not match the content failInfo=1/);
    const u = await send(request(pki.csr(), ['txid=9', 'unknown']));
    assert.equal(u.status, 400);
    assert.match(bcRead(u.body), /status=2 bodyList=2, string=unsupported CMC control\(s\) in body part\(s\) 2 failInfo=2/);
  });

  it('carried certificates are bounded before they are read: 9 is badRequest, a chain with a 768-bit RSA exponent badMessageCheck, a body of 6,000 elements badRequest; each answered at once', async () => {
    const client = pki.clientCert(ca);
    /** The signed request with `extra` certificates added to SignedData.certificates (unsigned: the signature still verifies). */
    const carrying = (extra: Uint8Array[]) => {
      const ci = pkijs.ContentInfo.fromBER(request(pki.csr(), [], client));
      const sd = new pkijs.SignedData({ schema: ci.content });
      for (const c of extra) sd.certificates!.push(pkijs.Certificate.fromBER(c));
      return Buffer.from(new pkijs.ContentInfo({ contentType: ci.contentType, content: sd.toSchema(true) }).toSchema().toBER(false));
    };
    const caDer = Buffer.from(openssl(['x509', '-in', ca.cert, '-outform', 'DER']));
    const within = await send(carrying(Array.from({ length: 7 }, () => caDer)));
    assert.equal(within.status, 200, 'the signer and 7 more: read');
    const tooMany = await send(carrying(Array.from({ length: 8 }, () => caDer)));
    assert.equal(tooMany.status, 400);
    assert.match(bcRead(tooMany.body), /status=2 .*SignedData carries 9 certificates; at most 8 are read failInfo=2/);
    // A candidate issuer whose verification would be costly: refused before any signature of the chain is checked.
    const issuerName = name(rdn(CN, utf8('costly')));
    const costly = craftCertificate({ subject: issuerName, issuer: issuerName, spki: rsaSpkiWithExponent(768), ca: true });
    const timed = async (der: Buffer) => {
      const t0 = performance.now();
      const r = await send(der);
      return { r, ms: performance.now() - t0 };
    };
    const slow = await timed(carrying([costly]));
    assert.equal(slow.r.status, 403);
    assert.match(bcRead(slow.r.body), /status=2 .*signer is not trusted: an RSA key in the Full PKI Request's certificate chain has a public exponent longer than 64 bits failInfo=1/);
    // 6,000 elements (a SEQUENCE of NULLs): refused by count, before asn1js reads them.
    const nulls = Buffer.concat([Buffer.from([0x30, 0x82, 0x2e, 0xe0]), Buffer.alloc(12_000).map((_, i) => (i % 2 ? 0 : 5))]);
    const many = await timed(nulls);
    assert.equal(many.r.status, 400);
    assert.match(bcRead(many.r.body), /more than 2048 ASN\.1 elements/);
    // Generous bounds (other spec files share the cores; each case used to cost the event loop ~0.1 s or more).
    assert.ok(slow.ms < 1_000 && many.ms < 1_000, `${slow.ms} and ${many.ms} ms`);
  });

  it('a request signed by a certificate that does not chain to a trust anchor: 403 badMessageCheck', async () => {
    const other = pki.ca('p256', '/CN=Elsewhere');
    const stranger = pki.clientCert(other);
    const r = await send(request(pki.csr(), [], stranger));
    assert.equal(r.status, 403);
    assert.match(bcRead(r.body), /status=2 .*the Full PKI Request's signer is not trusted: client certificate does not chain to a trusted CA failInfo=1/);
  });

  it('revokeRequest through the record store: the holder revokes its own certificate (index.txt says R); others get 403; unknown serial 404', async () => {
    // Enroll through /fullcmc, so the ledger knows the certificate.
    const csr = pki.csr({ subject: '/CN=cmc-revoke-me/O=Demo Devices' });
    const r = await send(request(csr, ['txid=20']));
    assert.equal(r.status, 200, r.text);
    const file = pki.write(`fc-${++n}.der`, Buffer.from(r.text.replace(/\s+/g, ''), 'base64'));
    const certs = openssl(['pkcs7', '-inform', 'DER', '-in', file, '-print_certs']).toString();
    const mine = certs.split(/(?=subject=)/).find((c) => c.includes('cmc-revoke-me'))!;
    const holder = { cert: pki.write(`fc-holder-${n}.pem`, mine.slice(mine.indexOf('-----BEGIN'))), key: csr.key };
    const serial = openssl(['x509', '-in', holder.cert, '-noout', '-serial']).toString().trim().split('=')[1]!;
    // Someone else may not revoke it.
    const other = pki.clientCert(ca);
    const denied = await send(request(undefined, ['txid=21', `revoke=${ca.cert}:${serial}`], other));
    assert.equal(denied.status, 403);
    assert.match(bcRead(denied.body), /status=2 bodyList=2, string=only the certificate holder or a CMC RA may revoke this certificate failInfo=2/);
    // The holder may.
    const ok = await send(request(undefined, ['txid=22', `revoke=${ca.cert}:${serial}`], holder));
    assert.equal(ok.status, 200, ok.text);
    assert.match(bcRead(ok.body), /statusInfoV2 status=0 bodyList=2,/);
    const index = readFileSync(ca.serial.replace(/\.srl$/, '.index.txt'), 'latin1');
    assert.match(index, new RegExp(`^R\t[^\t]+\t[^\t]+\t${serial}\t`, 'm'), index);
    // Revoked, the holder's certificate no longer vouches for it (RFC 5280 §5.3).
    const again = await send(request(undefined, ['txid=24', `revoke=${ca.cert}:${serial}`], holder));
    assert.equal(again.status, 403);
    assert.match(bcRead(again.body), new RegExp(`status=2 bodyList=2, string=the requester's certificate \\(serial ${serial}\\) has been revoked failInfo=2`));
    // A serial this CA never issued.
    const stranger = pki.clientCert(ca);
    const strangerSerial = openssl(['x509', '-in', stranger.cert, '-noout', '-serial']).toString().trim().split('=')[1]!;
    const unknown = await send(request(undefined, ['txid=23', `revoke=${ca.cert}:${strangerSerial}`], stranger));
    assert.equal(unknown.status, 404);
    assert.match(bcRead(unknown.body), /status=2 bodyList=2, .*failInfo=4/);
  });

  it('revokeRequest by a CMC RA (id-kp-cmcRA): revokes another holder\'s certificate; once `openssl ca -revoke` revokes the RA, 403', async () => {
    const enrolled = async (cn: string) => {
      const r = await send(request(pki.csr({ subject: `/CN=${cn}/O=Demo Devices` }), [`txid=${30 + ++n}`]));
      assert.equal(r.status, 200, r.text);
      const file = pki.write(`fc-${++n}.der`, Buffer.from(r.text.replace(/\s+/g, ''), 'base64'));
      const pem = openssl(['pkcs7', '-inform', 'DER', '-in', file, '-print_certs']).toString().split(/(?=subject=)/).find((c) => c.includes(cn))!;
      return openssl(['x509', '-noout', '-serial'], Buffer.from(pem.slice(pem.indexOf('-----BEGIN')))).toString().trim().split('=')[1]!;
    };
    const ra = pki.clientCert(ca, { subject: '/CN=cmc-ra/O=Demo Devices', eku: 'clientAuth,1.3.6.1.5.5.7.3.28' });
    const indexPath = ca.serial.replace(/\.srl$/, '.index.txt');
    const first = await enrolled('cmc-ra-victim-1');
    const ok = await send(request(undefined, ['txid=31', `revoke=${ca.cert}:${first}`], ra));
    assert.equal(ok.status, 200, ok.text);
    assert.match(readFileSync(indexPath, 'latin1'), new RegExp(`^R\t[^\t]+\t[^\t]+,keyCompromise\t${first}\t`, 'm'));
    // The operator revokes the RA with openssl's own CA tool, on the same index.txt.
    const conf = pki.write('openssl-ca.cnf', ['[ca]', 'default_ca = d', '[d]', `database = ${indexPath}`, `certificate = ${ca.cert}`, `private_key = ${ca.key}`, 'default_md = sha256', ''].join('\n'));
    openssl(['ca', '-config', conf, '-revoke', ra.cert, '-crl_reason', 'keyCompromise', '-batch']);
    const raSerial = openssl(['x509', '-in', ra.cert, '-noout', '-serial']).toString().trim().split('=')[1]!;
    assert.match(readFileSync(indexPath, 'latin1'), new RegExp(`^R\t[^\t]+\t[^\t]+\t${raSerial}\t`, 'm'));
    const second = await enrolled('cmc-ra-victim-2');
    const denied = await send(request(undefined, ['txid=32', `revoke=${ca.cert}:${second}`], ra));
    assert.equal(denied.status, 403);
    assert.match(bcRead(denied.body), new RegExp(`status=2 bodyList=2, string=the requester's certificate \\(serial ${raSerial}\\) has been revoked failInfo=2`));
    assert.match(readFileSync(indexPath, 'latin1'), new RegExp(`^V\t[^\t]+\t\t${second}\t`, 'm'));
  });

  it('revokeRequest while the ledger cannot be read: 503 tryLater with Retry-After, nothing revoked', async () => {
    const client = pki.clientCert(ca, { subject: '/CN=cmc-ledger-down/O=Demo Devices' });
    await withAuthEstServer(pki, ca, serverCert, auth.url, {}, async (down, store) => {
      const certDer = new Uint8Array(openssl(['x509', '-in', client.cert, '-outform', 'DER']));
      // The requester's own certificate is in this ledger, so revoking it is the holder's to ask.
      await store.record({ ...recordOf(certDer, { operation: 'simpleenroll', requester: { method: 'none' }, peerAddress: '127.0.0.1', requestId: 'seed' }) });
      const serial = openssl(['x509', '-in', client.cert, '-noout', '-serial']).toString().trim().split('=')[1]!;
      store.status = () => Promise.reject(new Error('disk gone'));
      const r = await fetchRaw(`${down.url}/fullcmc`, { method: 'POST', headers: CMC, body: b64lines(request(undefined, ['txid=41', `revoke=${ca.cert}:${serial}`], client)) });
      assert.equal(r.status, 503);
      assert.equal(r.headers['retry-after'], '5');
      assert.match(bcRead(r.body), /status=2 bodyList=2, string=the certificate ledger cannot be read; retry later failInfo=12/);
      assert.equal((await store.get(serial))?.status, 'valid');
    });
  });

  it('revokeRequest without a record store (store: false): 501 with CMC noSupport', async () => {
    const bare = await startEstServer(pki, { ca: ca.cert, serverCert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, serialMode: 'random', store: false, authRequest: auth.url } as never);
    try {
      const client = pki.clientCert(ca);
      const serial = openssl(['x509', '-in', client.cert, '-noout', '-serial']).toString().trim().split('=')[1]!;
      const r = await fetchRaw(`${bare.url}/fullcmc`, { method: 'POST', headers: CMC, body: b64lines(request(undefined, ['txid=11', `revoke=${ca.cert}:${serial}`], client)) });
      assert.equal(r.status, 501);
      assert.match(bcRead(r.body), /statusInfoV2 status=4 bodyList=2, string=revocation is not supported/);
    } finally {
      await bare.close();
    }
  });

  it('property: every mutation of a signed Full PKI Request gets a 4xx or a valid 200, never a 5xx or a crash', async () => {
    // Bytes changed, flipped, cut or inserted anywhere: in the CMS wrapping, the PKIData, the
    // PKCS#10 inside it and the signature (seeded: EST_FUZZ_SEED, EST_FUZZ_N).
    const base = request(pki.csr({ subject: '/CN=cmc-fuzz/O=Demo Devices' }), ['txid=7', 'nonce=01020304']);
    let seed = Number(process.env.EST_FUZZ_SEED ?? 20261207) >>> 0;
    const rnd = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 4294967296;
    };
    const N = Number(process.env.EST_FUZZ_N ?? 250);
    const statuses = new Map<number, number>();
    for (let i = 0; i < N; i++) {
      const m = Buffer.from(base);
      const pos = Math.floor(rnd() * m.length);
      const kind = Math.floor(rnd() * 4);
      let body: Buffer = m;
      if (kind === 0) m[pos] = Math.floor(rnd() * 256);
      else if (kind === 1) m[pos]! ^= 1 << Math.floor(rnd() * 8);
      else if (kind === 2) body = Buffer.concat([m.subarray(0, pos), m.subarray(pos + 1 + Math.floor(rnd() * 8))]);
      else body = Buffer.concat([m.subarray(0, pos), Buffer.from([Math.floor(rnd() * 256), Math.floor(rnd() * 256)]), m.subarray(pos)]);
      const r = await send(body);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `case ${i} (byte ${pos}, kind ${kind}): ${r.status} ${r.text.slice(0, 200)}`);
    }
    // Most mutations break the signature or the DER (those accepted changed unsigned parts: the
    // outer digestAlgorithms, the signer's key identifier, BER end-of-contents); the server is up.
    assert.ok((statuses.get(400) ?? 0) > N / 2 && (statuses.get(200) ?? 0) < N / 10, JSON.stringify([...statuses]));
    assert.equal((await fetchRaw(`${srv.url}/cacerts`)).status, 200);
  });

  it('not a CMC request: a certs-only PKCS#7 gets 400 with a CMC failure body', async () => {
    const certsOnly = openssl(['crl2pkcs7', '-nocrl', '-certfile', ca.cert, '-outform', 'DER']);
    const r = await send(certsOnly);
    assert.equal(r.status, 400);
    assert.match(bcRead(r.body), /status=2 bodyList=0, string=not a Full PKI Request: SignedData has no encapsulated content failInfo=2/);
  });
});
