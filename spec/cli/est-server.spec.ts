// est-server's embedded demo, run the way the README says, and the commands it prints, run as printed.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const REPO = join(import.meta.dirname, '..', '..');
const openssl = (args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' });
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
      if (out.includes('# 3.') && /reenroll .* -o device-2\.crt\s*$/.test(out)) {
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
    // The est-client commands, bootstrapping the CA certificate against the printed fingerprint.
    const fingerprint = /CA SHA-256:\s+([0-9A-F:]{95})/.exec(out)?.[1];
    assert.ok(fingerprint, out);
    const clientCommands = out.split('\n').map((l) => l.trim()).filter((l) => /^node .*est-client/.test(l));
    assert.equal(clientCommands.length, 3, out);
    assert.ok(clientCommands[0]!.includes(`--insecure-bootstrap --fingerprint ${fingerprint}`));
    for (const cmd of clientCommands) await promisify(execFile)('bash', ['-o', 'pipefail', '-c', cmd], { cwd });
    assert.match(readFileSync(join(cwd, 'demo-ca.pem'), 'latin1'), /BEGIN CERTIFICATE/);
    assert.match(openssl(['verify', '-CAfile', join(state, 'ca.crt'), join(cwd, 'device-2.crt')]), /device-2\.crt: OK/);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    // Second run reuses the state: same CA.
    const caBefore = readFileSync(join(state, 'ca.crt'), 'latin1');
    const again = await startDemo(state);
    assert.equal(readFileSync(join(state, 'ca.crt'), 'latin1'), caBefore);
    again.child.kill('SIGTERM');
  });
});

describe('est-server labels', () => {
  it('sends /.well-known/est/<label>/<op> to that label\'s est(), the rest to the unlabelled one, unknown labels to 404', async (t) => {
    const { startServer } = await import('../../lib/cli/est-server.js');
    const { TestPki } = await import('../helpers/pki.js');
    const pki = new TestPki();
    t.after(() => pki.cleanup());
    const main = pki.ca('p256', '/CN=Main CA');
    const devices = pki.ca('p256', '/CN=Devices CA');
    const options = (ca: { cert: string; key: string }) => ({ caRootCertificate: ca.cert, caPrivateKey: ca.key, serialMode: 'random' as const });
    const quiet = { info() {}, warn() {}, error() {}, debug() {} };
    const s = await startServer({ host: '127.0.0.1', port: 0, workers: 1, mounts: { '/.well-known/est': options(main), '/.well-known/est/devices/': options(devices) } }, quiet);
    t.after(() => s.close());
    const get = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${s.port}${path}`);
      return { status: r.status, body: await r.text() };
    };
    const subject = (body: string) => {
      const der = Buffer.from(body.replace(/\s+/g, ''), 'base64');
      return execFileSync('openssl', ['pkcs7', '-inform', 'DER', '-print_certs', '-noout'], { input: der }).toString();
    };
    assert.match(subject((await get('/.well-known/est/cacerts')).body), /subject=CN ?= ?Main CA/);
    assert.match(subject((await get('/.well-known/est/devices/cacerts?x=1')).body), /subject=CN ?= ?Devices CA/);
    assert.equal((await get('/.well-known/est/printers/cacerts')).status, 404);
    assert.equal((await get('/.well-known/est/nothing')).status, 404);
    assert.equal((await get('/elsewhere/cacerts')).status, 404);
    await assert.rejects(
      startServer({ host: '127.0.0.1', port: 0, workers: 1, mounts: { '/est': options(main) } }, quiet),
      /est-server: mount "\/est" must be \/\.well-known\/est or \/\.well-known\/est\/<label>/,
    );
  });
});
