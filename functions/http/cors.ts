/**
 * CORS for the token endpoint, for the policy's configured origins only. No credentials mode
 * (browsers never send cookies here, and no `Access-Control-Allow-Credentials` is sent);
 * every answer varies by Origin so caches never mix origins.
 */
import type { Request, Response } from '@google-cloud/functions-framework';
import { BrokerError } from '../../shared/errors';
import type { CorsPolicy } from '../../shared/policy/compiled-policy';
import { replyError } from './reply';

const ALLOWED_HEADERS = 'content-type, x-goog-api-key';

/** Adds CORS headers for an allowed origin; returns whether the origin is allowed. */
export function applyCors(req: Request, res: Response, cors: CorsPolicy | undefined): boolean {
  res.vary('Origin');
  if (!isAllowedOrigin(req.headers.origin, cors)) return false;
  res.set('Access-Control-Allow-Origin', req.headers.origin);
  res.set('Access-Control-Expose-Headers', 'Retry-After, X-Request-Id');
  return true;
}

/**
 * Answers a preflight: 204 with the allowed method and headers, or a 403 `access_denied` error
 * body (like every other refusal) with no CORS headers, so the browser refuses the request.
 */
export function answerPreflight(req: Request, res: Response, cors: CorsPolicy | undefined): void {
  const refusal = preflightRefusal(req, cors);
  if (refusal) {
    res.vary('Origin');
    replyError(res, refusal);
    return;
  }
  applyCors(req, res, cors);
  res
    .status(204)
    .set({
      'Access-Control-Allow-Methods': 'POST',
      'Access-Control-Allow-Headers': ALLOWED_HEADERS,
      'Access-Control-Max-Age': String(cors?.maxAgeSeconds ?? 0),
      'Cache-Control': 'no-store',
    })
    .end();
}

function isAllowedOrigin(origin: string | undefined, cors: CorsPolicy | undefined): origin is string {
  return cors !== undefined && typeof origin === 'string' && cors.allowedOrigins.has(origin);
}

/** Why a preflight is refused, or undefined when it is allowed. */
function preflightRefusal(req: Request, cors: CorsPolicy | undefined): BrokerError | undefined {
  if (!isAllowedOrigin(req.headers.origin, cors)) {
    return new BrokerError('access_denied', 'this origin is not allowed to call the token endpoint', { reason: 'origin_not_allowed' });
  }
  if (req.headers['access-control-request-method'] !== 'POST') {
    return new BrokerError('access_denied', 'the token endpoint accepts only POST', { reason: 'preflight_method_not_allowed' });
  }
  return undefined;
}
