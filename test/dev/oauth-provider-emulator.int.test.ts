/**
 * The OAuth 2.0 / OIDC provider emulator, driven over real loopback HTTP with fetch, jose and
 * google-auth-library's OAuth2Client (the real client of accounts.google.com). No mocks.
 * (openid-client is not installed in this repository, so it is not exercised here.)
 */
import { createHash, randomBytes } from 'node:crypto';
import { OAuth2Client, CodeChallengeMethod } from 'google-auth-library';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import {
  startOAuthProviderEmulator,
  type OAuthProviderEmulator,
  type OAuthProviderEmulatorOptions,
} from '../../dev/oauth-provider-emulator';

// ─── fixtures ────────────────────────────────────────────────────────────────

const WEB = { clientId: 'web-app.apps.example', clientSecret: 'web-secret-Zq8', redirectUris: ['http://127.0.0.1:9999/callback', 'http://localhost:9999/cb?x=1'] };
const OTHER = { clientId: 'other-app.apps.example', clientSecret: 'other-secret-Pp3', redirectUris: ['http://127.0.0.1:9998/callback'] };
const ALICE = { sub: '100000000000000000001', email: 'alice@example.com', name: 'Alice Example', hd: 'example.com' };
const BOB = { sub: '100000000000000000002', email: 'bob@example.org', name: 'Bob Example' };
const REDIRECT = WEB.redirectUris[0] as string;
const USERINFO_EMAIL = 'https://www.googleapis.com/auth/userinfo.email';
const USERINFO_PROFILE = 'https://www.googleapis.com/auth/userinfo.profile';
const DEAD_REFRESH = { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' };

const emulators: OAuthProviderEmulator[] = [];
let clock = Date.now();

async function start(extra: Partial<OAuthProviderEmulatorOptions> = {}): Promise<OAuthProviderEmulator> {
  const emulator = await startOAuthProviderEmulator({ clients: [WEB, OTHER], users: [ALICE, BOB], now: () => clock, ...extra });
  emulators.push(emulator);
  return emulator;
}

let op: OAuthProviderEmulator;
beforeAll(async () => {
  op = await start();
});
beforeEach(() => {
  clock = Date.now();
  op.faults.clear();
});
afterAll(async () => {
  await Promise.all(emulators.map((e) => e.close()));
});

// ─── helpers ─────────────────────────────────────────────────────────────────

function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

interface AuthParams {
  [name: string]: string | undefined;
}

function authUrl(emulator: OAuthProviderEmulator, params: AuthParams): string {
  const url = new URL('/o/oauth2/v2/auth', emulator.url);
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);
  return url.toString();
}

