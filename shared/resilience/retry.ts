/**
 * Bounded retries with capped exponential backoff and full jitter (the delay before retry k
 * is uniform in [0, min(cap, base · 2^(k−1)))), for retryable failures only, inside a
 * request's deadline. An upstream's own `Retry-After` is honoured: the delay is never
 * shorter, and when it is longer than the backoff cap or the time left, the failure is
 * returned at once instead of waited out.
 */
import type { Deadline } from './deadline';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** No attempt starts with less time than this left: it could not finish. */
  minAttemptMs: number;
}

export interface FailureClass {
  retryable: boolean;
  /** The upstream's own `Retry-After`, when it sent one. */
  retryAfterMs?: number;
}

export interface RetryOptions {
  policy: RetryPolicy;
  deadline: Deadline;
  classify: (err: unknown) => FailureClass;
  /** Uniform in [0, 1); injectable so tests can pin the jitter. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface RetryOutcome<T> {
  value: T;
  attempts: number;
}

/** Thrown after the last attempt: the last failure, and how many attempts were made. */
export class RetriesExhausted extends Error {
  constructor(readonly lastError: unknown, readonly attempts: number) {
    super(`gave up after ${attempts} attempt(s)`, { cause: lastError });
    this.name = 'RetriesExhausted';
  }
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The full-jitter backoff before retry number `retry` (1 for the first retry). */
export function backoffDelayMs(policy: RetryPolicy, retry: number, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return Math.floor(random() * ceiling);
}

export async function withRetries<T>(attempt: (attemptNumber: number) => Promise<T>, options: RetryOptions): Promise<RetryOutcome<T>> {
  const { policy, deadline, classify } = options;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? defaultSleep;
  for (let attempts = 1; ; attempts++) {
    try {
      return { value: await attempt(attempts), attempts };
    } catch (err) {
      const failure = classify(err);
      if (!failure.retryable || attempts >= policy.maxAttempts) throw new RetriesExhausted(err, attempts);
      if (failure.retryAfterMs !== undefined && failure.retryAfterMs > policy.maxDelayMs) throw new RetriesExhausted(err, attempts);
      const delay = Math.max(backoffDelayMs(policy, attempts, random), failure.retryAfterMs ?? 0);
      if (delay + policy.minAttemptMs > deadline.remainingMs()) throw new RetriesExhausted(err, attempts);
      await sleep(delay);
    }
  }
}
