/**
 * Per-principal rate limits and daily token budgets, enforced across broker instances.
 *
 * `admit(scope, subject, limits)` counts one request, and the one token it will be issued,
 * for `subject` (a principal) under `scope` (a rule or client id):
 *   requests_per_minute   at most N admitted requests per UTC minute
 *   tokens_per_day        at most N admitted requests (= issued tokens) per UTC day
 * An admitted call consumes one unit of each limit it is subject to; a refused call consumes
 * nothing, and names the exhausted limit with `retryAfterSeconds` = seconds until that
 * window ends (at least 1). When both are exhausted, the day is named: retrying after the
 * minute would only be refused again.
 *
 * WINDOWS are fixed, not sliding: the current UTC minute [hh:mm:00, hh:mm+1:00) and the
 * current UTC day [00:00Z, 24:00Z). Fixed windows need one counter per window and nothing
 * else (no timestamps per request), which is what makes chunked reservation possible. The
 * trade-off is the burst at a boundary: a principal may use a whole minute's allowance in
 * the last second of one minute and another in the first second of the next — up to 2 × N
 * within any 60 s span (and 2 × N tokens around midnight). Limits should be set with that in
 * mind; N per minute still bounds any longer period at N per minute.
 *
 * ACROSS INSTANCES (createFirestoreRateLimiter) the shared state is one Firestore document per
 * (scope, subject, limit kind, window): `count` units reserved so far, `limit`, `windowEnd`,
 * and `expireAt` (= window end; Firestore's TTL policy deletes the document after it). The
 * document id is the SHA-256 hex of those four values, so no principal identifier is stored
 * in clear. (A hash is not a secret: who can guess a subject can confirm it, as with the
 * cache's principal hash.)
 *
 * An instance does not ask Firestore per request. It reserves a CHUNK of units — clamp(⌊limit
 * / 10⌋, 1, 20), or whatever remains — with a compare-and-set on the document (create it if
 * absent, else update with a `lastUpdateTime` precondition; a conflict re-reads and retries),
 * then admits from its reserved units in memory until they run out. The sum of reservations
 * can never exceed the limit, so neither can the sum of admissions, however many instances
 * run: the limiter never over-admits while Firestore answers. Cost: at most one round trip per
 * chunk (the instance remembers the `updateTime` of its own last write and updates blind
 * against it; only a conflict costs a read), i.e. ≥ 1/20 of a round trip per admission for
 * high limits. Concurrent admissions in one instance share one reservation in flight per
 * counter (singleflight). Once the document says the limit is fully reserved, the instance
 * remembers it until the window ends and refuses without a round trip.
 *
 * The price of chunks: units an instance reserved but did not use expire with the window.
 * Another instance may meanwhile be refused although the limit was not really used up — by
 * at most one chunk per instance that drew on the counter (≤ 20 × instances; a chunk is a
 * tenth of the limit for limits of 10 and more). Under-admission is the safe direction.
 *
 * CONTENTION (several instances reserving from one counter in the same milliseconds) is
 * retried with jitter for up to 60 % of the reservation budget. A reservation that still
 * loses then refuses the requests waiting on it with Retry-After 1 (event
 * `reservation_contended`) rather than admitting them unreserved: Firestore is evidently up,
 * and admitting without a reservation is exactly what would over-admit. Totals stay exact
 * under contention, but sharing is not fair: the instance that wrote last can write again
 * without a read, so a busy instance tends to win the next compare-and-set and may drain a
 * hot counter before the others get a chunk. Every reservation is one write to one document,
 * so a counter sustains about (admissions per second ÷ chunk) writes per second; Firestore
 * advises about one sustained write per second per document, which chunks of 20 reach at
 * ~1 200 admissions per minute for one principal. Higher limits get larger chunks (chunkSize):
 * ⌈limit / window seconds⌉ units, so even a limit admitted at its full rate costs about one
 * write a second to its document; the price is a larger amount one instance may strand (one
 * chunk, still at most a tenth of the limit).
 *
 * FAILURE: FAIL OPEN, BOUNDED PER INSTANCE. When Firestore fails or exceeds its budget
 * (DEFAULTS.limitsReserveBudgetMs), the limiter reports `store_unavailable`, leaves Firestore
 * alone for DEFAULTS.limitsStoreBackoffMs (10 s), and meanwhile admits from the units it
 * still holds and then from a per-instance count of the same limits. By the time a request
 * reaches the limiter its identity has been verified and a policy rule has granted it; rate
 * limits bound cost and blast radius, they are not an authorization decision, so the token
 * endpoint's availability must not depend on Firestore. Each instance still never admits
 * more than the limit per window (its count includes what it admitted from reserved units),
 * so during an outage the effective limit is at most limit × instances. (The replay store,
 * which is a security decision, fails closed instead.)
 *
 * MEMORY: each instance keeps one small state per live (scope, subject, kind, window), swept
 * when windows end and bounded by DEFAULTS.limitsMemoryCounters (least recently used dropped
 * first). Dropping a Firestore-backed state only costs a round trip later (its unused
 * reserved units are abandoned, the safe direction); dropping a per-instance count (memory
 * limiter, or the fallback during an outage) forgets that principal's count for the window.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Firestore, Timestamp } from '@google-cloud/firestore';
import { SingleFlight } from '../cache/singleflight';
import { DEFAULTS } from '../config/defaults';
import { ConfigurationError } from '../errors';
import type { Deadline } from '../resilience/deadline';
import { BudgetExceeded, withinBudget } from '../resilience/time-budget';
import { warmUpFirestore } from '../state/firestore';

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
  /** Reservations started (each shared by every admission waiting on it). */
  reservations: number;
  /** Firestore calls made (reads and writes, warm-up excluded). */
  roundTrips: number;
  /** Compare-and-sets lost to another instance. */
  conflicts: number;
  /** Admissions made from the per-instance count while Firestore was unavailable. */
  fallbackAdmits: number;
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

