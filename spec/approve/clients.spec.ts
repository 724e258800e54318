// Clients waiting for a person: est-client (printing a line per retry) against est-server --admin, and
// Bouncy Castle's EST client, whose 202 handling re-sends the request; an admin approves on the pages.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { hashPassword, verifyPassword } from '../../lib/admin/index.js';
import { MemoryStore } from '../../lib/store/memory-store.js';
import { basic, fetchRaw } from '../helpers/http.js';
import { TestPki, verifyCert } from '../helpers/pki.js';
import { startAuthBackend } from '../helpers/servers.js';
import { decideOnPage } from '../admin/admin-client.js';
import { ADMIN_AUTH, run, startApprovalStack } from './stack.js';

const REPO = join(import.meta.dirname, '..', '..');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** Spawns a node CLI from lib/cli; collects its output; `waitFor` resolves when a pattern shows up. */
function cli(file: string, args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'lib/cli', file), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  const poke = () => waiters.splice(0).forEach((w) => w());
  child.stdout!.on('data', (d: Buffer) => ((out += d), poke()));
  child.stderr!.on('data', (d: Buffer) => ((err += d), poke()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => (poke(), r(code))));
  return {
    child,
    exited,
    get out() {
      return out;
    },
    get err() {
      return err;
    },
    waitFor(re: RegExp, where: 'out' | 'err', ms = 30_000): Promise<RegExpMatchArray> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${file}: ${re} did not appear in ${ms} ms\nstdout: ${out}\nstderr: ${err}`)), ms);
        const check = () => {
          const m = re.exec(where === 'out' ? out : err);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          } else if (child.exitCode !== null) {
            clearTimeout(timer);
            reject(new Error(`${file} exited ${child.exitCode} before ${re}\nstdout: ${out}\nstderr: ${err}`));
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

test('est-client enroll waits on 202, printing a line per retry with the time left; an admin approves on est-server --admin; exit 0', async () => {
  const pki = new TestPki();
  const auth = await startAuthBackend();
  try {
    const ca = pki.ca('p256');
    const server = pki.serverCert(ca);
    const config = pki.write('est.json', JSON.stringify({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: server.cert, key: server.key, clientCa: ca.cert },
      caRootCertificate: ca.cert,
      caPrivateKey: ca.key,
      caSerialNumber: ca.serial,
      authRequest: auth.url,
      approval: 'manual',
      approvalRetryAfter: 1,
      admin: { port: 0, users: { alice: await hashPassword('correct horse battery') } },
    }));
    const srv = cli('est-server.ts', [config, '-q']);
    const est = await srv.waitFor(/est-server listening on https:\/\/127\.0\.0\.1:(\d+)/, 'out');
    const admin = await srv.waitFor(/admin pages:\s+https:\/\/localhost:(\d+)\/pending/, 'out');
    const adminUrl = `https://127.0.0.1:${admin[1]}`;

    const out = join(pki.dir, 'device.crt');
    const client = cli('est-client.ts', ['enroll', `https://127.0.0.1:${est[1]}`, '--ca', ca.cert, '-u', 'estuser:estpass', '--subject', '/CN=cli-device-9/O=Acme', '--san', 'DNS:cli-device-9.example', '--new-key', join(pki.dir, 'device.key'), '-o', out, '--wait', '2m']);
    const line = await client.waitFor(/^simpleenroll: pending approval \(request [^)]+\); retry in 1 s \(202\); retrying in 1 s, attempt 1, 1 min 5\d s left$/m, 'err');
    assert.ok(line);
    // A second line shows the client still waiting, the time left going down.
    await client.waitFor(/attempt 2, 1 min 5\d s left$/m, 'err');
    // Without the admin's password the pages give nothing away.
    assert.equal((await fetchRaw(`${adminUrl}/pending`, { headers: { Authorization: basic('alice', 'nope') }, ca: ca.cert })).status, 401);
    await decideOnPage(adminUrl, ADMIN_AUTH, 'cli-device-9', 'approve', 'ticket 4711', ca.cert);
    assert.equal(await client.exited, 0, client.err);
    assert.match(verifyCert(ca.cert, readFileSync(out, 'latin1'), pki.dir), /: OK/);
    const lines = client.err.split('\n').filter((l) => l.includes('(202)'));
    assert.ok(lines.length >= 2, client.err);
    srv.child.kill('SIGTERM');
    assert.equal(await srv.exited, 0);
  } finally {
    await auth.close();
    pki.cleanup();
  }
});

const JARS = ['bcprov', 'bcpkix', 'bcutil'].map((j) => `/usr/share/java/${j}.jar`);
const noJava = spawnSync('javac', ['-version']).status !== 0 ? 'javac not installed (apt-get install default-jdk-headless)' : JARS.find((j) => !existsSync(j)) ? 'Bouncy Castle jars missing (apt-get install libbcpkix-java)' : undefined;
if (noJava && process.env.CI === 'true') throw new Error(`CI: ${noJava}`);

