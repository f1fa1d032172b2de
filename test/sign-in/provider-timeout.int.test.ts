/**
 * A provider that hangs during a refresh: the request ends within the broker's deadline, the
 * still-valid token is served (audited as served_stale), and an expired one is a clear 503.
 */
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { LineCapture } from '../helpers/capture';
import { CookieBrowser } from '../helpers/sign-in';

const audit = new LineCapture();
let offsetMs = 0;
let stack: DevStack;
beforeAll(async () => {
  stack = await startDevStack({
    auditTransport: audit,
    now: () => Date.now() + offsetMs,
    resilience: { requestDeadlineMs: 2000 },
    signIn: { accessTokenSeconds: 600, refreshMarginSeconds: 60 },
  });
  await stack.broker;
});
afterAll(() => stack?.close());

async function lastToken(): Promise<Record<string, unknown>> {
  await stack.audit.flush();
  return audit.entries().filter((e) => e.event === 'user_session' && e.action === 'token').at(-1) ?? {};
}

it('a hung provider: within the deadline, the valid token served stale, an expired one 503', async () => {
  const browser = new CookieBrowser(stack);
  expect((await browser.signIn()).status).toBe(302);
  const first = await (await browser.session('/v1/session/token')).json() as { access_token: string };
  stack.oauth.faults.delayNext({ ms: 10_000, count: 10, match: 'token' });
  offsetMs = 545_000; // inside the refresh margin, still valid
  let started = Date.now();
  const stale = await browser.session('/v1/session/token');
  expect(Date.now() - started).toBeLessThan(4000);
  expect(stale.status).toBe(200);
  expect(((await stale.json()) as { access_token: string }).access_token).toBe(first.access_token);
  expect(await lastToken()).toMatchObject({ token: 'served_stale' });
  offsetMs = 601_000; // expired
  started = Date.now();
  const res = await browser.session('/v1/session/token');
  expect(Date.now() - started).toBeLessThan(4000);
  expect(res.status).toBe(503);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(await res.text()).not.toMatch(/ya29\./);
}, 30_000);
