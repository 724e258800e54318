// Many est-server processes on one PostgreSQL: distinct serials, one record per certificate; the database stopped or its connections killed mid-load.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { decodeCertsOnly } from '../../lib/protocol/pkcs7.js';
import { parseCertificate } from '../../lib/protocol/x509.js';
import { main as admin } from '../../lib/cli/est-admin.js';
import { b64lines } from '../helpers/http.js';
import { TestPki } from '../helpers/pki.js';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../helpers/postgres.js';

const why = postgresUnavailable();
if (why && process.env.CI === 'true') throw new Error(`PostgreSQL is required in CI: ${why}`);

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
/** Enrollments per process: 2,000 in npm test on 2 shared cores; `npm run bench` runs 5,000 (EST_SCALE_COUNT). */
const PER_PROCESS = Number(process.env.EST_SCALE_COUNT ?? 2000);

const pki = new TestPki();
const ca = pki.ca('p256');
const body = b64lines(pki.csr({ subject: '/CN=fleet/O=Demo Devices' }).der);
let pg: TestPostgres;
let backend: Server;
let authUrl: string;
const children: ChildProcess[] = [];

before(async () => {
  if (why) return;
  pg = await startPostgres();
  backend = createServer((_req, res) => res.writeHead(200, { 'X-EST-User': 'loader@example', 'Content-Length': '0' }).end());
  backend.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  authUrl = `http://127.0.0.1:${(backend.address() as { port: number }).port}/auth`;
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  if (backend) {
    backend.closeAllConnections();
    await new Promise<void>((r) => backend.close(() => r()));
  }
  pg?.destroy();
  pki.cleanup();
});

async function database(name: string): Promise<string> {
  pg.psql(`CREATE DATABASE ${name}`);
  const url = pg.url.replace(/\/postgres$/, `/${name}`);
  const out: string[] = [];
  assert.equal(await admin(['db', 'migrate', '--store', url], { out: (s) => void out.push(s), err: (s) => void out.push(s) }), 0, out.join(''));
  return url;
}

