/**
 * User sign-in with shared state in Firestore (the real emulator): sessions and pending logins
 * live there, and when Firestore goes away a session request is a clear 503 that holds
 * no token. Plus the cookie attributes of a broker served over https.
 */
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { firestoreOutage, type FirestoreOutage } from '../helpers/firestore';
import { LineCapture } from '../helpers/capture';
import { CookieBrowser } from '../helpers/sign-in';

describe('Firestore-backed sessions', () => {
  const audit = new LineCapture();
  let outage: FirestoreOutage;
  let stack: DevStack;
  const suiteHost = process.env.FIRESTORE_EMULATOR_HOST;

  beforeAll(async () => {
    outage = await firestoreOutage();
    process.env.FIRESTORE_EMULATOR_HOST = outage.host; // this stack's Firestore goes through the proxy
    try {
      stack = await startDevStack({ auditTransport: audit, env: { BROKER_CACHE: 'firestore', GOOGLE_CLOUD_PROJECT: `demo-sign-in-${Date.now()}` } });
      await stack.broker;
    } finally {
      process.env.FIRESTORE_EMULATOR_HOST = suiteHost;
    }
  });
  afterAll(() => outage.end(() => stack.close()));

  it('signs in and serves the token with the session in Firestore (sealed under the development key)', async () => {
    const browser = new CookieBrowser(stack);
    expect((await browser.signIn()).status).toBe(302);
    const token = await browser.session('/v1/session/token');
    expect(token.status).toBe(200);
    expect(((await token.json()) as { access_token: string }).access_token).toMatch(/^ya29\./);
  });

  it('Firestore down: 503 temporarily_unavailable with Retry-After, no token in the answer', async () => {
    const browser = new CookieBrowser(stack);
    expect((await browser.signIn()).status).toBe(302);
    await outage.cut();
    const started = Date.now();
    const res = await browser.session('/v1/session/token');
    const text = await res.text();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(res.status).toBe(503);
    expect(JSON.parse(text)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(text).not.toMatch(/ya29\.|1\/\//);
    await stack.audit.flush();
    expect(audit.entries().filter((e) => e.event === 'user_session').at(-1)).toMatchObject({ action: 'token', error: { reason: 'session_store_unavailable' } });
  });
});

describe('a broker served over https', () => {
  let stack: DevStack;
  beforeAll(async () => {
    stack = await startDevStack({ auditTransport: new LineCapture(), env: { BROKER_ISSUER_URL: 'https://broker.example.test' } });
    await stack.broker;
  });
  afterAll(() => stack?.close());

  it('sets __Host- cookies with Secure, HttpOnly, Path=/ (pre-login Lax, session Strict)', async () => {
    const browser = new CookieBrowser(stack);
    const login = await browser.login('https://broker.example.test/demo/');
    expect(login.status).toBe(302);
    expect(browser.setCookies.at(-1)).toMatch(/^__Host-tb-login=[A-Za-z0-9_-]{43}; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    const back = await browser.consent(login.headers.get('location') ?? '');
    // The provider sends the browser to https://broker.example.test/v1/callback: the same request, on loopback.
    const callback = new URL(back.headers.get('location') ?? '');
    expect(callback.origin).toBe('https://broker.example.test');
    const done = await browser.go(`${stack.url}${callback.pathname}${callback.search}`);
    expect(done.status).toBe(302);
    expect(done.headers.get('location')).toBe('https://broker.example.test/demo/');
    expect(browser.setCookies.at(-1)).toMatch(/^__Host-tb-session-demo-web=[A-Za-z0-9_-]{43}; Max-Age=3600; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
    const token = await browser.session('/v1/session/token', { origin: 'https://broker.example.test' });
    expect(token.status).toBe(200);
  });
});