test("Bouncy Castle's EST client completes after approval (its 202 handling re-sends the request); in-memory store", { skip: noJava }, async () => {
  const stack = await startApprovalStack({ store: new MemoryStore() });
  const classes = mkdtempSync(join(tmpdir(), 'est-bc-'));
  try {
    await run('javac', ['-d', classes, '-cp', JARS.join(':'), join(REPO, 'spec/approve/java/BcEnroll.java')]);
    const csr = stack.pki.csr({ subject: '/CN=bc-device/O=Java Fleet' });
    const csrFile = stack.pki.write('bc.csr.der', csr.der);
    const out = join(stack.pki.dir, 'bc.pem');
    const java = spawn('java', ['-cp', [classes, ...JARS].join(':'), 'BcEnroll', `localhost:${stack.estPort}`, stack.ca.cert, 'estuser', 'estpass', csrFile, out, '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(java);
    let said = '';
    let errText = '';
    java.stderr!.on('data', (d: Buffer) => (errText += d));
    const pending = new Promise<void>((resolve, reject) => {
      java.stdout!.on('data', (d: Buffer) => {
        said += d;
        if (/pending; retrying in \d+ ms\n[\s\S]*pending; retrying/.test(said)) resolve();
      });
      java.on('exit', (code) => reject(new Error(`java exited ${code} before waiting twice: ${said}\n${errText}`)));
    });
    await pending;
    await decideOnPage(stack.adminUrl, ADMIN_AUTH, 'bc-device', 'approve');
    const code = await new Promise<number | null>((r) => (java.exitCode !== null ? r(java.exitCode) : java.on('exit', r)));
    assert.equal(code, 0, `${said}\n${errText}`);
    assert.match(said, /enrolled serial [0-9a-f]+/);
    assert.match(verifyCert(stack.ca.cert, readFileSync(out, 'latin1'), stack.pki.dir), /: OK/);
    const p = (await stack.store.listPending({ state: 'issued' })).requests;
    assert.equal(p.length, 1);
    assert.equal(p[0]!.subject, 'CN=bc-device, O=Java Fleet');
  } finally {
    rmSync(classes, { recursive: true, force: true });
    await stack.close();
  }
});

test('est-server --hash-password prints a scrypt hash of the password on stdin', async () => {
  const r = await run(process.execPath, ['--import', 'tsx', join(REPO, 'lib/cli/est-server.ts'), '--hash-password'], { input: 'correct horse battery\n' });
  const hash = r.stdout.toString().trim();
  assert.match(hash, /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.equal(await verifyPassword('correct horse battery', hash), true);
  const empty = await run(process.execPath, ['--import', 'tsx', join(REPO, 'lib/cli/est-server.ts'), '--hash-password'], { input: '', allowFail: true });
  assert.equal(empty.code, 2);
});

test('the demo with --approval manual --admin: the printed admin password opens the pages; an enrollment waits there', async () => {
  const state = mkdtempSync(join(tmpdir(), 'est-demo-admin-'));
  try {
    const srv = cli('est-server.ts', ['--port', '0', '--state-dir', state, '--approval', 'manual', '--admin', '0', '-q']);
    const est = await srv.waitFor(/listening:\s+https:\/\/127\.0\.0\.1:(\d+)/, 'out');
    const demoUser = await srv.waitFor(/demo user:\s+(\S+) \/ (\S+)/, 'out');
    const admin = await srv.waitFor(/admin pages:\s+https:\/\/localhost:(\d+)\/pending\s+user admin \/ password (\S+)/, 'out');
    const ca = join(state, 'ca.crt');
    const pki = new TestPki();
    try {
      const csr = pki.write('demo.b64', pki.csr({ subject: '/CN=demo-waiting' }).der.toString('base64'));
      const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', ca, '-u', `${demoUser[1]}:${demoUser[2]}`, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csr}`, `https://127.0.0.1:${est[1]}/.well-known/est/simpleenroll`]);
      assert.equal(r.stdout.toString(), '202');
    } finally {
      pki.cleanup();
    }
    const page = await fetchRaw(`https://127.0.0.1:${admin[1]}/pending`, { headers: { Authorization: basic('admin', admin[2]!) }, ca });
    assert.equal(page.status, 200);
    assert.match(page.body.toString('utf8'), /CN=demo-waiting/);
    assert.equal((await fetchRaw(`https://127.0.0.1:${admin[1]}/pending`, { headers: { Authorization: basic('admin', 'guess') }, ca })).status, 401);
    srv.child.kill('SIGTERM');
    assert.equal(await srv.exited, 0);
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
});
