// Node terminates TLS itself: an https server asking for client certificates, est() with `pop` on.
//
// Run from this folder: ../make-pki.sh && node --import tsx server.ts
// Files: pki/ca.crt, pki/ca.key (ca.srl is created), pki/tls/server.crt, pki/tls/server.key; $EST_DIR points elsewhere.
// The channel binding comes from the TLS socket: tls-unique (TLS 1.2, RFC 5929: the client's
// Finished after a full handshake, the server's after a resumed one) or tls-exporter (TLS 1.3,
// RFC 9266). Put nginx in front only as a TCP pass-through (../behind-nginx/nginx-stream.conf).
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import express from 'express';
import { est, type EstOptions } from '../../lib/index.js'; // in your app: from 'express-est'

export interface DirectHttpsConfig {
  /** TLS server certificate and key (PEM paths). */
  tlsCert: string;
  tlsKey: string;
  /** CAs whose client certificates the TLS layer asks for (ssl_client_certificate). */
  clientCa: string;
  /** est() options; `pop` defaults to true here. */
  est: EstOptions;
  host?: string;
  port?: number;
}

/** Starts the server; resolves once it listens. */
export async function startDirectHttps(cfg: DirectHttpsConfig): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const app = express();
  const middleware = est({ pop: true, ...cfg.est });
  app.use('/.well-known/est', middleware);
  const server = createServer(
    {
      cert: readFileSync(cfg.tlsCert),
      key: readFileSync(cfg.tlsKey),
      ca: readFileSync(cfg.clientCa),
      requestCert: true, // ask for a certificate…
      rejectUnauthorized: false, // …but let clients without one reach /cacerts and authRequest
      minVersion: 'TLSv1.2', // RFC 8996: no TLS 1.0/1.1
    },
    app,
  );
  await new Promise<void>((ok) => server.listen(cfg.port ?? 8444, cfg.host ?? '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await middleware.close();
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = process.env.EST_DIR ?? fileURLToPath(new URL('pki/', import.meta.url));
  const { port } = await startDirectHttps({
    tlsCert: join(dir, 'tls/server.crt'),
    tlsKey: join(dir, 'tls/server.key'),
    clientCa: join(dir, 'ca.crt'),
    host: process.env.EST_HOST ?? '0.0.0.0',
    port: Number(process.env.EST_PORT ?? 8444),
    est: {
      caRootCertificate: join(dir, 'ca.crt'),
      caPrivateKey: join(dir, 'ca.key'),
      caSerialNumber: join(dir, 'ca.srl'),
      pop: true,
      ...(process.env.EST_AUTH_REQUEST ? { authRequest: process.env.EST_AUTH_REQUEST } : {}),
    },
  });
  console.log(`EST over https on port ${port} (pop on)`);
}
