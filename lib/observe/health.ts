// Liveness (/healthz) and readiness (/readyz): what an orchestrator or load balancer asks before sending traffic.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { request } from 'undici';

/** One thing that must work before the server takes traffic. Throws (or rejects) when it does not. */
export interface ReadinessCheck {
  name: string;
  check(): void | Promise<void>;
}

/** Options of {@link healthHandler}. */
export interface HealthOptions {
  /** Longest a single check may take before it counts as failed. @default 2000 */
  timeoutMs?: number;
  /**
   * How long a readiness verdict is reused, in ms after it was reached; /readyz requests meanwhile
   * (and those arriving while checks run) share it, so probing /readyz does not multiply requests
   * to the auth backend or the database. 0: a verdict serves only the requests that arrived while
   * it was being reached. @default 1000
   */
  cacheMs?: number;
}

type Readiness = Awaited<ReturnType<typeof runChecks>>;

function withTimeout(p: Promise<void>, ms: number, name: string): Promise<void> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Runs every check in parallel; resolves with each one's verdict (`ok` or the error message). */
export async function runChecks(checks: readonly ReadinessCheck[], timeoutMs = 2000): Promise<{ ready: boolean; checks: Record<string, string> }> {
  const verdicts = await Promise.all(
    checks.map(async (c) => {
      try {
        await withTimeout(Promise.resolve().then(() => c.check()), timeoutMs, c.name);
        return [c.name, 'ok'] as const;
      } catch (e) {
        return [c.name, `failed: ${(e as Error).message ?? String(e)}`] as const;
      }
    }),
  );
  return { ready: verdicts.every(([, v]) => v === 'ok'), checks: Object.fromEntries(verdicts) };
}

function json(req: IncomingMessage, res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value) + '\n', 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(body.length), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * A handler answering `GET /healthz` (200 while the process serves requests) and `GET /readyz`
 * (200 when every check passes, else 503 naming the failed ones). Returns false for other paths
 * so it can sit in front of another handler.
 */
export function healthHandler(checks: readonly ReadinessCheck[] | (() => readonly ReadinessCheck[]), options: HealthOptions = {}): (req: IncomingMessage, res: ServerResponse) => boolean {
  const timeoutMs = options.timeoutMs ?? 2000;
  const cacheMs = options.cacheMs ?? 1000;
  let shared: { verdict: Promise<Readiness>; reachedAt: number } | undefined;
  const readiness = (): Promise<Readiness> => {
    if (shared && performance.now() - shared.reachedAt < cacheMs) return shared.verdict;
    const verdict = runChecks(typeof checks === 'function' ? checks() : checks, timeoutMs);
    // Shared while the checks run (reachedAt Infinity), then reused for cacheMs.
    const entry = { verdict, reachedAt: Infinity };
    void verdict.then(() => {
      entry.reachedAt = performance.now();
    });
    shared = entry;
    return verdict;
  };
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path !== '/healthz' && path !== '/readyz') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': '0' }).end();
      return true;
    }
    if (path === '/healthz') {
      json(req, res, 200, { status: 'ok' });
      return true;
    }
    void readiness().then((r) => json(req, res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', checks: r.checks }));
    return true;
  };
}

/** The auth backend answers HTTP at all (any status: it is reachable; a refused or silent connection is not). */
export function authBackendCheck(url: URL | string, timeoutMs = 2000): ReadinessCheck {
  return {
    name: 'auth-backend',
    async check() {
      const res = await request(url, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
      await res.body.dump();
    },
  };
}

/** The serial file can be read and rewritten (or created: its folder is writable, for the lock too). */
export function serialFileCheck(path: string): ReadinessCheck {
  return {
    name: 'serial-store',
    async check() {
      await access(dirname(path), constants.W_OK);
      try {
        await access(path, constants.R_OK | constants.W_OK);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    },
  };
}
