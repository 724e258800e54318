// Shared set-up for the client specs: a test PKI, our est() server, auth backend, rollover CA.
import { readFileSync } from 'node:fs';
import { createServer as createHttps, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { est, type EstOptions } from '../../lib/index.js';
import { openssl, TestPki } from '../helpers/pki.js';

export { openssl, TestPki };

export interface EstFixture {
  /** https://127.0.0.1:port (no path). */
  origin: string;
  port: number;
  close(): Promise<void>;
}

/** Starts `est()` on a Node https server at 127.0.0.1; `port` reuses a port (restart tests). */
export async function startServer(
  tls: { serverCert: { cert: string; key: string }; clientCa: string },
  options: EstOptions,
  extra: { port?: number; mount?: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3' } = {},
): Promise<EstFixture> {
  const app = express();
  const middleware = est(options);
  app.use(extra.mount ?? '/.well-known/est', middleware);
  const server: Server = createHttps(
    {
      key: readFileSync(tls.serverCert.key),
      cert: readFileSync(tls.serverCert.cert),
      ca: readFileSync(tls.clientCa),
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      ...(extra.maxVersion ? { maxVersion: extra.maxVersion } : {}),
    },
    app,
  );
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(extra.port ?? 0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
  return {
    origin: `https://127.0.0.1:${port}`,
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await middleware.close();
    },
  };
}

/** A CA + TLS server certificate for 127.0.0.1, made with openssl. */
export function basicPki(pki: TestPki, spec: 'p256' | 'rsa2048' = 'p256'): { ca: { cert: string; key: string; serial: string }; server: { cert: string; key: string } } {
  const ca = pki.ca(spec);
  return { ca, server: pki.serverCert(ca) };
}

/**
 * A root CA key rollover (RFC 4210 §4.4) made with openssl: OldWithOld and NewWithNew self-signed,
 * OldWithNew (old key, signed by the new) and NewWithOld (new key, signed by the old).
 */
export function rolloverPki(pki: TestPki): {
  oldWithOld: string; newWithNew: string; oldWithNew: string; newWithOld: string; newKey: string; bundle: string; server: { cert: string; key: string };
} {
  const old = pki.ca('p256', '/CN=Rollover Root/O=express-est tests', 365);
  const neu = pki.ca('p256', '/CN=Rollover Root/O=express-est tests', 3650);
  const ext = pki.write('rollover-ext.cnf', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
  const link = (subjectKey: string, issuer: { cert: string; key: string }, name: string) => {
    const csr = pki.path(`${name}.csr`);
    openssl(['req', '-new', '-key', subjectKey, '-subj', '/CN=Rollover Root/O=express-est tests', '-out', csr]);
    const out = pki.path(`${name}.crt`);
    openssl(['x509', '-req', '-in', csr, '-CA', issuer.cert, '-CAkey', issuer.key, '-CAcreateserial', '-days', '365', '-extfile', ext, '-out', out]);
    return out;
  };
  const oldWithNew = link(old.key, neu, 'oldwithnew');
  const newWithOld = link(neu.key, old, 'newwithold');
  const bundle = pki.write('rollover-bundle.pem', [newWithOld, old.cert, oldWithNew, neu.cert].map((p) => readFileSync(p, 'latin1')).join(''));
  return { oldWithOld: old.cert, newWithNew: neu.cert, oldWithNew, newWithOld, newKey: neu.key, bundle, server: pki.serverCert(neu) };
}

/** Reads a PEM file as text. */
export function pem(path: string): string {
  return readFileSync(path, 'latin1');
}
