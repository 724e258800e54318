// Retry-After (RFC 9110 §10.2.3) as a 202 carries it (RFC 7030 §4.2.3), and an abortable wait.
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Seconds to wait from a Retry-After value: delay-seconds (`120`) or an HTTP-date. Undefined when
 * the header is absent or unreadable. A date in the past gives 0.
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, Math.ceil((t - now) / 1000));
}

/** Waits `ms`, rejecting with the signal's reason when it aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw e;
  }
}