/** Submits the consent page's form for `choice` (a user's sub, or 'cancel') the way a browser would. */
async function submitConsent(emulator: OAuthProviderEmulator, html: string, choice: string): Promise<Response> {
  const forms = [...html.matchAll(/<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/g)];
  const selector = choice === 'cancel' ? 'data-action="cancel"' : `data-user="${choice}"`;
  const form = forms.find((f) => (f[2] ?? '').includes(selector));
  if (!form) throw new Error(`no consent form for ${choice}`);
  const body = new URLSearchParams();
  for (const input of (form[2] ?? '').matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) body.append(input[1] ?? '', input[2] ?? '');
  const button = /<button type="submit" name="([^"]+)" value="([^"]*)"/.exec(form[2] ?? '');
  body.append(button?.[1] ?? '', button?.[2] ?? '');
  return fetch(new URL(form[1] ?? '', emulator.url), {
    method: 'POST',
    body,
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

/** Authorization request + consent as `sub`; returns the redirect's query parameters. */
async function authorize(emulator: OAuthProviderEmulator, params: AuthParams, sub = ALICE.sub): Promise<URLSearchParams> {
  const page = await fetch(authUrl(emulator, { response_type: 'code', client_id: WEB.clientId, redirect_uri: REDIRECT, scope: 'openid email profile', ...params }));
  expect(page.status).toBe(200);
  const consent = await submitConsent(emulator, await page.text(), sub);
  expect(consent.status).toBe(302);
  const location = new URL(consent.headers.get('location') ?? '');
  expect(location.origin + location.pathname).toBe(new URL(params.redirect_uri ?? REDIRECT).origin + new URL(params.redirect_uri ?? REDIRECT).pathname);
  return location.searchParams;
}

async function tokenRequest(emulator: OAuthProviderEmulator, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${emulator.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** A code from a full S256 flow, with what is needed to redeem it. */
async function freshCode(emulator: OAuthProviderEmulator, extra: AuthParams = {}, sub = ALICE.sub) {
  const { verifier, challenge } = pkcePair();
  const redirect = await authorize(emulator, { code_challenge: challenge, code_challenge_method: 'S256', access_type: 'offline', prompt: 'consent', ...extra }, sub);
  return { code: redirect.get('code') ?? '', verifier };
}

function redeem(emulator: OAuthProviderEmulator, code: string, verifier: string, overrides: Record<string, string> = {}) {
  return tokenRequest(emulator, {
    grant_type: 'authorization_code',
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id: WEB.clientId,
    client_secret: WEB.clientSecret,
    ...overrides,
  });
}

function refresh(emulator: OAuthProviderEmulator, refreshToken: string, client = WEB) {
  return tokenRequest(emulator, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: client.clientId, client_secret: client.clientSecret });
}

async function tokenInfo(emulator: OAuthProviderEmulator, accessToken: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${emulator.url}/oauth2/v3/tokeninfo?access_token=${encodeURIComponent(accessToken)}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function revoke(emulator: OAuthProviderEmulator, token: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${emulator.url}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }) });
  return { status: res.status, body: await res.json() };
}

// ─── discovery ───────────────────────────────────────────────────────────────

test('discovery names the emulator as issuer and Google-shaped endpoints', async () => {
  const res = await fetch(`${op.url}/.well-known/openid-configuration`);
  expect(res.status).toBe(200);
  expect(op.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(await res.json()).toMatchObject({
    issuer: op.url,
    authorization_endpoint: `${op.url}/o/oauth2/v2/auth`,
    token_endpoint: `${op.url}/token`,
    revocation_endpoint: `${op.url}/revoke`,
    jwks_uri: `${op.url}/oauth2/v3/certs`,
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['plain', 'S256'],
    id_token_signing_alg_values_supported: ['RS256'],
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    scopes_supported: expect.arrayContaining(['openid', 'email', 'profile']),
  });
});

// ─── the code flow ───────────────────────────────────────────────────────────

test('full code flow with S256: consent form → code → tokens; the ID token verifies against the JWKS', async () => {
  const { verifier, challenge } = pkcePair();
  const nonce = randomBytes(16).toString('base64url');
  const state = 'st ate/+&=é';
  const page = await fetch(
    authUrl(op, {
      response_type: 'code',
      client_id: WEB.clientId,
      redirect_uri: REDIRECT,
      scope: 'openid email profile',
      state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      access_type: 'offline',
      login_hint: BOB.email,
    }),
  );
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  const html = await page.text();
  expect(html).toContain(`data-user="${ALICE.sub}"`);
  expect(html).toContain(`Continue as ${ALICE.email}`);
  expect(html).toContain('data-action="cancel"');
  expect(html.indexOf(BOB.email)).toBeLessThan(html.indexOf(ALICE.email)); // login_hint first
  expect(html).not.toContain(challenge); // the request stays server-side

  const consent = await submitConsent(op, html, ALICE.sub);
  expect(consent.status).toBe(302);
  const location = new URL(consent.headers.get('location') ?? '');
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
  expect(location.searchParams.get('state')).toBe(state);
  expect(location.searchParams.get('code')).toMatch(/^4\/0/);
  expect(location.searchParams.get('scope')?.split(' ')).toEqual(expect.arrayContaining(['openid', 'email', 'profile', USERINFO_EMAIL]));
  expect(location.searchParams.has('iss')).toBe(false); // like Google

  const { status, body, headers } = await redeem(op, location.searchParams.get('code') ?? '', verifier);
  expect(status).toBe(200);
  expect(headers.get('cache-control')).toContain('no-store');
  expect(body).toEqual({
    access_token: expect.stringMatching(/^ya29\./),
    expires_in: 3600,
    scope: `openid ${USERINFO_EMAIL} ${USERINFO_PROFILE}`,
    token_type: 'Bearer',
    id_token: expect.any(String),
    refresh_token: expect.stringMatching(/^1\/\//),
  });

  const jwks = createRemoteJWKSet(new URL(`${op.url}/oauth2/v3/certs`));
  const { payload, protectedHeader } = await jwtVerify(String(body.id_token), jwks, {
    issuer: op.url,
    audience: WEB.clientId,
    algorithms: ['RS256'],
    currentDate: new Date(clock),
  });
  expect(protectedHeader.kid).toEqual(expect.any(String));
  expect(payload).toMatchObject({ azp: WEB.clientId, sub: ALICE.sub, email: ALICE.email, email_verified: true, name: ALICE.name, hd: 'example.com', nonce });
  const atHash = createHash('sha256').update(String(body.access_token)).digest().subarray(0, 16).toString('base64url');
  expect(payload.at_hash).toBe(atHash);
  expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);

  const info = await tokenInfo(op, String(body.access_token));
  expect(info).toEqual({
    status: 200,
    body: {
      azp: WEB.clientId,
      aud: WEB.clientId,
      sub: ALICE.sub,
      scope: `openid ${USERINFO_EMAIL} ${USERINFO_PROFILE}`,
      exp: String(Math.floor(clock / 1000) + 3600),
      expires_in: '3600',
      email: ALICE.email,
      email_verified: 'true',
      access_type: 'offline',
    },
  });
  const userinfo = await fetch(`${op.url}/v1/userinfo`, { headers: { authorization: `Bearer ${String(body.access_token)}` } });
  expect(await userinfo.json()).toEqual({ sub: ALICE.sub, name: ALICE.name, email: ALICE.email, email_verified: true, hd: 'example.com' });
});

test('client_secret_basic works; a user without hd gets none; no nonce requested → none in the ID token', async () => {
  const { code, verifier } = await freshCode(op, {}, BOB.sub);
  const basic = Buffer.from(`${encodeURIComponent(WEB.clientId)}:${encodeURIComponent(WEB.clientSecret)}`).toString('base64');
  const { status, body } = await tokenRequest(
    op,
    { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT },
    { authorization: `Basic ${basic}` },
  );
  expect(status).toBe(200);
  const claims = decodeJwt(String(body.id_token));
  expect(claims.sub).toBe(BOB.sub);
  expect(claims).not.toHaveProperty('hd');
  expect(claims).not.toHaveProperty('nonce');
});

test('state is omitted from the redirect when the request had none; a registered URI with a query keeps it', async () => {
  const redirectUri = WEB.redirectUris[1] as string;
  const params = await authorize(op, { redirect_uri: redirectUri });
  expect(params.has('state')).toBe(false);
  expect(params.get('x')).toBe('1');
  expect(params.get('code')).toMatch(/^4\/0/);
});

test('without openid there is no ID token; without email/profile the ID token has no email or name', async () => {
  const a = await freshCode(op, { scope: 'https://www.googleapis.com/auth/drive.readonly' });
  const noOpenid = await redeem(op, a.code, a.verifier);
  expect(noOpenid.status).toBe(200);
  expect(noOpenid.body).not.toHaveProperty('id_token');
  const b = await freshCode(op, { scope: 'openid' });
  const openidOnly = await redeem(op, b.code, b.verifier);
  const claims = decodeJwt(String(openidOnly.body.id_token));
  expect(claims).not.toHaveProperty('email');
  expect(claims).not.toHaveProperty('name');
});

// ─── authorization endpoint errors ───────────────────────────────────────────

test.each([
  ['unknown client', { client_id: 'nobody' }, 'invalid_client'],
  ['missing client', { client_id: undefined }, 'invalid_request'],
  ['unregistered redirect_uri', { redirect_uri: 'http://127.0.0.1:9999/callback/' }, 'redirect_uri_mismatch'],
  ['another client’s redirect_uri', { redirect_uri: OTHER.redirectUris[0] }, 'redirect_uri_mismatch'],
  ['repeated parameter', { client_id: WEB.clientId, dup: 'x' }, 'invalid_request'],
])('%s → HTML error page, 400, no redirect', async (_name, params, error) => {
  const url = new URL(authUrl(op, { response_type: 'code', client_id: WEB.clientId, redirect_uri: REDIRECT, scope: 'openid', state: 's', ...params }));
  if ('dup' in params) {
    url.searchParams.delete('dup');
    url.searchParams.append('client_id', WEB.clientId);
  }
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status).toBe(400);
  expect(res.headers.get('location')).toBeNull();
  expect(await res.text()).toContain(`data-error="${error}"`);
});

test.each([
  ['response_type=token', { response_type: 'token' }, 'unsupported_response_type'],
  ['unknown scope', { scope: 'openid admin' }, 'invalid_scope'],
  ['no scope', { scope: undefined }, 'invalid_request'],
  ['bad code_challenge_method', { code_challenge: 'a'.repeat(43), code_challenge_method: 'S512' }, 'invalid_request'],
  ['short code_challenge', { code_challenge: 'abc', code_challenge_method: 'S256' }, 'invalid_request'],
])('%s → redirect with error and state', async (_name, params, error) => {
  const res = await fetch(authUrl(op, { response_type: 'code', client_id: WEB.clientId, redirect_uri: REDIRECT, scope: 'openid', state: 'xyz', ...params }), { redirect: 'manual' });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location') ?? '');
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
  expect(location.searchParams.get('error')).toBe(error);
  expect(location.searchParams.get('state')).toBe('xyz');
  expect(location.searchParams.has('code')).toBe(false);
});

test('Cancel → access_denied; the consent request id is single use', async () => {
  const page = await fetch(authUrl(op, { response_type: 'code', client_id: WEB.clientId, redirect_uri: REDIRECT, scope: 'openid', state: 'c1' }));
  const html = await page.text();
  const cancel = await submitConsent(op, html, 'cancel');
  expect(cancel.status).toBe(302);
  const location = new URL(cancel.headers.get('location') ?? '');
  expect(Object.fromEntries(location.searchParams)).toEqual({ error: 'access_denied', state: 'c1' });
  const again = await submitConsent(op, html, ALICE.sub);
  expect(again.status).toBe(400);
  expect(again.headers.get('location')).toBeNull();
});

// ─── token endpoint: code checks ─────────────────────────────────────────────

test('a reused code is invalid_grant and revokes the tokens issued from it', async () => {
  const { code, verifier } = await freshCode(op);
  const first = await redeem(op, code, verifier);
  expect(first.status).toBe(200);
  expect((await tokenInfo(op, String(first.body.access_token))).status).toBe(200);
  const second = await redeem(op, code, verifier);
  expect(second).toMatchObject({ status: 400, body: { error: 'invalid_grant', error_description: 'Bad Request' } });
  expect(await tokenInfo(op, String(first.body.access_token))).toEqual({ status: 400, body: { error: 'invalid_token', error_description: 'Invalid Value' } });
  expect(await refresh(op, String(first.body.refresh_token))).toMatchObject({ status: 400, body: DEAD_REFRESH });
  expect(op.issued().codes.find((c) => c.code === code)?.state).toBe('used');
});

test('PKCE: missing and wrong verifiers are invalid_grant with Google’s messages, and do not burn the code', async () => {
  const { code, verifier } = await freshCode(op);
  const missing = await tokenRequest(op, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: WEB.clientId, client_secret: WEB.clientSecret });
  expect(missing).toMatchObject({ status: 400, body: { error: 'invalid_grant', error_description: 'Missing code verifier.' } });
  for (const wrong of [pkcePair().verifier, `${verifier}x`, 'short', createHash('sha256').update(verifier).digest('base64url')]) {
    const res = await redeem(op, code, verifier, { code_verifier: wrong });
    expect(res).toMatchObject({ status: 400, body: { error: 'invalid_grant', error_description: 'Invalid code verifier.' } });
  }
  expect((await redeem(op, code, verifier)).status).toBe(200);
});

test('PKCE plain (and plain by default) matches the verifier itself; a verifier without a challenge is refused', async () => {
  const verifier = pkcePair().verifier;
  const plain = await authorize(op, { code_challenge: verifier });
  expect((await redeem(op, plain.get('code') ?? '', `${verifier}A`)).status).toBe(400);
  expect((await redeem(op, plain.get('code') ?? '', verifier)).status).toBe(200);
  const none = await authorize(op, {});
  expect(await redeem(op, none.get('code') ?? '', verifier)).toMatchObject({ status: 400, body: { error_description: 'Invalid code verifier.' } });
  const noneOk = await tokenRequest(op, { grant_type: 'authorization_code', code: none.get('code') ?? '', redirect_uri: REDIRECT, client_id: WEB.clientId, client_secret: WEB.clientSecret });
  expect(noneOk.status).toBe(200);
});

test('a different redirect_uri at the token endpoint is redirect_uri_mismatch (Google’s answer)', async () => {
  const { code, verifier } = await freshCode(op);
  for (const uri of [WEB.redirectUris[1] as string, `${REDIRECT}/`, REDIRECT.toUpperCase()]) {
    expect(await redeem(op, code, verifier, { redirect_uri: uri })).toMatchObject({ status: 400, body: { error: 'redirect_uri_mismatch', error_description: 'Bad Request' } });
  }
  const missing = await tokenRequest(op, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: WEB.clientId, client_secret: WEB.clientSecret });
  expect(missing).toMatchObject({ status: 400, body: { error: 'invalid_request', error_description: 'Missing required parameter: redirect_uri' } });
  expect((await redeem(op, code, verifier)).status).toBe(200);
});

