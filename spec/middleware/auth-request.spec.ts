// authRequest's subrequest when the backend misbehaves: no answer, half an answer, a dropped
// connection, nothing listening. Each is a 500 within authRequestTimeout, and never an allow.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { est, type MemoryStore, type EstOptions } from '../../lib/index.js';
import { basic, b64lines, fetchRaw } from '../helpers/http.js';
import { TestPki } from '../helpers/pki.js';
import { withAuthEstServer, type Running } from '../helpers/servers.js';

const pki = new TestPki();
const ca = pki.ca('p256');
const serverCert = pki.serverCert(ca);

/** What the backend does, per Basic user name. */
type Behaviour = 'allow' | 'silent' | 'headers-then-silent' | 'drop' | 'slow-allow';
const behaviour = new Map<string, Behaviour>();
const held: Array<() => void> = [];
let backend: Server;
let authUrl = '';
before(async () => {
  backend = createServer((req, res) => {
    const user = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString().split(':')[0]!;
    switch (behaviour.get(user) ?? 'allow') {
      case 'allow':
        res.writeHead(200, { 'X-EST-User': user }).end();
        return;
      case 'silent':
        held.push(() => res.destroy());
        return;
      case 'headers-then-silent':
        res.writeHead(200, { 'Content-Length': '10', 'X-EST-User': user });
        res.write('abc');
        held.push(() => res.destroy());
        return;
      case 'drop':
        req.socket.destroy();
        return;
      case 'slow-allow':
        setTimeout(() => res.writeHead(200).end(), 150);
        return;
    }
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  authUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/auth`;
});
after(async () => {
  for (const release of held.splice(0)) release();
  backend.closeAllConnections();
  await new Promise<void>((r) => backend.close(() => r()));
  pki.cleanup();
});

function withServer(options: Partial<EstOptions>, fn: (srv: Running, store: MemoryStore) => Promise<void>): Promise<void> {
  return withAuthEstServer(pki, ca, serverCert, authUrl, options, fn);
}

/** One CSR for every enrollment here: making one runs the openssl CLI, synchronously (tens of ms). */
const CSR_BODY = b64lines(pki.csr().der);

function enroll(srv: Running, user: string) {
  return fetchRaw(`${srv.url}/simpleenroll`, { method: 'POST', headers: { 'Content-Type': 'application/pkcs10', Authorization: basic(user, 'pw') }, body: CSR_BODY });
}

/** An enrollment's status and how long it took (the request only: its CSR is made beforehand). */
async function timed(srv: Running, user: string): Promise<{ status: number; ms: number; body: string }> {
  const t0 = performance.now();
  const r = await enroll(srv, user);
  return { status: r.status, ms: performance.now() - t0, body: r.body.toString() };
}

describe('authRequest subrequest failures', () => {
  it('a backend that never answers: 500 after authRequestTimeout, nothing issued', async () => {
    behaviour.set('mute', 'silent');
    await withServer({ authRequestTimeout: 300 }, async (srv, store) => {
      const r = await timed(srv, 'mute');
      assert.equal(r.status, 500, r.body);
      assert.match(r.body, /authorization backend unavailable/);
      assert.ok(r.ms >= 280 && r.ms < 2000, `answered after ${Math.round(r.ms)} ms, timeout 300 ms`);
      assert.equal((await store.list()).total, 0);
    });
  });

  it('a backend that sends 200 headers and then stalls in its body: allowed on its status, as nginx (header-only subrequest), and later subrequests still get through', async () => {
    behaviour.set('half', 'headers-then-silent');
    behaviour.set('after-half', 'allow');
    await withServer({ authRequestTimeout: 3000 }, async (srv, store) => {
      const r = await timed(srv, 'half');
      assert.equal(r.status, 200, r.body);
      assert.ok(r.ms < 2500, `decided on the headers, after ${Math.round(r.ms)} ms (the body never ends)`);
      const rest = await Promise.all(Array.from({ length: 3 }, () => timed(srv, 'after-half')));
      assert.deepEqual(rest.map((x) => x.status), [200, 200, 200]);
      assert.equal((await store.list()).total, 4);
    });
  });

  it('a backend slower than authRequestTimeout is a 500, one faster is an allow', async () => {
    behaviour.set('slow', 'slow-allow');
    await withServer({ authRequestTimeout: 80 }, async (srv) => {
      assert.equal((await timed(srv, 'slow')).status, 500);
    });
    await withServer({ authRequestTimeout: 1000 }, async (srv) => {
      assert.equal((await timed(srv, 'slow')).status, 200);
    });
  });

  it('a backend that drops the connection: 500', async () => {
    behaviour.set('rude', 'drop');
    await withServer({}, async (srv, store) => {
      const r = await timed(srv, 'rude');
      assert.equal(r.status, 500, r.body);
      assert.equal((await store.list()).total, 0);
    });
  });

  it('nothing listening at authRequest: 500, and the server keeps serving', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await withServer({ authRequest: `http://127.0.0.1:${port}/auth` }, async (srv) => {
      assert.equal((await timed(srv, 'anyone')).status, 500);
      assert.equal((await timed(srv, 'anyone')).status, 500);
    });
  });

  it('a backend that accepts TCP but never speaks HTTP: every subrequest fails, those queued for a connection too', async () => {
    // Connections are accepted and left open, so subrequests pile up behind them.
    const sockets: Socket[] = [];
    const tcp: TcpServer = createTcpServer((s) => void sockets.push(s));
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    try {
      await withServer({ authRequest: `http://127.0.0.1:${(tcp.address() as AddressInfo).port}/auth`, authRequestTimeout: 500 }, async (srv) => {
        const all = await Promise.all(Array.from({ length: 80 }, () => timed(srv, 'queued')));
        assert.deepEqual([...new Set(all.map((r) => r.status))], [500]);
        // Those queued behind the 64 held connections fail too. (This process is the client as well,
        // and its 80 TLS handshakes alone take most of a second: the bound only says none hangs.)
        const slowest = Math.max(...all.map((r) => r.ms));
        assert.ok(slowest < 3000, `80 subrequests (more than the 64 connections) all failed within ${Math.round(slowest)} ms, timeout 500 ms`);
      });
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => tcp.close(() => r()));
    }
  });

  it('after failures, a healthy answer is an allow again (no stuck state)', async () => {
    behaviour.set('mute2', 'silent');
    behaviour.set('fine', 'allow');
    await withServer({ authRequestTimeout: 200 }, async (srv, store) => {
      assert.equal((await timed(srv, 'mute2')).status, 500);
      const ok = await enroll(srv, 'fine');
      assert.equal(ok.status, 200);
      const { records } = await store.list();
      assert.equal(records.length, 1);
      assert.equal(records[0]!.requester.user, 'fine', 'X-EST-User from the backend is recorded');
    });
  });

  it('est() refuses a non-numeric authRequestTimeout at start-up', () => {
    assert.throws(() => est({ caRootCertificate: ca.cert, caPrivateKey: ca.key, authRequest: authUrl, authRequestTimeout: 'soon' as unknown as number }), /authRequestTimeout/);
  });
});
