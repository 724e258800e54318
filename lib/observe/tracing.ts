// OpenTelemetry spans through @opentelemetry/api only: no-ops unless the app registers an SDK.
import { SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';

const tracer = () => trace.getTracer('express-est');

/**
 * Runs `fn` inside an active span named `name` (a child of whatever span is current, e.g. the
 * HTTP server span of an instrumented app). The span records an exception and an error status when
 * `fn` throws an error whose HTTP status is 5xx (but 501) or unknown; a 4xx is the client's doing and only
 * sets `http.response.status_code`.
 */
export function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (e) {
      const status = (e as { status?: unknown }).status;
      if (typeof status === 'number') span.setAttribute('http.response.status_code', status);
      // 501: the client asked for something unsupported (RFC 7030 §4.3), not a server fault.
      if (typeof status !== 'number' || (status >= 500 && status !== 501)) {
        span.recordException(e as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
      }
      throw e;
    } finally {
      span.end();
    }
  });
}