test.each([
  ['wrong secret', { client_secret: 'nope' }, 'Unauthorized'],
  ['empty secret', { client_secret: '' }, 'Unauthorized'],
  ['other client’s secret', { client_secret: OTHER.clientSecret }, 'Unauthorized'],
  ['unknown client', { client_id: 'ghost' }, 'The OAuth client was not found.'],
  ['no client at all', { client_id: '' }, 'The OAuth client was not found.'],
])('client authentication: %s → 401 invalid_client', async (_name, overrides, description) => {
  const { code, verifier } = await freshCode(op);
  const res = await redeem(op, code, verifier, overrides);
  expect(res).toMatchObject({ status: 401, body: { error: 'invalid_client', error_description: description } });
});

test('a wrong Basic secret is 401 too', async () => {
  const { code, verifier } = await freshCode(op);
  const basic = Buffer.from(`${WEB.clientId}:wrong`).toString('base64');
  const res = await tokenRequest(op, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT }, { authorization: `Basic ${basic}` });
  expect(res).toEqual(expect.objectContaining({ status: 401, body: { error: 'invalid_client', error_description: 'Unauthorized' } }));
});

test('a code issued to another client, an unknown code and an expired code are invalid_grant', async () => {
  const { code, verifier } = await freshCode(op);
  const asOther = await redeem(op, code, verifier, { client_id: OTHER.clientId, client_secret: OTHER.clientSecret });
  expect(asOther).toMatchObject({ status: 400, body: { error: 'invalid_grant', error_description: 'Bad Request' } });
  expect(await redeem(op, `${code}x`, verifier)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  clock += 61_000; // default code lifetime 60 s
  expect(await redeem(op, code, verifier)).toMatchObject({ status: 400, body: { error: 'invalid_grant', error_description: 'Bad Request' } });
  expect(op.issued().codes.find((c) => c.code === code)?.state).toBe('expired');
});

test('malformed token requests: grant type, repeated parameters, content type', async () => {
  const auth = { client_id: WEB.clientId, client_secret: WEB.clientSecret };
  expect(await tokenRequest(op, { grant_type: 'password', ...auth })).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type', error_description: 'Invalid grant_type: password' } });
  expect(await tokenRequest(op, auth)).toMatchObject({ status: 400, body: { error: 'invalid_request', error_description: 'Missing required parameter: grant_type' } });
  const dup = await fetch(`${op.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `grant_type=refresh_token&refresh_token=a&refresh_token=b&client_id=${WEB.clientId}&client_secret=${WEB.clientSecret}`,
  });
  expect(dup.status).toBe(400);
  expect(await dup.json()).toEqual({ error: 'invalid_request', error_description: 'Parameter included more than once: refresh_token' });
  const json = await fetch(`${op.url}/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'refresh_token', ...auth }) });
  expect(json.status).toBe(400);
  const get = await fetch(`${op.url}/token`);
  expect(get.status).toBe(404);
});

