/**
 * Several instances drawing on the same counters, far from their limits, must never refuse a
 * request because their compare-and-sets collided (the regression the one-commit reservation
 * brought: a batched commit of two documents loses if either precondition fails, and 429s
 * with Retry-After 1 followed). Against the real emulator, each instance with its OWN Firestore
 * client (separate gRPC channels, as separate processes have), on the default budgets the
 * broker runs with, on a clock frozen mid-minute.
 *
 * And the other side: when the limit really is exhausted under the same contention, the
 * instances still refuse, and all of them together admit exactly the limit.
 */
import { randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { FirestoreClients } from '../helpers/firestore';
import { allowed } from '../helpers/limits';
import {
  counterDocumentId,
  createFirestoreRateLimiter,
  type Admission,
  type FirestoreRateLimiter,
  type LimiterEvent,
  type LimitSpec,
} from '../../shared/limits/rate-limiter';

const COLLECTION = 'token-broker-limits';
/** 13:07:10 UTC: mid-minute, nothing straddles a window. */
const BASE = Date.UTC(2030, 0, 15, 13, 7, 10);
const MINUTE_START = BASE - 10_000;
const DAY_START = Date.UTC(2030, 0, 15);
const FAR: LimitSpec = { requestsPerMinute: 1_000_000, tokensPerDay: 10_000_000 };
const INSTANCES = 4;

const now = () => BASE;
const firestoreClients = new FirestoreClients();
afterAll(() => firestoreClients.terminateAll());

let projectId: string;
let events: LimiterEvent[];
beforeEach(() => {
  projectId = `demo-contention-${randomUUID().slice(0, 8)}`;
  events = [];
});

// A fresh emulator's first commits can take seconds: warm its commit path up outside any budget.
beforeAll(async () => {
  const client = new FirestoreClients().open(`demo-contention-warm-${randomUUID().slice(0, 8)}`);
  try {
    for (let i = 0; i < 5; i++) await client.batch().create(client.collection('warm-up').doc(`w${i}`), { i }).commit();
  } finally {
    await client.terminate();
  }
}, 60_000);

/** `INSTANCES` limiters, each with its own client, warmed up like the broker warms its client up; default budgets. */
async function instances(): Promise<{ limiters: FirestoreRateLimiter[]; client: Firestore }> {
  const clients = Array.from({ length: INSTANCES }, () => firestoreClients.open(projectId));
  const limiters = clients.map((firestore, i) => createFirestoreRateLimiter({ firestore, instanceId: `instance-${i}`, now, onEvent: (e) => events.push(e) }));
  for (const limiter of limiters) expect(await limiter.warmUp(10_000)).toBe(true);
  // A fresh client's first commits take a few hundred ms: warm each one's commit path up outside the budget.
  await Promise.all(clients.map(async (client, i) => {
    for (let j = 0; j < 3; j++) await client.collection('warm-up').doc(`c${i}-${j}`).set({ j });
  }));
  return { limiters, client: clients[0] as Firestore };
}

/** `total` admissions of one key, at most `inFlight` at a time, handed out round-robin over the instances. */
async function admitAll(limiters: FirestoreRateLimiter[], subject: string, limits: LimitSpec, total: number, inFlight: number): Promise<Admission[]> {
  const results: Admission[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < total) {
      const i = next++;
      results[i] = await (limiters[i % limiters.length] as FirestoreRateLimiter).admit('rule', subject, limits);
    }
  }));
  return results;
}

const summary = (results: Admission[]) => {
  const refused = results.filter((r): r is Extract<Admission, { allowed: false }> => !r.allowed);
  return { allowed: allowed(results), refused: refused.length, retryAfter1: refused.filter((r) => r.retryAfterSeconds === 1).length };
};

async function count(client: Firestore, subject: string): Promise<[number, number]> {
  const read = async (kind: 'requests_per_minute' | 'tokens_per_day', start: number) =>
    (await client.collection(COLLECTION).doc(counterDocumentId('rule', subject, kind, start)).get()).data()?.count as number;
  return [await read('requests_per_minute', MINUTE_START), await read('tokens_per_day', DAY_START)];
}

describe(`${INSTANCES} instances, each with its own Firestore client, far from the limits`, () => {
  it('admit a burst of 200 concurrent requests for a new key, then 2 000 with 20 in flight: every one', async () => {
    const { limiters, client } = await instances();
    const subject = `far-${randomUUID()}`;

    const burst = await admitAll(limiters, subject, FAR, 200, 200);
    expect({ burst: summary(burst), events }).toEqual({ burst: { allowed: 200, refused: 0, retryAfter1: 0 }, events: [] });

    const steady = await admitAll(limiters, subject, FAR, 2000, 20);
    expect({ steady: summary(steady), events }).toEqual({ steady: { allowed: 2000, refused: 0, retryAfter1: 0 }, events: [] });

    // Every admission is backed by a reservation (nothing counted per instance), and nothing beyond the limits.
    expect(limiters.reduce((sum, l) => sum + l.stats().fallbackAdmits, 0)).toBe(0);
    const [minute, day] = await count(client, subject);
    expect(minute).toBeGreaterThanOrEqual(2200);
    expect(minute).toBeLessThanOrEqual(FAR.requestsPerMinute as number);
    expect(day).toBeGreaterThanOrEqual(2200);
    expect(day).toBeLessThanOrEqual(FAR.tokensPerDay as number);
  }, 60_000);

  it('still refuse once a limit is really used up, and admit exactly the limit together', async () => {
    const { limiters, client } = await instances();
    const subject = `near-${randomUUID()}`;
    const limits: LimitSpec = { requestsPerMinute: 1_000_000, tokensPerDay: 500 };
    const results = await admitAll(limiters, subject, limits, 800, 20);
    expect(summary(results).allowed).toBeLessThanOrEqual(500);
    // Under-admission is bounded by the chunks the instances hold (at most a tenth of the limit each), not by contention.
    expect(summary(results).allowed).toBeGreaterThanOrEqual(500 - INSTANCES * 50);
    expect(results.slice(-50).every((r) => !r.allowed && r.limit === 'tokens_per_day' && r.retryAfterSeconds > 1)).toBe(true);
    const [, day] = await count(client, subject);
    expect(day).toBe(500);
    expect(events.filter((e) => e.type === 'store_unavailable')).toEqual([]);
  }, 60_000);
});
