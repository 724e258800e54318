// est-migrate planning: directive mapping, inheritance, labels, auth-request resolution, refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, NginxConfigError, type MigrationPlan } from '../../lib/migrate/index.js';

function conf(text: string): string {
  const d = mkdtempSync(join(tmpdir(), 'est-migrate-an-'));
  writeFileSync(join(d, 'nginx.conf'), text);
  return join(d, 'nginx.conf');
}

const CA = `
      est_ca_root_certificate /pki/ca.crt;
      est_ca_private_key /pki/ca.key;`;

function opts(plan: MigrationPlan, path: string): Record<string, unknown> {
  const e = plan.servers.flatMap((s) => s.endpoints).find((x) => x.path === path);
  assert.ok(e, `endpoint ${path}`);
  return Object.fromEntries(e.options.map((o) => [o.key, o.value]));
}

test('labels: one endpoint per est location, longest path mounted first; nested locations inherit, est on does not', () => {
  const { plan } = migrate(conf(`http { server {
    listen 8443 ssl;
    ssl_certificate certs/server.crt;
    ssl_certificate_key certs/server.key;
    location /.well-known/est {
      est on;${CA}
      est_ca_validity_days 7;
      location /.well-known/est/rfc {
        est on;
        est_csr_attrs /pki/rfc.der;
      }
      location /.well-known/est/off {
        est_pop on;
      }
    }
  } }`));
  assert.ok(plan.ok, JSON.stringify(plan.items.filter((i) => i.kind === 'error')));
  const [server] = plan.servers;
  assert.deepEqual(server!.endpoints.map((e) => e.path), ['/.well-known/est/rfc', '/.well-known/est']);
  assert.deepEqual(opts(plan, '/.well-known/est/rfc'), {
    csrAttrs: '/pki/rfc.der',
    caRootCertificate: '/pki/ca.crt',
    caPrivateKey: '/pki/ca.key',
    caSerialNumber: '/pki/ca.srl',
    caValidityDays: 7,
  });
  const inherited = plan.items.filter((i) => i.kind === 'inherited' && i.scope.startsWith('location /.well-known/est/rfc'));
  assert.deepEqual(inherited.map((i) => i.directive).sort(), ['est_ca_private_key', 'est_ca_root_certificate', 'est_ca_validity_days']);
  assert.match(inherited[0]!.text, /from location \/\.well-known\/est/);
  // the nested location without `est on` is no endpoint; the serial default is derived like the module
  assert.ok(!plan.servers[0]!.endpoints.some((e) => e.path.endsWith('/off')));
  assert.ok(plan.items.some((i) => i.kind === 'default' && i.directive === 'est_ca_serial_number' && i.text.includes('/pki/ca.srl')));
  // ssl files resolve against the conf prefix; ssl_verify_client off: no client-cert options
  assert.match(server!.ssl.find((s) => s.name === 'ssl_certificate')!.args[0]!, /^\/.*\/certs\/server\.crt$/);
  assert.equal(server!.verifyClient, 'off');
  assert.equal(opts(plan, '/.well-known/est').trustProxy, undefined);
});

test('server-level ssl_* inherit from http; client certs give trustAnchors, trustProxy and the nginx header preset', () => {
  const { plan, files } = migrate(conf(`http {
    ssl_client_certificate /pki/clients.crt;
    ssl_verify_client optional;
    ssl_protocols TLSv1.2 TLSv1.3;
    server { listen 443 ssl; ssl_certificate /s.crt; ssl_certificate_key /s.key; ssl_protocols TLSv1.3;
      location /.well-known/est { est on;${CA} }
    }
  }`), { backendPorts: [9100] });
  assert.ok(plan.ok);
  const s = plan.servers[0]!;
  assert.equal(s.mode, 'proxy');
  assert.equal(s.backendPort, 9100);
  assert.deepEqual(s.ssl.map((x) => `${x.name} ${x.args.join(' ')}`), [
    'ssl_client_certificate /pki/clients.crt',
    'ssl_verify_client optional',
    'ssl_certificate /s.crt',
    'ssl_certificate_key /s.key',
    'ssl_protocols TLSv1.3',
  ]);
  const o = opts(plan, '/.well-known/est');
  assert.equal(o.trustAnchors, '/pki/clients.crt');
  assert.equal(o.trustProxy, 'loopback');
  assert.equal(o.proxyHeaders, 'nginx');
  assert.equal(o.authRequest, undefined);
  const front = files!.get('nginx/est-servers.conf')!;
  assert.match(front, /proxy_set_header X-SSL-Client-Cert \$ssl_client_escaped_cert;/);
  // Like examples/behind-nginx: the client address reaches the app (trustProxy) for logs and records.
  assert.match(front, /proxy_set_header X-Forwarded-For \$remote_addr;/);
  assert.match(front, /server 127\.0\.0\.1:9100;/);
  assert.match(front, /ssl_protocols TLSv1\.3;/);
  assert.ok(plan.items.some((i) => i.kind === 'inherited' && i.directive === 'ssl_client_certificate'));
});

