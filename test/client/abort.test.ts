/** Per-attempt timeouts (`timeoutMs`, fake timers) and the caller's `signal`: typed errors, what is retried, what is not. */
import { BrokerAbortError, BrokerTokenClient, BrokerUnreachableError, type BrokerClientOptions } from '../../client/src/index';
import { BROKER, errorAnswer, fakeFetch, tokenAnswer, type Answer } from './fake-fetch';

const START = Date.UTC(2026, 10, 25, 12, 0, 0);

beforeEach(() => jest.useFakeTimers({ now: START }));
afterEach(() => jest.useRealTimers());

/** A broker that never answers, and ignores the request's signal. */
const never: Answer = () => new Promise<Response>(() => undefined);

function client(script: Answer[], extra: Partial<BrokerClientOptions> = {}) {
  const broker = fakeFetch(...script);
  const tokens = new BrokerTokenClient({
    brokerUrl: BROKER,
    credential: { kind: 'subject_token', subjectToken: 'eyJ.subject.token' },
    fetch: broker.fetch,
    random: () => 0, // no backoff wait: the schedule is retry.test.ts's
    ...extra,
  });
  return { tokens, broker };
}

/** Advances fake time, then lets what that started (a 0 ms backoff, a retry) run. */
async function tick(ms: number): Promise<void> {
  await jest.advanceTimersByTimeAsync(ms);
  for (let i = 0; i < 3; i++) await jest.advanceTimersByTimeAsync(0);
}

/** The promise's outcome, without an unhandled rejection while timers advance. */
function settled<T>(promise: Promise<T>): { readonly state: 'pending' | 'resolved' | 'rejected'; readonly value: T | undefined; readonly error: unknown } {
  const result = { state: 'pending' as 'pending' | 'resolved' | 'rejected', value: undefined as T | undefined, error: undefined as unknown };
  promise.then(
    (value) => Object.assign(result, { state: 'resolved', value }),
    (error: unknown) => Object.assign(result, { state: 'rejected', error }),
  );
  return result;
}

