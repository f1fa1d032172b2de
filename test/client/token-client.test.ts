/** The cache: refresh ahead of expiry (fake timers), singleflight, invalidation, tokens never cached. */
import { BrokerTokenClient, TOKEN_TYPE_GEMINI_EPHEMERAL } from '../../client/src/index';
import { BROKER, errorAnswer, fakeFetch, tokenAnswer } from './fake-fetch';

const START = Date.UTC(2026, 10, 25, 12, 0, 0);

beforeEach(() => jest.useFakeTimers({ now: START }));
afterEach(() => jest.useRealTimers());

function client(broker: ReturnType<typeof fakeFetch>, extra: Partial<ConstructorParameters<typeof BrokerTokenClient>[0]> = {}) {
  return new BrokerTokenClient({ brokerUrl: BROKER, credential: { kind: 'subject_token', subjectToken: 'eyJ.subject.token' }, fetch: broker.fetch, ...extra });
}

/** Lets a background refresh (promises only, no timers) settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await jest.advanceTimersByTimeAsync(0);
}

describe('refresh ahead of expiry', () => {
  it('900 s token: cached until 90 s before expiry (10 % > 60 s), then refreshed in the background', async () => {
    const broker = fakeFetch(tokenAnswer('ya29.one', 900), tokenAnswer('ya29.two', 900));
    const tokens = client(broker);
    expect(await tokens.getAccessToken()).toBe('ya29.one');

    jest.advanceTimersByTime(809_999);
    expect(await tokens.getAccessToken()).toBe('ya29.one');
    expect(broker.requests).toHaveLength(1);

    jest.advanceTimersByTime(1);
    expect(await tokens.getAccessToken()).toBe('ya29.one'); // still valid: handed out while the refresh runs
    await settle();
    expect(broker.requests).toHaveLength(2);
    expect(await tokens.getAccessToken()).toBe('ya29.two');
    expect(broker.requests).toHaveLength(2);
  });

  it('300 s token: the 60 s floor applies (10 % would be 30 s)', async () => {
    const broker = fakeFetch(tokenAnswer('ya29.one', 300), tokenAnswer('ya29.two', 300));
    const tokens = client(broker);
    await tokens.getAccessToken();
    jest.advanceTimersByTime(239_999);
    await tokens.getAccessToken();
    expect(broker.requests).toHaveLength(1);
    jest.advanceTimersByTime(1);
    await tokens.getAccessToken();
    await settle();
    expect(broker.requests).toHaveLength(2);
  });

  it('refreshMarginSeconds overrides the default', async () => {
    const broker = fakeFetch(tokenAnswer('ya29.one', 900), tokenAnswer('ya29.two', 900));
    const tokens = client(broker, { refreshMarginSeconds: 300 });
    await tokens.getAccessToken();
    jest.advanceTimersByTime(599_999);
    await tokens.getAccessToken();
    expect(broker.requests).toHaveLength(1);
    jest.advanceTimersByTime(1);
    await tokens.getAccessToken();
    await settle();
    expect(broker.requests).toHaveLength(2);
  });

  it('a failed background refresh keeps the token until it expires, is reported, and then callers wait for the broker', async () => {
    const broker = fakeFetch(tokenAnswer('ya29.one', 900), errorAnswer(403, 'access_denied', 'policy changed'));
    const reported: unknown[] = [];
    const tokens = client(broker, { onBackgroundRefreshError: (error) => reported.push(error) });
    await tokens.getAccessToken();
    jest.advanceTimersByTime(850_000);
    expect(await tokens.getAccessToken()).toBe('ya29.one');
    await settle();
    expect(reported).toEqual([expect.objectContaining({ error: 'access_denied' })]);
    // Less than 10 s left: not handed out any more.
    jest.advanceTimersByTime(40_001);
    await expect(tokens.getAccessToken()).rejects.toMatchObject({ status: 403, error: 'access_denied' });
  });

  it('an expired token is never returned: the caller waits for a new one', async () => {
    const broker = fakeFetch(tokenAnswer('ya29.one', 900), tokenAnswer('ya29.two', 900));
    const tokens = client(broker);
    await tokens.getAccessToken();
    jest.advanceTimersByTime(900_000);
    expect(await tokens.getAccessToken()).toBe('ya29.two');
    expect(broker.requests).toHaveLength(2);
  });

  it('expiresAt counts from when the request was sent', async () => {
    const broker = fakeFetch(tokenAnswer('ya29.one', 900));
    const token = await client(broker).getToken();
    expect(token).toEqual({ accessToken: 'ya29.one', tokenType: 'Bearer', issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token', expiresAt: START + 900_000, scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
  });
});

describe('singleflight', () => {
  it('100 concurrent callers share exactly one broker request', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const broker = fakeFetch(async () => {
      await gate;
      return tokenAnswer('ya29.shared');
    });
    const tokens = client(broker);
    const calls = Array.from({ length: 100 }, () => tokens.getAccessToken());
    await settle();
    release();
    const results = await Promise.all(calls);
    expect(new Set(results)).toEqual(new Set(['ya29.shared']));
    expect(broker.requests).toHaveLength(1);
  });

  it('100 concurrent callers share one failure, and one request', async () => {
    const broker = fakeFetch(errorAnswer(400, 'invalid_grant', 'expired'));
    const tokens = client(broker);
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => tokens.getAccessToken()));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(broker.requests).toHaveLength(1);
  });

  it('a background refresh is shared too', async () => {
    const broker = fakeFetch(tokenAnswer('ya29.one', 900), tokenAnswer('ya29.two', 900));
    const tokens = client(broker);
    await tokens.getAccessToken();
    jest.advanceTimersByTime(850_000);
    await Promise.all(Array.from({ length: 100 }, () => tokens.getAccessToken()));
    await settle();
    expect(broker.requests).toHaveLength(2);
  });
});

describe('invalidate and forceRefresh', () => {
  it('invalidate() makes the next call ask the broker', async () => {
    const broker = fakeFetch(tokenAnswer('ya29.one'), tokenAnswer('ya29.two'));
    const tokens = client(broker);
    await tokens.getAccessToken();
    tokens.invalidate();
    expect(await tokens.getAccessToken()).toBe('ya29.two');
  });

  it('getToken({ forceRefresh: true }) asks the broker', async () => {
    const broker = fakeFetch(tokenAnswer('ya29.one'), tokenAnswer('ya29.two'));
    const tokens = client(broker);
    await tokens.getAccessToken();
    expect((await tokens.getToken({ forceRefresh: true })).accessToken).toBe('ya29.two');
  });

  it('Gemini ephemeral tokens (one session each) are never cached or shared', async () => {
    const broker = fakeFetch(
      Response.json({ access_token: 'auth_tokens/1', issued_token_type: TOKEN_TYPE_GEMINI_EPHEMERAL, token_type: 'N_A', expires_in: 599 }),
      Response.json({ access_token: 'auth_tokens/2', issued_token_type: TOKEN_TYPE_GEMINI_EPHEMERAL, token_type: 'N_A', expires_in: 599 }),
    );
    const tokens = client(broker, { requestedTokenType: TOKEN_TYPE_GEMINI_EPHEMERAL, audience: 'demo-gemini-live' });
    const [a, b] = await Promise.all([tokens.getToken(), tokens.getToken()]);
    expect([a.accessToken, b.accessToken].sort()).toEqual(['auth_tokens/1', 'auth_tokens/2']);
    expect(a).toMatchObject({ tokenType: 'N_A', scopes: [] });
  });
});

describe('the fetch wrapper', () => {
  it('adds the Bearer header, replacing any Authorization, and keeps the rest of the request', async () => {
    const broker = fakeFetch(tokenAnswer('ya29.one'), new Response('ok'));
    const tokens = client(broker);
    const response = await tokens.fetch('https://aiplatform.googleapis.com/v1/x', { method: 'POST', body: '{}', headers: { authorization: 'Basic x', 'content-type': 'application/json' } });
    expect(await response.text()).toBe('ok');
    const call = broker.requests[1]!;
    expect(call.url).toBe('https://aiplatform.googleapis.com/v1/x');
    expect(call.init.method).toBe('POST');
    expect(call.headers.get('authorization')).toBe('Bearer ya29.one');
    expect(call.headers.get('content-type')).toBe('application/json');
  });

  it('keeps the headers of a Request given without init', async () => {
    const broker = fakeFetch(tokenAnswer('ya29.one'), new Response('ok'));
    await client(broker).fetch(new Request('https://example.test/', { headers: { 'x-a': '1' } }));
    expect(broker.requests[1]!.headers.get('x-a')).toBe('1');
    expect(broker.requests[1]!.headers.get('authorization')).toBe('Bearer ya29.one');
  });
});

describe('unusable answers', () => {
  it.each([
    ['not JSON', new Response('<html>', { status: 200 })],
    ['no access_token', Response.json({ token_type: 'Bearer', expires_in: 900 })],
    ['empty access_token', Response.json({ access_token: '', expires_in: 900 })],
    ['no expires_in', Response.json({ access_token: 'ya29.x' })],
    ['expires_in 0', Response.json({ access_token: 'ya29.x', expires_in: 0 })],
    ['expires_in as a string', Response.json({ access_token: 'ya29.x', expires_in: '900' })],
    ['an array', Response.json([])],
  ])('%s: BrokerResponseError', async (_name, answer) => {
    await expect(client(fakeFetch(answer)).getAccessToken()).rejects.toMatchObject({ name: 'BrokerResponseError', code: 'ERR_BROKER_RESPONSE_INVALID', status: 200 });
  });
});
