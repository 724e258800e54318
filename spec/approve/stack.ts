// A running stack for approval specs: EST over HTTPS with approval 'manual', an auth backend, and the admin pages.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import express from 'express';
import { estAdmin, hashPassword } from '../../lib/admin/index.js';
import type { EstOptions } from '../../lib/index.js';
import type { RecordStore } from '../../lib/store/types.js';
import { basic } from '../helpers/http.js';
import { TestPki } from '../helpers/pki.js';
import { startAuthBackend, startEstServer } from '../helpers/servers.js';

export const ADMIN_USER = 'alice';
export const ADMIN_PASSWORD = 'correct horse battery';
export const ADMIN_AUTH = basic(ADMIN_USER, ADMIN_PASSWORD);

export interface ApprovalStack {
  pki: TestPki;
  ca: { cert: string; key: string; serial: string };
  /** https://127.0.0.1:port/.well-known/est */
  estUrl: string;
  estPort: number;
  /** http://127.0.0.1:port/est-admin */
  adminUrl: string;
  store: RecordStore;
  close(): Promise<void>;
}

const exec = promisify(execFile);

/** Runs a command without blocking the event loop (the servers live in this process). */
export async function run(cmd: string, args: string[], opts: { input?: Buffer | string; allowFail?: boolean } = {}): Promise<{ stdout: Buffer; stderr: string; code: number }> {
  const child = exec(cmd, args, { encoding: 'buffer', maxBuffer: 16 << 20 });
  if (opts.input !== undefined) child.child.stdin!.end(opts.input);
  else child.child.stdin?.end();
  try {
    const { stdout, stderr } = await child;
    return { stdout, stderr: stderr.toString(), code: 0 };
  } catch (e) {
    const err = e as { stdout: Buffer; stderr: Buffer; code: number };
    if (!opts.allowFail) throw e;
    return { stdout: err.stdout, stderr: err.stderr.toString(), code: err.code };
  }
}

/**
 * Starts the stack. `store` (optional) replaces the one est() builds by default; the admin pages
 * use the very store est() uses.
 */
export async function startApprovalStack(options: Partial<EstOptions> = {}): Promise<ApprovalStack> {
  const pki = new TestPki();
  const ca = pki.ca('p256');
  const serverCert = pki.serverCert(ca);
  const auth = await startAuthBackend();
  const srv = await startEstServer(pki, { ca: ca.cert, serverCert }, {
    caRootCertificate: ca.cert,
    caPrivateKey: ca.key,
    caSerialNumber: ca.serial,
    authRequest: auth.url,
    approval: 'manual',
    approvalRetryAfter: 1,
    ...options,
  });
  const store = srv.middleware.store;
  if (!store) throw new Error('est() exposes no store');
  const app = express();
  app.use('/est-admin', estAdmin({ store, auth: { users: { [ADMIN_USER]: await hashPassword(ADMIN_PASSWORD) } } }));
  const admin: Server = createServer(app);
  await new Promise<void>((r) => admin.listen(0, '127.0.0.1', () => r()));
  return {
    pki,
    ca,
    estUrl: srv.url,
    estPort: srv.port,
    adminUrl: `http://127.0.0.1:${(admin.address() as AddressInfo).port}/est-admin`,
    store,
    close: async () => {
      admin.closeAllConnections();
      await new Promise((r) => admin.close(r));
      await srv.close();
      await auth.close();
      pki.cleanup();
    },
  };
}
