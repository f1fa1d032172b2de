/** The limiter's public types: what callers pass, what they get back, and what the Firestore limiter reports. */
import type { Firestore } from '@google-cloud/firestore';
import type { Deadline } from '../resilience/deadline';

export interface LimitSpec {
  requestsPerMinute?: number;
  tokensPerDay?: number;
}

export type LimitKind = 'requests_per_minute' | 'tokens_per_day';

export type Admission = { allowed: true } | { allowed: false; limit: LimitKind; retryAfterSeconds: number };

export interface RateLimiter {
  /** Counts one request (and one issued token) for `subject` under `scope` (e.g. the rule id) against `limits`; never over-admits across instances. */
  /** `deadline`: the request stops waiting for a shared reservation then (the reservation itself runs on). */
  admit(scope: string, subject: string, limits: LimitSpec, deadline?: Deadline): Promise<Admission>;
  /**
   * Gives back the unit an admission took of each limit in `limits`, in the current window:
   * the request it admitted was refused by another limit, or issued no token. The unit goes
   * back to this instance (its count, and the reservation it came from).
   */
  refund(scope: string, subject: string, limits: LimitSpec): void;
  close(): Promise<void>;
}

/** Things worth an audit or log line that happen inside the limiter. */
export type LimiterEvent =
  /** Firestore failed or was too slow: counting per instance for the backoff period. */
  | { type: 'store_unavailable'; detail: string }
  /** A reservation kept losing compare-and-sets within its budget: its waiting requests were refused (Retry-After 1). */
  | { type: 'reservation_contended'; limit: LimitKind; detail: string };

export interface LimiterBudgets {
  /** Budget of one reservation, conflict retries included (default DEFAULTS.limitsReserveBudgetMs). */
  reserveMs: number;
  /** After a failure, count per instance for this long (default DEFAULTS.limitsStoreBackoffMs). */
  storeBackoffMs: number;
}

export interface LimiterStats {
  admitted: number;
  refused: number;
  /** Reservations started (each shared by every admission waiting on it, and covering every counter of its request). */
  reservations: number;
  /** Firestore calls made (commits and reads, warm-up excluded). */
  roundTrips: number;
  /** Compare-and-sets lost to another instance. */
  conflicts: number;
  /** Admissions made from the per-instance count while Firestore was unavailable. */
  fallbackAdmits: number;
  /** Units reserved in Firestore, all counters together (what was admitted from them, or is held, or was stranded). */
  unitsReserved: number;
}

export interface FirestoreRateLimiter extends RateLimiter {
  /** Opens the client's connection before the first reservation needs it; a failure backs Firestore off like any other. */
  warmUp(timeoutMs: number): Promise<boolean>;
  stats(): LimiterStats;
}

export interface FirestoreRateLimiterOptions {
  firestore: Firestore;
  /** Default DEFAULTS.limitsCollection ('token-broker-limits'). */
  collection?: string;
  now?: () => number;
  /** Identifies this instance in operator-facing event details. */
  instanceId: string;
  budgets?: Partial<LimiterBudgets>;
  /** Default DEFAULTS.limitsMemoryCounters. */
  maxCounters?: number;
  onEvent?: (event: LimiterEvent) => void;
}

export interface MemoryRateLimiterOptions {
  now?: () => number;
  /** Default DEFAULTS.limitsMemoryCounters. */
  maxCounters?: number;
}
