// est(): the Express/Connect middleware. Route → TLS facts → authorize → operation handler.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createAuthRequest, OTP_HEADER } from '../auth/auth-request.js';
import { EstError, EstUnauthorizedError } from '../errors.js';
import { MediaType } from '../protocol/constants.js';
import { withChallengePassword } from '../protocol/csrattrs.js';
import { encodeCertsOnly } from '../protocol/pkcs7.js';
import { proxyHeaderNames } from '../tls/proxy-headers.js';
import { tlsFacts } from '../tls/tls-facts.js';
import { cacerts, csrattrs, enroll, serverkeygen, type RequestContext } from './handlers.js';
import { allowHeader, lookupOperation } from './operations.js';
import { parseOptions, type EstOptions } from './options.js';
import { compileRequiredAttrs } from './required-attrs.js';
import { prepareBase64, send, sendError, type Prepared } from './respond.js';

const WELL_KNOWN = '/.well-known/est';

/** A Connect/Express middleware, plus `close()` to release the auth-request connection pool. */
export interface EstMiddleware {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  /** Closes pooled connections (auth backend) and the serial store. */
  close(): Promise<void>;
}

/** The path below the mount point, and the mount path itself (for the label). */
function splitPath(req: IncomingMessage): { rest: string; mount: string } | undefined {
  const r = req as IncomingMessage & { baseUrl?: string; originalUrl?: string };
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const original = r.originalUrl ?? url;
  const mounted = r.baseUrl !== undefined ? r.baseUrl : original !== url ? original.slice(0, original.length - url.length) : '';
  if (mounted) return { rest: path, mount: mounted };
  // Used directly as a node:http handler or app-level middleware: match the well-known prefix.
  if (path === WELL_KNOWN || path.startsWith(WELL_KNOWN + '/')) {
    const after = path.slice(WELL_KNOWN.length);
    // `/.well-known/est/<label>/<op>` when used unmounted: the label is the first segment.
    const segs = after.split('/');
    if (segs.length === 3 && segs[1] && !lookupOperation(segs[1])) return { rest: '/' + segs[2], mount: `${WELL_KNOWN}/${segs[1]}` };
    return { rest: after, mount: WELL_KNOWN };
  }
  return undefined;
}

/** The CA label implied by the mount path (`/.well-known/est/<label>`), if any. */
function labelOf(mount: string): string | undefined {
  const m = /\/\.well-known\/est\/([^/]+)\/?$/.exec(mount);
  return m ? decodeURIComponent(m[1]!) : undefined;
}

/**
 * Creates the EST middleware. Options mirror the nginx-http-est directives; they are validated
 * now, and a bad one throws `EstConfigError` naming the option and its directive.
 *
 * @see RFC 7030 §3.2.2 (operation paths), §4 (operations)
 */
export function est(options: EstOptions): EstMiddleware {
  const config = parseOptions(options);
  const authRequest = config.authRequest
    ? createAuthRequest({ url: config.authRequest, timeout: config.authRequestTimeout, stripHeaders: proxyHeaderNames(config.proxyHeaders) })
    : undefined;
  const requiredAttrs = compileRequiredAttrs(config.csrAttrsDer);

  // Constant responses, encoded once.
  const cacertsPrepared: Prepared | undefined = config.cacertsDer ? prepareBase64(MediaType.pkcs7, encodeCertsOnly(config.cacertsDer)) : undefined;
  const popCsrAttrs = (der: Uint8Array | undefined) => (config.pop ? withChallengePassword(der) : der);
  const csrAttrsFromCa = typeof config.ca.csrattrs === 'function' && config.csrAttrsDer === undefined;
  const constantCsrAttrs = popCsrAttrs(config.csrAttrsDer);
  const csrAttrsPrepared = constantCsrAttrs ? prepareBase64(MediaType.csrattrs, constantCsrAttrs) : undefined;

  async function handle(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): Promise<void> {
    const where = splitPath(req);
    if (!where) return next();
    const name = where.rest.startsWith('/') ? where.rest.slice(1) : where.rest;
    const op = lookupOperation(name);
    if (!op) throw new EstError(404, 'ERR_EST_NOT_FOUND', name ? `unknown EST operation: ${name.slice(0, 64)}` : 'no EST operation in path');
    const method = req.method ?? 'GET';
    if (!(method === op.method || (op.method === 'GET' && method === 'HEAD'))) {
      throw new EstError(405, 'ERR_EST_METHOD', `${op.name} accepts ${allowHeader(op)} only`, { headers: { Allow: allowHeader(op) } });
    }
    const facts = tlsFacts(req, config);
    const label = labelOf(where.mount);
    const ctx: RequestContext = { req, res, config, facts, authenticatedBy: 'none', requiredAttrs };
    if (label !== undefined) ctx.label = label;
    const originalUri = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '';
    if (authRequest) ctx.verifyOtp = (otp) => authRequest.check(req, originalUri, { [OTP_HEADER]: otp });

    if (op.auth) {
      // nginx-http-est's rule: a verified client certificate is enough; else ask est_auth_request.
      if (facts.clientCertificateVerified) {
        ctx.authenticatedBy = 'certificate';
      } else if (authRequest) {
        await authRequest.check(req, originalUri);
        ctx.authenticatedBy = 'auth-request';
      } else {
        throw new EstUnauthorizedError(facts.clientCertificate ? `client certificate not accepted: ${facts.clientCertificateError ?? 'unverified'}` : 'authentication required: present a TLS client certificate');
      }
    }

    switch (op.name) {
      case 'cacerts':
        return cacerts(ctx, cacertsPrepared);
      case 'csrattrs':
        return csrattrs(ctx, csrAttrsPrepared, csrAttrsFromCa, popCsrAttrs);
      case 'simpleenroll':
      case 'simplereenroll':
        return enroll(ctx, op.name);
      case 'serverkeygen':
        return serverkeygen(ctx);
      case 'fullcmc':
        throw new EstError(501, 'ERR_EST_NOT_IMPLEMENTED', 'fullcmc is not implemented (RFC 7030 §4.3: 501 means not supported)');
    }
  }

  const middleware = ((req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => {
    const fallthrough =
      next ??
      (() => {
        sendError(req, res, new EstError(404, 'ERR_EST_NOT_FOUND', 'not found'));
      });
    handle(req, res, fallthrough).catch((err: unknown) => {
      if (err instanceof EstError) {
        if (err.status >= 500) config.logger.error({ err, code: err.code, url: req.url }, err.message);
        else config.logger.debug?.({ code: err.code, url: req.url }, err.message);
        sendError(req, res, err);
        return;
      }
      config.logger.error({ err, url: req.url }, 'unexpected error in est()');
      sendError(req, res, new EstError(500, 'ERR_EST_INTERNAL', 'internal server error'));
    });
  }) as EstMiddleware;
  middleware.close = async () => {
    await authRequest?.close();
    await config.serialStore?.close?.();
  };
  return middleware;
}
