/**
 * ID tokens for Cloud Run and other IAP/OIDC-checking services: `requested_token_type=…:id_token`
 * with `resource=<audience>` through the real endpoint, minted by the (emulated) IAM Credentials
 * generateIdToken for the rule's service account, for an audience the rule's
 * `id_token_audiences` allows (exact URLs, or https://*.HOST for one label).
 */
import { decodeJwt } from 'jose';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { TOKEN_TYPE_ID_TOKEN } from '../../shared/oauth-uris';
import { LineCapture } from '../helpers/capture';
import { exchangeForm, post, type Answer } from '../helpers/http';
import { DEPLOYER, testPolicy } from './policy-fixture';

const audit = new LineCapture();
let stack: DevStack;
beforeAll(async () => {
  stack = await startDevStack({ policyText: testPolicy, auditTransport: audit });
  await stack.broker;
});
afterAll(() => stack?.close());

const claims = () => ({ sub: 'repo:acme/app:ref:refs/heads/main', aud: stack.url, repository: 'acme/app', ref: 'refs/heads/main' });
const idTokenMints = () => stack.google.requests.filter((r) => r.path.includes(':generateIdToken')).length;

async function askIdToken(resource: string | undefined, extra: Record<string, string> = {}, tokenClaims: Record<string, unknown> = {}): Promise<Answer> {
  return post(stack.tokenUrl, exchangeForm(await stack.issuer.sign({ ...claims(), ...tokenClaims }), {
    requested_token_type: TOKEN_TYPE_ID_TOKEN, ...(resource === undefined ? {} : { resource }), ...extra,
  }));
}

it.each([
  ['an exact audience', 'https://demo-service.example.run.app'],
  ['one label under a wildcard host', 'https://billing.internal.example.test'],
])('%s → a Google-signed ID token for the rule\'s service account', async (_name, resource) => {
  const res = await askIdToken(resource);
  expect(res.status).toBe(200);
  expect(Object.keys(res.body).sort()).toEqual(['access_token', 'expires_in', 'issued_token_type', 'token_type']);
  expect(res.body).toMatchObject({ issued_token_type: TOKEN_TYPE_ID_TOKEN, token_type: 'N_A' });
  const payload = decodeJwt(String(res.body.access_token));
  expect(payload).toMatchObject({ aud: resource, email: DEPLOYER, iss: 'https://accounts.google.com' });
  expect(Number(res.body.expires_in)).toBeGreaterThan(3000);
  expect(Math.abs(Number(payload.exp) - Math.floor(Date.now() / 1000) - Number(res.body.expires_in))).toBeLessThanOrEqual(2);
  expect(res.headers.get('cache-control')).toBe('no-store');
});

it('is cached per audience: the same audience is served from the cache, another mints anew', async () => {
  const before = idTokenMints();
  const first = await askIdToken('https://cached.internal.example.test');
  const again = await askIdToken('https://cached.internal.example.test');
  const other = await askIdToken('https://other.internal.example.test');
  expect([first.status, again.status, other.status]).toEqual([200, 200, 200]);
  expect(again.body.access_token).toBe(first.body.access_token);
  expect(other.body.access_token).not.toBe(first.body.access_token);
  expect(idTokenMints() - before).toBe(2);
  await stack.audit.flush();
  expect(audit.entries().filter((e) => e.event === 'token_exchange').at(-1)?.grant).toMatchObject({ idTokenAudience: 'https://other.internal.example.test', serviceAccount: DEPLOYER });
});

it.each([
  ['an audience the rule does not list', 'https://evil.example.test'],
  ['a deeper subdomain under the wildcard', 'https://a.b.internal.example.test'],
  ['the wildcard host itself', 'https://internal.example.test'],
  ['a lookalike suffix', 'https://x.internal.example.test.evil.test'],
  ['http instead of https', 'http://demo-service.example.run.app'],
  ['the exact URL with a path', 'https://demo-service.example.run.app/admin'],
])('%s → 400 invalid_target, nothing minted', async (_name, resource) => {
  const before = idTokenMints();
  const res = await askIdToken(resource);
  expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_target' });
  expect(idTokenMints()).toBe(before);
});

it('a rule without id_token_audiences issues none (400 invalid_target)', async () => {
  // The any-branch rule (a feature branch) lists no ID-token audiences.
  const res = await askIdToken('https://demo-service.example.run.app', {}, { ref: 'refs/heads/feature' });
  expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_target' });
});

it('an ID token needs resource (400 invalid_request); resource without an ID token is refused as before', async () => {
  expect((await askIdToken(undefined)).body.error).toBe('invalid_request');
  const accessWithResource = await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign(claims()), { resource: 'https://demo-service.example.run.app' }));
  expect({ status: accessWithResource.status, error: accessWithResource.body.error }).toEqual({ status: 400, error: 'invalid_request' });
});

it('a generateIdToken outage → 503 with Retry-After', async () => {
  stack.google.faults.failNext({ status: 503, count: 3, match: 'generateIdToken' });
  const res = await askIdToken('https://outage.internal.example.test');
  stack.google.faults.clear();
  expect({ status: res.status, error: res.body.error, retry: res.headers.get('retry-after') !== null }).toEqual({ status: 503, error: 'temporarily_unavailable', retry: true });
});
