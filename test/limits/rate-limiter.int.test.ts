/**
 * Rate limits and daily budgets: the Firestore limiter against the real Cloud Firestore
 * emulator, where each `new Firestore()` client stands for one broker instance. The clock is
 * injected and frozen mid-minute, so no test straddles a window boundary by accident. The
 * arithmetic without Firestore (the memory limiter, chunks, failing stand-ins) is in
 * rate-limiter.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { Firestore } from '@google-cloud/firestore';
import { FirestoreClients, firestoreOutage } from '../helpers/firestore';
import {
  chunkCap,
  chunkSize,
  counterDocumentId,
  createFirestoreRateLimiter,
  type FirestoreRateLimiter,
  type FirestoreRateLimiterOptions,
  type LimiterEvent,
} from '../../shared/limits/rate-limiter';
import { admitMany, allowed, countFirestoreCalls } from '../helpers/limits';

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



describe('Firestore limiter', () => {
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
    expect(a.limiter.stats()).toMatchObject({ reservations: 2, roundTrips: 2, conflicts: 0 }); // 20, then 40 units: the first chunk was used up
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

  it('a hot counter (60 000 a minute) stays exact across two instances at about one write a second', async () => {
    const [a, b] = [instance(), instance()];
    const limits = { requestsPerMinute: 60_000 };
    const results = await Promise.all(Array.from({ length: 3000 }, (_, i) => (i % 2 ? a : b).limiter.admit('rule', 'hot', limits)));
    expect(allowed(results)).toBe(3000);
    // chunks of 1000 (⌈60 000 / 60⌉): a handful of reservations for 3 000 admissions, not 150 of 20.
    expect(chunkSize(60_000)).toBe(1000);
    expect(a.limiter.stats().reservations + b.limiter.stats().reservations).toBeLessThanOrEqual(6);
    const id = counterDocumentId('rule', 'hot', 'requests_per_minute', BASE - 10_000);
    const reserved = (await firestore().collection(COLLECTION).doc(id).get()).data()?.count as number;
    expect(reserved).toBeGreaterThanOrEqual(3000);
    expect(reserved).toBeLessThanOrEqual(60_000);
  });

  it('gives a refunded unit back to the instance: the next admission takes it without a round trip', async () => {
    const a = instance();
    const limits = { requestsPerMinute: 3 };
    expect(allowed(await admitMany(a.limiter, 3, 'rule', 'refund', limits))).toBe(3);
    expect((await a.limiter.admit('rule', 'refund', limits)).allowed).toBe(false);
    a.limiter.refund('rule', 'refund', limits);
    const trips = a.limiter.stats().roundTrips;
    expect((await a.limiter.admit('rule', 'refund', limits)).allowed).toBe(true);
    expect(a.limiter.stats().roundTrips).toBe(trips);
    expect((await a.limiter.admit('rule', 'refund', limits)).allowed).toBe(false);
  });

  it('costs one round trip per reservation, both limits of a request in the same commit', async () => {
    const calls = countFirestoreCalls();
    const a = instance();
    const rpm = await admitMany(a.limiter, 100, 'rule', 'alice', { requestsPerMinute: 1000 });
    expect(allowed(rpm)).toBe(100);
    expect(calls.methods).toEqual(['commit', 'commit', 'commit']); // chunks of 20, 40 and 80
    expect(a.limiter.stats()).toMatchObject({ reservations: 3, roundTrips: 3, unitsReserved: 140 });

    const both = await admitMany(a.limiter, 100, 'rule', 'bob', { requestsPerMinute: 1000, tokensPerDay: 1000 });
    expect(allowed(both)).toBe(100);
    expect(calls.methods).toEqual(Array(6).fill('commit')); // the day's chunks ride in the minute's commits
    expect(calls.count).toBe(a.limiter.stats().roundTrips);
    for (const [kind, windowStart] of [['requests_per_minute', BASE - 10_000], ['tokens_per_day', BASE + UNTIL_MIDNIGHT * 1000 - 86_400_000]] as const) {
      expect((await firestore().collection(COLLECTION).doc(counterDocumentId('rule', 'bob', kind, windowStart)).get()).data()?.count).toBe(140);
    }
  });

  it('tops up a counter riding along once it holds less than half its chunk, and writes it only then', async () => {
    const calls = countFirestoreCalls();
    const a = instance();
    const limits = { requestsPerMinute: 30, tokensPerDay: 1000 }; // chunks of 3 a minute (its cap), 20 a day
    const day = counterDocumentId('rule', 'carol', 'tokens_per_day', BASE + UNTIL_MIDNIGHT * 1000 - 86_400_000);
    const minute = counterDocumentId('rule', 'carol', 'requests_per_minute', BASE - 10_000);
    const count = async (id: string) => (await firestore().collection(COLLECTION).doc(id).get()).data()?.count as number;
    expect(allowed(await admitMany(a.limiter, 12, 'rule', 'carol', limits))).toBe(12);
    // Commits at the 1st, 4th, 7th and 10th admission; the day's 20 units, 11 of them left, were never written again.
    expect(calls.methods).toEqual(Array(4).fill('commit'));
    expect([await count(minute), await count(day)]).toEqual([12, 20]);
    expect(await a.limiter.admit('rule', 'carol', limits)).toEqual({ allowed: true });
    // The 13th: 8 day units left, less than half of 20: brought back up to 20 in the minute's commit.
    expect(calls.methods.filter((m) => m === 'commit')).toHaveLength(5); // the test's own reads are not commits
    expect([await count(minute), await count(day)]).toEqual([15, 32]);
  });

  it('does not grow the chunk after a reservation that lost a compare-and-set', async () => {
    const [a, b] = [instance(), instance()];
    const limits = { requestsPerMinute: 1000 };
    const id = counterDocumentId('rule', 'dave', 'requests_per_minute', BASE - 10_000);
    const count = async () => (await firestore().collection(COLLECTION).doc(id).get()).data()?.count as number;
    expect(await a.limiter.admit('rule', 'dave', limits)).toEqual({ allowed: true }); // creates the document: 20
    expect(allowed(await admitMany(b.limiter, 20, 'rule', 'dave', limits))).toBe(20); // its create loses, re-reads, takes 20
    expect(b.limiter.stats()).toMatchObject({ conflicts: 1, roundTrips: 3 });
    expect(await count()).toBe(40);
    expect(await b.limiter.admit('rule', 'dave', limits)).toEqual({ allowed: true }); // its next chunk stays at 20
    expect(await count()).toBe(60);
    expect(allowed(await admitMany(b.limiter, 20, 'rule', 'dave', limits))).toBe(20); // uncontended: it doubles again
    expect(await count()).toBe(100);
    expect(b.limiter.stats()).toMatchObject({ conflicts: 1, roundTrips: 5, unitsReserved: 80 });
  });

  it('opens the next window with the chunk it reached, bounded by what it used; after a quiet window or a gap with chunkSize', async () => {
    const a = instance();
    const limits = { requestsPerMinute: 1000 };
    const count = async (minute: number) =>
      (await firestore().collection(COLLECTION).doc(counterDocumentId('rule', 'erin', 'requests_per_minute', BASE - 10_000 + minute * 60_000)).get()).data()?.count;
    expect(allowed(await admitMany(a.limiter, 300, 'rule', 'erin', limits))).toBe(300); // 20 + 40 + 80 + 100 + 100
    expect(await count(0)).toBe(340);
    offset += 60_000;
    expect(await a.limiter.admit('rule', 'erin', limits)).toEqual({ allowed: true });
    expect(await count(1)).toBe(chunkCap(1000)); // busy before: 100 at once
    expect(allowed(await admitMany(a.limiter, 4, 'rule', 'erin', limits))).toBe(4);
    offset += 60_000;
    expect(await a.limiter.admit('rule', 'erin', limits)).toEqual({ allowed: true });
    expect(await count(2)).toBe(chunkSize(1000)); // 5 used in the minute before: back to 20
    expect(allowed(await admitMany(a.limiter, 99, 'rule', 'erin', limits))).toBe(99); // 20 + 40 + 80
    offset += 120_000; // a minute without a request
    expect(await a.limiter.admit('rule', 'erin', limits)).toEqual({ allowed: true });
    expect(await count(4)).toBe(chunkSize(1000));
  });

  it('keeps admitting from a per-instance count when Firestore stops, never beyond the limit', async () => {
    const outage = await firestoreOutage();
    const client = firestore(outage.host);
    const a = instance({ budgets: { reserveMs: 500 } }, client);
    try {
      expect(await a.limiter.warmUp(10_000)).toBe(true);
      // A fresh client's first commits take a few hundred ms: warm it up outside the budget.
      for (let i = 0; i < 3; i++) await client.collection('warm-up').doc(`w${i}`).set({ i });
      const limits = { requestsPerMinute: 30 }; // chunks of 3
      expect(allowed(await admitMany(a.limiter, 4, 'rule', 'alice', limits))).toBe(4); // 6 units reserved, 2 left
      expect(a.limiter.stats()).toMatchObject({ reservations: 2, fallbackAdmits: 0 });
      expect(a.events).toEqual([]);
      await outage.cut();

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
      await outage.end(() => a.limiter.close()); // close waits for the retries and terminates the client
    }
  });
});
