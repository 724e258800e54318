// The admin pages as HTML: layout, pending requests, issued certificates, one certificate, one request.
import { X509Certificate } from 'node:crypto';
import { toPem } from '../protocol/pem.js';
import type { CertificateRecord, PendingRequest, Requester, RevocationReason } from '../store/types.js';
import { html, query, type SafeHtml } from './html.js';

/** What every page knows: where it is mounted, who is signed in, the form token. */
export interface PageContext {
  base: string;
  user: string;
  csrf: string;
  title: string;
  now: Date;
}

export interface Message {
  kind: 'notice' | 'error';
  text: string;
}

/** Reasons offered when revoking (RFC 5280 §5.3.1; removeFromCRL and the CA-level ones are not for single certificates). */
export const REVOKE_REASONS: readonly RevocationReason[] = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn'];

export const PENDING_STATES = ['pending', 'approved', 'denied', 'issued', 'expired', 'all'] as const;
export type PendingTab = (typeof PENDING_STATES)[number];

export function time(d: Date | undefined): string {
  return d ? d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '';
}

function badge(state: string): SafeHtml {
  return html`<span class="badge s-${state}">${state}</span>`;
}

export function who(r: Requester): string {
  const parts: string[] = [r.method];
  if (r.user) parts.push(`user ${r.user}`);
  if (r.certificateSubject) parts.push(`certificate ${r.certificateSubject}${r.certificateSerial ? ` (serial ${r.certificateSerial})` : ''}`);
  return parts.join(', ');
}

function csrfField(ctx: PageContext): SafeHtml {
  return html`<input type="hidden" name="csrf" value="${ctx.csrf}">`;
}

/** The frame around every page. */
export function layout(ctx: PageContext, here: 'pending' | 'certificates', title: string, body: SafeHtml, message?: Message): string {
  const link = (path: string, name: string, key: string) => html`<a href="${ctx.base}/${path}"${key === here ? html` class="here" aria-current="page"` : ''}>${name}</a>`;
  return `<!doctype html>\n${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${ctx.title}</title><link rel="stylesheet" href="${ctx.base}/style.css"></head>
<body><header><span class="brand">${ctx.title}</span><nav>${link('pending', 'Pending requests', 'pending')}${link('certificates', 'Issued certificates', 'certificates')}</nav>
<span class="who">signed in as ${ctx.user}</span></header>
<main><h1>${title}</h1>${message ? html`<p class="${message.kind}" role="${message.kind === 'error' ? 'alert' : 'status'}">${message.text}</p>` : ''}${body}</main></body></html>`}\n`;
}

function pager(ctx: PageContext, path: string, params: Record<string, string | number | undefined>, page: number, pageSize: number, total: number): SafeHtml {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const first = total === 0 ? 0 : (page - 1) * pageSize + 1;
  const last = Math.min(total, page * pageSize);
  const to = (p: number) => `${ctx.base}/${path}${query({ ...params, page: p > 1 ? p : undefined })}`;
  return html`<div class="pager"><span>${first}–${last} of ${total}</span>
${page > 1 ? html`<a href="${to(page - 1)}" rel="prev">← Previous</a>` : ''}<span>page ${page} of ${pages}</span>
${page < pages ? html`<a href="${to(page + 1)}" rel="next">Next →</a>` : ''}</div>`;
}

function decisionForm(ctx: PageContext, p: PendingRequest, back: 'list' | 'detail'): SafeHtml {
  return html`<form class="inline decide" method="post" action="${ctx.base}/pending/${encodeURIComponent(p.id)}/decision">${csrfField(ctx)}
<input type="hidden" name="back" value="${back}">
<input type="text" name="reason" maxlength="500" placeholder="reason (optional)" aria-label="reason for ${p.subject}">
<button class="approve" name="decision" value="approve">Approve</button><button class="deny" name="decision" value="deny">Deny</button></form>`;
}

export interface PendingListView {
  requests: PendingRequest[];
  total: number;
  page: number;
  pageSize: number;
  tab: PendingTab;
}

export function pendingListPage(ctx: PageContext, v: PendingListView, message?: Message): string {
  const tabs = html`<div class="tabs">${PENDING_STATES.map((s) => html`<a href="${ctx.base}/pending${query({ state: s === 'pending' ? undefined : s })}"${s === v.tab ? html` class="here"` : ''}>${s}</a>`)}</div>`;
  const rows = v.requests.map(
    (p) => html`<tr data-id="${p.id}"><td><a href="${ctx.base}/pending/${encodeURIComponent(p.id)}">${p.subject || '(empty subject)'}</a>${p.label ? html`<div class="muted">label ${p.label}</div>` : ''}</td>
