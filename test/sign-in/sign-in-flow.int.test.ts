/**
 * User sign-in over HTTP against the development composition: the embedded policy's demo-web
 * app, the emulated Google sign-in provider, the real openid-client flow. A small cookie jar
 * plays the browser; the consent page's form is posted like a click.
 */
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { LineCapture } from '../helpers/capture';

const audit = new LineCapture();
let stack: DevStack;
beforeAll(async () => {
  stack = await startDevStack({ auditTransport: audit, signIn: { accessTokenSeconds: 120, refreshMarginSeconds: 60 } });
  await stack.broker;
});
afterAll(() => stack?.close());

class Browser {
  readonly cookies = new Map<string, string>();
  async go(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const target = new URL(url);
    if (target.host === new URL(stack.url).host && this.cookies.size > 0) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    if (target.host === new URL(stack.url).host) {
      for (const line of res.headers.getSetCookie()) {
        const pair = line.split(';')[0] ?? '';
        const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
        if (/max-age=0/i.test(line)) this.cookies.delete(name);
        else this.cookies.set(name, value);
      }
    }
    return res;
  }
  /** Login → consent (first user) → callback: the final redirect. */
  async signIn(user = 0): Promise<Response> {
    const login = await this.go(`${stack.url}/v1/login?app=demo-web&return_to=${encodeURIComponent(`${stack.url}/demo/`)}`);
    expect(login.status).toBe(302);
    const consent = await this.go(login.headers.get('location') ?? '');
    const html = await consent.text();
    const forms = [...html.matchAll(/<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/g)];
    const form = forms[user];
    const fields = new URLSearchParams([...(form?.[2] ?? '').matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
    const consented = await this.go(new URL(form?.[1] ?? '', stack.oauth.url).href, { method: 'POST', body: fields, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    return this.go(consented.headers.get('location') ?? '');
  }
  token(origin = stack.url, csrf = true): Promise<Response> {
    return this.go(`${stack.url}/v1/session/token?app=demo-web`, { method: 'POST', headers: { origin, ...(csrf ? { 'x-token-broker-csrf': '1' } : {}) } });
  }
}

it('signs a user in, serves the access token from the vault, and logs out', async () => {
  const browser = new Browser();
  const back = await browser.signIn();
  expect(back.status).toBe(302);
  expect(back.headers.get('location')).toBe(`${stack.url}/demo/`);
  const token = await browser.token();
  expect(token.status).toBe(200);
  const body = await token.json() as Record<string, unknown>;
  expect(body).toMatchObject({ token_type: 'Bearer', access_token: expect.stringMatching(/^ya29\./) });
  expect(Number(body.expires_in)).toBeGreaterThan(60);
  const logout = await browser.go(`${stack.url}/v1/logout?app=demo-web`, { method: 'POST', headers: { origin: stack.url, 'x-token-broker-csrf': '1' } });
  expect(logout.status).toBe(204);
  expect((await browser.token()).status).toBe(401);
  await stack.audit.flush();
  const actions = audit.entries().filter((e) => e.event === 'user_session').map((e) => `${e.action}:${e.outcome}`);
  expect(actions).toEqual(expect.arrayContaining(['login:ok', 'callback:ok', 'token:ok', 'logout:ok', 'token:denied']));
});
