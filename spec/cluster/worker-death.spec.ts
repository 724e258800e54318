// est-server --workers 2: a request that kills its worker (a native abort) never takes the service down; the primary names the request.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { JOURNAL_DIR_ENV } from '../../lib/cli/inflight-journal.js';
import { createServer, request, type Server } from 'node:http';
import { after, describe, it } from 'node:test';
import { TestPki } from '../helpers/pki.js';
import { b64lines } from '../helpers/http.js';
import { spawnEstServer } from '../helpers/est-server-process.js';

const pki = new TestPki();
const ca = pki.ca('p256');
after(() => pki.cleanup());

function send(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...(body ? { 'Content-Length': String(body.length) } : {}), ...headers }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0)); // the worker died under us
    req.end(body);
  });
}

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('est-server --workers 2 with a request that aborts its worker', () => {
  it('restarts every killed worker with backoff, keeps serving, and logs the killing request id', async () => {
    const auth: Server = createServer((_req, res) => res.writeHead(200).end());
    await new Promise<void>((r) => auth.listen(0, '127.0.0.1', () => r()));
    // A fixed port: when every worker is dead the primary drops the shared listener, and a port-0
    // listener would come back on another port.
    const probe = createServer();
    const fixedPort = await new Promise<number>((r) => probe.listen(0, '127.0.0.1', () => r((probe.address() as { port: number }).port)));
    await new Promise<void>((r) => probe.close(() => r()));
    // A custom CA that aborts the process (as the EC point at infinity once did inside Node) for CN=die.
    const config = pki.write(
      'killer.config.mjs',
      `export default {
        host: '127.0.0.1', port: ${fixedPort}, rootCertificate: ${JSON.stringify(ca.cert)},
        authRequest: 'http://127.0.0.1:${(auth.address() as { port: number }).port}/auth',
        ca: {
          cacerts: () => [],
          enroll(req) {
            if (req.csr.subject.includes('CN=die')) process.abort();
            throw new Error('not issuing in this test');
          },
        },
      };\n`,
    );
    const server = await spawnEstServer([config, '--workers', '2', '--quiet'], pki.dir);
    const { child, port } = server;
    try {
      const killer = b64lines(pki.csr({ subject: '/CN=die' }).der);
      const KILLS = 7; // more than the 5 quick crashes after which the primary used to give up
      for (let i = 1; i <= KILLS; i++) {
        const status = await send(port, 'POST', '/.well-known/est/simpleenroll', { 'Content-Type': 'application/pkcs10', 'X-Request-Id': `killer-${i}` }, killer);
        assert.equal(status, 0, `request ${i} should have lost its worker`);
        await until(`the primary to log killer-${i}`, async () => server.log().includes(`while serving request killer-${i}`));
        // The service answers again (the other worker, or a restarted one).
        await until('a 200 from /cacerts', async () => (await send(port, 'GET', '/.well-known/est/cacerts')) === 200).catch((e: Error) => { throw new Error(`${e.message}\n${server.log()}`); });
      }
      assert.equal(child.exitCode, null, 'the primary is still running');
      // Restarted workers too start with the V8 memory flags; without --lean-memory, glibc's own arenas.
      const children = () => readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean);
      // A child between fork and exec still shows the primary's command line: wait until both have
      // exec'd, which their environment tells (the journal folder is set for workers only).
      const execd = (pid: string) => {
        try {
          return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').some((v) => v.startsWith(`${JOURNAL_DIR_ENV}=`));
        } catch {
          return false; // exited meanwhile
        }
      };
      await until('both workers running again', async () => children().length === 2 && children().every(execd));
      const workerPids = children();
      for (const pid of workerPids) {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
        for (const flag of ['--max-semi-space-size=8', '--heap-growing-percent=50', '--liftoff-only']) assert.ok(argv.includes(flag), `worker ${pid} without ${flag}`);
        const environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
        if (process.env.MALLOC_ARENA_MAX === undefined) assert.ok(!environ.some((v) => v.startsWith('MALLOC_ARENA_MAX=')), `worker ${pid} has MALLOC_ARENA_MAX`);
        if (!Object.keys(process.env).some((k) => k.startsWith('MALLOC_'))) assert.ok(environ.includes('MALLOC_TRIM_THRESHOLD_=1048576'), `worker ${pid} without MALLOC_TRIM_THRESHOLD_`);
      }
      const exits = [...server.log().matchAll(/"signal":"SIGABRT"[^\n]*"requestIds":\["(killer-\d+)"\]/g)].map((m) => m[1]);
      assert.deepEqual(exits.sort(), Array.from({ length: KILLS }, (_, i) => `killer-${i + 1}`).sort());
      assert.equal([...server.log().matchAll(/"signal":"SIGABRT"[^\n]*"restartInMs":\d+/g)].length, KILLS, 'every killed worker is restarted');
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      auth.close();
    }
  });
});
