/**
 * Fault injection on IAM Credentials through the real endpoint: the loopback emulator fails,
 * stalls, resets or garbles `generateAccessToken`, and the broker retries what is retryable
 * (bounded, with backoff), never what is not, stops at its deadline, stops calling a dead
 * upstream (circuit breaker), answers 503 + Retry-After, and writes exactly one
 * `token_exchange` entry per request throughout.
 */
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import type { ResilienceOverrides } from '../../shared/load-broker';
import { LineCapture } from '../helpers/capture';
import { exchangeForm, post, type Answer } from '../helpers/http';
import { testPolicy } from '../http/policy-fixture';

const CLAIMS = { sub: 'repo:acme/app', repository: 'acme/app', ref: 'refs/heads/main' };
const RETRY = { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 2_000, minAttemptMs: 50 };
const NO_BREAKER = { failureThreshold: 1_000, openMs: 1_000, maxOpenMs: 1_000 };

interface Harness {
  stack: DevStack;
  lines: LineCapture;
  /** One exchange: the answer, the generateAccessToken calls it caused, and its duration. */
  exchange(): Promise<{ answer: Answer; upstreamCalls: number; elapsedMs: number }>;
  requests: number;
}

async function harness(resilience: ResilienceOverrides): Promise<Harness> {
  const lines = new LineCapture();
  const stack = await startDevStack({ env: { BROKER_CACHE: 'none' }, policyText: testPolicy, auditTransport: lines, resilience });
  await stack.broker;
  const h: Harness = {
    stack,
    lines,
    requests: 0,
    async exchange() {
      const before = mintCalls(stack);
      const started = Date.now();
      h.requests++;
      const answer = await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign({ ...CLAIMS, aud: stack.url })));
      return { answer, upstreamCalls: mintCalls(stack) - before, elapsedMs: Date.now() - started };
    },
  };
  return h;
}

const mintCalls = (stack: DevStack) => stack.google.requests.filter((r) => r.endpoint === 'generateAccessToken').length;

async function entries(h: Harness, event: string) {
  await h.stack.audit.flush();
  return h.lines.entries().filter((e) => e.event === event);
}

function expectUnavailable(answer: Answer, reason: string) {
  expect(answer.status).toBe(503);
  expect(answer.body).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
  expect(answer.headers.get('cache-control')).toBe('no-store');
  expect(answer.text).not.toContain('access_token');
  return reason;
}

async function lastExchangeEntry(h: Harness) {
  return (await entries(h, 'token_exchange')).at(-1) as { outcome: string; error?: { reason: string; detail?: string } };
}

