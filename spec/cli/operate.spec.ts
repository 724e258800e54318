// Operating est-server: init-ca → config → serve; /healthz, /readyz, /metrics, JSON logs at a chosen level.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, fetch as undiciFetch } from 'undici';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'est-operate-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

const tsx = ['--import', 'tsx'];
const estServer = (args: string[]) => run(process.execPath, [...tsx, join(REPO, 'lib/cli/est-server.ts'), ...args], { cwd: REPO });

/** Starts est-server; resolves with the main and metrics ports once both are printed. */
function serve(args: string[]): Promise<{ child: ChildProcess; port: number; metricsPort: number; stderr: () => string }> {
  const child = spawn(process.execPath, [...tsx, join(REPO, 'lib/cli/est-server.ts'), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`est-server did not start: ${out}${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const port = /listening on https?:\/\/[^:]+:(\d+)/.exec(out);
      const metrics = /metrics:\s+http:\/\/[^:]+:(\d+)\/metrics/.exec(out);
      if (port && metrics) {
        clearTimeout(timer);
        resolve({ child, port: Number(port[1]), metricsPort: Number(metrics[1]), stderr: () => err });
      }
    });
    child.on('exit', (code) => reject(new Error(`est-server exited ${code}: ${err}`)));
  });
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

describe('est-server init-ca, health and metrics', () => {
  it('init-ca makes a CA, csrattrs.der, a TLS certificate and a config that serves and enrolls', async () => {
    const dir = join(work, 'ca');
    const { stdout } = await estServer(['init-ca', '--dir', dir, '--cn', 'Spec CA', '--key-type', 'p384', '--csr-attr', 'macAddress']);
    assert.match(stdout, /SHA-256\s+([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    const { stdout: asn1 } = await run('openssl', ['asn1parse', '-inform', 'DER', '-in', join(dir, 'csrattrs.der')]);
    assert.match(asn1, /OBJECT\s+:1\.3\.6\.1\.1\.1\.1\.22/);
    assert.match((await run('openssl', ['verify', '-CAfile', join(dir, 'ca.crt'), join(dir, 'tls/server.crt')])).stdout, /OK/);
    await assert.rejects(estServer(['init-ca', '--dir', dir]), /already exist/);

    const srv = await serve([join(dir, 'config.json'), '--port', '0', '--metrics-port', '0', '--log-level', 'debug']);
    assert.deepEqual(await getJson(`http://127.0.0.1:${srv.metricsPort}/healthz`), { status: 200, body: { status: 'ok' } });
    const onMain = await undiciFetch(`https://127.0.0.1:${srv.port}/healthz`, { dispatcher: new Agent({ connect: { rejectUnauthorized: false } }) });
    assert.equal(onMain.status, 200, '/healthz on the EST port too');
    const ready = await getJson(`http://127.0.0.1:${srv.metricsPort}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body.checks, { ca: 'ok', 'serial-store': 'ok', 'record-store': 'ok' });
    const metrics = await (await fetch(`http://127.0.0.1:${srv.metricsPort}/metrics`)).text();
    for (const name of ['est_requests_total', 'est_issuance_duration_seconds', 'est_certificates_issued_total', 'est_auth_request_duration_seconds', 'est_store_duration_seconds', 'process_cpu_user_seconds_total']) {
      assert.match(metrics, new RegExp(`# TYPE ${name} `), name);
    }
    srv.child.kill('SIGTERM');
    await new Promise((r) => srv.child.once('exit', r));
    const lines = srv.stderr().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number });
    assert.ok(lines.length > 0 && lines.every((l) => typeof l.level === 'number'), `pino JSON lines: ${srv.stderr()}`);
    assert.ok(lines.some((l) => (l as { msg?: string }).msg === 'est-server listening'));
  });

  it('/readyz is 503 naming the auth backend while it is unreachable, 200 once it answers', async () => {
    const dir = join(work, 'ca2');
    await estServer(['init-ca', '--dir', dir]);
    const backend = createServer((req, res) => res.writeHead(req.headers.authorization ? 200 : 401, { 'WWW-Authenticate': 'Basic realm="x"' }).end());
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const port = (backend.address() as { port: number }).port;
    await new Promise<void>((r) => backend.close(() => r()));
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    cfg.authRequest = `http://127.0.0.1:${port}/auth`;
    cfg.metrics = { port: 0 };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    const srv = await serve([join(dir, 'config.json'), '--port', '0', '-q']);
    const down = await getJson(`http://127.0.0.1:${srv.metricsPort}/readyz`);
    assert.equal(down.status, 503);
    assert.match(String((down.body.checks as Record<string, string>)['auth-backend']), /^failed: /);
    await new Promise<void>((r) => backend.listen(port, '127.0.0.1', () => r()));
    // A verdict is reused for a second (healthHandler's cacheMs): the next one sees the backend.
    await new Promise((r) => setTimeout(r, 1100));
    const up = await getJson(`http://127.0.0.1:${srv.metricsPort}/readyz`);
    assert.equal(up.status, 200, JSON.stringify(up.body));
    // And the CA init-ca made issues: est-client against the config as written.
    await run(process.execPath, [...tsx, join(REPO, 'lib/cli/est-client.ts'), 'enroll', `https://127.0.0.1:${srv.port}`, '--ca', join(dir, 'ca.crt'), '-u', 'dev:pw', '--subject', '/CN=spec-device', '--new-key', join(work, 'd.key'), '-o', join(work, 'd.crt')], { cwd: REPO });
    assert.match((await run('openssl', ['verify', '-CAfile', join(dir, 'ca.crt'), join(work, 'd.crt')])).stdout, /OK/);
    // The counters moved with that real traffic.
    const metrics = await (await fetch(`http://127.0.0.1:${srv.metricsPort}/metrics`)).text();
    assert.match(metrics, /^est_requests_total\{operation="simpleenroll",label="",status="200"\} 1$/m);
    assert.match(metrics, /^est_requests_total\{operation="simpleenroll",label="",status="401"\} 1$/m, 'the challenge before the Basic credentials');
    assert.match(metrics, /^est_certificates_issued_total\{operation="simpleenroll",label=""\} 1$/m);
    assert.match(metrics, /^est_auth_request_duration_seconds_count\{outcome="allowed"\} 1$/m);
    assert.match(metrics, /^est_store_duration_seconds_count\{store="serial",operation="next"\} 1$/m);
    backend.close();
    srv.child.kill('SIGTERM');
  });
});
