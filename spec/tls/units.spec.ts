// Unit tests of lib/tls: trust-proxy parsing, header formats, chain verification, tls-exporter derivation, pop rules.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { checkPop, expectedBindings } from '../../lib/check/pop.js';
import { parseCsr } from '../../lib/protocol/pkcs10.js';
import { strictBase64, tlsExporterFromSecret } from '../../lib/tls/channel-binding.js';
import { certificatesFromHeaders, resolveProxyHeaders, PROXY_HEADER_PRESETS, type ProxyHeaders } from '../../lib/tls/proxy-headers.js';
import type { TlsFacts } from '../../lib/tls/tls-facts.js';
import { parseTrustProxy } from '../../lib/tls/trust-proxy.js';
import { verifyChain } from '../../lib/tls/verify-chain.js';
import { openssl, TestPki } from '../helpers/pki.js';
import { buildCsr } from './pop-client.js';
import { keyOf } from './pop-matrix.js';

const pki = new TestPki();
after(() => pki.cleanup());
const ca = pki.ca('p256');
const caCert = new X509Certificate(readFileSync(ca.cert));
const client = pki.clientCert(ca);
const leaf = new X509Certificate(readFileSync(client.cert));
const leafPem = readFileSync(client.cert, 'latin1');

describe('parseTrustProxy', () => {
  test('loopback, addresses, CIDRs, IPv4-mapped IPv6, functions', () => {
    const t = parseTrustProxy(['loopback', '10.0.0.0/8', '192.0.2.5', '2001:db8::/32']);
    for (const a of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1', '10.200.1.1', '192.0.2.5', '2001:db8::1']) assert.ok(t(a), a);
    for (const a of ['192.0.2.6', '11.0.0.1', '2001:db9::1', '', 'garbage']) assert.ok(!t(a), a);
    assert.ok(!parseTrustProxy(undefined)('127.0.0.1'), 'default: nobody is trusted');
    const f = parseTrustProxy((a: string) => a === '127.0.0.2');
    assert.ok(f('::ffff:127.0.0.2'));
    assert.ok(!f('127.0.0.1'));
  });

  test('bad entries fail at start-up with the option named', () => {
    assert.throws(() => parseTrustProxy('10.0.0.0/33'), { code: 'ERR_EST_CONFIG', message: 'est: `trustProxy` entry "10.0.0.0/33" has a bad prefix length' });
    assert.throws(() => parseTrustProxy('nginx.local'), { code: 'ERR_EST_CONFIG', message: 'est: `trustProxy` entry "nginx.local" is not an IP address or CIDR' });
    assert.throws(() => parseTrustProxy(42), { code: 'ERR_EST_CONFIG' });
  });
});

describe('resolveProxyHeaders', () => {
  test('presets and custom objects', () => {
    assert.equal(resolveProxyHeaders('haproxy'), PROXY_HEADER_PRESETS.haproxy);
    assert.deepEqual(resolveProxyHeaders({ clientCert: 'X-Client-Cert' }), { clientCert: 'x-client-cert', clientCertFormat: 'rfc9440' });
    assert.throws(() => resolveProxyHeaders('apache'), { code: 'ERR_EST_CONFIG', message: 'est: `proxyHeaders` must be one of nginx, haproxy, rfc9440, envoy, traefik or an object (got "apache")' });
    assert.throws(() => resolveProxyHeaders({ tlsUniqe: 'x' }), { code: 'ERR_EST_CONFIG', message: /`proxyHeaders.tlsUniqe` is not a known field/ });
  });
});

describe('certificatesFromHeaders: every format a terminator sends', () => {
  const der = leaf.raw.toString('base64');
  const caDer = caCert.raw.toString('base64');
  const from = (h: ProxyHeaders, headers: Record<string, string>) => certificatesFromHeaders(h, (n) => headers[n]).map((c) => c.fingerprint256);
  const fp = [leaf.fingerprint256];

  test('nginx $ssl_client_escaped_cert (URL-encoded PEM); empty and absent mean no certificate', () => {
    assert.deepEqual(from(PROXY_HEADER_PRESETS.nginx, { 'x-ssl-client-cert': encodeURIComponent(leafPem) }), fp);
    assert.deepEqual(from(PROXY_HEADER_PRESETS.nginx, { 'x-ssl-client-cert': '' }), []);
    assert.deepEqual(from(PROXY_HEADER_PRESETS.nginx, {}), []);
  });

  test('RFC 9440 Client-Cert and Client-Cert-Chain', () => {
    assert.deepEqual(from(PROXY_HEADER_PRESETS.rfc9440, { 'client-cert': `:${der}:`, 'client-cert-chain': `:${caDer}:` }), [...fp, caCert.fingerprint256]);
    assert.deepEqual(from(PROXY_HEADER_PRESETS.rfc9440, { 'client-cert': der }), fp, 'bare base64 DER tolerated');
  });

  test('Envoy XFCC: the last element, Cert= and Chain= (which includes the leaf)', () => {
    const xfcc = `By=spiffe://a;Hash=00;Cert="${encodeURIComponent(readFileSync(ca.cert, 'latin1'))}",By=spiffe://b;Hash=aa;Subject="CN=client-1,O=Demo Devices";Cert="${encodeURIComponent(leafPem)}";Chain="${encodeURIComponent(leafPem + readFileSync(ca.cert, 'latin1'))}"`;
    assert.deepEqual(from(PROXY_HEADER_PRESETS.envoy, { 'x-forwarded-client-cert': xfcc }), [...fp, caCert.fingerprint256]);
  });

  test('Traefik: comma-separated base64 DER, and the URL-escaped form of Traefik < 2.9.4', () => {
    assert.deepEqual(from(PROXY_HEADER_PRESETS.traefik, { 'x-forwarded-tls-client-cert': `${der},${caDer}` }), [...fp, caCert.fingerprint256]);
    assert.deepEqual(from(PROXY_HEADER_PRESETS.traefik, { 'x-forwarded-tls-client-cert': encodeURIComponent(der) }), fp);
  });

  test('Apache: PEM with newlines turned into spaces, and "(null)"', () => {
    const h = { clientCert: 'x-ssl-client-cert', clientCertFormat: 'rfc9440' } as const;
    assert.deepEqual(from(h, { 'x-ssl-client-cert': leafPem.replace(/\n/g, ' ') }), fp);
    assert.deepEqual(from(h, { 'x-ssl-client-cert': '(null)' }), []);
  });

  test('garbage throws (treated as no certificate by tlsFacts)', () => {
    assert.throws(() => from(PROXY_HEADER_PRESETS.rfc9440, { 'client-cert': ':AAAA:' }));
  });

  test('bytes after the certificate, characters outside base64, or a PEM block that is not a certificate throw', () => {
    // OpenSSL's reader (X509Certificate) would take the certificate and ignore what follows.
    const trailing = Buffer.concat([leaf.raw, Buffer.from([0])]);
    assert.throws(() => from(PROXY_HEADER_PRESETS.rfc9440, { 'client-cert': `:${trailing.toString('base64')}:` }), /trailing data after the certificate/);
    assert.throws(() => from(PROXY_HEADER_PRESETS.traefik, { 'x-forwarded-tls-client-cert': Buffer.concat([leaf.raw, leaf.raw]).toString('base64') }), /trailing data/);
    const pemTrailing = `-----BEGIN CERTIFICATE-----\n${trailing.toString('base64')}\n-----END CERTIFICATE-----\n`;
    assert.throws(() => from(PROXY_HEADER_PRESETS.nginx, { 'x-ssl-client-cert': encodeURIComponent(pemTrailing) }), /trailing data/);
    // Buffer.from(…, 'base64') would skip the '!' and decode the rest.
    assert.throws(() => from(PROXY_HEADER_PRESETS.rfc9440, { 'client-cert': `:${der.slice(0, 40)}!${der.slice(40)}:` }), /not base64/);
    const keyBlock = leafPem.replace(/CERTIFICATE/g, 'PRIVATE KEY');
    assert.throws(() => from(PROXY_HEADER_PRESETS.nginx, { 'x-ssl-client-cert': encodeURIComponent(keyBlock) }), /PEM PRIVATE KEY block/);
    // Unpadded base64 is still read (RFC 8941 §4.2.7).
    assert.deepEqual(from(PROXY_HEADER_PRESETS.rfc9440, { 'client-cert': `:${der.replace(/=+$/, '')}:` }), fp);
  });
});

describe('verifyChain', () => {
  // root → intermediate → leaf, made with the openssl CLI.
  const interKey = pki.key('p256');
  const interCsr = pki.path('inter.csr');
  const interCrt = pki.path('inter.crt');
  openssl(['req', '-new', '-key', interKey, '-subj', '/CN=Test Intermediate', '-out', interCsr]);
  writeFileSync(pki.path('inter.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\n');
  openssl(['x509', '-req', '-in', interCsr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '30', '-extfile', pki.path('inter.ext'), '-out', interCrt]);
  const inter = new X509Certificate(readFileSync(interCrt));
  const subLeafFiles = pki.clientCert({ cert: interCrt, key: interKey });
  const subLeaf = new X509Certificate(readFileSync(subLeafFiles.cert));
  const other = new X509Certificate(readFileSync(pki.ca('p256', '/CN=Other').cert));
  const serverLeaf = new X509Certificate(readFileSync(pki.serverCert(ca).cert));
  const day = 86_400_000;

  test('a certificate issued by an anchor verifies; by another CA it does not', async () => {
    assert.equal((await verifyChain(leaf, [], [caCert])).ok, true);
    assert.deepEqual(await verifyChain(leaf, [], [other]), { ok: false, reason: 'client certificate does not chain to a trusted CA' });
    assert.deepEqual(await verifyChain(leaf, [], []), { ok: false, reason: 'no trust anchors configured' });
  });

  test('validity dates are checked', async () => {
    assert.deepEqual(await verifyChain(leaf, [], [caCert], Date.now() + 60 * day), { ok: false, reason: 'client certificate is expired or not yet valid' });
    assert.deepEqual(await verifyChain(leaf, [], [caCert], Date.now() - 2 * day), { ok: false, reason: 'client certificate is expired or not yet valid' });
  });

  test('intermediates presented with the leaf are used; a missing one fails', async () => {
    assert.equal((await verifyChain(subLeaf, [inter], [caCert])).ok, true);
    assert.equal((await verifyChain(subLeaf, [], [caCert])).ok, false);
    // A non-CA certificate cannot act as an intermediate.
    assert.equal((await verifyChain(subLeaf, [leaf], [caCert])).ok, false);
  });

  test('a serverAuth-only certificate is not a client certificate', async () => {
    assert.deepEqual(await verifyChain(serverLeaf, [], [caCert]), { ok: false, reason: 'client certificate extendedKeyUsage does not allow clientAuth' });
  });
});

describe('tls-exporter from an exporter secret (HAProxy ssl_fc_exporter_secret)', () => {
  const server = pki.serverCert(ca);
  for (const cipher of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']) {
    test(`equals exportKeyingMaterial(32, 'EXPORTER-Channel-Binding') with ${cipher}`, async () => {
      const srv = createServer({ cert: readFileSync(server.cert), key: readFileSync(server.key), minVersion: 'TLSv1.3', ciphers: cipher }, (s) => s.end());
      await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
      const secret = await new Promise<{ secret: Buffer; ekm: Buffer; cipher: string }>((resolve, reject) => {
        const lines: string[] = [];
        const s = connect({ port: (srv.address() as AddressInfo).port, host: '127.0.0.1', ca: readFileSync(ca.cert), servername: 'localhost', ciphers: cipher });
        s.on('keylog', (l: Buffer) => lines.push(l.toString()));
        s.once('secureConnect', () => {
          const line = lines.find((l) => l.startsWith('EXPORTER_SECRET '))!;
          resolve({ secret: Buffer.from(line.trim().split(' ')[2]!, 'hex'), ekm: s.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0)), cipher: s.getCipher().standardName });
          s.destroy();
        });
        s.once('error', reject);
      });
      srv.close();
      assert.equal(secret.cipher, cipher);
      assert.deepEqual(tlsExporterFromSecret(secret.secret, secret.cipher), secret.ekm);
      assert.equal(tlsExporterFromSecret(secret.secret, 'ECDHE-RSA-AES128-GCM-SHA256x'), undefined);
      assert.equal(tlsExporterFromSecret(secret.secret.subarray(1), secret.cipher), undefined);
    });
  }

  test('strictBase64 accepts canonical base64 only', () => {
    assert.deepEqual(strictBase64('+rrCir/7+EYu50T4'), Buffer.from('+rrCir/7+EYu50T4', 'base64'));
    for (const bad of ['', '+rrCir/7+EYu50T', '+rrC ir/7+EYu50T4', '-_rCir/7+EYu50T4', 'AB==', 'YQ=']) assert.equal(strictBase64(bad), undefined, bad);
  });
});

