// HTTPS/HTTP client for tests: raw node requests, full control of headers and body.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, Agent } from 'node:https';
import { readFileSync } from 'node:fs';

export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Client certificate and key paths for mutual TLS. */
  cert?: string;
  key?: string;
  /** CA file to trust for the server certificate. */
  ca?: string;
  agent?: Agent | false;
}

/** Sends one request to `url` (http or https) and buffers the answer. */
export function fetchRaw(url: string, opts: RequestOptions = {}): Promise<TestResponse> {
  const u = new URL(url);
  const isHttps = u.protocol === 'https:';
  const fn = isHttps ? httpsRequest : httpRequest;
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
    headers['Content-Length'] = String(Buffer.byteLength(opts.body));
  }
  return new Promise((resolve, reject) => {
    const req = fn(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: opts.method ?? 'GET',
        headers,
        ...(isHttps
          ? {
              ca: opts.ca ? readFileSync(opts.ca) : undefined,
              cert: opts.cert ? readFileSync(opts.cert) : undefined,
              key: opts.key ? readFileSync(opts.key) : undefined,
              rejectUnauthorized: !!opts.ca,
              agent: opts.agent ?? false,
              servername: 'localhost',
            }
          : { agent: opts.agent ?? false }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('latin1') });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** Base64 in 64-column lines (what most clients send). */
export function b64lines(der: Buffer, eol = '\n', width = 64): string {
  const b = der.toString('base64');
  const out: string[] = [];
  for (let i = 0; i < b.length; i += width) out.push(b.slice(i, i + width));
  return out.join(eol) + eol;
}

export const basic = (user: string, pass: string): string => 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
