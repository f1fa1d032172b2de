/**
 * Live answers against docs/openapi.yaml: drives the development composition with real
 * requests — successes and every error status each endpoint can be made to answer — and checks
 * each answer (status, media type, headers, JSON body) with test/openapi/check-response.ts, so
 * the document cannot drift from the broker. At the end, every (operation, status) the document
 * lists must have been seen, or be named in NOT_PROVOKED with the reason.
 *
 * The policy is the embedded development policy (dev/dev-policy.template.yaml: demo-gemini,
 * demo-gcs-readonly, demo-cloud-run, demo-gemini-live, the demo-web app) plus what the default
 * lacks to reach every answer: registered clients of each kind, a rate-limited client, CORS for
 * one origin and a session-token limit. A second stack with a policy that does not load answers
 * the 500s every endpoint gives then.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { DEV_WEB_CLIENT, DEV_WEB_CLIENT_SECRET, startDevStack, type DevStack } from '../../dev/dev-stack';
import { generateApiKey, generateClientSecret, parseApiKey } from '../../shared/identity/credential-format';
import { hashSecret } from '../../shared/identity/secret-hash';
import {
  GRANT_TYPE_CLIENT_CREDENTIALS, GRANT_TYPE_JWT_BEARER, TOKEN_TYPE_GEMINI_EPHEMERAL, TOKEN_TYPE_ID_TOKEN,
} from '../../shared/oauth-uris';
import { assertion, basic } from '../clients/client-fixture';
import { LineCapture } from '../helpers/capture';
import { exchangeForm, FORM } from '../helpers/http';
import { CookieBrowser } from '../helpers/sign-in';
import { awayFromMinuteEnd } from '../helpers/limits';
import { OpenApiSpec, type ObservedResponse } from './check-response';

const APP_ORIGIN = 'https://app.example.com';
const READ = 'https://www.googleapis.com/auth/devstorage.read_only';
const READER = 'reader@token-broker-dev.iam.gserviceaccount.com';
/** The emulated provider's access-token lifetime, shorter than the session's (3600 s) so a token can expire in a live session. */
const ACCESS_TOKEN_SECONDS = 600;
const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Documented answers this suite does not provoke, and why. Seen ones must not be listed. */
const NOT_PROVOKED: Record<string, string> = {
  'POST /v1/introspect 503': 'the record of issued tokens is in memory here; a Firestore outage is exercised in test/introspection/issued-tokens.int.test.ts',
  'GET /v1/login 503': 'the provider\'s discovery document cannot be faulted in the emulator, and Secret Manager is read only after the code comes back',
  'POST /v1/logout 503': 'the session vault is in memory here, and a failed revocation at the provider does not fail the logout',
  'HEAD /.well-known/oauth-authorization-server 500': 'the same handler as GET 500, which is provoked; fetch gives HEAD no body to compare',
};

const secrets = { reporter: generateClientSecret(), limited: generateClientSecret() };
const apiKey = generateApiKey();
let signerKey: CryptoKey;
let spec: OpenApiSpec;
let stack: DevStack;
let broken: DevStack;
let offsetMs = 0;
const audit = new LineCapture();

/** The embedded development policy, filled in as dev/dev-stack.ts does, plus `extend`'s changes. */
function developmentPolicy(urls: { issuer: string; broker: string; provider: string }, extend: (policy: Record<string, any>) => void): string {
  const text = readFileSync(join(__dirname, '..', '..', 'dev', 'dev-policy.template.yaml'), 'utf8')
    .replaceAll('{{DEMO_ISSUER}}', urls.issuer)
    .replaceAll('{{BROKER_URL}}', urls.broker)
    .replaceAll('{{SIGN_IN_PROVIDER}}', urls.provider)
    .replaceAll('{{DEV_WEB_CLIENT_ID}}', DEV_WEB_CLIENT.id)
    .replaceAll('{{DEV_WEB_CLIENT_SECRET}}', DEV_WEB_CLIENT_SECRET);
  const policy = parseYaml(text) as Record<string, any>;
  extend(policy);
  return stringifyYaml(policy);
}

