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
 * An instance does not ask Firestore per request. It reserves a CHUNK of units with a
 * compare-and-set on the document (create it if absent, else update with a `lastUpdateTime`
 * precondition; a conflict re-reads and retries), then admits from its reserved units in
 * memory until they run out. The sum of reservations can never exceed the limit, so neither
 * can the sum of admissions, however many instances run: while Firestore answers, the limiter
 * NEVER OVER-ADMITS (the over-admission bound is 0). The instance remembers the `updateTime` of
 * its own last write and updates blind against it; only a conflict costs a read. Concurrent
 * admissions in one instance share one reservation in flight per principal (singleflight).
 * Once the document says the limit is fully reserved, the instance remembers it until the
 * window ends and refuses without a round trip.
 *
 * ONE ROUND TRIP PER RESERVATION, ALL LIMITS OF THE REQUEST. A request subject to both limits
 * needs units of two counters. One reservation takes the chunks of both in one commit: a
 * batched write of the two documents, each with its own precondition, is atomic (both or
 * neither) and one round trip, so the second limit costs no round trip of its own. The
 * reservation covers every counter that holds no units (the request needs it) and, riding
 * along, any that holds less than half its chunk (it would need one soon); it tops each up to its chunk, so an instance never holds
 * more than one chunk of a counter (refunds aside). This one commit is only the FIRST attempt,
 * the one that costs a single round trip when no other instance is writing (see CONTENTION).
 *
 * CHUNKS ADAPT per instance and counter (chunk-policy.ts), because a fixed size cannot serve
 * both a quiet principal and a busy one: small chunks cost a busy key a round trip every few
 * admissions (chunks of 20 cost 50 round trips per 1 000 admissions), large ones let a quiet
 * instance strand much of a limit. So:
 *   - a window opens with chunkSize(limit): a tenth of the limit, 1–20 units (DEFAULTS
 *     .limitsMaxChunk), or for a hot limit ⌈limit / window seconds⌉, about one write a second
 *     at the full rate (Firestore advises about one sustained write per second per document);
 *   - each chunk the instance uses up within the window doubles the next one (DEFAULTS
 *     .limitsChunkGrowth: slow start; a chunk used up within the window is demand this instance
 *     has shown, and the window bounds how long that can take);
 *   - a chunk is never more than a tenth of the limit (chunkCap) nor more than what remains;
 *   - the next window opens with the size the instance reached, but never with more than it
 *     admitted in the window before; so a steadily busy key opens each minute at the cap, and
 *     one that went quiet opens with what it used and the minute after with chunkSize again.
 *     Opening every window at chunkSize instead would cost a busy key the growth phase every
 *     minute (12 round trips per 1 000 admissions at 1 000 a minute instead of 10), for no
 *     gain in the bound below;
 *   - a chunk taken through a lost compare-and-set does not grow the next one: a conflict is
 *     proof that another instance is drawing on the counter now, and it is the others that pay
 *     for this instance's large chunks. It does not shrink either: smaller chunks would make
 *     this instance write more often to a document others are writing (more conflicts), and
 *     the loser of a compare-and-set is more often the quieter instance (the busy one writes
 *     blind against its own last write), so shrinking would penalise the wrong one.
 * A key limited to 1 000 a minute and used at that rate from one instance costs 10 round trips
 * per 1 000 admissions (chunks of 100), its daily budget included; its first minute 12 (chunks
 * of 20, 40, 80, then 100). Hot limits write less than once a second to their documents.
 *
 * THE PRICE OF CHUNKS is under-admission, never over-admission: units an instance reserved
 * but did not use expire with the window, and another instance may meanwhile be refused
 * although the limit was not really used up. By at most one chunk per instance that drew on
 * the counter in the window: at most a tenth of the limit each (chunkCap), and for an instance
 * that never used up a chunk, its opening chunk (1–20 units; after a busy window up to what
 * it admitted then) — plus units refunded to it and not admitted again. Fairness follows from
 * the same cap: an instance that grabbed chunks at full speed holds at most a tenth of the
 * limit unused, so a quiet instance is refused only once everything but those held chunks
 * has really been admitted.
 *
 * CONTENTION (several instances reserving from one counter in the same milliseconds). A
 * batched commit of two documents loses if EITHER precondition fails, and with several
 * instances on one key both documents are written by all of them: retrying the pair as a
 * whole multiplies the losses (4 instances on a fresh key lost ~100 of 200 burst requests to
 * 429s that way, with the limits nowhere near reached). So a lost commit is never retried as a
 * whole (reserve-chunks.ts):
 *   - one batched read fetches every document of the lost commit (one round trip); a counter
 *     riding along is dropped from the reservation, but keeps the fresh document for its next
 *     blind write;
 *   - each counter the request needs is retried ON ITS OWN, concurrently, with single-document
 *     writes: one counter's loss never makes the other lose again;
 *   - first a compare-and-set against the fresh read (against one other writer it usually
 *     wins, at the price of the read: two round trips after the lost commit);
 *   - if that loses too, or at once when Firestore is slow enough that losing it would leave no
 *     time for what follows within the contention share (four instances on a fresh key: one
 *     winner per round of a read and a commit), and the counter is FAR FROM ITS LIMIT (count
 *     read plus chunk at most half the limit), the chunk is ADDED with an atomic increment
 *     (precondition: the document exists), then the document is read back. An increment cannot
 *     lose to another writer, so contention can no longer refuse there. It stays exact: every write is either a compare-and-set that never takes the count
 *     past the limit, or an increment whose units are kept only if the count read after it is
 *     within the limit; that count includes every unit kept before it, so the units kept never
 *     exceed the limit (an increment read back beyond it gives its units back, with another
 *     increment, and decides again on a fresh read). It costs a round trip more than a
 *     compare-and-set that wins, in the contended case only, which is why it comes second. A
 *     count read beyond the limit is therefore possible for a moment, when increments summing
 *     to more than half the limit are in flight at once (at least five instances each adding a
 *     chunk of at most a tenth of it); it counts as fully reserved, the safe direction;
 *   - NEAR ITS LIMIT, compare-and-set against a fresh read, retried with jitter for up to 60 %
 *     of the reservation budget (DEFAULTS.limitsContentionShare). Only a counter that still loses
 *     then refuses the requests waiting on it, with Retry-After 1 (event `reservation_contended`),
 *     rather than admitting them unreserved: Firestore is evidently up, and admitting without a
 *     reservation is exactly what would over-admit. Units the reservation got for the request's
 *     other counter meanwhile are kept (held for the next request). A refusal when the limit
 *     is really used up is unchanged: the read shows it, and the window end is the Retry-After;
 *   - a counter that has seen another instance's write (a lost commit, or a changed document on
 *     the re-read) does not grow its chunk, until a reservation of it succeeds without a
 *     conflict. It still rides along: keeping a counter another instance writes out of the
 *     commit was measured too (two instances, 10 callers each, two limits: 30–56 round trips per
 *     1 000 instead of 28–48), since a rider left out soon needs a reservation of its own, and
 *     after a lost commit it no longer holds the needed counter back.
 * Totals stay exact under contention, but sharing is first come, first served: the instance that
 * wrote last can write again without a read, so a busy instance tends to win the next
 * compare-and-set and may use a hot counter up before the others get a chunk (it admits what it
 * takes, apart from the one chunk above). None of this changes the uncontended path: one busy
 * instance still pays one commit per reservation, both limits in it.
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
 * MEMORY: each instance keeps one small state per live (scope, subject, kind, window), bounded
 * by DEFAULTS.limitsMemoryCounters (least recently used dropped first); the state of the
 * window before is read once, to open the next. Dropping a Firestore-backed state only costs
 * a round trip later (its unused reserved units are abandoned, the safe direction) and an
 * opening chunk of chunkSize; dropping a per-instance count (memory limiter, or the fallback
 * during an outage) forgets that principal's count for the window.
 *
 * This module is the one callers import, and holds the Firestore limiter; the rest of the
 * limiter: types.ts (the public types), counters.ts (counters, refusals, the state table),
 * chunk-policy.ts (chunk sizes, pure), reserve-chunks.ts (one reservation: the batched
 * compare-and-set, and per counter after a conflict) and
 * memory-limiter.ts.
 */
