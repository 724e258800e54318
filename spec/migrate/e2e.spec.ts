// est-migrate end to end: module-style configs → generated app + nginx, started for real, enrolled with curl and openssl.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { main } from '../../lib/cli/est-migrate.js';
import { DEBIAN_STREAM_MODULE } from '../../lib/migrate/generate.js';
import { TestPki, openssl, pkcs7Certs, verifyCert } from '../helpers/pki.js';
import { freePort, waitPort } from '../helpers/ports.js';
import { startAuthBackend } from '../helpers/servers.js';
import { missing, suiteNeeding } from '../helpers/suite.js';
import { TlsHttpConnection, buildCsr, makeKey } from '../tls/pop-client.js';

const NGINX = '/usr/sbin/nginx';
const REPO = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const skip = missing(`nginx (${NGINX})`, existsSync(NGINX));

function start(cmd: string, args: string[], cwd: string): { proc: ChildProcess; log: () => string } {
  let out = '';
  const proc = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d: Buffer) => (out += d));
  proc.stderr!.on('data', (d: Buffer) => (out += d));
  return { proc, log: () => out };
}

interface Curl {
  status: number;
  type: string | undefined;
  headers: Record<string, string>;
  body: string;
}

let curlN = 0;

async function curl(url: string, args: string[] = []): Promise<Curl> {
  // -D - puts the headers on stdout; the body goes to a file.
  const bodyFile = join(tmpdir(), `est-migrate-curl-${process.pid}-${++curlN}`);
  const r = await run('curl', ['-sk', '-D', '-', '-o', bodyFile, ...args, url], { encoding: 'latin1', maxBuffer: 1 << 20 });
  const body = readFileSync(bodyFile, 'latin1');
  rmSync(bodyFile, { force: true });
  const blocks = r.stdout.split(/\r\n\r\n/).filter((b) => b.startsWith('HTTP/'));
  const head = blocks[blocks.length - 1]!.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of head.slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(head[0]!.split(' ')[1]), type: headers['content-type'], headers, body };
}