beforeAll(async () => {
  spec = await OpenApiSpec.load();
  const signer = await generateKeyPair('ES256', { extractable: true });
  signerKey = signer.privateKey;
  const signerJwk = { ...(await exportJWK(signer.publicKey)), kid: 'signer-1' };
  const [reporterHash, limitedHash, keyHash] = await Promise.all([
    hashSecret(secrets.reporter), hashSecret(secrets.limited), hashSecret(parseApiKey(apiKey.key)?.secret ?? ''),
  ]);
  [stack, broken] = await Promise.all([
    startDevStack({
      auditTransport: audit,
      env: { BROKER_CACHE: 'none' },
      signIn: { accessTokenSeconds: ACCESS_TOKEN_SECONDS },
      now: () => Date.now() + offsetMs,
      resilience: { upstream: { attemptTimeoutMs: 400, retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 50, minAttemptMs: 50 } } },
      policyText: (urls) => developmentPolicy(urls, (policy) => {
        policy.clients = [
          { id: 'reporter', secrets: [{ hash: reporterHash }] },
          { id: 'limited', secrets: [{ hash: limitedHash }], limits: { requests_per_minute: 1 } },
          { id: 'signer', jwks: { keys: [signerJwk] }, algorithms: ['ES256'] },
          { id: 'bot', api_keys: [{ id: apiKey.id, hash: keyHash }] },
        ];
        policy.rules.push({
          id: 'clients-read', clients: ['reporter', 'signer', 'bot', 'limited'], condition: 'true',
          grant: { service_account: READER, scopes: [READ], max_lifetime_seconds: 600 },
        });
        policy.cors = { allowed_origins: [APP_ORIGIN] };
        policy.web_apps[0].limits = { requests_per_minute: 3 };
      }),
    }),
    startDevStack({ auditTransport: new LineCapture(), policyText: () => 'version: 1\nrules: not a list\n' }),
  ]);
  await stack.broker;
  await expect(broken.broker).rejects.toThrow();
});
afterAll(async () => {
  await Promise.all([stack?.close(), broken?.close()]);
});
afterEach(() => {
  offsetMs = 0;
  stack.google.faults.clear();
  stack.oauth.faults.clear();
});

interface Checked extends ObservedResponse {
  body: Record<string, unknown>;
}

/** Reads `res` and checks it against the document; the answer, body parsed. */
async function checked(method: string, url: string, res: Response): Promise<Checked> {
  const answer = { status: res.status, headers: res.headers, text: await res.text() };
  spec.expectMatches(method, url, answer);
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(answer.text) as Record<string, unknown>;
  } catch {
    /* no JSON body: the checker said whether one was documented */
  }
  return { ...answer, body };
}

async function send(method: string, url: string, init: RequestInit = {}): Promise<Checked> {
  return checked(method, url, await fetch(url, { ...init, method, redirect: 'manual' }));
}

const form = (fields: Record<string, string>, headers: Record<string, string> = {}): RequestInit => ({
  headers: { ...FORM, ...headers }, body: new URLSearchParams(fields).toString(),
});

/** A demo-issuer token the development policy's rules match (claims override). */
const subjectToken = (claims: Record<string, unknown> = {}) =>
  stack.issuer.sign({ sub: 'demo-workload', aud: stack.issuerUrl, repository: 'acme/demo', repository_owner: 'acme', ...claims });

/** The token endpoint's path the current `describe.each` block drives. */
let tokenPath = '/token';

