// A record store that cannot be used, as the client sees it: 503 + Retry-After, the cause in the log.
import { EstError, estError } from '../errors.js';
import type { RequestContext } from './context.js';

/** Seconds a client waits before retrying when the ledger cannot be used. */
const STORE_RETRY_AFTER = 5;

/** A store failure as the client sees it (503 + Retry-After, nothing internal), logged with its cause. */
export function storeUnavailable(ctx: RequestContext, what: string, e: unknown, extra: object = {}): EstError {
  ctx.config.logger.error(
    { err: e, code: (e as EstError).code ?? 'ERR_EST_STORE_UNAVAILABLE', requestId: ctx.requestId, ...extra },
    `${what}: ${(e as Error).message}`,
  );
  const retryAfter = e instanceof EstError && e.status === 503 && e.retryAfter !== undefined ? e.retryAfter : STORE_RETRY_AFTER;
  return estError('ERR_EST_STORE_UNAVAILABLE', `${what}; retry later`, { retryAfter });
}
