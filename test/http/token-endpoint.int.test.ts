/**
 * The token endpoint over HTTP on 127.0.0.1: the real Functions Framework server, the real
 * broker core, jose against a live JWKS, google-auth-library against the IAM emulator.
 */
import { gzipSync } from 'node:zlib';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_GEMINI_EPHEMERAL, TOKEN_TYPE_ID_TOKEN } from '../../shared/oauth-uris';
import { b64url, forgeJws, nowSeconds } from '../helpers/forge';
import { closedPort } from '../helpers/net';
import { answer, exchangeForm, FORM, post, type Answer } from '../helpers/http';
import { CLOUD_PLATFORM, DEPLOYER, GENERATIVE_LANGUAGE, READER, STORAGE_READ, testPolicy } from './policy-fixture';

let stack: DevStack;
let deadIssuer: string;


beforeAll(async () => {
  deadIssuer = `http://127.0.0.1:${await closedPort()}`;
  stack = await startDevStack({
    // Every request mints here, so upstream behaviour is observable; the cache has its own tests.
    env: { BROKER_CACHE: 'none' },
    policyText: (urls) =>
      testPolicy(urls, `  - issuer: "${deadIssuer}"\n    audiences: ["${urls.broker}"]\n    jwks_uri: "${deadIssuer}/jwks"\n`),
  });
  await stack.broker;
});
afterAll(() => stack.close());
afterEach(() => stack.google.faults.clear());

const mainClaims = () => ({ sub: 'repo:acme/app:ref:refs/heads/main', aud: stack.url, repository: 'acme/app', ref: 'refs/heads/main' });
const validToken = (claims: Record<string, unknown> = {}) => stack.issuer.sign({ ...mainClaims(), ...claims });
const exchange = async (token: string, extra: Record<string, string> = {}) => post(stack.tokenUrl, exchangeForm(token, extra));

function expectNoStore(res: Answer): void {
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('pragma')).toBe('no-cache');
}

function expectError(res: Answer, status: number, error: string): void {
  expect({ status: res.status, error: res.body.error }).toEqual({ status, error });
  expect(Object.keys(res.body).sort()).toEqual(['error', 'error_description']);
  expect(typeof res.body.error_description).toBe('string');
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expectNoStore(res);
}

