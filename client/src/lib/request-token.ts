/**
 * One token from the broker: build the request, send it, retry what is worth retrying, and
 * turn the answer into a BrokerToken or a typed error.
 */
import { attemptSignal, throwIfCallerAborted, untilAborted } from './abort';
import { buildRequest } from './build-request';
import { MAX_BODY_BYTES } from './defaults';
import { BrokerError, BrokerResponseError, BrokerUnreachableError } from './errors';
import type { BrokerToken } from './options';
import { readLimited } from './read-limited';
import { backoffDelay, isRetryableStatus, parseRetryAfter } from './retry';
import type { Settings } from './settings';

/** The broker's answers on the wire. */
interface TokenResponseWire {
  access_token?: unknown;
  token_type?: unknown;
  issued_token_type?: unknown;
  expires_in?: unknown;
  scope?: unknown;
}
interface ErrorResponseWire {
  error?: unknown;
  error_description?: unknown;
}

/** A fetch that failed without an answer (connection refused, reset, DNS): retried. */
class NoAnswer {
  constructor(readonly cause: unknown) {}
}

/**
 * Each attempt runs under its own deadline (`timeoutMs`) and the caller's `signal`. A timed-out
 * attempt is retried like a network error; after the caller's abort nothing is retried, and the
 * call rejects with BrokerAbortError at once, even from a fetch that ignores its signal.
 */
export async function requestToken(settings: Settings, signal?: AbortSignal): Promise<BrokerToken> {
  const { retry, clock } = settings;
  for (let attempt = 1; ; attempt++) {
    throwIfCallerAborted(signal);
    const deadline = attemptSignal(signal, settings.timeoutMs);
    let outcome: BrokerToken | BrokerError;
    try {
      outcome = await untilAborted(attemptOnce(settings, attempt, deadline.signal), deadline.signal);
    } catch (error) {
      throwIfCallerAborted(signal);
      const unanswered = error instanceof NoAnswer ? error.cause : deadline.timedOut() ? error : undefined;
      if (unanswered === undefined) throw error;
      if (attempt >= retry.maxAttempts) throw new BrokerUnreachableError(attempt, { cause: unanswered });
      await pause(backoffDelay(attempt, retry, settings.random), settings, signal);
      continue;
    } finally {
      deadline.dispose();
    }
    if (!(outcome instanceof BrokerError)) return outcome;
    const wait = retryDelay(outcome, attempt, settings);
    if (wait === undefined) throw outcome;
    await pause(wait, settings, signal);
  }
}

/** One request, built anew (a fresh assertion and subject token each time): the token, or the broker's refusal. */
async function attemptOnce(settings: Settings, attempt: number, signal: AbortSignal): Promise<BrokerToken | BrokerError> {
  const request = await buildRequest(settings, signal);
  const sentAt = settings.clock.now();
  let response: Response;
  try {
    response = await settings.fetch(request.url, { ...request.init, signal });
  } catch (cause) {
    throw new NoAnswer(cause);
  }
  if (response.ok) return tokenFromResponse(response, sentAt);
  return errorFromResponse(response, attempt, settings.clock.now());
}

/** The backoff wait, cut short by the caller's abort. */
async function pause(ms: number, settings: Settings, signal: AbortSignal | undefined): Promise<void> {
  try {
    await untilAborted(settings.clock.sleep(ms), signal);
  } catch {
    throwIfCallerAborted(signal);
  }
}

/** How long to wait before the next attempt, or undefined to surface `refusal` now. */
function retryDelay(refusal: BrokerError, attempt: number, settings: Settings): number | undefined {
  if (!isRetryableStatus(refusal.status) || attempt >= settings.retry.maxAttempts) return undefined;
  if (refusal.retryAfterSeconds === undefined) return backoffDelay(attempt, settings.retry, settings.random);
  const retryAfterMs = refusal.retryAfterSeconds * 1000;
  return retryAfterMs <= settings.retry.maxRetryAfterMs ? retryAfterMs : undefined;
}

async function tokenFromResponse(response: Response, sentAt: number): Promise<BrokerToken> {
  const body = (await readJson(response)) as TokenResponseWire | undefined;
  if (!body) throw new BrokerResponseError(response.status, 'not a JSON object');
  const { access_token, token_type, issued_token_type, expires_in, scope } = body;
  if (typeof access_token !== 'string' || access_token === '') throw new BrokerResponseError(response.status, 'no access_token');
  if (typeof expires_in !== 'number' || !Number.isFinite(expires_in) || expires_in <= 0) throw new BrokerResponseError(response.status, 'no positive expires_in');
  return {
    accessToken: access_token,
    tokenType: typeof token_type === 'string' ? token_type : 'Bearer',
    issuedTokenType: typeof issued_token_type === 'string' ? issued_token_type : undefined,
    expiresAt: sentAt + expires_in * 1000,
    scopes: typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [],
  };
}

async function errorFromResponse(response: Response, attempt: number, now: number): Promise<BrokerError> {
  const body = (await readJson(response).catch(() => undefined)) as ErrorResponseWire | undefined;
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), now);
  return new BrokerError({
    status: response.status,
    // A proxy's error page has no RFC 6749 body: name the status instead.
    error: typeof body?.error === 'string' ? body.error : `http_${response.status}`,
    errorDescription: typeof body?.error_description === 'string' ? body.error_description : undefined,
    retryAfterSeconds: retryAfterMs === undefined ? undefined : Math.ceil(retryAfterMs / 1000),
    attempts: attempt,
  });
}

/** The body as a JSON object, or undefined. */
async function readJson(response: Response): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readLimited(response, MAX_BODY_BYTES);
  } catch (cause) {
    throw new BrokerResponseError(response.status, cause instanceof Error ? cause.message : 'unreadable body');
  }
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
