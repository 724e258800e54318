// express-est behind nginx: nginx terminates TLS (nginx.conf) and passes the client certificate.
//
// Run from this folder: ../make-pki.sh && node --import tsx app.ts
// Files: pki/ca.crt, pki/ca.key (ca.srl is created); $EST_DIR points elsewhere.
// nginx cannot pass tls-unique, so `pop` stays off here. For `pop` behind nginx use
// nginx-stream.conf (TCP pass-through to ../direct-https/server.ts), or HAProxy (../behind-haproxy).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import express from 'express';
import { est, type EstOptions } from '../../lib/index.js'; // in your app: from 'express-est'

/** Starts the plain-HTTP app nginx proxies to; resolves once it listens. */
export async function startBehindNginx(options: EstOptions, port = 8080, host = '127.0.0.1'): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const app = express();
  const middleware = est({
    trustProxy: 'loopback', // only nginx on this host may set the certificate headers
    proxyHeaders: 'nginx', // X-SSL-Client-Cert ($ssl_client_escaped_cert), X-SSL-Client-Verify, X-TLS-Protocol
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
  const { port } = await startBehindNginx({
    caRootCertificate: join(dir, 'ca.crt'),
    caPrivateKey: join(dir, 'ca.key'),
    caSerialNumber: join(dir, 'ca.srl'),
    ...(process.env.EST_AUTH_REQUEST ? { authRequest: process.env.EST_AUTH_REQUEST } : {}),
  }, Number(process.env.EST_PORT ?? 8080));
  console.log(`EST app on 127.0.0.1:${port}, behind nginx`);
}
