// Seeing est() run: one log line per request, Prometheus metrics that move with real traffic, OpenTelemetry spans.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { AsyncLocalStorage } from 'node:async_hooks';
import { context, ROOT_CONTEXT, trace, type Context, type ContextManager, type Span, type SpanOptions, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { authBackendCheck, createEstMetrics, healthHandler, metricsHandler, type EstMetrics } from '../../lib/index.js';
import { estError } from '../../lib/errors.js';
import { basic, fetchRaw, type TestResponse } from '../helpers/http.js';
import { openssl, pkcs7Certs, TestPki } from '../helpers/pki.js';
import { startAuthBackend, startEstServer, type Running } from '../helpers/servers.js';

type Line = Record<string, unknown> & { level: string; msg?: string };

/** A pino-shaped logger that keeps every line. */
function captureLogger(lines: Line[]) {
  const at = (level: string) => (obj: object, msg?: string) => lines.push({ level, ...(obj as Record<string, unknown>), ...(msg ? { msg } : {}) });
  return { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

/** A minimal OpenTelemetry tracer (the API only, no SDK) recording ended spans. */
interface Recorded {
  name: string;
  attributes: Record<string, unknown>;
  status?: { code: number };
  parent?: string;
  ended: boolean;
}
function recordingProvider(spans: Recorded[]): TracerProvider {
  let n = 0;
  const tracer: Tracer = {
    startSpan(name: string, options?: SpanOptions, ctx = context.active()): Span {
      const parent = trace.getSpan(ctx);
      const rec: Recorded = { name, attributes: { ...(options?.attributes ?? {}) }, ended: false };
      if (parent) rec.parent = (parent as unknown as { recName?: string }).recName ?? 'foreign';
      const id = (++n).toString(16).padStart(16, '0');
      const span = {
        recName: name,
        spanContext: () => ({ traceId: '0'.repeat(31) + '1', spanId: id, traceFlags: 1 }),
        setAttribute(k: string, v: unknown) { rec.attributes[k] = v; return span; },
        setAttributes(a: Record<string, unknown>) { Object.assign(rec.attributes, a); return span; },
        addEvent() { return span; },
        addLink() { return span; },
        addLinks() { return span; },
        setStatus(s: { code: number }) { rec.status = s; return span; },
        updateName() { return span; },
        end() { rec.ended = true; spans.push(rec); },
        isRecording: () => true,
        recordException() {},
      };
      return span as unknown as Span;
    },
    startActiveSpan(name: string, ...rest: unknown[]): unknown {
      const fn = rest.pop() as (s: Span) => unknown;
      const options = (rest[0] ?? {}) as SpanOptions;
      const span = this.startSpan(name, options);
      return context.with(trace.setSpan(context.active(), span), fn, undefined, span);
    },
  } as Tracer;
  return { getTracer: () => tracer };
}

/** What an SDK's context manager does: the active span follows async calls (AsyncLocalStorage). */
function asyncContextManager(): ContextManager {
  const als = new AsyncLocalStorage<Context>();
  const mgr: ContextManager = {
    active: () => als.getStore() ?? ROOT_CONTEXT,
    with: (ctx, fn, thisArg, ...args) => als.run(ctx, () => fn.call(thisArg, ...args)),
    bind: (_ctx, target) => target,
    enable: () => mgr,
    disable: () => mgr,
  };
  return mgr;
}

describe('est() observed: logs, metrics, spans', () => {
  const pki = new TestPki();
  const ca = pki.ca('p256');
  const server = pki.serverCert(ca);
  const lines: Line[] = [];
  const spans: Recorded[] = [];
  let metrics: EstMetrics;
  let auth: Awaited<ReturnType<typeof startAuthBackend>>;
  let est: Running;
  let scrape: Server;
  let scrapeUrl: string;

  before(async () => {
    context.setGlobalContextManager(asyncContextManager());
    trace.setGlobalTracerProvider(recordingProvider(spans));
    auth = await startAuthBackend();
    metrics = createEstMetrics();
    // Seeded so that the next serial (0FFF) has an odd number of hex digits: logged with its leading zero.
    writeFileSync(ca.serial, '0FFE\n');
    est = await startEstServer(pki, { ca: ca.cert, serverCert: server }, {
      caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial, authRequest: auth.url,
      logger: captureLogger(lines), metrics,
    }, '/.well-known/est/devices');
    const handler = metricsHandler(metrics);
    scrape = createServer(handler);
    await new Promise<void>((r) => scrape.listen(0, '127.0.0.1', () => r()));
    scrapeUrl = `http://127.0.0.1:${(scrape.address() as { port: number }).port}/metrics`;
  });
  after(async () => {
    trace.disable();
    context.disable();
    scrape.close();
    await est.close();
    await auth.close();
    pki.cleanup();
  });

  const csr = () => pki.csr({ subject: '/CN=observed-device' }).pem;
  const enroll = (user?: string, op = 'simpleenroll', headers: Record<string, string> = {}): Promise<TestResponse> =>
    fetchRaw(`${est.url}/${op}`, { method: 'POST', ca: ca.cert, body: csr(), headers: { 'Content-Type': 'application/pkcs10', ...(user ? { Authorization: basic(user, 'estpass') } : {}), ...headers } });

  it('one line per request: id, peer, label, operation, auth and user, status, duration; the reason on a 4xx; the serial as openssl writes it', async () => {
    lines.length = 0;
    const ok = await enroll('estuser', 'simpleenroll', { 'X-Request-Id': 'req-42' });
    assert.equal(ok.status, 200, ok.text);
    const issued = openssl(['x509', '-noout', '-serial'], pkcs7Certs(ok.body)).toString().trim();
    assert.equal(issued, 'serial=0FFF');
    const refused = await enroll(undefined);
    assert.equal(refused.status, 401);
    const bad = await fetchRaw(`${est.url}/simpleenroll`, { method: 'POST', ca: ca.cert, body: 'garbage', headers: { 'Content-Type': 'application/pkcs10', Authorization: basic('estuser', 'estpass') } });
    assert.equal(bad.status, 400);
    // A CA that does not support what the client asked for answers 501: the client's request, not a server fault.
    const unsupported = await startEstServer(pki, { ca: ca.cert, serverCert: server }, {
      ca: { cacerts: () => [], enroll: () => { throw estError('ERR_EST_NOT_IMPLEMENTED', 'this CA does not enroll'); } },
      authRequest: auth.url, logger: captureLogger(lines),
    }, '/.well-known/est/devices');
    const cmc = await fetchRaw(`${unsupported.url}/simpleenroll`, { method: 'POST', ca: ca.cert, body: csr(), headers: { 'Content-Type': 'application/pkcs10', Authorization: basic('estuser', 'estpass') } });
    await unsupported.close();
    assert.equal(cmc.status, 501);
    const boom = await enroll('boom');
    assert.equal(boom.status, 500);
    const requests = lines.filter((l) => l.msg === 'est request');
    assert.equal(requests.length, 5, JSON.stringify(lines));
    assert.equal(lines.filter((l) => l.msg !== 'est request' && l.level !== 'debug').length, 0, 'no second line per request');
    const [a, b, c, d, e] = requests as [Line, Line, Line, Line, Line];
    assert.equal(a.level, 'info');
    assert.equal(a.requestId, 'req-42');
    assert.equal(a.peer, '127.0.0.1');
    assert.equal(a.label, 'devices');
    assert.equal(a.operation, 'simpleenroll');
    assert.equal(a.auth, 'auth-request');
    assert.equal(a.user, 'estuser');
    assert.equal(a.status, 200);
    assert.equal(a.serial, '0FFF');
    assert.equal(a.subject, 'CN=observed-device');
    assert.equal(typeof a.durationMs, 'number');
    assert.match(String(b.requestId), /^[0-9a-f-]{36}$/);
    assert.deepEqual([b.level, b.status, b.auth], ['info', 401, 'none']);
    assert.equal(b.reason, 'authentication failed');
    assert.deepEqual([c.level, c.status], ['info', 400]);
    assert.match(String(c.reason), /^malformed PKCS#10 request|^request body/);
    assert.deepEqual([d.level, d.status, d.operation], ['info', 501, 'simpleenroll'], 'an unsupported request is the client\'s, not an error');
    assert.deepEqual([e.level, e.status], ['error', 500]);
    assert.equal(e.reason, 'authorization backend answered 500');
  });

  it('/metrics after real traffic: requests, issuance latency, certificates issued, auth subrequests, serial store', async () => {
    const before = await (await fetch(scrapeUrl)).text();
    const count = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    const series = {
      ok: 'est_requests_total{operation="simpleenroll",label="devices",status="200"}',
      denied: 'est_requests_total{operation="simpleenroll",label="devices",status="401"}',
      cacerts: 'est_requests_total{operation="cacerts",label="devices",status="200"}',
      issued: 'est_certificates_issued_total{operation="simpleenroll",label="devices"}',
      latency: 'est_issuance_duration_seconds_count{operation="simpleenroll",label="devices"}',
      allowed: 'est_auth_request_duration_seconds_count{outcome="allowed"}',
      unauthorized: 'est_auth_request_duration_seconds_count{outcome="unauthorized"}',
      serial: 'est_store_duration_seconds_count{store="serial",operation="next"}',
    };
    for (let i = 0; i < 3; i++) assert.equal((await enroll('estuser')).status, 200);
    assert.equal((await enroll('nobody')).status, 401);
    assert.equal((await fetchRaw(`${est.url}/cacerts`, { ca: ca.cert })).status, 200);
    const res = await fetch(scrapeUrl);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const afterText = await res.text();
    const moved = (k: keyof typeof series) => count(afterText, series[k]) - count(before, series[k]);
    assert.equal(moved('ok'), 3);
    assert.equal(moved('denied'), 1);
    assert.equal(moved('cacerts'), 1);
    assert.equal(moved('issued'), 3);
    assert.equal(moved('latency'), 3);
    assert.equal(moved('allowed'), 3);
    assert.equal(moved('unauthorized'), 1);
    assert.ok(moved('serial') >= 1, 'serial store timed');
  });

  it('spans through @opentelemetry/api: one per request, children for authorization and issuance; 5xx marked as errors', async () => {
    spans.length = 0;
    assert.equal((await enroll('estuser')).status, 200);
    assert.equal((await enroll('boom')).status, 500);
    const requests = spans.filter((s) => s.name === 'EST simpleenroll');
    assert.equal(requests.length, 2, JSON.stringify(spans));
    assert.equal(requests[0]!.attributes['est.label'], 'devices');
    assert.equal(requests[0]!.attributes['http.response.status_code'], 200);
    assert.equal(requests[0]!.status?.code ?? 0, 0);
    assert.equal(requests[1]!.status?.code, 2, 'SpanStatusCode.ERROR on the 500');
    assert.ok(spans.some((s) => s.name === 'est.authorize' && s.parent === 'EST simpleenroll'));
    assert.ok(spans.some((s) => s.name === 'est.issue' && s.parent === 'EST simpleenroll'));
    assert.ok(spans.every((s) => s.ended));
  });
});

describe('/readyz', () => {
  it('a verdict is shared by the probes that arrive while it is reached and reused for cacheMs: probes do not multiply backend requests', async () => {
    let asked = 0;
    let up = true;
    const backend = createServer((_req, res) => {
      asked++;
      // Slow enough for the probes sent at once to arrive while the check runs.
      setTimeout(() => (up ? res.writeHead(401).end() : res.destroy()), 50);
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const health = healthHandler([authBackendCheck(`http://127.0.0.1:${(backend.address() as { port: number }).port}/auth`)], { cacheMs: 300 });
    const server = createServer((req, res) => void (health(req, res) || res.writeHead(404).end()));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const readyz = () => fetchRaw(`http://127.0.0.1:${(server.address() as { port: number }).port}/readyz`);
    try {
      const first = await Promise.all(Array.from({ length: 20 }, readyz));
      assert.deepEqual(new Set(first.map((r) => r.status)), new Set([200]));
      assert.equal(asked, 1, 'twenty probes at once, one backend request');
      up = false;
      assert.equal((await readyz()).status, 200, 'within cacheMs: the verdict reached');
      assert.equal(asked, 1);
      await new Promise((r) => setTimeout(r, 350));
      const down = await readyz();
      assert.equal(down.status, 503, 'past cacheMs: asked again');
      assert.match(down.text, /"auth-backend":"failed: /);
      assert.equal(asked, 2);
    } finally {
      server.close();
      backend.close();
    }
  });
});

describe('configuration errors name the option, the directive and the file', () => {
  const pki = new TestPki();
  const ca = pki.ca('p256');
  after(() => pki.cleanup());

  it('a csrAttrs file whose attribute values cannot be read: EstConfigError, not a DerError', async () => {
    const { est } = await import('../../lib/index.js');
    // SEQUENCE { SEQUENCE { id-ecPublicKey, SET { INTEGER 5 } } }: parses as CsrAttrs, but the curve is no OID.
    const bad = pki.write('bad-curve.der', Buffer.from('3010300e06072a8648ce3d0201310302 0105'.replace(/ /g, ''), 'hex'));
    assert.throws(() => est({ caRootCertificate: ca.cert, caPrivateKey: ca.key, serialMode: 'random', csrAttrs: bad }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_EST_CONFIG');
      assert.match(e.message, /^est: `csrAttrs` \(est_csr_attrs\) holds an attribute that cannot be read \(.*bad-curve\.der\): /);
      return true;
    });
  });

  it('an encrypted CA key: EstConfigError naming caPrivateKey and the file', async () => {
    const { est } = await import('../../lib/index.js');
    const encrypted = pki.path('enc.key');
    openssl(['pkcs8', '-topk8', '-in', ca.key, '-out', encrypted, '-passout', 'pass:secret']);
    assert.throws(() => est({ caRootCertificate: ca.cert, caPrivateKey: encrypted, serialMode: 'random' }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_EST_CONFIG');
      assert.match(e.message, /`caPrivateKey` \(est_ca_private_key\) is encrypted.*enc\.key/);
      return true;
    });
  });

  it('est-server: a missing TLS file is a configuration error naming tls.cert and the file (exit 2)', async () => {
    const { main } = await import('../../lib/cli/est-server.js');
    const cfg = pki.write('server.json', JSON.stringify({ port: 0, tls: { cert: 'missing.crt', key: 'missing.key' }, caRootCertificate: ca.cert, caPrivateKey: ca.key, serialMode: 'random' }));
    const write = process.stderr.write.bind(process.stderr);
    let err = '';
    process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
    try {
      assert.equal(await main([cfg, '-q']), 2);
    } finally {
      process.stderr.write = write;
    }
    assert.match(err, /est-server: `tls\.cert` cannot read .*missing\.crt: ENOENT/);
  });
});
