// estAdmin(): the admin pages as a Connect/Express handler an app mounts where it likes (est() never does).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CertificateAuthority } from '../ca/types.js';
import { EstConfigError, EstError } from '../errors.js';
import type { EstLogger } from '../middleware/options.js';
import type { RecordStore } from '../store/types.js';
import { compileAdminAuth, type AdminAuth } from './auth.js';
import { createCsrf } from './csrf.js';
import { baseOf, PageError, send } from './http.js';
import { errorPage, type PageContext } from './pages.js';
import { AdminRoutes } from './routes.js';
import { STYLESHEET } from './style.js';

export interface EstAdminOptions {
  /** Where records and pending requests live: the same store est() uses. */
  store: RecordStore;
  /** When given, a PEM download carries the CA chain after the certificate. */
  ca?: CertificateAuthority;
  /** Who may use the pages (required): a function naming the admin, or `{ users }` for Basic with scrypt hashes. */
  auth: AdminAuth;
  /** Key for CSRF tokens, shared by every process that serves the pages. @default random per process */
  csrfSecret?: string | Uint8Array;
  /** Rows per page. @default 50 */
  pageSize?: number;
  /** Shown in the header and page titles. @default 'EST admin' */
  title?: string;
  /** Every decision is logged here too (pino-compatible). @default silent */
  logger?: EstLogger;
}

/** A Connect/Express handler: `app.use('/est-admin', estAdmin({...}))`. */
export type EstAdminHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

const KNOWN = ['store', 'ca', 'auth', 'csrfSecret', 'pageSize', 'title', 'logger'];
const STORE_METHODS = ['get', 'list', 'revoke', 'pendingById', 'listPending', 'decide'] as const;
const silent: EstLogger = { info() {}, warn() {}, error() {} };
const ERROR_TITLES: Record<number, string> = { 400: 'Bad request', 403: 'Forbidden', 404: 'Not found', 405: 'Method not allowed', 413: 'Too large', 415: 'Unsupported form' };

/**
 * Creates the admin pages: pending requests (approve, deny), issued certificates (search, filter,
 * revoke), one certificate with PEM download. Server-rendered HTML, no scripts. Every request is
 * authenticated first; every change is a POST carrying a CSRF token (403 without a valid one); every
 * decision is written to the store with the admin's name.
 */
export function estAdmin(options: EstAdminOptions): EstAdminHandler {
  if (!options || typeof options !== 'object') throw new EstConfigError('estAdmin: options must be an object');
  for (const k of Object.keys(options)) if (!KNOWN.includes(k)) throw new EstConfigError(`estAdmin: unknown option \`${k}\``);
  const store = options.store;
  if (!store || STORE_METHODS.some((m) => typeof (store as unknown as Record<string, unknown>)[m] !== 'function')) {
    throw new EstConfigError(`estAdmin: \`store\` must be a RecordStore (${STORE_METHODS.join(', ')})`);
  }
  if (options.auth === undefined) throw new EstConfigError('estAdmin: `auth` is required: the admin pages are never open');
  const authenticate = compileAdminAuth(options.auth);
  const pageSize = options.pageSize ?? 50;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) throw new EstConfigError(`estAdmin: \`pageSize\` must be a whole number from 1 to 1000 (got ${JSON.stringify(options.pageSize)})`);
  if (options.ca !== undefined && typeof options.ca?.cacerts !== 'function') throw new EstConfigError('estAdmin: `ca` must be a CertificateAuthority');
  const csrf = createCsrf(options.csrfSecret);
  const title = options.title ?? 'EST admin';
  const logger = options.logger ?? silent;
  const css = Buffer.from(STYLESHEET, 'utf8');

  const routes = new AdminRoutes({ store, ca: options.ca, csrf, pageSize, logger, css });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Nothing is served before authentication, not even the stylesheet.
    const user = await authenticate(req);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const ctx: PageContext = { base: baseOf(req), user, csrf: csrf.token(user), title, now: new Date() };
    try {
      await routes.route(req, res, ctx, path, params);
    } catch (e) {
      if (!(e instanceof PageError)) throw e;
      const here = path.startsWith('/certificates') ? 'certificates' : 'pending';
      send(req, res, e.status, 'text/html; charset=utf-8', errorPage(ctx, here, ERROR_TITLES[e.status] ?? 'Error', e.message), e.status === 405 ? { Allow: 'GET, HEAD, POST' } : {});
    }
  }

  return (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof EstError && e.status >= 400 && e.status < 500) {
        send(req, res, e.status, 'text/plain; charset=utf-8', `${e.message}\n`, e.headers ?? {});
        return;
      }
      if (e instanceof EstError && e.code === 'ERR_EST_ADMIN_BUSY') {
        // Logins queued past the bound (auth.ts): said as it is, not logged as a failure of ours.
        send(req, res, 503, 'text/plain; charset=utf-8', `${e.message}\n`, { 'Retry-After': String(e.retryAfter ?? 1) });
        return;
      }
      const status = e instanceof EstError && e.status >= 500 ? e.status : 500;
      logger.error({ err: e, url: req.url }, 'estAdmin: request failed');
      send(req, res, status, 'text/plain; charset=utf-8', status === 503 ? 'the record store is unavailable; try again shortly\n' : 'internal server error\n', e instanceof EstError && e.retryAfter !== undefined ? { 'Retry-After': String(e.retryAfter) } : {});
    });
  };
}
