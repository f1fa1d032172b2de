/** What the audit trail records about an HTTP request, read from express's request. */
import type { Request } from '@google-cloud/functions-framework';
import type { HttpFacts } from '../../shared/audit/exchange-entry';
import { parseTraceContext } from '../../shared/audit/trace-context';

/**
 * Whether to believe `X-Forwarded-For`. Behind Google's front end (Cloud Functions, Cloud
 * Run) the socket peer is the front end, which APPENDS the address it saw: the last entry is
 * the one the platform vouches for, and anything before it came from the caller. Without such
 * a front end (local runs, `npm start`) the header is whatever the caller wrote, so it is
 * ignored and the socket peer is used. BROKER_TRUST_X_FORWARDED_FOR=false turns trust off.
 */
export function trustsForwardedFor(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.BROKER_TRUST_X_FORWARDED_FOR !== 'false' && env.BROKER_MODE !== 'development';
}

/** The caller's address (see trustsForwardedFor). */
export function remoteIp(req: Request, trustForwardedFor = trustsForwardedFor()): string | undefined {
  const forwarded = trustForwardedFor ? req.headers['x-forwarded-for'] : undefined;
  const chain = typeof forwarded === 'string' ? forwarded.split(',').map((part) => part.trim()).filter(Boolean) : [];
  const candidate = chain.at(-1) ?? req.socket.remoteAddress;
  return candidate && /^[0-9a-fA-F.:]{2,45}$/.test(candidate) ? candidate : undefined;
}

export function requestFacts(req: Request, status: number, startedMs: number, requestId: string, trustForwardedFor: boolean): HttpFacts {
  const header = (name: string) => {
    const value = req.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  return {
    method: req.method,
    path: req.path,
    status,
    userAgent: header('user-agent'),
    remoteIp: remoteIp(req, trustForwardedFor),
    latencyMs: Date.now() - startedMs,
    requestId,
    trace: parseTraceContext({ traceparent: header('traceparent'), cloudTrace: header('x-cloud-trace-context') }),
  };
}
