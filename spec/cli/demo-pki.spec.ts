// The demo PKI: a root from the profile's root builder, a TLS certificate through the file CA's profile; checked with openssl.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createDemoCa, createDemoServerCert } from '../../lib/cli/demo-pki.js';
import { toPem } from '../../lib/protocol/pem.js';

test('demo CA and server certificate: openssl verifies them for TLS server use, with the expected extensions', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'demo-pki-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await createDemoCa();
  const server = await createDemoServerCert(ca, ['localhost', '127.0.0.1', '2001:db8::7']);
  const caPath = join(dir, 'ca.pem');
  const srvPath = join(dir, 'server.pem');
  writeFileSync(caPath, toPem(ca.certDer, 'CERTIFICATE'));
  writeFileSync(srvPath, toPem(server.certDer, 'CERTIFICATE'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  assert.match(openssl('verify', '-CAfile', caPath, '-purpose', 'sslserver', srvPath), /: OK/);
  const caText = openssl('x509', '-in', caPath, '-noout', '-text');
  assert.match(caText, /Basic Constraints: critical\s+CA:TRUE/);
  assert.match(caText, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
  const srvText = openssl('x509', '-in', srvPath, '-noout', '-text');
  assert.match(srvText, /Subject: O ?= ?express-est demo, CN ?= ?localhost/);
  assert.match(srvText, /Basic Constraints: critical\s+CA:FALSE/);
  assert.match(srvText, /TLS Web Server Authentication/);
  assert.match(srvText, /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:2001:DB8:0:0:0:0:0:7/);
  assert.ok(server.key.asymmetricKeyType === 'ec');
});
