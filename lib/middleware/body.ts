// Reads a request body with a size bound; checks the Content-Type first (415) and the size (413).
import type { IncomingMessage } from 'node:http';
import { estError } from '../errors.js';
import { BodyEncodingError, decodeBody } from '../protocol/base64.js';
import { parseMediaType } from '../protocol/media-type.js';

/** Body already read by a body-parser mounted before est() (Express `req.body` as a Buffer/string). */
function preParsed(req: IncomingMessage): Buffer | undefined {
  const b = (req as IncomingMessage & { body?: unknown }).body;
  if (Buffer.isBuffer(b)) return b;
  if (typeof b === 'string') return Buffer.from(b, 'latin1');
  return undefined;
}

/**
 * Checks that the request's media type is one of `accepted` (case-insensitive, parameters
 * tolerated, RFC 9110 §8.3.1); a missing or other type gets 415.
 */
export function checkContentType(req: IncomingMessage, accepted: readonly string[]): void {
  const mt = parseMediaType(req.headers['content-type']);
  if (!mt) throw estError('ERR_EST_CONTENT_TYPE', `missing Content-Type: expected ${accepted.join(' or ')}`);
  if (!accepted.includes(mt.type)) {
    throw estError('ERR_EST_CONTENT_TYPE', `unsupported Content-Type ${mt.type}: expected ${accepted.join(' or ')}`);
  }
}

/**
 * Reads the whole body, at most `limit` bytes (413 past it, without buffering the rest), within
 * `timeoutMs` (408 and `Connection: close` past it: a trickling upload may not hold the connection).
 */
export async function readBody(req: IncomingMessage, limit: number, timeoutMs = 30_000): Promise<Buffer> {
  const parsed = preParsed(req);
  if (parsed) {
    if (parsed.length > limit) throw estError('ERR_EST_BODY_TOO_LARGE', `request body larger than ${limit} bytes`);
    return parsed;
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw estError('ERR_EST_BODY_TOO_LARGE', `request body larger than ${limit} bytes`);
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const timer = setTimeout(() => {
      req.pause();
      finish(estError('ERR_EST_BODY_TIMEOUT', `request body not received within ${timeoutMs} ms`, { headers: { Connection: 'close' } }));
    }, timeoutMs);
    const finish = (err?: Error, body?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (err) reject(err);
      else resolve(body!);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.resume();
        finish(estError('ERR_EST_BODY_TOO_LARGE', `request body larger than ${limit} bytes`));
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => finish(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    const onError = (e: Error) => finish(estError('ERR_EST_BODY', `could not read request body: ${e.message}`));
    const onAborted = () => finish(estError('ERR_EST_BODY', 'request aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/** Checks the media type (415), reads at most `limit` bytes (413) and decodes the base64 body to DER (RFC 8951 §3). */
export async function readDerBody(req: IncomingMessage, accepted: readonly string[], limit: number, timeoutMs?: number): Promise<Uint8Array> {
  checkContentType(req, accepted);
  const body = await readBody(req, limit, timeoutMs);
  try {
    return decodeBody(body);
  } catch (e) {
    if (e instanceof BodyEncodingError) throw estError('ERR_EST_BODY_ENCODING', e.message);
    throw e;
  }
}
