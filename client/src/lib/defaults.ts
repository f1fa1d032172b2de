/**
 * Every default of the client, in one place. Times are milliseconds unless the name says
 * otherwise.
 */

/** Refresh this long before expiry at least… */
export const MIN_REFRESH_MARGIN_MS = 60_000;
/** …or this share of the token's lifetime, whichever is larger. */
export const REFRESH_MARGIN_SHARE = 0.1;

/** Attempts per token request, the first included. */
export const MAX_ATTEMPTS = 4;
/** Backoff before retry n (1-based) is random in [0, min(MAX_DELAY_MS, BASE_DELAY_MS · 2^(n−1))). */
export const BASE_DELAY_MS = 250;
export const MAX_DELAY_MS = 8_000;
/**
 * A `Retry-After` longer than this is not waited for: the error is surfaced with its
 * `retryAfterSeconds` (a daily budget can say "in 10 hours").
 */
export const MAX_RETRY_AFTER_MS = 60_000;

/**
 * Each attempt (reading the subject token, the broker request and its answer) is given up
 * after this long; a timed-out attempt is retried like a network error.
 */
export const REQUEST_TIMEOUT_MS = 10_000;

/** Lifetime of a private_key_jwt client assertion or jwt-bearer assertion (the broker allows up to 3600 s). */
export const ASSERTION_LIFETIME_SECONDS = 60;

/** Largest answer body read from the broker or a subject-token URL. */
export const MAX_BODY_BYTES = 64 * 1024;
