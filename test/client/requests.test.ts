/** The exact request each credential kind sends, and options refused at construction. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader, exportJWK, exportPKCS8, generateKeyPair, jwtVerify } from 'jose';
import { BrokerTokenClient, SubjectTokenError } from '../../client/src/index';
import { BROKER, fakeFetch, tokenAnswer } from './fake-fetch';

const FORM_HEADERS = { 'content-type': 'application/x-www-form-urlencoded' };

async function firstRequest(options: Omit<ConstructorParameters<typeof BrokerTokenClient>[0], 'fetch' | 'brokerUrl'> & { brokerUrl?: string }, ...extra: Response[]) {
  const broker = fakeFetch(...extra, tokenAnswer());
  await new BrokerTokenClient({ brokerUrl: BROKER, fetch: broker.fetch, ...options }).getAccessToken();
  return { request: broker.requests.at(-1)!, all: broker.requests };
}

describe('token exchange', () => {
  it('a string subject token, with audience, scope and requested token type', async () => {
    const { request } = await firstRequest({
      credential: { kind: 'subject_token', subjectToken: ' eyJ.a.b\n' },
      audience: 'demo-gemini',
      scope: ['https://www.googleapis.com/auth/cloud-platform', 'https://www.googleapis.com/auth/generative-language'],
      requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
      lifetimeSeconds: 600,
    });
    expect(request.url).toBe(`${BROKER}/token`);
    expect(request.init).toMatchObject({ method: 'POST', credentials: 'omit', redirect: 'error' });
    expect(request.headers.get('content-type')).toBe(FORM_HEADERS['content-type']);
    expect(request.headers.has('authorization')).toBe(false);
    expect(Object.fromEntries(request.form)).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      subject_token: 'eyJ.a.b',
      audience: 'demo-gemini',
      scope: 'https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/generative-language',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      options: '{"lifetimeSeconds":600}',
    });
  });

  it('a function, called for every request', async () => {
    let calls = 0;
    const { request } = await firstRequest({ credential: { kind: 'subject_token', subjectToken: async () => `eyJ.call.${++calls}`, subjectTokenType: 'urn:ietf:params:oauth:token-type:id_token' } });
    expect(request.form.get('subject_token')).toBe('eyJ.call.1');
    expect(request.form.get('subject_token_type')).toBe('urn:ietf:params:oauth:token-type:id_token');
  });

  it('a URL, fetched with GET and its headers; a JSON member with jsonField', async () => {
    const { all } = await firstRequest(
      { credential: { kind: 'subject_token', subjectToken: { url: 'http://metadata.test/token?audience=x', headers: { 'Metadata-Flavor': 'Google' }, jsonField: 'value' } } },
      Response.json({ value: 'eyJ.from.url' }),
    );
    expect(all[0]).toMatchObject({ url: 'http://metadata.test/token?audience=x', init: { method: 'GET' } });
    expect(all[0]!.headers.get('metadata-flavor')).toBe('Google');
    expect(all[1]!.form.get('subject_token')).toBe('eyJ.from.url');
  });

  it('a file (Node entry), read for every request', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'client-')), 'token');
    writeFileSync(file, 'eyJ.from.file\n');
    const { request } = await firstRequest({ credential: { kind: 'subject_token', subjectToken: { file } } });
    expect(request.form.get('subject_token')).toBe('eyJ.from.file');
  });

  it.each([
    ['a missing file', { file: '/nonexistent/token' }, []],
    ['a URL answering 404', { url: 'http://metadata.test/token' }, [new Response('no', { status: 404 })]],
    ['a URL answering JSON without the member', { url: 'http://metadata.test/token', jsonField: 'value' }, [Response.json({ other: 'x' })]],
    ['a URL answering JSON with __proto__', { url: 'http://metadata.test/token', jsonField: '__proto__' }, [new Response('{}')]],
    ['a function that throws', () => { throw new Error('no token'); }, []],
    ['a function giving whitespace', () => '  \n', []],
  ])('%s: SubjectTokenError, nothing sent to the broker', async (_name, subjectToken, before) => {
    const broker = fakeFetch(...(before as Response[]), tokenAnswer());
    const tokens = new BrokerTokenClient({ brokerUrl: BROKER, fetch: broker.fetch, credential: { kind: 'subject_token', subjectToken: subjectToken as never } });
    const error = await tokens.getAccessToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SubjectTokenError);
    expect(error).toMatchObject({ code: 'ERR_SUBJECT_TOKEN_UNAVAILABLE' });
    expect(broker.requests.filter((r) => r.url.startsWith(BROKER))).toHaveLength(0);
  });
});

describe('client credentials', () => {
  it('client_secret_basic: id and secret form-encoded, then base64 (RFC 6749 §2.3.1)', async () => {
    const { request } = await firstRequest({ credential: { kind: 'client_secret', clientId: 'billing:export', clientSecret: 'tbs_a+b%c d' }, scope: 'https://www.googleapis.com/auth/bigquery' });
    expect(request.headers.get('authorization')).toBe(`Basic ${Buffer.from('billing%3Aexport:tbs_a%2Bb%25c+d').toString('base64')}`);
    expect(Object.fromEntries(request.form)).toEqual({ grant_type: 'client_credentials', scope: 'https://www.googleapis.com/auth/bigquery' });
  });

  it('private_key_jwt: a fresh signed assertion per request (new jti), aud the issuer URL', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const broker = fakeFetch(tokenAnswer('ya29.1'), tokenAnswer('ya29.2'));
    const tokens = new BrokerTokenClient({
      brokerUrl: 'http://127.0.0.1:8080',
      issuerUrl: 'https://broker.example.test/',
      fetch: broker.fetch,
      credential: { kind: 'private_key_jwt', clientId: 'nightly-report', privateKey: await exportPKCS8(privateKey), algorithm: 'ES256', keyId: 'k1' },
    });
    await tokens.getAccessToken();
    tokens.invalidate();
    await tokens.getAccessToken();
    const assertions = broker.requests.map((r) => {
      expect(r.url).toBe('http://127.0.0.1:8080/token');
      expect(r.form.get('grant_type')).toBe('client_credentials');
      expect(r.form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      return r.form.get('client_assertion')!;
    });
    for (const assertion of assertions) {
      const { payload } = await jwtVerify(assertion, publicKey, { issuer: 'nightly-report', subject: 'nightly-report', audience: 'https://broker.example.test', algorithms: ['ES256'] });
      expect(payload.exp! - payload.iat!).toBe(60);
      expect(decodeProtectedHeader(assertion)).toEqual({ alg: 'ES256', typ: 'JWT', kid: 'k1' });
      expect(typeof payload.aud).toBe('string');
    }
    expect(decodeJwt(assertions[0]!).jti).not.toBe(decodeJwt(assertions[1]!).jti);
  });

  it('private_key_jwt with a JWK and each retry signs anew', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = await exportJWK(privateKey);
    const broker = fakeFetch(Response.json({ error: 'temporarily_unavailable', error_description: 'replay store' }, { status: 503, headers: { 'retry-after': '0' } }), tokenAnswer());
    await new BrokerTokenClient({ brokerUrl: BROKER, fetch: broker.fetch, credential: { kind: 'private_key_jwt', clientId: 'c', privateKey: jwk, algorithm: 'RS256' } }).getAccessToken();
    const [a, b] = broker.requests.map((r) => decodeJwt(r.form.get('client_assertion')!).jti);
    expect(a).toBeDefined();
    expect(a).not.toBe(b);
  });

  it('client_secret_post: client_id and client_secret in the form body, no Authorization header', async () => {
    const { request } = await firstRequest({ credential: { kind: 'client_secret', clientId: 'billing:export', clientSecret: 'tbs_a+b%c d', authMethod: 'client_secret_post' }, audience: 'billing' });
    expect(request.headers.has('authorization')).toBe(false);
    expect(request.url).toBe(`${BROKER}/token`);
    expect(Object.fromEntries(request.form)).toEqual({ grant_type: 'client_credentials', client_id: 'billing:export', client_secret: 'tbs_a+b%c d', audience: 'billing' });
  });

  it("client_secret_basic is the default, and can be named", async () => {
    const { request } = await firstRequest({ credential: { kind: 'client_secret', clientId: 'a', clientSecret: 'b', authMethod: 'client_secret_basic' } });
    expect(request.headers.get('authorization')).toBe(`Basic ${Buffer.from('a:b').toString('base64')}`);
    expect(request.form.has('client_secret')).toBe(false);
  });

  it('api key: the x-goog-api-key header, never the URL', async () => {
    const { request } = await firstRequest({ credential: { kind: 'api_key', apiKey: 'tbk_secret' }, audience: 'web-dashboard' });
    expect(request.url).toBe(`${BROKER}/token`);
    expect(request.headers.get('x-goog-api-key')).toBe('tbk_secret');
    expect(Object.fromEntries(request.form)).toEqual({ grant_type: 'client_credentials', audience: 'web-dashboard' });
  });
});

describe('the jwt-bearer grant (RFC 7523 §2.1)', () => {
  it('grant_type jwt-bearer and a signed assertion: iss = sub = the client id, aud the issuer URL, no client authentication', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const { request } = await firstRequest({
      brokerUrl: 'http://127.0.0.1:8080',
      issuerUrl: 'https://broker.example.test',
      credential: { kind: 'jwt_bearer', clientId: 'nightly-report', privateKey, algorithm: 'ES256', keyId: 'k1', assertionLifetimeSeconds: 120 },
      scope: 'https://www.googleapis.com/auth/bigquery',
      audience: 'reports',
      lifetimeSeconds: 300,
    });
    expect(request.url).toBe('http://127.0.0.1:8080/token');
    expect(request.headers.has('authorization')).toBe(false);
    const { assertion, ...rest } = Object.fromEntries(request.form);
    expect(rest).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      scope: 'https://www.googleapis.com/auth/bigquery',
      audience: 'reports',
      options: '{"lifetimeSeconds":300}',
    });
    const { payload } = await jwtVerify(assertion!, publicKey, { issuer: 'nightly-report', subject: 'nightly-report', audience: 'https://broker.example.test', algorithms: ['ES256'] });
    expect(payload.aud).toBe('https://broker.example.test');
    expect(payload.exp! - payload.iat!).toBe(120);
    expect(decodeProtectedHeader(assertion!)).toEqual({ alg: 'ES256', typ: 'JWT', kid: 'k1' });
  });

  it('a fresh assertion (new jti) for every attempt: retries and refreshes; PEM imported once', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const broker = fakeFetch(Response.json({ error: 'temporarily_unavailable', error_description: 'replay store' }, { status: 503, headers: { 'retry-after': '0' } }), tokenAnswer('ya29.1'), tokenAnswer('ya29.2'));
    const tokens = new BrokerTokenClient({ brokerUrl: BROKER, fetch: broker.fetch, credential: { kind: 'jwt_bearer', clientId: 'c', privateKey: await exportPKCS8(privateKey), algorithm: 'RS256' } });
    await tokens.getAccessToken();
    await tokens.getToken({ forceRefresh: true });
    const jtis = broker.requests.map((r) => {
      expect(r.form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
      expect(r.form.has('client_assertion')).toBe(false);
      return decodeJwt(r.form.get('assertion')!).jti;
    });
    expect(jtis).toHaveLength(3);
    expect(new Set(jtis).size).toBe(3);
    expect(decodeJwt(broker.requests[0]!.form.get('assertion')!).aud).toBe(BROKER);
  });
});

describe('the sign-in session', () => {
  it('POST /v1/session/token?app=ID with the cookie and the CSRF header, no body', async () => {
    const broker = fakeFetch(Response.json({ access_token: 'ya29.user', token_type: 'Bearer', expires_in: 3599, scope: 'openid email' }));
    const token = await new BrokerTokenClient({ brokerUrl: BROKER, fetch: broker.fetch, credential: { kind: 'session', app: 'demo web' } }).getToken();
    const request = broker.requests[0]!;
    expect(request.url).toBe(`${BROKER}/v1/session/token?app=demo%20web`);
    expect(request.init).toMatchObject({ method: 'POST', credentials: 'include' });
    expect(request.init.body).toBeUndefined();
    expect(request.headers.get('x-token-broker-csrf')).toBe('1');
    expect(token).toMatchObject({ accessToken: 'ya29.user', issuedTokenType: undefined, scopes: ['openid', 'email'] });
  });
});

describe('misconfiguration is a TypeError at construction', () => {
  const credential = { kind: 'subject_token', subjectToken: 'eyJ.a.b' } as const;
  const make = (options: Record<string, unknown>) => () => new BrokerTokenClient({ brokerUrl: BROKER, credential, fetch: fakeFetch().fetch, ...options } as never);

  it.each([
    ['plain http to another host', { brokerUrl: 'http://broker.example.test' }],
    ['a relative URL', { brokerUrl: '/token' }],
    ['a URL with a query', { brokerUrl: 'https://broker.example.test/?key=x' }],
    ['a URL with credentials', { brokerUrl: 'https://user:pw@broker.example.test' }],
    ['no credential', { credential: undefined }],
    ['an unknown credential kind', { credential: { kind: 'password' } }],
    ['a client secret without its secret', { credential: { kind: 'client_secret', clientId: 'a', clientSecret: '' } }],
    ['requestedTokenType with client credentials', { credential: { kind: 'api_key', apiKey: 'k' }, requestedTokenType: 'urn:ietf:params:oauth:token-type:id_token' }],
    ['scope with a session', { credential: { kind: 'session', app: 'a' }, scope: 'openid' }],
    ['an empty scope list', { scope: [] }],
    ['lifetimeSeconds below 60', { lifetimeSeconds: 30 }],
    ['a negative refresh margin', { refreshMarginSeconds: -1 }],
    ['zero attempts', { retry: { maxAttempts: 0 } }],
    ['jwt_bearer without an algorithm', { credential: { kind: 'jwt_bearer', clientId: 'c', privateKey: 'pem' } }],
    ['jwt_bearer without a key', { credential: { kind: 'jwt_bearer', clientId: 'c', algorithm: 'ES256' } }],
    ['jwt_bearer with requestedTokenType', { credential: { kind: 'jwt_bearer', clientId: 'c', privateKey: 'pem', algorithm: 'ES256' }, requestedTokenType: 'urn:ietf:params:oauth:token-type:id_token' }],
    ['an unknown client secret method', { credential: { kind: 'client_secret', clientId: 'a', clientSecret: 'b', authMethod: 'client_secret_jwt' } }],
    ['assertion lifetime over an hour', { credential: { kind: 'private_key_jwt', clientId: 'c', privateKey: 'pem', algorithm: 'ES256', assertionLifetimeSeconds: 7200 } }],
  ])('%s', (_name, options) => {
    expect(make(options)).toThrow(TypeError);
  });

  it.each([0, 1, -1, true, false, null, [], '', '__proto__'])('hostile brokerUrl %j', (value) => {
    expect(make({ brokerUrl: value })).toThrow(TypeError);
  });

  it('a loopback http broker (development) is accepted, and a trailing slash dropped', async () => {
    const { request } = await firstRequest({ brokerUrl: 'http://127.0.0.1:8080/', credential });
    expect(request.url).toBe('http://127.0.0.1:8080/token');
  });
});
