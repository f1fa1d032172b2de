/** What the audit trail records about an HTTP request, read from express's request. */
import type { Request } from '@google-cloud/functions-framework';
import type { HttpFacts } from '../../shared/audit/exchange-entry';
import { parseTraceContext } from '../../shared/audit/trace-context';

/**
 * The caller's address. Behind Google's front end (Cloud Functions, Cloud Run) the socket
 * peer is the front end, which appends the address it saw to `X-Forwarded-For`: the LAST
 * entry is the one the platform vouches for; anything before it came from the caller and is
 * not trusted. Without the header (local runs), the socket peer.
 */
export function remoteIp(req: Request): string | undefined {
  const forwarded = req.headers['x-forwarded-for'];
  const chain = typeof forwarded === 'string' ? forwarded.split(',').map((part) => part.trim()).filter(Boolean) : [];
  const candidate = chain.at(-1) ?? req.socket.remoteAddress;
  return candidate && /^[0-9a-fA-F.:]{2,45}$/.test(candidate) ? candidate : undefined;
}

export function requestFacts(req: Request, status: number, startedMs: number, requestId: string): HttpFacts {
  const header = (name: string) => {
    const value = req.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  return {
    method: req.method,
    path: req.path,
    status,
    userAgent: header('user-agent'),
    remoteIp: remoteIp(req),
    latencyMs: Date.now() - startedMs,
    requestId,
    trace: parseTraceContext({ traceparent: header('traceparent'), cloudTrace: header('x-cloud-trace-context') }),
  };
}
