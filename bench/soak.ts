// The memory soak of npm run bench: est-server under steady enrollment load for a long time, RSS sampled over time.
import { readFileSync } from 'node:fs';
import type { CaFixture } from './fixtures.js';
import type { LoadResult, LoadSpec } from './load.js';
import { loadSpecFor, startEstServer } from './servers.js';

/** Most growth of RSS allowed over the second half of the soak (5%). */
export const SOAK_MAX_GROWTH = 0.05;

export interface SoakSample {
  /** Seconds since the load started. */
  t: number;
  rssMb: number;
}

export interface SoakResult {
  minutes: number;
  connections: number;
  samples: SoakSample[];
  /** Median RSS around the middle (45–55% of the run) and over the last 10%. */
  midRssMb: number;
  endRssMb: number;
  /** (end − mid) / mid. */
  growth: number;
  passed: boolean;
  load: LoadResult;
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Runs one est-server process (direct TLS, P-256 CA) under `connections` keep-alive connections
 * of authenticated /simpleenroll (auth backend subrequest, CSR parse and checks, signing, serial
 * file) for `minutes`, sampling its RSS; prints one line per sample. Fails when RSS grows by
 * {@link SOAK_MAX_GROWTH} or more over the second half, where a leak shows and warm-up does not.
 *
 * Records go to PostgreSQL: the embedded store keeps ~10 bytes per certificate in memory by
 * design (its index of serials), which at ~2,000 enrollments a second (~1 MB a minute) is growth
 * no leak check could tell apart. That cost has its own check (spec/store/file-store.spec.ts, "memory").
 */
export async function runSoak(opts: {
  minutes: number;
  connections: number;
  ca: CaFixture;
  dir: string;
  authUrl: string;
  csrBodies: string[];
  compiled?: string;
  /** Where records go: a PostgreSQL URL, or false (none). */
  store: string | false;
  /** Why there is no PostgreSQL, when store is false. */
  storeNote?: string;
  runLoad: (spec: LoadSpec, onMeasure: () => void) => Promise<LoadResult>;
  write: (line: string) => void;
}): Promise<SoakResult> {
  const serialFile = `${opts.dir}/serial-soak.srl`;
  const est = await startEstServer({ ca: opts.ca, dir: opts.dir, workers: 1, tls: true, authUrl: opts.authUrl, serialFile, serialLease: 256, store: opts.store, ...(opts.compiled ? { compiled: opts.compiled } : {}) });
  const durationSec = Math.max(10, Math.round(opts.minutes * 60));
  const every = Math.max(1, Math.round(durationSec / 60)); // about 60 samples whatever the length
  const samples: SoakSample[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    const spec = loadSpecFor('enroll-auth', est.url, opts.ca, opts.csrBodies, { connections: opts.connections, durationSec, warmupSec: 0 }, 'autocannon');
    const records = opts.store ? 'records in PostgreSQL' : `no record store (${opts.storeNote ?? 'store: false'})`;
    opts.write(`\n## Memory soak: ${opts.minutes} min, ${opts.connections} connections, authenticated /simpleenroll, one est-server process (pid ${est.pid}), ${records}\n\n`);
    opts.write('|      t s |  RSS MB |\n|---------:|--------:|\n');
    let t0 = 0;
    const load = await opts.runLoad(spec, () => {
      t0 = performance.now();
      const sample = () => {
        const s = { t: Math.round((performance.now() - t0) / 1000), rssMb: rssMb(est.pid) };
        samples.push(s);
        opts.write(`| ${String(s.t).padStart(8)} | ${s.rssMb.toFixed(1).padStart(7)} |\n`);
      };
      sample();
      timer = setInterval(sample, every * 1000);
    });
    clearInterval(timer);
    samples.push({ t: Math.round((performance.now() - t0) / 1000), rssMb: rssMb(est.pid) });
    const at = (from: number, to: number) => median(samples.filter((s) => s.t >= from * durationSec && s.t <= to * durationSec).map((s) => s.rssMb));
    const midRssMb = at(0.45, 0.55);
    const endRssMb = at(0.9, 1.01);
    const growth = (endRssMb - midRssMb) / midRssMb;
    const passed = Number.isFinite(growth) && growth < SOAK_MAX_GROWTH && load.errors + load.timeouts === 0;
    opts.write(
      `\n${load.ok.toLocaleString('en-US')} enrollments (${load.rps.toFixed(0)}/s, p99 ${load.p99} ms, ${load.errors + load.timeouts} errors, ${load.non2xx} non-2xx); ` +
        `RSS ${samples[0]?.rssMb.toFixed(1)} MB at start, ${midRssMb.toFixed(1)} MB mid-run, ${endRssMb.toFixed(1)} MB at the end: ` +
        `${(100 * growth).toFixed(1)}% over the second half (limit ${100 * SOAK_MAX_GROWTH}%) — ${passed ? 'PASS' : 'FAIL'}\n`,
    );
    return { minutes: opts.minutes, connections: opts.connections, samples, midRssMb, endRssMb, growth, passed, load };
  } finally {
    clearInterval(timer);
    await est.close();
  }
}
