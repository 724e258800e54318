// est-migrate CLI: exit codes 0/1/2, --check, refusing to overwrite, --force, running from the repo.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../../lib/cli/est-migrate.js';
import { TestPki } from '../helpers/pki.js';

const REPO = resolve(import.meta.dirname, '../..');
const GOOD = `http { server { listen 8443 ssl; ssl_certificate /s.crt; ssl_certificate_key /s.key;
  location /.well-known/est { est on; est_ca_root_certificate /ca.crt; est_ca_private_key /ca.key; }
} }
`;

const pki = new TestPki();
const ca = pki.ca('p256');
const otherCa = pki.ca('p256', '/CN=Other CA');
const tlsCert = pki.serverCert(ca);
after(() => pki.cleanup());
/** A config whose files all exist (a real CA, key, TLS certificate). */
const REAL = (extra = '') => `http { server { listen 8443 ssl; ssl_certificate ${tlsCert.cert}; ssl_certificate_key ${tlsCert.key};
  location /.well-known/est { est on; est_ca_root_certificate ${ca.cert}; est_ca_private_key ${ca.key}; est_ca_serial_number ${pki.path('ca.srl')};${extra} }
} }
`;

function setup(text: string): { dir: string; conf: string } {
  const dir = mkdtempSync(join(tmpdir(), 'est-migrate-cli-'));
  writeFileSync(join(dir, 'nginx.conf'), text);
  return { dir, conf: join(dir, 'nginx.conf') };
}

