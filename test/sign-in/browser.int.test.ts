/**
 * User sign-in in a real browser: headless Chromium (Debian's, driven by playwright-core)
 * against the development composition. It opens the demo page (/demo/), follows "Sign in" to
 * the emulated Google consent page, clicks the first demo user, comes back with the session
 * cookie, asks for the access token, waits for the broker to refresh it at the provider, signs
 * out; then checks the cookie's attributes as the browser stored them, the audit trail, and
 * that the browser never asked for anything off loopback.
 *
 * Chromium is BROKER_TEST_CHROMIUM (.ci/run sets it), else /usr/bin/chromium. Without either
 * the suite is skipped, saying what to install (`npx playwright install` cannot download here).
 *
 * Lifetimes: the provider's access tokens live 20 s and the broker refreshes them when 15 s
 * or less are left, so the token from the code exchange is served from the vault for the
 * first ~5 s after the callback and replaced after that.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { describeWithChromium as chromiumSuite, launchWatchedPage, type WatchedPage } from '../helpers/chromium';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { DEFAULT_DEMO_USERS } from '../../dev/oauth-provider-emulator';
import { LineCapture } from '../helpers/capture';

const ACCESS_TOKEN_SECONDS = 20;
const REFRESH_MARGIN_SECONDS = 15;
const SESSION_COOKIE = 'tb-session-demo-web';
const USER = DEFAULT_DEMO_USERS[0] as (typeof DEFAULT_DEMO_USERS)[number];

const describeWithChromium = chromiumSuite('browser.int.test.ts');

describeWithChromium('user sign-in in headless Chromium (/demo/)', () => {
  jest.setTimeout(60_000);
  const audit = new LineCapture();
  let watched: WatchedPage;
  let stack: DevStack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let sessionCookieValue = '';

  beforeAll(async () => {
    stack = await startDevStack({ auditTransport: audit, signIn: { accessTokenSeconds: ACCESS_TOKEN_SECONDS, refreshMarginSeconds: REFRESH_MARGIN_SECONDS } });
    await stack.broker;
    watched = await launchWatchedPage();
    ({ browser, context, page } = watched);
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  /** Clicks "Get my token" and waits until the page has shown the answer (it always sets #status). */
  async function getToken(): Promise<{ status: number; shown: Record<'status' | 'token' | 'expiresIn' | 'scope' | 'distinct' | 'error', string> }> {
    await page.$eval('#status', (el) => { el.textContent = ''; });
    const [response] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/session/token' && r.request().method() === 'POST'),
      page.click('#get-token'),
    ]);
    await page.waitForFunction(() => (document.getElementById('status')?.textContent ?? '') !== '');
    return { status: response.status(), shown: await shown() };
  }

  function shown() {
    return page.evaluate(() => {
      const text = (id: string) => document.getElementById(id)?.textContent ?? '';
      return { status: text('status'), token: text('token'), expiresIn: text('expires-in'), scope: text('scope'), distinct: text('distinct'), error: text('error') };
    });
  }

  async function sessionCookies() {
    return (await context.cookies(stack.url)).filter((c) => c.name.includes('tb-session'));
  }

  let callbackAt = 0;

  it('signs in through the emulated consent page and comes back to /demo/', async () => {
    await page.goto(`${stack.url}/demo/`);
    expect(await page.textContent('#status')).toBe('signed out (or not asked yet)');
    expect(await page.getAttribute('#sign-in', 'href')).toBe(`${stack.url}/v1/login?app=demo-web&return_to=${encodeURIComponent(`${stack.url}/demo/`)}`);

    await Promise.all([page.waitForURL((url) => url.origin === stack.oauth.url && url.pathname === '/o/oauth2/v2/auth'), page.click('#sign-in')]);
    const button = page.locator('#continue-0');
    expect(await button.getAttribute('data-user')).toBe(USER.sub);
    expect(await button.textContent()).toContain(USER.email);

    const [callback] = await Promise.all([
      page.waitForResponse((r) => r.url().startsWith(`${stack.url}/v1/callback?`)),
      page.waitForURL(`${stack.url}/demo/`),
      button.click(),
    ]);
    callbackAt = Date.now();
    expect(callback.status()).toBe(302);
    expect(await page.textContent('#status')).toBe('signed out (or not asked yet)'); // a fresh page: nothing asked yet
  });

  it('serves the access token to the page; the session cookie is HttpOnly, SameSite=Strict and invisible to scripts', async () => {
    const { status, shown } = await getToken();
    expect(status).toBe(200);
    expect(shown).toMatchObject({ status: 'signed in', error: '', distinct: '1' });
    expect(shown.token).toMatch(/^ya29\./);
    expect(shown.token).toHaveLength(16);
    expect(shown.scope.split(' ')).toEqual(expect.arrayContaining(['openid', 'https://www.googleapis.com/auth/generative-language.retriever']));
    // Still the token of the code exchange, served from the vault (more than the margin left).
    const fromCode = stack.oauth.issued().accessTokens.filter((t) => t.sub === USER.sub && t.grant === 'authorization_code');
    expect(fromCode).toHaveLength(1);
    expect(shown.token).toBe(fromCode[0]?.token.slice(0, 16));
    expect(Number(shown.expiresIn)).toBeGreaterThan(REFRESH_MARGIN_SECONDS);
    expect(Number(shown.expiresIn)).toBeLessThanOrEqual(ACCESS_TOKEN_SECONDS);

    const cookies = await sessionCookies();
    expect(cookies).toHaveLength(1); // plain-http loopback: no __Host- variant
    const [cookie] = cookies;
    expect(cookie).toMatchObject({ name: SESSION_COOKIE, httpOnly: true, secure: false, sameSite: 'Strict', path: '/', domain: '127.0.0.1' });
    expect(cookie?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    sessionCookieValue = cookie?.value ?? '';
    // The pre-login cookie was single use: cleared by the callback.
    expect((await context.cookies(stack.url)).map((c) => c.name)).not.toContain('tb-login');

    const visibleToScripts = await page.evaluate(() => document.cookie);
    expect(visibleToScripts).not.toContain(SESSION_COOKIE);
    expect(visibleToScripts).not.toContain(sessionCookieValue);
  });

  it('gets a new access token once the broker refreshes it at the provider', async () => {
    const deadline = callbackAt + (ACCESS_TOKEN_SECONDS + 5) * 1000;
    let last = (await getToken()).shown;
    while (last.distinct !== '2' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      last = (await getToken()).shown;
    }
    expect(last).toMatchObject({ status: 'signed in', distinct: '2', error: '' });
    const refreshed = stack.oauth.issued().accessTokens.filter((t) => t.sub === USER.sub && t.grant === 'refresh_token');
    expect(refreshed).toHaveLength(1); // once, not once per poll
    expect(last.token).toBe(refreshed[0]?.token.slice(0, 16));
    expect(Number(last.expiresIn)).toBeGreaterThan(REFRESH_MARGIN_SECONDS);
    const elapsed = (Date.now() - callbackAt) / 1000;
    expect(elapsed).toBeGreaterThanOrEqual(ACCESS_TOKEN_SECONDS - REFRESH_MARGIN_SECONDS - 1); // not before the margin was reached
    // The browser kept the same session: refreshing is the broker's business, not a new cookie.
    expect((await sessionCookies()).map((c) => c.value)).toEqual([sessionCookieValue]);
  });

  it('signs out: 204, the cookie is gone, the refresh token is revoked, and the next token request says login_required', async () => {
    const [logout] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/logout'),
      page.click('#sign-out'),
    ]);
    expect(logout.status()).toBe(204);
    await page.waitForFunction(() => document.getElementById('token')?.textContent === '—');
    expect(await page.textContent('#status')).toBe('signed out');
    expect(await sessionCookies()).toEqual([]);
    const refreshTokens = stack.oauth.issued().refreshTokens.filter((t) => t.sub === USER.sub);
    expect(refreshTokens.length).toBeGreaterThan(0);
    expect(refreshTokens.every((t) => t.state === 'revoked')).toBe(true);
    expect(stack.oauth.issued().accessTokens.filter((t) => t.sub === USER.sub).map((t) => t.state)).not.toContain('active');

    const { status, shown } = await getToken();
    expect(status).toBe(401);
    expect(shown.status).toBe('signed out');
    expect(shown.error).toMatch(/^login_required: /);
  });

  it('audits every step for the user and never a token, code or session id', async () => {
    await stack.audit.flush();
    const entries = audit.entries().filter((e) => e.event === 'user_session');
    const steps = entries.map((e) => `${String(e.action)}:${String(e.outcome)}${e.token ? `:${String(e.token)}` : ''}`);
    expect(steps[0]).toBe('login:ok');
    expect(steps[1]).toBe('callback:ok');
    expect(steps).toEqual(expect.arrayContaining(['token:ok:vault', 'token:ok:refreshed', 'logout:ok', 'token:denied']));
    expect(steps.filter((s) => s === 'token:ok:refreshed')).toHaveLength(1);
    expect(steps.at(-1)).toBe('token:denied');
    for (const entry of entries) expect(entry.app).toBe('demo-web');
    for (const entry of entries.filter((e) => e.action !== 'login' && e.outcome === 'ok')) {
      expect(entry.user).toMatchObject({ subject: USER.sub });
    }
    const denied = entries.at(-1);
    expect(denied?.error).toMatchObject({ code: 'login_required', reason: 'session_missing', status: 401 });

    const issued = stack.oauth.issued();
    const secrets = [
      ...issued.accessTokens.map((t) => t.token),
      ...issued.refreshTokens.map((t) => t.token),
      ...issued.codes.map((c) => c.code),
      sessionCookieValue,
    ].filter((s) => s.length > 0);
    expect(issued.accessTokens.length).toBeGreaterThanOrEqual(2);
    expect(issued.refreshTokens.length).toBeGreaterThanOrEqual(1);
    const everything = audit.lines.join('\n');
    for (const secret of secrets) expect(everything).not.toContain(secret);
    expect(everything).not.toMatch(/ya29\.|1\/\/0/);
  });

  it('kept every request on loopback; no script errors, no HTTP errors but the expected 401', () => {
    const origins = new Set(watched.requested.map((url) => new URL(url).origin));
    expect(origins).toEqual(new Set([stack.url, stack.oauth.url]));
    for (const url of watched.requested) expect(new URL(url).hostname).toBe('127.0.0.1');
    expect(watched.pageErrors).toEqual([]);
    // The one refusal the flow asks for (after sign-out); Chromium's favicon probes aside.
    expect(watched.httpErrors.filter((e) => e !== '404 /favicon.ico')).toEqual(['401 /v1/session/token']);
  });
});