test('est_auth_request resolves through exact, prefix and upstream locations', () => {
  const { plan } = migrate(conf(`http {
    upstream auth { server 10.0.0.5:7000; server 10.0.0.6:7000; }
    server { listen 80;
      location /.well-known/est/a { est on; est_auth_request /est-auth;${CA} }
      location /.well-known/est/b { est on; est_auth_request /auth/b?x=1;${CA} }
      location /.well-known/est/c { est on; est_auth_request /up/c;${CA} }
      location = /est-auth { internal; proxy_pass http://127.0.0.1:9000/check; proxy_pass_request_body off; proxy_set_header Content-Length ""; proxy_read_timeout 2s; }
      location /auth/ { internal; proxy_pass http://127.0.0.1:9001/v1/; proxy_set_header X-Tenant acme; }
      location /up/ { proxy_pass http://auth; }
    }
  }`));
  assert.ok(plan.ok);
  assert.equal(opts(plan, '/.well-known/est/a').authRequest, 'http://127.0.0.1:9000/check');
  assert.equal(opts(plan, '/.well-known/est/a').authRequestTimeout, 2000);
  assert.equal(opts(plan, '/.well-known/est/b').authRequest, 'http://127.0.0.1:9001/v1/b?x=1');
  assert.equal(opts(plan, '/.well-known/est/c').authRequest, 'http://10.0.0.5:7000/up/c');
  const unmapped = plan.items.filter((i) => i.kind === 'unmapped').map((i) => i.directive);
  assert.ok(unmapped.includes('proxy_set_header'), 'X-Tenant header reported');
  assert.ok(unmapped.includes('upstream'), 'second upstream server reported');
  // the auth locations are folded into authRequest, not reported as lost
  assert.ok(!plan.items.some((i) => i.kind === 'unmapped' && i.directive === 'location' && i.text.includes('est-auth')));
});

test('est_auth_request that cannot be resolved is an error with a way out', () => {
  const path = conf(`http { server { listen 80;
    location /.well-known/est { est on; est_auth_request /nowhere;${CA} }
    location = /nowhere-else { return 200; }
  } }`);
  const r = migrate(path);
  assert.equal(r.plan.ok, false);
  assert.equal(r.files, undefined);
  const err = r.plan.items.find((i) => i.kind === 'error')!;
  assert.equal(err.directive, 'est_auth_request');
  assert.match(err.action!, /--auth-url \/nowhere=/);
  const fixed = migrate(path, { authUrls: { '/nowhere': 'http://127.0.0.1:9000/ok' } });
  assert.ok(fixed.plan.ok);
  assert.equal(opts(fixed.plan, '/.well-known/est').authRequest, 'http://127.0.0.1:9000/ok');
});