describe('acceptance', () => {
  it('exchanges a valid token for a Google access token from IAM Credentials', async () => {
    const res = await exchange(await validToken());
    expect(res.status).toBe(200);
    expectNoStore(res);
    expect(res.body).toMatchObject({ issued_token_type: TOKEN_TYPE_ACCESS_TOKEN, token_type: 'Bearer' });
    const issued = stack.google.lookup(String(res.body.access_token));
    expect(issued).toMatchObject({ kind: 'impersonated', serviceAccount: DEPLOYER });
    expect([...(issued?.scopes ?? [])].sort()).toEqual([CLOUD_PLATFORM, GENERATIVE_LANGUAGE].sort());
    expect(res.body.scope).toBe([CLOUD_PLATFORM, GENERATIVE_LANGUAGE].sort().join(' '));
  });

  it('reports the true remaining lifetime, clamped to the rule maximum', async () => {
    const res = await exchange(await validToken());
    const issued = stack.google.lookup(String(res.body.access_token));
    const remaining = Math.floor(((issued?.expiresAt ?? 0) - Date.now()) / 1000);
    expect(res.body.expires_in).toBeLessThanOrEqual(900);
    expect(Math.abs(Number(res.body.expires_in) - remaining)).toBeLessThanOrEqual(2);
    expect(Number(res.body.expires_in)).toBeGreaterThan(890);
  });

  it('grants only the requested subset of the rule scopes', async () => {
    const res = await exchange(await validToken(), { scope: GENERATIVE_LANGUAGE });
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe(GENERATIVE_LANGUAGE);
    expect(stack.google.lookup(String(res.body.access_token))?.scopes).toEqual([GENERATIVE_LANGUAGE]);
  });

  it('clamps a requested lifetime above the rule maximum and honours a shorter one', async () => {
    const long = await exchange(await validToken(), { options: JSON.stringify({ lifetimeSeconds: 7200 }) });
    expect(long.status).toBe(200);
    expect(Number(long.body.expires_in)).toBeLessThanOrEqual(900);
    const short = await exchange(await validToken(), { options: JSON.stringify({ lifetimeSeconds: 120 }) });
    expect(short.status).toBe(200);
    expect(Number(short.body.expires_in)).toBeLessThanOrEqual(120);
    expect(Number(short.body.expires_in)).toBeGreaterThan(110);
    const sent = stack.google.requests.filter((r) => r.path.endsWith(':generateAccessToken')).map((r) => JSON.parse(r.body).lifetime);
    expect(sent).toEqual(expect.arrayContaining(['900s', '120s']));
  });

  it('accepts the id_token subject token type and the /v1/token alias', async () => {
    const res = await post(`${stack.url}/v1/token`, exchangeForm(await validToken(), { subject_token_type: TOKEN_TYPE_ID_TOKEN }));
    expect(res.status).toBe(200);
    expect(stack.google.lookup(String(res.body.access_token))?.serviceAccount).toBe(DEPLOYER);
  });

  it('takes the first matching rule in document order', async () => {
    const res = await exchange(await validToken({ ref: 'refs/heads/feature' }));
    expect(res.status).toBe(200);
    expect(stack.google.lookup(String(res.body.access_token))?.serviceAccount).toBe(READER);
    expect(res.body.scope).toBe(STORAGE_READ);
  });

  it('lets audience name a rule (by id or service account) or the broker itself', async () => {
    const byId = await exchange(await validToken(), { audience: 'any-branch' });
    expect(stack.google.lookup(String(byId.body.access_token))?.serviceAccount).toBe(READER);
    const bySa = await exchange(await validToken(), { audience: READER });
    expect(stack.google.lookup(String(bySa.body.access_token))?.serviceAccount).toBe(READER);
    const broker = await exchange(await validToken(), { audience: stack.url });
    expect(stack.google.lookup(String(broker.body.access_token))?.serviceAccount).toBe(DEPLOYER);
  });

  it('passes the rule delegates and lifetime to IAM Credentials in Google wire format', async () => {
    const before = stack.google.requests.length;
    await exchange(await validToken(), { scope: CLOUD_PLATFORM });
    const sent = stack.google.requests.slice(before).find((r) => r.path.endsWith(':generateAccessToken'));
    expect(sent?.path).toBe(`/v1/projects/-/serviceAccounts/${DEPLOYER}:generateAccessToken`);
    expect(JSON.parse(sent?.body ?? '{}')).toEqual({ delegates: [], scope: [CLOUD_PLATFORM], lifetime: '900s' });
  });
});

