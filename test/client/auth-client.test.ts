/**
 * BrokerAuthClient on its own: the AuthClient surface Google's libraries call (getAccessToken,
 * getRequestHeaders, request) with the broker faked (the token client's fetch) and the Google
 * API faked (gaxios's fetchImplementation). No sockets.
 */
import { Readable } from 'node:stream';
import { BrokerAbortError, BrokerTokenClient } from '../../client/src/index';
import { BrokerAuthClient, type AuthClientOptions } from '../../client/src/google-auth';
import { BROKER, errorAnswer, fakeFetch, tokenAnswer, type FakeFetch } from './fake-fetch';

const API = 'https://aiplatform.googleapis.com/v1/projects/p/locations/l/publishers/google/models/m:generateContent';

function setup(brokerScript: Response[], apiScript: Response[] = [Response.json({ ok: true })], options: AuthClientOptions = {}) {
  const broker = fakeFetch(...brokerScript);
  const api = fakeFetch(...apiScript);
  const tokens = new BrokerTokenClient({ brokerUrl: BROKER, credential: { kind: 'subject_token', subjectToken: 'eyJ.subject.token' }, fetch: broker.fetch });
  const authClient = new BrokerAuthClient(tokens, { ...options, transporterOptions: { fetchImplementation: api.fetch } });
  return { broker, api, tokens, authClient };
}

const bearer = (api: FakeFetch) => api.requests.map((r) => r.headers.get('authorization'));

describe('getAccessToken', () => {
  it("the broker's token, { token, res: null }; cached between calls", async () => {
    const { authClient, broker } = setup([tokenAnswer('ya29.one')]);
    expect(await authClient.getAccessToken()).toEqual({ token: 'ya29.one', res: null });
    expect(await authClient.getAccessToken()).toEqual({ token: 'ya29.one', res: null });
    expect(broker.requests).toHaveLength(1);
  });

  it("mirrors the token into credentials and emits 'tokens' once per new token", async () => {
    const { authClient, tokens } = setup([tokenAnswer('ya29.one', 900), tokenAnswer('ya29.two', 900)]);
    const emitted: unknown[] = [];
    authClient.on('tokens', (credentials) => emitted.push(credentials));
    await authClient.getAccessToken();
    await authClient.getAccessToken();
    expect(authClient.credentials).toMatchObject({ access_token: 'ya29.one', token_type: 'Bearer', scope: 'https://www.googleapis.com/auth/cloud-platform', expiry_date: expect.any(Number) });
    tokens.invalidate();
    await authClient.getAccessToken();
    expect(emitted).toEqual([expect.objectContaining({ access_token: 'ya29.one' }), expect.objectContaining({ access_token: 'ya29.two' })]);
  });

  it("a broker refusal is the token client's typed error", async () => {
    const { authClient } = setup([errorAnswer(403, 'access_denied', 'no rule matched')]);
    await expect(authClient.getAccessToken()).rejects.toMatchObject({ code: 'ERR_BROKER_REFUSED', status: 403, error: 'access_denied' });
  });

  it('shares the cache of a BrokerTokenClient passed in; builds its own from options', async () => {
    const { authClient, tokens, broker } = setup([tokenAnswer('ya29.shared')]);
    expect(authClient.tokens).toBe(tokens);
    await tokens.getAccessToken();
    expect((await authClient.getAccessToken()).token).toBe('ya29.shared');
    expect(broker.requests).toHaveLength(1);

    const own = fakeFetch(tokenAnswer('ya29.own'));
    const fromOptions = new BrokerAuthClient({ brokerUrl: BROKER, credential: { kind: 'api_key', apiKey: 'tbk_x' }, fetch: own.fetch });
    expect((await fromOptions.getAccessToken()).token).toBe('ya29.own');
    expect(own.requests[0]!.headers.get('x-goog-api-key')).toBe('tbk_x');
  });
});

describe('getRequestHeaders', () => {
  it('authorization: Bearer, and nothing else by default', async () => {
    const { authClient } = setup([tokenAnswer('ya29.one')]);
    const headers = await authClient.getRequestHeaders('https://example.googleapis.com/x');
    expect(Object.fromEntries(headers)).toEqual({ authorization: 'Bearer ya29.one' });
  });

  it('x-goog-user-project with a quota project', async () => {
    const { authClient } = setup([tokenAnswer('ya29.one')], undefined, { quotaProjectId: 'acme-billing' });
    const headers = await authClient.getRequestHeaders();
    expect(Object.fromEntries(headers)).toEqual({ authorization: 'Bearer ya29.one', 'x-goog-user-project': 'acme-billing' });
  });
});

