/**
 * The /demo/ page's "Ask Gemini" in a real browser: headless Chromium (Debian's, through
 * playwright-core) against the development composition. The page loads the client library's
 * browser bundle from /demo/client.js, signs the user in on the emulated consent page, and asks
 * Gemini: the library gets the user's token from the broker (`session` credential) and calls the
 * Gemini emulator — another loopback port, reached through CORS — with it as a Bearer token.
 *
 * Chromium is BROKER_TEST_CHROMIUM, else /usr/bin/chromium. Without either the suite is
 * skipped, saying what to install (`npx playwright install` cannot download here).
 */
import { Writable } from 'node:stream';
import type { Browser, Page } from 'playwright-core';
import { describeWithChromium as chromiumSuite, launchWatchedPage, type WatchedPage } from '../helpers/chromium';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { DEFAULT_DEMO_USERS } from '../../dev/oauth-provider-emulator';
import { DEMO_GEMINI_MODEL } from '../../dev/demo-web-page';
import { startGeminiEmulator, type UserToken } from '../../dev/gemini-emulator';

const USER = DEFAULT_DEMO_USERS[0] as (typeof DEFAULT_DEMO_USERS)[number];
const PROMPT = 'What does the broker do?';

const describeWithChromium = chromiumSuite('demo-gemini-browser.int.test.ts');

