// examples/from-nginx stays in sync with est-migrate, and README.md with the directive table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { migrate, renderDirectiveTable, renderReadmeSection, EST_DIRECTIVES } from '../../lib/migrate/index.js';
import { DEBIAN_STREAM_MODULE } from '../../lib/migrate/generate.js';

const REPO = resolve(import.meta.dirname, '../..');
const EXAMPLE = join(REPO, 'examples/from-nginx');

function list(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? list(join(dir, n)) : [join(dir, n)]));
}

test('examples/from-nginx/est-app is what est-migrate writes for examples/from-nginx/nginx.conf', () => {
  const { files, plan } = migrate(join(EXAMPLE, 'nginx.conf'), { source: 'nginx.conf', streamModule: DEBIAN_STREAM_MODULE, packageSpecifier: '../../../lib/index.js' });
  assert.ok(plan.ok && files);
  const out = join(EXAMPLE, 'est-app');
  const onDisk = list(out).map((p) => relative(out, p)).sort();
  assert.deepEqual(onDisk, [...files.keys()].sort(), 'same set of files');
  for (const [name, content] of files) {
    assert.equal(readFileSync(join(out, name), 'utf8'), content, `${name} is stale: regenerate (see examples/from-nginx/README.md)`);
  }
});

test('the directive table names every est_* directive and option once', () => {
  const table = renderDirectiveTable();
  for (const d of EST_DIRECTIVES) {
    assert.equal(table.split(`| \`${d.directive}\` |`).length, 2, d.directive);
    if (d.option) assert.ok(table.includes(`| \`${d.option}\` |`), d.option);
  }
  assert.deepEqual(EST_DIRECTIVES.filter((d) => d.option).map((d) => d.option), [
    'authRequest', 'csrAttrs', 'pop', 'rootCertificate', 'caRootCertificate', 'caPrivateKey', 'caSerialNumber', 'caValidityDays',
  ]);
});

test('README.md\'s "Migrating from nginx-http-est" section matches the directive table', (t) => {
  const readme = existsSync(join(REPO, 'README.md')) ? readFileSync(join(REPO, 'README.md'), 'utf8') : '';
  void t;
  assert.ok(readme.includes('## Migrating from nginx-http-est'), 'README.md lacks the "Migrating from nginx-http-est" section');
  assert.ok(readme.includes(renderDirectiveTable()), 'README directive table differs from lib/middleware/directives.ts (renderDirectiveTable())');
  assert.ok(readme.includes(renderReadmeSection()), 'README section differs from renderReadmeSection()');
});