function cli(args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

test('converts: exit 0, the files, the report on stdout', () => {
  const { dir, conf } = setup(GOOD);
  const r = cli([conf, '-o', join(dir, 'app'), '--backend-port', '9000']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(readdirSync(join(dir, 'app')).sort(), ['MIGRATION.md', 'app.js', 'app.ts', 'nginx', 'package.json']);
  assert.deepEqual(readdirSync(join(dir, 'app/nginx')).sort(), ['est-servers.conf', 'nginx.conf']);
  assert.match(r.out, /^# est-migrate report for /);
  assert.match(readFileSync(join(dir, 'app/app.js'), 'utf8'), /app1\.use\('\/\.well-known\/est', est1_1\);/);
  // Run from a checkout: the app depends on that very folder (it is on no registry), and says so.
  assert.equal(JSON.parse(readFileSync(join(dir, 'app/package.json'), 'utf8')).dependencies['express-est'], `file:${realpathSync(REPO)}`);
  assert.match(readFileSync(join(dir, 'app/MIGRATION.md'), 'utf8'), /## Installing\n\nexpress-est from the folder est-migrate ran from \(.*\), as a `file:` dependency/);
});

test('--check: exit 0, prints the report, writes nothing', () => {
  const { dir, conf } = setup(REAL());
  const r = cli([conf, '--check', '-o', join(dir, 'app')]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /the files named by .* are usable/);
  assert.match(r.out, /mapped: `est` on → app\.use\('\/\.well-known\/est'/);
  assert.equal(existsSync(join(dir, 'app')), false);
});

test('never overwrites without --force (exit 1, nothing written), and does with it', () => {
  const { dir, conf } = setup(GOOD);
  const out = join(dir, 'app');
  assert.equal(cli([conf, '-o', out]).code, 0);
  writeFileSync(join(out, 'app.ts'), '// mine\n');
  const again = cli([conf, '-o', out]);
  assert.equal(again.code, 1);
  assert.match(again.err, /refusing to overwrite .*app\.ts.* \(use --force\); nothing written/);
  assert.equal(readFileSync(join(out, 'app.ts'), 'utf8'), '// mine\n');
  assert.equal(cli([conf, '-o', out, '--force']).code, 0);
  assert.notEqual(readFileSync(join(out, 'app.ts'), 'utf8'), '// mine\n');
});

test('cannot convert: exit 1, the report with errors on stderr, nothing written', () => {
  const { dir, conf } = setup('http { server { location /.well-known/est { est on; est_auth_request /missing; est_ca_root_certificate /c; est_ca_private_key /k; } } }');
  for (const extra of [[], ['--check']]) {
    const r = cli([conf, '-o', join(dir, 'app'), ...extra]);
    assert.equal(r.code, 1);
    assert.match(r.err, /ERROR: `est_auth_request` \/missing: no location in this server matches it \(nginx\.conf:1\)\n {4}→ what to do: pass --auth-url \/missing=http:\/\/host:port\/path/);
    assert.equal(existsSync(join(dir, 'app')), false);
  }
});

test('syntax errors and usage errors: exit 2 with file:line', () => {
  const { dir, conf } = setup('http {\n  server {\n    location / { est on }\n  }\n}\n');
  const r = cli([conf, '-o', join(dir, 'app')]);
  assert.equal(r.code, 2);
  assert.equal(r.err, 'est-migrate: unexpected "}" after "est", expecting ";" in nginx.conf:3\n');
  assert.equal(cli([join(dir, 'absent.conf')]).code, 2);
  assert.equal(cli([]).code, 2);
  assert.equal(cli([conf, '--bogus']).code, 2);
  assert.equal(cli([conf, '--backend-port', 'x']).code, 2);
  assert.equal(cli([conf, '--auth-url', 'nope']).code, 2);
  const help = cli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /^Usage: est-migrate <nginx\.conf>/);
});

test('--check opens the files like nginx -t: missing, mismatched key, malformed csrattrs, unreadable serial file, TLS files', () => {
  const cases: Array<[string, RegExp]> = [
    [GOOD, /check failed: location \/\.well-known\/est \(.*nginx\.conf:2\): est: `caRootCertificate` \(est_ca_root_certificate\) cannot read \/ca\.crt: ENOENT/],
    [REAL().replace(`est_ca_private_key ${ca.key}`, `est_ca_private_key ${otherCa.key}`), /check failed: .*`caPrivateKey` \(est_ca_private_key\).*does not match the CA certificate/],
    [REAL(` est_csr_attrs ${pki.write('bad.der', 'not DER at all')};`), /check failed: .*`csrAttrs` \(est_csr_attrs\) is not a DER CsrAttrs SEQUENCE \(.*bad\.der\)/],
    [REAL().replace(`est_ca_serial_number ${pki.path('ca.srl')}`, `est_ca_serial_number ${pki.write('garbage.srl', 'zz\n')}`), /check failed: .*caSerialNumber.*garbage\.srl/],
    [REAL(' est_pop on;').replace(tlsCert.key, '/no/such/server.key'), /check failed: server at .*: ssl_certificate_key \/no\/such\/server\.key: ENOENT/],
  ];
  for (const [text, expected] of cases) {
    const { dir, conf } = setup(text);
    const r = cli([conf, '--check', '-o', join(dir, 'app')]);
    assert.equal(r.code, 1, `${expected}: ${r.err}`);
    assert.match(r.err, expected);
  }
});

test('unknown est_* directives stop the conversion with file:line (exit 1) unless --allow-unknown', () => {
  for (const bad of ['est_verify_client on;', 'est_http on;', 'est_pops on;']) {
    const { dir, conf } = setup(REAL(`\n    ${bad}`));
    const r = cli([conf, '-o', join(dir, 'app')]);
    const name = bad.split(' ')[0]!;
    assert.equal(r.code, 1, bad);
    assert.match(r.err, new RegExp(`est-migrate: .*nginx\\.conf:3: ${name} unknown directive`));
    assert.equal(existsSync(join(dir, 'app')), false);
    const ok = cli([conf, '-o', join(dir, 'app'), '--allow-unknown']);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.err, new RegExp(`est-migrate: warning: .*nginx\\.conf:3: \`${name}\` unknown directive, ignored`));
    assert.match(readFileSync(join(dir, 'app/MIGRATION.md'), 'utf8'), new RegExp(`NOT MAPPED: \`${name}\``));
  }
  const { conf } = setup(REAL('\n    est_pops on;'));
  assert.match(cli([conf, '--check']).err, /did you mean `est_pop`\?/);
});

test('NOT MAPPED items are warnings on stderr too', () => {
  const { dir, conf } = setup(REAL() + `http { server { listen 9443 ssl; ssl_certificate ${tlsCert.cert}; ssl_certificate_key ${tlsCert.key};
    location /other { est_pop on; } location /.well-known/est { est on; est_ca_root_certificate ${ca.cert}; est_ca_private_key ${ca.key}; } } }\n`);
  const r = cli([conf, '-o', join(dir, 'app'), '-q']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, '');
  assert.match(r.err, /est-migrate: warning: .*nginx\.conf:5: `est` location \/other sets est_\* directives without `est on`/);
});

test('runs from the repository with node --import tsx lib/cli/est-migrate.ts', () => {
  const { conf } = setup(REAL());
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(REPO, 'lib/cli/est-migrate.ts'), conf, '--check', '-q'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(out, '');
  assert.throws(() => execFileSync(process.execPath, ['--import', 'tsx', join(REPO, 'lib/cli/est-migrate.ts')], { cwd: REPO, stdio: 'pipe' }), (e: { status: number }) => e.status === 2);
});

test('stream pass-through: MIGRATION.md says which TLS versions the app offers where nginx offered others', () => {
  const { dir, conf } = setup(REAL(' est_pop on;').replace('ssl_certificate_key', 'ssl_protocols TLSv1.1 TLSv1.2; ssl_certificate_key'));
  assert.equal(cli([conf, '-o', join(dir, 'app'), '-q']).code, 0);
  assert.match(readFileSync(join(dir, 'app/MIGRATION.md'), 'utf8'), /TLS versions: the app offers TLSv1\.2; nginx offered TLSv1\.1 TLSv1\.2 \(ssl_protocols\): clients limited to TLSv1\.1 can no longer connect/);
  const { dir: d2, conf: c2 } = setup(REAL(' est_pop on;'));
  assert.equal(cli([c2, '-o', join(d2, 'app'), '-q']).code, 0);
  assert.match(readFileSync(join(d2, 'app/MIGRATION.md'), 'utf8'), /TLS versions: the app offers TLSv1\.2 TLSv1\.3; nginx offered its default/);
});