import { SingleFlight } from '../cache/singleflight';
import { DEFAULTS } from '../config/defaults';
import { BudgetExceeded, withinBudget } from '../resilience/time-budget';
import { warmUpFirestore } from '../state/firestore';
import { chunkCap, grownChunk, openingChunk, wantsTopUp } from './chunk-policy';
import { ALLOWED, counterDocumentId, counterKey, CounterTable, countersFor, decisive, refusal, WINDOW_MS, type Counter } from './counters';
import { reserveChunks, type ChunkOutcome, type ChunkRequest, type Seen } from './reserve-chunks';
import type { FirestoreRateLimiter, FirestoreRateLimiterOptions, LimiterBudgets, LimiterEvent, LimiterStats } from './types';

export type {
  Admission,
  FirestoreRateLimiter,
  FirestoreRateLimiterOptions,
  LimiterBudgets,
  LimiterEvent,
  LimiterStats,
  LimitKind,
  LimitSpec,
  MemoryRateLimiterOptions,
  RateLimiter,
} from './types';
export { chunkCap, chunkSize, grownChunk, openingChunk, unitsToAsk, wantsTopUp, type PreviousWindow } from './chunk-policy';
export { counterDocumentId } from './counters';
export { createMemoryRateLimiter } from './memory-limiter';

