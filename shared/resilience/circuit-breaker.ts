/**
 * A circuit breaker for one upstream, per instance. After `failureThreshold` consecutive
 * retryable failures it opens: calls fail at once, without reaching the upstream, until
 * `openMs` has passed. Then one probe call goes through (half-open): its success closes the
 * circuit; its failure opens it again for twice as long, up to `maxOpenMs`. Failures that
 * say nothing about the upstream's health (a refusal, a bad request) are not counted.
 */
import { performance } from 'node:perf_hooks';

export interface CircuitBreakerSettings {
  failureThreshold: number;
  openMs: number;
  maxOpenMs: number;
}

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitTransition {
  state: CircuitState;
  /** Consecutive failures that led here. */
  failures: number;
  /** How long the circuit stays open (when `state` is `open`). */
  openMs?: number;
}

export class CircuitOpenError extends Error {
  constructor(readonly retryAfterMs: number) {
    super(`circuit open for another ${retryAfterMs} ms`);
    this.name = 'CircuitOpenError';
  }
}

export interface CircuitBreakerOptions {
  settings: CircuitBreakerSettings;
  /** Whether a failure counts against the upstream's health. */
  counts: (err: unknown) => boolean;
  onTransition?: (transition: CircuitTransition) => void;
  /** Monotonic clock in ms. */
  clock?: () => number;
}

export class CircuitBreaker {
  private state: CircuitState = 'closed';
  private failures = 0;
  private openUntil = 0;
  private currentOpenMs: number;
  private probing = false;
  private readonly clock: () => number;

  constructor(private readonly options: CircuitBreakerOptions) {
    this.clock = options.clock ?? (() => performance.now());
    this.currentOpenMs = options.settings.openMs;
  }

  get currentState(): CircuitState {
    return this.state;
  }

  /** Runs `call` if the circuit lets it through; otherwise throws CircuitOpenError. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    const probe = this.admit();
    try {
      const value = await call();
      this.succeeded();
      return value;
    } catch (err) {
      if (this.options.counts(err)) this.failed();
      else if (probe) this.probing = false;
      throw err;
    }
  }

  private admit(): boolean {
    if (this.state === 'closed') return false;
    const now = this.clock();
    if (this.state === 'open' && now >= this.openUntil) this.transition('half_open');
    if (this.state === 'half_open' && !this.probing) {
      this.probing = true;
      return true;
    }
    throw new CircuitOpenError(Math.max(1, Math.ceil(this.openUntil - now)));
  }

  private succeeded(): void {
    this.failures = 0;
    this.probing = false;
    this.currentOpenMs = this.options.settings.openMs;
    if (this.state !== 'closed') this.transition('closed');
  }

  private failed(): void {
    this.failures++;
    if (this.state === 'half_open') {
      this.probing = false;
      this.currentOpenMs = Math.min(this.currentOpenMs * 2, this.options.settings.maxOpenMs);
      this.open();
    } else if (this.state === 'closed' && this.failures >= this.options.settings.failureThreshold) {
      this.open();
    }
  }

  private open(): void {
    this.openUntil = this.clock() + this.currentOpenMs;
    this.transition('open');
  }

  private transition(state: CircuitState): void {
    this.state = state;
    const transition: CircuitTransition = { state, failures: this.failures, ...(state === 'open' ? { openMs: this.currentOpenMs } : {}) };
    try {
      this.options.onTransition?.(transition);
    } catch {
      // observers never break calls
    }
  }
}