describe('retries of one mint', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness({ upstream: { attemptTimeoutMs: 400, retry: RETRY, breaker: NO_BREAKER, random: () => 0.5 } });
  });
  afterEach(() => h.stack.google.faults.clear());
  afterAll(async () => {
    // exactly one token_exchange entry for every request this block made
    expect(await entries(h, 'token_exchange')).toHaveLength(h.requests);
    await h.stack.close();
  });

  it.each([
    ['HTTP 500', (s: DevStack) => s.google.faults.failNext({ status: 500, match: 'generateAccessToken' })],
    ['HTTP 503', (s: DevStack) => s.google.faults.failNext({ status: 503, match: 'generateAccessToken' })],
    ['HTTP 429 without Retry-After', (s: DevStack) => s.google.faults.failNext({ status: 429, match: 'generateAccessToken' })],
    ['HTTP 504', (s: DevStack) => s.google.faults.failNext({ status: 504, match: 'generateAccessToken' })],
    ['a reset connection', (s: DevStack) => s.google.faults.corruptNext({ mode: 'reset', match: 'generateAccessToken' })],
    ['a 200 that is not JSON', (s: DevStack) => s.google.faults.corruptNext({ mode: 'malformed-json', match: 'generateAccessToken' })],
  ])('%s once: retried, the caller gets a token, the mint is audited with 2 attempts', async (_name, arm) => {
    arm(h.stack);
    const { answer, upstreamCalls } = await h.exchange();
    expect(answer.status).toBe(200);
    expect(typeof answer.body.access_token).toBe('string');
    expect(upstreamCalls).toBe(2);
    expect((await entries(h, 'upstream_mint')).at(-1)).toMatchObject({ outcome: 'success', attempts: 2 });
  });

  it('an upstream that keeps failing: exactly maxAttempts calls, then 503 with the default Retry-After', async () => {
    h.stack.google.faults.failNext({ status: 503, count: Infinity, match: 'generateAccessToken' });
    const { answer, upstreamCalls } = await h.exchange();
    expectUnavailable(answer, 'upstream_unavailable');
    expect(answer.headers.get('retry-after')).toBe('5');
    expect(upstreamCalls).toBe(RETRY.maxAttempts);
    const entry = await lastExchangeEntry(h);
    expect(entry).toMatchObject({ outcome: 'upstream_failure', error: { reason: 'upstream_unavailable' } });
    expect(entry.error?.detail).toContain('after 3 attempt(s)');
    expect((await entries(h, 'upstream_mint')).at(-1)).toMatchObject({ outcome: 'failure', error: expect.stringContaining('after 3 attempt(s)') });
  });

  it('429 with a Retry-After within the backoff cap: waits at least that long, then succeeds', async () => {
    h.stack.google.faults.failNext({ status: 429, retryAfterSeconds: 1, match: 'generateAccessToken' });
    const { answer, upstreamCalls, elapsedMs } = await h.exchange();
    expect(answer.status).toBe(200);
    expect(upstreamCalls).toBe(2);
    expect(elapsedMs).toBeGreaterThanOrEqual(1_000);
  });

  it('429 with a Retry-After beyond the cap: not waited out; the caller gets that Retry-After at once', async () => {
    h.stack.google.faults.failNext({ status: 429, retryAfterSeconds: 30, match: 'generateAccessToken' });
    const { answer, upstreamCalls, elapsedMs } = await h.exchange();
    expectUnavailable(answer, 'upstream_unavailable');
    expect(answer.headers.get('retry-after')).toBe('30');
    expect(upstreamCalls).toBe(1);
    expect(elapsedMs).toBeLessThan(3_000);
  });

  it.each([
    [403, 'the broker may not impersonate the account'],
    [404, 'the account does not exist'],
    [400, 'the request is wrong'],
  ])('HTTP %i (%s) is not retried: one call, 500 server_error without upstream detail', async (status) => {
    h.stack.google.faults.failNext({ status, count: Infinity, match: 'generateAccessToken' });
    const { answer, upstreamCalls } = await h.exchange();
    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({ error: 'server_error', error_description: 'the broker could not obtain a token for the granted service account' });
    expect(answer.headers.get('retry-after')).toBeNull();
    expect(upstreamCalls).toBe(1);
    expect(await lastExchangeEntry(h)).toMatchObject({ outcome: 'upstream_failure', error: { reason: 'upstream_refused' } });
  });

  it('an upstream slower than the attempt timeout: every attempt times out, 503 upstream_timeout', async () => {
    h.stack.google.faults.setLatency(1_500, 'generateAccessToken');
    const { answer, upstreamCalls, elapsedMs } = await h.exchange();
    expectUnavailable(answer, 'upstream_timeout');
    expect(await lastExchangeEntry(h)).toMatchObject({ error: { reason: 'upstream_timeout' } });
    expect(upstreamCalls).toBe(RETRY.maxAttempts);
    // three attempts of 400 ms and two short backoffs, nowhere near three times the latency
    expect(elapsedMs).toBeLessThan(2_500);
  });

  it('a slow upstream within the attempt timeout is simply waited for: one call', async () => {
    h.stack.google.faults.setLatency(150, 'generateAccessToken');
    const { answer, upstreamCalls } = await h.exchange();
    expect(answer.status).toBe(200);
    expect(upstreamCalls).toBe(1);
  });
});

describe('backoff between attempts', () => {
  it('sleeps a full-jitter delay drawn from the configured random source', async () => {
    const timings: Record<string, number> = {};
    for (const [name, random] of [['low', () => 0], ['high', () => 0.999]] as const) {
      const h = await harness({ upstream: { attemptTimeoutMs: 1_000, retry: { maxAttempts: 3, baseDelayMs: 400, maxDelayMs: 2_000, minAttemptMs: 50 }, breaker: NO_BREAKER, random } });
      try {
        h.stack.google.faults.failNext({ status: 503, count: 2, match: 'generateAccessToken' });
        const { answer, elapsedMs, upstreamCalls } = await h.exchange();
        expect(answer.status).toBe(200);
        expect(upstreamCalls).toBe(3);
        timings[name] = elapsedMs;
      } finally {
        await h.stack.close();
      }
    }
    // jitter 0 → no wait; jitter ~1 → 399 + 799 ms of backoff
    expect(timings.high).toBeGreaterThanOrEqual(1_150);
    expect(timings.low).toBeLessThan(700);
  });
});

