/** When to retry a broker request, and how long to wait first. */
import type { RetryOptions } from './options';

/** 429 (`slow_down`) and 503 (`temporarily_unavailable`) are worth another try; every other answer is final. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 503;
}

/**
 * Capped exponential backoff with full jitter: before retry `retry` (1 for the first retry),
 * a random time in [0, min(maxDelayMs, baseDelayMs · 2^(retry−1))).
 */
export function backoffDelay(retry: number, policy: Required<RetryOptions>, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return Math.floor(random() * ceiling);
}

/** `Retry-After` in milliseconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date) || !/[a-z]/i.test(text)) return undefined;
  return Math.max(0, date - nowMs);
}