/** Starts `est-server config.json -q` (plain HTTP, PostgreSQL store); resolves with its port. */
function startServer(url: string, name: string): Promise<{ port: number; child: ChildProcess }> {
  const cfg = pki.write(`${name}.json`, JSON.stringify({ host: '127.0.0.1', port: 0, caRootCertificate: ca.cert, caPrivateKey: ca.key, store: url, authRequest: authUrl }));
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'lib/cli/est-server.ts'), cfg, '-q'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve({ port: Number(m[1]), child });
    });
    child.stderr!.on('data', (d: Buffer) => void (err = (err + d).slice(-4000)));
    child.once('exit', (code) => reject(new Error(`est-server exited ${code}: ${err}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((r) => {
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });
}

interface Outcome {
  status: number;
  serial?: string;
  retryAfter?: string;
  text: string;
}

function enroll(port: number, agent: Agent): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/.well-known/est/simpleenroll', method: 'POST', agent, headers: { 'Content-Type': 'application/pkcs10', 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('latin1');
          const o: Outcome = { status: res.statusCode ?? 0, text };
          if (o.status === 200) o.serial = parseCertificate(decodeCertsOnly(Buffer.from(text, 'base64'))[0]!).serial.toString(16).toUpperCase();
          if (res.headers['retry-after'] !== undefined) o.retryAfter = String(res.headers['retry-after']);
          resolve(o);
        });
      },
    );
    req.on('error', (e) => resolve({ status: -1, text: e.message }));
    req.end(body);
  });
}

/** `count` enrollments on `port`, `concurrency` at a time. */
async function load(port: number, count: number, concurrency: number): Promise<Outcome[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const out: Outcome[] = [];
  let started = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (started++ < count) out.push(await enroll(port, agent));
  }));
  agent.destroy();
  return out;
}

const pad = (s: string) => (s.length % 2 ? '0' + s : s);

describe('several est-server processes on one PostgreSQL', { skip: why }, () => {
  test(`3 processes × ${PER_PROCESS} enrollments: distinct serials, one record per certificate, 0 errors`, async () => {
    const url = await database('est_scale');
    const servers = await Promise.all([startServer(url, 'a'), startServer(url, 'b'), startServer(url, 'c')]);
    try {
      const t0 = Date.now();
      const results = await Promise.all(servers.map((s) => load(s.port, PER_PROCESS, 16)));
      const seconds = (Date.now() - t0) / 1000;
      const all = results.flat();
      const failed = all.filter((r) => r.status !== 200);
      assert.equal(failed.length, 0, `errors: ${JSON.stringify(failed.slice(0, 3))}`);
      const serials = all.map((r) => pad(r.serial!));
      assert.equal(new Set(serials).size, 3 * PER_PROCESS, 'distinct serials');
      const inDb = new Set(pgLines(`est_scale`, `SELECT serial FROM est_certificates`));
      assert.equal(inDb.size, 3 * PER_PROCESS, 'one record per certificate');
      for (const s of serials) assert.ok(inDb.has(s), `certificate ${s} has no record`);
      assert.equal(pgLines('est_scale', "SELECT count(*) FROM est_certificates WHERE requester->>'user' = 'loader@example' AND requester->>'method' = 'auth-request'")[0], String(3 * PER_PROCESS));
      console.log(`# ${3 * PER_PROCESS} enrollments through 3 processes on one PostgreSQL in ${seconds.toFixed(1)} s (${((3 * PER_PROCESS) / seconds).toFixed(0)}/s)`);
    } finally {
      await Promise.all(servers.map((s) => stop(s.child)));
    }
  });

  test('the database stopped mid-load, then its connections killed: 503 + Retry-After, no certificate without a record, service resumes without a restart', async () => {
    const url = await database('est_faults');
    const { port, child } = await startServer(url, 'faults');
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const seen: Outcome[] = [];
    let running = true;
    const loop = Promise.all(Array.from({ length: 8 }, async () => {
      while (running) seen.push(await enroll(port, agent));
    }));
    const waitFor = async (what: string, cond: () => boolean, ms = 20_000) => {
      const t0 = Date.now();
      while (!cond()) {
        if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await waitFor('first certificates', () => seen.filter((r) => r.status === 200).length >= 50);
      pg.stop();
      const atStop = seen.length;
      await waitFor('503s while the database is down', () => seen.slice(atStop).filter((r) => r.status === 503).length >= 20);
      const down = seen.slice(atStop).filter((r) => r.status === 503);
      assert.ok(down.every((r) => r.retryAfter === '5'), 'Retry-After on every 503');
      assert.ok(down.every((r) => !/postgres|127\.0\.0\.1|ECONN/.test(r.text)), `nothing internal in the reason: ${down[0]?.text}`);
      pg.start();
      const atStart = seen.length;
      await waitFor('service to resume', () => seen.slice(atStart).filter((r) => r.status === 200).length >= 50);

      const beforeKill = seen.length;
      pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'est_faults' AND pid <> pg_backend_pid()");
      await waitFor('service after killed connections', () => seen.slice(beforeKill).filter((r) => r.status === 200).length >= 50);
    } finally {
      running = false;
      await loop;
      agent.destroy();
      await stop(child);
    }
    const statuses = new Set(seen.map((r) => r.status));
    assert.deepEqual([...statuses].filter((s) => s !== 200 && s !== 503), [], `only 200 and 503 (got ${[...statuses].join(', ')})`);
    const ok = seen.filter((r) => r.status === 200).map((r) => pad(r.serial!));
    const inDb = new Set(pgLines('est_faults', 'SELECT serial FROM est_certificates'));
    for (const s of ok) assert.ok(inDb.has(s), `certificate ${s} was returned without a record`);
    assert.equal(new Set(ok).size, ok.length);
    console.log(`# faults: ${ok.length} certificates, ${seen.filter((r) => r.status === 503).length} × 503, all returned certificates recorded`);
  });
});

/** Rows of one column from `sql` in database `db`. */
function pgLines(db: string, sql: string): string[] {
  return pg.psqlIn(db, sql).trim().split('\n').filter(Boolean);
}
