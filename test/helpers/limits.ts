/** Driving a rate limiter from tests: sequential admissions and how many were allowed, and counting Firestore calls. */
import { Firestore } from '@google-cloud/firestore';
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

/**
 * Counts the RPCs every Firestore client in this process sends (commits, batch reads, ...),
 * below the SDK's public API, so nothing the limiter does can escape it. Restored by
 * `jest.restoreAllMocks()`.
 */
export function countFirestoreCalls(): { readonly count: number; readonly methods: string[] } {
  type Rpc = (methodName: string, ...rest: unknown[]) => unknown;
  const proto = Firestore.prototype as unknown as { request: Rpc; requestStream: Rpc };
  const methods: string[] = [];
  for (const name of ['request', 'requestStream'] as const) {
    const original = proto[name];
    jest.spyOn(proto, name).mockImplementation(function (this: unknown, methodName: string, ...rest: unknown[]) {
      methods.push(methodName);
      return original.call(this, methodName, ...rest);
    });
  }
  return { get count() { return methods.length; }, methods };
}
