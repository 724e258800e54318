// The package as installed: built output, the three bins, ESM import and CommonJS require().
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '..', '..');
const pkg = mkdtempSync(join(tmpdir(), 'est-pkg-'));

before(async () => {
  // Lay the package out as npm would install it: package.json, bin/, dist/ (built now), deps.
  cpSync(join(REPO, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(REPO, 'bin'), join(pkg, 'bin'), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(pkg, 'node_modules'));
  await run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(REPO, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')]);
});
after(() => rmSync(pkg, { recursive: true, force: true }));

describe('built package', () => {
  for (const bin of ['est-server', 'est-client', 'est-migrate']) {
    it(`bin/${bin}.js --help prints its usage and exits 0`, async () => {
      const { stdout } = await run(process.execPath, [join(pkg, 'bin', `${bin}.js`), '--help']);
      assert.match(stdout, new RegExp(`Usage: ${bin}`));
    });
  }
  it('loads with import and with require() (CommonJS apps on Node 20.19+)', async () => {
    writeFileSync(join(pkg, 'esm.mjs'), "import { est, EstConfigError } from './dist/index.js'; import { EstClient } from './dist/client/index.js'; console.log(typeof est, typeof EstConfigError, typeof EstClient);");
    assert.equal((await run(process.execPath, [join(pkg, 'esm.mjs')])).stdout.trim(), 'function function function');
    writeFileSync(join(pkg, 'cjs.cjs'), "const { est } = require('./dist/index.js'); console.log(typeof est);");
    assert.equal((await run(process.execPath, [join(pkg, 'cjs.cjs')])).stdout.trim(), 'function');
  });
});
