/**
 * CORS for the token endpoint, for the policy's configured origins only. No credentials mode
 * (browsers never send cookies here, and no `Access-Control-Allow-Credentials` is sent);
 * every answer varies by Origin so caches never mix origins.
 */
import type { Request, Response } from '@google-cloud/functions-framework';
import type { CorsPolicy } from '../../shared/policy/compiled-policy';

const ALLOWED_HEADERS = 'content-type, x-goog-api-key';

/** Adds CORS headers for an allowed origin; returns whether the origin is allowed. */
export function applyCors(req: Request, res: Response, cors: CorsPolicy | undefined): boolean {
  res.vary('Origin');
  const origin = req.headers.origin;
  if (!cors || typeof origin !== 'string' || !cors.allowedOrigins.has(origin)) return false;
  res.set('Access-Control-Allow-Origin', origin);
  res.set('Access-Control-Expose-Headers', 'Retry-After, X-Request-Id');
  return true;
}

/** Answers a preflight: 204 with the allowed method and headers, or 403 without CORS headers. */
export function answerPreflight(req: Request, res: Response, cors: CorsPolicy | undefined): void {
  const allowed = applyCors(req, res, cors);
  const method = req.headers['access-control-request-method'];
  if (!allowed || method !== 'POST') {
    res.status(403).set('Cache-Control', 'no-store').end();
    return;
  }
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
