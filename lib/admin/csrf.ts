// CSRF tokens for the admin forms: HMAC over (admin, issue time), valid for 12 hours.
// Basic credentials ride along with any request the browser makes, so every state change carries one.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const LIFETIME_MS = 12 * 3600_000;

export interface Csrf {
  token(user: string): string;
  /** True when `token` was made for `user` by this secret and has not run out. */
  verify(user: string, token: unknown): boolean;
}

/** `secret` shared by every process serving the pages; random per process when absent. */
export function createCsrf(secret: Uint8Array | string | undefined, now: () => number = Date.now): Csrf {
  const key = secret === undefined ? randomBytes(32) : Buffer.from(secret);
  const mac = (user: string, at: string) => createHmac('sha256', key).update(`${at}\n${user}`).digest('base64url');
  return {
    token(user) {
      const at = now().toString(36);
      return `${at}.${mac(user, at)}`;
    },
    verify(user, token) {
      if (typeof token !== 'string' || token.length > 100) return false;
      const dot = token.indexOf('.');
      if (dot <= 0) return false;
      const at = token.slice(0, dot);
      const issued = parseInt(at, 36);
      if (!/^[0-9a-z]+$/.test(at) || !(issued <= now()) || now() - issued > LIFETIME_MS) return false;
      const want = Buffer.from(mac(user, at));
      const got = Buffer.from(token.slice(dot + 1));
      return want.length === got.length && timingSafeEqual(want, got);
    },
  };
}