<td>${p.sans.map((s) => html`<div class="mono">${s}</div>`)}</td><td class="key">${p.keyType}</td><td>${who(p.requester)}<div class="muted">${p.operation}</div></td>
<td class="mono">${p.peerAddress}</td><td class="when">${time(p.createdAt)}<div class="muted">expires ${time(p.expiresAt)}</div></td>
<td>${p.state === 'pending' ? decisionForm(ctx, p, 'list') : html`${badge(p.state)}${p.decidedBy ? html`<div class="muted">by ${p.decidedBy}</div>` : ''}`}</td></tr>`,
  );
  const table = v.requests.length
    ? html`<table><thead><tr><th>Subject</th><th>SANs</th><th>Key</th><th>Who asked</th><th>Peer</th><th>When</th><th>Decision</th></tr></thead><tbody>${rows}</tbody></table>`
    : html`<p class="empty">No ${v.tab === 'all' ? '' : v.tab + ' '}requests.</p>`;
  const params = { state: v.tab === 'pending' ? undefined : v.tab };
  return layout(ctx, 'pending', 'Pending requests', html`${tabs}${pager(ctx, 'pending', params, v.page, v.pageSize, v.total)}${table}${v.total > v.pageSize ? pager(ctx, 'pending', params, v.page, v.pageSize, v.total) : ''}`, message);
}

export function pendingDetailPage(ctx: PageContext, p: PendingRequest, message?: Message): string {
  const body = html`<dl><dt>State</dt><dd>${badge(p.state)}</dd><dt>Subject</dt><dd>${p.subject || '(empty)'}</dd>
<dt>SANs</dt><dd>${p.sans.map((s) => html`<div class="mono">${s}</div>`)}</dd><dt>Key</dt><dd>${p.keyType}</dd>
<dt>Operation</dt><dd>${p.operation}${p.label ? ` (label ${p.label})` : ''}</dd><dt>Who asked</dt><dd>${who(p.requester)}</dd>
<dt>Peer</dt><dd class="mono">${p.peerAddress}</dd><dt>Request id</dt><dd class="mono">${p.requestId}</dd>
<dt>Received</dt><dd>${time(p.createdAt)}</dd><dt>Expires</dt><dd>${time(p.expiresAt)}</dd>
${p.decidedAt ? html`<dt>Decided</dt><dd>${time(p.decidedAt)} by ${p.decidedBy ?? '?'}${p.reason ? html`: ${p.reason}` : ''}</dd>` : ''}
${p.serial ? html`<dt>Certificate</dt><dd><a class="mono" href="${ctx.base}/certificates/${encodeURIComponent(p.serial)}">${p.serial}</a></dd>` : ''}</dl>
${p.state === 'pending' ? html`<h2>Decide</h2>${decisionForm(ctx, p, 'detail')}` : ''}
<h2>Request (PKCS#10)</h2><pre>${toPem(p.csr, 'CERTIFICATE REQUEST')}</pre>`;
  return layout(ctx, 'pending', `Request ${p.id}`, body, message);
}

export interface CertificateFilters {
  q?: string;
  label?: string;
  expiring?: number;
  status?: 'valid' | 'revoked';
}

export interface CertificateListView {
  records: CertificateRecord[];
  total: number;
  page: number;
  pageSize: number;
  filters: CertificateFilters;
}

function revokeForm(ctx: PageContext, r: CertificateRecord, back: 'list' | 'detail'): SafeHtml {
  return html`<form class="inline" method="post" action="${ctx.base}/certificates/${encodeURIComponent(r.serial)}/revoke">${csrfField(ctx)}
<input type="hidden" name="back" value="${back}"><select name="reason" aria-label="revocation reason for ${r.serial}">${REVOKE_REASONS.map((x) => html`<option>${x}</option>`)}</select>
<button class="revoke">Revoke</button></form>`;
}

function certState(ctx: PageContext, r: CertificateRecord): SafeHtml {
  if (r.status === 'revoked') return html`${badge('revoked')}<div class="muted">${time(r.revokedAt)}${r.revokedBy ? ` by ${r.revokedBy}` : ''}</div>`;
  return r.notAfter.getTime() <= ctx.now.getTime() ? badge('expired') : badge('valid');
}

