// estAdmin(): the admin pages as a Connect/Express handler an app mounts where it likes (est() never does).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CertificateAuthority } from '../ca/types.js';
import { EstConfigError, EstError } from '../errors.js';
import type { EstLogger } from '../middleware/options.js';
import { toPem } from '../protocol/pem.js';
import type { PendingRequest, RecordStore, RevocationReason } from '../store/types.js';
import { compileAdminAuth, type AdminAuth } from './auth.js';
import { createCsrf } from './csrf.js';
import {
  certificateDetailPage,
  certificateListPage,
  errorPage,
  PENDING_STATES,
  pendingDetailPage,
  pendingListPage,
  REVOKE_REASONS,
  time,
  type CertificateFilters,
  type Message,
  type PageContext,
  type PendingTab,
} from './pages.js';
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

const MAX_FORM = 16 * 1024;
const KNOWN = ['store', 'ca', 'auth', 'csrfSecret', 'pageSize', 'title', 'logger'];
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};
const STORE_METHODS = ['get', 'list', 'revoke', 'pendingById', 'listPending', 'decide'] as const;
const silent: EstLogger = { info() {}, warn() {}, error() {} };

class PageError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': String(buf.length), ...extra });
  res.end(req.method === 'HEAD' ? undefined : buf);
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { ...SECURITY_HEADERS, Location: location, 'Content-Length': '0' }).end();
}

/** The mount path (Express `baseUrl`, or what `originalUrl` has before `url`). */
function baseOf(req: IncomingMessage): string {
  const r = req as IncomingMessage & { baseUrl?: string; originalUrl?: string };
  if (r.baseUrl !== undefined) return r.baseUrl;
  const url = req.url ?? '/';
  const original = r.originalUrl ?? url;
  return original !== url && original.endsWith(url) ? original.slice(0, original.length - url.length) : '';
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new PageError(415, 'forms are sent as application/x-www-form-urlencoded');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM) throw new PageError(413, 'form too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function pageNumber(v: string | null): number {
  const n = v === null ? 1 : Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new PageError(400, 'page must be a positive whole number');
  return n;
}