// ─── refresh tokens ──────────────────────────────────────────────────────────

test('refresh token only for access_type=offline, and on repeat consent only with prompt=consent (Google’s rule)', async () => {
  const fresh = await start();
  const online = await freshCode(fresh, { access_type: undefined, prompt: undefined });
  expect((await redeem(fresh, online.code, online.verifier)).body).not.toHaveProperty('refresh_token');
  // Alice consented once already: offline without prompt=consent gets no refresh token.
  const repeat = await freshCode(fresh, { prompt: undefined });
  expect((await redeem(fresh, repeat.code, repeat.verifier)).body).not.toHaveProperty('refresh_token');
  const forced = await freshCode(fresh, { prompt: 'consent' });
  expect((await redeem(fresh, forced.code, forced.verifier)).body).toHaveProperty('refresh_token');
  // Bob's first consent, offline: refresh token without prompt=consent.
  const bob = await freshCode(fresh, { prompt: undefined }, BOB.sub);
  expect((await redeem(fresh, bob.code, bob.verifier)).body).toHaveProperty('refresh_token');
});

test('refresh returns a new access token and an ID token without nonce; the refresh token stays valid (no rotation)', async () => {
  const { code, verifier } = await freshCode(op, { nonce: 'n-1' });
  const first = await redeem(op, code, verifier);
  const refreshToken = String(first.body.refresh_token);
  for (let i = 0; i < 2; i++) {
    const res = await refresh(op, refreshToken);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      access_token: expect.stringMatching(/^ya29\./),
      expires_in: 3600,
      scope: `openid ${USERINFO_EMAIL} ${USERINFO_PROFILE}`,
      token_type: 'Bearer',
      id_token: expect.any(String),
    });
    expect(res.body.access_token).not.toBe(first.body.access_token);
    const claims = decodeJwt(String(res.body.id_token));
    expect(claims).toMatchObject({ iss: op.url, aud: WEB.clientId, sub: ALICE.sub });
    expect(claims).not.toHaveProperty('nonce');
  }
  expect(await refresh(op, refreshToken, OTHER)).toMatchObject({ status: 400, body: { error: 'unauthorized_client' } });
  expect(await refresh(op, 'bogus')).toMatchObject({ status: 400, body: DEAD_REFRESH });
});

