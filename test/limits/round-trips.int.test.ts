/**
 * Issue 18: what a busy key costs in Firestore round trips, and what chunks cost the other
 * instances. Against the real emulator (each client stands for one broker instance), on a
 * frozen clock that the tests move from window to window. Round trips are counted twice: by the
 * limiter's own stats and by a proxy below the SDK's public API (every RPC of every client).
 *
 * Measured on 1 000 admissions of one key limited to 1 000 a minute (the whole window's
 * allowance), with one limit and with a daily budget as well, by one instance and by two
 * drawing concurrently on one counter.
 */
import { randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { FirestoreClients } from '../helpers/firestore';
import { allowed, countFirestoreCalls } from '../helpers/limits';
import {
  chunkCap,
  chunkSize,
  counterDocumentId,
  createFirestoreRateLimiter,
  type FirestoreRateLimiter,
  type LimiterEvent,
  type LimitSpec,
} from '../../shared/limits/rate-limiter';

const COLLECTION = 'token-broker-limits';
/** 13:07:00 UTC: the first instant of a minute. */
const BASE = Date.UTC(2030, 0, 15, 13, 7, 0);
const ONE: LimitSpec = { requestsPerMinute: 1000 };
const TWO: LimitSpec = { requestsPerMinute: 1000, tokensPerDay: 100_000 };

let projectId: string;
let offset = 0;
const now = () => BASE + offset;
const firestoreClients = new FirestoreClients();
const firestore = (): Firestore => firestoreClients.open(projectId);

beforeEach(() => {
  projectId = `demo-trips-${randomUUID().slice(0, 8)}`;
  offset = 0;
});
afterEach(() => jest.restoreAllMocks());
afterAll(() => firestoreClients.terminateAll());

/** Events of every limiter of the test: a reservation that failed would count per instance, and measure nothing. */
let events: LimiterEvent[] = [];
beforeEach(() => {
  events = [];
});
afterEach(() => expect(events.filter((e) => e.type === 'store_unavailable')).toEqual([]));

const limiter = (): FirestoreRateLimiter =>
  createFirestoreRateLimiter({ firestore: firestore(), instanceId: randomUUID(), now, budgets: { reserveMs: 5000 }, onEvent: (e) => events.push(e) });

// A fresh emulator's first commits can take seconds: warm its commit path up outside any budget.
beforeAll(async () => {
  const client = new FirestoreClients().open(`demo-trips-warm-${randomUUID().slice(0, 8)}`);
  try {
    for (let i = 0; i < 5; i++) await client.batch().create(client.collection('warm-up').doc(`w${i}`), { i }).commit();
  } finally {
    await client.terminate();
  }
}, 60_000);

/** Everything the instances admitted and the round trips they made since `before`. */
function delta(instances: FirestoreRateLimiter[], before: { admitted: number; roundTrips: number }[]) {
  const after = instances.map((l) => l.stats());
  const sum = (key: 'admitted' | 'roundTrips', list: { admitted: number; roundTrips: number }[]) => list.reduce((total, s) => total + s[key], 0);
  return { admitted: sum('admitted', after) - sum('admitted', before), roundTrips: sum('roundTrips', after) - sum('roundTrips', before) };
}

/** `callers` concurrent sequential callers per instance admit until each is refused; round trips per 1 000 admissions. */
async function drainWindow(instances: FirestoreRateLimiter[], subject: string, limits: LimitSpec, callers = 1): Promise<{ admitted: number; perThousand: number }> {
  const before = instances.map((l) => l.stats());
  await Promise.all(instances.flatMap((instance) => Array.from({ length: callers }, async () => {
    while ((await instance.admit('rule', subject, limits)).allowed);
  })));
  const { admitted, roundTrips } = delta(instances, before);
  return { admitted, perThousand: (roundTrips / admitted) * 1000 };
}

const measured: string[] = [];
afterAll(() => {
  // The figures the issue asks for, in the test log.
  if (measured.length > 0) process.stdout.write(`round trips per 1 000 admissions:\n  ${measured.join('\n  ')}\n`);
});

describe('round trips per 1 000 admissions of a key limited to 1 000 a minute', () => {
  it.each([
    ['one limit', ONE],
    ['two limits (and a daily budget of 100 000)', TWO],
  ])('one busy instance, %s: at most 10 once busy, at most 12 in its first window', async (name, limits) => {
    const calls = countFirestoreCalls();
    const a = limiter();
    const windows: number[] = [];
    for (let w = 0; w < 3; w++) {
      offset = w * 60_000;
      const { admitted, perThousand } = await drainWindow([a], `busy-${name}`, limits);
      expect(admitted).toBe(1000);
      windows.push(perThousand);
    }
    measured.push(`one instance, ${name}: ${windows.join(', ')} (windows 1, 2, 3)`);
    expect(windows[0]).toBeLessThanOrEqual(12); // chunks of 20, 40, 80, then 100 (a tenth of the limit)
    expect(windows[1]).toBeLessThanOrEqual(10); // the size it reached carries over: 100 from the start
    expect(windows[2]).toBeLessThanOrEqual(10);
    expect(calls.count).toBe(a.stats().roundTrips);
    // The limiter never reserved more than the limit: each minute's document says exactly 1 000.
    for (let w = 0; w < 3; w++) {
      const id = counterDocumentId('rule', `busy-${name}`, 'requests_per_minute', BASE + w * 60_000);
      expect((await firestore().collection(COLLECTION).doc(id).get()).data()?.count).toBe(1000);
    }
  });

  it('two instances drawing concurrently on one counter (10 callers each), two limits', async () => {
    const instances = [limiter(), limiter()];
    const windows: number[] = [];
    for (let w = 0; w < 3; w++) {
      offset = w * 60_000;
      const { admitted, perThousand } = await drainWindow(instances, 'shared', TWO, 10);
      expect(admitted).toBe(1000);
      windows.push(perThousand);
    }
    measured.push(`two instances × 10 callers, two limits: ${windows.map((x) => x.toFixed(1)).join(', ')} (windows 1, 2, 3)`);
    // Callers without a pause keep both instances writing all the time: conflicts (a read and
    // a retry each) come on top of the chunks, and how many depends on timing (a loaded machine
    // gives more). Measured 23–67 per window (the first, with chunks still growing, the most);
    // 170–190 with fixed chunks of 20. The bound is half of that, per window and over the three.
    for (const perThousand of windows) expect(perThousand).toBeLessThanOrEqual(90);
    expect(windows.reduce((sum, x) => sum + x, 0)).toBeLessThanOrEqual(150);
  });
});

describe('what chunks cost the other instances', () => {
  const count = async (subject: string, minute: number) =>
    (await firestore().collection(COLLECTION).doc(counterDocumentId('rule', subject, 'requests_per_minute', BASE + minute * 60_000)).get()).data()?.count;

  it('four instances drawing concurrently admit exactly the limit, never more, window after window', async () => {
    const instances = Array.from({ length: 4 }, limiter);
    for (let w = 0; w < 3; w++) {
      offset = w * 60_000;
      const { admitted } = await drainWindow(instances, 'four', TWO, 5);
      expect(admitted).toBe(1000);
      expect(await count('four', w)).toBe(1000);
    }
  });

  it('an instance that stops strands at most one chunk: a tenth of the limit if it was busy, its opening chunk if it was quiet', async () => {
    const [quiet, busy, b, c] = [limiter(), limiter(), limiter(), limiter()];
    expect(await quiet.admit('rule', 'strand', ONE)).toEqual({ allowed: true });
    for (let i = 0; i < 600; i++) expect(await busy.admit('rule', 'strand', ONE)).toEqual({ allowed: true });
    const { admitted } = await drainWindow([b, c], 'strand', ONE, 5); // until each is refused
    const held = (l: FirestoreRateLimiter) => l.stats().unitsReserved - l.stats().admitted;
    expect(await count('strand', 0)).toBe(1000); // fully reserved
    const total = 1 + 600 + admitted;
    expect(total).toBeLessThanOrEqual(1000); // never over the limit
    expect([held(b), held(c)]).toEqual([0, 0]); // the instances still asking used up what they held
    expect(held(quiet)).toBe(chunkSize(1000) - 1);
    expect(held(busy)).toBeLessThanOrEqual(chunkCap(1000));
    expect(1000 - total).toBe(held(quiet) + held(busy)); // all that was not admitted is stranded in the two that stopped
    measured.push(`stranded when a quiet (1 admitted) and a busy instance (600) stop: ${held(quiet)} + ${held(busy)} of 1 000`);

    // The next minute, the two that stopped take nothing: the others admit exactly the limit.
    offset = 60_000;
    expect((await drainWindow([b, c], 'strand', ONE, 5)).admitted).toBe(1000);
  });
});
