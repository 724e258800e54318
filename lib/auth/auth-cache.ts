// authRequestCache: an opt-in cache of the auth backend's answers. nginx's auth_request does not
// cache, so neither does est() unless asked.
import { createHash } from 'node:crypto';
import type { BackendAnswer } from './auth-request.js';

/** Seconds an allow is reused; refusals (401/403) for at most `refusalTtl`; at most `maxEntries` kept. */
export interface AuthCacheOptions {
  ttl: number;
  refusalTtl: number;
  maxEntries: number;
}

/** Headers that differ on every request without changing who is asking: not part of the key. */
const VOLATILE = new Set(['x-request-id', 'x-correlation-id', 'traceparent', 'tracestate', 'x-amzn-trace-id', 'date']);

/**
 * The key of a subrequest: SHA-256 over every header sent to the backend (credentials, client
 * certificate headers, X-Forwarded-For, X-Original-URI and -Method) except the volatile ones, so an
 * answer is only ever reused for the same subrequest.
 */
export function authCacheKey(headers: Record<string, string | string[]>): string {
  const h = createHash('sha256');
  for (const name of Object.keys(headers).sort()) {
    if (VOLATILE.has(name)) continue;
    const v = headers[name]!;
    h.update(name).update('\0').update(Array.isArray(v) ? v.join('\0\0') : v).update('\0\0\0');
  }
  return h.digest('base64');
}

/**
 * Answers by key, oldest first (a Map keeps insertion order, so eviction drops the oldest). Only
 * 2xx, 401 and 403 are kept; any other status is not, and a timeout or an unreachable backend is
 * an error, never an answer. Concurrent identical subrequests share one call to the backend.
 */
export class AuthAnswerCache {
  private readonly entries = new Map<string, { expires: number; answer: BackendAnswer }>();
  private readonly inFlight = new Map<string, Promise<BackendAnswer>>();

  /** `onLookup`: told of every lookup (metrics); joining a call on its way is a hit. */
  constructor(
    private readonly o: AuthCacheOptions,
    private readonly onLookup?: (hit: boolean) => void,
  ) {}

  /** The answer for `key`: kept, on its way, or from `ask()`. */
  answer(key: string, ask: () => Promise<BackendAnswer>): Promise<BackendAnswer> {
    const kept = this.entries.get(key);
    if (kept && kept.expires > Date.now()) {
      this.onLookup?.(true);
      return Promise.resolve(kept.answer);
    }
    if (kept) this.entries.delete(key);
    const pending = this.inFlight.get(key);
    this.onLookup?.(pending !== undefined);
    if (pending) return pending;
    const fresh = ask()
      .then((a) => this.keep(key, a))
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, fresh);
    return fresh;
  }

  private keep(key: string, a: BackendAnswer): BackendAnswer {
    const allowed = a.status >= 200 && a.status < 300;
    const ttl = allowed ? this.o.ttl : a.status === 401 || a.status === 403 ? this.o.refusalTtl : 0;
    if (ttl > 0) {
      if (this.entries.size >= this.o.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(key, { expires: Date.now() + ttl * 1000, answer: a });
    }
    return a;
  }
}