describe('timeoutMs: a deadline per attempt', () => {
  it('default 10 s: a broker that never answers is given up after each 10 s and retried, then BrokerUnreachableError with a TimeoutError cause', async () => {
    const { tokens, broker } = client([never], { retry: { maxAttempts: 2 } });
    const call = settled(tokens.getAccessToken());
    await tick(9_999);
    expect(call.state).toBe('pending');
    expect(broker.requests).toHaveLength(1);
    await tick(1);
    expect(broker.requests).toHaveLength(2);
    expect(broker.requests[0]!.init.signal?.aborted).toBe(true); // the real fetch would cancel its socket
    expect(call.state).toBe('pending');
    await tick(10_000);
    expect(call.state).toBe('rejected');
    expect(call.error).toBeInstanceOf(BrokerUnreachableError);
    expect(call.error).toMatchObject({ code: 'ERR_BROKER_UNREACHABLE', attempts: 2 });
    expect((call.error as Error).cause).toMatchObject({ name: 'TimeoutError' });
    expect(broker.requests).toHaveLength(2);
  });

  it('a timed-out attempt is retried like a network error: the next answer is used', async () => {
    const { tokens, broker } = client([never, tokenAnswer('ya29.second-try')], { timeoutMs: 500 });
    const call = settled(tokens.getAccessToken());
    await tick(500);
    expect(call).toMatchObject({ state: 'resolved', value: 'ya29.second-try' });
    expect(broker.requests).toHaveLength(2);
    expect(broker.requests[1]!.init.signal?.aborted).toBe(false);
  });

  it('covers a subject-token URL that never answers too', async () => {
    const { tokens, broker } = client([never, Response.json({ value: 'eyJ.from.url' }), tokenAnswer('ya29.ok')], {
      timeoutMs: 1_000,
      credential: { kind: 'subject_token', subjectToken: { url: 'http://metadata.test/token', jsonField: 'value' } },
    });
    const call = settled(tokens.getAccessToken());
    await tick(1_000);
    expect(call).toMatchObject({ state: 'resolved', value: 'ya29.ok' });
    expect(broker.requests.map((r) => r.url)).toEqual(['http://metadata.test/token', 'http://metadata.test/token', `${BROKER}/token`]);
  });

  it('an answer in time clears the timer: nothing left pending', async () => {
    const { tokens } = client([tokenAnswer()]);
    await tokens.getAccessToken();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('timeoutMs: 0 turns the deadline off', async () => {
    const { tokens, broker } = client([never], { timeoutMs: 0 });
    const call = settled(tokens.getAccessToken());
    await tick(600_000);
    expect(call.state).toBe('pending');
    expect(broker.requests).toHaveLength(1);
  });

  it.each([-1, 1.5, Number.NaN, 2 ** 31, '100'])('timeoutMs %p is a TypeError', (timeoutMs) => {
    expect(() => client([], { timeoutMs: timeoutMs as number })).toThrow(TypeError);
  });
});

describe("the caller's signal", () => {
  it('aborting a call whose broker never answers: BrokerAbortError at once, with the reason, and no retry', async () => {
    const { tokens, broker } = client([never]);
    const controller = new AbortController();
    const call = settled(tokens.getToken({ signal: controller.signal }));
    await tick(1_000);
    const reason = new Error('user left the page');
    controller.abort(reason);
    await tick(0);
    expect(call.state).toBe('rejected');
    expect(call.error).toBeInstanceOf(BrokerAbortError);
    expect(call.error).toMatchObject({ code: 'ERR_ABORTED', cause: reason });
    expect(broker.requests[0]!.init.signal?.aborted).toBe(true);
    await tick(60_000);
    expect(broker.requests).toHaveLength(1);
  });

  it('aborting during the backoff wait ends the call: no further request', async () => {
    const { tokens, broker } = client([errorAnswer(503, 'temporarily_unavailable', 'busy', { 'retry-after': '5' }), tokenAnswer()]);
    const controller = new AbortController();
    const call = settled(tokens.getAccessToken({ signal: controller.signal }));
    await tick(1_000);
    expect(broker.requests).toHaveLength(1);
    controller.abort();
    await tick(0);
    expect(call.state).toBe('rejected');
    expect(call.error).toBeInstanceOf(BrokerAbortError);
    expect((call.error as Error).cause).toMatchObject({ name: 'AbortError' });
    await tick(10_000);
    expect(broker.requests).toHaveLength(1);
  });

  it('an already aborted signal: BrokerAbortError, nothing sent, even with a token cached', async () => {
    const { tokens, broker } = client([tokenAnswer()]);
    await expect(tokens.getAccessToken({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(BrokerAbortError);
    expect(broker.requests).toHaveLength(0);
    await tokens.getAccessToken();
    await expect(tokens.getToken({ signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(broker.requests).toHaveLength(1);
  });

  it('a signal that never aborts changes nothing; a cached token is served', async () => {
    const { tokens, broker } = client([tokenAnswer('ya29.one')]);
    const { signal } = new AbortController();
    expect(await tokens.getAccessToken({ signal })).toBe('ya29.one');
    expect(await tokens.getAccessToken({ signal })).toBe('ya29.one');
    expect(broker.requests).toHaveLength(1);
  });

  it('one of two callers sharing a request aborts: only its wait ends, the request goes on for the other', async () => {
    let answer!: (response: Response) => void;
    const { tokens, broker } = client([() => new Promise<Response>((resolve) => (answer = resolve))]);
    const first = new AbortController();
    const a = settled(tokens.getAccessToken({ signal: first.signal }));
    const b = settled(tokens.getAccessToken({ signal: new AbortController().signal }));
    await tick(0);
    first.abort();
    await tick(0);
    expect(a.state).toBe('rejected');
    expect(b.state).toBe('pending');
    expect(broker.requests[0]!.init.signal?.aborted).toBe(false);
    answer(tokenAnswer('ya29.shared'));
    await tick(0);
    expect(b).toMatchObject({ state: 'resolved', value: 'ya29.shared' });
    expect(broker.requests).toHaveLength(1);
  });

  it('when every caller sharing a request has aborted, the request is aborted; the next call starts a new one', async () => {
    const { tokens, broker } = client([never, tokenAnswer('ya29.fresh')]);
    const [one, two] = [new AbortController(), new AbortController()];
    const a = settled(tokens.getAccessToken({ signal: one.signal }));
    const b = settled(tokens.getAccessToken({ signal: two.signal }));
    await tick(0);
    one.abort();
    two.abort();
    await tick(0);
    expect([a.state, b.state]).toEqual(['rejected', 'rejected']);
    expect(broker.requests[0]!.init.signal?.aborted).toBe(true);
    expect(await tokens.getAccessToken()).toBe('ya29.fresh');
    expect(broker.requests).toHaveLength(2);
  });

  it('a caller without a signal keeps a shared request going when the others abort', async () => {
    let answer!: (response: Response) => void;
    const { tokens, broker } = client([() => new Promise<Response>((resolve) => (answer = resolve))]);
    const controller = new AbortController();
    const a = settled(tokens.getAccessToken({ signal: controller.signal }));
    const b = settled(tokens.getAccessToken());
    await tick(0);
    controller.abort();
    await tick(0);
    expect(a.state).toBe('rejected');
    expect(broker.requests[0]!.init.signal?.aborted).toBe(false);
    answer(tokenAnswer('ya29.kept'));
    await tick(0);
    expect(b).toMatchObject({ state: 'resolved', value: 'ya29.kept' });
  });

  it('fetch(url, { signal }): the signal covers getting the token; aborted, the resource is never fetched', async () => {
    const { tokens, broker } = client([never]);
    const controller = new AbortController();
    const call = settled(tokens.fetch('https://aiplatform.googleapis.com/v1/x', { signal: controller.signal }));
    await tick(0);
    controller.abort();
    await tick(0);
    expect(call.error).toBeInstanceOf(BrokerAbortError);
    expect(broker.requests.map((r) => r.url)).toEqual([`${BROKER}/token`]);
  });

  it('fetch(url, { signal }) passes the signal on to the resource request', async () => {
    const { tokens, broker } = client([tokenAnswer('ya29.t'), new Response('ok')]);
    const { signal } = new AbortController();
    expect((await tokens.fetch('https://aiplatform.googleapis.com/v1/x', { signal })).status).toBe(200);
    expect(broker.requests[1]!.init.signal).toBe(signal);
    expect(broker.requests[1]!.headers.get('authorization')).toBe('Bearer ya29.t');
  });

  it('a never-cached token type (Gemini ephemeral) honours the signal too', async () => {
    const { tokens } = client([never], { requestedTokenType: 'urn:x-token-broker:token-type:gemini-ephemeral' });
    const controller = new AbortController();
    const call = settled(tokens.getToken({ signal: controller.signal }));
    await tick(0);
    controller.abort();
    await tick(0);
    expect(call.error).toBeInstanceOf(BrokerAbortError);
  });
});
