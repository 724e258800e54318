// The PoP success matrix shared by the direct, HAProxy and nginx-stream specs: 20× per key type and TLS mode.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { buildCsr, makeKey, TlsHttpConnection, type KeyPair, type PopKeyType, type TlsClientOptions } from './pop-client.js';

export const KEY_TYPES: PopKeyType[] = ['p256', 'p384', 'rsa2048'];
const keyCache = new Map<PopKeyType, KeyPair>();

/** One key pair per type for the whole run (key generation is not what is under test). */
export function keyOf(type: PopKeyType): KeyPair {
  let k = keyCache.get(type);
  if (!k) keyCache.set(type, (k = makeKey(type)));
  return k;
}

export interface Mode {
  name: string;
  version: 'TLSv1.2' | 'TLSv1.3';
  resumed: boolean;
}

export const MODES: Mode[] = [
  { name: 'TLS 1.2 full handshake', version: 'TLSv1.2', resumed: false },
  { name: 'TLS 1.2 resumed', version: 'TLSv1.2', resumed: true },
  { name: 'TLS 1.3 full handshake', version: 'TLSv1.3', resumed: false },
  { name: 'TLS 1.3 resumed', version: 'TLSv1.3', resumed: true },
];

/**
 * Enrolls `rounds` times per key type in `mode`, each on a fresh connection whose binding goes
 * into the CSR; returns the success figures and asserts every round succeeded.
 */
export async function popRounds(
  t: TestContext,
  conn: Omit<TlsClientOptions, 'version' | 'session'>,
  path: string,
  mode: Mode,
  opts: { rounds?: number; binding?: (c: TlsHttpConnection) => string; headers?: Record<string, string> } = {},
): Promise<void> {
  const rounds = opts.rounds ?? 20;
  let session: Buffer | undefined;
  if (mode.resumed) {
    // A first connection hands out the session (ticket) the rounds resume.
    const first = await TlsHttpConnection.open({ ...conn, version: mode.version });
    await first.request('GET', path.replace(/[^/]+$/, 'cacerts'));
    session = await first.close();
    assert.ok(session, 'the server handed out a session to resume');
  }
  const figures: string[] = [];
  for (const type of KEY_TYPES) {
    let ok = 0;
    const failures: string[] = [];
    for (let i = 0; i < rounds; i++) {
      const c = await TlsHttpConnection.open({ ...conn, version: mode.version, ...(session ? { session } : {}) });
      assert.equal(c.protocol, mode.version);
      assert.equal(c.resumed, mode.resumed, `round ${i}: session ${mode.resumed ? 'not ' : ''}resumed`);
      const value = (opts.binding ?? ((x) => x.binding()))(c);
      const res = await c.enroll(path, buildCsr(keyOf(type), { cn: `pop-${type}-${i}`, challengePassword: value }), opts.headers);
      if (res.status === 200) ok++;
      else failures.push(`${res.status} ${res.body.toString().slice(0, 200)}`);
      const next = await c.close();
      if (next) session = mode.resumed ? next : session;
    }
    figures.push(`${type} ${ok}/${rounds}`);
    assert.equal(ok, rounds, `${mode.name}, ${type}: ${ok}/${rounds} succeeded; first failure: ${failures[0]}`);
  }
  t.diagnostic(`${mode.name}: ${figures.join(', ')}`);
}