async function tokenPost(fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Checked> {
  return send('POST', `${stack.url}${tokenPath}`, form(fields, headers));
}

async function expectError(answer: Checked, status: number, error: string): Promise<void> {
  expect({ status: answer.status, error: answer.body.error }).toEqual({ status, error });
}

describe.each(['/token', '/v1/token'])('POST %s', (path) => {
  beforeAll(() => {
    tokenPath = path;
  });
  const tokenUrl = () => `${stack.url}${path}`;

  it('200: an access token', async () => {
    const res = await tokenPost(exchangeForm(await subjectToken()));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', scope: expect.any(String) });
  });

  it('200: a downscoped access token, an ID token and a Gemini ephemeral token', async () => {
    const downscoped = await tokenPost(exchangeForm(await subjectToken(), { audience: 'demo-gcs-readonly' }));
    const idToken = await tokenPost(exchangeForm(await subjectToken(), { audience: 'demo-cloud-run', requested_token_type: TOKEN_TYPE_ID_TOKEN, resource: 'https://demo-service.example.run.app' }));
    const ephemeral = await tokenPost(exchangeForm(await subjectToken(), { audience: 'demo-gemini-live', requested_token_type: TOKEN_TYPE_GEMINI_EPHEMERAL }));
    expect([downscoped.status, idToken.status, ephemeral.status]).toEqual([200, 200, 200]);
    expect([idToken.body.token_type, ephemeral.body.token_type]).toEqual(['N_A', 'N_A']);
  });

  it('200: client credentials with each client authentication, and the jwt-bearer grant', async () => {
    const answers = await Promise.all([
      tokenPost({ grant_type: GRANT_TYPE_CLIENT_CREDENTIALS }, { authorization: basic('reporter', secrets.reporter) }),
      tokenPost({ grant_type: GRANT_TYPE_CLIENT_CREDENTIALS, client_id: 'reporter', client_secret: secrets.reporter }),
      tokenPost({ grant_type: GRANT_TYPE_CLIENT_CREDENTIALS, client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: await assertion(signerKey, 'signer', stack.issuerUrl) }),
      tokenPost({ grant_type: GRANT_TYPE_CLIENT_CREDENTIALS }, { 'x-goog-api-key': apiKey.key }),
      tokenPost({ grant_type: GRANT_TYPE_JWT_BEARER, assertion: await assertion(signerKey, 'signer', stack.issuerUrl) }),
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
  });

  it('200 from an allowed origin, with CORS headers', async () => {
    const res = await tokenPost(exchangeForm(await subjectToken()), { origin: APP_ORIGIN });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
  });

  it.each<[string, () => Promise<{ fields: Record<string, string>; headers?: Record<string, string>; body?: string }>, string]>([
    ['a wrong content type', async () => ({ fields: {}, headers: { 'content-type': 'application/json' }, body: '{}' }), 'invalid_request'],
    ['a missing subject_token', async () => ({ fields: { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' } }), 'invalid_request'],
    ['a repeated parameter', async () => ({ fields: {}, body: 'grant_type=client_credentials&grant_type=client_credentials' }), 'invalid_request'],
    ['an unknown grant type', async () => ({ fields: { grant_type: 'password' } }), 'unsupported_grant_type'],
    ['a subject token that is no JWT', async () => ({ fields: exchangeForm('not-a-jwt') }), 'invalid_grant'],
    ['a scope outside the rule', async () => ({ fields: exchangeForm(await subjectToken(), { scope: READ }) }), 'invalid_scope'],
    ['an audience that names nothing', async () => ({ fields: exchangeForm(await subjectToken(), { audience: 'no-such-rule' }) }), 'invalid_target'],
    ['an ID token the rule does not issue', async () => ({ fields: exchangeForm(await subjectToken(), { audience: 'demo-gemini', requested_token_type: TOKEN_TYPE_ID_TOKEN, resource: 'https://demo-service.example.run.app' }) }), 'invalid_target'],
  ])('400 for %s', async (_name, make, error) => {
    const { fields, headers = {}, body } = await make();
    const init = form(fields, headers);
    const res = await send('POST', tokenUrl(), body === undefined ? init : { ...init, body });
    await expectError(res, 400, error);
  });

  it('401: a wrong Basic secret (with WWW-Authenticate), and client_credentials without a client', async () => {
    const wrong = await tokenPost({ grant_type: GRANT_TYPE_CLIENT_CREDENTIALS }, { authorization: basic('reporter', generateClientSecret()) });
    await expectError(wrong, 401, 'invalid_client');
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic /);
    await expectError(await tokenPost({ grant_type: GRANT_TYPE_CLIENT_CREDENTIALS }), 401, 'invalid_client');
  });

  it('403: no rule matches, and an origin the policy does not list', async () => {
    await expectError(await tokenPost(exchangeForm(await subjectToken({ repository: 'acme/other' }))), 403, 'access_denied');
    await expectError(await tokenPost(exchangeForm(await subjectToken()), { origin: 'https://evil.example' }), 403, 'access_denied');
  });

  it('405: another method, and OPTIONS that is no preflight', async () => {
    const get = await send('GET', tokenUrl());
    await expectError(get, 405, 'invalid_request');
    expect(get.headers.get('allow')).toBe('POST');
    await expectError(await send('OPTIONS', tokenUrl()), 405, 'invalid_request');
  });

  it('413: a body over 64 KiB', async () => {
    await expectError(await tokenPost({ grant_type: GRANT_TYPE_CLIENT_CREDENTIALS, padding: 'x'.repeat(70 * 1024) }), 413, 'invalid_request');
  });

  it('429: a client over its requests per minute, with Retry-After', async () => {
    await awayFromMinuteEnd();
    const auth = { authorization: basic('limited', secrets.limited) };
    // One request a minute: the first may be answered (the other path's test may have spent it), the second is not.
    await tokenPost({ grant_type: GRANT_TYPE_CLIENT_CREDENTIALS }, auth);
    await expectError(await tokenPost({ grant_type: GRANT_TYPE_CLIENT_CREDENTIALS }, auth), 429, 'slow_down');
  });

  it('500: IAM refuses to mint', async () => {
    stack.google.faults.failNext({ status: 403, count: Infinity, match: 'generateAccessToken' });
    await expectError(await tokenPost(exchangeForm(await subjectToken())), 500, 'server_error');
  });

  it('503: IAM unavailable, with Retry-After', async () => {
    stack.google.faults.failNext({ status: 503, count: Infinity, retryAfterSeconds: 7, match: 'generateAccessToken' });
    const res = await tokenPost(exchangeForm(await subjectToken()));
    await expectError(res, 503, 'temporarily_unavailable');
  });

  it('500 on every method when the policy did not load', async () => {
    await expectError(await send('POST', `${broken.url}${path}`, form({ grant_type: GRANT_TYPE_CLIENT_CREDENTIALS })), 500, 'server_error');
    await expectError(await send('GET', `${broken.url}${path}`), 500, 'server_error');
    await expectError(await send('OPTIONS', `${broken.url}${path}`, { headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST' } }), 500, 'server_error');
  });
});

describe.each(['/token', '/v1/token'])('OPTIONS %s (CORS preflight)', (path) => {
  const preflight = (origin: string, method = 'POST') => send('OPTIONS', `${stack.url}${path}`, { headers: { origin, 'access-control-request-method': method } });

  it('204 for a listed origin and POST', async () => {
    const res = await preflight(APP_ORIGIN);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
  });

  it('403 for another origin, or another method', async () => {
    await expectError(await preflight('https://evil.example'), 403, 'access_denied');
    await expectError(await preflight(APP_ORIGIN, 'PUT'), 403, 'access_denied');
  });
});

describe('/.well-known/oauth-authorization-server', () => {
  const path = '/.well-known/oauth-authorization-server';

  it('200 for GET and HEAD', async () => {
    const get = await send('GET', `${stack.url}${path}`);
    expect(get.status).toBe(200);
    expect(get.body.issuer).toBe(stack.issuerUrl);
    expect((await send('HEAD', `${stack.url}${path}`)).status).toBe(200);
  });

  it('405 for another method, with Allow', async () => {
    const res = await send('POST', `${stack.url}${path}`);
    await expectError(res, 405, 'invalid_request');
  });

  it('500 when the policy did not load', async () => {
    await expectError(await send('GET', `${broken.url}${path}`), 500, 'server_error');
  });
});

describe('POST /v1/introspect', () => {
  const url = () => `${stack.url}/v1/introspect`;
  const reporter = () => ({ authorization: basic('reporter', secrets.reporter) });

  it('200: active for a token handed to the client, inactive for anything else', async () => {
    const issued = await tokenPost({ grant_type: GRANT_TYPE_CLIENT_CREDENTIALS }, reporter());
    const active = await send('POST', url(), form({ token: String(issued.body.access_token) }, reporter()));
    expect(active.body).toMatchObject({ active: true, client_id: 'reporter', scope: READ });
    const inactive = await send('POST', url(), form({ token: 'ya29.never-issued' }, reporter()));
    expect(inactive.body).toEqual({ active: false });
  });

  it('400 without a token', async () => {
    await expectError(await send('POST', url(), form({}, reporter())), 400, 'invalid_request');
  });

  it('401 without client authentication, and with a wrong secret', async () => {
    await expectError(await send('POST', url(), form({ token: 'x' })), 401, 'invalid_client');
    await expectError(await send('POST', url(), form({ token: 'x', client_id: 'reporter', client_secret: generateClientSecret() })), 401, 'invalid_client');
  });

  it('405 for another method', async () => {
    await expectError(await send('GET', url()), 405, 'invalid_request');
  });

  it('413 for a body over 64 KiB', async () => {
    await expectError(await send('POST', url(), form({ token: 'x'.repeat(70 * 1024) }, reporter())), 413, 'invalid_request');
  });

  it("429 over the client's requests per minute", async () => {
    await awayFromMinuteEnd();
    const auth = { authorization: basic('limited', secrets.limited) };
    const answers = [await send('POST', url(), form({ token: 'x' }, auth)), await send('POST', url(), form({ token: 'x' }, auth))];
    await expectError(answers[1] as Checked, 429, 'slow_down');
  });

  it('500 when the policy did not load', async () => {
    await expectError(await send('POST', `${broken.url}/v1/introspect`, form({ token: 'x' })), 500, 'server_error');
  });
});

describe('user sign-in', () => {
  const loginUrl = (query: string) => `${stack.url}/v1/login?${query}`;

  /** A browser signed in to demo-web as demo user `user`, every step checked. */
  async function signedIn(user = 0): Promise<CookieBrowser> {
    const browser = new CookieBrowser(stack);
    const login = await checked('GET', loginUrl('app=demo-web'), await browser.login());
    expect(login.status).toBe(302);
    const back = await browser.consent(login.headers.get('location') ?? '', user);
    const callbackUrl = back.headers.get('location') ?? '';
    const done = await checked('GET', callbackUrl, await browser.go(callbackUrl));
    expect(done.status).toBe(302);
    return browser;
  }

  /** Login and consent, stopping at the provider's redirect back: the callback URL. */
  async function atCallback(user: number | 'cancel' = 0): Promise<{ browser: CookieBrowser; callbackUrl: string }> {
    const browser = new CookieBrowser(stack);
    const login = await browser.login();
    const back = await browser.consent(login.headers.get('location') ?? '', user);
    return { browser, callbackUrl: back.headers.get('location') ?? '' };
  }

  const session = async (browser: CookieBrowser, path: '/v1/session/token' | '/v1/logout', options: Parameters<CookieBrowser['session']>[1] = {}) =>
    checked('POST', `${stack.url}${path}`, await browser.session(path, options));

  it('GET /v1/login: 302, 400 for no or unknown app and an unlisted return_to, 405 for POST', async () => {
    await expectError(await send('GET', loginUrl('app=nope')), 400, 'invalid_request');
    await expectError(await send('GET', loginUrl('')), 400, 'invalid_request');
    await expectError(await send('GET', loginUrl(`app=demo-web&return_to=${encodeURIComponent('https://evil.example/')}`)), 400, 'invalid_request');
    await expectError(await send('POST', loginUrl('app=demo-web')), 405, 'invalid_request');
  });

  it('GET /v1/callback: 302 with the session cookie; the session token 200; logout 204', async () => {
    const browser = await signedIn();
    expect(browser.setCookies.some((line) => line.startsWith('tb-session-demo-web='))).toBe(true);
    const token = await session(browser, '/v1/session/token');
    expect(token.status).toBe(200);
    expect((await session(browser, '/v1/logout')).status).toBe(204);
  });

  it('GET /v1/callback: 400 without the pre-login cookie or with another state, 403 when the user cancelled, 405 for POST', async () => {
    const { callbackUrl } = await atCallback();
    await expectError(await send('GET', callbackUrl), 400, 'invalid_request');
    const other = await atCallback();
    const tampered = new URL(other.callbackUrl);
    tampered.searchParams.set('state', 'not-the-state');
    await expectError(await checked('GET', tampered.href, await other.browser.go(tampered.href)), 400, 'invalid_request');
    const cancelled = await atCallback('cancel');
    await expectError(await checked('GET', cancelled.callbackUrl, await cancelled.browser.go(cancelled.callbackUrl)), 403, 'access_denied');
    await expectError(await send('POST', `${stack.url}/v1/callback`), 405, 'invalid_request');
  });

  it('GET /v1/callback: 400 invalid_grant as the provider refuses the code, 503 when it is down', async () => {
    const cases: Array<[number, number, string]> = [[400, 400, 'invalid_grant'], [401, 400, 'invalid_grant'], [503, 503, 'temporarily_unavailable']];
    for (const [upstream, status, error] of cases) {
      const { browser, callbackUrl } = await atCallback();
      stack.oauth.faults.failNext({ status: upstream, count: Infinity, match: 'token', ...(upstream === 503 ? { retryAfterSeconds: 3 } : {}) });
      await expectError(await checked('GET', callbackUrl, await browser.go(callbackUrl)), status, error);
      stack.oauth.faults.clear();
    }
  });

  it('POST /v1/session/token and /v1/logout: 400, 401, 403 and 405', async () => {
    const browser = new CookieBrowser(stack);
    for (const path of ['/v1/session/token', '/v1/logout'] as const) {
      await expectError(await session(browser, path, { app: 'nope' }), 400, 'invalid_request');
      await expectError(await session(browser, path, { csrf: false }), 403, 'access_denied');
      await expectError(await session(browser, path, { origin: 'https://evil.example' }), 403, 'access_denied');
      await expectError(await send('GET', `${stack.url}${path}?app=demo-web`), 405, 'invalid_request');
    }
    await expectError(await session(browser, '/v1/session/token'), 401, 'login_required');
  });

  it('POST /v1/logout without a session', async () => {
    const res = await session(new CookieBrowser(stack), '/v1/logout');
    expect([204, 401]).toContain(res.status);
  });

  it('OPTIONS on the session endpoints: 204 for the app\'s origin, 403 otherwise', async () => {
    for (const path of ['/v1/session/token', '/v1/logout']) {
      const url = `${stack.url}${path}?app=demo-web`;
      const ok = await send('OPTIONS', url, { headers: { origin: stack.url, 'access-control-request-method': 'POST' } });
      expect(ok.status).toBe(204);
      expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
      await expectError(await send('OPTIONS', url, { headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } }), 403, 'access_denied');
      await expectError(await send('OPTIONS', url), 405, 'invalid_request');
    }
  });

  it("POST /v1/session/token: 503 when the provider is down and the token has expired, 500 when it refuses the broker, 429 over the user's rate", async () => {
    const browser = await signedIn(1);
    offsetMs = (ACCESS_TOKEN_SECONDS + 1) * 1000;
    stack.oauth.faults.failNext({ status: 503, count: Infinity, retryAfterSeconds: 2, match: 'token' });
    await expectError(await session(browser, '/v1/session/token'), 503, 'temporarily_unavailable');
    stack.oauth.faults.clear();
    stack.oauth.faults.failNext({ status: 401, count: Infinity, match: 'token' });
    await expectError(await session(browser, '/v1/session/token'), 500, 'server_error');
    offsetMs = 0;
    stack.oauth.faults.clear();
    await awayFromMinuteEnd();
    const statuses: number[] = [];
    let last: Checked | undefined;
    for (let i = 0; i < 5 && last?.status !== 429; i += 1) {
      last = await session(browser, '/v1/session/token');
      statuses.push(last.status);
    }
    await expectError(last as Checked, 429, 'slow_down');
  });

  it('500 on every sign-in endpoint when the policy did not load', async () => {
    await expectError(await send('GET', `${broken.url}/v1/login?app=demo-web`), 500, 'server_error');
    await expectError(await send('GET', `${broken.url}/v1/callback?code=x&state=y`), 500, 'server_error');
    for (const path of ['/v1/session/token', '/v1/logout']) {
      await expectError(await send('POST', `${broken.url}${path}?app=demo-web`, { headers: { origin: broken.url, 'x-token-broker-csrf': '1' } }), 500, 'server_error');
      await expectError(await send('OPTIONS', `${broken.url}${path}?app=demo-web`, { headers: { origin: broken.url, 'access-control-request-method': 'POST' } }), 500, 'server_error');
    }
  });
});

it('404 for a path the broker does not serve', async () => {
  await expectError(await send('GET', `${stack.url}/v2/nothing`), 404, 'invalid_request');
});

// Last: every documented answer was seen above, or is listed with the reason it is not.
it('every documented (operation, status) was checked against a live answer', () => {
  const unseen = spec.documented().filter((key) => !spec.seen.has(key) && !(key in NOT_PROVOKED));
  const listedButSeen = Object.keys(NOT_PROVOKED).filter((key) => spec.seen.has(key));
  expect({ unseen, listedButSeen }).toEqual({ unseen: [], listedButSeen: [] });
});