test('est_pop on: the server becomes stream pass-through to the app\'s own TLS server', () => {
  const { plan, files } = migrate(conf(`http { server {
    listen 443 ssl; listen 80;
    ssl_certificate /s.crt; ssl_certificate_key /s.key; ssl_client_certificate /c.crt; ssl_verify_client optional;
    ssl_protocols TLSv1 TLSv1.2 TLSv1.3; ssl_stapling on;
    location /.well-known/est { est on; est_pop on;${CA} }
    location / { root html; }
  } }`), { streamModule: '/mods/ngx_stream_module.so' });
  assert.ok(plan.ok);
  const s = plan.servers[0]!;
  assert.equal(s.mode, 'stream');
  assert.deepEqual(s.tls, { cert: '/s.crt', key: '/s.key', ca: '/c.crt', requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
  const o = opts(plan, '/.well-known/est');
  assert.equal(o.pop, true);
  assert.equal(o.trustProxy, undefined, 'facts come from the socket');
  assert.equal(o.popAcceptTls13Finished, true);
  assert.equal(files!.has('nginx/est-servers.conf'), false);
  assert.match(files!.get('nginx/est-stream.conf')!, /listen 443;\n    proxy_pass est_app_1_tls;/);
  assert.match(files!.get('nginx/nginx.conf')!, /^load_module \/mods\/ngx_stream_module\.so;$/m);
  assert.match(files!.get('app.ts')!, /https\.createServer\(/);
  const unmapped = plan.items.filter((i) => i.kind === 'unmapped').map((i) => `${i.directive}: ${i.text}`).join('\n');
  for (const re of [/^ssl_stapling:/m, /^ssl_protocols:/m, /^listen: 80: plain HTTP cannot carry PoP/m, /^location: \/: not an EST location/m]) assert.match(unmapped, re);
});

test('what nginx -t refuses is refused with file:line', () => {
  for (const [text, message] of [
    ['http { server { est_pop on; } }', '"est_pop" directive is not allowed here in nginx.conf:1'],
    ['http { server { location / { est on;\n est on; } } }', '"est" directive is duplicate in nginx.conf:2'],
    ['http { server { location / {\n est yes; } } }', 'invalid value "yes" in "est" directive, it must be "on" or "off" in nginx.conf:2'],
    ['http { server { location / { est on; est_ca_validity_days\n 3d; } } }', 'invalid number "3d" in "est_ca_validity_days" directive in nginx.conf:1'],
    ['http { server { location / { est_csr_attrs a b; } } }', 'invalid number of arguments in "est_csr_attrs" directive in nginx.conf:1'],
    ['http { server { ssl_verify_client optional; location / { est on; } } }', 'no ssl_client_certificate for ssl_verify_client in nginx.conf:1'],
  ] as const) {
    assert.throws(() => migrate(conf(text)), (e: Error) => e instanceof NginxConfigError && e.message === message, message);
  }
});

test('conversion problems are report errors, and nothing is generated', () => {
  for (const [text, directive] of [
    ['http { server { location / { root x; } } }', 'est'],
    ['http { server { location ~ ^/est { est on;' + CA + ' } } }', 'est'],
    ['http { server { location /.well-known/est { est on; est_ca_root_certificate /ca.crt; } } }', 'est_ca_private_key'],
    ['http { server { location /.well-known/est { est on; est_ca_private_key $k;' + ' est_ca_root_certificate /ca.crt; } } }', 'est_ca_private_key'],
  ] as const) {
    const r = migrate(conf(text));
    assert.equal(r.plan.ok, false, text);
    assert.equal(r.files, undefined);
    assert.equal(r.plan.items.find((i) => i.kind === 'error')!.directive, directive, text);
    assert.match(r.report, /Cannot convert: \d+ errors?\. Nothing was written\./);
  }
});

test('the report lists behaviour changes that apply to each endpoint', () => {
  const { report } = migrate(conf(`http { server { listen 80;
    location /.well-known/est { est on;${CA} }
    location /.well-known/est/attrs { est on; est_csr_attrs /a.der;${CA} }
  } }`));
  assert.match(report, /\*\*Certificate profile allow-list\*\*: /);
  assert.match(report, /\*\*\/serverkeygen key type and layout\*\*: /);
  assert.match(report, /\*\*\/csrattrs served verbatim\*\* \(\/\.well-known\/est\/attrs\): /);
  assert.doesNotMatch(report, /Proof-of-possession/);
  assert.doesNotMatch(report, /Any auth scheme/);
});
