// Interop in both directions: our client against openssl-made responses, curl + openssl against our server.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { EstClient, EstHttpError, generateKey } from '../../lib/client/index.js';
import { Oid } from '../../lib/protocol/constants.js';
import { startAuthBackend } from '../helpers/servers.js';
import { basicPki, openssl, pem, startServer, TestPki } from './fixtures.js';
import { startOpensslServer } from './openssl-server.js';

const pki = new TestPki();
const { ca, server: serverCert } = basicPki(pki);
let fx: Awaited<ReturnType<typeof startOpensslServer>>;

before(async () => {
  fx = await startOpensslServer(pki, ca, serverCert);
});
after(async () => {
  await fx.close();
  pki.cleanup();
});

const client = (label: string) => new EstClient({ url: fx.origin, label, trustAnchors: pem(ca.cert) });

describe('our client against openssl-made responses', () => {
  for (const shape of ['wrapped', 'oneline', 'pem', 'der'] as const) {
    it(`cacerts and simpleenroll: ${shape} bodies`, async () => {
      const c = client(shape);
      try {
        const r = await c.cacerts();
        assert.equal(r.trustAnchor.subject, 'CN=Test EST CA\nO=express-est tests');
        const { privateKey } = await generateKey('p256');
        const e = await c.simpleEnroll({ privateKey, subject: `/CN=interop-${shape}` });
        assert.match(e.certificate.subject, new RegExp(`interop-${shape}`));
        assert.ok(e.certificate.checkPrivateKey(privateKey));
      } finally {
        await c.close();
      }
    });
  }

  it('serverkeygen: certificate part first, LF line ends, no CTE, "multipart/mixed ; boundary"', async () => {
    const c = client('oneline');
    try {
      const r = await c.serverKeygen({ subject: '/CN=fx-keygen' });
      assert.match(r.certificate.subject, /fx-keygen/);
      assert.ok(r.certificate.checkPrivateKey(r.privateKey));
    } finally {
      await c.close();
    }
  });

  it('csrattrs: the RFC 7030 A.2 response', async () => {
    const c = client('wrapped');
    try {
      const r = await c.csrattrs();
      assert.equal(r.wantsChallengePassword, true);
      assert.deepEqual(r.items.map((i) => ('oid' in i ? i.oid : i.attribute)), [Oid.challengePassword, Oid.ecPublicKey, Oid.extensionRequest, Oid.ecdsaWithSHA384]);
    } finally {
      await c.close();
    }
  });

  it('202 with an HTTP-date Retry-After, then 200', async () => {
    const waits: number[] = [];
    const c2 = new EstClient({ url: fx.origin, label: 'retry', trustAnchors: pem(ca.cert), onEvent: (e) => e.type === 'retry-after' && waits.push(e.seconds) });
    try {
      const { privateKey } = await generateKey('p256');
      const r = await c2.simpleEnroll({ privateKey, subject: '/CN=later' });
      assert.match(r.certificate.subject, /later/);
      assert.equal(waits.length, 1);
      assert.ok(waits[0]! <= 1);
    } finally {
      await c2.close();
    }
  });

  it('errors carry the status and the server reason', async () => {
    const c = client('refuse');
    try {
      const { privateKey } = await generateKey('p256');
      await assert.rejects(c.simpleEnroll({ privateKey, subject: '/CN=x' }), (e: unknown) => e instanceof EstHttpError && e.status === 400 && e.reason === 'subject not allowed by policy' && /server answered 400: subject not allowed/.test(e.message));
    } finally {
      await c.close();
    }
  });
});

describe('curl + openssl against our server', () => {
  it('cacerts and simpleenroll with Basic, decoded and verified by openssl', async () => {
    const auth = await startAuthBackend();
    const s = await startServer({ serverCert, clientCa: ca.cert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, authRequest: auth.url });
    try {
      const base = `${s.origin}/.well-known/est`;
      // Asynchronously: the server runs in this process.
      const curl = async (args: string[]) => (await promisify(execFile)('curl', ['-sS', '--fail', '--cacert', ca.cert, ...args], { encoding: 'buffer' })).stdout;
      const cacerts = await curl([`${base}/cacerts`]);
      const caText = openssl(['pkcs7', '-inform', 'DER', '-print_certs'], Buffer.from(cacerts.toString().replace(/\s+/g, ''), 'base64')).toString();
      assert.match(caText, /subject=CN ?= ?Test EST CA/);
      const csr = pki.csr({ subject: '/CN=curl-device' });
      const body = pki.write('curl.b64', csr.der.toString('base64'));
      const issued = await curl(['-u', 'estuser:estpass', '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${body}`, `${base}/simpleenroll`]);
      const certPem = openssl(['pkcs7', '-inform', 'DER', '-print_certs'], Buffer.from(issued.toString().replace(/\s+/g, ''), 'base64')).toString();
      const certPath = pki.write('curl.crt', certPem);
      assert.match(openssl(['verify', '-CAfile', ca.cert, certPath]).toString(), /OK/);
    } finally {
      await s.close();
      await auth.close();
    }
  });
});
