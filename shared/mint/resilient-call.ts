/**
 * One upstream HTTP operation with bounded retries (full jitter, the upstream's Retry-After
 * honoured), a circuit breaker of its own and a per-attempt timeout, inside the request's
 * deadline. IAM Credentials and STS (the minter), Secret Manager and the Gemini API each run
 * their calls through one of these. The caller maps the final
 * failure, a `ResilientCallFailed`, into its own refusal reasons.
 */
import { CircuitBreaker, CircuitOpenError, type CircuitBreakerSettings, type CircuitTransition } from '../resilience/circuit-breaker';
import type { Deadline } from '../resilience/deadline';
import { RetriesExhausted, withRetries, type RetryPolicy } from '../resilience/retry';
import { DEFAULTS } from '../config/defaults';
import { describeUpstreamFailure, UpstreamFailure } from './upstream-error';

/** How hard an upstream call is tried; every field defaults from DEFAULTS. */
export interface UpstreamResilience {
  /** Longest single call. */
  attemptTimeoutMs: number;
  retry: RetryPolicy;
  breaker: CircuitBreakerSettings;
  /** Jitter source, uniform in [0, 1). */
  random: () => number;
}

export function upstreamResilience(overrides: Partial<UpstreamResilience> = {}): UpstreamResilience {
  return {
    attemptTimeoutMs: DEFAULTS.upstreamTimeoutMs,
    retry: DEFAULTS.upstreamRetry,
    breaker: DEFAULTS.upstreamBreaker,
    random: Math.random,
    ...overrides,
  };
}

/** The final outcome of a failed operation: the last attempt's failure, or an open circuit. */
export class ResilientCallFailed extends Error {
  constructor(readonly failure: UpstreamFailure | CircuitOpenError, readonly attempts: number) {
    super(failure.message);
    this.name = 'ResilientCallFailed';
  }
}

/** Runs `operation` (its name for messages) with this caller's retries and its one circuit breaker. */
export type ResilientCall = <T>(operation: string, call: (signal: AbortSignal) => Promise<T>, deadline: Deadline) => Promise<{ value: T; attempts: number }>;

/** One circuit breaker per upstream service, shared by every operation run through it. */
export function createResilientCall(settings: UpstreamResilience, onTransition?: (transition: CircuitTransition) => void): ResilientCall {
  const breaker = new CircuitBreaker({
    settings: settings.breaker,
    counts: (err) => err instanceof UpstreamFailure && err.retryable,
    onTransition,
  });
  return async (operation, call, deadline) => {
    const attempt = async () => {
      const signal = AbortSignal.timeout(Math.max(1, Math.floor(Math.min(settings.attemptTimeoutMs, deadline.remainingMs()))));
      try {
        return await raceSignal(call(signal), signal);
      } catch (err) {
        throw describeUpstreamFailure(err, operation, signal.aborted);
      }
    };
    try {
      return await withRetries(() => breaker.run(attempt), {
        policy: settings.retry,
        deadline,
        random: settings.random,
        classify: (err) => ({
          retryable: err instanceof UpstreamFailure && err.retryable,
          retryAfterMs: err instanceof UpstreamFailure && err.options.retryAfterSeconds !== undefined ? err.options.retryAfterSeconds * 1000 : undefined,
        }),
      });
    } catch (err) {
      const last = err instanceof RetriesExhausted ? err.lastError : err;
      const attempts = err instanceof RetriesExhausted ? err.attempts : last instanceof CircuitOpenError ? 0 : 1;
      if (last instanceof UpstreamFailure || last instanceof CircuitOpenError) throw new ResilientCallFailed(last, attempts);
      throw new ResilientCallFailed(describeUpstreamFailure(last, operation, false), attempts);
    }
  };
}

/** Rejects when `signal` aborts, even if the transport does not notice it. */
function raceSignal<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
