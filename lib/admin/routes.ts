// The admin pages' routes: what each address shows or changes, over the record store.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CertificateAuthority } from '../ca/types.js';
import type { EstError } from '../errors.js';
import type { EstLogger } from '../middleware/options.js';
import { toPem } from '../protocol/pem.js';
import type { PendingRequest, RecordStore, RevocationReason } from '../store/types.js';
import type { Csrf } from './csrf.js';
import { pageNumber, PageError, readForm, reasonText, redirect, send } from './http.js';
import {
  certificateDetailPage,
  certificateListPage,
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

/** What the routes work with, fixed when estAdmin() is called. */
export interface AdminDeps {
  store: RecordStore;
  ca: CertificateAuthority | undefined;
  csrf: Csrf;
  pageSize: number;
  logger: EstLogger;
  css: Buffer;
}

/** GET pages and POST changes; `route()` dispatches one authenticated request. */
export class AdminRoutes {
  private readonly store: RecordStore;
  private readonly ca: CertificateAuthority | undefined;
  private readonly csrf: Csrf;
  private readonly pageSize: number;
  private readonly logger: EstLogger;
  private readonly css: Buffer;

  constructor(d: AdminDeps) {
    this.store = d.store;
    this.ca = d.ca;
    this.csrf = d.csrf;
    this.pageSize = d.pageSize;
    this.logger = d.logger;
    this.css = d.css;
  }

  async pendingList(ctx: PageContext, params: URLSearchParams, message?: Message): Promise<string> {
    const tab = (params.get('state') ?? 'pending') as PendingTab;
    if (!PENDING_STATES.includes(tab)) throw new PageError(400, `unknown state ${tab.slice(0, 20)}`);
    const page = pageNumber(params.get('page'));
    const { requests, total } = await this.store.listPending({ ...(tab === 'all' ? {} : { state: tab }), limit: this.pageSize, offset: (page - 1) * this.pageSize });
    if (!message && params.get('done') && params.get('id')) message = await this.doneMessage(params.get('done')!, params.get('id')!);
    return pendingListPage(ctx, { requests, total, page, pageSize: this.pageSize, tab }, message);
  }

  async doneMessage(done: string, id: string): Promise<Message | undefined> {
    const p = await this.store.pendingById(id);
    if (!p || (done !== 'approved' && done !== 'denied')) return undefined;
    return { kind: 'notice', text: `Request from ${p.subject || '(empty subject)'} ${done}. The client receives ${done === 'approved' ? 'its certificate' : '403'} on its next retry.` };
  }

  async certificateList(ctx: PageContext, params: URLSearchParams, message?: Message): Promise<string> {
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
      limit: this.pageSize,
      offset: (page - 1) * this.pageSize,
    };
    // One search box: a hex string that names a recorded serial finds it; anything else searches subjects.
    let result = { records: [] as Awaited<ReturnType<RecordStore['list']>>['records'], total: 0 };
    const serialLike = /^[0-9a-f:]+$/i.test(q) && q.replace(/:/g, '').length <= 40;
    if (serialLike) result = await this.store.list({ ...base, serial: q.replace(/:/g, '') });
    if (!serialLike || result.total === 0) result = await this.store.list({ ...base, ...(q ? { subject: q } : {}) });
    if (!message && params.get('done') === 'revoked' && params.get('serial')) {
      message = { kind: 'notice', text: `Certificate ${params.get('serial')!.slice(0, 60)} revoked. Re-enrollment with it is refused from now on.` };
    }
    return certificateListPage(ctx, { records: result.records, total: result.total, page, pageSize: this.pageSize, filters }, message);
  }

  async decision(ctx: PageContext, id: string, form: URLSearchParams, res: ServerResponse): Promise<string | undefined> {
    const d = form.get('decision');
    if (d !== 'approve' && d !== 'deny') throw new PageError(400, 'decision must be approve or deny');
    const reason = reasonText(form.get('reason'));
    const p = await this.store.pendingById(id);
    if (!p) throw new PageError(404, `no request ${id.slice(0, 80)}`);
    const refuse = (why: string) => {
      res.statusCode = 409;
      return pendingDetailPage(ctx, p, { kind: 'error', text: why });
    };
    if (p.state !== 'pending') return refuse(this.alreadyDecided(p));
    let decided: PendingRequest;
    try {
      decided = await this.store.decide(id, { state: d === 'approve' ? 'approved' : 'denied', by: ctx.user, ...(reason ? { reason } : {}) });
    } catch (e) {
      if ((e as EstError).code === 'ERR_EST_STORE_DECIDED') {
        const now = (await this.store.pendingById(id)) ?? p;
        res.statusCode = 409;
        return pendingDetailPage(ctx, now, { kind: 'error', text: this.alreadyDecided(now) });
      }
      throw e;
    }
    this.logger.info({ event: d === 'approve' ? 'approved' : 'denied', request: id, subject: decided.subject, by: ctx.user, reason: reason ?? null }, `pending request ${decided.state}`);
    const back = form.get('back') === 'detail' ? `${ctx.base}/pending/${encodeURIComponent(id)}` : `${ctx.base}/pending`;
    redirect(res, `${back}?done=${decided.state}&id=${encodeURIComponent(id)}`);
    return undefined;
  }

  alreadyDecided(p: PendingRequest): string {
    if (p.state === 'expired') return `This request expired at ${time(p.expiresAt)} before anyone decided; it can no longer be approved or denied. The client must send a new request.`;
    return `This request was already ${p.state}${p.decidedBy ? ` by ${p.decidedBy}` : ''}${p.decidedAt ? ` at ${time(p.decidedAt)}` : ''}; nothing was changed.`;
  }

  async revoke(ctx: PageContext, serial: string, form: URLSearchParams, res: ServerResponse): Promise<string | undefined> {
    const reason = form.get('reason') ?? 'unspecified';
    if (!(REVOKE_REASONS as readonly string[]).includes(reason)) throw new PageError(400, `unknown revocation reason ${reason.slice(0, 40)}`);
    const r = await this.store.get(serial);
    if (!r) throw new PageError(404, `no certificate with serial ${serial.slice(0, 60)}`);
    if (r.status === 'revoked') {
      res.statusCode = 409;
      return certificateDetailPage(ctx, r, { kind: 'error', text: `This certificate was already revoked${r.revokedBy ? ` by ${r.revokedBy}` : ''} at ${time(r.revokedAt)}; nothing was changed.` });
    }
    const done = await this.store.revoke(serial, reason as RevocationReason, ctx.user);
    this.logger.info({ event: 'revoked', serial: done.serial, subject: done.subject, reason, by: ctx.user }, 'certificate revoked');
    const back = form.get('back') === 'detail' ? `${ctx.base}/certificates/${encodeURIComponent(done.serial)}` : `${ctx.base}/certificates`;
    redirect(res, `${back}?done=revoked&serial=${encodeURIComponent(done.serial)}`);
    return undefined;
  }

  async pem(serial: string): Promise<string> {
    const r = await this.store.get(serial);
    if (!r) throw new PageError(404, `no certificate with serial ${serial.slice(0, 60)}`);
    let out = toPem(r.certificate, 'CERTIFICATE');
    if (this.ca) for (const c of await this.ca.cacerts(r.label)) out += toPem(c, 'CERTIFICATE');
    return out;
  }

  async route(req: IncomingMessage, res: ServerResponse, ctx: PageContext, path: string, params: URLSearchParams): Promise<void> {
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
      if (!this.csrf.verify(ctx.user, form.get('csrf'))) throw new PageError(403, 'missing or invalid CSRF token: reload the page and try again');
      const body = await fn(form);
      if (body !== undefined) page(res.statusCode === 200 ? 200 : res.statusCode, body);
    };
    const get = () => {
      if (method !== 'GET') throw new PageError(405, 'this address takes GET');
    };
    const [a, b, c, extra] = segs;
    if (extra !== undefined) throw new PageError(404, 'no such page');
    if (a === undefined) return get(), redirect(res, `${ctx.base}/pending`);
    if (a === 'style.css' && b === undefined) return get(), send(req, res, 200, 'text/css; charset=utf-8', this.css);
    if (a === 'pending') {
      if (b === undefined) return get(), page(200, await this.pendingList(ctx, params));
      if (c === undefined) {
        get();
        const p = await this.store.pendingById(b);
        if (!p) throw new PageError(404, `no request ${b.slice(0, 80)}`);
        const done = params.get('done');
        const msg: Message | undefined = done === 'approved' || done === 'denied' ? { kind: 'notice', text: `Request ${done}.` } : undefined;
        return page(200, pendingDetailPage(ctx, p, msg));
      }
      if (c === 'decision') return post((form) => this.decision(ctx, b, form, res));
    }
    if (a === 'certificates') {
      if (b === undefined) return get(), page(200, await this.certificateList(ctx, params));
      if (c === undefined && b.endsWith('.pem')) {
        get();
        const serial = b.slice(0, -4);
        return send(req, res, 200, 'application/x-pem-file', await this.pem(serial), { 'Content-Disposition': `attachment; filename="${serial.replace(/[^0-9A-Za-z]/g, '')}.pem"` });
      }
      if (c === undefined) {
        get();
        const r = await this.store.get(b);
        if (!r) throw new PageError(404, `no certificate with serial ${b.slice(0, 60)}`);
        return page(200, certificateDetailPage(ctx, r, params.get('done') === 'revoked' ? { kind: 'notice', text: 'Certificate revoked.' } : undefined));
      }
      if (c === 'revoke') return post((form) => this.revoke(ctx, b, form, res));
    }
    throw new PageError(404, 'no such page');
  }
}
