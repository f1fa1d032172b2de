/** `web_apps[]` at load: every mistake a load error at its path; a good entry compiled with its defaults. */
import { compilePolicy } from '../../shared/policy/compile-policy';
import { parsePolicyText } from '../../shared/policy/parse-document';
import { DEFAULTS } from '../../shared/config/defaults';

const BASE = {
  id: 'web', provider: 'google', client_id: '123.apps.googleusercontent.com',
  client_secret_ref: 'projects/p/secrets/web-client/versions/latest', redirect_uri: 'https://broker.example.com/v1/callback',
  origins: ['https://app.example.com'], scopes: ['openid', 'email'], post_login_redirects: ['https://app.example.com/'],
};

function load(apps: unknown[], production = true) {
  const document = {
    version: 1,
    issuers: [{ issuer: 'https://issuer.example', audiences: ['x'] }],
    rules: [{ id: 'r', issuer: 'https://issuer.example', condition: 'true', grant: { service_account: 'a@p.iam.gserviceaccount.com', scopes: ['https://www.googleapis.com/auth/cloud-platform'] } }],
    web_apps: apps,
  };
  return compilePolicy(parsePolicyText(JSON.stringify(document), 'p.json'), { source: 'p.json', network: { allowInsecureLoopback: !production } });
}

const failure = (apps: unknown[], production = true): string => {
  try {
    load(apps, production);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected a load error');
};

it('compiles a Google app with its defaults: consent prompt, 8-hour sessions, 60 requests a minute', () => {
  const app = load([BASE]).webApps.get('web');
  expect(app).toMatchObject({
    issuer: 'https://accounts.google.com', clientId: BASE.client_id, prompt: 'consent',
    sessionLifetimeSeconds: DEFAULTS.sessionLifetimeSeconds, requestsPerMinute: DEFAULTS.sessionRequestsPerMinute,
  });
  expect([...(app?.origins ?? [])]).toEqual(['https://app.example.com']);
  expect(app?.condition).toBeUndefined();
});

it('another provider: its issuer, no prompt unless asked; a CEL condition compiled', () => {
  const app = load([{ ...BASE, provider: { issuer: 'https://login.example.com/' }, condition: "claims.hd == 'acme.com'" }]).webApps.get('web');
  expect(app).toMatchObject({ issuer: 'https://login.example.com' });
  expect(app?.prompt).toBeUndefined();
  expect(app?.condition?.evaluate({ hd: 'acme.com' })).toEqual({ matched: true });
  expect(app?.condition?.evaluate({ hd: 'other.com' }).matched).toBe(false);
});

it.each<[string, Record<string, unknown>, RegExp]>([
  ['a redirect_uri that is not the callback', { redirect_uri: 'https://broker.example.com/callback' }, /web_apps\[0\]\.redirect_uri: must be the broker's own callback/],
  ['a redirect_uri with a query', { redirect_uri: 'https://broker.example.com/v1/callback?x=1' }, /redirect_uri: must be the broker's own callback/],
  ['scopes without openid', { scopes: ['email'] }, /web_apps\[0\]\.scopes: must include openid/],
  ['a repeated scope', { scopes: ['openid', 'openid'] }, /names a scope twice/],
  ['an origin with a path', { origins: ['https://app.example.com/app'] }, /origins\[0\]: must be an origin/],
  ['a return URL with a fragment', { post_login_redirects: ['https://app.example.com/#x'] }, /post_login_redirects\[0\]: must not have a fragment/],
  ['an invalid condition', { condition: 'claims.hd ==' }, /web_apps\[0\]\.condition: invalid CEL/],
  ['a client secret that is not a Secret Manager version', { client_secret_ref: 'my-secret' }, /client_secret_ref/],
  ['plain http in production', { redirect_uri: 'http://broker.example.com/v1/callback' }, /redirect_uri/],
  ['a loopback provider in production', { provider: { issuer: 'http://127.0.0.1:9000' } }, /provider\.issuer/],
  ['an unknown field', { client_secret: 'inline' }, /client_secret/],
])('refuses %s', (_case, change, message) => {
  expect(failure([{ ...BASE, ...change }])).toMatch(message);
});

it('refuses two apps with one id', () => {
  expect(failure([BASE, BASE])).toMatch(/duplicate web app id "web"/);
});

it('development mode accepts a loopback provider and broker', () => {
  const app = load([{ ...BASE, provider: { issuer: 'http://127.0.0.1:9000' }, redirect_uri: 'http://127.0.0.1:8080/v1/callback', origins: ['http://127.0.0.1:8080'] }], false).webApps.get('web');
  expect(app?.issuer).toBe('http://127.0.0.1:9000');
});
