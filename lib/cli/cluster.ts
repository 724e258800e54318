// Multi-process serving for est-server: a node:cluster primary forks workers that share the port and the serial file.
import cluster, { type Worker } from 'node:cluster';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { JOURNAL_DIR_ENV, takeJournal } from './inflight-journal.js';

/** What the primary logs (the est-server console logger, or any pino-compatible logger). */
export interface ClusterLogger {
  info(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** Number of worker processes (each runs the whole server: TLS, est(), CA, serial store). */
  workers: number;
  logger: ClusterLogger;
  /** Two malloc arenas per worker on top of {@link workerRuntimeDefaults}' V8 settings (est-server `--lean-memory`). @default false */
  leanMemory?: boolean;
  /**
   * Replace a worker that exits unexpectedly, always: one request that kills a worker must not
   * take the service down. A worker that dies within `crashWindowMs` of its start counts as a quick
   * crash; consecutive quick crashes delay the next start exponentially (100 ms, 200 ms, … up to
   * `maxRestartDelayMs`), and a worker that lives longer resets the delay. The primary never gives
   * up; only a worker that reports a start-up failure (a configuration error) stops the cluster.
   * @default true
   */
  restart?: boolean;
  /** @default 5000 */
  crashWindowMs?: number;
  /** Longest delay before restarting a worker after repeated quick crashes. @default 30000 */
  maxRestartDelayMs?: number;
  /** How long `close()` waits for workers to finish in-flight requests before SIGKILL. @default 10000 */
  shutdownTimeoutMs?: number;
}

/** The running primary. */
export interface ClusterPrimary {
  /** The port every worker listens on (resolved when the config asked for port 0). */
  port: number;
  /** Process ids of the current workers. */
  pids(): number[];
  /** Asks every worker to stop (SIGTERM: finish requests, flush the serial store), then waits. */
  close(): Promise<void>;
  /** Resolves with an exit code when the cluster stops by itself (crash loop). */
  readonly stopped: Promise<number>;
}

/** Messages a worker sends to its primary. */
type WorkerMessage = { type: 'est-listening'; port: number } | { type: 'est-failed'; message: string };

function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && ((m as WorkerMessage).type === 'est-listening' || (m as WorkerMessage).type === 'est-failed');
}

/**
 * The memory settings of the workers, each kept only where the operator set nothing of the kind
 * (in the command line, or NODE_OPTIONS where V8 allows it there; malloc settings in the
 * environment). Always (BENCHMARKS.md, eighth and ninth runs):
 * - `--max-semi-space-size=8`: V8's young generation is two semi-spaces of up to 16 MB each on
 *   64-bit; at thousands of enrollments a second both stay full;
 * - `--heap-growing-percent=50`: after a full GC V8 lets the old generation grow by a factor it
 *   picks (up to 4× for a small heap); at most 1.5× here. With the semi-space limit, peak RSS per
 *   worker 163–166 → 134–136 MB at full enrollment load, for 2–3% of its throughput measured side
 *   by side (0.977, 0.960, 1.022); the growth limit alone is free and saves 13 MB;
 * - `--liftoff-only`: the WebAssembly HTTP parser undici compiles for authRequest (llhttp) stays
 *   on V8's baseline compiler. Its optimizing recompile, once the parser turns hot a second into
 *   the first authRequest load, takes a transient 32 MB in a helper thread's malloc arena
 *   (enroll-auth peak RSS 168–170 → 147 MB); the baseline code costs ~3 µs more per subrequest;
 * - `MALLOC_TRIM_THRESHOLD_=1048576`: glibc raises an arena's trim threshold (up to 64 MB) each
 *   time a large block is freed, after which every thread's arena keeps its free memory; fixed at
 *   1 MB, a worker's peak RSS is 8–9 MB lower, at no cost measured side by side (16 rounds,
 *   0.906–1.058, about 1.0).
 * With `lean` (est-server `--lean-memory`) also `MALLOC_ARENA_MAX=2`: glibc gives each thread
 * (libuv pool, crypto thread, V8 helpers) an arena of its own, and each keeps its free memory;
 * two arenas save ~5 MB more per worker for ~5% of throughput (0.934–0.985, 4 rounds).
 * When there are as many workers as cores (`everyCoreBusy`) also `--no-parallel-scavenge`: each
 * young-generation collection (15–20 a second per worker under load) otherwise hands parts of its
 * work to V8's helper threads and waits for them, and with every core running a worker's main
 * thread they wait for a core. ~+5% enrollments a second (2 workers on 2 cores, 13 pairs of
 * `bench:profile` 0.95–1.26, 11 above 1; side by side 1.00–1.14), peak RSS unchanged (thirteenth run).
 */
export function workerRuntimeDefaults(execArgv: readonly string[], env: NodeJS.ProcessEnv, lean: boolean, everyCoreBusy = false): { execArgv: string[]; env: Record<string, string> } {
  const given = [...execArgv, env.NODE_OPTIONS ?? ''].join(' ').replaceAll('_', '-');
  const flags = [...execArgv];
  for (const [name, value] of [['--max-semi-space-size', '8'], ['--heap-growing-percent', '50']] as const) {
    if (!given.includes(name)) flags.push(`${name}=${value}`);
  }
  // Any scavenger or GC threading flag of the operator's (--parallel-scavenge, --single-threaded-gc) wins.
  if (everyCoreBusy && !given.includes('parallel-scavenge') && !given.includes('single-threaded')) flags.push('--no-parallel-scavenge');
  // Any Liftoff or wasm tiering flag of the operator's (--liftoff, --no-liftoff-only, ...) wins.
  if (!given.includes('liftoff') && !given.includes('--wasm-')) flags.push('--liftoff-only');
  const extraEnv: Record<string, string> = {};
  const mallocSet = Object.keys(env).some((k) => k.startsWith('MALLOC_')) || /malloc/.test(env.GLIBC_TUNABLES ?? '');
  if (!mallocSet) extraEnv.MALLOC_TRIM_THRESHOLD_ = '1048576';
  if (lean && env.MALLOC_ARENA_MAX === undefined) extraEnv.MALLOC_ARENA_MAX = '2';
  return { execArgv: flags, env: extraEnv };
}