/** Epoch milliseconds count no leap seconds, so multiples of 86 400 000 are exactly UTC midnights. */
const WINDOW_MS: Readonly<Record<LimitKind, number>> = { requests_per_minute: 60_000, tokens_per_day: 86_400_000 };
const ALLOWED: Admission = Object.freeze({ allowed: true });
/** Conflicts are retried for this share of the reservation budget; the rest is headroom for the last attempt. */
const CONTENTION_SHARE = DEFAULTS.limitsContentionShare;
/** gRPC codes of a lost compare-and-set: ALREADY_EXISTS, FAILED_PRECONDITION, ABORTED. */
const CONFLICT_CODES = new Set([6, 9, 10]);

/** Units one reservation takes: a tenth of the limit, at least 1 and at most DEFAULTS.limitsMaxChunk. */
/**
 * Units one reservation takes: a tenth of the limit, at least 1, and at most 20 — or, for a
 * limit so high that chunks of 20 would need more than one write a second to its document
 * (Firestore's sustained rate per document), enough units for one write a second at the
 * full rate: ⌈limit / window seconds⌉ (a hot counter of 100 000 a minute reserves 1 667 at a time).
 */
export function chunkSize(limit: number, windowSeconds = 60): number {
  const ceiling = Math.max(DEFAULTS.limitsMaxChunk, Math.ceil(limit / windowSeconds));
  return Math.min(ceiling, Math.max(1, Math.floor(limit / DEFAULTS.limitsChunkDivisor)));
}

/** The document id of a counter: SHA-256 hex of scope, subject, limit kind and window start. */
export function counterDocumentId(scope: string, subject: string, kind: LimitKind, windowStartMs: number): string {
  return createHash('sha256').update(JSON.stringify(['token-broker/limits/v1', scope, subject, kind, windowStartMs])).digest('hex');
}

/** One limit applied to one request: which counter, and its window. */
interface Counter {
  readonly kind: LimitKind;
  readonly limit: number;
  /** In-memory key (cheap to build; the hashed document id is computed only to reserve). */
  readonly key: string;
  readonly scope: string;
  readonly subject: string;
  readonly windowStart: number;
  readonly windowEnd: number;
}

