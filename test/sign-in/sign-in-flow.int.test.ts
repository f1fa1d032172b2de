/**
 * User sign-in over HTTP against the development composition: the embedded policy's demo-web
 * app, the emulated Google sign-in provider, the real openid-client flow. A small cookie jar
 * plays the browser; the consent page's form is posted like a click.
 */
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { LineCapture } from '../helpers/capture';
import { CookieBrowser } from '../helpers/sign-in';

const audit = new LineCapture();
let stack: DevStack;
beforeAll(async () => {
  stack = await startDevStack({ auditTransport: audit, signIn: { accessTokenSeconds: 120, refreshMarginSeconds: 60 } });
  await stack.broker;
});
afterAll(() => stack?.close());

it('signs a user in, serves the access token from the vault, and logs out', async () => {
  const browser = new CookieBrowser(stack);
  const back = await browser.signIn();
  expect(back.status).toBe(302);
  expect(back.headers.get('location')).toBe(`${stack.url}/demo/`);
  const token = await browser.session('/v1/session/token');
  expect(token.status).toBe(200);
  const body = await token.json() as Record<string, unknown>;
  expect(body).toMatchObject({ token_type: 'Bearer', access_token: expect.stringMatching(/^ya29\./) });
  expect(Number(body.expires_in)).toBeGreaterThan(60);
  const logout = await browser.session('/v1/logout');
  expect(logout.status).toBe(204);
  expect((await browser.session('/v1/session/token')).status).toBe(401);
  await stack.audit.flush();
  const actions = audit.entries().filter((e) => e.event === 'user_session').map((e) => `${e.action}:${e.outcome}`);
  expect(actions).toEqual(expect.arrayContaining(['login:ok', 'callback:ok', 'token:ok', 'logout:ok', 'token:denied']));
});
