// Several OS processes on one serial file: 2 × 5,000 enrollments, kill -9 mid-flight, and est-server --workers 2.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { Agent, request } from 'node:https';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { workerRuntimeDefaults } from '../../lib/cli/cluster.js';
import { loadConfigFile } from '../../lib/cli/server-config.js';
import { FileSerialStore, formatSerial, parseSerialFile } from '../../lib/ca/serial-file-store.js';
import { decodeCertsOnly } from '../../lib/protocol/pkcs7.js';
import { parseCertificate } from '../../lib/protocol/x509.js';
import { TestPki } from '../helpers/pki.js';
import { spawnEstServer } from '../helpers/est-server-process.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '..', '..');
const pki = new TestPki();
const ca = pki.ca('p256');
const csr = pki.csr({ keySpec: 'p256', subject: '/CN=fleet-device/O=Demo Devices' });
const csrDer = pki.write('device.csr.der', csr.der);
after(() => pki.cleanup());

const max = (xs: bigint[]) => xs.reduce((a, b) => (a > b ? a : b));
const readSerial = (p: string) => parseSerialFile(readFileSync(p, 'latin1'), p);

/** Runs two enroll-worker processes on one file, `count` enrollments each; returns their serials. */
async function twoProcesses(serialFile: string, count: number, lease: number): Promise<bigint[][]> {
  const startAt = String(Date.now() + 2000);
  const run = () =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', join(HERE, 'enroll-worker.ts'), serialFile, String(count), startAt, ca.cert, ca.key, csrDer, String(lease)], {
      cwd: ROOT,
      maxBuffer: 1 << 22,
    });
  const outs = await Promise.all([run(), run()]);
  return outs.map((o) => o.stdout.trim().split('\n').map((h) => BigInt('0x' + h)));
}

describe('two processes, one serial file', () => {
  it('2 × 5,000 concurrent enrollments: 10,000 distinct serials, the file ends at the last one issued', async () => {
    const file = pki.write('shared.srl', '1000\n'); // as nginx-http-est would have left it
    const [a, b] = await twoProcesses(file, 5000, 1);
    assert.equal(a!.length, 5000);
    assert.equal(b!.length, 5000);
    const all = [...a!, ...b!];
    assert.equal(new Set(all).size, 10_000, 'no duplicate serial');
    assert.ok(all.every((s) => s > 0x1000n), 'no serial 0, none reused from before');
    assert.equal(max(all), 0x1000n + 10_000n, 'no gap either');
    assert.equal(readFileSync(file, 'latin1'), formatSerial(0x1000n + 10_000n), 'the module\'s format: uppercase hex, even digits, LF');
    // They really ran side by side: the serials of each process are interleaved with the other's.
    const inA = new Set(a);
    let switches = 0;
    for (let v = 0x1002n; v <= 0x1000n + 10_000n; v++) if (inA.has(v) !== inA.has(v - 1n)) switches++;
    assert.ok(switches > 10, `only ${switches} alternations`);
  });

  it('with serialLease 256: distinct serials, and the file is never behind any serial issued', async () => {
    const file = pki.write('leased.srl', '1000\n');
    const all = (await twoProcesses(file, 3000, 256)).flat();
    assert.equal(new Set(all).size, 6000);
    assert.ok(readSerial(file) >= max(all));
    // Unused serials: at most the block in hand and the one being fetched, per process.
    assert.ok(readSerial(file) - 0x1000n <= 6000n + 2n * 2n * 256n, `file at ${readSerial(file).toString(16)}`);
  });
});

