// Writes responses with node:http only (Express 4/5 and Connect alike): Content-Length always, never chunked.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EstError } from '../errors.js';
import { MediaType } from '../protocol/constants.js';
import { encodeBase64Lines } from '../protocol/base64.js';

/** A response prepared once and reused (e.g. /cacerts): headers plus body bytes. */
export interface Prepared {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Prepares a base64 DER payload (RFC 8951: base64; CTE header still sent for old clients). */
export function prepareBase64(contentType: string, der: Uint8Array): Prepared {
  const body = Buffer.from(encodeBase64Lines(der), 'latin1');
  return {
    status: 200,
    headers: { 'Content-Type': contentType, 'Content-Transfer-Encoding': 'base64', 'Content-Length': String(body.length) },
    body,
  };
}

/** Sends a prepared response; HEAD gets the headers only. */
export function send(req: IncomingMessage, res: ServerResponse, p: Prepared, extraHeaders?: Record<string, string>): void {
  res.writeHead(p.status, extraHeaders ? { ...p.headers, ...extraHeaders } : p.headers);
  res.end(req.method === 'HEAD' ? undefined : p.body);
}

/** How long the rest of a request body an early answer left unread may still be read and dropped. */
const UNREAD_BODY_GRACE_MS = 2_000;

/**
 * For an answer given before the request body was read to its end (401, 404, 413…): once the
 * answer is out, node reads and drops the rest of the body (so that a small body in flight ends
 * cleanly: closing on unread bytes would reset the connection and could lose the answer), for at
 * most UNREAD_BODY_GRACE_MS; then the socket is destroyed, so an endless upload cannot hold the
 * connection until the server's requestTimeout. (`Connection: close` would make node close at
 * once, on the unread bytes.)
 */
export function cutUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete) return;
  res.once('finish', () => {
    if (req.complete) return;
    const cut = setTimeout(() => req.socket.destroy(), UNREAD_BODY_GRACE_MS);
    cut.unref();
    const keep = () => clearTimeout(cut);
    req.once('end', keep);
    req.socket.once('close', keep);
  });
}

/** Renders an error: 401 empty with WWW-Authenticate; others text/plain with a one-line reason. */
export function sendError(req: IncomingMessage, res: ServerResponse, err: EstError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = { 'Cache-Control': 'no-store', ...(err.headers ?? {}) };
  if (err.retryAfter !== undefined) headers['Retry-After'] = String(err.retryAfter);
  let body = Buffer.alloc(0);
  if (err.status === 401) {
    headers['WWW-Authenticate'] ??= 'Basic realm="est"';
  } else {
    body = Buffer.from(err.message.replace(/[\r\n]+/g, ' ') + '\n', 'utf8');
    headers['Content-Type'] = MediaType.textPlain;
  }
  if (err.status === 202 && body.length > 0) {
    // Bouncy Castle's EST client closes a 202 without reading it, and fails when a Content-Length
    // promised bytes it did not read: the one-line body is delimited by closing the connection.
    headers['Connection'] = 'close';
    res.removeHeader('Content-Length');
    res.removeHeader('Transfer-Encoding');
  } else headers['Content-Length'] = String(body.length);
  cutUnreadBody(req, res);
  res.writeHead(err.status, headers);
  res.end(req.method === 'HEAD' || body.length === 0 ? undefined : body);
}
