/**
 * Rate limits and daily budgets without Firestore: the memory limiter's exact arithmetic on
 * a frozen clock, the Firestore limiter's chunk policy (opening, growth, caps, the next window,
 * conflicts) and counter ids, and how it behaves when every Firestore call fails (a stand-in
 * client: conflicts refuse, anything else fails open to a per-instance count). The limiter
 * against the real emulator is in rate-limiter.int.test.ts and round-trips.int.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { Timestamp, type Firestore } from '@google-cloud/firestore';
import { ConfigurationError } from '../../shared/errors';
import {
  chunkCap,
  chunkSize,
  counterDocumentId,
  createFirestoreRateLimiter,
  createMemoryRateLimiter,
  type FirestoreRateLimiter,
  type FirestoreRateLimiterOptions,
  type LimiterEvent,
  type LimitSpec,
  grownChunk,
  openingChunk,
  unitsToAsk,
  wantsTopUp,
} from '../../shared/limits/rate-limiter';
import { admitMany, allowed } from '../helpers/limits';

/** 13:07:10 UTC: 50 s left in the minute, 10 h 52 min 50 s left in the day. */
const BASE = Date.UTC(2030, 0, 15, 13, 7, 10);
const UNTIL_MINUTE_END = 50;
const UNTIL_MIDNIGHT = 10 * 3600 + 52 * 60 + 50;

let offset = 0;
const now = () => BASE + offset;

beforeEach(() => {
  offset = 0;
});

interface Instance { limiter: FirestoreRateLimiter; events: LimiterEvent[] }

function instance(client: Firestore, overrides: Partial<FirestoreRateLimiterOptions> = {}): Instance {
  const events: LimiterEvent[] = [];
  const limiter = createFirestoreRateLimiter({
    firestore: client, instanceId: randomUUID(), now, budgets: { reserveMs: 5000 }, onEvent: (e) => events.push(e), ...overrides,
  });
  return { limiter, events };
}