describe('kill -9 while serials are being taken', () => {
  for (const lease of [1, 256]) {
    it(`lease ${lease}: the file stays readable, never behind what was handed out, and the next process goes on above`, async () => {
      const file = pki.write(`killed-${lease}.srl`, '1000\n');
      let lastSeen = 0x1000n;
      for (let round = 0; round < 4; round++) {
        const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'serial-taker.ts'), file, String(lease)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
        const wanted = 50 + Math.floor(Math.random() * 400);
        const seen: bigint[] = [];
        await new Promise<void>((resolve, reject) => {
          let buf = '';
          child.stdout.on('data', (d: Buffer) => {
            buf += d.toString();
            const lines = buf.split('\n');
            buf = lines.pop()!;
            for (const l of lines) seen.push(BigInt('0x' + l));
            if (seen.length >= wanted && child.exitCode === null && !child.killed) {
              child.kill('SIGKILL');
            }
          });
          child.once('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`taker exited ${code}`))));
        });
        assert.ok(seen.length >= wanted);
        assert.ok(seen.every((s) => s > lastSeen), 'no serial handed out twice across crashes');
        const onFile = readSerial(file); // parses: never torn or empty
        assert.ok(onFile >= max(seen), `file ${onFile.toString(16)} behind issued ${max(seen).toString(16)}`);
        lastSeen = max(seen);
      }
      // A new process breaks the dead holder's lock (if any) and continues above everything issued.
      const next = new FileSerialStore(file, { lockTimeoutMs: 5000 });
      // ...and removes the lock tokens the killed processes wrote aside (lock-litter.ts).
      assert.deepEqual(readdirSync(dirname(file)).filter((n) => n.startsWith(basename(file) + '.lock.new-')), []);
      const [s] = await next.next(1);
      assert.ok(s! > lastSeen);
      await next.close();
    });
  }
});