describe('checkPop rules', () => {
  const facts = (protocol: string, tlsUnique?: Buffer, tlsExporter?: Buffer): TlsFacts => ({
    source: 'socket',
    protocol,
    clientCertificateVerified: false,
    bindings: { ...(tlsUnique ? { tlsUnique } : {}), ...(tlsExporter ? { tlsExporter } : {}) },
    peerAddress: '127.0.0.1',
  });
  const u = Buffer.from('0123456789ab');
  const x = Buffer.alloc(32, 1);
  const csr = (o: Parameters<typeof buildCsr>[1]) => parseCsr(buildCsr(keyOf('p256'), o));

  test('TLS 1.2 expects tls-unique only; TLS 1.3 tls-exporter, plus Finished only with the option', () => {
    assert.deepEqual(expectedBindings(facts('TLSv1.2', u, x), false), [u.toString('base64')]);
    assert.deepEqual(expectedBindings(facts('TLSv1.3', u, x), false), [x.toString('base64')]);
    assert.deepEqual(expectedBindings(facts('TLSv1.3', u, x), true), [x.toString('base64'), u.toString('base64')]);
  });

  test('codes: missing, mismatch, unavailable; pop off ignores challengePassword', () => {
    assert.throws(() => checkPop(csr({}), facts('TLSv1.2', u), true, false), { status: 400, code: 'ERR_EST_POP_MISSING' });
    assert.throws(() => checkPop(csr({ challengePassword: 'AAAAAAAAAAAAAAAA' }), facts('TLSv1.2', u), true, false), { status: 400, code: 'ERR_EST_POP_MISMATCH' });
    assert.throws(() => checkPop(csr({ challengePassword: u.toString('base64') + ' ' }), facts('TLSv1.2', u), true, false), { code: 'ERR_EST_POP_MISMATCH' });
    assert.throws(() => checkPop(csr({ challengePassword: u.toString('base64') }), facts('TLSv1.2'), true, false), { status: 400, code: 'ERR_EST_POP_UNAVAILABLE' });
    checkPop(csr({ challengePassword: u.toString('base64') }), facts('TLSv1.2', u), true, false);
    checkPop(csr({ challengePassword: 'anything' }), facts('TLSv1.2', u), false, false);
    checkPop(csr({}), facts('TLSv1.2'), false, false);
  });
});
