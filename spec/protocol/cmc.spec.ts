// CMC codec: Full PKI Requests built by Bouncy Castle are read and their signatures checked; our Full PKI Responses read back by BC and openssl.
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { CmcFailInfo, CmcFailure, CMC_OID } from '../../lib/protocol/cmc.js';
import { readFullPkiRequest } from '../../lib/protocol/cmc-request.js';
import { fullPkiResponse } from '../../lib/protocol/cmc-response.js';
import { parseCsr } from '../../lib/protocol/pkcs10.js';
import { openssl, TestPki } from '../helpers/pki.js';
import { bcMissing, compileBc } from '../helpers/bc.js';

const pki = new TestPki();
after(() => pki.cleanup());
const skip = bcMissing();
const ca = pki.ca('p256');
const caDer = new Uint8Array(openssl(['x509', '-in', ca.cert, '-outform', 'DER']));
const signer = { certificate: caDer, privateKey: createPrivateKey(readFileSync(ca.key)) };
const spkiOf = (der: Uint8Array) => parseCsr(der).spkiDer;
let bc: (args: string[]) => string;
let n = 0;

before(() => {
  if (!skip) bc = compileBc(pki.dir);
});

function bcRequest(csrPath: string | undefined, key: string, cert: string | undefined, extra: string[] = []): Uint8Array {
  const out = pki.path(`cmc-${++n}.der`);
  bc(['request', csrPath ?? '-', key, cert ?? '-', out, ...extra]);
  return new Uint8Array(readFileSync(out));
}

async function failure(p: Promise<unknown>): Promise<CmcFailure> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof CmcFailure, String(e));
    return e;
  }
  assert.fail('expected a CmcFailure');
}

describe('Full PKI Request (RFC 5272 §3.2) from Bouncy Castle', { skip }, () => {
  test('self-signed with the CSR key: the PKCS#10, transactionId, senderNonce and identification come through', async () => {
    for (const keySpec of ['p256', 'rsa2048'] as const) {
      const csr = pki.csr({ keySpec });
      const csrDer = pki.write(`cmc-csr-${++n}.der`, csr.der);
      const der = bcRequest(csrDer, csr.key, undefined, ['txid=123456789012345678901234567890', 'nonce=00112233445566778899aabbccddeeff', 'ident=device-1']);
      const r = await readFullPkiRequest(der, spkiOf);
      assert.equal(r.requests.length, 1);
      assert.deepEqual(Buffer.from(r.requests[0]!.csrDer), csr.der);
      assert.equal(r.transactionId, 123456789012345678901234567890n);
      assert.equal(Buffer.from(r.senderNonce!).toString('hex'), '00112233445566778899aabbccddeeff');
      assert.equal(r.identification, 'device-1');
      assert.deepEqual(r.signer, { bodyPartId: r.requests[0]!.bodyPartId });
    }
  });

  test('signed by a certificate carried in the message (renewal, RA)', async () => {
    const client = pki.clientCert(ca);
    const csr = pki.csr();
    const der = bcRequest(pki.write(`cmc-csr-${++n}.der`, csr.der), client.key, client.cert);
    const r = await readFullPkiRequest(der, spkiOf);
    assert.ok('certificate' in r.signer);
    assert.equal(r.signer.certificate.fingerprint256, new X509Certificate(readFileSync(client.cert)).fingerprint256);
  });

  test('a tampered request or a signature by an unrelated key: badMessageCheck', async () => {
    const csr = pki.csr();
    const der = bcRequest(pki.write(`cmc-csr-${++n}.der`, csr.der), csr.key, undefined, ['txid=7']);
    // Flip one bit inside the CSR's signature: the content digest no longer matches.
    const i = Buffer.from(der).indexOf(csr.der.subarray(csr.der.length - 8));
    const bad = new Uint8Array(der);
    bad[i + 3]! ^= 0x01;
    assert.equal((await failure(readFullPkiRequest(bad, spkiOf))).failInfo, CmcFailInfo.badMessageCheck);
    const other = pki.csr();
    const foreign = bcRequest(pki.write(`cmc-csr-${++n}.der`, csr.der), other.key, undefined);
    const f = await failure(readFullPkiRequest(foreign, spkiOf));
    assert.equal(f.failInfo, CmcFailInfo.badMessageCheck);
    assert.match(f.message, /signature/);
  });

  test('an unrecognised control fails the whole PKIData with badRequest naming its body part (RFC 5272 §3.2.1.1)', async () => {
    const csr = pki.csr();
    const der = bcRequest(pki.write(`cmc-csr-${++n}.der`, csr.der), csr.key, undefined, ['txid=1', 'unknown']);
    const f = await failure(readFullPkiRequest(der, spkiOf));
    assert.equal(f.failInfo, CmcFailInfo.badRequest);
    assert.deepEqual(f.bodyList, [2]);
  });

  test('revokeRequest: issuer, serial, reason and comment', async () => {
    const client = pki.clientCert(ca);
    const serial = openssl(['x509', '-in', client.cert, '-noout', '-serial']).toString().trim().split('=')[1]!;
    const der = bcRequest(undefined, client.key, client.cert, ['txid=9', `revoke=${ca.cert}:${serial}`]);
    const r = await readFullPkiRequest(der, spkiOf);
    assert.equal(r.requests.length, 0);
    assert.equal(r.revocations.length, 1);
    assert.equal(r.revocations[0]!.serial, BigInt('0x' + serial));
    assert.equal(r.revocations[0]!.reason, 1);
    assert.equal(r.revocations[0]!.comment, 'lost device');
    assert.equal(r.revocations[0]!.issuerDer[0], 0x30);
    assert.ok(Buffer.from(r.revocations[0]!.issuerDer).includes(Buffer.from('Test EST CA')));
  });

  test('revokeRequest with a CRLReason past one octet (2^96, which asn1js reads as 0): badRequest naming it', async () => {
    const client = pki.clientCert(ca);
    const serial = openssl(['x509', '-in', client.cert, '-noout', '-serial']).toString().trim().split('=')[1]!;
    for (const reason of ['79228162514264337593543950336', '256']) {
      const f = await failure(readFullPkiRequest(bcRequest(undefined, client.key, client.cert, [`revoke=${ca.cert}:${serial}:${reason}`]), spkiOf));
      assert.equal(f.failInfo, CmcFailInfo.badRequest);
      assert.match(f.message, new RegExp(`unknown CRLReason ${reason} `));
      assert.deepEqual(f.bodyList, [1]);
    }
    const ok = await readFullPkiRequest(bcRequest(undefined, client.key, client.cert, [`revoke=${ca.cert}:${serial}:10`]), spkiOf);
    assert.equal(ok.revocations[0]!.reason, 10);
  });

  test('garbage and non-CMC SignedData: badRequest', async () => {
    assert.equal((await failure(readFullPkiRequest(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), spkiOf))).failInfo, CmcFailInfo.badRequest);
    const certsOnly = openssl(['crl2pkcs7', '-nocrl', '-certfile', ca.cert, '-outform', 'DER']);
    assert.equal((await failure(readFullPkiRequest(new Uint8Array(certsOnly), spkiOf))).failInfo, CmcFailInfo.badRequest);
    // 30 000 nested indefinite-length SEQUENCEs: refused by asn1js's depth limit, no stack overflow.
    const deep = new Uint8Array(60000).map((_, i) => (i % 2 ? 0x80 : 0x30));
    assert.match((await failure(readFullPkiRequest(deep, spkiOf))).message, /nesting depth/);
  });
});

