/**
 * Rate limits and daily budgets: the memory limiter's exact arithmetic, and the Firestore
 * limiter against the real Cloud Firestore emulator, where each `new Firestore()` client
 * stands for one broker instance. The clock is injected and frozen mid-minute, so no test
 * straddles a window boundary by accident.
 */
import { randomUUID } from 'node:crypto';
import { Firestore, Timestamp } from '@google-cloud/firestore';
import { FirestoreClients, stopThenClose } from '../helpers/firestore';
import { startFirestoreEmulator } from '../../dev/firestore-emulator';
import { ConfigurationError } from '../../shared/errors';
import {
  chunkSize,
  counterDocumentId,
  createFirestoreRateLimiter,
  createMemoryRateLimiter,
  type Admission,
  type FirestoreRateLimiter,
  type FirestoreRateLimiterOptions,
  type LimiterEvent,
  type LimitSpec,
  type RateLimiter,
} from '../../shared/limits/rate-limiter';

const COLLECTION = 'token-broker-limits';
/** 13:07:10 UTC: 50 s left in the minute, 10 h 52 min 50 s left in the day. */
const BASE = Date.UTC(2030, 0, 15, 13, 7, 10);
const UNTIL_MINUTE_END = 50;
const UNTIL_MIDNIGHT = 10 * 3600 + 52 * 60 + 50;

let projectId: string;
let offset = 0;
const now = () => BASE + offset;

beforeEach(() => {
  projectId = `demo-limits-${randomUUID().slice(0, 8)}`;
  offset = 0;
});
afterEach(() => {
  jest.restoreAllMocks();
});
afterAll(() => firestoreClients.terminateAll());

const firestoreClients = new FirestoreClients();
const firestore = (host?: string): Firestore => firestoreClients.open(projectId, host);

interface Instance { limiter: FirestoreRateLimiter; events: LimiterEvent[] }

function instance(overrides: Partial<FirestoreRateLimiterOptions> = {}, client = firestore()): Instance {
  const events: LimiterEvent[] = [];
  const limiter = createFirestoreRateLimiter({
    firestore: client, instanceId: randomUUID(), now, budgets: { reserveMs: 5000 }, onEvent: (e) => events.push(e), ...overrides,
  });
  return { limiter, events };
}

async function admitMany(limiter: RateLimiter, n: number, scope = 'rule', subject = 'alice', limits: LimitSpec = { requestsPerMinute: 5 }): Promise<Admission[]> {
  const results: Admission[] = [];
  for (let i = 0; i < n; i++) results.push(await limiter.admit(scope, subject, limits));
  return results;
}

const allowed = (results: Admission[]) => results.filter((r) => r.allowed).length;

/**
 * Counts the RPCs every Firestore client in this process sends (commits, batch reads, ...),
 * below the SDK's public API, so nothing the limiter does can escape it.
 */
