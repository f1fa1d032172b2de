/** Writes token-endpoint responses: JSON, never cached (RFC 6749 §5.1). */
import type { Response } from '@google-cloud/functions-framework';
import { BrokerError, errorBody } from '../../shared/errors';

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

export function replyJson(res: Response, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.status(status).set({ ...NO_STORE, ...headers }).json(body);
}

export function replyError(res: Response, err: BrokerError, status: number = err.status): void {
  const headers: Record<string, string> = {};
  if (err.retryAfterSeconds !== undefined) headers['Retry-After'] = String(err.retryAfterSeconds);
  if (err.allowedMethods) headers.Allow = err.allowedMethods.join(', ');
  if (err.challenge) headers['WWW-Authenticate'] = err.challenge;
  replyJson(res, status, errorBody(err), headers);
}
