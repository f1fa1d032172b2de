/** Driving a rate limiter from tests: sequential admissions and how many were allowed. */
import type { Admission, LimitSpec, RateLimiter } from '../../shared/limits/rate-limiter';

export async function admitMany(limiter: RateLimiter, n: number, scope = 'rule', subject = 'alice', limits: LimitSpec = { requestsPerMinute: 5 }): Promise<Admission[]> {
  const results: Admission[] = [];
  for (let i = 0; i < n; i++) results.push(await limiter.admit(scope, subject, limits));
  return results;
}

export const allowed = (results: Admission[]) => results.filter((r) => r.allowed).length;

/**
 * Limits count per UTC minute: a few requests that straddle a minute's end see two windows.
 * Waits for the next minute when fewer than `marginSeconds` are left of this one.
 */
export async function awayFromMinuteEnd(marginSeconds = 10): Promise<void> {
  const second = new Date().getUTCSeconds();
  if (second >= 60 - marginSeconds) await new Promise((resolve) => setTimeout(resolve, (61 - second) * 1000));
}
