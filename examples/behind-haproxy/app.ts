// express-est behind HAProxy: HAProxy terminates TLS (haproxy.cfg) and passes the client certificate
// (RFC 9440 Client-Cert) and the channel binding (X-TLS-Unique, TLS 1.3 exporter secret): `pop` works.
//
// Run from this folder: ../make-pki.sh && node --import tsx app.ts
// Files: pki/ca.crt, pki/ca.key (ca.srl is created); $EST_DIR points elsewhere.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import express from 'express';
import { est, type EstOptions } from '../../lib/index.js'; // in your app: from 'express-est'

/** Starts the plain-HTTP app HAProxy forwards to; resolves once it listens. */
export async function startBehindHaproxy(options: EstOptions, port = 8080, host = '127.0.0.1'): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const app = express();
  const middleware = est({
    trustProxy: 'loopback', // only HAProxy on this host may set the TLS headers
    proxyHeaders: 'haproxy', // Client-Cert, X-TLS-Unique, X-TLS-Protocol, X-TLS-Exporter-Secret, X-TLS-Cipher
    pop: true,
    ...options,
  });
  app.use('/.well-known/est', middleware);
  const server = await new Promise<Server>((ok) => {
    const s = app.listen(port, host, () => ok(s));
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await middleware.close();
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = process.env.EST_DIR ?? fileURLToPath(new URL('pki/', import.meta.url));
  const { port } = await startBehindHaproxy({
    caRootCertificate: join(dir, 'ca.crt'),
    caPrivateKey: join(dir, 'ca.key'),
    caSerialNumber: join(dir, 'ca.srl'),
    ...(process.env.EST_AUTH_REQUEST ? { authRequest: process.env.EST_AUTH_REQUEST } : {}),
  }, Number(process.env.EST_PORT ?? 8080));
  console.log(`EST app on 127.0.0.1:${port}, behind HAProxy (pop on)`);
}
