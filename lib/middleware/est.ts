// est(): the Express/Connect middleware. Route → TLS facts → authorize → the operation's handler.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createAuthRequest, OTP_HEADER } from '../auth/auth-request.js';
import { authorize } from '../auth/authorize.js';
import { compileNameRules, compileRequiredAttrs, otpHeaderValue } from '../check/index.js';
import { EstConfigError, EstError, EstForbiddenError, EstUnauthorizedError, estError } from '../errors.js';
import { secondsSince, type AuthOutcome } from '../observe/metrics.js';
import { inSpan } from '../observe/tracing.js';
import { MediaType } from '../protocol/constants.js';
import { withChallengePassword } from '../protocol/csrattrs.js';
import { encodeCertsOnly } from '../protocol/pkcs7.js';
import { isOpenable } from '../store/store-option.js';
import { proxyHeaderNames } from '../tls/proxy-headers.js';
import { tlsFacts } from '../tls/tls-facts.js';
import { assemble, type EstConfig } from './assemble.js';
import type { Constants, Observed, RequestContext } from './context.js';
import type { AuthRequestFn } from '../auth/auth-request.js';
import type { TlsFacts } from '../tls/tls-facts.js';
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

/** The user behind the credentials: the verified client certificate's subject, or the Basic user name. */
function userOf(req: IncomingMessage, facts: TlsFacts, auth: string): string | undefined {
  if (auth === 'certificate') return facts.clientCertificate?.subject.split('\n').join(', ');
  const a = req.headers.authorization;
  if (!a || !/^basic /i.test(a)) return undefined;
  const decoded = Buffer.from(a.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(0, colon).slice(0, 128);
}

/** The authRequest subrequest, timed into `est_auth_request_duration_seconds{outcome}` and spanned. */
function observedAuthRequest(check: AuthRequestFn, config: EstConfig): AuthRequestFn {
  return (req, originalUri, extra) =>
    inSpan('est.authorize', {}, async () => {
      const start = process.hrtime.bigint();
      let outcome: AuthOutcome = 'allowed';
      try {
        return await check(req, originalUri, extra);
      } catch (e) {
        outcome = e instanceof EstUnauthorizedError ? 'unauthorized' : e instanceof EstForbiddenError ? 'forbidden' : 'error';
        throw e;
      } finally {
        config.metrics?.authRequest.observe({ outcome }, secondsSince(start));
      }
    });
}

/** A 5xx that is the server's fault: not 501, the answer to a request for something unsupported (fullcmc, encrypted keys). */
function serverFault(status: number): boolean {
  return status >= 500 && status !== 501;
}

/**
 * The request's one log line, when its response is finished: id, peer, label, operation, how the
 * client authenticated and who, status, duration; the one-line reason of a refusal; the serial of
 * an issued certificate. 5xx at error, everything else (a 501 for an unsupported operation too) at info.
 */
function logRequest(config: EstConfig, requestId: string, o: Observed, status: number, startedAt: bigint, err: unknown): void {
  const line: Record<string, unknown> = {
    requestId, peer: o.peer, label: o.label ?? null, operation: o.operation ?? null, auth: o.auth ?? 'none',
    ...(o.user !== undefined ? { user: o.user } : {}),
    status, durationMs: Math.round(secondsSince(startedAt) * 1e6) / 1000,
    ...(o.serial !== undefined ? { serial: o.serial, subject: o.subject } : {}),
    ...(o.reenroll !== undefined ? { reenroll: o.reenroll } : {}),
  };
  if (err !== undefined) {
    line.reason = err instanceof EstError ? err.message.replace(/[\r\n]+/g, ' ') : 'internal server error';
    if (err instanceof EstError) line.code = err.code;
    if (serverFault(status)) line.err = err;
  }
  if (serverFault(status)) config.logger.error(line, 'est request');
  else config.logger.info(line, 'est request');
  config.metrics?.requests.inc({ operation: o.operation ?? 'unknown', label: o.label ?? '', status: String(status) });
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
  const authRequestPool = config.authRequest
    ? createAuthRequest({
        url: config.authRequest,
        timeout: config.authRequestTimeout,
        stripHeaders: proxyHeaderNames(config.proxyHeaders),
        ...(config.authRequestCache ? { cache: config.authRequestCache, onCacheLookup: (hit: boolean) => config.metrics?.authCache?.inc({ result: hit ? 'hit' : 'miss' }) } : {}),
      })
    : undefined;
  const authRequest = authRequestPool ? { check: observedAuthRequest(authRequestPool.check, config), close: () => authRequestPool.close() } : undefined;
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
  async function handle(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void, requestId: string, startedAt: bigint, observed: Observed): Promise<void> {
    const where = splitPath(req);
    if (!where) return next();
    const name = where.rest.startsWith('/') ? where.rest.slice(1) : where.rest;
    observed.peer = req.socket.remoteAddress ?? '';
    const op = lookupOperation(name);
    observed.operation = op ? op.name : 'unknown';
    // A label that is not valid percent-encoding is a 400 (logged) before anything else is looked at.
    const label = labelOf(where.mount);
    if (label !== undefined) observed.label = label;
    if (!op) throw estError('ERR_EST_NOT_FOUND', name ? `unknown EST operation: ${name.slice(0, 64)}` : 'no EST operation in path');
    const method = req.method ?? 'GET';
    if (!(method === op.method || (op.method === 'GET' && method === 'HEAD'))) {
      throw estError('ERR_EST_METHOD', `${op.name} accepts ${allowHeader(op)} only`, { headers: { Allow: allowHeader(op) } });
    }
    return inSpan(`EST ${op.name}`, { 'est.operation': op.name, 'est.label': label ?? '', 'http.request.method': method }, async (span) => {
      // The client certificate is read and verified only for operations that authenticate.
      const facts = await tlsFacts(req, config, op.auth);
      observed.peer = facts.peerAddress;
      const originalUri = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '';
      const who = op.auth ? await authorize(req, facts, authRequest?.check, originalUri) : { method: 'none' as const };
      observed.auth = who.method;
      const user = who.user ?? (op.auth ? userOf(req, facts, who.method) : undefined);
      if (user !== undefined) observed.user = user;
      const ctx: RequestContext = {
        req, res, config, prepared, facts, requiredAttrs, nameRules, requestId, startedAt, observed,
        authenticatedBy: who.method,
        pop: config.pop,
        popAcceptTls13Finished: config.popAcceptTls13Finished,
        customCa: config.customCa,
      };
      if (label !== undefined) ctx.label = label;
      if (who.user !== undefined) ctx.user = who.user;
      if (authRequest) ctx.verifyOtp = async (otp) => void (await authRequest.check(req, originalUri, { [OTP_HEADER]: otpHeaderValue(otp) }));
      await op.handler(ctx);
      span.setAttribute('http.response.status_code', res.statusCode);
    });
  }

  const middleware = ((req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => {
    const startedAt = process.hrtime.bigint();
    const requestId = requestIdOf(req);
    const observed: Observed = {};
    let failure: unknown;
    let logged = false;
    const log = () => {
      if (logged || observed.operation === undefined) return; // not ours: passed on to next()
      logged = true;
      logRequest(config, requestId, observed, res.statusCode, startedAt, failure);
    };
    res.once('finish', log);
    res.once('close', log);
    const fallthrough =
      next ??
      (() => {
        sendError(req, res, estError('ERR_EST_NOT_FOUND', 'not found'));
      });
    handle(req, res, fallthrough, requestId, startedAt, observed).catch((err: unknown) => {
      failure = err;
      sendError(req, res, err instanceof EstError ? err : estError('ERR_EST_INTERNAL', 'internal server error'));
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
