/**
 * Token introspection (RFC 7662) at POST /v1/introspect, over HTTP against the development
 * composition: client authentication required, a client learns only about tokens handed to
 * it, every inactive answer is the bare `{active: false}`, no-store, one audit entry per call
 * that names the token by its SHA-256 only, and the metadata advertises the endpoint.
 */
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { sha256Fingerprint } from '../../shared/fingerprint';
import { generateClientSecret } from '../../shared/identity/credential-format';
import { hashSecret } from '../../shared/identity/secret-hash';
import { GCLOUD_CLIENT } from '../../shared/policy/schema';
import { LineCapture } from '../helpers/capture';
import { exchangeForm, FORM, post, type Answer } from '../helpers/http';
import { basic } from '../clients/client-fixture';
import { awayFromMinuteEnd } from '../helpers/limits';

const SA = 'reader@token-broker-dev.iam.gserviceaccount.com';
const CLOUD = 'https://www.googleapis.com/auth/cloud-platform';
const READ = 'https://www.googleapis.com/auth/devstorage.read_only';
const secrets = { service: generateClientSecret(), auditor: generateClientSecret(), limited: generateClientSecret() };
const audit = new LineCapture();
let offsetMs = 0;
let stack: DevStack;
let introspectUrl: string;

beforeAll(async () => {
  const [service, auditor, limited] = await Promise.all([hashSecret(secrets.service), hashSecret(secrets.auditor), hashSecret(secrets.limited)]);
  stack = await startDevStack({
    auditTransport: audit,
    now: () => Date.now() + offsetMs,
    policyText: ({ issuer, broker }) => `
version: 1
public_clients: [gcloud, { id: other-cli }]
issuers:
  - issuer: "${issuer}"
    audiences: ["${broker}"]
clients:
  - id: service
    secrets: [{ hash: "${service}" }]
  - id: auditor
    secrets: [{ hash: "${auditor}" }]
    introspection: any
  - id: limited
    secrets: [{ hash: "${limited}" }]
    limits: { requests_per_minute: 2 }
rules:
  - id: workloads
    issuer: "${issuer}"
    condition: claims.sub.startsWith('repo:')
    username: "{repository}@ci"
    grant: { service_account: ${SA}, scopes: [${CLOUD}, ${READ}], scope_request: intersect }
  - id: plain
    issuer: "${issuer}"
    condition: claims.sub == 'plain'
    grant: { service_account: ${SA}, scopes: [${CLOUD}] }
  - id: service
    clients: [service]
    condition: "true"
    grant: { service_account: ${SA}, scopes: [${READ}] }
`,
  });
  await stack.broker;
  introspectUrl = `${stack.url}/v1/introspect`;
});
afterAll(() => stack?.close());

const GCLOUD = basic(GCLOUD_CLIENT.id, GCLOUD_CLIENT.publishedSecret);

async function exchange(sub: string, authorization?: string, extra: Record<string, string> = {}): Promise<string> {
  const subjectToken = await stack.issuer.sign({ sub, aud: stack.issuerUrl, repository: 'acme/app' });
  const res = await post(stack.tokenUrl, exchangeForm(subjectToken, extra), authorization ? { ...FORM, authorization } : FORM);
  expect(res.status).toBe(200);
  return String(res.body.access_token);
}

const introspect = (token: string, authorization?: string, extra: Record<string, string> = {}): Promise<Answer> =>
  post(introspectUrl, { token, ...extra }, authorization ? { ...FORM, authorization } : FORM);

async function lastIntrospection(): Promise<Record<string, unknown>> {
  await stack.audit.flush();
  return audit.entries().filter((e) => e.event === 'token_introspection').at(-1) ?? {};
}

it("answers active with the token's facts to the client it was handed to (gcloud, public)", async () => {
  const token = await exchange('repo:acme/app:ref:refs/heads/main', GCLOUD, { scope: `${CLOUD} openid` });
  const now = Math.floor(Date.now() / 1000);
  const res = await introspect(token, GCLOUD);
  expect(res.status).toBe(200);
  expect(res.body).toEqual({
    active: true,
    scope: CLOUD,
    client_id: GCLOUD_CLIENT.id,
    username: 'acme/app@ci',
    token_type: 'Bearer',
    exp: expect.any(Number),
    iat: expect.any(Number),
    sub: 'repo:acme/app:ref:refs/heads/main',
    iss: stack.issuerUrl,
    subject_issuer: stack.issuer.issuer,
  });
  expect(Number(res.body.iat)).toBeGreaterThanOrEqual(now - 5);
  expect(Number(res.body.exp)).toBeGreaterThan(now);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(await lastIntrospection()).toMatchObject({
    outcome: 'answered', active: true, tokenSha256: sha256Fingerprint(token), ruleId: 'workloads',
    client: { id: GCLOUD_CLIENT.id, authMethod: 'public' },
  });
  expect(JSON.stringify(audit.entries())).not.toContain(token);
});