describe('request', () => {
  it("sends the caller's request with the Bearer token and keeps its headers", async () => {
    const { authClient, api } = setup([tokenAnswer('ya29.one')], [Response.json({ candidates: [] })]);
    const response = await authClient.request<{ candidates: unknown[] }>({ url: API, method: 'POST', data: { contents: [] }, headers: { 'x-custom': '1' } });
    expect(response.status).toBe(200);
    expect(response.data).toEqual({ candidates: [] });
    expect(api.requests[0]!.url).toBe(API);
    expect(api.requests[0]!.headers.get('authorization')).toBe('Bearer ya29.one');
    expect(api.requests[0]!.headers.get('x-custom')).toBe('1');
  });

  it('on 401: a fresh token from the broker and the request once more', async () => {
    const { authClient, api, broker } = setup([tokenAnswer('ya29.revoked'), tokenAnswer('ya29.fresh')], [Response.json({ error: { code: 401 } }, { status: 401 }), Response.json({ ok: true })]);
    const response = await authClient.request({ url: API, method: 'POST', data: { a: 1 } });
    expect(response.status).toBe(200);
    expect(bearer(api)).toEqual(['Bearer ya29.revoked', 'Bearer ya29.fresh']);
    expect(broker.requests).toHaveLength(2);
    expect(api.requests[1]!.init.body).toBe(api.requests[0]!.init.body);
  });

  it('a second 401 is surfaced: one retry only', async () => {
    const { authClient, api, broker } = setup([tokenAnswer('ya29.a'), tokenAnswer('ya29.b'), tokenAnswer('ya29.c')], [Response.json({ error: { code: 401 } }, { status: 401 })]);
    await expect(authClient.request({ url: API })).rejects.toMatchObject({ response: { status: 401 } });
    expect(bearer(api)).toEqual(['Bearer ya29.a', 'Bearer ya29.b']);
    expect(broker.requests).toHaveLength(2);
  });

  it('403 is not retried, unless forceRefreshOnFailure', async () => {
    const plain = setup([tokenAnswer('ya29.a'), tokenAnswer('ya29.b')], [Response.json({}, { status: 403 }), Response.json({ ok: true })]);
    await expect(plain.authClient.request({ url: API })).rejects.toMatchObject({ response: { status: 403 } });
    expect(plain.api.requests).toHaveLength(1);

    const forced = setup([tokenAnswer('ya29.a'), tokenAnswer('ya29.b')], [Response.json({}, { status: 403 }), Response.json({ ok: true })], { forceRefreshOnFailure: true });
    expect((await forced.authClient.request({ url: API })).status).toBe(200);
    expect(bearer(forced.api)).toEqual(['Bearer ya29.a', 'Bearer ya29.b']);
  });

  it('other failures (500) are not retried and keep the token', async () => {
    const { authClient, api, broker } = setup([tokenAnswer('ya29.a')], [Response.json({}, { status: 500 })]);
    await expect(authClient.request({ url: API, retry: false })).rejects.toMatchObject({ response: { status: 500 } });
    expect(api.requests).toHaveLength(1);
    expect(broker.requests).toHaveLength(1);
  });

  it('a stream body is not resent after a 401', async () => {
    const { authClient, api } = setup([tokenAnswer('ya29.a'), tokenAnswer('ya29.b')], [Response.json({}, { status: 401 }), Response.json({ ok: true })]);
    await expect(authClient.request({ url: API, method: 'POST', data: Readable.from(['chunk']) })).rejects.toMatchObject({ response: { status: 401 } });
    expect(api.requests).toHaveLength(1);
  });

  it('an aborted signal on the request: BrokerAbortError before anything is sent', async () => {
    const { authClient, api, broker } = setup([tokenAnswer('ya29.a')]);
    await expect(authClient.request({ url: API, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(BrokerAbortError);
    expect(api.requests).toHaveLength(0);
    expect(broker.requests).toHaveLength(0);
  });
});