function reasonText(v: string | null): string | undefined {
  const s = (v ?? '').replace(/[\r\n\t]+/g, ' ').trim();
  if (s.length > 500) throw new PageError(400, 'the reason is longer than 500 characters');
  return s || undefined;
}

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

  async function pendingList(ctx: PageContext, params: URLSearchParams, message?: Message): Promise<string> {
    const tab = (params.get('state') ?? 'pending') as PendingTab;
    if (!PENDING_STATES.includes(tab)) throw new PageError(400, `unknown state ${tab.slice(0, 20)}`);
    const page = pageNumber(params.get('page'));
    const { requests, total } = await store.listPending({ ...(tab === 'all' ? {} : { state: tab }), limit: pageSize, offset: (page - 1) * pageSize });
    if (!message && params.get('done') && params.get('id')) message = await doneMessage(params.get('done')!, params.get('id')!);
    return pendingListPage(ctx, { requests, total, page, pageSize, tab }, message);
  }

  async function doneMessage(done: string, id: string): Promise<Message | undefined> {
    const p = await store.pendingById(id);
    if (!p || (done !== 'approved' && done !== 'denied')) return undefined;
    return { kind: 'notice', text: `Request from ${p.subject || '(empty subject)'} ${done}. The client receives ${done === 'approved' ? 'its certificate' : '403'} on its next retry.` };
  }

  async function certificateList(ctx: PageContext, params: URLSearchParams, message?: Message): Promise<string> {
    const page = pageNumber(params.get('page'));
    const filters: CertificateFilters = {};
    const q = (params.get('q') ?? '').trim().slice(0, 200);
    const label = (params.get('label') ?? '').trim().slice(0, 100);
    const expiring = params.get('expiring');
    const status = params.get('status');
    if (q) filters.q = q;
    if (label) filters.label = label;
    if (expiring) {
      const n = Number(expiring);
      if (!Number.isInteger(n) || n < 1 || n > 36500) throw new PageError(400, 'expiring must be a number of days');
      filters.expiring = n;
    }
    if (status === 'valid' || status === 'revoked') filters.status = status;
    else if (status) throw new PageError(400, 'status must be valid or revoked');
    const base = {
      ...(filters.label ? { label: filters.label } : {}),
      ...(filters.expiring ? { expiringWithinDays: filters.expiring } : {}),
      ...(filters.status ? { status: filters.status } : {}),
      limit: pageSize,
      offset: (page - 1) * pageSize,
    };
    // One search box: a hex string that names a recorded serial finds it; anything else searches subjects.
    let result = { records: [] as Awaited<ReturnType<RecordStore['list']>>['records'], total: 0 };
    const serialLike = /^[0-9a-f:]+$/i.test(q) && q.replace(/:/g, '').length <= 40;
    if (serialLike) result = await store.list({ ...base, serial: q.replace(/:/g, '') });
    if (!serialLike || result.total === 0) result = await store.list({ ...base, ...(q ? { subject: q } : {}) });
    if (!message && params.get('done') === 'revoked' && params.get('serial')) {
      message = { kind: 'notice', text: `Certificate ${params.get('serial')!.slice(0, 60)} revoked. Re-enrollment with it is refused from now on.` };
    }
    return certificateListPage(ctx, { records: result.records, total: result.total, page, pageSize, filters }, message);
  }

  async function decision(ctx: PageContext, id: string, form: URLSearchParams, res: ServerResponse): Promise<string | undefined> {
    const d = form.get('decision');
    if (d !== 'approve' && d !== 'deny') throw new PageError(400, 'decision must be approve or deny');
    const reason = reasonText(form.get('reason'));
    const p = await store.pendingById(id);
    if (!p) throw new PageError(404, `no request ${id.slice(0, 80)}`);
    const refuse = (why: string) => {
      res.statusCode = 409;
      return pendingDetailPage(ctx, p, { kind: 'error', text: why });
    };
    if (p.state !== 'pending') return refuse(alreadyDecided(p));
    let decided: PendingRequest;
    try {
      decided = await store.decide(id, { state: d === 'approve' ? 'approved' : 'denied', by: ctx.user, ...(reason ? { reason } : {}) });
    } catch (e) {
      if ((e as EstError).code === 'ERR_EST_STORE_DECIDED') {
        const now = (await store.pendingById(id)) ?? p;
        res.statusCode = 409;
        return pendingDetailPage(ctx, now, { kind: 'error', text: alreadyDecided(now) });
      }
      throw e;
    }
    logger.info({ event: d === 'approve' ? 'approved' : 'denied', request: id, subject: decided.subject, by: ctx.user, reason: reason ?? null }, `pending request ${decided.state}`);
    const back = form.get('back') === 'detail' ? `${ctx.base}/pending/${encodeURIComponent(id)}` : `${ctx.base}/pending`;
    redirect(res, `${back}?done=${decided.state}&id=${encodeURIComponent(id)}`);
    return undefined;
  }

  function alreadyDecided(p: PendingRequest): string {
    if (p.state === 'expired') return `This request expired at ${time(p.expiresAt)} before anyone decided; it can no longer be approved or denied. The client must send a new request.`;
    return `This request was already ${p.state}${p.decidedBy ? ` by ${p.decidedBy}` : ''}${p.decidedAt ? ` at ${time(p.decidedAt)}` : ''}; nothing was changed.`;
  }

  async function revoke(ctx: PageContext, serial: string, form: URLSearchParams, res: ServerResponse): Promise<string | undefined> {
    const reason = form.get('reason') ?? 'unspecified';
    if (!(REVOKE_REASONS as readonly string[]).includes(reason)) throw new PageError(400, `unknown revocation reason ${reason.slice(0, 40)}`);
    const r = await store.get(serial);
    if (!r) throw new PageError(404, `no certificate with serial ${serial.slice(0, 60)}`);
    if (r.status === 'revoked') {
      res.statusCode = 409;
      return certificateDetailPage(ctx, r, { kind: 'error', text: `This certificate was already revoked${r.revokedBy ? ` by ${r.revokedBy}` : ''} at ${time(r.revokedAt)}; nothing was changed.` });
    }
    const done = await store.revoke(serial, reason as RevocationReason, ctx.user);
    logger.info({ event: 'revoked', serial: done.serial, subject: done.subject, reason, by: ctx.user }, 'certificate revoked');
    const back = form.get('back') === 'detail' ? `${ctx.base}/certificates/${encodeURIComponent(done.serial)}` : `${ctx.base}/certificates`;
    redirect(res, `${back}?done=revoked&serial=${encodeURIComponent(done.serial)}`);
    return undefined;
  }

  async function pem(serial: string): Promise<string> {
    const r = await store.get(serial);
    if (!r) throw new PageError(404, `no certificate with serial ${serial.slice(0, 60)}`);
    let out = toPem(r.certificate, 'CERTIFICATE');
    if (options.ca) for (const c of await options.ca.cacerts(r.label)) out += toPem(c, 'CERTIFICATE');
    return out;
  }

  async function route(req: IncomingMessage, res: ServerResponse, ctx: PageContext, path: string, params: URLSearchParams): Promise<void> {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const segs = path.split('/').filter(Boolean).map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new PageError(400, 'malformed path');
      }
    });
    const here = segs[0] === 'certificates' ? 'certificates' : 'pending';
    const page = (status: number, body: string) => send(req, res, status, 'text/html; charset=utf-8', body);
    const post = async (fn: (form: URLSearchParams) => Promise<string | undefined>) => {
      if (method !== 'POST') throw new PageError(405, 'this address takes POST');
      const form = await readForm(req);
      // Every state change carries the token of the signed-in admin (forged or missing: 403).
      if (!csrf.verify(ctx.user, form.get('csrf'))) throw new PageError(403, 'missing or invalid CSRF token: reload the page and try again');
      const body = await fn(form);
      if (body !== undefined) page(res.statusCode === 200 ? 200 : res.statusCode, body);
    };
    const get = () => {
      if (method !== 'GET') throw new PageError(405, 'this address takes GET');
    };
    const [a, b, c, extra] = segs;
    if (extra !== undefined) throw new PageError(404, 'no such page');
    if (a === undefined) return get(), redirect(res, `${ctx.base}/pending`);
    if (a === 'style.css' && b === undefined) return get(), send(req, res, 200, 'text/css; charset=utf-8', css);
    if (a === 'pending') {
      if (b === undefined) return get(), page(200, await pendingList(ctx, params));
      if (c === undefined) {
        get();
        const p = await store.pendingById(b);
        if (!p) throw new PageError(404, `no request ${b.slice(0, 80)}`);
        const done = params.get('done');
        const msg: Message | undefined = done === 'approved' || done === 'denied' ? { kind: 'notice', text: `Request ${done}.` } : undefined;
        return page(200, pendingDetailPage(ctx, p, msg));
      }
      if (c === 'decision') return post((form) => decision(ctx, b, form, res));
    }
    if (a === 'certificates') {
      if (b === undefined) return get(), page(200, await certificateList(ctx, params));
      if (c === undefined && b.endsWith('.pem')) {
        get();
        const serial = b.slice(0, -4);
        return send(req, res, 200, 'application/x-pem-file', await pem(serial), { 'Content-Disposition': `attachment; filename="${serial.replace(/[^0-9A-Za-z]/g, '')}.pem"` });
      }
      if (c === undefined) {
        get();
        const r = await store.get(b);
        if (!r) throw new PageError(404, `no certificate with serial ${b.slice(0, 60)}`);
        return page(200, certificateDetailPage(ctx, r, params.get('done') === 'revoked' ? { kind: 'notice', text: 'Certificate revoked.' } : undefined));
      }
      if (c === 'revoke') return post((form) => revoke(ctx, b, form, res));
    }
    throw new PageError(404, 'no such page');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Nothing is served before authentication, not even the stylesheet.
    const user = await authenticate(req);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const ctx: PageContext = { base: baseOf(req), user, csrf: csrf.token(user), title, now: new Date() };
    try {
      await route(req, res, ctx, path, params);
    } catch (e) {
      if (!(e instanceof PageError)) throw e;
      const here = path.startsWith('/certificates') ? 'certificates' : 'pending';
      const titles: Record<number, string> = { 400: 'Bad request', 403: 'Forbidden', 404: 'Not found', 405: 'Method not allowed', 413: 'Too large', 415: 'Unsupported form' };
      send(req, res, e.status, 'text/html; charset=utf-8', errorPage(ctx, here, titles[e.status] ?? 'Error', e.message), e.status === 405 ? { Allow: 'GET, HEAD, POST' } : {});
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
      const status = e instanceof EstError && e.status >= 500 ? e.status : 500;
      logger.error({ err: e, url: req.url }, 'estAdmin: request failed');
      send(req, res, status, 'text/plain; charset=utf-8', status === 503 ? 'the record store is unavailable; try again shortly\n' : 'internal server error\n', e instanceof EstError && e.retryAfter !== undefined ? { 'Retry-After': String(e.retryAfter) } : {});
    });
  };
}
