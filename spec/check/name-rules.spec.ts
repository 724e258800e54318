// Every CSR class, good and bad, through a real server: bad names get a 400 naming the rule; whatever is issued parses and verifies with openssl.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { TestPki, openssl, pkcs7Certs, verifyCert, x509Text } from '../helpers/pki.js';
import { b64lines, fetchRaw } from '../helpers/http.js';
import { startEstServer, type Running } from '../helpers/servers.js';
import { CN, craftCsr, ext, ia5, name, O, p256, printable, rdn, SAN, seq, set, tlv, oid, utf8 } from '../helpers/craft.js';
import { est } from '../../lib/index.js';

const pki = new TestPki();
const ca = pki.ca('p256', '/CN=Name Rules CA/O=express-est tests');
const serverCert = pki.serverCert(ca);
const client = pki.clientCert(ca);
let srv: Running;

before(async () => {
  srv = await startEstServer(pki, { ca: ca.cert, serverCert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, maxSubjectAltNames: 20 });
});
after(async () => {
  await srv.close();
  pki.cleanup();
});

const key = p256();
const rsaE3 = (() => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 });
  return { privateKey, spki: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })) };
})();
const subject = name(rdn(CN, utf8('device-1')), rdn(O, utf8('Demo')));
const san = (...names: Uint8Array[]) => ext(SAN, seq(...names));
const dns = (s: string) => tlv(0x82, Buffer.from(s, 'latin1'));

type Class = { name: string; csr: () => Buffer; rule?: RegExp };

