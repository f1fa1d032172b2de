/**
 * User sign-in refusals, each over HTTP against the development composition (the emulated
 * Google provider, the real openid-client flow), and each proven to change nothing: a refused
 * callback makes no session, a refused session request serves no token.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { LineCapture } from '../helpers/capture';
import { CookieBrowser } from '../helpers/sign-in';
import { awayFromMinuteEnd } from '../helpers/limits';

const audit = new LineCapture();
let offsetMs = 0;
let stack: DevStack;

const POLICY = ({ issuer, broker, provider }: { issuer: string; broker: string; provider: string }) => `
version: 1
issuers:
  - issuer: "${issuer}"
    audiences: ["${broker}"]
rules:
  - id: unused
    issuer: "${issuer}"
    condition: "false"
    grant: { service_account: reader@token-broker-dev.iam.gserviceaccount.com, scopes: [https://www.googleapis.com/auth/cloud-platform] }
web_apps:
  - id: demo-web
    provider: { issuer: "${provider}" }
    client_id: demo-web.apps.token-broker-dev
    client_secret_ref: projects/token-broker-dev/secrets/demo-web-client-secret/versions/latest
    redirect_uri: "${broker}/v1/callback"
    origins: ["${broker}"]
    scopes: [openid, email]
    post_login_redirects: ["${broker}/demo/"]
    condition: claims.hd == 'example.com'
    prompt: consent
    session_lifetime_seconds: 3600
    refresh_token_lifetime_seconds: 1800
    limits: { requests_per_minute: 30 }
`;

beforeAll(async () => {
  stack = await startDevStack({ auditTransport: audit, now: () => Date.now() + offsetMs, policyText: POLICY, signIn: { accessTokenSeconds: 600, refreshMarginSeconds: 60 } });
  await stack.broker;
});
afterAll(() => stack?.close());
afterEach(() => {
  offsetMs = 0;
  stack.oauth.faults.clear();
});

async function lastEntry(action: string): Promise<Record<string, unknown>> {
  await stack.audit.flush();
  return audit.entries().filter((e) => e.event === 'user_session' && e.action === action).at(-1) ?? {};
}

async function errorOf(res: Response): Promise<{ status: number; error: unknown; noStore: boolean }> {
  const body = await res.json() as Record<string, unknown>;
  return { status: res.status, error: body.error, noStore: res.headers.get('cache-control') === 'no-store' };
}

/** A signed-in browser and its user's `sub`. */
async function signedIn(): Promise<{ browser: CookieBrowser; sub: string }> {
  const browser = new CookieBrowser(stack);
  const back = await browser.signIn(0);
  expect(back.status).toBe(302);
  const entry = await lastEntry('callback');
  return { browser, sub: String((entry.user as { subject: string }).subject) };
}

describe('login', () => {
  it('refuses an unknown app and a return_to that is not listed exactly (no open redirect)', async () => {
    const browser = new CookieBrowser(stack);
    expect(await errorOf(await browser.login(`${stack.url}/demo/`, 'no-such-app'))).toEqual({ status: 400, error: 'invalid_request', noStore: true });
    expect((await lastEntry('login')).error).toMatchObject({ reason: 'unknown_app' });
    for (const target of ['https://evil.example/', `${stack.url}/demo/../evil`, `${stack.url}/demo/?x=1`, `${stack.url}/demo`]) {
      const res = await browser.login(target);
      expect({ ...(await errorOf(res)), location: res.headers.get('location') }).toEqual({ status: 400, error: 'invalid_request', noStore: true, location: null });
    }
    expect((await lastEntry('login')).error).toMatchObject({ reason: 'return_to_not_allowed' });
    expect(browser.cookies.size).toBe(0);
  });

  it('sends the provider PKCE S256, state, nonce and offline access, and sets a short-lived Lax pre-login cookie', async () => {
    const browser = new CookieBrowser(stack);
    const res = await browser.login();
    const location = new URL(res.headers.get('location') ?? '');
    expect(location.origin).toBe(stack.oauth.url);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({
      response_type: 'code', client_id: 'demo-web.apps.token-broker-dev', redirect_uri: `${stack.url}/v1/callback`,
      code_challenge_method: 'S256', access_type: 'offline', scope: 'openid email',
    });
    for (const name of ['state', 'nonce', 'code_challenge']) expect(location.searchParams.get(name)).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect(location.searchParams.has('code_verifier')).toBe(false);
    const cookie = browser.setCookies.at(-1) ?? '';
    expect(cookie).toMatch(/^tb-login=[A-Za-z0-9_-]{43}; Max-Age=600; Path=\/; HttpOnly; SameSite=Lax$/);
  });
});

