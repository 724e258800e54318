// Where an EST request lives: /.well-known/est[/<label>]/<operation> (RFC 7030 §3.2.2). The one
// place that splits that path, for est() and for est-server's choice among its labels.
import type { IncomingMessage } from 'node:http';
import { estError } from '../errors.js';
import { lookupOperation } from './operations.js';

/** The EST path prefix (RFC 7030 §3.2.2). */
export const WELL_KNOWN = '/.well-known/est';

/**
 * Splits a path under {@link WELL_KNOWN}: `/.well-known/est/<label>/<op>` gives the label (the
 * raw segment, as sent) and `/<op>`; `/.well-known/est/<op>` gives `/<op>` alone. A segment
 * that names an operation is never a label. Undefined for a path elsewhere.
 */
export function splitWellKnown(path: string): { label?: string; rest: string } | undefined {
  if (path !== WELL_KNOWN && !path.startsWith(WELL_KNOWN + '/')) return undefined;
  const after = path.slice(WELL_KNOWN.length);
  const segs = after.split('/');
  if (segs.length === 3 && segs[1] && !lookupOperation(segs[1])) return { label: segs[1], rest: '/' + segs[2] };
  return { rest: after };
}

/** The path of a request URL, without its query. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * The path below the mount point, and the mount path itself (for the label). Mounted by a
 * framework (`req.baseUrl`, or `originalUrl` longer than `url`), the mount is taken as given;
 * used directly as a node:http handler, the well-known prefix is matched here.
 */
export function splitPath(req: IncomingMessage): { rest: string; mount: string } | undefined {
  const r = req as IncomingMessage & { baseUrl?: string; originalUrl?: string };
  const url = req.url ?? '/';
  const path = pathOf(url);
  const original = r.originalUrl ?? url;
  const mounted = r.baseUrl !== undefined ? r.baseUrl : original !== url ? original.slice(0, original.length - url.length) : '';
  if (mounted) return { rest: path, mount: mounted };
  const where = splitWellKnown(path);
  if (!where) return undefined;
  return { rest: where.rest, mount: where.label === undefined ? WELL_KNOWN : `${WELL_KNOWN}/${where.label}` };
}

/** The CA label implied by the mount path (`/.well-known/est/<label>`), if any; 400 when it is not valid percent-encoding. */
export function labelOf(mount: string): string | undefined {
  const m = /\/\.well-known\/est\/([^/]+)\/?$/.exec(mount);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    throw estError('ERR_EST_BAD_PATH', 'the CA label in the path is not valid percent-encoding (RFC 3986 §2.1)');
  }
}