test('refreshTokenRotation: each refresh returns a new refresh token, the old one dies, replaying it kills the family', async () => {
  const rotating = await start({ refreshTokenRotation: true });
  const { code, verifier } = await freshCode(rotating);
  const rt1 = String((await redeem(rotating, code, verifier)).body.refresh_token);
  const r1 = await refresh(rotating, rt1);
  expect(r1.status).toBe(200);
  const rt2 = String(r1.body.refresh_token);
  expect(rt2).toMatch(/^1\/\//);
  expect(rt2).not.toBe(rt1);
  const r2 = await refresh(rotating, rt2);
  expect(r2.status).toBe(200);
  const rt3 = String(r2.body.refresh_token);
  expect(rotating.issued().refreshTokens.map((r) => r.state)).toEqual(['rotated', 'rotated', 'active']);
  // Replay of rt1 → invalid_grant, and rt3 and its access token die with it.
  expect(await refresh(rotating, rt1)).toMatchObject({ status: 400, body: DEAD_REFRESH });
  expect(await refresh(rotating, rt3)).toMatchObject({ status: 400, body: DEAD_REFRESH });
  expect((await tokenInfo(rotating, String(r2.body.access_token))).status).toBe(400);
});

// ─── revocation ──────────────────────────────────────────────────────────────

test('revoke a refresh token → refresh is invalid_grant with Google’s wording; its access tokens die', async () => {
  const { code, verifier } = await freshCode(op);
  const tokens = await redeem(op, code, verifier);
  const refreshed = await refresh(op, String(tokens.body.refresh_token));
  expect(await revoke(op, String(tokens.body.refresh_token))).toEqual({ status: 200, body: {} });
  expect(await refresh(op, String(tokens.body.refresh_token))).toEqual(expect.objectContaining({ status: 400, body: DEAD_REFRESH }));
  expect((await tokenInfo(op, String(tokens.body.access_token))).status).toBe(400);
  expect((await tokenInfo(op, String(refreshed.body.access_token))).status).toBe(400);
  expect(await revoke(op, String(tokens.body.refresh_token))).toEqual({ status: 400, body: { error: 'invalid_token', error_description: 'Token expired or revoked' } });
  expect(await revoke(op, 'ya29.unknown')).toEqual({ status: 400, body: { error: 'invalid_token', error_description: 'Token expired or revoked' } });
});

test('revoking an access token also revokes its refresh token (Google); token may be a query parameter', async () => {
  const { code, verifier } = await freshCode(op);
  const tokens = await redeem(op, code, verifier);
  const res = await fetch(`${op.url}/revoke?token=${encodeURIComponent(String(tokens.body.access_token))}`, { method: 'POST' });
  expect(res.status).toBe(200);
  expect(await refresh(op, String(tokens.body.refresh_token))).toMatchObject({ status: 400, body: DEAD_REFRESH });
});

test('revokeRefreshToken / revokeAllFor simulate the user removing access upstream', async () => {
  const a = await freshCode(op);
  const alice = await redeem(op, a.code, a.verifier);
  const b = await freshCode(op, {}, BOB.sub);
  const bob = await redeem(op, b.code, b.verifier);
  expect(op.revokeRefreshToken(String(bob.body.refresh_token))).toBe(true);
  expect(op.revokeRefreshToken(String(bob.body.refresh_token))).toBe(false);
  expect(await refresh(op, String(bob.body.refresh_token))).toMatchObject({ status: 400, body: DEAD_REFRESH });
  expect(op.revokeAllFor(ALICE.sub)).toBeGreaterThanOrEqual(2);
  expect(await refresh(op, String(alice.body.refresh_token))).toMatchObject({ status: 400, body: DEAD_REFRESH });
  expect((await tokenInfo(op, String(alice.body.access_token))).status).toBe(400);
  const snapshot = op.issued();
  expect(snapshot.refreshTokens.filter((r) => r.sub === ALICE.sub).every((r) => r.state === 'revoked')).toBe(true);
  expect(snapshot.accessTokens.filter((t) => t.sub === ALICE.sub).every((t) => t.state !== 'active')).toBe(true);
});

test('expired access tokens are refused by tokeninfo', async () => {
  const short = await start({ accessTokenSeconds: 5 });
  const { code, verifier } = await freshCode(short);
  const tokens = await redeem(short, code, verifier);
  expect(tokens.body.expires_in).toBe(5);
  expect((await tokenInfo(short, String(tokens.body.access_token))).status).toBe(200);
  clock += 5_000;
  expect((await tokenInfo(short, String(tokens.body.access_token))).status).toBe(400);
});

// ─── faults ──────────────────────────────────────────────────────────────────

test('faults: the next N token calls fail with the given status and Retry-After, then it recovers', async () => {
  const { code, verifier } = await freshCode(op);
  op.faults.failNext({ status: 503, count: 2, retryAfterSeconds: 7, match: 'token' });
  // Other endpoints are not affected.
  expect((await fetch(`${op.url}/.well-known/openid-configuration`)).status).toBe(200);
  for (let i = 0; i < 2; i++) {
    const res = await redeem(op, code, verifier);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.body).toHaveProperty('error');
  }
  expect((await redeem(op, code, verifier)).status).toBe(200); // the failed calls did not consume the code
  op.faults.failNext({ status: 429, match: 'token' });
  expect(await refresh(op, 'whatever')).toMatchObject({ status: 429, body: { error: 'rate_limit_exceeded' } });
  op.faults.failNext({ status: 500, match: 'token' });
  expect((await refresh(op, 'whatever')).status).toBe(500);
  expect(() => op.faults.failNext({ status: 200 })).toThrow(RangeError);
  expect(() => op.faults.failNext({ status: 500, count: 0 })).toThrow(RangeError);
});

