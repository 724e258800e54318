// Authentication of the admin pages: the app's own function, or HTTP Basic against scrypt password hashes.
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { PoolTurns } from '../ca/pool-turns.js';
import type { MaybePromise } from '../ca/types.js';
import { EstConfigError, EstError, EstUnauthorizedError, estError } from '../errors.js';

/**
 * Who may use the admin pages. A function returns the admin's name (recorded with every
 * decision), or undefined to refuse (401); or `{ users }` for HTTP Basic with scrypt hashes made
 * by `hashPassword()` (`est-server --hash-password`).
 */
export type AdminAuth = ((req: IncomingMessage) => MaybePromise<string | undefined>) | { users: Record<string, string>; realm?: string };

/** scrypt parameters for new hashes: N = 2^15, r = 8, p = 1 (32 MiB, about 100 ms on one core). */
const LN = 15;
const R = 8;
const P = 1;
const KEY_LEN = 32;

function scryptAsync(password: string, salt: Buffer, ln: number, r: number, p: number, len: number): Promise<Buffer> {
  const N = 2 ** ln;
  return new Promise((ok, fail) =>
    scrypt(password, salt, len, { N, r, p, maxmem: 256 * N * r }, (err, key) => (err ? fail(err) : ok(key))),
  );
}

/** A PHC-style scrypt hash: `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (base64, no padding). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, LN, R, P, KEY_LEN);
  return `$scrypt$ln=${LN},r=${R},p=${P}$${salt.toString('base64').replace(/=+$/, '')}$${key.toString('base64').replace(/=+$/, '')}`;
}

interface ParsedHash {
  ln: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

const HASH_RE = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{22,})$/;

function parseHash(s: string): ParsedHash | undefined {
  const m = HASH_RE.exec(s);
  if (!m) return undefined;
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  return { ln, r, p, salt: Buffer.from(m[4]!, 'base64'), key: Buffer.from(m[5]!, 'base64') };
}

/** Checks a password against a hash from `hashPassword()`. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const h = parseHash(hash);
  if (!h) return false;
  const key = await scryptAsync(password, h.salt, h.ln, h.r, h.p, h.key.length);
  return timingSafeEqual(key, h.key);
}

/**
 * Password checks run one at a time, and at most this many are in line (the one running
 * included): each scrypt takes ~100 ms and 32 MiB on one of libuv's four pool threads, which the
 * record store's fsyncs and the CA's key work also use. Wrong passwords sent in parallel could
 * otherwise hold every pool thread and slow enrollment; past the line they get 503 + Retry-After
 * without any scrypt.
 */
const PASSWORD_CHECKS_IN_LINE = 16;

/** Validates the `auth` option and returns the function that names the admin of a request (or throws 401). */
export function compileAdminAuth(auth: unknown): (req: IncomingMessage) => Promise<string> {
  if (typeof auth === 'function') {
    const fn = auth as (req: IncomingMessage) => MaybePromise<string | undefined>;
    return async (req) => {
      const user = await fn(req);
      // The app's own scheme: no Basic challenge (a browser would prompt for a password it cannot check).
      if (typeof user !== 'string' || user === '') throw new EstError(401, 'ERR_EST_UNAUTHORIZED', 'admin authentication required');
      return user;
    };
  }
  if (!auth || typeof auth !== 'object' || !('users' in auth) || !auth.users || typeof auth.users !== 'object') {
    throw new EstConfigError('estAdmin: `auth` must be a function returning the admin name, or { users: { name: scryptHash } }');
  }
  const { users, realm = 'est-admin' } = auth as { users: Record<string, unknown>; realm?: string };
  const table = new Map<string, ParsedHash & { text: string }>();
  for (const [name, hash] of Object.entries(users)) {
    const parsed = typeof hash === 'string' ? parseHash(hash) : undefined;
    if (!parsed || name === '' || name.includes(':')) {
      throw new EstConfigError(`estAdmin: \`auth.users.${name}\` must be a scrypt hash from \`est-server --hash-password\` ($scrypt$ln=…,r=…,p=…$salt$hash)`);
    }
    table.set(name, { ...parsed, text: hash as string });
  }
  if (table.size === 0) throw new EstConfigError('estAdmin: `auth.users` names no user');
  if (!/^[\x20-\x7e]*$/.test(realm) || realm.includes('"')) throw new EstConfigError('estAdmin: `auth.realm` must be printable ASCII without quotes');
  const challenge = `Basic realm="${realm}", charset="UTF-8"`;
  const dummy = [...table.values()][0]!.text;
  // Verified Authorization headers, by their SHA-256, so a page with its stylesheet costs one scrypt.
  const verified = new Map<string, { user: string; until: number }>();
  const passwordChecks = new PoolTurns({
    atOnce: 1,
    maxWaiting: PASSWORD_CHECKS_IN_LINE - 1,
    full: () => estError('ERR_EST_ADMIN_BUSY', `${PASSWORD_CHECKS_IN_LINE} admin logins are already being checked; retry in a second`, { retryAfter: 1 }),
  });
  return async (req) => {
    const header = req.headers.authorization ?? '';
    const m = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header);
    if (!m) throw new EstUnauthorizedError('admin authentication required', challenge);
    const digest = createHash('sha256').update(header).digest('hex');
    const hit = verified.get(digest);
    if (hit && hit.until > Date.now()) return hit.user;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = colon < 0 ? decoded : decoded.slice(0, colon);
    const password = colon < 0 ? '' : decoded.slice(colon + 1);
    const entry = table.get(user);
    // An unknown user costs the same scrypt as a known one (no user enumeration by timing).
    const ok = await passwordChecks.run(() => verifyPassword(password, entry ? entry.text : dummy));
    if (!ok || !entry) throw new EstUnauthorizedError('wrong admin user name or password', challenge);
    if (verified.size >= 1000) verified.clear();
    verified.set(digest, { user, until: Date.now() + 10 * 60_000 });
    return user;
  };
}
