/**
 * Slows down repeated failed client authentications, per client id.
 *
 * Failures are counted in a sliding window (default 5 minutes). The first few failures
 * (default 3) cost nothing, so a client with a typo or mid-rotation is not punished; after
 * that each failure doubles the delay, from 250 ms up to a 2 s cap. A success forgets the
 * client's failures.
 *
 * The map of clients is bounded (default 10 000, least recently failing evicted first), and
 * each client keeps at most as many failure times as can still change its delay. The state
 * is per process: on Cloud Functions each instance throttles on its own.
 *
 * Record failures only for client ids the policy knows: ids a caller makes up would
 * otherwise fill the map and evict real clients' counts.
 */
import { LRUCache } from 'lru-cache';
import { DEFAULTS } from '../config/defaults';

export interface FailureThrottleOptions {
  /** Length of the sliding window (default 5 minutes). */
  windowMs?: number;
  /** Failures within the window that cost no delay (default 3). */
  freeFailures?: number;
  /** Delay after the first failure beyond the free ones (default 250 ms); it then doubles. */
  baseDelayMs?: number;
  /** Largest delay (default 2 s). */
  maxDelayMs?: number;
  /** Most client ids tracked (default 10 000). */
  maxClients?: number;
  /** Clock in milliseconds (injectable for tests). */
  now?: () => number;
}

export class FailureThrottle {
  private readonly windowMs: number;
  private readonly freeFailures: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxClients: number;
  private readonly now: () => number;
  /** Failure times beyond this many cannot change the delay, so none are kept. */
  private readonly maxTracked: number;
  /** Client id → failure times, oldest first; the least recently failing client is forgotten first. */
  private readonly failures?: LRUCache<string, number[]>;

  constructor(options: FailureThrottleOptions = {}) {
    const defaults = DEFAULTS.authFailureThrottle;
    this.windowMs = options.windowMs ?? defaults.windowMs;
    this.freeFailures = options.freeFailures ?? defaults.freeFailures;
    this.baseDelayMs = options.baseDelayMs ?? defaults.baseDelayMs;
    this.maxDelayMs = options.maxDelayMs ?? defaults.maxDelayMs;
    this.maxClients = options.maxClients ?? defaults.maxClients;
    this.now = options.now ?? Date.now;
    for (const [name, value] of Object.entries({
      windowMs: this.windowMs, freeFailures: this.freeFailures, baseDelayMs: this.baseDelayMs, maxDelayMs: this.maxDelayMs, maxClients: this.maxClients,
    })) {
      if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`FailureThrottle: ${name} must be a non-negative integer`);
    }
    if (this.maxClients > 0) this.failures = new LRUCache({ max: this.maxClients });
    let doublings = 0;
    while (this.baseDelayMs * 2 ** doublings < this.maxDelayMs && doublings < 64) doublings++;
    this.maxTracked = this.freeFailures + doublings + 1;
  }

  /** Number of client ids currently tracked. */
  get size(): number {
    return this.failures?.size ?? 0;
  }

  /**
   * How long to hold the client's next authentication: 0 while it has at most
   * `freeFailures` failures in the window, then 250 ms, 500 ms, 1 s, 2 s, 2 s, ...
   * (with the defaults: the 4th failure brings 250 ms).
   */
  delayMs(clientId: string): number {
    const count = this.recent(clientId)?.length ?? 0;
    const excess = count - this.freeFailures;
    if (excess <= 0) return 0;
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(excess - 1, 64));
  }

  /** Counts one failed authentication of the client. */
  recordFailure(clientId: string): void {
    const times = this.recent(clientId) ?? [];
    times.push(this.now());
    if (times.length > this.maxTracked) times.splice(0, times.length - this.maxTracked);
    this.failures?.set(clientId, times); // now the most recently failing
  }

  /** A successful authentication: the client's failures are forgotten. */
  recordSuccess(clientId: string): void {
    this.failures?.delete(clientId);
  }

  /** The client's failure times still inside the window (pruned in place), if any. */
  private recent(clientId: string): number[] | undefined {
    const times = this.failures?.peek(clientId); // a look is not a failure: recency unchanged
    if (!times) return undefined;
    const cutoff = this.now() - this.windowMs;
    let expired = 0;
    while (expired < times.length && (times[expired] ?? Infinity) <= cutoff) expired++;
    if (expired === times.length) {
      this.failures?.delete(clientId);
      return undefined;
    }
    if (expired > 0) times.splice(0, expired);
    return times;
  }
}
