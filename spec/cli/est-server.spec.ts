// est-server's embedded demo, run the way the README says, and the commands it prints, run as printed.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const REPO = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'est-demo-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

/** Starts the demo and resolves with everything it printed once the commands are out. */
function startDemo(stateDir: string): Promise<{ child: ChildProcess; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'lib/cli/est-server.ts'), '--port', '0', '--state-dir', stateDir, '-q'], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`demo did not start: ${out}${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('# 3.') && out.trimEnd().endsWith('-print_certs')) {
        clearTimeout(timer);
        resolve({ child, out });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err += d));
    child.on('exit', (code) => reject(new Error(`demo exited ${code}: ${err}`)));
  });
}

describe('est-server demo (npm start)', () => {
  it('creates the demo CA on first run, and the printed commands enroll and renew as printed', async () => {
    const state = join(work, 'state');
    const { child, out } = await startDemo(state);
    for (const f of ['ca.crt', 'ca.key', 'server.crt', 'server.key', 'demo-user.json']) assert.ok(existsSync(join(state, f)), f);
    assert.match(out, /state folder: /);
    assert.match(out, /demo user:\s+estuser \/ \S+/);
    const commands = out.split('\n').map((l) => l.trim()).filter((l) => /^(curl|openssl|base64) /.test(l));
    assert.ok(commands.length >= 6, out);
    const cwd = join(work, 'client');
    await promisify(execFile)('mkdir', ['-p', cwd]);
    const results: string[] = [];
    for (const cmd of commands) {
      const { stdout } = await promisify(execFile)('bash', ['-o', 'pipefail', '-c', cmd], { cwd });
      results.push(stdout);
    }
    assert.match(results[0]!, /subject=O = express-est demo, CN = express-est Demo CA/);
    assert.match(readFileSync(join(cwd, 'device.crt'), 'latin1'), /BEGIN CERTIFICATE/);
    assert.ok(results.some((r) => /device\.crt: OK/.test(r)), 'openssl verify accepted the enrolled certificate');
    assert.match(results.at(-1)!, /subject=CN = device-1/, 'renewal over client-certificate auth');
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    // Second run reuses the state: same CA.
    const caBefore = readFileSync(join(state, 'ca.crt'), 'latin1');
    const again = await startDemo(state);
    assert.equal(readFileSync(join(state, 'ca.crt'), 'latin1'), caBefore);
    again.child.kill('SIGTERM');
  });
});