export function certificateListPage(ctx: PageContext, v: CertificateListView, message?: Message): string {
  const f = v.filters;
  const filters = html`<form class="filters" method="get" action="${ctx.base}/certificates">
<label>Subject or serial<input type="search" name="q" value="${f.q ?? ''}" maxlength="200"></label>
<label>Label<input type="text" name="label" value="${f.label ?? ''}" maxlength="100"></label>
<label>Expiring within<select name="expiring"><option value="">any time</option>${[7, 30, 90, 365].map((d) => html`<option value="${d}"${f.expiring === d ? html` selected` : ''}>${d} days</option>`)}</select></label>
<label>Status<select name="status"><option value="">any</option>${(['valid', 'revoked'] as const).map((s) => html`<option${f.status === s ? html` selected` : ''}>${s}</option>`)}</select></label>
<button>Search</button></form>`;
  const rows = v.records.map(
    (r) => html`<tr data-serial="${r.serial}"><td class="mono"><a href="${ctx.base}/certificates/${encodeURIComponent(r.serial)}">${r.serial}</a></td><td>${r.subject || '(empty subject)'}${r.sans.map((s) => html`<div class="mono muted">${s}</div>`)}</td>
<td>${r.label ?? ''}</td><td class="when">${time(r.notBefore)}<div class="muted">to ${time(r.notAfter)}</div></td><td>${who(r.requester)}<div class="muted">${r.operation}</div></td>
<td>${certState(ctx, r)}</td><td>${r.status === 'valid' ? revokeForm(ctx, r, 'list') : ''}</td></tr>`,
  );
  const params = { q: f.q, label: f.label, expiring: f.expiring, status: f.status };
  const table = v.records.length
    ? html`<table><thead><tr><th>Serial</th><th>Subject</th><th>Label</th><th>Validity</th><th>Who asked</th><th>Status</th><th></th></tr></thead><tbody>${rows}</tbody></table>`
    : html`<p class="empty">No certificates match.</p>`;
  return layout(ctx, 'certificates', 'Issued certificates', html`${filters}${pager(ctx, 'certificates', params, v.page, v.pageSize, v.total)}${table}`, message);
}

function keyText(c: X509Certificate): string {
  const k = c.publicKey;
  const d = k.asymmetricKeyDetails ?? {};
  if (k.asymmetricKeyType === 'ec') return `EC ${{ prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' }[d.namedCurve ?? ''] ?? d.namedCurve}`;
  if (k.asymmetricKeyType === 'rsa' || k.asymmetricKeyType === 'rsa-pss') return `RSA-${d.modulusLength}`;
  return k.asymmetricKeyType ?? 'unknown';
}

export function certificateDetailPage(ctx: PageContext, r: CertificateRecord, message?: Message): string {
  let x509: X509Certificate | undefined;
  try {
    x509 = new X509Certificate(r.certificate);
  } catch {
    x509 = undefined;
  }
  const body = html`<dl><dt>Status</dt><dd>${certState(ctx, r)}${r.revocationReason ? html` <span class="muted">(${r.revocationReason})</span>` : ''}</dd>
<dt>Serial</dt><dd class="mono">${r.serial}</dd><dt>Subject</dt><dd>${r.subject || '(empty)'}</dd>
<dt>SANs</dt><dd>${r.sans.map((s) => html`<div class="mono">${s}</div>`)}</dd><dt>Issuer</dt><dd>${r.issuer}</dd>
<dt>Valid</dt><dd>${time(r.notBefore)} to ${time(r.notAfter)}</dd>${x509 ? html`<dt>Key</dt><dd>${keyText(x509)}</dd><dt>SHA-256</dt><dd class="mono">${x509.fingerprint256}</dd>` : ''}
<dt>Label</dt><dd>${r.label ?? '(none)'}</dd><dt>Operation</dt><dd>${r.operation}</dd><dt>Who asked</dt><dd>${who(r.requester)}</dd>
<dt>Peer</dt><dd class="mono">${r.peerAddress}</dd><dt>Request id</dt><dd class="mono">${r.requestId}</dd><dt>Recorded</dt><dd>${time(r.issuedAt)}</dd></dl>
<p><a href="${ctx.base}/certificates/${encodeURIComponent(r.serial)}.pem" download>Download PEM</a></p>
${r.status === 'valid' ? html`<h2>Revoke</h2>${revokeForm(ctx, r, 'detail')}` : ''}
<h2>Certificate</h2><pre>${toPem(r.certificate, 'CERTIFICATE')}</pre>`;
  return layout(ctx, 'certificates', `Certificate ${r.serial}`, body, message);
}

/** A page for errors reached while signed in (404, 400, 403 for a bad token, 409). */
export function errorPage(ctx: PageContext, here: 'pending' | 'certificates', title: string, text: string): string {
  return layout(ctx, here, title, html`<p><a href="${ctx.base}/${here}">Back to the list</a></p>`, { kind: 'error', text });
}