function countersFor(scope: string, subject: string, limits: LimitSpec, t: number): Counter[] {
  const counters: Counter[] = [];
  const add = (kind: LimitKind, limit: number | undefined) => {
    if (limit === undefined) return;
    if (!Number.isSafeInteger(limit) || limit < 0) throw new ConfigurationError(`rate limit ${kind} must be a non-negative integer, got ${limit}`);
    const size = WINDOW_MS[kind];
    const windowStart = Math.floor(t / size) * size;
    counters.push({ kind, limit, key: `${kind}|${windowStart}|${scope.length}:${scope}|${subject}`, scope, subject, windowStart, windowEnd: windowStart + size });
  };
  add('requests_per_minute', limits.requestsPerMinute);
  add('tokens_per_day', limits.tokensPerDay);
  return counters;
}

/** The refusal for the exhausted counters: the one whose window ends last decides. */
function refusal(exhausted: readonly Counter[], t: number, retryAfterSeconds?: number): Admission {
  let decisive = exhausted[0] as Counter;
  for (const counter of exhausted) if (counter.windowEnd > decisive.windowEnd) decisive = counter;
  return {
    allowed: false,
    limit: decisive.kind,
    retryAfterSeconds: retryAfterSeconds ?? Math.max(1, Math.ceil((decisive.windowEnd - t) / 1000)),
  };
}

/**
 * Per-window states by counter key, bounded: a state serves until its window ends, and beyond
 * the bound the least recently used is forgotten (forgetting one costs only a round trip, or,
 * counting per instance, a fresh count).
 */
class CounterTable<S extends { readonly windowEnd: number }> {
  private readonly entries: LRUCache<string, S>;

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxCounters must be a positive integer');
    this.entries = new LRUCache({ max: maxEntries });
  }

  /** The state of `key`'s current window; a state whose window has ended is replaced. */
  obtain(key: string, t: number, create: () => S): S {
    let state = this.entries.get(key);
    if (state === undefined || state.windowEnd <= t) {
      state = create();
      this.entries.set(key, state);
    }
    return state;
  }
}

export interface MemoryRateLimiterOptions {
  now?: () => number;
  /** Default DEFAULTS.limitsMemoryCounters. */
  maxCounters?: number;
}

/** Counts in this process only: development mode, tests, a single-instance deployment. */
export function createMemoryRateLimiter(options: MemoryRateLimiterOptions = {}): RateLimiter {
  const now = options.now ?? Date.now;
  const table = new CounterTable<{ readonly windowEnd: number; used: number }>(options.maxCounters ?? DEFAULTS.limitsMemoryCounters);
  return {
    async admit(scope, subject, limits) {
      const t = now();
      const counters = countersFor(scope, subject, limits, t);
      const states = counters.map((c) => table.obtain(c.key, t, () => ({ windowEnd: c.windowEnd, used: 0 })));
      const exhausted = counters.filter((c, i) => (states[i]?.used ?? 0) >= c.limit);
      if (exhausted.length > 0) return refusal(exhausted, t);
      for (const state of states) state.used++;
      return ALLOWED;
    },
    refund(scope, subject, limits) {
      const t = now();
      for (const counter of countersFor(scope, subject, limits, t)) {
        const state = table.obtain(counter.key, t, () => ({ windowEnd: counter.windowEnd, used: 0 }));
        if (state.used > 0) state.used--;
      }
    },
    async close() {},
  };
}

/** What one instance knows about one counter in one window. */
interface CounterState {
  readonly windowEnd: number;
  /** The limit this state was last used with (policies can change within a window). */
  limit: number;
  /** Admitted by this instance in this window, from any source: caps the fallback. */
  used: number;
  /** Units reserved in Firestore and not used yet. */
  reserved: number;
  /** The document says every unit of the window is reserved. */
  fullyReserved: boolean;
  /** The document as of this instance's last write to it: the next compare-and-set needs no read. */
  known?: { count: number; updateTime: Timestamp };
  docId?: string;
}

type Reservation = 'granted' | 'full' | 'contended' | 'failed';

type CasResult =
  | { kind: 'granted'; granted: number; count: number; updateTime: Timestamp }
  | { kind: 'full' }
  | { kind: 'contended'; attempts: number };

