// est-migrate's printed next steps, run as printed in a clean folder: npm install && npm start, then nginx -t.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { TestPki } from '../helpers/pki.js';
import { freePort } from '../tls/harness.js';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '..', '..');
const NGINX = '/usr/sbin/nginx';
const work = mkdtempSync(join(tmpdir(), 'est-next-'));
const pki = new TestPki();
const running: ChildProcess[] = [];
after(() => {
  for (const c of running) if (c.exitCode === null) process.kill(-c.pid!, 'SIGKILL');
  rmSync(work, { recursive: true, force: true });
  pki.cleanup();
});

/** Polls until the app answers GET /cacerts (or the process dies). */
async function waitForApp(port: number, proc: ChildProcess, log: () => string): Promise<Response> {
  const deadline = Date.now() + 240_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`npm start exited ${proc.exitCode}: ${log()}`);
    try {
      return await fetch(`http://127.0.0.1:${port}/.well-known/est/cacerts`);
    } catch {
      if (Date.now() > deadline) throw new Error(`app did not come up: ${log()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

describe('est-migrate next steps', () => {
  it('"cd <out> && npm install && npm start" works as printed, from a checkout that is on no registry', { timeout: 420_000 }, async () => {
    // A checkout of its own, so that npm's `prepare` for the file: dependency builds there, not in this repository.
    const checkout = join(work, 'express-est');
    mkdirSync(checkout);
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'lib', 'bin']) cpSync(join(REPO, f), join(checkout, f), { recursive: true });
    // Its own copy of node_modules: npm may rearrange a linked folder's node_modules, never this repository's.
    await run('cp', ['-r', join(REPO, 'node_modules') + '/.', join(checkout, 'node_modules')]);
    const ca = pki.ca('p256');
    const tls = pki.serverCert(ca);
    const port = await freePort();
    const conf = join(work, 'nginx.conf');
    writeFileSync(conf, `events {}\nhttp { server { listen 127.0.0.1:${await freePort()} ssl; ssl_certificate ${tls.cert}; ssl_certificate_key ${tls.key};
  location /.well-known/est { est on; est_root_certificate ${ca.cert}; est_ca_root_certificate ${ca.cert}; est_ca_private_key ${ca.key}; est_ca_serial_number ${pki.path('ca.srl')}; }
} }\n`);
    const clean = join(work, 'clean');
    mkdirSync(clean);
    const { stdout } = await run(process.execPath, ['--import', pathToFileURL(join(REPO, 'node_modules/tsx/dist/esm/index.mjs')).href, join(checkout, 'lib/cli/est-migrate.ts'), conf, '-o', 'est-app', '--backend-port', String(port)], { cwd: clean });
    const next = /^Next: (cd .* && npm install && npm start); then (nginx -t -p nginx -c nginx\.conf)$/m.exec(stdout);
    assert.ok(next, stdout);
    let log = '';
    const app = spawn('bash', ['-c', next[1]!], { cwd: clean, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_prefer_offline: 'true' } });
    running.push(app);
    app.stdout!.on('data', (d: Buffer) => (log += d));
    app.stderr!.on('data', (d: Buffer) => (log += d));
    const res = await waitForApp(port, app, () => log);
    assert.equal(res.status, 200, log);
    assert.equal(res.headers.get('content-type'), 'application/pkcs7-mime');
    process.kill(-app.pid!, 'SIGTERM');
    assert.ok(existsSync(join(checkout, 'dist/index.js')), 'npm built the checkout through its prepare script');
    if (existsSync(NGINX)) {
      const t = await run('bash', ['-c', `cd ${join(clean, 'est-app')} && ${next[2]!}`]).catch((e: { stderr: string }) => ({ stderr: e.stderr, failed: true }));
      assert.ok(!('failed' in t), t.stderr);
      assert.match(t.stderr, /syntax is ok/);
    } else if (process.env.CI) assert.fail('nginx is required in CI');
  });
});