describe('memory limiter', () => {
  it('admits exactly the limit per minute and says how long until the window ends', async () => {
    const limiter = createMemoryRateLimiter({ now });
    expect(allowed(await admitMany(limiter, 5))).toBe(5);
    expect(await limiter.admit('rule', 'alice', { requestsPerMinute: 5 })).toEqual({ allowed: false, limit: 'requests_per_minute', retryAfterSeconds: UNTIL_MINUTE_END });
    offset = 49_500;
    expect(await limiter.admit('rule', 'alice', { requestsPerMinute: 5 })).toEqual({ allowed: false, limit: 'requests_per_minute', retryAfterSeconds: 1 });
    offset = 49_999;
    expect(await limiter.admit('rule', 'alice', { requestsPerMinute: 5 })).toEqual({ allowed: false, limit: 'requests_per_minute', retryAfterSeconds: 1 });
  });

  it('admits again once the clock reaches the next minute', async () => {
    const limiter = createMemoryRateLimiter({ now });
    expect(allowed(await admitMany(limiter, 8))).toBe(5);
    offset = UNTIL_MINUTE_END * 1000; // 13:08:00.000
    const next = await admitMany(limiter, 8);
    expect(allowed(next)).toBe(5);
    expect(next[5]).toEqual({ allowed: false, limit: 'requests_per_minute', retryAfterSeconds: 60 });
  });

  it('refuses on tokens_per_day while requests_per_minute is fine, until UTC midnight', async () => {
    const limiter = createMemoryRateLimiter({ now });
    const limits = { requestsPerMinute: 100, tokensPerDay: 3 };
    expect(allowed(await admitMany(limiter, 3, 'rule', 'alice', limits))).toBe(3);
    expect(await limiter.admit('rule', 'alice', limits)).toEqual({ allowed: false, limit: 'tokens_per_day', retryAfterSeconds: UNTIL_MIDNIGHT });
    offset = 3600_000; // an hour later: a new minute, the same day
    expect(await limiter.admit('rule', 'alice', limits)).toEqual({ allowed: false, limit: 'tokens_per_day', retryAfterSeconds: UNTIL_MIDNIGHT - 3600 });
    offset = UNTIL_MIDNIGHT * 1000; // 00:00:00 UTC
    expect(await limiter.admit('rule', 'alice', limits)).toEqual({ allowed: true });
  });

  it('consumes nothing for a refused request, and names the day when both are exhausted', async () => {
    const limiter = createMemoryRateLimiter({ now });
    const limits = { requestsPerMinute: 3, tokensPerDay: 5 };
    const first = await admitMany(limiter, 6, 'rule', 'alice', limits);
    expect(allowed(first)).toBe(3);
    expect(first[3]).toMatchObject({ allowed: false, limit: 'requests_per_minute' });
    offset = 60_000;
    const second = await admitMany(limiter, 3, 'rule', 'alice', limits);
    expect(allowed(second)).toBe(2); // 3 refused by the minute took nothing from the day
    expect(second[2]).toEqual({ allowed: false, limit: 'tokens_per_day', retryAfterSeconds: UNTIL_MIDNIGHT - 60 });
    // Both exhausted now (2 used this minute of a limit of 2): the day decides.
    expect(await limiter.admit('rule', 'alice', { requestsPerMinute: 2, tokensPerDay: 5 })).toMatchObject({ limit: 'tokens_per_day' });
  });

  it('keeps subjects and scopes apart, admits without limits, refuses a limit of 0, rejects a malformed limit', async () => {
    const limiter = createMemoryRateLimiter({ now });
    expect(allowed(await admitMany(limiter, 3, 'rule-a', 'alice', { requestsPerMinute: 2 }))).toBe(2);
    expect(allowed(await admitMany(limiter, 3, 'rule-a', 'bob', { requestsPerMinute: 2 }))).toBe(2);
    expect(allowed(await admitMany(limiter, 3, 'rule-b', 'alice', { requestsPerMinute: 2 }))).toBe(2);
    // Length-prefixed keys: ("a|b", "c") and ("a", "b|c") are different counters.
    expect(allowed(await admitMany(limiter, 2, 'a|b', 'c', { requestsPerMinute: 1 }))).toBe(1);
    expect(allowed(await admitMany(limiter, 2, 'a', 'b|c', { requestsPerMinute: 1 }))).toBe(1);
    expect(allowed(await admitMany(limiter, 50, 'rule-a', 'alice', {}))).toBe(50);
    expect(await limiter.admit('rule-c', 'alice', { tokensPerDay: 0 })).toEqual({ allowed: false, limit: 'tokens_per_day', retryAfterSeconds: UNTIL_MIDNIGHT });
    await expect(limiter.admit('rule-c', 'alice', { requestsPerMinute: 1.5 })).rejects.toThrow(ConfigurationError);
    await expect(limiter.admit('rule-c', 'alice', { requestsPerMinute: -1 })).rejects.toThrow(ConfigurationError);
  });

  it('forgets the least recently used counters beyond its bound (and with them their counts)', async () => {
    const limiter = createMemoryRateLimiter({ now, maxCounters: 3 });
    const one = { requestsPerMinute: 1 };
    for (const subject of ['alice', 'bob', 'carol']) {
      expect(await limiter.admit('rule', subject, one)).toEqual({ allowed: true });
      offset += 1000;
    }
    expect(await limiter.admit('rule', 'alice', one)).toMatchObject({ allowed: false }); // alice is now the most recent
    offset += 1000;
    expect(await limiter.admit('rule', 'dave', one)).toEqual({ allowed: true }); // bob, least recently used, is dropped
    expect(await limiter.admit('rule', 'alice', one)).toMatchObject({ allowed: false });
    expect(await limiter.admit('rule', 'carol', one)).toMatchObject({ allowed: false });
    expect(await limiter.admit('rule', 'bob', one)).toEqual({ allowed: true }); // forgotten: the documented cost of the bound
  });
});

