/** Writes token-endpoint responses: JSON, never cached (RFC 6749 §5.1). */
import type { Response } from '@google-cloud/functions-framework';
import { BrokerError, errorBody } from '../../shared/errors';

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

/**
 * Written with Node's own `writeHead`/`end` (headers set earlier, such as CORS, are kept; a
 * HEAD request gets no body): express's `res.json` would also hash the body for an ETag and
 * check freshness on every answer, work that means nothing for a response nobody may store.
 */
export function replyJson(res: Response, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...NO_STORE,
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
  }).end(text);
}

export function replyError(res: Response, err: BrokerError, status: number = err.status): void {
  const headers: Record<string, string> = {};
  if (err.retryAfterSeconds !== undefined) headers['Retry-After'] = String(err.retryAfterSeconds);
  if (err.allowedMethods) headers.Allow = err.allowedMethods.join(', ');
  if (err.challenge) headers['WWW-Authenticate'] = err.challenge;
  replyJson(res, status, errorBody(err), headers);
}
