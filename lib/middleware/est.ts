// est(): the Express/Connect middleware. Route → TLS facts → authorize → the operation's handler.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createAuthRequest, OTP_HEADER } from '../auth/auth-request.js';
import { authorize } from '../auth/authorize.js';
import { compileNameRules, compileRequiredAttrs } from '../check/index.js';
import { EstConfigError, EstError, estError } from '../errors.js';
import { MediaType } from '../protocol/constants.js';
import { withChallengePassword } from '../protocol/csrattrs.js';
import { encodeCertsOnly } from '../protocol/pkcs7.js';
import { isOpenable } from '../store/store-option.js';
import { proxyHeaderNames } from '../tls/proxy-headers.js';
import { tlsFacts } from '../tls/tls-facts.js';
import { assemble, type EstConfig } from './assemble.js';
import type { Constants, RequestContext } from './context.js';
import { allowHeader, lookupOperation } from './operations.js';
import { parseOptions, type EstOptions } from './options.js';
import { prepareBase64, sendError } from './respond.js';
import { labelOf, splitPath } from './route.js';
import type { RecordStore } from '../store/types.js';

/** An incoming X-Request-Id we reuse: 1–64 visible ASCII characters, no spaces or quotes. */
const REQUEST_ID = /^[A-Za-z0-9._:@\/+=-]{1,64}$/;

/** A Connect/Express middleware, plus `ready()` and `close()`. */
export interface EstMiddleware {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  /**
   * Resolves once the record store can be used (PostgreSQL: reachable, schema migrated); rejects
   * with EstConfigError naming `store`. Await it before listening (est-server does).
   */
  ready(): Promise<void>;
  /** Throws when the record store cannot be used now (for /readyz); resolves at once without one. */
  checkStore(): Promise<void>;
  /** Closes pooled connections (auth backend), the serial store and the record store est() made. */
  close(): Promise<void>;
  /** The record store est() writes to (for estAdmin and est-admin), when there is one. */
  readonly store?: RecordStore;
}

/** Opens the store when it needs to (PostgreSQL); a failure names the `store` option. */
function openStore(config: EstConfig): Promise<void> {
  const store = config.store;
  if (!store || !isOpenable(store)) return Promise.resolve();
  return store.open().catch((e: unknown) => {
    throw new EstConfigError(`est: \`store\`: ${(e as Error).message}`, { cause: e });
  });
}

/**
 * Creates the EST middleware. Options mirror the nginx-http-est directives; they are validated
 * now, and a bad one throws `EstConfigError` naming the option and its directive.
 *
 * @see RFC 7030 §3.2.2 (operation paths), §4 (operations)
 */
/** X-Request-Id when it is a sane token (≤ 64 visible characters), else a fresh UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** Constant responses and compiled checks, encoded once per est(). */
function prepare(config: EstConfig): Constants {
  const popCsrAttrs = (der: Uint8Array | undefined) => (config.pop ? withChallengePassword(der) : der);
  const configured = config.csrAttrs;
  const constantCsrAttrs = config.pop ? withChallengePassword(configured?.der, configured?.items) : configured?.der;
  const constants: Constants = {
    csrattrsFromCa: typeof config.ca.csrattrs === 'function' && config.csrAttrs === undefined,
    popCsrAttrs,
  };
  if (config.cacertsDer) constants.cacerts = prepareBase64(MediaType.pkcs7, encodeCertsOnly(config.cacertsDer));
  if (constantCsrAttrs) constants.csrattrs = prepareBase64(MediaType.csrattrs, constantCsrAttrs);
  return constants;
}

/**
 * Creates the EST middleware. Options mirror the nginx-http-est directives; they are validated
 * now, and a bad one throws `EstConfigError` naming the option and its directive.
 *
 * @see RFC 7030 §3.2.2 (operation paths), §4 (operations)
 */
export function est(options: EstOptions): EstMiddleware {
  const config = assemble(parseOptions(options));
  const authRequest = config.authRequest
    ? createAuthRequest({ url: config.authRequest, timeout: config.authRequestTimeout, stripHeaders: proxyHeaderNames(config.proxyHeaders) })
    : undefined;
  const requiredAttrs = compileRequiredAttrs(config.csrAttrs?.items);
  const nameRules = compileNameRules({
    maxSubjectAltNames: config.maxSubjectAltNames,
    maxSubjectSize: config.maxSubjectSize,
    caCertificates: [...(config.cacertsDer ?? []), ...config.trustAnchors.map((a) => new Uint8Array(a.raw))],
  });
  const prepared = prepare(config);
  const ready = openStore(config);
  // Also reported here, for apps that never await ready(); requests meanwhile get 503s from the store.
  ready.catch((e: Error) => config.logger.error({ err: e, code: 'ERR_EST_CONFIG' }, e.message));

  /** Route → TLS facts → authorize → the operation's handler (check, issue, respond). */
  async function handle(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): Promise<void> {
    const where = splitPath(req);
    if (!where) return next();
    const name = where.rest.startsWith('/') ? where.rest.slice(1) : where.rest;
    const op = lookupOperation(name);
    if (!op) throw estError('ERR_EST_NOT_FOUND', name ? `unknown EST operation: ${name.slice(0, 64)}` : 'no EST operation in path');
    const method = req.method ?? 'GET';
    if (!(method === op.method || (op.method === 'GET' && method === 'HEAD'))) {
      throw estError('ERR_EST_METHOD', `${op.name} accepts ${allowHeader(op)} only`, { headers: { Allow: allowHeader(op) } });
    }
    // A label that is not valid percent-encoding is a 400 before anything else is looked at.
    const label = labelOf(where.mount);
    // The client certificate is read and verified only for operations that authenticate.
    const facts = await tlsFacts(req, config, op.auth);
    const originalUri = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '';
    const who = op.auth ? await authorize(req, facts, authRequest?.check, originalUri) : { method: 'none' as const };
    const ctx: RequestContext = {
      req, res, config, prepared, facts, requiredAttrs, nameRules,
      requestId: requestIdOf(req),
      authenticatedBy: who.method,
      pop: config.pop,
      popAcceptTls13Finished: config.popAcceptTls13Finished,
      customCa: config.customCa,
    };
    if (label !== undefined) ctx.label = label;
    if (who.user !== undefined) ctx.user = who.user;
    if (authRequest) ctx.verifyOtp = async (otp) => void (await authRequest.check(req, originalUri, { [OTP_HEADER]: otp }));
    return op.handler(ctx);
  }

  const middleware = ((req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => {
    const fallthrough =
      next ??
      (() => {
        sendError(req, res, estError('ERR_EST_NOT_FOUND', 'not found'));
      });
    handle(req, res, fallthrough).catch((err: unknown) => {
      if (err instanceof EstError) {
        if (err.status >= 500) config.logger.error({ err, code: err.code, url: req.url }, err.message);
        else config.logger.debug?.({ code: err.code, url: req.url }, err.message);
        sendError(req, res, err);
        return;
      }
      config.logger.error({ err, url: req.url }, 'unexpected error in est()');
      sendError(req, res, estError('ERR_EST_INTERNAL', 'internal server error'));
    });
  }) as EstMiddleware;
  middleware.ready = () => ready;
  middleware.checkStore = async () => {
    await config.store?.check();
  };
  if (config.store) Object.defineProperty(middleware, 'store', { value: config.store, enumerable: true });
  middleware.close = async () => {
    await authRequest?.close();
    if (config.store && config.storeOwned) await config.store.close();
    // The CA est() built (and its serial store) is ours to close; a custom CA belongs to its owner.
    if (!config.customCa) await config.ca.close?.();
  };
  return middleware;
}