describe('one deadline per request', () => {
  it('an upstream that never answers in time: 503 when the request deadline passes, one audit entry', async () => {
    const h = await harness({ requestDeadlineMs: 700, upstream: { attemptTimeoutMs: 10_000, retry: RETRY, breaker: NO_BREAKER, random: () => 0.5 } });
    try {
      h.stack.google.faults.setLatency(5_000, 'generateAccessToken');
      const { answer, elapsedMs } = await h.exchange();
      expectUnavailable(answer, 'deadline_exceeded');
      expect(elapsedMs).toBeGreaterThanOrEqual(650);
      expect(elapsedMs).toBeLessThan(1_500);
      const entry = await lastExchangeEntry(h);
      expect(['deadline_exceeded', 'upstream_timeout']).toContain(entry.error?.reason);
      expect(await entries(h, 'token_exchange')).toHaveLength(1);
    } finally {
      await h.stack.close();
    }
  });
});

describe('circuit breaker', () => {
  let h: Harness;
  const OPEN_MS = 600;
  beforeAll(async () => {
    h = await harness({ upstream: { attemptTimeoutMs: 1_000, retry: { ...RETRY, maxAttempts: 1 }, breaker: { failureThreshold: 3, openMs: OPEN_MS, maxOpenMs: 5_000 }, random: () => 0.5 } });
  });
  afterAll(async () => {
    expect(await entries(h, 'token_exchange')).toHaveLength(h.requests);
    await h.stack.close();
  });

  it('opens after consecutive failures: later requests are answered 503 without calling the upstream', async () => {
    h.stack.google.faults.failNext({ status: 503, count: Infinity, match: 'generateAccessToken' });
    for (let i = 0; i < 3; i++) expect((await h.exchange()).upstreamCalls).toBe(1);
    const fastFails = [];
    for (let i = 0; i < 5; i++) fastFails.push(await h.exchange());
    for (const { answer, upstreamCalls, elapsedMs } of fastFails) {
      expectUnavailable(answer, 'upstream_circuit_open');
      expect(upstreamCalls).toBe(0);
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(elapsedMs).toBeLessThan(1_000);
    }
    expect(await lastExchangeEntry(h)).toMatchObject({ outcome: 'upstream_failure', error: { reason: 'upstream_circuit_open' } });
    expect((await entries(h, 'upstream_circuit')).at(-1)).toMatchObject({ severity: 'ERROR', upstream: 'iamcredentials', state: 'open', failures: 3, openSeconds: 1 });
  });

  it('after the open time one probe goes through; while the upstream is still down it reopens for longer', async () => {
    await new Promise((resolve) => setTimeout(resolve, OPEN_MS + 50));
    const probe = await h.exchange();
    expect(probe.upstreamCalls).toBe(1);
    expectUnavailable(probe.answer, 'upstream_unavailable');
    const next = await h.exchange();
    expect(next.upstreamCalls).toBe(0);
    expect((await entries(h, 'upstream_circuit')).map((e) => e.state)).toEqual(['open', 'half_open', 'open']);
    expect((await entries(h, 'upstream_circuit')).at(-1)).toMatchObject({ openSeconds: 2 });
  });

  it('once the upstream is back, the probe succeeds and the circuit closes', async () => {
    h.stack.google.faults.clear();
    await new Promise((resolve) => setTimeout(resolve, 2 * OPEN_MS + 50));
    const probe = await h.exchange();
    expect(probe.answer.status).toBe(200);
    expect(probe.upstreamCalls).toBe(1);
    expect((await entries(h, 'upstream_circuit')).at(-1)).toMatchObject({ severity: 'NOTICE', state: 'closed' });
    for (let i = 0; i < 3; i++) expect((await h.exchange()).answer.status).toBe(200);
  });

  it('refusals (403) do not open it', async () => {
    const before = (await entries(h, 'upstream_circuit')).length;
    h.stack.google.faults.failNext({ status: 403, count: 5, match: 'generateAccessToken' });
    for (let i = 0; i < 5; i++) expect((await h.exchange()).upstreamCalls).toBe(1);
    expect((await h.exchange()).answer.status).toBe(200);
    expect(await entries(h, 'upstream_circuit')).toHaveLength(before);
  });
});