function countFirestoreCalls(): { readonly count: number; readonly methods: string[] } {
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

describe('Firestore limiter', () => {
  it('takes chunks of a tenth of the limit, between 1 and 20', () => {
    expect([1, 7, 10, 25, 99, 200, 1000, 1_000_000].map(chunkSize)).toEqual([1, 1, 1, 2, 9, 20, 20, 20]);
  });

  it.each([25, 1, 7])('admits exactly %i of 100 concurrent requests split between two instances', async (limit) => {
    const [a, b] = [instance(), instance()];
    const limits = { requestsPerMinute: limit };
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).limiter.admit('rule', 'alice', limits)));
    expect(allowed(results)).toBe(limit);
    for (const refused of results.filter((r) => !r.allowed)) {
      expect(refused).toEqual({ allowed: false, limit: 'requests_per_minute', retryAfterSeconds: UNTIL_MINUTE_END });
    }
    const id = counterDocumentId('rule', 'alice', 'requests_per_minute', BASE - 10_000);
    expect((await firestore().collection(COLLECTION).doc(id).get()).data()?.count).toBe(limit);
    expect([...a.events, ...b.events]).toEqual([]);

    // Both now remember that the window is used up: refusals cost no round trip.
    const trips = a.limiter.stats().roundTrips + b.limiter.stats().roundTrips;
    expect(allowed(await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).limiter.admit('rule', 'alice', limits))))).toBe(0);
    expect(a.limiter.stats().roundTrips + b.limiter.stats().roundTrips).toBe(trips);
    // A third instance learns it from the document once.
    const c = instance();
    expect(allowed(await admitMany(c.limiter, 5, 'rule', 'alice', limits))).toBe(0);
    expect(c.limiter.stats().roundTrips).toBe(2); // create (conflict), read: full
  });

  it('admits exactly the daily budget across four instances, naming tokens_per_day', async () => {
    const instances = Array.from({ length: 4 }, () => instance());
    const limits = { requestsPerMinute: 1000, tokensPerDay: 30 };
    const results = await Promise.all(Array.from({ length: 120 }, (_, i) => (instances[i % 4] as Instance).limiter.admit('rule', 'alice', limits)));
    expect(allowed(results)).toBe(30);
    expect(results.find((r) => !r.allowed)).toEqual({ allowed: false, limit: 'tokens_per_day', retryAfterSeconds: UNTIL_MIDNIGHT });
  });

  it('shares one reservation among concurrent admissions in an instance', async () => {
    const a = instance();
    const results = await Promise.all(Array.from({ length: 50 }, () => a.limiter.admit('rule', 'alice', { requestsPerMinute: 1000 })));
    expect(allowed(results)).toBe(50);
    expect(a.limiter.stats()).toMatchObject({ reservations: 3, roundTrips: 3, conflicts: 0 }); // 20 + 20 + 20 units
    const id = counterDocumentId('rule', 'alice', 'requests_per_minute', BASE - 10_000);
    expect((await firestore().collection(COLLECTION).doc(id).get()).data()?.count).toBe(60);
  });

  it('starts a new counter when the window rolls over', async () => {
    const a = instance();
    expect(allowed(await admitMany(a.limiter, 8))).toBe(5);
    offset = UNTIL_MINUTE_END * 1000;
    const next = await admitMany(a.limiter, 8);
    expect(allowed(next)).toBe(5);
    expect(next[5]).toEqual({ allowed: false, limit: 'requests_per_minute', retryAfterSeconds: 60 });
  });

  it('applies a changed limit within the window to the same count', async () => {
    const a = instance();
    expect(allowed(await admitMany(a.limiter, 8, 'rule', 'alice', { requestsPerMinute: 5 }))).toBe(5);
    expect(allowed(await admitMany(a.limiter, 8, 'rule', 'alice', { requestsPerMinute: 8 }))).toBe(3);
    expect(allowed(await admitMany(a.limiter, 8, 'rule', 'alice', { requestsPerMinute: 4 }))).toBe(0);
  });

  it('keeps subjects and scopes apart', async () => {
    const [a, b] = [instance(), instance()];
    const limits = { requestsPerMinute: 2 };
    expect(allowed(await admitMany(a.limiter, 3, 'rule-a', 'alice', limits))).toBe(2);
    expect(allowed(await admitMany(b.limiter, 3, 'rule-a', 'alice', limits))).toBe(0);
    expect(allowed(await admitMany(b.limiter, 3, 'rule-a', 'bob', limits))).toBe(2);
    expect(allowed(await admitMany(b.limiter, 3, 'rule-b', 'alice', limits))).toBe(2);
    expect(allowed(await admitMany(a.limiter, 3, 'rule-b', 'bob', limits))).toBe(2);
  });

  it('stores no subject or scope in clear, only the documented fields, and an expireAt at the window end', async () => {
    const a = instance();
    const subject = 'repo:acme/secret-project:ref:refs/heads/main';
    const scope = 'github-deploy-rule';
    await a.limiter.admit(scope, subject, { requestsPerMinute: 10, tokensPerDay: 100 });
    const snapshot = await firestore().collection(COLLECTION).get();
    expect(snapshot.size).toBe(2);
    const minuteEnd = BASE + UNTIL_MINUTE_END * 1000;
    const dayEnd = BASE + UNTIL_MIDNIGHT * 1000;
    const expected = new Map([
      [counterDocumentId(scope, subject, 'requests_per_minute', minuteEnd - 60_000), { count: 1, limit: 10, end: minuteEnd }],
      [counterDocumentId(scope, subject, 'tokens_per_day', dayEnd - 86_400_000), { count: 10, limit: 100, end: dayEnd }],
    ]);
    for (const doc of snapshot.docs) {
      expect(doc.id).toMatch(/^[0-9a-f]{64}$/);
      const data = doc.data();
      expect(Object.keys(data).sort()).toEqual(['count', 'expireAt', 'limit', 'windowEnd']);
      const want = expected.get(doc.id);
      expect(want).toBeDefined();
      expect({ count: data.count, limit: data.limit, end: data.expireAt.toMillis() }).toEqual(want);
      expect(data.windowEnd.toMillis()).toBe(want?.end);
      const everything = `${doc.id} ${JSON.stringify(data)}`;
      for (const secret of [subject, scope, 'acme', 'secret-project', Buffer.from(subject).toString('base64')]) expect(everything).not.toContain(secret);
    }
  });

  it('costs at most one round trip per chunk', async () => {
    const calls = countFirestoreCalls();
    const a = instance();
    const rpm = await admitMany(a.limiter, 100, 'rule', 'alice', { requestsPerMinute: 1000 });
    expect(allowed(rpm)).toBe(100);
    expect(calls.count).toBeLessThanOrEqual(Math.ceil(100 / chunkSize(1000)) + 2);
    expect(calls.count).toBe(a.limiter.stats().roundTrips);

    const before = calls.count;
    const both = await admitMany(a.limiter, 100, 'rule', 'bob', { requestsPerMinute: 1000, tokensPerDay: 1000 });
    expect(allowed(both)).toBe(100);
    expect(calls.count - before).toBeLessThanOrEqual(2 * Math.ceil(100 / chunkSize(1000)) + 2);
  });

  /** A stand-in Firestore whose writes always fail with `code` (a read sees an empty counter). */
  function failingFirestore(code: number): Firestore {
    const fail = async () => { throw Object.assign(new Error(`gRPC ${code}`), { code }); };
    const ref = { create: fail, update: fail, get: async () => ({ exists: true, updateTime: Timestamp.now(), data: () => ({ count: 0 }) }) };
    return { collection: () => ({ doc: () => ref }), terminate: async () => {} } as unknown as Firestore;
  }

  it('refuses with Retry-After 1, and does not fail open, when every compare-and-set loses', async () => {
    const a = instance({ budgets: { reserveMs: 100 } }, failingFirestore(9));
    const results = await Promise.all(Array.from({ length: 10 }, () => a.limiter.admit('rule', 'alice', { requestsPerMinute: 100 })));
    expect(results).toEqual(Array(10).fill({ allowed: false, limit: 'requests_per_minute', retryAfterSeconds: 1 }));
    expect(a.events).toEqual([{ type: 'reservation_contended', limit: 'requests_per_minute', detail: expect.stringMatching(/compare-and-sets lost/) }]);
    expect(a.limiter.stats()).toMatchObject({ reservations: 1, fallbackAdmits: 0 });
    expect(await a.limiter.admit('rule', 'alice', { requestsPerMinute: 100 })).toMatchObject({ allowed: false, retryAfterSeconds: 1 }); // tried again: no backoff
    expect(a.limiter.stats().reservations).toBe(2);
  });

  it('fails open to the per-instance count on any other Firestore error', async () => {
    const a = instance({}, failingFirestore(7)); // PERMISSION_DENIED
    expect(allowed(await admitMany(a.limiter, 5, 'rule', 'alice', { requestsPerMinute: 3 }))).toBe(3);
    expect(a.events).toEqual([{ type: 'store_unavailable', detail: expect.stringMatching(/quota reservation failed: gRPC 7/) }]);
    expect(a.limiter.stats()).toMatchObject({ reservations: 1, roundTrips: 1, fallbackAdmits: 3 });
  });

  it('keeps admitting from a per-instance count when Firestore stops, never beyond the limit', async () => {
    const emulator = await startFirestoreEmulator();
    const client = firestore(emulator.host);
    const a = instance({ budgets: { reserveMs: 500 } }, client);
    try {
      expect(await a.limiter.warmUp(10_000)).toBe(true);
      // A fresh emulator's first commits take a few hundred ms: warm it up outside the budget.
      for (let i = 0; i < 3; i++) await client.collection('warm-up').doc(`w${i}`).set({ i });
      const limits = { requestsPerMinute: 30 }; // chunks of 3
      expect(allowed(await admitMany(a.limiter, 4, 'rule', 'alice', limits))).toBe(4); // 6 units reserved, 2 left
      expect(a.limiter.stats()).toMatchObject({ reservations: 2, fallbackAdmits: 0 });
      expect(a.events).toEqual([]);
      await emulator.stop();

      const results = await Promise.all(Array.from({ length: 40 }, () => a.limiter.admit('rule', 'alice', limits)));
      expect(allowed(results)).toBe(26); // 30 in this instance's minute, all told
      expect(results.find((r) => !r.allowed)).toEqual({ allowed: false, limit: 'requests_per_minute', retryAfterSeconds: UNTIL_MINUTE_END });
      expect(a.events).toContainEqual({ type: 'store_unavailable', detail: expect.stringMatching(/exceeded 500 ms|failed/) });
      expect(a.events.filter((e) => e.type === 'store_unavailable')).toHaveLength(1);
      expect(a.limiter.stats().fallbackAdmits).toBe(24);

      // Backed off: other principals are counted per instance at once, without waiting on Firestore.
      const started = Date.now();
      expect(allowed(await admitMany(a.limiter, 12, 'rule', 'bob', { requestsPerMinute: 10 }))).toBe(10);
      expect(Date.now() - started).toBeLessThan(100);
      expect(a.events.filter((e) => e.type === 'store_unavailable')).toHaveLength(1);
    } finally {
      await stopThenClose(emulator, () => a.limiter.close()); // close waits for the retries and terminates the client
    }
  }, 60_000);
});