const classes: Class[] = [
  // Good: issued, and the certificate must parse and verify.
  { name: 'openssl P-256 CSR with CN and O', csr: () => pki.csr({ keySpec: 'p256' }).der },
  { name: 'openssl RSA-2048 CSR with SANs of every common kind', csr: () => pki.csr({ keySpec: 'rsa2048', exts: ['subjectAltName=DNS:a.example,DNS:*.b.example,IP:192.0.2.1,IP:2001:db8::1,email:x@example.com,URI:https://example.com/x'] }).der },
  { name: 'openssl Ed25519 CSR', csr: () => pki.csr({ keySpec: 'ed25519' }).der },
  { name: 'RSA key with public exponent 3', csr: () => craftCsr({ key: rsaE3, subject }) },
  { name: 'empty subject with a dNSName', csr: () => craftCsr({ key, subject: name(), extensions: [san(dns('only-san.example'))] }) },
  { name: 'CN of exactly 64 characters', csr: () => craftCsr({ key, subject: name(rdn(CN, utf8('c'.repeat(64)))) }) },
  { name: 'multi-valued RDN and an attribute of an unknown type', csr: () => craftCsr({ key, subject: name(set(seq(oid(CN), utf8('a')), seq(oid(O), utf8('b'))), rdn('1.3.6.1.4.1.99999.1', utf8('v'))) }) },
  { name: 'SAN directoryName, otherName (UPN) and registeredID', csr: () => craftCsr({ key, subject, extensions: [san(tlv(0xa4, name(rdn(CN, utf8('dir')))), tlv(0xa0, oid('1.3.6.1.4.1.311.20.2.3'), tlv(0xa0, utf8('u@example'))), tlv(0x88, Uint8Array.of(0x2a, 0x03, 0x04)))] }) },
  // Bad: refused with a reason naming the rule.
  { name: 'RDN that is a SEQUENCE, not a SET', csr: () => craftCsr({ key, subject: name(seq(seq(oid(CN), utf8('x')))) }), rule: /must be a SET/ },
  { name: 'AttributeTypeAndValue with a third field', csr: () => craftCsr({ key, subject: name(set(seq(oid(CN), utf8('x'), utf8('y')))) }), rule: /exactly a type and a value/ },
  { name: 'empty AttributeTypeAndValue', csr: () => craftCsr({ key, subject: name(set(seq())) }), rule: /exactly a type and a value/ },
  { name: 'AttributeTypeAndValue with only an OID', csr: () => craftCsr({ key, subject: name(set(seq(oid(CN)))) }), rule: /exactly a type and a value/ },
  { name: 'empty RelativeDistinguishedName', csr: () => craftCsr({ key, subject: name(set()) }), rule: /empty RelativeDistinguishedName/ },
  { name: 'SAN GeneralName [4] { NULL }', csr: () => craftCsr({ key, subject, extensions: [san(tlv(0xa4, Uint8Array.of(0x05, 0x00)))] }), rule: /directoryName/ },
  { name: 'SAN iPAddress of 3 octets', csr: () => craftCsr({ key, subject, extensions: [san(tlv(0x87, Uint8Array.of(10, 0, 0)))] }), rule: /iPAddress must be 4 or 16 octets/ },
  { name: 'SAN x400Address', csr: () => craftCsr({ key, subject, extensions: [san(tlv(0xa3, seq()))] }), rule: /not accepted/ },
  { name: 'empty subjectAltName', csr: () => craftCsr({ key, subject, extensions: [san()] }), rule: /subjectAltName is empty/ },
  { name: 'NUL inside a CN', csr: () => craftCsr({ key, subject: name(rdn(CN, utf8('evil.example\0.good.example'))) }), rule: /commonName contains a NUL/ },
  { name: 'NUL inside a dNSName (null-prefix trick)', csr: () => craftCsr({ key, subject, extensions: [san(dns('evil.example\0.good.example'))] }), rule: /dNSName contains a NUL/ },
  { name: 'dNSName with a space', csr: () => craftCsr({ key, subject, extensions: [san(dns('a b.example'))] }), rule: /preferred name syntax/ },
  { name: 'CN of 65 characters (RFC 5280 ub-common-name 64)', csr: () => craftCsr({ key, subject: name(rdn(CN, utf8('c'.repeat(65)))) }), rule: /commonName must be 1 to 64 characters/ },
  { name: 'CN of 10,000 characters', csr: () => craftCsr({ key, subject: name(rdn(CN, utf8('c'.repeat(10_000)))) }), rule: /maxSubjectSize/ },
  { name: 'countryName of three letters', csr: () => craftCsr({ key, subject: name(rdn('2.5.4.6', printable('USA'))) }), rule: /countryName must be 2 characters/ },
  { name: 'attribute value that is not a character string', csr: () => craftCsr({ key, subject: name(rdn('1.3.6.1.4.1.99999.1', tlv(0x02, Uint8Array.of(5)))) }), rule: /must be a character string/ },
  { name: 'CN as an IA5String', csr: () => craftCsr({ key, subject: name(rdn(CN, ia5('x'))) }), rule: /wrong string type/ },
  { name: 'UTF8String that is not UTF-8', csr: () => craftCsr({ key, subject: name(rdn(CN, tlv(0x0c, Uint8Array.of(0xc3, 0x28)))) }), rule: /not valid UTF-8/ },
  { name: "subject equal to the CA's own name", csr: () => craftCsr({ key, subject: name(rdn(CN, utf8('Name Rules CA')), rdn(O, utf8('express-est tests'))) }), rule: /CA certificate's name/ },
  { name: "SAN directoryName equal to the CA's name (up to case)", csr: () => craftCsr({ key, subject, extensions: [san(dns('ok.example'), tlv(0xa4, name(rdn(CN, utf8('name rules CA')), rdn(O, utf8('express-est tests')))))] }), rule: /subjectAltName directoryName equals a CA certificate's name/ },
  { name: 'CN BMPString holding a lone surrogate', csr: () => craftCsr({ key, subject: name(rdn(CN, tlv(0x1e, Uint8Array.of(0xd8, 0x00)))) }), rule: /surrogate/ },
  { name: 'SAN directoryName UniversalString holding a surrogate', csr: () => craftCsr({ key, subject, extensions: [san(tlv(0xa4, name(rdn(CN, tlv(0x1c, Uint8Array.of(0, 0, 0xdf, 0xff))))))] }), rule: /directoryName .*surrogate/ },
  { name: "subject equal to the CA's name up to case and spaces", csr: () => craftCsr({ key, subject: name(rdn(CN, printable('name  rules ca')), rdn(O, utf8('Express-EST tests'))) }), rule: /CA certificate's name/ },
  { name: 'a 1,000-RDN subject', csr: () => craftCsr({ key, subject: name(...Array.from({ length: 1000 }, (_, i) => rdn(CN, utf8(`n${i}`)))) }), rule: /maxSubjectSize/ },
  { name: 'more dNSNames than maxSubjectAltNames (20)', csr: () => craftCsr({ key, subject, extensions: [san(...Array.from({ length: 21 }, (_, i) => dns(`h${i}.example`)))] }), rule: /at most 20 are allowed \(maxSubjectAltNames\)/ },
  { name: 'an OID of 101 octets', csr: () => craftCsr({ key, subject, attributes: [seq(tlv(0x06, Uint8Array.of(0x2a, ...Array<number>(99).fill(0x81), 0x01)), set(utf8('v')))] }), rule: /OBJECT IDENTIFIER longer than 100 octets/ },
];

describe('every CSR class: 400 naming the rule, or a certificate openssl parses and verifies', () => {
  for (const c of classes) {
    it(`${c.rule ? 'refused' : 'issued'}: ${c.name}`, async () => {
      const r = await fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10' }, body: b64lines(c.csr()), ...client });
      if (r.status === 200) {
        // Whatever is returned must load and verify against its own CA.
        const pem = pkcs7Certs(r.body);
        x509Text(pem);
        assert.match(verifyCert(ca.cert, pem, pki.dir), /: OK/);
        openssl(['x509', '-noout', '-subject', '-ext', 'subjectAltName'], pem);
      }
      if (c.rule) {
        assert.equal(r.status, 400, `${c.name}: ${r.status} ${r.text}`);
        assert.match(r.text, c.rule);
        assert.equal(r.text.trim().split('\n').length, 1);
      } else {
        assert.equal(r.status, 200, `${c.name}: ${r.status} ${r.text}`);
      }
    });
  }
});

describe('options', () => {
  it('maxSubjectAltNames and maxSubjectSize are validated at start-up with the option named', () => {
    const base = { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial };
    assert.throws(() => est({ ...base, maxSubjectAltNames: 0 }), { code: 'ERR_EST_CONFIG', message: 'est: `maxSubjectAltNames` must be a positive integer up to 10000 (got 0)' });
    assert.throws(() => est({ ...base, maxSubjectSize: 1.5 }), { code: 'ERR_EST_CONFIG', message: 'est: `maxSubjectSize` must be a positive integer up to 65536 (got 1.5)' });
    assert.throws(() => est({ ...base, bodyTimeout: -1 }), { code: 'ERR_EST_CONFIG', message: 'est: `bodyTimeout` must be a positive integer up to 600000 (got -1)' });
  });
});