describe('memory limiter: window edges and hostile limits', () => {
  it('says 60 s at the first instant of a minute and 1 s at its last millisecond, never 0', async () => {
    offset = UNTIL_MINUTE_END * 1000; // 13:08:00.000
    const limiter = createMemoryRateLimiter({ now });
    expect(await limiter.admit('rule', 'alice', { requestsPerMinute: 1 })).toEqual({ allowed: true });
    expect(await limiter.admit('rule', 'alice', { requestsPerMinute: 1 })).toEqual({ allowed: false, limit: 'requests_per_minute', retryAfterSeconds: 60 });
    offset += 59_999; // 13:08:59.999
    expect(await limiter.admit('rule', 'alice', { requestsPerMinute: 1 })).toEqual({ allowed: false, limit: 'requests_per_minute', retryAfterSeconds: 1 });
    offset += 1; // 13:09:00.000: a new window
    expect(await limiter.admit('rule', 'alice', { requestsPerMinute: 1 })).toEqual({ allowed: true });
  });

  it('counts days in UTC: 23:59:59.999 and 00:00:00.000 are different days', async () => {
    offset = UNTIL_MIDNIGHT * 1000 - 1; // 23:59:59.999
    const limiter = createMemoryRateLimiter({ now });
    const limits = { tokensPerDay: 1 };
    expect(await limiter.admit('rule', 'alice', limits)).toEqual({ allowed: true });
    expect(await limiter.admit('rule', 'alice', limits)).toEqual({ allowed: false, limit: 'tokens_per_day', retryAfterSeconds: 1 });
    offset += 1;
    expect(await limiter.admit('rule', 'alice', limits)).toEqual({ allowed: true });
    expect(await limiter.admit('rule', 'alice', limits)).toEqual({ allowed: false, limit: 'tokens_per_day', retryAfterSeconds: 86_400 });
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['-1', -1],
    ['0.5', 0.5],
    ['2^53', 2 ** 53],
    ['a numeric string', '5'],
    ['null', null],
    ['true', true],
    ['an array', [5]],
    ['an object', { valueOf: () => 5 }],
  ])('refuses a limit of %s as a configuration error, for either kind, and counts nothing', async (_, hostile) => {
    const limiter = createMemoryRateLimiter({ now });
    for (const limits of [{ requestsPerMinute: hostile }, { tokensPerDay: hostile }, { requestsPerMinute: 5, tokensPerDay: hostile }]) {
      const refused = await limiter.admit('rule', 'alice', limits as unknown as LimitSpec).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(ConfigurationError);
      expect((refused as Error).message).toMatch(/^rate limit (requests_per_minute|tokens_per_day) must be a non-negative integer, got /);
    }
    // Nothing was counted by the refused calls.
    expect(allowed(await admitMany(limiter, 6))).toBe(5);
  });

  it.each([
    ['"__proto__"', '__proto__'],
    ['"constructor"', 'constructor'],
    ['""', ''],
    ['"|"', '|'],
    ['"0:"', '0:'],
    ['10 000 characters', 'a'.repeat(10_000)],
  ])('keeps a scope or subject of %s apart from every other', async (_, hostile) => {
    const limiter = createMemoryRateLimiter({ now });
    const one = { requestsPerMinute: 1 };
    expect(await limiter.admit(hostile, 'alice', one)).toEqual({ allowed: true });
    expect(await limiter.admit('rule', hostile, one)).toEqual({ allowed: true });
    expect(await limiter.admit(hostile, hostile, one)).toEqual({ allowed: true });
    expect(await limiter.admit('rule', 'alice', one)).toEqual({ allowed: true });
    expect(await limiter.admit(hostile, 'alice', one)).toMatchObject({ allowed: false });
    expect(await limiter.admit(hostile, hostile, one)).toMatchObject({ allowed: false });
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses a counter bound of %p at construction', (maxCounters) => {
    expect(() => createMemoryRateLimiter({ now, maxCounters })).toThrow(TypeError);
  });
});

/**
 * The cost model of one instance admitting `n` requests in a window, sequentially, under the
 * chunk policy alone: round trips (one per reservation) and the chunk it ends with.
 */
function simulateWindow(limit: number, n: number, opening: number): { roundTrips: number; chunk: number; reserved: number } {
  let chunk = opening;
  let held = 0;
  let reserved = 0;
  let roundTrips = 0;
  for (let i = 0; i < n; i++) {
    if (held === 0) {
      if (roundTrips > 0) chunk = grownChunk(chunk, limit, false);
      const granted = unitsToAsk(chunk, held, limit - reserved);
      if (granted === 0) break;
      roundTrips++;
      reserved += granted;
      held += granted;
    }
    held--;
  }
  return { roundTrips, chunk, reserved };
}

