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
  res.writeHead(err.status, headers);
  res.end(req.method === 'HEAD' || body.length === 0 ? undefined : body);
}
