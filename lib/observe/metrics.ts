// Prometheus metrics (prom-client): what an EST server counts, and a handler any app can mount.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Outcome of one authRequest subrequest (nginx auth_request semantics). */
export type AuthOutcome = 'allowed' | 'unauthorized' | 'forbidden' | 'error';

/** The metrics one or more `est()` instances record into. */
export interface EstMetrics {
  readonly registry: Registry;
  /** `est_requests_total{operation,label,status}`: every answered EST request. */
  readonly requests: Counter<'operation' | 'label' | 'status'>;
  /** `est_issuance_duration_seconds{operation,label}`: request received → certificate signed. */
  readonly issuance: Histogram<'operation' | 'label'>;
  /** `est_certificates_issued_total{operation,label}`. */
  readonly issued: Counter<'operation' | 'label'>;
  /** `est_auth_request_duration_seconds{outcome}`: the authRequest subrequest. */
  readonly authRequest: Histogram<'outcome'>;
  /** `est_store_duration_seconds{store,operation}`: serial store and record store calls. */
  readonly store: Histogram<'store' | 'operation'>;
  /** `est_auth_cache_lookups_total{result}`: authRequestCache lookups, `hit` or `miss`. */
  readonly authCache?: Counter<'result'>;
}

/** Options of {@link createEstMetrics}. */
export interface EstMetricsOptions {
  /** Registry to register into (e.g. prom-client's global `register`). @default a new Registry */
  registry?: Registry;
  /** Also collect Node's process metrics (CPU, memory, event-loop lag) into the registry. @default false */
  defaultMetrics?: boolean;
}

const FAST = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * Creates the EST metrics in a registry. Pass the result as `est({ metrics })` (one set may be
 * shared by several mounts: the label tells them apart) and serve it with {@link metricsHandler}.
 */
export function createEstMetrics(options: EstMetricsOptions = {}): EstMetrics {
  const registry = options.registry ?? new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({ name: 'est_requests_total', help: 'EST requests answered, by operation, CA label and HTTP status', labelNames: ['operation', 'label', 'status'], registers: [registry] }),
    issuance: new Histogram({ name: 'est_issuance_duration_seconds', help: 'Time from receiving an enrollment request to the signed certificate', labelNames: ['operation', 'label'], buckets: FAST, registers: [registry] }),
    issued: new Counter({ name: 'est_certificates_issued_total', help: 'Certificates issued, by operation and CA label', labelNames: ['operation', 'label'], registers: [registry] }),
    authRequest: new Histogram({ name: 'est_auth_request_duration_seconds', help: 'authRequest subrequests, by outcome (allowed, unauthorized, forbidden, error)', labelNames: ['outcome'], buckets: FAST, registers: [registry] }),
    store: new Histogram({ name: 'est_store_duration_seconds', help: 'Serial store and record store calls', labelNames: ['store', 'operation'], buckets: FAST, registers: [registry] }),
    authCache: new Counter({ name: 'est_auth_cache_lookups_total', help: 'authRequestCache lookups: hit (verdict reused) or miss (backend asked)', labelNames: ['result'], registers: [registry] }),
  };
}

/** Seconds since `start` (from `process.hrtime.bigint()`). */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/**
 * A `(req, res)` handler serving the registry in the Prometheus text format: mount it where your
 * scraper looks (`app.get('/metrics', metricsHandler(metrics))`), preferably on a port clients
 * of the EST service do not reach.
 */
export function metricsHandler(source: EstMetrics | Registry | (() => Promise<string>), contentType?: string): (req: IncomingMessage, res: ServerResponse) => void {
  const registry = source instanceof Registry ? source : typeof source === 'function' ? undefined : source.registry;
  const render = registry ? () => registry.metrics() : (source as () => Promise<string>);
  const type = contentType ?? registry?.contentType ?? 'text/plain; version=0.0.4; charset=utf-8';
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('GET or HEAD only\n');
      return;
    }
    render().then(
      (text) => {
        const body = Buffer.from(text, 'utf8');
        res.writeHead(200, { 'Content-Type': type, 'Content-Length': String(body.length), 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        const body = `cannot collect metrics: ${(err as Error).message}\n`;
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) }).end(body);
      },
    );
  };
}