describe('callback', () => {
  /** A browser at the provider's redirect back, not yet followed. */
  async function atCallback(user = 0): Promise<{ browser: CookieBrowser; callback: URL }> {
    const browser = new CookieBrowser(stack);
    const login = await browser.login();
    const back = await browser.consent(login.headers.get('location') ?? '', user);
    return { browser, callback: new URL(back.headers.get('location') ?? '') };
  }

  it('accepts the real one once: a replayed callback finds no login (the pending login is single use)', async () => {
    const { browser, callback } = await atCallback();
    const cookie = browser.cookies.get('tb-login') ?? '';
    expect((await browser.go(callback.href)).status).toBe(302);
    browser.cookies.set('tb-login', cookie);
    expect(await errorOf(await browser.go(callback.href))).toMatchObject({ status: 400, error: 'invalid_request' });
    expect((await lastEntry('callback')).error).toMatchObject({ reason: 'login_state_missing' });
  });

  it('refuses a callback without the pre-login cookie (another browser), a wrong state, and a missing state', async () => {
    const { browser, callback } = await atCallback();
    expect(await errorOf(await new CookieBrowser(stack).go(callback.href))).toMatchObject({ status: 400, error: 'invalid_request' });
    expect((await lastEntry('callback')).error).toMatchObject({ reason: 'login_state_missing' });

    const forged = new URL(callback);
    forged.searchParams.set('state', 'x'.repeat(43));
    expect(await errorOf(await browser.go(forged.href))).toMatchObject({ status: 400, error: 'invalid_request' });
    expect((await lastEntry('callback')).error).toMatchObject({ reason: 'state_mismatch' });

    const second = await atCallback();
    const stateless = new URL(second.callback);
    stateless.searchParams.delete('state');
    expect((await second.browser.go(stateless.href)).status).toBe(400);
    expect((await lastEntry('callback')).error).toMatchObject({ reason: 'state_mismatch' });
    expect([...browser.cookies.keys(), ...second.browser.cookies.keys()].filter((name) => name.startsWith('tb-session'))).toEqual([]);
  });

  it("a code injected into another login fails the provider's PKCE check (the other login's verifier)", async () => {
    const { callback: stolen } = await atCallback(); // the attacker's code
    const victim = await atCallback();
    const injected = new URL(victim.callback);
    injected.searchParams.set('code', stolen.searchParams.get('code') ?? '');
    expect(await errorOf(await victim.browser.go(injected.href))).toMatchObject({ status: 400, error: 'invalid_grant' });
    expect((await lastEntry('callback')).error).toMatchObject({ reason: 'code_exchange_refused' });
  });

  it('a user the condition refuses gets 403, no session, and the tokens issued to the broker are revoked', async () => {
    const { browser, callback } = await atCallback(1); // bob@example.org: no hd
    expect(await errorOf(await browser.go(callback.href))).toEqual({ status: 403, error: 'access_denied', noStore: true });
    expect((await lastEntry('callback')).error).toMatchObject({ reason: 'sign_in_condition_not_met' });
    const bob = stack.oauth.issued().refreshTokens.filter((t) => t.sub === '100000000000000000002');
    expect(bob.length).toBeGreaterThan(0);
    expect(bob.every((t) => t.state === 'revoked')).toBe(true);
    expect([...browser.cookies.keys()].some((name) => name.startsWith('tb-session'))).toBe(false);
  });

  it('a sign-in cancelled at the provider is 403 access_denied', async () => {
    const browser = new CookieBrowser(stack);
    const login = await browser.login();
    const back = await browser.consent(login.headers.get('location') ?? '', 'cancel');
    expect(await errorOf(await browser.go(back.headers.get('location') ?? ''))).toMatchObject({ status: 403, error: 'access_denied' });
    expect((await lastEntry('callback')).error).toMatchObject({ reason: 'sign_in_not_completed' });
  });

  it('sets an HttpOnly, SameSite=Strict session cookie for the app, clears the pre-login cookie, audits the user', async () => {
    const { browser, sub } = await signedIn();
    const lines = browser.setCookies.slice(-2);
    expect(lines[0]).toBe('tb-login=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax');
    expect(lines[1]).toMatch(/^tb-session-demo-web=[A-Za-z0-9_-]{43}; Max-Age=3600; Path=\/; HttpOnly; SameSite=Strict$/);
    const entry = await lastEntry('callback');
    expect(entry).toMatchObject({ outcome: 'ok', app: 'demo-web', user: { subject: sub, email: 'alice@example.com' }, sessionHandle: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(JSON.stringify(audit.entries())).not.toContain(browser.cookies.get('tb-session-demo-web'));
  });
});

describe('session token', () => {
  it('CSRF: refuses a foreign Origin, no Origin, and a request without the custom header', async () => {
    const { browser } = await signedIn();
    expect(await errorOf(await browser.session('/v1/session/token', { origin: 'https://evil.example' }))).toMatchObject({ status: 403, error: 'access_denied' });
    expect((await lastEntry('token')).error).toMatchObject({ reason: 'origin_not_allowed' });
    expect((await browser.session('/v1/session/token', { origin: null })).status).toBe(403);
    expect(await errorOf(await browser.session('/v1/session/token', { csrf: false }))).toMatchObject({ status: 403, error: 'access_denied' });
    expect((await lastEntry('token')).error).toMatchObject({ reason: 'csrf_header_missing' });
    expect((await browser.session('/v1/session/token')).status).toBe(200);
  });

  it("answers a preflight from the app's origin with credentials allowed, and refuses others", async () => {
    const preflight = (origin: string) => fetch(`${stack.url}/v1/session/token?app=demo-web`, {
      method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-token-broker-csrf' },
    });
    const ok = await preflight(stack.url);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    expect(ok.headers.get('access-control-allow-headers')).toContain('x-token-broker-csrf');
    const refused = await preflight('https://evil.example');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('401 login_required without a session, with a made-up one, and once the session has expired', async () => {
    expect(await errorOf(await new CookieBrowser(stack).session('/v1/session/token'))).toMatchObject({ status: 401, error: 'login_required' });
    const forged = new CookieBrowser(stack);
    forged.cookies.set('tb-session-demo-web', 'A'.repeat(43));
    expect((await forged.session('/v1/session/token')).status).toBe(401);
    const { browser } = await signedIn();
    offsetMs = 3601_000;
    expect(await errorOf(await browser.session('/v1/session/token'))).toMatchObject({ status: 401, error: 'login_required' });
    expect((await lastEntry('token')).error).toMatchObject({ reason: 'session_missing' });
  });

  it('refreshes ahead of expiry: a new token once less than the margin is left, the same one before', async () => {
    const { browser } = await signedIn();
    const first = await (await browser.session('/v1/session/token')).json() as { access_token: string };
    const again = await (await browser.session('/v1/session/token')).json() as { access_token: string };
    expect(again.access_token).toBe(first.access_token);
    expect((await lastEntry('token')).token).toBe('vault');
    offsetMs = 545_000; // 55 s left of 600: inside the 60 s margin
    const refreshed = await (await browser.session('/v1/session/token')).json() as { access_token: string; expires_in: number };
    expect(refreshed.access_token).not.toBe(first.access_token);
    expect(refreshed.expires_in).toBeGreaterThan(590);
    expect((await lastEntry('token')).token).toBe('refreshed');
  });

  it('past refresh_token_lifetime_seconds the refresh token is not used: the session ends when its token is due', async () => {
    const { browser } = await signedIn();
    offsetMs = 1_200_000; // 20 min: the access token (10 min) is due, the refresh token (30 min) still usable
    expect((await browser.session('/v1/session/token')).status).toBe(200);
    expect((await lastEntry('token')).token).toBe('refreshed');
    const before = stack.oauth.requests.filter((r) => r.path === '/token').length;
    offsetMs = 1_200_000 + 600_000; // 30 min after sign-in, the refreshed token due again
    const res = await browser.session('/v1/session/token');
    expect(await errorOf(res)).toMatchObject({ status: 401, error: 'login_required' });
    expect((await lastEntry('token')).error).toMatchObject({ reason: 'refresh_token_expired' });
    expect(stack.oauth.requests.filter((r) => r.path === '/token').length).toBe(before); // the provider was not asked
  });

  it('concurrent requests due for refresh share one refresh at the provider', async () => {
    const { browser } = await signedIn();
    const before = stack.oauth.requests.filter((r) => r.path === '/token').length;
    offsetMs = 545_000;
    const answers = await Promise.all(Array.from({ length: 5 }, () => browser.session('/v1/session/token').then((r) => r.json() as Promise<{ access_token: string }>)));
    expect(new Set(answers.map((a) => a.access_token)).size).toBe(1);
    expect(stack.oauth.requests.filter((r) => r.path === '/token').length - before).toBe(1);
  });

  it('a refresh token revoked upstream ends the session: 401 "please sign in again", and the session stays gone', async () => {
    const { browser, sub } = await signedIn();
    expect(stack.oauth.revokeAllFor(sub)).toBeGreaterThan(0);
    offsetMs = 545_000;
    const res = await browser.session('/v1/session/token');
    const body = await res.clone().json() as Record<string, unknown>;
    expect({ status: res.status, error: body.error }).toEqual({ status: 401, error: 'login_required' });
    expect(String(body.error_description)).toMatch(/sign in again/);
    expect((await lastEntry('token')).error).toMatchObject({ reason: 'refresh_token_revoked' });
    offsetMs = 0;
    expect((await lastEntry('token')).error).toMatchObject({ reason: 'refresh_token_revoked' });
    expect((await browser.session('/v1/session/token')).status).toBe(401); // deleted, not merely refused once
  });

  it('provider 5xx during a refresh: the still-valid token is served (audited), an expired one is 503 with Retry-After', async () => {
    const { browser } = await signedIn();
    const first = await (await browser.session('/v1/session/token')).json() as { access_token: string };
    stack.oauth.faults.failNext({ status: 503, count: Infinity, match: 'token' });
    offsetMs = 545_000;
    const stale = await browser.session('/v1/session/token');
    expect(stale.status).toBe(200);
    expect(((await stale.json()) as { access_token: string }).access_token).toBe(first.access_token);
    expect(await lastEntry('token')).toMatchObject({ token: 'served_stale', warning: expect.stringContaining('503') });
    offsetMs = 601_000;
    const res = await browser.session('/v1/session/token');
    expect(await errorOf(res.clone())).toMatchObject({ status: 503, error: 'temporarily_unavailable' });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await lastEntry('token')).error).toMatchObject({ reason: 'provider_unavailable' });
    stack.oauth.faults.clear();
    const recovered = await browser.session('/v1/session/token');
    expect(recovered.status).toBe(200);
  });

});

it('logout revokes the refresh token at the provider, deletes the session and clears the cookie; CSRF-checked too', async () => {
  const { browser, sub } = await signedIn();
  expect((await browser.session('/v1/logout', { csrf: false })).status).toBe(403);
  expect((await browser.session('/v1/session/token')).status).toBe(200); // the refused logout changed nothing
  const res = await browser.session('/v1/logout');
  expect(res.status).toBe(204);
  expect(browser.setCookies.at(-1)).toBe('tb-session-demo-web=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax');
  const refreshTokens = stack.oauth.issued().refreshTokens.filter((t) => t.sub === sub);
  expect(refreshTokens.at(-1)?.state).toBe('revoked');
  expect(await lastEntry('logout')).toMatchObject({ outcome: 'ok', user: { subject: sub } });
});

describe('limits (last: it spends the user\'s minute)', () => {
  it("limits each user's session-token requests per minute", async () => {
    const { browser } = await signedIn();
    await awayFromMinuteEnd();
    const statuses: number[] = [];
    for (let i = 0; i < 31; i += 1) statuses.push((await browser.session('/v1/session/token')).status);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(30);
    expect(statuses.at(-1)).toBe(429);
  });
});

it('emits exactly the user_session fields docs/audit.md documents, and never a token or cookie value', async () => {
  await stack.audit.flush();
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'audit.md'), 'utf8');
  const table = /<!-- schema:user_session -->([\s\S]*?)<!-- \/schema -->/.exec(doc)?.[1] ?? '';
  const documented = new Set([...table.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1] ?? ''));
  const entries = audit.entries().filter((e) => e.event === 'user_session');
  const payloadPaths = (value: unknown, prefix = ''): string[] => (prefix && (documented.has(prefix) || Array.isArray(value) || typeof value !== 'object' || value === null)
    ? [prefix]
    : Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => payloadPaths(child, prefix ? `${prefix}.${key}` : key)));
  const envelope = /^(severity|httpRequest\.|logging\.googleapis\.com\/|timestamp|logName)/;
  const emitted = new Set(entries.flatMap((entry) => payloadPaths(entry)).filter((path) => !envelope.test(path)));
  expect([...emitted].filter((path) => !documented.has(path)).sort()).toEqual([]);
  expect([...documented].filter((path) => !emitted.has(path)).sort()).toEqual([]);
  const issued = stack.oauth.issued();
  const secrets = [...issued.accessTokens.map((t) => t.token), ...issued.refreshTokens.map((t) => t.token), ...issued.codes.map((c) => c.code)];
  const text = JSON.stringify(audit.entries());
  expect(secrets.length).toBeGreaterThan(10);
  expect(secrets.filter((secret) => text.includes(secret))).toEqual([]);
});
