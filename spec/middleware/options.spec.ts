// est() option validation: every bad option fails at creation, naming the option and its directive.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import { est, EstConfigError } from '../../lib/index.js';
import { TestPki } from '../helpers/pki.js';

const pki = new TestPki();
const ca = pki.ca('p256');
after(() => pki.cleanup());
const base = { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial };

function fails(options: unknown, message: string | RegExp): void {
  assert.throws(() => est(options as never), (e: unknown) => {
    assert.ok(e instanceof EstConfigError, String(e));
    assert.equal(e.code, 'ERR_EST_CONFIG');
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

describe('est() options', () => {
  it('accepts paths, PEM strings, Buffers and a KeyObject', () => {
    est(base).close();
    est({ caRootCertificate: readFileSync(ca.cert, 'latin1'), caPrivateKey: createPrivateKey(readFileSync(ca.key)), caSerialNumber: ca.serial }).close();
    est({ caRootCertificate: readFileSync(ca.cert), caPrivateKey: readFileSync(ca.key), caSerialNumber: ca.serial, rootCertificate: readFileSync(ca.cert) }).close();
  });
  it('rejects bad values with the option and directive named', () => {
    fails({ ...base, caValidityDays: -3 }, 'est: `caValidityDays` (est_ca_validity_days) must be a positive integer up to 36500 (got -3)');
    fails({ ...base, caValidityDays: '30' }, 'est: `caValidityDays` (est_ca_validity_days) must be a positive integer up to 36500 (got "30")');
    fails({ ...base, pop: 'on' }, 'est: `pop` (est_pop) must be true or false (got "on")');
    fails({ ...base, authRequest: '/est-auth' }, /^est: `authRequest` \(est_auth_request\) must be an absolute http\(s\) URL/);
    fails({ ...base, authRequest: 'ftp://x/' }, 'est: `authRequest` (est_auth_request) must be an http or https URL (got ftp:)');
    fails({ caPrivateKey: ca.key }, 'est: `caRootCertificate` (est_ca_root_certificate) is required (or pass a custom `ca`)');
    fails({ caRootCertificate: ca.cert }, 'est: `caPrivateKey` (est_ca_private_key) is required (or pass a custom `ca`)');
    fails({ ...base, caRootCertificate: '/nonexistent/ca.crt' }, 'est: `caRootCertificate` (est_ca_root_certificate) cannot read /nonexistent/ca.crt: ENOENT');
    fails({ ...base, csrAttrs: pki.write('notattrs.der', Buffer.from([1, 2, 3])) }, /^est: `csrAttrs` \(est_csr_attrs\) is not a DER CsrAttrs SEQUENCE/);
    fails({ ...base, rootCertificate: pki.write('empty.pem', 'hello') }, /^est: `rootCertificate` \(est_root_certificate\) certificate #1 in .* cannot be parsed/);
    fails({ caRootCertificate: readFileSync(ca.cert, 'latin1'), caPrivateKey: ca.key }, /^est: `caSerialNumber` \(est_ca_serial_number\) is required when caRootCertificate is given as content/);
  });
  it('rejects unknown options with a did-you-mean', () => {
    fails({ ...base, caValidityDay: 3 }, 'est: unknown option `caValidityDay` (did you mean `caValidityDays`?)');
    fails({ ...base, est_pop: true }, 'est: unknown option `est_pop` (did you mean `pop`?)');
    fails({ ...base, colour: 1 }, 'est: unknown option `colour`');
  });
  it('rejects a key that does not match the certificate, and a non-CA certificate', () => {
    const other = pki.ca('p256');
    fails({ ...base, caPrivateKey: other.key }, /^est: `caPrivateKey` \(est_ca_private_key\): .*key/i);
    const leaf = pki.clientCert(ca);
    fails({ caRootCertificate: leaf.cert, caPrivateKey: leaf.key, caSerialNumber: ca.serial }, /^est: `caRootCertificate` \(est_ca_root_certificate\): .*CA/);
  });
  it('validates the trusted-proxy and custom-CA options', () => {
    fails({ ...base, trustProxy: 'not-an-ip' }, 'est: `trustProxy` entry "not-an-ip" is not an IP address or CIDR');
    fails({ ...base, proxyHeaders: 'apache2' }, /^est: `proxyHeaders` must be one of nginx, haproxy/);
    fails({ ca: { enroll() {} } }, 'est: `ca` must implement cacerts() and enroll() (CertificateAuthority)');
    fails({ ca: { cacerts: () => [], enroll() {} }, caPrivateKey: ca.key }, 'est: `caPrivateKey` (est_ca_private_key) cannot be combined with `ca` (the custom CA signs)');
    fails({ ...base, serialMode: 'fast' }, `est: \`serialMode\` must be 'sequential' or 'random' (got "fast")`);
  });
});
