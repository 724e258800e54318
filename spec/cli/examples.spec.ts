// Each runnable example, run from its own folder against the files examples/make-pki.sh makes there.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '..', '..');
// A checkout-like tree: examples/ copied (so pki/ lands outside the repository), lib/ and node_modules/ linked.
const root = mkdtempSync(join(tmpdir(), 'est-examples-'));
mkdirSync(join(root, 'examples'));
cpSync(join(REPO, 'examples/make-pki.sh'), join(root, 'examples/make-pki.sh'));
cpSync(join(REPO, 'package.json'), join(root, 'package.json'));
symlinkSync(join(REPO, 'lib'), join(root, 'lib'));
symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

/** Runs `node --import tsx <script>` in `cwd` and resolves with the port it prints. */
function start(cwd: string, script: string): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd, env: { ...process.env, EST_PORT: '0', EST_HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${script} did not start: ${out}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /(?:port |127\.0\.0\.1:)(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d));
    child.on('exit', (code) => reject(new Error(`${script} exited ${code}: ${out}`)));
  });
}

describe('examples run from their own folder', () => {
  for (const [name, script, scheme] of [['direct-https', 'server.ts', 'https'], ['behind-nginx', 'app.ts', 'http'], ['behind-haproxy', 'app.ts', 'http']] as const) {
    it(`examples/${name}: ../make-pki.sh, then node --import tsx ${script}`, async () => {
      const dir = join(root, 'examples', name);
      cpSync(join(REPO, 'examples', name), dir, { recursive: true });
      const made = await run(join(dir, '..', 'make-pki.sh'), [], { cwd: dir });
      assert.match(made.stdout, /CA created in .*pki/);
      for (const f of ['ca.crt', 'ca.key', 'csrattrs.der', 'tls/server.crt', 'tls/server.key', 'tls/server.pem']) assert.ok(existsSync(join(dir, 'pki', f)), f);
      assert.match((await run(join(dir, '..', 'make-pki.sh'), [], { cwd: dir })).stdout, /already holds a CA/);
      const port = await start(dir, script);
      const url = `${scheme}://localhost:${port}/.well-known/est/cacerts`;
      const { stdout } = await run('bash', ['-o', 'pipefail', '-c', `curl -sS --fail --cacert pki/ca.crt --resolve localhost:${port}:127.0.0.1 ${url} | openssl base64 -d | openssl pkcs7 -inform DER -print_certs -noout`], { cwd: dir });
      assert.match(stdout, /subject=O = express-est, CN = Example EST CA/);
    });
  }
});
