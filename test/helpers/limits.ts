/** Driving a rate limiter from tests: sequential admissions and how many were allowed. */
import type { Admission, LimitSpec, RateLimiter } from '../../shared/limits/rate-limiter';

export async function admitMany(limiter: RateLimiter, n: number, scope = 'rule', subject = 'alice', limits: LimitSpec = { requestsPerMinute: 5 }): Promise<Admission[]> {
  const results: Admission[] = [];
  for (let i = 0; i < n; i++) results.push(await limiter.admit(scope, subject, limits));
  return results;
}

export const allowed = (results: Admission[]) => results.filter((r) => r.allowed).length;