/** Runs est-migrate's CLI; returns exit code and output. */
function cli(args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

function prepareOut(dir: string): void {
  mkdirSync(dir, { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
}

const PKG = pathToFileURL(join(REPO, 'lib/index.ts')).href;

/** Migrates `conf` into `out` with the generated app on `backend`, then starts the app and the generated nginx (on `front`). */
async function migrateAndStart(conf: string, out: string, entry: string, ports: { backend: number; front: number }, procs: ChildProcess[]): Promise<void> {
  prepareOut(out);
  const r = cli([conf, '-o', out, '--backend-port', String(ports.backend), '--package', PKG]);
  assert.equal(r.code, 0, r.err);
  const app = start(process.execPath, ['--import', 'tsx', entry], out);
  procs.push(app.proc);
  // The generated app compiles the library through tsx first: allow for a loaded machine.
  await waitPort(ports.backend, app.proc, app.log, 60_000);
  const ngx = start(NGINX, ['-p', join(out, 'nginx'), '-c', 'nginx.conf', '-e', join(out, 'nginx/error.log'), '-g', 'daemon off;'], out);
  procs.push(ngx.proc);
  const errorLog = join(out, 'nginx/error.log');
  await waitPort(ports.front, ngx.proc, () => ngx.log() + (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : ''), 30_000);
}

function serialOf(pem: string): string {
  return openssl(['x509', '-noout', '-serial'], pem).toString().trim().replace(/^serial=/, '');
}

suiteNeeding('est-migrate end to end behind the generated nginx (labels, inheritance, includes, auth_request)', skip, () => {
  const pki = new TestPki();
  const procs: ChildProcess[] = [];
  let auth: Awaited<ReturnType<typeof startAuthBackend>>;
  let front: number;
  let ca: { cert: string; key: string; serial: string };
  let client: { cert: string; key: string };
  let stranger: { cert: string; key: string };
  let out: string;

  before(async () => {
    auth = await startAuthBackend();
    ca = pki.ca('p256');
    const tlsCa = pki.ca('p256', '/CN=TLS CA');
    const server = pki.serverCert(tlsCa);
    client = pki.clientCert(ca, { subject: '/CN=device-7/O=Demo Devices' });
    stranger = pki.clientCert(pki.ca('p256', '/CN=Stranger CA'));
    // the serial file the module left behind (written after openssl x509 -CAcreateserial used it)
    writeFileSync(ca.serial, '1000\n');
    const attrs = pki.path('csrattrs.der');
    writeFileSync(pki.path('attrs.cnf'), 'asn1=SEQUENCE:a\n[a]\nf1=OID:1.2.840.113549.1.9.1\n');
    openssl(['asn1parse', '-genconf', pki.path('attrs.cnf'), '-noout', '-out', attrs]);
    [front] = [await freePort()];
    const backend = await freePort();
    // The module's README example, split with includes, plus labels and inheritance.
    mkdirSync(pki.path('nginx/sites'), { recursive: true });
    writeFileSync(pki.path('nginx/nginx.conf'), `# module config
load_module modules/ngx_http_est_module.so;
events { }
http {
    include sites/*.conf;
}
`);
    writeFileSync(pki.path('nginx/sites/est.conf'), `server {
    listen 127.0.0.1:${front} ssl;
    ssl_certificate         ${server.cert};
    ssl_certificate_key     ${server.key};
    ssl_client_certificate  ${ca.cert};
    ssl_verify_client       optional;

    location /.well-known/est {
        est                      on;
        est_auth_request         /est-auth;
        est_root_certificate     "${ca.cert}";   # quoted on purpose
        est_ca_root_certificate  ${ca.cert};
        est_ca_private_key       ${ca.key};
        est_ca_validity_days     30;

        location /.well-known/est/attrs {
            est           on;
            est_csr_attrs ${attrs};
        }
    }

    location /.well-known/est/noauth {
        est                      on;
        est_ca_root_certificate  ${ca.cert};
        est_ca_private_key       ${ca.key};
    }

    location = /est-auth {
        internal;
        proxy_pass               http://127.0.0.1:${auth.port}/check;
        proxy_pass_request_body  off;
        proxy_set_header         Content-Length "";
    }
}
`);
    out = pki.path('out');
    await migrateAndStart(pki.path('nginx/nginx.conf'), out, 'app.js', { backend, front }, procs);
  });

  after(async () => {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => (p.exitCode === null ? new Promise((r) => p.once('exit', r)) : undefined)));
    await auth?.close();
    pki.cleanup();
  });

  const url = (p: string) => `https://127.0.0.1:${front}/.well-known/est${p}`;
  const csrFile = (subject: string) => pki.csr({ subject }).path;
  const enroll = (path: string, subject: string, extra: string[] = []) =>
    curl(url(path), ['-X', 'POST', '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csrFile(subject)}`, ...extra]);

  it('GET /cacerts and /csrattrs: status and types as the module', async () => {
    const c = await curl(url('/cacerts'));
    assert.equal(c.status, 200);
    assert.equal(c.type, 'application/pkcs7-mime');
    assert.equal(c.headers['content-transfer-encoding'], 'base64');
    assert.match(pkcs7Certs(c.body), /subject=CN = Test EST CA/);
    const none = await curl(url('/csrattrs'));
    assert.equal(none.status, 204);
    const attrs = await curl(url('/attrs/csrattrs'));
    assert.equal(attrs.status, 200);
    assert.equal(attrs.type, 'application/csrattrs');
    // verbatim (the module flattened it): the configured DER back
    assert.deepEqual(Buffer.from(attrs.body, 'base64'), readFileSync(pki.path('csrattrs.der')));
  });

  it('auth: 401 with the backend challenge, Basic via the backend, client certificate via nginx headers', async () => {
    const no = await enroll('/simpleenroll', '/CN=device-1');
    assert.equal(no.status, 401);
    assert.equal(no.headers['www-authenticate'], 'Basic realm="est-demo"');
    const basic = await enroll('/simpleenroll', '/CN=device-1/O=Demo Devices', ['-u', 'estuser:estpass']);
    assert.equal(basic.status, 200, basic.body);
    assert.match(basic.type!, /^application\/pkcs7-mime/);
    assert.equal(basic.headers['content-transfer-encoding'], 'base64');
    const pem = pkcs7Certs(basic.body);
    assert.match(verifyCert(ca.cert, pem, pki.dir), /OK/);
    // the module's serial file continues without a gap: 1000 → 1001
    assert.equal(serialOf(pem), '1001');
    assert.equal(readFileSync(ca.serial, 'utf8'), '1001\n');
    const byCert = await enroll('/simpleenroll', '/CN=device-2', ['--cert', client.cert, '--key', client.key]);
    assert.equal(byCert.status, 200, byCert.body);
    assert.equal(serialOf(pkcs7Certs(byCert.body)), '1002');
    // nginx still rejects a client certificate it cannot verify, on every path
    const bad = await curl(url('/cacerts'), ['--cert', stranger.cert, '--key', stranger.key]);
    assert.equal(bad.status, 400);
  });

  it('labels: inherited CA in the nested location; a location without est_auth_request answers 401 without a certificate', async () => {
    const attrs = await enroll('/attrs/simpleenroll', '/CN=device-3', ['-u', 'estuser:estpass']);
    assert.equal(attrs.status, 400, 'CSR lacks the required emailAddress attribute'); // module: 400 too
    const open = await enroll('/noauth/simpleenroll', '/CN=device-4', ['-u', 'estuser:estpass']);
    assert.equal(open.status, 401);
    const openCert = await enroll('/noauth/simpleenroll', '/CN=device-4', ['--cert', client.cert, '--key', client.key]);
    assert.equal(openCert.status, 200);
    assert.equal(serialOf(pkcs7Certs(openCert.body)), '1003', 'the labels share the serial file, no reuse');
  });

  it('routing: unknown label or operation 404, wrong method 405, fullcmc implemented (a non-CMC body is 400)', async () => {
    assert.equal((await curl(url('/other/cacerts'))).status, 404);
    assert.equal((await curl(url('/foobar'))).status, 404);
    assert.equal((await curl(url(''))).status, 404);
    assert.equal((await curl(url('/simpleenroll'), ['-u', 'estuser:estpass'])).status, 405);
    assert.equal((await curl(url('/cacerts'), ['-X', 'POST', '--data', 'x'])).status, 405);
    assert.equal((await curl(url('/fullcmc'), ['-X', 'POST', '-u', 'estuser:estpass', '-H', 'Content-Type: application/pkcs7-mime', '--data', 'x'])).status, 400);
  });
});

suiteNeeding('est-migrate end to end with est_pop on: nginx stream pass-through to the app\'s TLS server', skip || missing(`nginx stream module (${DEBIAN_STREAM_MODULE})`, existsSync(DEBIAN_STREAM_MODULE)), () => {
  const pki = new TestPki();
  const procs: ChildProcess[] = [];
  let front: number;
  let tlsCa: { cert: string; key: string };
  let client: { cert: string; key: string };
  let ca: { cert: string; key: string; serial: string };

  before(async () => {
    ca = pki.ca('p256');
    tlsCa = pki.ca('p256', '/CN=TLS CA');
    const server = pki.serverCert(tlsCa);
    client = pki.clientCert(ca);
    writeFileSync(ca.serial, '0A1B\n');
    front = await freePort();
    const backend = await freePort();
    writeFileSync(pki.path('nginx.conf'), `events {}
http {
    server {
        listen 127.0.0.1:${front} ssl;
        ssl_certificate         ${server.cert};
        ssl_certificate_key     ${server.key};
        ssl_client_certificate  ${ca.cert};
        ssl_verify_client       optional;
        ssl_protocols           TLSv1.2 TLSv1.3;
        location /.well-known/est {
            est                      on;
            est_pop                  on;
            est_ca_root_certificate  ${ca.cert};
            est_ca_private_key       ${ca.key};
        }
    }
}
`);
    const out = pki.path('out');
    await migrateAndStart(pki.path('nginx.conf'), out, 'app.ts', { backend, front }, procs);
  });

  after(async () => {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => (p.exitCode === null ? new Promise((r) => p.once('exit', r)) : undefined)));
    pki.cleanup();
  });

  const issued: string[] = [];
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`${version}: the correct channel binding enrolls; a wrong one is 400; serial continues`, async () => {
      const conn = await TlsHttpConnection.open({ port: front, ca: readFileSync(tlsCa.cert), cert: readFileSync(client.cert), key: readFileSync(client.key), version });
      try {
        const headers = { 'Content-Type': 'application/pkcs10' };
        const good = await conn.request('POST', '/.well-known/est/simpleenroll', headers, buildCsr(makeKey('p256'), { challengePassword: conn.binding() }).toString('base64') + '\n');
        assert.equal(good.status, 200, good.body.toString());
        assert.match(good.headers['content-type']!, /^application\/pkcs7-mime/);
        const pem = pkcs7Certs(good.body.toString('latin1'));
        issued.push(serialOf(pem));
        const wrong = await conn.request('POST', '/.well-known/est/simpleenroll', headers, buildCsr(makeKey('p256'), { challengePassword: Buffer.alloc(12).toString('base64') }).toString('base64') + '\n');
        assert.equal(wrong.status, 400);
        const attrs = await conn.request('GET', '/.well-known/est/csrattrs');
        assert.equal(attrs.status, 200);
        assert.equal(attrs.headers['content-type'], 'application/csrattrs');
      } finally {
        await conn.close();
      }
    });
  }

  it('the serial file continued from the module\'s value, without a gap or a reuse', () => {
    assert.deepEqual(issued, ['0A1C', '0A1D']);
    assert.equal(readFileSync(ca.serial, 'utf8'), '0A1D\n');
  });
});
