/**
 * W3C `traceparent` and Google's `X-Cloud-Trace-Context`, parsed strictly, for
 * `logging.googleapis.com/trace` / `spanId` / `trace_sampled`. Malformed headers are ignored.
 */
export interface TraceContext {
  traceId: string;
  spanId?: string;
  sampled?: boolean;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const CLOUD_TRACE = /^([0-9a-f]{32})(?:\/(\d{1,20}))?(?:;o=([01]))?$/i;

export function parseTraceContext(headers: { traceparent?: string; cloudTrace?: string }): TraceContext | undefined {
  const w3c = headers.traceparent ? TRACEPARENT.exec(headers.traceparent.trim()) : null;
  if (w3c?.[1] && w3c[2] && !/^0+$/.test(w3c[1]) && !/^0+$/.test(w3c[2])) {
    return { traceId: w3c[1], spanId: w3c[2], sampled: (parseInt(w3c[3] ?? '0', 16) & 1) === 1 };
  }
  const google = headers.cloudTrace ? CLOUD_TRACE.exec(headers.cloudTrace.trim()) : null;
  if (google?.[1]) {
    const spanId = google[2] ? BigInt(google[2]).toString(16).padStart(16, '0').slice(-16) : undefined;
    return { traceId: google[1].toLowerCase(), spanId, sampled: google[3] === undefined ? undefined : google[3] === '1' };
  }
  return undefined;
}
