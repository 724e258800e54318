// authRequestCache: an opt-in cache of the auth backend's verdicts. nginx's auth_request does not
// cache, so neither does est() unless asked.
import { createHash } from 'node:crypto';
import { EstForbiddenError, EstUnauthorizedError } from '../errors.js';
import type { AuthResult } from './auth-request.js';

/** Seconds a verdict is reused; refusals (401/403) for at most `refusalTtl`; at most `maxEntries` kept. */
export interface AuthCacheOptions {
  ttl: number;
  refusalTtl: number;
  maxEntries: number;
}

/** Headers that differ on every request without changing who is asking: not part of the key. */
const VOLATILE = new Set(['x-request-id', 'x-correlation-id', 'traceparent', 'tracestate', 'x-amzn-trace-id', 'date']);

type Verdict = { user?: string } | { status: 401; challenge?: string } | { status: 403 };

/**
 * The key of a subrequest: SHA-256 over every header sent to the backend (credentials, client
 * certificate headers, X-Forwarded-For, X-Original-URI and -Method) except the volatile ones, so a
 * verdict is only ever reused for the same subrequest.
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
 * Verdicts by key, oldest first (a Map keeps insertion order, so eviction drops the oldest). Only
 * 2xx, 401 and 403 are kept; a timeout, an unreachable backend or any other status never is.
 * Concurrent identical subrequests share one call to the backend.
 */
export class AuthVerdictCache {
  private readonly entries = new Map<string, { expires: number; verdict: Verdict }>();
  private readonly inFlight = new Map<string, Promise<Verdict>>();
  hits = 0;
  misses = 0;

  /** `onLookup`: told of every lookup (metrics). */
  constructor(
    private readonly o: AuthCacheOptions,
    private readonly onLookup?: (hit: boolean) => void,
  ) {}

  /** The verdict for `key`: cached, or from `ask()` (which throws for what must not be cached). */
  async check(key: string, ask: () => Promise<AuthResult>): Promise<AuthResult> {
    const now = Date.now();
    const hit = this.entries.get(key);
    let verdict: Verdict;
    if (hit && hit.expires > now) {
      this.hits++;
      this.onLookup?.(true);
      verdict = hit.verdict;
    } else {
      if (hit) this.entries.delete(key);
      let pending = this.inFlight.get(key);
      // Joining a call already on its way counts as a hit: the backend is asked once.
      if (pending) {
        this.hits++;
        this.onLookup?.(true);
      } else {
        this.misses++;
        this.onLookup?.(false);
        pending = this.fetch(key, ask).finally(() => this.inFlight.delete(key));
        this.inFlight.set(key, pending);
      }
      verdict = await pending;
    }
    return replay(verdict);
  }

  private async fetch(key: string, ask: () => Promise<AuthResult>): Promise<Verdict> {
    let verdict: Verdict;
    try {
      const r = await ask();
      verdict = r.user === undefined ? {} : { user: r.user };
    } catch (e) {
      if (e instanceof EstUnauthorizedError) {
        const challenge = e.headers?.['WWW-Authenticate'];
        verdict = challenge === undefined ? { status: 401 } : { status: 401, challenge };
      }
      else if (e instanceof EstForbiddenError) verdict = { status: 403 };
      else throw e;
    }
    const ttl = 'status' in verdict ? this.o.refusalTtl : this.o.ttl;
    if (ttl > 0) {
      if (this.entries.size >= this.o.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(key, { expires: Date.now() + ttl * 1000, verdict });
    }
    return verdict;
  }
}

/** The backend's answer again: a 2xx result, or a fresh 401/403 error (never one shared object). */
function replay(v: Verdict): AuthResult {
  if (!('status' in v)) return v.user === undefined ? {} : { user: v.user };
  if (v.status === 401) throw new EstUnauthorizedError('authentication failed', v.challenge);
  throw new EstForbiddenError('authorization backend denied the request');
}
