/**
 * The client's errors: one closed set of codes, one class per failure. Branch on `code` (or
 * `instanceof`), never on `message`.
 *
 * Misconfiguration (a missing credential, a plain-http broker URL) is a `TypeError` thrown by
 * the constructor, never one of these.
 */
export type BrokerClientErrorCode =
  | 'ERR_BROKER_REFUSED'
  | 'ERR_BROKER_UNREACHABLE'
  | 'ERR_BROKER_RESPONSE_INVALID'
  | 'ERR_SUBJECT_TOKEN_UNAVAILABLE'
  | 'ERR_ABORTED';

export abstract class BrokerClientError extends Error {
  abstract readonly code: BrokerClientErrorCode;
}

/** The broker answered with an RFC 6749 §5.2 error (after retries, for 429 and 503). */
export class BrokerError extends BrokerClientError {
  override readonly name = 'BrokerError';
  readonly code = 'ERR_BROKER_REFUSED' as const;
  /** The HTTP status, e.g. 400, 401, 403, 429, 503. */
  readonly status: number;
  /** The broker's `error`, e.g. `invalid_grant`, `access_denied`, `slow_down`. */
  readonly error: string;
  /** The broker's `error_description`, when it sent one. */
  readonly errorDescription: string | undefined;
  /** The broker's `Retry-After`, in seconds, when it sent one. */
  readonly retryAfterSeconds: number | undefined;
  /** Requests made, the last one included. */
  readonly attempts: number;

  constructor(fields: { status: number; error: string; errorDescription?: string; retryAfterSeconds?: number; attempts: number }) {
    super(`token broker answered ${fields.status} ${fields.error}${fields.errorDescription ? `: ${fields.errorDescription}` : ''}`);
    this.status = fields.status;
    this.error = fields.error;
    this.errorDescription = fields.errorDescription;
    this.retryAfterSeconds = fields.retryAfterSeconds;
    this.attempts = fields.attempts;
  }
}

/**
 * No answer from the broker (connection refused, reset, DNS, an attempt over `timeoutMs`),
 * after retries. For a timeout, `cause` is a DOMException named `TimeoutError`.
 */
export class BrokerUnreachableError extends BrokerClientError {
  override readonly name = 'BrokerUnreachableError';
  readonly code = 'ERR_BROKER_UNREACHABLE' as const;
  constructor(readonly attempts: number, options: { cause: unknown }) {
    super(`token broker unreachable after ${attempts} attempt(s)`, options);
  }
}

/** The broker answered 200 with something that is not a token answer (a proxy's page, say). */
export class BrokerResponseError extends BrokerClientError {
  override readonly name = 'BrokerResponseError';
  readonly code = 'ERR_BROKER_RESPONSE_INVALID' as const;
  constructor(readonly status: number, reason: string) {
    super(`token broker answer unusable: ${reason}`);
  }
}

/** The subject token could not be read (file, URL or function). Nothing was sent to the broker. */
export class SubjectTokenError extends BrokerClientError {
  override readonly name = 'SubjectTokenError';
  readonly code = 'ERR_SUBJECT_TOKEN_UNAVAILABLE' as const;
  constructor(reason: string, options?: { cause: unknown }) {
    super(`subject token unavailable: ${reason}`, options);
  }
}

/**
 * The caller's `signal` aborted the call. Nothing is retried after that; `cause` is the
 * signal's reason (a DOMException named `AbortError` for a plain `abort()`).
 */
export class BrokerAbortError extends BrokerClientError {
  override readonly name = 'BrokerAbortError';
  readonly code = 'ERR_ABORTED' as const;
  constructor(options: { cause: unknown }) {
    super('token request aborted by the caller', options);
  }
}
