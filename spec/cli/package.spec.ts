// The package as users install it: from a folder (git checkout) and from an `npm pack` tarball, offline.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'est-pkg-'));
const checkout = join(work, 'express-est');
const npmEnv = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

/** npm with the registry out of reach for the package itself: everything must come from disk. */
function npm(args: string[], cwd: string) {
  return run('npm', [...args, '--offline', '--no-audit', '--no-fund'], { cwd, env: npmEnv, maxBuffer: 16 << 20 });
}

/**
 * A consumer app whose node_modules already holds express-est's dependencies (a copy of this
 * repository's, bin links included): npm then needs no registry, and prunes what is not needed.
 */
async function makeApp(name: string): Promise<string> {
  const app = join(work, name);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }));
  await run('cp', ['-r', join(REPO, 'node_modules') + '/.', join(app, 'node_modules')]);
  rmSync(join(app, 'node_modules', '.package-lock.json'), { force: true });
  return app;
}

/** What every install must give: the four bins, ESM import of each entry point, CommonJS require(). */
async function checkInstalled(app: string): Promise<void> {
  for (const bin of ['est-server', 'est-client', 'est-migrate', 'est-admin']) {
    const { stdout } = await run(join(app, 'node_modules', '.bin', bin), ['--help']);
    assert.match(stdout, new RegExp(`Usage: ${bin}`));
  }
  writeFileSync(
    join(app, 'check.mjs'),
    "const m = await import('express-est'); const c = await import('express-est/client'); const ca = await import('express-est/ca');\n" +
      'console.log(typeof m.est, typeof m.EstConfigError, typeof c.EstClient, typeof ca.FileCertificateAuthority);\n',
  );
  assert.equal((await run(process.execPath, ['check.mjs'], { cwd: app })).stdout.trim(), 'function function function function');
  writeFileSync(join(app, 'check.cjs'), "const { est } = require('express-est'); console.log(typeof est);");
  assert.equal((await run(process.execPath, ['check.cjs'], { cwd: app })).stdout.trim(), 'function');
}

before(async () => {
  // A fresh checkout: sources only, no dist/, and node_modules as `npm ci` leaves it: a copy, since
  // npm may rearrange a linked folder's node_modules (never the shared one of this repository).
  mkdirSync(checkout);
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'lib', 'bin']) {
    cpSync(join(REPO, f), join(checkout, f), { recursive: true });
  }
  await run('cp', ['-r', join(REPO, 'node_modules') + '/.', join(checkout, 'node_modules')]);
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('installing express-est', { concurrency: false }, () => {
  it('from a folder (npm i ../express-est): `prepare` builds dist/, the bins run, every entry point imports', async () => {
    assert.equal(existsSync(join(checkout, 'dist')), false);
    const app = await makeApp('folder-app');
    await npm(['install', checkout], app);
    assert.ok(existsSync(join(checkout, 'dist', 'index.js')), 'prepare did not build dist/');
    await checkInstalled(app);
  });

  it('from a tarball (npm pack): LICENSE included, no source maps without their sources', async () => {
    const { stdout } = await npm(['pack', '--pack-destination', work, '--json'], checkout);
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = packed!.files.map((f) => f.path);
    assert.ok(files.includes('LICENSE'));
    assert.ok(files.includes('dist/ca/index.d.ts'));
    assert.deepEqual(files.filter((f) => f.endsWith('.map')), []);
    assert.deepEqual(files.filter((f) => f.startsWith('lib/') || f.startsWith('spec/')), []);
    const app = await makeApp('tarball-app');
    await npm(['install', join(work, packed!.filename)], app);
    assert.ok(!readdirSync(join(app, 'node_modules', 'express-est')).includes('lib'));
    await checkInstalled(app);
  });
});
