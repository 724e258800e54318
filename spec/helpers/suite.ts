// Suites that need an external tool (nginx, HAProxy, …): counted as skipped when it is missing, failed in CI.
import { describe, it } from 'node:test';

/** Why a tool is unusable (`<what> not installed`), or false when `present` is truthy. */
export function missing(what: string, present: unknown): string | false {
  return present ? false : `${what} not installed`;
}

/**
 * `describe(name, fn)` when nothing is missing. Otherwise one test in its place: skipped (so the
 * runner's skipped count shows it; node:test does not count a skipped describe), or failed when
 * CI is set, since CI installs every tool (.ci/run).
 */
export function suiteNeeding(name: string, why: string | false, fn: () => void): void {
  if (!why) {
    describe(name, fn);
    return;
  }
  if (process.env.CI) {
    it(name, () => {
      throw new Error(`${why}: required in CI (.ci/run installs it)`);
    });
    return;
  }
  it(name, { skip: why }, () => {});
}