/** Conflicts are retried for this share of the reservation budget; the rest is headroom for the last attempt. */
const CONTENTION_SHARE = DEFAULTS.limitsContentionShare;

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
  known?: Seen;
  docId?: string;
  /** The chunk policy's size: what a reservation brings this instance's holding up to. */
  chunk: number;
  /** Reservations of this counter granted in this window: the first takes the opening chunk, later ones grow it. */
  grants: number;
  /** The last reservation lost a compare-and-set on the way: the next one does not grow. */
  contended: boolean;
}

/** What a reservation tells the admissions waiting on it. */
interface Reservation {
  outcome: 'granted' | 'full' | 'contended' | 'failed';
  /** Keys of the counters it asked for. */
  keys: ReadonlySet<string>;
}

/** A counter of the request and what this reservation does with it. */
interface Planned {
  readonly counter: Counter;
  readonly state: CounterState & { docId: string };
  readonly needed: boolean;
  readonly chunk: number;
}

/** Reserves quota chunks from shared Firestore counters; see the module comment. */
export function createFirestoreRateLimiter(options: FirestoreRateLimiterOptions): FirestoreRateLimiter {
  const { firestore, instanceId } = options;
  const now = options.now ?? Date.now;
  const budgets: LimiterBudgets = {
    reserveMs: options.budgets?.reserveMs ?? DEFAULTS.limitsReserveBudgetMs,
    storeBackoffMs: options.budgets?.storeBackoffMs ?? DEFAULTS.limitsStoreBackoffMs,
  };
  const collection = firestore.collection(options.collection ?? DEFAULTS.limitsCollection);
  // Loaded with the client; its Timestamp class is needed to write timestamps, FieldValue to add to a count.
  const { FieldValue, Timestamp: Ts } = require('@google-cloud/firestore') as typeof import('@google-cloud/firestore');
  /** A counter's document: units reserved so far, the limit, and the window's end (also the TTL field). */
  const newDocument = (count: number, limit: number, windowEnd: number) => ({ count, limit, windowEnd: Ts.fromMillis(windowEnd), expireAt: Ts.fromMillis(windowEnd) });
  const table = new CounterTable<CounterState>(options.maxCounters ?? DEFAULTS.limitsMemoryCounters);
  const flights = new SingleFlight<Reservation>();
  const stats: LimiterStats = { admitted: 0, refused: 0, reservations: 0, roundTrips: 0, conflicts: 0, fallbackAdmits: 0, unitsReserved: 0 };
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
   * The counters this reservation covers: every one the request needs (it holds no units), and
   * those still holding units that want a top-up, in the same commit. A needed counter's chunk
   * grows once its previous chunk of the window has been used up.
   */
  const plan = (counters: readonly Counter[], states: readonly CounterState[]): Planned[] => {
    const planned: Planned[] = [];
    counters.forEach((counter, i) => {
      const state = states[i] as CounterState;
      if (state.fullyReserved) return;
      const needed = state.reserved === 0;
      const current = Math.min(state.chunk, chunkCap(counter.limit));
      const chunk = needed && state.grants > 0 ? grownChunk(state.chunk, counter.limit, state.contended) : current;
      if (!needed && !wantsTopUp(chunk, state.reserved)) return;
      state.docId ??= counterDocumentId(counter.scope, counter.subject, counter.kind, counter.windowStart);
      planned.push({ counter, state: state as CounterState & { docId: string }, needed, chunk });
    });
    return planned;
  };

  /** Books what the reservation found and granted into the states. */
  const settle = (planned: readonly Planned[], result: ChunkOutcome): void => {
    for (const index of result.full) (planned[index] as Planned).state.fullyReserved = true;
    for (const { index, seen } of result.refreshed) {
      // A rider left out after a conflict: its next blind write starts from the fresh document.
      const { state } = planned[index] as Planned;
      if (seen) state.known = seen;
      if (seen && seen.count >= state.limit) state.fullyReserved = true;
    }
    for (const index of result.conflicted) (planned[index] as Planned).state.contended = true;
    for (const { index, granted, seen } of result.grants) {
      const { counter, state, chunk } = planned[index] as Planned;
      state.known = seen;
      stats.unitsReserved += granted;
      if (state.limit === counter.limit) state.reserved += granted; // else the policy changed meanwhile: let the next call re-reserve
      if (seen.count >= counter.limit) state.fullyReserved = true;
      state.chunk = chunk;
      state.grants++;
      state.contended = result.conflicted.includes(index);
    }
  };

  /** One reservation per request group (scope and subject) in flight in this instance; every admission waiting for units shares it. */
  const reserve = (counters: readonly Counter[], states: readonly CounterState[]): Promise<Reservation> =>
    flights.run((counters[0] as Counter).group, async () => {
      const planned = plan(counters, states);
      const keys = new Set(planned.map((p) => p.counter.key));
      if (!planned.some((p) => p.needed)) return { outcome: 'granted', keys }; // meanwhile served (a refund): decide again
      stats.reservations++;
      const giveUpAt = Date.now() + budgets.reserveMs * CONTENTION_SHARE;
      const requests: ChunkRequest[] = planned.map(({ counter, state, needed, chunk }) => ({
        ref: collection.doc(state.docId), limit: counter.limit, windowEnd: counter.windowEnd, needed, held: state.reserved, chunk, seen: state.known,
      }));
      let result: ChunkOutcome;
      try {
        result = await withinBudget(budgets.reserveMs, 'Firestore quota reservation', (signal) => reserveChunks(firestore, requests, {
          call: (operation) => {
            if (signal.aborted) throw new Error('reservation abandoned after its budget');
            stats.roundTrips++;
            return operation();
          },
          giveUpAt,
          onConflict: () => stats.conflicts++,
          newDocument,
          increment: (n) => FieldValue.increment(n),
        }), { background });
      } catch (err) {
        storeFailed(err instanceof BudgetExceeded ? err.message : `Firestore quota reservation failed: ${err instanceof Error ? err.message : String(err)}`);
        return { outcome: 'failed', keys };
      }
      settle(planned, result);
      if (result.contended.length > 0) {
        const contended = result.contended.map((index) => (planned[index] as Planned).counter);
        emit({
          type: 'reservation_contended',
          limit: decisive(contended).kind,
          detail: `instance ${instanceId}: ${result.attempts} compare-and-sets lost within ${budgets.reserveMs * CONTENTION_SHARE} ms`,
        });
        // Only the counters that lost refuse; units granted to the others meanwhile are booked above.
        return { outcome: 'contended', keys: new Set(contended.map((c) => c.key)) };
      }
      const full = result.full.some((index) => (planned[index] as Planned).needed);
      return { outcome: full ? 'full' : 'granted', keys };
    });

  /** This instance's state of the counter in its window; a new window's opening chunk follows what it did in the window before. */
  const stateFor = (counter: Counter, t: number): CounterState => {
    const state = table.obtain(counter.key, t, () => {
      const previous = table.peek(counterKey(counter.kind, counter.windowStart - WINDOW_MS[counter.kind], counter.group));
      const before = previous && previous.windowEnd === counter.windowStart ? { used: previous.used, chunk: previous.chunk } : undefined;
      const chunk = openingChunk(counter.limit, (counter.windowEnd - counter.windowStart) / 1000, before);
      return { windowEnd: counter.windowEnd, limit: counter.limit, used: 0, reserved: 0, fullyReserved: false, chunk, grants: 0, contended: false };
    });
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
        let pending: Counter[] | undefined;
        counters.forEach((counter, i) => {
          const state = states[i] as CounterState;
          if (state.used >= counter.limit || (state.reserved === 0 && state.fullyReserved)) (exhausted ??= []).push(counter);
          else if (state.reserved === 0 && storeUp) (pending ??= []).push(counter);
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
        const reservation = reserve(counters, states);
        const { outcome, keys } = await (deadline ? deadline.race(reservation) : reservation);
        const contended = outcome === 'contended' ? pending.filter((c) => keys.has(c.key)) : [];
        if (contended.length > 0) {
          stats.refused++;
          return refusal(contended, now(), 1);
        }
        // Units granted (possibly taken meanwhile by other admissions), limit reached, Firestore backed off,
        // or a reservation for other counters of this principal: decide again.
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