/** Reserves quota chunks from shared Firestore counters; see the module comment. */
export function createFirestoreRateLimiter(options: FirestoreRateLimiterOptions): FirestoreRateLimiter {
  const { firestore, instanceId } = options;
  const now = options.now ?? Date.now;
  const budgets: LimiterBudgets = {
    reserveMs: options.budgets?.reserveMs ?? DEFAULTS.limitsReserveBudgetMs,
    storeBackoffMs: options.budgets?.storeBackoffMs ?? DEFAULTS.limitsStoreBackoffMs,
  };
  const collection = firestore.collection(options.collection ?? DEFAULTS.limitsCollection);
  // Loaded with the client; its Timestamp class is needed to write timestamps.
  const { Timestamp: Ts } = require('@google-cloud/firestore') as typeof import('@google-cloud/firestore');
  const table = new CounterTable<CounterState>(options.maxCounters ?? DEFAULTS.limitsMemoryCounters);
  const flights = new SingleFlight<Reservation>();
  const stats: LimiterStats = { admitted: 0, refused: 0, reservations: 0, roundTrips: 0, conflicts: 0, fallbackAdmits: 0 };
  /** Firestore calls still running, including those abandoned by a budget: close() waits for them. */
  const background = new Set<Promise<unknown>>();
  let storeDownUntil = 0;

  const emit = (event: LimiterEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // an observer must never break token issuance
    }
  };

  const storeFailed = (detail: string) => {
    storeDownUntil = now() + budgets.storeBackoffMs;
    emit({ type: 'store_unavailable', detail: `instance ${instanceId}: ${detail}; counting per instance for ${budgets.storeBackoffMs} ms` });
  };

  /**
   * Takes a chunk of the counter with compare-and-set: blind against what this instance last
   * wrote (or a create, if it never wrote), and after each conflict against a fresh read.
   */
  const compareAndSet = async (c: CounterState & { docId: string }, counter: Counter, signal: AbortSignal, giveUpAt: number): Promise<CasResult> => {
    const ref = collection.doc(c.docId);
    const call = <T>(operation: () => Promise<T>): Promise<T> => {
      if (signal.aborted) throw new Error('reservation abandoned after its budget');
      stats.roundTrips++;
      return operation();
    };
    let seen: { count: number; updateTime: Timestamp } | undefined = c.known;
    for (let attempt = 1; ; attempt++) {
      const count = seen?.count ?? 0;
      const remaining = counter.limit - count;
      if (remaining <= 0) return { kind: 'full' };
      const granted = Math.min(chunkSize(counter.limit, (counter.windowEnd - counter.windowStart) / 1000), remaining);
      try {
        const precondition = seen;
        const written = precondition
          ? await call(() => ref.update({ count: count + granted, limit: counter.limit }, { lastUpdateTime: precondition.updateTime }))
          : await call(() => ref.create({ count: granted, limit: counter.limit, windowEnd: Ts.fromMillis(counter.windowEnd), expireAt: Ts.fromMillis(counter.windowEnd) }));
        return { kind: 'granted', granted, count: count + granted, updateTime: written.writeTime };
      } catch (err) {
        if (!isConflict(err)) throw err;
        stats.conflicts++;
      }
      if (Date.now() >= giveUpAt) return { kind: 'contended', attempts: attempt };
      await sleep(Math.random() * Math.min(DEFAULTS.limitsConflictBackoffMs.max, DEFAULTS.limitsConflictBackoffMs.perAttempt * attempt));
      const snapshot = await call(() => ref.get());
      seen = snapshot.exists && snapshot.updateTime ? { count: storedCount(snapshot.data()?.count, counter.limit), updateTime: snapshot.updateTime } : undefined;
    }
  };

  /** One reservation per counter in flight in this instance; every admission waiting for units shares it. */
  const reserve = (counter: Counter, state: CounterState): Promise<Reservation> =>
    flights.run(counter.key, async () => {
      stats.reservations++;
      state.docId ??= counterDocumentId(counter.scope, counter.subject, counter.kind, counter.windowStart);
      const target = state as CounterState & { docId: string };
      const giveUpAt = Date.now() + budgets.reserveMs * CONTENTION_SHARE;
      let result: CasResult;
      try {
        result = await withinBudget(budgets.reserveMs, 'Firestore quota reservation', (signal) => compareAndSet(target, counter, signal, giveUpAt), { background });
      } catch (err) {
        storeFailed(err instanceof BudgetExceeded ? err.message : `Firestore quota reservation failed: ${err instanceof Error ? err.message : String(err)}`);
        return 'failed';
      }
      if (result.kind === 'full') {
        state.fullyReserved = true;
        return 'full';
      }
      if (result.kind === 'contended') {
        emit({ type: 'reservation_contended', limit: counter.kind, detail: `instance ${instanceId}: ${result.attempts} compare-and-sets lost within ${budgets.reserveMs * CONTENTION_SHARE} ms` });
        return 'contended';
      }
      state.known = { count: result.count, updateTime: result.updateTime };
      if (state.limit === counter.limit) state.reserved += result.granted; // else the policy changed meanwhile: let the next call re-reserve
      if (result.count >= counter.limit) state.fullyReserved = true;
      return 'granted';
    });

  const stateFor = (counter: Counter, t: number): CounterState => {
    const state = table.obtain(counter.key, t, () => ({ windowEnd: counter.windowEnd, limit: counter.limit, used: 0, reserved: 0, fullyReserved: false }));
    if (state.limit !== counter.limit) {
      // A new policy with another limit, mid-window: the document's count still holds.
      if (counter.limit < state.limit) state.reserved = 0;
      state.fullyReserved = false;
      state.limit = counter.limit;
    }
    return state;
  };

  return {
    async admit(scope, subject, limits, deadline) {
      for (;;) {
        const t = now();
        const counters = countersFor(scope, subject, limits, t);
        if (counters.length === 0) return ALLOWED;
        const storeUp = t >= storeDownUntil;
        const states = counters.map((c) => stateFor(c, t));
        let exhausted: Counter[] | undefined;
        let pending: number[] | undefined;
        counters.forEach((counter, i) => {
          const state = states[i] as CounterState;
          if (state.used >= counter.limit || (state.reserved === 0 && state.fullyReserved)) (exhausted ??= []).push(counter);
          else if (state.reserved === 0 && storeUp) (pending ??= []).push(i);
          // else: a reserved unit, or (Firestore backed off) the per-instance count allows it
        });
        if (exhausted) {
          stats.refused++;
          return refusal(exhausted, t);
        }
        if (!pending) {
          // Synchronous from the checks above to here: no other admission can interleave.
          let fallback = false;
          for (const state of states) {
            if (state.reserved > 0) state.reserved--;
            else fallback = true;
            state.used++;
          }
          if (fallback) stats.fallbackAdmits++;
          stats.admitted++;
          return ALLOWED;
        }
        const waiting = pending;
        const reservations = Promise.all(waiting.map((i) => reserve(counters[i] as Counter, states[i] as CounterState)));
        const outcomes = await (deadline ? deadline.race(reservations) : reservations);
        const contended = waiting.filter((_, j) => outcomes[j] === 'contended').map((i) => counters[i] as Counter);
        if (contended.length > 0) {
          stats.refused++;
          return refusal(contended, now(), 1);
        }
        // Units granted (possibly taken meanwhile by other admissions), limit reached, or Firestore backed off: decide again.
      }
    },

    refund(scope, subject, limits) {
      const t = now();
      for (const counter of countersFor(scope, subject, limits, t)) {
        const state = stateFor(counter, t);
        if (state.used === 0) continue;
        state.used--;
        state.reserved++; // reserved in Firestore and now unused again: the next admission here takes it
      }
      stats.admitted--;
    },

    async warmUp(timeoutMs) {
      if (await warmUpFirestore(firestore, timeoutMs)) return true;
      storeFailed(`Firestore warm-up did not answer within ${timeoutMs} ms`);
      return false;
    },

    stats: () => ({ ...stats }),

    async close() {
      // The Firestore client belongs to shared/state/firestore.ts, which terminates it.
      await Promise.allSettled([...background]);
    },
  };
}

function isConflict(err: unknown): boolean {
  return typeof err === 'object' && err !== null && CONFLICT_CODES.has((err as { code?: unknown }).code as number);
}

/** A stored count that is not a non-negative integer (hand-edited?) counts as exhausted: never admit on a count we cannot read. */
function storedCount(value: unknown, limit: number): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : limit;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