describe('Full PKI Response (RFC 5272 §3.2.2) read by Bouncy Castle and openssl', { skip }, () => {
  test('success with the certificate and chain; transactionId and nonces', async () => {
    const client = pki.clientCert(ca);
    const issued = new Uint8Array(openssl(['x509', '-in', client.cert, '-outform', 'DER']));
    const der = await fullPkiResponse({ status: 'success', bodyList: [3], transactionId: 42n, recipientNonce: Buffer.from('c0ffee', 'hex'), certificates: [issued, caDer] }, signer);
    const file = pki.write(`cmc-resp-${++n}.der`, Buffer.from(der));
    const out = bc(['response', file, ca.cert]);
    assert.match(out, new RegExp(`eContentType=${CMC_OID.pkiResponse.replace(/\./g, '\\.')}`));
    assert.match(out, /signatureVerifies=true/);
    assert.match(out, /statusInfoV2 status=0 bodyList=3,/);
    assert.match(out, /transactionId=42/);
    assert.match(out, /recipientNonce=c0ffee/);
    assert.match(out, /senderNonceLength=16/);
    assert.match(out, /certificate=CN=client-1,O=Demo Devices/);
    // openssl: the signature verifies against the CA and the certificates are there.
    execFileSync('openssl', ['cms', '-verify', '-inform', 'DER', '-in', file, '-CAfile', ca.cert, '-purpose', 'any', '-out', pki.path(`cmc-${++n}.out`)], { stdio: 'pipe' });
    const printed = openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', file]).toString();
    assert.match(printed, /eContentType: id-cct-PKIResponse|eContentType: .*1\.3\.6\.1\.5\.5\.7\.12\.3/);
    assert.match(openssl(['pkcs7', '-inform', 'DER', '-in', file, '-print_certs']).toString(), /subject=CN = client-1/);
  });

  test('failure with CMCStatusInfoV2 failInfo and statusString', async () => {
    const der = await fullPkiResponse({ status: 'failed', bodyList: [1, 2], failInfo: CmcFailInfo.popFailed, statusString: 'proof of possession failed' }, signer);
    const out = bc(['response', pki.write(`cmc-resp-${++n}.der`, Buffer.from(der)), ca.cert]);
    assert.match(out, /statusInfoV2 status=2 bodyList=1,2, string=proof of possession failed failInfo=9/);
  });
});