/** True in a process forked by {@link startCluster}. */
export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/** Tells the primary this worker is listening (no-op outside a cluster). */
export function reportListening(port: number): void {
  if (cluster.isWorker) process.send?.({ type: 'est-listening', port } satisfies WorkerMessage);
}

/** Tells the primary this worker could not start; the primary then stops the cluster. */
export function reportStartFailure(message: string): Promise<void> {
  if (!cluster.isWorker || !process.send) return Promise.resolve();
  return new Promise((resolve) => process.send!({ type: 'est-failed', message } satisfies WorkerMessage, undefined, {}, () => resolve()));
}

/**
 * Forks `workers` copies of the current script (same argv and execArgv) with node:cluster and
 * resolves once every one reports {@link reportListening}. Connections are spread round-robin by
 * the primary (Node's default on Linux); keep-alive connections stay with the worker that took them.
 *
 * Workers must share state only through files built for it: the `FileSerialStore` serial file
 * (lock + atomic rewrite) is safe across processes, which nginx-http-est's is not.
 */
export function startCluster(options: ClusterOptions): Promise<ClusterPrimary> {
  const { workers, logger } = options;
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer (got ${workers})`);
  const restart = options.restart ?? true;
  const crashWindowMs = options.crashWindowMs ?? 5000;
  const maxRestartDelayMs = options.maxRestartDelayMs ?? 30_000;
  // Each worker journals its in-flight requests here (see inflight-journal.ts).
  const journalDir = mkdtempSync(join(tmpdir(), 'est-server-inflight-'));
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000;

  const live = new Set<Worker>();
  const startedAt = new Map<Worker, number>();
  let shuttingDown = false;
  let quickCrashes = 0;
  let port = -1;
  let settleStop!: (code: number) => void;
  const stopped = new Promise<number>((r) => (settleStop = r));

  return new Promise<ClusterPrimary>((resolve, reject) => {
    let ready = false;
    let listening = 0;

    const stopAll = (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
      shuttingDown = true;
      const exits = [...live].map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r()))));
      for (const w of live) if (!w.isDead()) w.process.kill(signal);
      const timer = setTimeout(() => {
        for (const w of live) if (!w.isDead()) w.process.kill('SIGKILL');
      }, shutdownTimeoutMs);
      return Promise.all(exits).then(async () => {
        clearTimeout(timer);
        rmSync(journalDir, { recursive: true, force: true });
      });
    };

    const fail = (message: string) => {
      if (shuttingDown) return;
      logger.error({ workers }, message);
      void stopAll().then(() => {
        if (ready) settleStop(1);
        else reject(new Error(message));
      });
    };

    const memory = workerRuntimeDefaults(process.execArgv, process.env, options.leanMemory ?? false, workers >= availableParallelism());
    cluster.setupPrimary({ execArgv: memory.execArgv });
    const fork = () => {
      const w = cluster.fork({ ...memory.env, [JOURNAL_DIR_ENV]: journalDir });
      live.add(w);
      startedAt.set(w, Date.now());
      w.on('message', (m: unknown) => {
        if (!isWorkerMessage(m)) return;
        if (m.type === 'est-failed') return fail(`est-server: worker ${w.process.pid} failed to start: ${m.message}`);
        port = m.port;
        startedAt.set(w, Date.now()); // crashes count from when the worker began to serve
        if (!ready && ++listening === workers) {
          ready = true;
          resolve({ port, pids: () => [...live].map((x) => x.process.pid!).filter(Boolean), close: () => stopAll().then(() => settleStop(0)), stopped });
        }
      });
      w.on('exit', (code, signal) => {
        live.delete(w);
        const lived = Date.now() - (startedAt.get(w) ?? 0);
        startedAt.delete(w);
        const pid = w.process.pid ?? 0;
        const inFlight = takeJournal(journalDir, pid);
        if (shuttingDown) return;
        // The requests the worker was serving when it died: one of them is likely what killed it.
        const ids = inFlight.map((line) => line.split(' ')[0]);
        const what = ids.length === 0 ? 'with no request in flight' : ids.length === 1 ? `while serving request ${ids[0]}` : `while serving requests ${ids.join(', ')}`;
        quickCrashes = ready && lived < crashWindowMs ? quickCrashes + 1 : 0;
        const delay = quickCrashes === 0 ? 0 : Math.min(maxRestartDelayMs, 100 * 2 ** (quickCrashes - 1));
        logger.error({ pid, code, signal, livedMs: lived, requestIds: ids, inFlight, ...(ready && restart ? { restartInMs: delay } : {}) }, `est-server: worker ${pid} exited ${what}`);
        if (!ready) return fail(`est-server: worker ${pid} exited during start-up (code ${code}, signal ${signal})`);
        if (!restart) return fail('est-server: a worker exited and restart is off');
        setTimeout(() => {
          if (!shuttingDown) fork();
        }, delay);
      });
    };

    for (let i = 0; i < workers; i++) fork();
    logger.info({ workers, pid: process.pid }, 'est-server: primary started');
  });
}
