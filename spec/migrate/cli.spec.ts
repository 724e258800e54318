// est-migrate CLI: exit codes 0/1/2, --check, refusing to overwrite, --force, running from the repo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../../lib/cli/est-migrate.js';

const REPO = resolve(import.meta.dirname, '../..');
const GOOD = `http { server { listen 8443 ssl; ssl_certificate /s.crt; ssl_certificate_key /s.key;
  location /.well-known/est { est on; est_ca_root_certificate /ca.crt; est_ca_private_key /ca.key; }
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
  assert.equal(JSON.parse(readFileSync(join(dir, 'app/package.json'), 'utf8')).dependencies['express-est'], `^${JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version}`);
});

test('--check: exit 0, prints the report, writes nothing', () => {
  const { dir, conf } = setup(GOOD);
  const r = cli([conf, '--check', '-o', join(dir, 'app')]);
  assert.equal(r.code, 0);
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

test('runs from the repository with node --import tsx lib/cli/est-migrate.ts', () => {
  const { conf } = setup(GOOD);
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(REPO, 'lib/cli/est-migrate.ts'), conf, '--check', '-q'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(out, '');
  assert.throws(() => execFileSync(process.execPath, ['--import', 'tsx', join(REPO, 'lib/cli/est-migrate.ts')], { cwd: REPO, stdio: 'pipe' }), (e: { status: number }) => e.status === 2);
});