test('faults: a delayed token call is held, then answered normally', async () => {
  const { code, verifier } = await freshCode(op);
  op.faults.delayNext({ ms: 400, match: 'token' });
  const started = performance.now();
  const res = await redeem(op, code, verifier);
  expect(performance.now() - started).toBeGreaterThanOrEqual(390);
  expect(res.status).toBe(200);
  const quick = performance.now();
  await refresh(op, String(res.body.refresh_token));
  expect(performance.now() - quick).toBeLessThan(390);
});

test('close() ends a held request instead of waiting for it', async () => {
  const slow = await start();
  slow.faults.delayNext({ ms: 60_000, match: 'token' });
  const pending = refresh(slow, 'x').catch((err: unknown) => err);
  await new Promise((resolve) => setTimeout(resolve, 100));
  const started = performance.now();
  await slow.close();
  expect(performance.now() - started).toBeLessThan(2000);
  expect(await pending).toHaveProperty('message', 'fetch failed'); // the socket was dropped
});

// ─── request log ─────────────────────────────────────────────────────────────

test('the request log has methods, paths and parameter names but never secret values', async () => {
  const log = await start();
  const { code, verifier } = await freshCode(log);
  const tokens = await redeem(log, code, verifier);
  const text = JSON.stringify(log.requests);
  for (const secret of [WEB.clientSecret, code, verifier, String(tokens.body.access_token), String(tokens.body.refresh_token)]) {
    expect(text).not.toContain(secret);
  }
  expect(log.requests.map((r) => [r.method, r.path, r.status])).toEqual([
    ['GET', '/o/oauth2/v2/auth', 200],
    ['POST', '/o/oauth2/v2/auth/consent', 302],
    ['POST', '/token', 200],
  ]);
  expect(log.requests[2]?.formNames).toEqual(['grant_type', 'code', 'code_verifier', 'redirect_uri', 'client_id', 'client_secret']);
});

