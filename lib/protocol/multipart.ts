// multipart/mixed for /serverkeygen (RFC 7030 §4.4.2, RFC 2046 §5.1): CRLF throughout.
import { parseMediaType } from './media-type.js';

/** One body part: its headers and raw body text. */
export interface MultipartPart {
  headers: Record<string, string>;
  body: Buffer;
}

/** Builds a multipart/mixed body; each part's body is used as given (already base64 + CRLF). */
export function buildMultipart(boundary: string, parts: readonly { headers: Record<string, string>; body: string }[]): Buffer {
  let out = '';
  for (const p of parts) {
    out += `--${boundary}\r\n`;
    for (const [k, v] of Object.entries(p.headers)) out += `${k}: ${v}\r\n`;
    out += '\r\n' + p.body;
    if (!p.body.endsWith('\r\n')) out += '\r\n';
  }
  out += `--${boundary}--\r\n`;
  return Buffer.from(out, 'latin1');
}

/**
 * Parses a multipart body leniently (LF or CRLF, preamble/epilogue, whitespace after the boundary),
 * as served by libest, nginx-http-est and RFC 7030 A.4.
 */
export function parseMultipart(body: Uint8Array, contentType: string | undefined): MultipartPart[] {
  const mt = parseMediaType(contentType);
  const boundary = mt?.params['boundary'];
  if (!mt || !mt.type.startsWith('multipart/') || !boundary) throw new Error('not a multipart body');
  const text = Buffer.from(body).toString('latin1');
  const delim = '--' + boundary;
  const parts: MultipartPart[] = [];
  const lines = text.split(/\r?\n/);
  let current: string[] | undefined;
  const flush = () => {
    if (!current) return;
    const blank = current.indexOf('');
    const headerLines = blank < 0 ? current : current.slice(0, blank);
    const bodyLines = blank < 0 ? [] : current.slice(blank + 1);
    const headers: Record<string, string> = {};
    for (const h of headerLines) {
      const c = h.indexOf(':');
      if (c > 0) headers[h.slice(0, c).trim().toLowerCase()] = h.slice(c + 1).trim();
    }
    parts.push({ headers, body: Buffer.from(bodyLines.join('\r\n'), 'latin1') });
  };
  for (const line of lines) {
    const t = line.trimEnd();
    if (t === delim || t === delim + '--') {
      flush();
      current = t === delim ? [] : undefined;
      if (t !== delim) break;
      continue;
    }
    current?.push(line);
  }
  return parts;
}
