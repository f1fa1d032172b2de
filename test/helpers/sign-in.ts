/**
 * A minimal browser for user sign-in tests over fetch: keeps the broker's cookies (and only
 * those), follows nothing by itself, and "clicks" a demo user's button on the emulated
 * provider's consent page by posting that button's form.
 */
import type { DevStack } from '../../dev/dev-stack';

export class CookieBrowser {
  readonly cookies = new Map<string, string>();
  /** Every Set-Cookie line the broker sent, in order. */
  readonly setCookies: string[] = [];

  constructor(private readonly stack: Pick<DevStack, 'url' | 'oauth'>) {}

  async go(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const toBroker = new URL(url).host === new URL(this.stack.url).host;
    if (toBroker && this.cookies.size > 0) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    if (toBroker) {
      for (const line of res.headers.getSetCookie()) {
        this.setCookies.push(line);
        const pair = line.split(';')[0] ?? '';
        const name = pair.slice(0, pair.indexOf('='));
        if (/max-age=0/i.test(line)) this.cookies.delete(name);
        else this.cookies.set(name, pair.slice(pair.indexOf('=') + 1));
      }
    }
    return res;
  }

  /** GET /v1/login: the broker's answer (302 to the provider when all is well). */
  login(returnTo = `${this.stack.url}/demo/`, app = 'demo-web'): Promise<Response> {
    return this.go(`${this.stack.url}/v1/login?app=${encodeURIComponent(app)}&return_to=${encodeURIComponent(returnTo)}`);
  }

  /** At the provider: the consent page of `authorizationUrl`, then the click on user `user`'s button (or Cancel): the provider's redirect. */
  async consent(authorizationUrl: string, user: number | 'cancel' = 0): Promise<Response> {
    const html = await (await this.go(authorizationUrl)).text();
    const forms = [...html.matchAll(/<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/g)];
    const form = user === 'cancel' ? forms.find((f) => /data-action="cancel"/.test(f[2] ?? '')) : forms[user];
    if (!form) throw new Error('no such button on the consent page');
    const fields = new URLSearchParams([...(form[2] ?? '').matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
    return this.go(new URL(form[1] ?? '', this.stack.oauth.url).href, { method: 'POST', body: fields, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }

  /** Login → consent → callback: the broker's final redirect. */
  async signIn(user = 0): Promise<Response> {
    const login = await this.login();
    if (login.status !== 302) throw new Error(`login answered ${login.status}`);
    const back = await this.consent(login.headers.get('location') ?? '', user);
    return this.go(back.headers.get('location') ?? '');
  }

  /** POST to a session endpoint as the app's page would (its origin, the CSRF header), or otherwise. */
  session(path: '/v1/session/token' | '/v1/logout', options: { origin?: string | null; csrf?: boolean; app?: string } = {}): Promise<Response> {
    const origin = options.origin === undefined ? this.stack.url : options.origin;
    return this.go(`${this.stack.url}${path}?app=${options.app ?? 'demo-web'}`, {
      method: 'POST',
      headers: { ...(origin === null ? {} : { origin }), ...(options.csrf === false ? {} : { 'x-token-broker-csrf': '1' }) },
    });
  }
}