test('misconfiguration throws TypeError at start-up', async () => {
  await expect(startOAuthProviderEmulator({ clients: [{ ...WEB, redirectUris: [] }] })).rejects.toThrow(TypeError);
  await expect(startOAuthProviderEmulator({ clients: [{ ...WEB, redirectUris: ['/relative'] }] })).rejects.toThrow(TypeError);
  await expect(startOAuthProviderEmulator({ clients: [WEB, WEB] })).rejects.toThrow(TypeError);
  await expect(startOAuthProviderEmulator({ clients: [WEB], codeSeconds: 0 })).rejects.toThrow(TypeError);
  await expect(startOAuthProviderEmulator({ clients: [{ ...WEB, clientSecret: '' }] })).rejects.toThrow(TypeError);
});

test('default users and addClient', async () => {
  const defaults = await startOAuthProviderEmulator({ clients: [] });
  emulators.push(defaults);
  defaults.addClient(WEB);
  const page = await fetch(authUrl(defaults, { response_type: 'code', client_id: WEB.clientId, redirect_uri: REDIRECT, scope: 'openid' }));
  const html = await page.text();
  expect(html).toContain('Continue as alice@example.com');
  expect(html).toContain('Continue as bob@example.org');
});

// ─── a real client library: google-auth-library's OAuth2Client ───────────────