it('a registered client introspects its own token (client_secret_post), username defaults to the subject', async () => {
  const res = await post(stack.tokenUrl, { grant_type: 'client_credentials' }, { ...FORM, authorization: basic('service', secrets.service) });
  const token = String(res.body.access_token);
  const answer = await introspect(token, undefined, { client_id: 'service', client_secret: secrets.service });
  expect(answer.body).toMatchObject({ active: true, client_id: 'service', username: 'service', sub: 'service', scope: READ });
});

describe('inactive: the bare {active: false}, whatever the reason', () => {
  it('an unknown token, and a string that is no token at all', async () => {
    for (const token of ['ya29.not-a-token-the-broker-issued', 'x']) {
      const res = await introspect(token, GCLOUD);
      expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { active: false } });
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
    expect(await lastIntrospection()).toMatchObject({ active: false, inactiveBecause: 'unknown' });
  });

  it("another client's token: not even its existence is told", async () => {
    const token = await exchange('repo:acme/app:ref:refs/heads/other', GCLOUD);
    expect((await introspect(token, basic('other-cli', ''))).body).toEqual({ active: false });
    expect(await lastIntrospection()).toMatchObject({ active: false, inactiveBecause: 'other_client' });
    expect((await introspect(token, basic('service', secrets.service))).body).toEqual({ active: false });
    // A token issued without client authentication belongs to no client.
    const anonymous = await exchange('plain');
    expect((await introspect(anonymous, GCLOUD)).body).toEqual({ active: false });
  });

  it('an expired token', async () => {
    const token = await exchange('repo:acme/app:ref:refs/heads/expiring', GCLOUD);
    expect((await introspect(token, GCLOUD)).body).toMatchObject({ active: true });
    offsetMs = 2 * 3600_000;
    try {
      expect((await introspect(token, GCLOUD)).body).toEqual({ active: false });
      expect(await lastIntrospection()).toMatchObject({ inactiveBecause: 'expired' });
    } finally {
      offsetMs = 0;
    }
  });
});

it('a client with introspection: any sees every live token, naming the client it went to', async () => {
  const token = await exchange('repo:acme/app:ref:refs/heads/audited', GCLOUD);
  expect((await introspect(token, basic('auditor', secrets.auditor))).body).toMatchObject({ active: true, client_id: GCLOUD_CLIENT.id });
  const anonymous = await exchange('plain');
  const answer = await introspect(anonymous, basic('auditor', secrets.auditor));
  expect(answer.body).toMatchObject({ active: true, username: 'plain' });
  expect(answer.body).not.toHaveProperty('client_id');
});

describe('refusals', () => {
  it('401 invalid_client with WWW-Authenticate without client authentication, and with a wrong secret', async () => {
    const token = await exchange('repo:acme/app:ref:refs/heads/main', GCLOUD);
    for (const authorization of [undefined, basic('service', 'wrong'), basic(GCLOUD_CLIENT.id, 'not-the-published-secret')]) {
      const res = await introspect(token, authorization);
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 401, error: 'invalid_client' });
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
      expect(res.text).not.toContain('active');
    }
    expect(await lastIntrospection()).toMatchObject({ outcome: 'denied', error: { code: 'invalid_client' } });
  });

  it('400 invalid_request without a token; 405 for GET', async () => {
    const res = await post(introspectUrl, {}, { ...FORM, authorization: GCLOUD });
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_request' });
    expect(await lastIntrospection()).toMatchObject({ error: { reason: 'missing_parameter' } });
    const get = await fetch(introspectUrl);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it("429 with Retry-After past the client's requests_per_minute", async () => {
    await awayFromMinuteEnd();
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await introspect('ya29.unknown', basic('limited', secrets.limited))).status);
    expect(statuses).toEqual([200, 200, 429]);
    const res = await introspect('ya29.unknown', basic('limited', secrets.limited));
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await lastIntrospection()).toMatchObject({ outcome: 'limited', error: { reason: 'limit_requests_per_minute' } });
  });
});

it('the RFC 8414 metadata lists the introspection endpoint', async () => {
  const metadata = await (await fetch(`${stack.url}/.well-known/oauth-authorization-server`)).json() as Record<string, unknown>;
  expect(metadata.introspection_endpoint).toBe(`${stack.issuerUrl}/v1/introspect`);
  expect(metadata.introspection_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post', 'private_key_jwt']);
});
