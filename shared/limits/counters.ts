/** What both limiters share: counters (one limit applied to one request, in its window), refusals, and the bounded per-window state table. */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { ConfigurationError } from '../errors';
import type { Admission, LimitKind, LimitSpec } from './types';

/** Epoch milliseconds count no leap seconds, so multiples of 86 400 000 are exactly UTC midnights. */
export const WINDOW_MS: Readonly<Record<LimitKind, number>> = { requests_per_minute: 60_000, tokens_per_day: 86_400_000 };
export const ALLOWED: Admission = Object.freeze({ allowed: true });

/** The document id of a counter: SHA-256 hex of scope, subject, limit kind and window start. */
export function counterDocumentId(scope: string, subject: string, kind: LimitKind, windowStartMs: number): string {
  return createHash('sha256').update(JSON.stringify(['token-broker/limits/v1', scope, subject, kind, windowStartMs])).digest('hex');
}

/** One limit applied to one request: which counter, and its window. */
export interface Counter {
  readonly kind: LimitKind;
  readonly limit: number;
  /** In-memory key (cheap to build; the hashed document id is computed only to reserve). */
  readonly key: string;
  /** The request's counters share it (scope and subject): one reservation in flight per group. */
  readonly group: string;
  readonly scope: string;
  readonly subject: string;
  readonly windowStart: number;
  readonly windowEnd: number;
}

/** A counter's in-memory key: its kind, window start and group. */
export function counterKey(kind: LimitKind, windowStart: number, group: string): string {
  return `${kind}|${windowStart}|${group}`;
}

export function countersFor(scope: string, subject: string, limits: LimitSpec, t: number): Counter[] {
  const counters: Counter[] = [];
  const group = `${scope.length}:${scope}|${subject}`;
  const add = (kind: LimitKind, limit: number | undefined) => {
    if (limit === undefined) return;
    if (!Number.isSafeInteger(limit) || limit < 0) throw new ConfigurationError(`rate limit ${kind} must be a non-negative integer, got ${limit}`);
    const size = WINDOW_MS[kind];
    const windowStart = Math.floor(t / size) * size;
    counters.push({
      kind, limit, group, scope, subject, windowStart, windowEnd: windowStart + size,
      key: counterKey(kind, windowStart, group),
    });
  };
  add('requests_per_minute', limits.requestsPerMinute);
  add('tokens_per_day', limits.tokensPerDay);
  return counters;
}

/** Of several counters, the one whose window ends last (retrying before it ends would only be refused again). */
export function decisive(counters: readonly Counter[]): Counter {
  let last = counters[0] as Counter;
  for (const counter of counters) if (counter.windowEnd > last.windowEnd) last = counter;
  return last;
}

/** The refusal for the exhausted counters: the one whose window ends last decides. */
export function refusal(exhausted: readonly Counter[], t: number, retryAfterSeconds?: number): Admission {
  const last = decisive(exhausted);
  return {
    allowed: false,
    limit: last.kind,
    retryAfterSeconds: retryAfterSeconds ?? Math.max(1, Math.ceil((last.windowEnd - t) / 1000)),
  };
}

/**
 * Per-window states by counter key, bounded: a state serves until its window ends, and beyond
 * the bound the least recently used is forgotten (forgetting one costs only a round trip, or,
 * counting per instance, a fresh count).
 */
export class CounterTable<S extends { readonly windowEnd: number }> {
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

  /** A state without touching its recency (the window before the current one, say). */
  peek(key: string): S | undefined {
    return this.entries.peek(key);
  }
}