describeWithChromium('the /demo/ page asks Gemini with the signed-in user\'s token (headless Chromium)', () => {
  jest.setTimeout(60_000);
  let watched: WatchedPage;
  let stack: DevStack;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    stack = await startDevStack({ auditTransport: silent() });
    await stack.broker;
    watched = await launchWatchedPage();
    ({ browser, page } = watched);
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  /** Clicks "Ask Gemini" and waits for the page's verdict. */
  async function askGemini(): Promise<Record<'status' | 'token' | 'answer' | 'error', string>> {
    await page.fill('#prompt', PROMPT);
    await page.click('#ask-gemini');
    await page.waitForFunction(() => !['asking', 'not asked yet'].includes(document.getElementById('gemini-status')?.textContent ?? ''));
    return page.evaluate(() => {
      const text = (id: string) => document.getElementById(id)?.textContent ?? '';
      return { status: text('gemini-status'), token: text('gemini-token'), answer: text('gemini-answer'), error: text('gemini-error') };
    });
  }

  it('serves the client library\'s browser bundle at /demo/client.js, and the page may load it and call Gemini', async () => {
    const script = await fetch(`${stack.url}/demo/client.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    const text = await script.text();
    expect(text).toMatch(/^(?:"use strict";\s*)?var TokenBrokerClient = /);
    expect(text).toContain('/v1/session/token');
    expect(text).not.toMatch(/require\(["'](node:)?(fs|crypto|path|os)["']\)/);

    const csp = (await fetch(`${stack.url}/demo/`)).headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self' 'unsafe-inline'");
    expect(csp).toContain(`connect-src 'self' ${stack.gemini.url}`);
  });

  it('before sign-in, Ask Gemini says login_required and Gemini is never called', async () => {
    await page.goto(`${stack.url}/demo/`);
    expect(await page.textContent('#gemini-status')).toBe('not asked yet');
    const shown = await askGemini();
    expect(shown).toMatchObject({ status: 'signed out', answer: '' });
    expect(shown.error).toMatch(/^login_required: /);
    expect(stack.gemini.requests).toEqual([]);
  });

  it('after sign-in, the answer appears; Gemini saw the user\'s token as Bearer, sent by the library', async () => {
    await Promise.all([page.waitForURL((url) => url.origin === stack.oauth.url), page.click('#sign-in')]);
    await Promise.all([page.waitForURL(`${stack.url}/demo/`), page.locator('#continue-0').click()]);

    const [sessionToken] = await Promise.all([
      page.waitForRequest((r) => new URL(r.url()).pathname === '/v1/session/token'),
      askGemini().then((shown) => {
        expect(shown).toEqual({ status: 'answered', token: expect.stringMatching(/^ya29\./), answer: `[${DEMO_GEMINI_MODEL}] echo: ${PROMPT}`, error: '' });
      }),
    ]);
    // The library's session request: the cookie goes along, with the CSRF header.
    expect(sessionToken.method()).toBe('POST');
    expect(sessionToken.url()).toBe(`${stack.url}/v1/session/token?app=demo-web`);
    expect(await sessionToken.headerValue('x-token-broker-csrf')).toBe('1');

    const userTokens = stack.oauth.issued().accessTokens.filter((t) => t.sub === USER.sub && t.state === 'active');
    expect(userTokens).toHaveLength(1);
    const userToken = userTokens[0]?.token ?? '';
    expect(await page.textContent('#gemini-token')).toBe(userToken.slice(0, 16));

    // One call (the CORS preflight is answered before recording), with the user's token.
    const calls = stack.gemini.requests.map((r) => `${r.method} ${r.path}`);
    expect(calls).toEqual([`POST /v1beta/models/${DEMO_GEMINI_MODEL}:generateContent`]);
    const call = stack.gemini.requests[0];
    expect(call?.headers.authorization).toBe(`Bearer ${userToken}`);
    expect(call?.headers.origin).toBe(stack.url);
    expect(JSON.parse(call?.body ?? '{}')).toEqual({ contents: [{ role: 'user', parts: [{ text: PROMPT }] }] });
  });

  it('asks again from the library\'s cache: no second broker request, the same token', async () => {
    const sessionRequests = () => watched.requested.filter((url) => new URL(url).pathname === '/v1/session/token').length;
    const before = sessionRequests();
    expect((await askGemini()).status).toBe('answered');
    expect(sessionRequests()).toBe(before);
    expect(stack.gemini.requests.map((r) => r.headers.authorization)).toEqual([stack.gemini.requests[0]?.headers.authorization, stack.gemini.requests[0]?.headers.authorization]);
  });

  it('after sign-out the user\'s token is revoked: Gemini is not asked with it again, the page says login_required', async () => {
    await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/logout'), page.click('#sign-out')]);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'signed out');
    const callsBefore = stack.gemini.requests.length;
    const shown = await askGemini();
    expect(shown.status).toBe('signed out');
    expect(shown.error).toMatch(/^login_required: /);
    expect(stack.gemini.requests).toHaveLength(callsBefore);
  });

  it('kept every request on 127.0.0.1 (broker, consent page, Gemini emulator); no script errors', () => {
    for (const url of watched.requested) expect(new URL(url).hostname).toBe('127.0.0.1');
    expect(new Set(watched.requested.map((url) => new URL(url).origin))).toEqual(new Set([stack.url, stack.oauth.url, stack.gemini.url]));
    expect(watched.requested).toContain(`${stack.url}/demo/client.js`);
    expect(watched.pageErrors).toEqual([]);
    expect(watched.httpErrors.filter((e) => e !== '404 /favicon.ico')).toEqual(['401 /v1/session/token', '401 /v1/session/token']);
  });
});

describe('the Gemini emulator, as development mode runs it (no browser)', () => {
  let stack: DevStack;
  beforeAll(async () => {
    stack = await startDevStack({ auditTransport: silent() });
    await stack.broker;
  });
  afterAll(() => stack?.close());

  const endpoint = () => `${stack.gemini.url}/v1beta/models/${DEMO_GEMINI_MODEL}:generateContent`;
  const ask = (init: RequestInit) => fetch(endpoint(), { method: 'POST', body: JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }), ...init });

  it('answers a preflight from the broker\'s origin, and no other', async () => {
    const preflight = (origin: string) => fetch(endpoint(), { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    const ok = await preflight(stack.url);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(stack.url);
    expect(ok.headers.get('access-control-allow-headers')).toContain('authorization');
    const other = await preflight('http://127.0.0.1:1');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.status).toBe(404);
  });

  it('refuses a token of nobody (401)', async () => {
    const forged = await ask({ headers: { authorization: 'Bearer ya29.forged' } });
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as { error: { status: string } }).error.status).toBe('UNAUTHENTICATED');
  });

  it('refuses a user token without a Gemini scope (403) or past its expiry (401)', async () => {
    const userTokens: Record<string, UserToken> = {
      'ya29.openid-only': { scopes: ['openid', 'email'], expiresAt: Date.now() + 60_000 },
      'ya29.expired': { scopes: ['https://www.googleapis.com/auth/generative-language.retriever'], expiresAt: Date.now() - 1 },
      'ya29.good': { scopes: ['https://www.googleapis.com/auth/generative-language.retriever'], expiresAt: Date.now() + 60_000 },
    };
    const gemini = await startGeminiEmulator({ googleEmulator: stack.google, userTokens: (token) => userTokens[token] });
    try {
      const call = (token: string) => fetch(`${gemini.url}/v1beta/models/m:generateContent`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }) });
      expect((await call('ya29.openid-only')).status).toBe(403);
      expect((await call('ya29.expired')).status).toBe(401);
      expect((await call('ya29.good')).status).toBe(200);
    } finally {
      await gemini.close();
    }
  });
});

function silent(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}
