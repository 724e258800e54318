// Multi-process serving for est-server: a node:cluster primary forks workers that share the port and the serial file.
import cluster, { type Worker } from 'node:cluster';

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
  /**
   * Replace a worker that exits unexpectedly. A worker that dies within `crashWindowMs` of its
   * start counts as a crash; after 5 such crashes in a row the primary stops every worker and fails.
   * @default true
   */
  restart?: boolean;
  /** @default 5000 */
  crashWindowMs?: number;
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
      return Promise.all(exits).then(() => clearTimeout(timer));
    };

    const fail = (message: string) => {
      if (shuttingDown) return;
      logger.error({ workers }, message);
      void stopAll().then(() => {
        if (ready) settleStop(1);
        else reject(new Error(message));
      });
    };

    const fork = () => {
      const w = cluster.fork();
      live.add(w);
      startedAt.set(w, Date.now());
      w.on('message', (m: unknown) => {
        if (!isWorkerMessage(m)) return;
        if (m.type === 'est-failed') return fail(`est-server: worker ${w.process.pid} failed to start: ${m.message}`);
        port = m.port;
        if (!ready && ++listening === workers) {
          ready = true;
          resolve({ port, pids: () => [...live].map((x) => x.process.pid!).filter(Boolean), close: () => stopAll().then(() => settleStop(0)), stopped });
        }
      });
      w.on('exit', (code, signal) => {
        live.delete(w);
        const lived = Date.now() - (startedAt.get(w) ?? 0);
        startedAt.delete(w);
        if (shuttingDown) return;
        logger.error({ pid: w.process.pid, code, signal, livedMs: lived }, 'est-server: worker exited');
        if (!ready) return fail(`est-server: worker ${w.process.pid} exited during start-up (code ${code}, signal ${signal})`);
        quickCrashes = lived < crashWindowMs ? quickCrashes + 1 : 0;
        if (!restart) return fail('est-server: a worker exited and restart is off');
        if (quickCrashes >= 5) return fail('est-server: workers keep crashing right after start; giving up');
        fork();
      });
    };

    for (let i = 0; i < workers; i++) fork();
    logger.info({ workers, pid: process.pid }, 'est-server: primary started');
  });
}
