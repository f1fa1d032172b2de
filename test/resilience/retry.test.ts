/** Bounded retries: full-jitter backoff, the cap, Retry-After, the deadline, retryable only. */
import { Deadline } from '../../shared/resilience/deadline';
import { backoffDelayMs, RetriesExhausted, withRetries, type RetryPolicy } from '../../shared/resilience/retry';

const POLICY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 250, minAttemptMs: 10 };

class Transient extends Error {
  constructor(readonly retryAfterMs?: number) {
    super('transient');
  }
}
const classify = (err: unknown) => ({ retryable: err instanceof Transient, retryAfterMs: err instanceof Transient ? err.retryAfterMs : undefined });

/** Runs `withRetries` with failures scripted per attempt; records the sleeps instead of sleeping. */
async function run(failures: Array<Error | undefined>, options: { random?: () => number; deadline?: Deadline; policy?: RetryPolicy } = {}) {
  const sleeps: number[] = [];
  let calls = 0;
  const outcome = withRetries(
    async () => {
      const failure = failures[calls++];
      if (failure) throw failure;
      return 'token';
    },
    {
      policy: options.policy ?? POLICY,
      deadline: options.deadline ?? new Deadline(60_000),
      classify,
      random: options.random ?? (() => 0.5),
      sleep: async (ms) => void sleeps.push(ms),
    },
  );
  return { outcome: await outcome.catch((err: unknown) => err), sleeps, calls: () => calls };
}

describe('backoff', () => {
  it('is full jitter: uniform in [0, min(cap, base·2^(k−1)))', () => {
    expect([1, 2, 3, 4].map((k) => backoffDelayMs(POLICY, k, () => 0))).toEqual([0, 0, 0, 0]);
    expect([1, 2, 3, 4].map((k) => backoffDelayMs(POLICY, k, () => 0.999999))).toEqual([99, 199, 249, 249]);
    expect([1, 2, 3].map((k) => backoffDelayMs(POLICY, k, () => 0.5))).toEqual([50, 100, 125]);
  });

  it('draws a fresh jitter for every retry', () => {
    const draws = [0.1, 0.9, 0.3];
    const delays = [1, 2, 3].map((k) => backoffDelayMs(POLICY, k, () => draws[k - 1] as number));
    expect(delays).toEqual([10, 180, 75]);
  });
});

describe('withRetries', () => {
  it('returns the first success and how many attempts it took', async () => {
    const { outcome, sleeps } = await run([new Transient(), new Transient(), undefined]);
    expect(outcome).toEqual({ value: 'token', attempts: 3 });
    expect(sleeps).toEqual([50, 100]);
  });

  it('stops after maxAttempts and reports the last failure', async () => {
    const last = new Transient();
    const { outcome, calls } = await run([new Transient(), new Transient(), new Transient(), last, undefined]);
    expect(outcome).toBeInstanceOf(RetriesExhausted);
    expect((outcome as RetriesExhausted).attempts).toBe(4);
    expect((outcome as RetriesExhausted).lastError).toBe(last);
    expect(calls()).toBe(4);
  });

  it('never retries a failure that is not retryable', async () => {
    const refusal = new Error('permission denied');
    const { outcome, calls, sleeps } = await run([refusal, undefined]);
    expect((outcome as RetriesExhausted).lastError).toBe(refusal);
    expect(calls()).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('waits at least the upstream Retry-After when it is within the cap', async () => {
    const { outcome, sleeps } = await run([new Transient(200), undefined], { random: () => 0 });
    expect(outcome).toEqual({ value: 'token', attempts: 2 });
    expect(sleeps).toEqual([200]);
  });

  it('gives up at once when Retry-After is longer than the cap', async () => {
    const { outcome, calls, sleeps } = await run([new Transient(5_000), undefined]);
    expect((outcome as RetriesExhausted).attempts).toBe(1);
    expect(calls()).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('does not start an attempt the deadline leaves no time for', async () => {
    let clock = 0;
    const deadline = new Deadline(100, () => clock);
    clock = 60; // 40 ms left: the backoff (50) plus minAttemptMs (10) does not fit
    const { outcome, calls } = await run([new Transient(), undefined], { deadline });
    expect((outcome as RetriesExhausted).attempts).toBe(1);
    expect(calls()).toBe(1);
  });
});

describe('Deadline', () => {
  it('counts down on its clock and never below zero', () => {
    let clock = 1_000;
    const deadline = new Deadline(500, () => clock);
    expect(deadline.remainingMs()).toBe(500);
    clock = 1_300;
    expect(deadline.remainingMs()).toBe(200);
    clock = 9_999;
    expect(deadline.remainingMs()).toBe(0);
  });

  it('lets work that finishes in time through, and turns late work into a retryable 503', async () => {
    await expect(new Deadline(1_000).race(Promise.resolve('done'))).resolves.toBe('done');
    const started = Date.now();
    const late = new Deadline(50).race(new Promise((resolve) => setTimeout(resolve, 2_000)));
    await expect(late).rejects.toMatchObject({ code: 'temporarily_unavailable', reason: 'deadline_exceeded', retryAfterSeconds: 5 });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('passes the work\'s own failure through unchanged', async () => {
    const failure = new Error('boom');
    await expect(new Deadline(1_000).race(Promise.reject(failure))).rejects.toBe(failure);
  });
});