describe('rejected subject tokens', () => {
  const key = () => stack.issuer.signingKey();
  const header = (extra: object = {}) => ({ alg: 'RS256', typ: 'JWT', kid: key().kid, ...extra });
  const payload = (extra: object = {}) => ({ iss: stack.issuer.issuer, iat: nowSeconds(), exp: nowSeconds() + 300, ...mainClaims(), ...extra });

  const cases: Array<[string, () => Promise<string> | string]> = [
    ['bad signature', () => forgeJws(header(), payload(), { kind: 'garbage' })],
    ['payload changed after signing', async () => {
      const [h, , s] = (await validToken()).split('.');
      return `${h}.${b64url(JSON.stringify(payload({ repository: 'acme/other' })))}.${s}`;
    }],
    ['unknown kid', () => forgeJws(header({ kid: 'no-such-key' }), payload(), { kind: 'rs256', key: key().privateKey })],
    ['wrong issuer', () => forgeJws(header(), payload({ iss: 'https://issuer.example.test' }), { kind: 'rs256', key: key().privateKey })],
    ['wrong audience', () => validToken({ aud: 'https://someone-else.example.test' })],
    ['expired', () => validToken({ iat: nowSeconds() - 600, exp: nowSeconds() - 120 })],
    ['nbf in the future', () => validToken({ nbf: nowSeconds() + 600 })],
    ['iat in the future', () => validToken({ iat: nowSeconds() + 600, exp: nowSeconds() + 900 })],
    ['missing exp', () => forgeJws(header(), { ...payload(), exp: undefined }, { kind: 'rs256', key: key().privateKey })],
    ['missing iat', () => forgeJws(header(), { ...payload(), iat: undefined }, { kind: 'rs256', key: key().privateKey })],
    ['exp 1e400 (Infinity)', () => forgeJws(header(), JSON.stringify(payload()).replace(/"exp":\d+/, '"exp":1e400'), { kind: 'rs256', key: key().privateKey })],
    ['exp as a float', () => forgeJws(header(), payload({ exp: nowSeconds() + 300.5 }), { kind: 'rs256', key: key().privateKey })],
    ['exp as a string', () => forgeJws(header(), payload({ exp: String(nowSeconds() + 300) }), { kind: 'rs256', key: key().privateKey })],
    ['validity window longer than allowed', () => validToken({ exp: nowSeconds() + 3 * 24 * 3600 })],
    ['issued too long ago', () => validToken({ iat: nowSeconds() - 2 * 3600, exp: nowSeconds() + 600 })],
    ['alg none', () => forgeJws({ alg: 'none', typ: 'JWT' }, payload(), { kind: 'none' })],
    ['alg none with a signature part', () => forgeJws({ alg: 'none', typ: 'JWT' }, payload(), { kind: 'garbage' })],
    ['HS256 keyed with the public key', () => forgeJws(header({ alg: 'HS256' }), payload(), { kind: 'hs256', secret: JSON.stringify(key().publicJwk) })],
    ['JWE (5 parts)', () => `${b64url('{"alg":"RSA-OAEP","enc":"A256GCM"}')}.${b64url('k')}.${b64url('iv')}.${b64url('ct')}.${b64url('tag')}`],
    ['whitespace inside the token', async () => (await validToken()).replace('.', '. ')],
    ['padding inside the signature', async () => `${await validToken()}==`],
    ['line break inside the token', async () => { const t = await validToken(); return `${t.slice(0, 40)}\n${t.slice(40)}`; }],
    ['sub is a number', () => validToken({ sub: 123 })],
    ['aud array with a non-string', () => validToken({ aud: [stack.url, 123] })],
    ['typ at+jwt (an access token)', () => stack.issuer.sign(mainClaims(), { header: { typ: 'at+jwt' } })],
    ['not a JWT at all', () => 'hello'],
    ['a payload repeating "sub"', () => forgeJws(header(), JSON.stringify(payload()).replace('{', '{"sub":"admin",'), { kind: 'rs256', key: key().privateKey })],
    ['a header repeating "alg"', () => forgeJws(`{"alg":"none",${JSON.stringify(header()).slice(1)}`, payload(), { kind: 'rs256', key: key().privateKey })],
    ['an unknown critical header', () => forgeJws(header({ crit: ['urn:example:unknown'], 'urn:example:unknown': true }), payload(), { kind: 'rs256', key: key().privateKey })],
    ['a header that is not JSON', async () => `${b64url('not json')}.${(await validToken()).split('.').slice(1).join('.')}`],
    ['untrusted issuer with a valid signature', () => forgeJws(header(), payload({ iss: 'https://token.actions.githubusercontent.com' }), { kind: 'rs256', key: key().privateKey })],
  ];

  it.each(cases)('%s → 400 invalid_grant', async (_name, make) => {
    const token = await make();
    const res = await exchange(token);
    expectError(res, 400, 'invalid_grant');
    expect(res.text).not.toContain(token);
    expect(stack.google.requests.filter((r) => r.path.includes(':generateAccessToken') && r.body.includes(token))).toHaveLength(0);
  });

  it('a token larger than the cap → 400 invalid_request', async () => {
    const res = await exchange(await validToken({ filler: 'x'.repeat(20_000) }));
    expectError(res, 400, 'invalid_request');
  });

  it('an issuer whose JWKS host is down → 503 temporarily_unavailable with Retry-After', async () => {
    const token = forgeJws({ alg: 'RS256', kid: 'k' }, { ...payload(), iss: deadIssuer }, { kind: 'rs256', key: key().privateKey });
    const res = await exchange(token);
    expectError(res, 503, 'temporarily_unavailable');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('policy decisions', () => {
  it('no rule matches → 403 access_denied', async () => {
    const res = await exchange(await validToken({ repository: 'acme/other' }));
    expectError(res, 403, 'access_denied');
  });

  it('a scope outside the matched rule → 400 invalid_scope', async () => {
    const res = await exchange(await validToken(), { scope: `${GENERATIVE_LANGUAGE} ${STORAGE_READ}` });
    expectError(res, 400, 'invalid_scope');
  });

  it('an unknown audience → 400 invalid_target', async () => {
    const res = await exchange(await validToken(), { audience: 'no-such-rule' });
    expectError(res, 400, 'invalid_target');
  });

  it('an audience naming a rule the caller does not match → 403 access_denied', async () => {
    const res = await exchange(await validToken({ ref: 'refs/heads/feature' }), { audience: 'main-branch' });
    expectError(res, 403, 'access_denied');
  });

  it('a lifetime below the minimum → 400 invalid_request', async () => {
    const res = await exchange(await validToken(), { options: '{"lifetimeSeconds":5}' });
    expectError(res, 400, 'invalid_request');
  });
});

describe('the HTTP edge', () => {
  it('refuses GET with 405 and Allow: POST', async () => {
    const res = await answer(await fetch(stack.tokenUrl));
    expectError(res, 405, 'invalid_request');
    expect(res.headers.get('allow')).toBe('POST');
  });

  it('refuses a JSON body', async () => {
    const res = await post(stack.tokenUrl, JSON.stringify(exchangeForm(await validToken())), { 'content-type': 'application/json' });
    expectError(res, 400, 'invalid_request');
  });

  it('refuses a missing content type', async () => {
    const res = await post(stack.tokenUrl, new URLSearchParams(exchangeForm(await validToken())).toString(), {});
    expectError(res, 400, 'invalid_request');
  });

  it('refuses duplicate parameters, in every form the framework would accept', async () => {
    const form = new URLSearchParams(exchangeForm(await validToken())).toString();
    for (const dup of ['scope=a&scope=b', `grant_type=${encodeURIComponent('urn:ietf:params:oauth:grant-type:token-exchange')}`, 'scop%65=a&scope=b']) {
      const res = await post(stack.tokenUrl, `${form}&${dup}`);
      expectError(res, 400, 'invalid_request');
    }
  });

  it('treats bracketed names as unknown parameters, never as arrays', async () => {
    const form = new URLSearchParams(exchangeForm(await validToken())).toString();
    const res = await post(stack.tokenUrl, `${form}&scope[]=${encodeURIComponent(STORAGE_READ)}`);
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe([CLOUD_PLATFORM, GENERATIVE_LANGUAGE].sort().join(' '));
  });

  it.each(['grant_type', 'subject_token', 'subject_token_type'])('refuses a request without %s', async (name) => {
    const form = exchangeForm(await validToken());
    delete form[name];
    expectError(await post(stack.tokenUrl, form), 400, 'invalid_request');
  });

  it('refuses an unsupported grant type', async () => {
    const res = await post(stack.tokenUrl, { grant_type: 'password', username: 'u', password: 'p' });
    expectError(res, 400, 'unsupported_grant_type');
  });

  it('refuses unsupported subject and requested token types', async () => {
    expectError(await exchange(await validToken(), { subject_token_type: TOKEN_TYPE_ACCESS_TOKEN }), 400, 'invalid_request');
    expectError(await exchange(await validToken(), { requested_token_type: 'urn:ietf:params:oauth:token-type:saml2' }), 400, 'invalid_request');
  });

  it('refuses malformed options', async () => {
    expectError(await exchange(await validToken(), { options: 'not json' }), 400, 'invalid_request');
    expectError(await exchange(await validToken(), { options: '{"accessBoundary":{}}' }), 400, 'invalid_request');
  });

  // RFC 6749 §5.2: "invalid, unknown, malformed, or exceeds the scope granted" is invalid_scope.
  it.each([
    ['a malformed scope', 'bad"scope'],
    ['a scope of spaces only', '  '],
    ['more than 32 scopes', Array.from({ length: 33 }, (_, i) => `s${i}`).join(' ')],
    ['the same scope twice', `${CLOUD_PLATFORM} ${CLOUD_PLATFORM}`],
  ])('refuses %s with 400 invalid_scope', async (_name, scope) => {
    expectError(await exchange(await validToken(), { scope }), 400, 'invalid_scope');
  });

  it('refuses two audience parameters with 400 invalid_target (RFC 8693 allows several; the broker serves one)', async () => {
    const form = new URLSearchParams(exchangeForm(await validToken())).toString();
    const res = await post(stack.tokenUrl, `${form}&audience=${encodeURIComponent(stack.url)}&audience=any-branch`);
    expectError(res, 400, 'invalid_target');
    expect(res.body.error_description).toBe('one audience per request');
  });

  it('accepts a subject token followed by a newline, as read from a token file', async () => {
    const res = await exchange(`${await validToken()}\n`);
    expect(res.status).toBe(200);
    expect(stack.google.lookup(String(res.body.access_token))?.serviceAccount).toBe(DEPLOYER);
  });

  it('refuses a subject token with a newline inside it', async () => {
    const [h, p, s] = (await validToken()).split('.');
    expectError(await exchange(`${h}.\n${p}.${s}`), 400, 'invalid_grant');
  });

  it('answers a preflight when the policy allows no origin with 403 access_denied as JSON, without CORS headers', async () => {
    const res = await answer(await fetch(stack.tokenUrl, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } }));
    expectError(res, 403, 'access_denied');
    expect(res.body.error_description).toMatch(/origin is not allowed/);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('vary')).toMatch(/Origin/);
  });

  it('refuses a body over 64 KiB with 413', async () => {
    const res = await post(stack.tokenUrl, `${new URLSearchParams(exchangeForm('x')).toString()}&pad=${'a'.repeat(70 * 1024)}`);
    expectError(res, 413, 'invalid_request');
  });

  it('refuses a gzip-encoded body', async () => {
    const body = gzipSync(new URLSearchParams(exchangeForm(await validToken())).toString());
    const res = await answer(await fetch(stack.tokenUrl, { method: 'POST', headers: { ...FORM, 'content-encoding': 'gzip' }, body }));
    expectError(res, 400, 'invalid_request');
  });

  it('answers unknown paths with 404 and an OAuth error body', async () => {
    const res = await answer(await fetch(`${stack.url}/nope`, { method: 'POST' }));
    expectError(res, 404, 'invalid_request');
  });
});

describe('upstream failures', () => {
  it('IAM unavailable after retries → 503 temporarily_unavailable with its Retry-After', async () => {
    stack.google.faults.failNext({ status: 503, count: Infinity, retryAfterSeconds: 7, match: 'generateAccessToken' });
    const res = await exchange(await validToken());
    expectError(res, 503, 'temporarily_unavailable');
    expect(res.headers.get('retry-after')).toBe('7');
  });

  it('one transient IAM failure is retried and the caller gets a token', async () => {
    stack.google.faults.failNext({ status: 503, count: 1, match: 'generateAccessToken' });
    const res = await exchange(await validToken());
    expect(res.status).toBe(200);
  });

  it('IAM permission denied → 500 server_error without upstream detail', async () => {
    stack.google.faults.failNext({ status: 403, count: Infinity, match: 'generateAccessToken' });
    const res = await exchange(await validToken());
    expectError(res, 500, 'server_error');
    expect(res.text).not.toMatch(/PERMISSION_DENIED|iam\.serviceAccounts/);
  });
});

describe('metadata', () => {
  it('serves RFC 8414 metadata naming the token endpoint, grant and token types', async () => {
    const res = await answer(await fetch(`${stack.url}/.well-known/oauth-authorization-server`));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      issuer: stack.url,
      token_endpoint: stack.tokenUrl,
      grant_types_supported: ['urn:ietf:params:oauth:grant-type:token-exchange', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'client_credentials'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      subject_token_types_supported: ['urn:ietf:params:oauth:token-type:jwt', TOKEN_TYPE_ID_TOKEN],
      issued_token_types_supported: [TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_GEMINI_EPHEMERAL],
    });
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH'])('refuses %s on the metadata endpoint with Allow: GET, HEAD', async (method) => {
    const res = await answer(await fetch(`${stack.url}/.well-known/oauth-authorization-server`, { method }));
    expectError(res, 405, 'invalid_request');
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });

  it('answers HEAD like GET, without a body', async () => {
    const res = await fetch(`${stack.url}/.well-known/oauth-authorization-server`, { method: 'HEAD' });
    expect({ status: res.status, type: res.headers.get('content-type'), body: await res.text() }).toEqual({ status: 200, type: expect.stringContaining('application/json'), body: '' });
  });

  it('keeps Allow: POST on the token endpoint', async () => {
    const res = await answer(await fetch(stack.tokenUrl, { method: 'GET' }));
    expectError(res, 405, 'invalid_request');
    expect(res.headers.get('allow')).toBe('POST');
  });
});