test('google-auth-library OAuth2Client: auth URL with S256, getToken, verifyIdToken, refresh, tokeninfo, revoke', async () => {
  const client = new OAuth2Client({
    clientId: WEB.clientId,
    clientSecret: WEB.clientSecret,
    redirectUri: REDIRECT,
    endpoints: {
      oauth2AuthBaseUrl: `${op.url}/o/oauth2/v2/auth`,
      oauth2TokenUrl: `${op.url}/token`,
      oauth2RevokeUrl: `${op.url}/revoke`,
      oauth2FederatedSignonPemCertsUrl: `${op.url}/oauth2/v1/certs`,
      oauth2FederatedSignonJwkCertsUrl: `${op.url}/oauth2/v3/certs`,
      tokenInfoUrl: `${op.url}/oauth2/v3/tokeninfo`,
    },
    issuers: [op.url],
  });
  const { codeVerifier, codeChallenge } = await client.generateCodeVerifierAsync();
  const url = client.generateAuthUrl({
    access_type: 'offline',
    prompt: 'consent',
    scope: ['openid', 'email'],
    state: 'lib-state',
    code_challenge: codeChallenge,
    code_challenge_method: CodeChallengeMethod.S256,
  });
  const page = await fetch(url);
  expect(page.status).toBe(200);
  const consent = await submitConsent(op, await page.text(), ALICE.sub);
  const redirected = new URL(consent.headers.get('location') ?? '');
  expect(redirected.searchParams.get('state')).toBe('lib-state');

  const { tokens } = await client.getToken({ code: redirected.searchParams.get('code') ?? '', codeVerifier });
  expect(tokens).toMatchObject({ access_token: expect.stringMatching(/^ya29\./), refresh_token: expect.any(String), id_token: expect.any(String) });
  const ticket = await client.verifyIdToken({ idToken: tokens.id_token ?? '', audience: WEB.clientId });
  expect(ticket.getPayload()).toMatchObject({ sub: ALICE.sub, email: ALICE.email, hd: 'example.com', iss: op.url });

  client.setCredentials({ refresh_token: tokens.refresh_token ?? null });
  const refreshed = await client.refreshAccessToken();
  expect(refreshed.credentials.access_token).toMatch(/^ya29\./);
  expect(refreshed.credentials.access_token).not.toBe(tokens.access_token);

  const info = await client.getTokenInfo(refreshed.credentials.access_token ?? '');
  expect(info).toMatchObject({ sub: ALICE.sub, email: ALICE.email, aud: WEB.clientId, scopes: ['openid', USERINFO_EMAIL] });

  await client.revokeToken(tokens.refresh_token ?? '');
  expect(await refresh(op, tokens.refresh_token ?? '')).toMatchObject({ status: 400, body: DEAD_REFRESH });
  const requestsByLibrary = op.requests.filter((r) => r.path === '/token').slice(-2);
  expect(requestsByLibrary.map((r) => [...r.formNames].sort())).toEqual([
    ['client_id', 'client_secret', 'grant_type', 'refresh_token'],
    ['client_id', 'client_secret', 'grant_type', 'refresh_token'],
  ]);
});
