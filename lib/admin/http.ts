// HTTP plumbing of the admin pages: security headers, responses, redirects, bounded form bodies.
import type { IncomingMessage, ServerResponse } from 'node:http';

export const MAX_FORM = 16 * 1024;
export const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

/** An error shown as a page, with its status (400, 403, 404, 405, 413, 415). */
export class PageError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': String(buf.length), ...extra });
  res.end(req.method === 'HEAD' ? undefined : buf);
}

export function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { ...SECURITY_HEADERS, Location: location, 'Content-Length': '0' }).end();
}

/** The mount path (Express `baseUrl`, or what `originalUrl` has before `url`). */
export function baseOf(req: IncomingMessage): string {
  const r = req as IncomingMessage & { baseUrl?: string; originalUrl?: string };
  if (r.baseUrl !== undefined) return r.baseUrl;
  const url = req.url ?? '/';
  const original = r.originalUrl ?? url;
  return original !== url && original.endsWith(url) ? original.slice(0, original.length - url.length) : '';
}

export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
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

export function pageNumber(v: string | null): number {
  const n = v === null ? 1 : Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new PageError(400, 'page must be a positive whole number');
  return n;
}

export function reasonText(v: string | null): string | undefined {
  const s = (v ?? '').replace(/[\r\n\t]+/g, ' ').trim();
  if (s.length > 500) throw new PageError(400, 'the reason is longer than 500 characters');
  return s || undefined;
}