describe('chunk policy', () => {
  it('never lets a chunk exceed a tenth of the limit (at least 1 unit)', () => {
    expect([0, 1, 7, 10, 25, 99, 200, 1000, 1_000_000].map(chunkCap)).toEqual([1, 1, 1, 1, 2, 9, 20, 100, 100_000]);
    for (const limit of [0, 1, 9, 10, 11, 30, 199, 200, 201, 1000, 59_999, 60_000, 1_000_000, 10_000_000]) {
      for (const windowSeconds of [60, 86_400]) {
        expect(chunkSize(limit, windowSeconds)).toBeLessThanOrEqual(chunkCap(limit));
        expect(chunkSize(limit, windowSeconds)).toBeGreaterThanOrEqual(1);
        let chunk = chunkSize(limit, windowSeconds);
        for (let i = 0; i < 40; i++) {
          chunk = grownChunk(chunk, limit, i % 3 === 0);
          expect(chunk).toBeLessThanOrEqual(chunkCap(limit));
        }
        expect(chunk).toBe(chunkCap(limit)); // growth reaches the cap, and stays there
      }
    }
  });

  it('doubles a chunk the instance used up, up to the cap: 20, 40, 80, then 100 at 1 000 a minute', () => {
    const sizes = [chunkSize(1000)];
    for (let i = 0; i < 5; i++) sizes.push(grownChunk(sizes[sizes.length - 1] as number, 1000, false));
    expect(sizes).toEqual([20, 40, 80, 100, 100, 100]);
    // A hot limit opens with about one write a second at its full rate, and grows from there.
    expect([chunkSize(60_000), grownChunk(1000, 60_000, false), grownChunk(4000, 60_000, false)]).toEqual([1000, 2000, 6000]);
    // A limit lowered within the window lowers the cap at once.
    expect(grownChunk(100, 200, false)).toBe(20);
  });

  it('does not grow a chunk taken through a lost compare-and-set, nor shrink it', () => {
    expect(grownChunk(40, 1000, true)).toBe(40);
    expect(grownChunk(1, 1000, true)).toBe(1);
    expect(grownChunk(100, 200, true)).toBe(20); // but the cap still applies
  });

  it('asks for enough to bring the holding up to the chunk, never more than remains, never less than 0', () => {
    expect(unitsToAsk(100, 0, 1000)).toBe(100);
    expect(unitsToAsk(100, 30, 1000)).toBe(70); // a top-up: the holding never exceeds one chunk
    expect(unitsToAsk(100, 0, 37)).toBe(37);
    expect(unitsToAsk(100, 0, 0)).toBe(0);
    expect(unitsToAsk(20, 25, 1000)).toBe(0); // refunded units above the chunk
    expect(unitsToAsk(20, 0, -5)).toBe(0);
  });

  it('tops up a counter riding along only once it holds less than half its chunk', () => {
    expect([0, 9, 10, 11, 20].map((held) => wantsTopUp(20, held))).toEqual([true, true, false, false, false]);
    expect(wantsTopUp(1, 0)).toBe(true);
    expect(wantsTopUp(1, 1)).toBe(false);
  });

  it('opens a window with chunkSize, or with the size reached in the window before but no more than was used there', () => {
    expect(openingChunk(1000, 60)).toBe(20);
    expect(openingChunk(1000, 60, { used: 1000, chunk: 100 })).toBe(100); // steadily busy: at the cap at once
    expect(openingChunk(1000, 60, { used: 60, chunk: 40 })).toBe(40);
    expect(openingChunk(1000, 60, { used: 30, chunk: 100 })).toBe(30); // went quiet: what it used
    expect(openingChunk(1000, 60, { used: 1, chunk: 100 })).toBe(20); // never below the opening chunk
    expect(openingChunk(1000, 60, { used: 0, chunk: 20 })).toBe(20);
    expect(openingChunk(200, 60, { used: 1000, chunk: 100 })).toBe(20); // a lowered limit: its own cap
    expect(openingChunk(60_000, 60, { used: 10, chunk: 6000 })).toBe(1000); // a hot limit keeps its one write a second
  });

  it('costs a busy key 12 round trips in its first window of 1 000 at 1 000 a minute and 10 in the next (50 before)', () => {
    const first = simulateWindow(1000, 1000, openingChunk(1000, 60));
    expect(first).toEqual({ roundTrips: 12, chunk: 100, reserved: 1000 });
    const next = simulateWindow(1000, 1000, openingChunk(1000, 60, { used: 1000, chunk: first.chunk }));
    expect(next).toEqual({ roundTrips: 10, chunk: 100, reserved: 1000 });
    // A quiet key keeps small chunks: 5 admissions in a window reserve 20 units, with one round trip.
    expect(simulateWindow(1000, 5, openingChunk(1000, 60, { used: 5, chunk: 20 }))).toEqual({ roundTrips: 1, chunk: 20, reserved: 20 });
    // 100 admissions a minute: 20 + 40 + 80 reserved, 40 stranded (at most a tenth of the limit).
    expect(simulateWindow(1000, 100, openingChunk(1000, 60))).toEqual({ roundTrips: 3, chunk: 80, reserved: 140 });
  });
});

