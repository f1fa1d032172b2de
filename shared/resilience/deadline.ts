/**
 * One deadline per token request. Everything the request waits for (key fetches, Firestore,
 * IAM Credentials and the retries between them) happens inside it, so a request ends, with a
 * retryable 503, well before the function's own timeout would cut it off without an answer or
 * an audit entry. It runs on the monotonic clock: the broker's injectable wall clock (used for
 * token validity) does not move it.
 */
import { performance } from 'node:perf_hooks';
import { DEFAULTS } from '../config/defaults';
import { temporarilyUnavailable } from '../errors';
import { BudgetExceeded } from './time-budget';

export class Deadline {
  private readonly endsAt: number;

  constructor(readonly budgetMs: number, private readonly clock: () => number = () => performance.now()) {
    this.endsAt = clock() + budgetMs;
  }

  remainingMs(): number {
    return Math.max(0, this.endsAt - this.clock());
  }

  /**
   * Settles like `work`, or rejects with `temporarily_unavailable` once the deadline passes
   * (`work` settling later is then nobody's business). One timer and one promise: it runs on
   * every request, so it carries none of a time budget's abort signal.
   */
  race<T>(work: Promise<T>): Promise<T> {
    const ms = this.remainingMs();
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(deadlineExceeded(this.budgetMs)), ms);
      work.then(
        (value) => { clearTimeout(timer); resolve(value); },
        (err: unknown) => { clearTimeout(timer); reject(err instanceof BudgetExceeded ? deadlineExceeded(this.budgetMs) : err); },
      );
    });
  }
}

export function deadlineExceeded(budgetMs: number) {
  return temporarilyUnavailable(
    'the broker could not complete the request in time',
    DEFAULTS.upstreamRetryAfterSeconds,
    'deadline_exceeded',
    `request deadline of ${budgetMs} ms exceeded`,
  );
}
