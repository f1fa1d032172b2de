/** Retries: which answers are retried, the backoff schedule (jitter pinned), Retry-After, and the errors surfaced. */
import { BrokerError, BrokerTokenClient, BrokerUnreachableError } from '../../client/src/index';
import { backoffDelay, parseRetryAfter } from '../../client/src/lib/retry';
import { BROKER, errorAnswer, fakeFetch, networkError, recordingClock, tokenAnswer, type Answer } from './fake-fetch';

function client(script: Answer[], options: { random?: () => number; maxAttempts?: number; maxRetryAfterMs?: number } = {}) {
  const broker = fakeFetch(...script);
  const time = recordingClock();
  const tokens = new BrokerTokenClient({
    brokerUrl: BROKER,
    credential: { kind: 'subject_token', subjectToken: 'eyJ.subject.token' },
    fetch: broker.fetch,
    clock: time.clock,
    random: options.random ?? (() => 0.5),
    retry: { maxAttempts: options.maxAttempts, maxRetryAfterMs: options.maxRetryAfterMs },
  });
  return { tokens, broker, time };
}

describe('the backoff schedule', () => {
  it('is full jitter below a capped exponential: 250, 500, 1000, … ms, at most 8 s', () => {
    const policy = { maxAttempts: 10, baseDelayMs: 250, maxDelayMs: 8000, maxRetryAfterMs: 60_000 };
    expect([1, 2, 3, 4, 5, 6, 7].map((retry) => backoffDelay(retry, policy, () => 0.999999))).toEqual([249, 499, 999, 1999, 3999, 7999, 7999]);
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(500);
  });

  it('waits the pinned-jitter delays between network failures, then succeeds', async () => {
    const { tokens, broker, time } = client([networkError(), networkError(), networkError(), tokenAnswer('ya29.after-retries')]);
    await expect(tokens.getAccessToken()).resolves.toBe('ya29.after-retries');
    expect(broker.requests).toHaveLength(4);
    expect(time.sleeps).toEqual([125, 250, 500]);
  });

  it('retries 503 and 429 without Retry-After on the same schedule', async () => {
    const { tokens, broker, time } = client([errorAnswer(503, 'temporarily_unavailable', 'x'), errorAnswer(429, 'slow_down', 'y'), tokenAnswer()]);
    await tokens.getAccessToken();
    expect(broker.requests).toHaveLength(3);
    expect(time.sleeps).toEqual([125, 250]);
  });

  it('gives up after maxAttempts with BrokerUnreachableError carrying the cause', async () => {
    const { tokens, broker, time } = client([networkError()], { maxAttempts: 3 });
    const error = await tokens.getAccessToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerUnreachableError);
    expect(error).toMatchObject({ code: 'ERR_BROKER_UNREACHABLE', attempts: 3 });
    expect((error as Error).cause).toBeInstanceOf(TypeError);
    expect(broker.requests).toHaveLength(3);
    expect(time.sleeps).toEqual([125, 250]);
  });

  it('after the last 503 surfaces it as BrokerError with the attempts made', async () => {
    const { tokens, broker } = client([errorAnswer(503, 'temporarily_unavailable', 'the broker is busy')], { maxAttempts: 2 });
    await expect(tokens.getAccessToken()).rejects.toMatchObject({ status: 503, error: 'temporarily_unavailable', attempts: 2 });
    expect(broker.requests).toHaveLength(2);
  });
});

describe('Retry-After', () => {
  it('is waited for exactly, instead of the backoff', async () => {
    const { tokens, time } = client([errorAnswer(503, 'temporarily_unavailable', 'x', { 'retry-after': '5' }), errorAnswer(429, 'slow_down', 'y', { 'retry-after': '30' }), tokenAnswer()]);
    await tokens.getAccessToken();
    expect(time.sleeps).toEqual([5000, 30_000]);
  });

  it('as an HTTP date', async () => {
    const { tokens, time } = client([errorAnswer(503, 'temporarily_unavailable', 'x', { 'retry-after': new Date(1_800_000_007_000).toUTCString() }), tokenAnswer()]);
    await tokens.getAccessToken();
    expect(time.sleeps).toEqual([7000]);
  });

  it('longer than maxRetryAfterMs surfaces the error at once, with retryAfterSeconds', async () => {
    const { tokens, broker, time } = client([errorAnswer(429, 'slow_down', 'daily budget used up', { 'retry-after': '36000' }), tokenAnswer()]);
    const error = await tokens.getAccessToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect(error).toMatchObject({ status: 429, error: 'slow_down', retryAfterSeconds: 36000, attempts: 1 });
    expect(broker.requests).toHaveLength(1);
    expect(time.sleeps).toEqual([]);
  });

  it.each([
    ['12', 12_000],
    [' 0 ', 0],
    ['-1', undefined],
    ['1.5', undefined],
    ['soon', undefined],
    ['', undefined],
    ['1800000000', 1_800_000_000_000],
  ])('parses %j as %j ms', (value, expected) => {
    expect(parseRetryAfter(value, 0)).toBe(expected);
  });
});

describe('answers that are never retried', () => {
  it.each([
    [400, 'invalid_grant', 'the subject token has expired'],
    [401, 'invalid_client', 'client authentication failed'],
    [403, 'access_denied', 'no rule allows this token'],
    [400, 'invalid_scope', 'a requested scope is not allowed'],
    [400, 'invalid_target', 'audience names no rule'],
    [404, 'invalid_request', 'no such endpoint'],
    [500, 'server_error', 'the broker could not complete the request'],
  ])('%i %s: one request, surfaced typed', async (status, code, description) => {
    const { tokens, broker, time } = client([errorAnswer(status, code, description, { 'retry-after': '1' }), tokenAnswer()]);
    const error = await tokens.getAccessToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect(error).toMatchObject({ name: 'BrokerError', code: 'ERR_BROKER_REFUSED', status, error: code, errorDescription: description, attempts: 1 });
    expect((error as Error).message).toBe(`token broker answered ${status} ${code}: ${description}`);
    expect(broker.requests).toHaveLength(1);
    expect(time.sleeps).toEqual([]);
  });

  it('a proxy page without an RFC 6749 body is named by its status', async () => {
    const { tokens } = client([new Response('<html>Bad gateway</html>', { status: 502 })]);
    await expect(tokens.getAccessToken()).rejects.toMatchObject({ status: 502, error: 'http_502', errorDescription: undefined, attempts: 1 });
  });

  it('the failed request is not cached: the next call asks again', async () => {
    const { tokens, broker } = client([errorAnswer(403, 'access_denied', 'no'), tokenAnswer('ya29.later')]);
    await expect(tokens.getAccessToken()).rejects.toBeInstanceOf(BrokerError);
    await expect(tokens.getAccessToken()).resolves.toBe('ya29.later');
    expect(broker.requests).toHaveLength(2);
  });
});