describe('workerRuntimeDefaults', () => {
  it('adds each V8 flag, and MALLOC_ARENA_MAX when lean, only where the operator set none of the kind', () => {
    assert.deepEqual(workerRuntimeDefaults(['--enable-source-maps'], {}, true), {
      execArgv: ['--enable-source-maps', '--max-semi-space-size=8', '--heap-growing-percent=50', '--liftoff-only'],
      env: { MALLOC_TRIM_THRESHOLD_: '1048576', MALLOC_ARENA_MAX: '2' },
    });
    assert.deepEqual(workerRuntimeDefaults(['--enable-source-maps'], {}, false), { execArgv: ['--enable-source-maps', '--max-semi-space-size=8', '--heap-growing-percent=50', '--liftoff-only'], env: { MALLOC_TRIM_THRESHOLD_: '1048576' } });
    assert.deepEqual(workerRuntimeDefaults(['--max-semi-space-size=32'], { MALLOC_ARENA_MAX: '8' }, true), { execArgv: ['--max-semi-space-size=32', '--heap-growing-percent=50', '--liftoff-only'], env: {} });
    assert.deepEqual(workerRuntimeDefaults([], { MALLOC_MMAP_THRESHOLD_: '65536' }, true).env, { MALLOC_ARENA_MAX: '2' }, 'any malloc setting of the operator\'s leaves the trim threshold alone');
    assert.deepEqual(workerRuntimeDefaults([], { GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=0' }, false).env, {});
    assert.deepEqual(workerRuntimeDefaults(['--heap_growing_percent=80', '--no-liftoff-only'], { NODE_OPTIONS: '--max_semi_space_size=4' }, false).execArgv, ['--heap_growing_percent=80', '--no-liftoff-only'], 'NODE_OPTIONS counts, in either spelling');
    assert.deepEqual(workerRuntimeDefaults(['--wasm-dynamic-tiering'], {}, false).execArgv, ['--wasm-dynamic-tiering', '--max-semi-space-size=8', '--heap-growing-percent=50'], 'a wasm tiering flag of the operator\'s wins');
  });

  it('adds --no-parallel-scavenge only when the workers occupy every core, and not over a GC threading flag of the operator\'s', () => {
    assert.deepEqual(workerRuntimeDefaults([], {}, false, true).execArgv, ['--max-semi-space-size=8', '--heap-growing-percent=50', '--no-parallel-scavenge', '--liftoff-only']);
    assert.ok(!workerRuntimeDefaults([], {}, false, false).execArgv.includes('--no-parallel-scavenge'), 'a core left for the helper threads: V8\'s own');
    assert.deepEqual(workerRuntimeDefaults(['--parallel-scavenge'], {}, false, true).execArgv, ['--parallel-scavenge', '--max-semi-space-size=8', '--heap-growing-percent=50', '--liftoff-only']);
    assert.deepEqual(workerRuntimeDefaults(['--single-threaded-gc'], {}, false, true).execArgv, ['--single-threaded-gc', '--max-semi-space-size=8', '--heap-growing-percent=50', '--liftoff-only']);
  });

  it('is asked for with "leanMemory": true in the config (or --lean-memory); anything but a boolean is refused', async () => {
    const file = (v: unknown) => pki.write(`lean-${String(v)}.json`, JSON.stringify({ caRootCertificate: ca.cert, caPrivateKey: ca.key, leanMemory: v }));
    assert.equal((await loadConfigFile(file(true))).leanMemory, true);
    assert.equal((await loadConfigFile(file(false))).leanMemory, false);
    await assert.rejects(loadConfigFile(file('yes')), /^EstConfigError: est-server: `leanMemory` must be true or false \(got "yes"\)$/);
  });
});

describe('est-server --workers 2', () => {
  it('serves from two processes on one serial file, --lean-memory settings in each; SIGTERM stops them all', async () => {
    const auth: Server = createServer((req, res) => res.writeHead(req.headers.authorization === 'Basic ' + Buffer.from('u:p').toString('base64') ? 200 : 401).end());
    await new Promise<void>((r) => auth.listen(0, '127.0.0.1', () => r()));
    const serverCert = pki.serverCert(ca);
    const serialFile = pki.write('server.srl', '1000\n');
    const config = pki.write(
      'est-server.json',
      JSON.stringify({
        host: '127.0.0.1',
        port: 0,
        tls: { cert: serverCert.cert, key: serverCert.key, clientCa: ca.cert },
        caRootCertificate: ca.cert,
        caPrivateKey: ca.key,
        caSerialNumber: serialFile,
        authRequest: `http://127.0.0.1:${(auth.address() as { port: number }).port}/auth`,
      }),
    );
    const server = await spawnEstServer([config, '--workers', '2', '--lean-memory']);
    const { child, port } = server;
    try {
      const body = csr.der.toString('base64').replace(/.{64}/g, '$&\n') + '\n';
      const agent = new Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });
      const enroll = () =>
        new Promise<bigint>((resolve, reject) => {
          const req = request(
            { host: '127.0.0.1', port, path: '/.well-known/est/simpleenroll', method: 'POST', agent, headers: { 'Content-Type': 'application/pkcs10', Authorization: 'Basic ' + Buffer.from('u:p').toString('base64') } },
            (res) => {
              let text = '';
              res.on('data', (d: Buffer) => (text += d));
              res.on('end', () => {
                if (res.statusCode !== 200) return reject(new Error(`${res.statusCode} ${text}`));
                resolve(parseCertificate(decodeCertsOnly(Buffer.from(text.replace(/\s/g, ''), 'base64'))[0]!).serial);
              });
            },
          );
          req.on('error', reject);
          req.end(body);
        });
      const serials = await Promise.all(Array.from({ length: 400 }, enroll));
      agent.destroy();
      assert.equal(new Set(serials).size, 400);
      assert.equal(max(serials), 0x1000n + 400n);
      assert.equal(readSerial(serialFile), 0x1000n + 400n);
      // est-server logs JSON lines (pino): the pid of every line that carries an issued serial.
      const lines = server.log().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { pid?: number; serial?: string });
      const pids = new Set(lines.filter((l) => l.serial !== undefined).map((l) => l.pid));
      assert.equal(pids.size, 2, 'both workers issued certificates');
      // --lean-memory: the workers run with workerRuntimeDefaults' V8 flags, malloc trim threshold and two malloc arenas.
      for (const pid of pids) {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
        for (const flag of ['--max-semi-space-size=8', '--heap-growing-percent=50', '--liftoff-only']) assert.ok(argv.includes(flag), `worker ${pid} without ${flag}`);
        // Two workers fill a machine of two cores or fewer: V8's scavenger then runs on the main thread alone.
        assert.equal(argv.includes('--no-parallel-scavenge'), availableParallelism() <= 2, `worker ${pid}: ${argv.join(' ')}`);
        const environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
        for (const kv of ['MALLOC_ARENA_MAX=2', 'MALLOC_TRIM_THRESHOLD_=1048576']) assert.ok(environ.includes(kv), `worker ${pid} without ${kv}`);
      }
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      for (const pid of pids) assert.throws(() => process.kill(Number(pid), 0), /ESRCH/, `worker ${pid} still running`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      auth.close();
    }
  });
});
