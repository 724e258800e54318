// Real servers on 127.0.0.1 port 0: an HTTPS EST app and an HTTP auth backend.
import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import express from 'express';
import { est, MemoryStore, type EstMiddleware, type EstOptions } from '../../lib/index.js';
import type { TestPki } from './pki.js';

export interface Running {
  url: string;
  port: number;
  close(): Promise<void>;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function closer(server: Server, extra?: () => Promise<void>): () => Promise<void> {
  return async () => {
    server.closeAllConnections?.();
    await new Promise<void>((r) => server.close(() => r()));
    await extra?.();
  };
}

/**
 * An auth backend like the module's demo: Basic `estuser:estpass` → 200; Bearer `good-token` → 200;
 * `deny` user → 403; an `X-EST-OTP-Challenge` other than `good-otp` → 403; `boom` user → 500; else 401 with `WWW-Authenticate: Basic realm="est-demo"`.
 */
export async function startAuthBackend(): Promise<Running & { seen: Array<Record<string, string | string[] | undefined>> }> {
  const seen: Array<Record<string, string | string[] | undefined>> = [];
  const server = createHttp((req, res) => {
    seen.push(req.headers);
    const auth = req.headers.authorization ?? '';
    const decoded = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : '';
    const otp = req.headers['x-est-otp-challenge'];
    if (otp !== undefined && otp !== 'good-otp') {
      res.writeHead(403).end();
    } else if (decoded === 'estuser:estpass' || auth === 'Bearer good-token') {
      res.writeHead(200).end();
    } else if (decoded.startsWith('deny:')) {
      res.writeHead(403).end();
    } else if (decoded.startsWith('boom:')) {
      res.writeHead(500).end();
    } else {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="est-demo"' }).end('nope');
    }
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}/auth`, port, seen, close: closer(server) };
}

/** A Node https server (client certs requested, not required) with `est()` mounted. */
export async function startEstServer(
  pki: TestPki,
  tls: { ca: string; serverCert: { cert: string; key: string }; clientCa?: string },
  options: EstOptions,
  mount = '/.well-known/est',
): Promise<Running & { middleware: EstMiddleware }> {
  const app = express();
  const middleware = est(options);
  app.use(mount, middleware);
  const server = createHttps(
    {
      key: readFileSync(tls.serverCert.key),
      cert: readFileSync(tls.serverCert.cert),
      ca: readFileSync(tls.clientCa ?? tls.ca),
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    app,
  );
  const port = await listen(server as unknown as Server);
  void pki;
  return { url: `https://127.0.0.1:${port}${mount}`, port, middleware, close: closer(server as unknown as Server, () => middleware.close()) };
}

/**
 * Runs `fn` against an est() server on a file CA (`ca`) with `authRequest` and a fresh
 * MemoryStore, then closes the server whatever `fn` did.
 */
export async function withAuthEstServer(
  pki: TestPki,
  ca: { cert: string; key: string },
  serverCert: { cert: string; key: string },
  authRequest: string,
  options: Partial<EstOptions>,
  fn: (srv: Running, store: MemoryStore) => Promise<void>,
): Promise<void> {
  const store = new MemoryStore();
  const srv = await startEstServer(pki, { ca: ca.cert, serverCert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, authRequest, store, ...options });
  try {
    await fn(srv, store);
  } finally {
    await srv.close();
  }
}