describe('Firestore limiter without Firestore', () => {
  it('opens with chunks of a tenth of the limit, between 1 and 20', () => {
    expect([1, 7, 10, 25, 99, 200, 1000, 1_000_000].map((limit) => chunkSize(limit))).toEqual([1, 1, 1, 2, 9, 20, 20, 16_667]);
    // Hot limits: about one reservation a second at the full rate; daily windows likewise.
    expect(chunkSize(100_000)).toBe(1667);
    expect(chunkSize(1200)).toBe(20);
    expect(chunkSize(10_000_000, 86_400)).toBe(116);
    expect(chunkSize(10_000, 86_400)).toBe(20);
  });
  it('names each counter by a SHA-256 of scope, subject, kind and window, unambiguously', () => {
    const id = counterDocumentId('rule', 'alice', 'requests_per_minute', 0);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(counterDocumentId('rule', 'alice', 'requests_per_minute', 0)).toBe(id);
    const others = [
      counterDocumentId('rule', 'alice', 'tokens_per_day', 0),
      counterDocumentId('rule', 'alice', 'requests_per_minute', 60_000),
      counterDocumentId('rule', 'bob', 'requests_per_minute', 0),
      counterDocumentId('other', 'alice', 'requests_per_minute', 0),
      // Separators cannot be forged: ("a|b", "c") and ("a", "b|c") are different counters.
      counterDocumentId('a|b', 'c', 'requests_per_minute', 0),
      counterDocumentId('a', 'b|c', 'requests_per_minute', 0),
      counterDocumentId('a","b', 'c', 'requests_per_minute', 0),
      counterDocumentId('a', 'b","c', 'requests_per_minute', 0),
    ];
    expect(new Set([id, ...others]).size).toBe(others.length + 1);
  });

  /** A stand-in Firestore whose commits always fail with `code` (a read sees an empty counter). */
  function failingFirestore(code: number): Firestore {
    const fail = async () => { throw Object.assign(new Error(`gRPC ${code}`), { code }); };
    const snapshot = { exists: true, updateTime: Timestamp.now(), data: () => ({ count: 0 }) };
    const batch = () => {
      const writes = { create: () => writes, update: () => writes, commit: fail };
      return writes;
    };
    return {
      collection: () => ({ doc: () => ({}) }),
      batch,
      getAll: async (...refs: unknown[]) => refs.map(() => snapshot),
      terminate: async () => {},
    } as unknown as Firestore;
  }

  it('refuses with Retry-After 1, and does not fail open, when every compare-and-set loses', async () => {
    const a = instance(failingFirestore(9), { budgets: { reserveMs: 100 } });
    const results = await Promise.all(Array.from({ length: 10 }, () => a.limiter.admit('rule', 'alice', { requestsPerMinute: 100 })));
    expect(results).toEqual(Array(10).fill({ allowed: false, limit: 'requests_per_minute', retryAfterSeconds: 1 }));
    expect(a.events).toEqual([{ type: 'reservation_contended', limit: 'requests_per_minute', detail: expect.stringMatching(/compare-and-sets lost/) }]);
    expect(a.limiter.stats()).toMatchObject({ reservations: 1, fallbackAdmits: 0 });
    expect(await a.limiter.admit('rule', 'alice', { requestsPerMinute: 100 })).toMatchObject({ allowed: false, retryAfterSeconds: 1 }); // tried again: no backoff
    expect(a.limiter.stats().reservations).toBe(2);
  });

  it('fails open to the per-instance count on any other Firestore error', async () => {
    const a = instance(failingFirestore(7)); // PERMISSION_DENIED
    expect(allowed(await admitMany(a.limiter, 5, 'rule', 'alice', { requestsPerMinute: 3 }))).toBe(3);
    expect(a.events).toEqual([{ type: 'store_unavailable', detail: expect.stringMatching(/quota reservation failed: gRPC 7/) }]);
    expect(a.limiter.stats()).toMatchObject({ reservations: 1, roundTrips: 1, fallbackAdmits: 3 });
  });

});
