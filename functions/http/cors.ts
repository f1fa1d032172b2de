/**
 * CORS for the policy's configured origins only: the token endpoint's (`cors`), without
 * credentials mode (browsers never send cookies there, and no `Access-Control-Allow-Credentials`
 * is sent); and a web app's session endpoints (its `origins`), with credentials, since the
 * session cookie is the credential, and the CSRF header among the allowed ones. Every answer
 * varies by Origin so caches never mix origins.
 */
import type { Request, Response } from '@google-cloud/functions-framework';
import { BrokerError } from '../../shared/errors';
import type { CorsPolicy } from '../../shared/policy/compiled-policy';
import { replyError } from './reply';

/** What an endpoint's CORS allows beyond the origin: request headers, and whether cookies go along. */
export interface CorsMode {
  readonly allowedHeaders: string;
  readonly credentials: boolean;
}

/** The token endpoint's: no cookies. */
export const TOKEN_ENDPOINT_CORS: CorsMode = { allowedHeaders: 'content-type, x-goog-api-key', credentials: false };

/** Adds CORS headers for an allowed origin; returns whether the origin is allowed. */
export function applyCors(req: Request, res: Response, cors: CorsPolicy | undefined, mode: CorsMode = TOKEN_ENDPOINT_CORS): boolean {
  res.vary('Origin');
  if (!isAllowedOrigin(req.headers.origin, cors)) return false;
  res.set('Access-Control-Allow-Origin', req.headers.origin);
  res.set('Access-Control-Expose-Headers', 'Retry-After, X-Request-Id');
  if (mode.credentials) res.set('Access-Control-Allow-Credentials', 'true');
  return true;
}

/**
 * Answers a preflight: 204 with the allowed method and headers, or a 403 `access_denied` error
 * body (like every other refusal) with no CORS headers, so the browser refuses the request.
 */
export function answerPreflight(req: Request, res: Response, cors: CorsPolicy | undefined, mode: CorsMode = TOKEN_ENDPOINT_CORS): void {
  const refusal = preflightRefusal(req, cors);
  if (refusal) {
    res.vary('Origin');
    replyError(res, refusal);
    return;
  }
  applyCors(req, res, cors, mode);
  res
    .status(204)
    .set({
      'Access-Control-Allow-Methods': 'POST',
      'Access-Control-Allow-Headers': mode.allowedHeaders,
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
    return new BrokerError('access_denied', 'this origin is not allowed to call this endpoint', { reason: 'origin_not_allowed' });
  }
  if (req.headers['access-control-request-method'] !== 'POST') {
    return new BrokerError('access_denied', 'this endpoint accepts only POST', { reason: 'preflight_method_not_allowed' });
  }
  return undefined;
}
