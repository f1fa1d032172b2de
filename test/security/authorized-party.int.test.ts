/**
 * `azp` (OIDC Core §2, "authorized party") through the real token endpoint. A token with
 * several audiences was issued to one of them, and only `azp` says which: it must be present
 * and accepted. A token that names an `azp` must name an accepted one. Defaults: the issuer's
 * audiences; `authorized_parties` widens or narrows that, as a Google ID token needs when its
 * `azp` is an Android client and its `aud` the web client.
 */
import { generateKeyPairSync } from 'node:crypto';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { PolicyLoadError } from '../../shared/policy/policy-error';
import { LineCapture } from '../helpers/capture';
import { forgeJwsWith, rs256Signer } from '../helpers/forge';
import { exchangeForm, post } from '../helpers/http';

const SA = 'gemini-caller@token-broker-dev.iam.gserviceaccount.com';
const GOOGLE_LIKE = 'https://accounts.example.test';
const WEB_CLIENT = '1234-web.apps.example.test';
const ANDROID_CLIENT = '1234-android.apps.example.test';
const key = generateKeyPairSync('rsa', { modulusLength: 2048 });
const audit = new LineCapture();
let stack: DevStack;

beforeAll(async () => {
  stack = await startDevStack({
    env: { BROKER_CACHE: 'none' },
    auditTransport: audit,
    policyText: ({ issuer, broker }) => `
version: 1
issuers:
  - issuer: "${issuer}"
    audiences: ["${broker}"]
  - issuer: "${GOOGLE_LIKE}"
    audiences: ["${WEB_CLIENT}"]
    authorized_parties: ["${WEB_CLIENT}", "${ANDROID_CLIENT}"]
    jwks: { keys: [${JSON.stringify({ ...key.publicKey.export({ format: 'jwk' }), kid: 'g1' })}] }
rules:
  - id: demo
    issuer: "${issuer}"
    condition: claims.sub == 'azp-test'
    grant: { service_account: ${SA}, scopes: [https://www.googleapis.com/auth/cloud-platform] }
  - id: users
    issuer: "${GOOGLE_LIKE}"
    condition: claims.sub == 'user-1'
    grant: { service_account: ${SA}, scopes: [https://www.googleapis.com/auth/cloud-platform] }
`,
  });
  await stack.broker;
});
afterAll(() => stack?.close());

const other = 'https://other-service.example.test';

async function exchangeDemo(claims: Record<string, unknown>) {
  return post(stack.tokenUrl, exchangeForm(await stack.issuer.sign({ sub: 'azp-test', ...claims })));
}

async function exchangeGoogleLike(claims: Record<string, unknown>) {
  const now = Math.floor(Date.now() / 1000);
  const token = forgeJwsWith({ alg: 'RS256', kid: 'g1', typ: 'JWT' }, { iss: GOOGLE_LIKE, sub: 'user-1', aud: WEB_CLIENT, iat: now, exp: now + 600, ...claims }, rs256Signer(key.privateKey));
  return post(stack.tokenUrl, exchangeForm(token));
}

async function lastReason(): Promise<unknown> {
  await stack.audit.flush();
  const entries = audit.entries().filter((e) => e.event === 'token_exchange');
  return (entries.at(-1)?.error as { reason?: string } | undefined)?.reason;
}

describe('issuer audiences as the default authorized parties', () => {
  it.each([
    ['several audiences, no azp', () => ({ aud: [stack.url, other] }), 'authorized_party_mismatch'],
    ['several audiences, azp another client', () => ({ aud: [stack.url, other], azp: other }), 'authorized_party_mismatch'],
    ['one audience, azp another client', () => ({ aud: stack.url, azp: other }), 'authorized_party_mismatch'],
    ['azp not a string', () => ({ aud: stack.url, azp: [stack.url] }), 'invalid_claim_type'],
    ['azp empty', () => ({ aud: stack.url, azp: '' }), 'authorized_party_mismatch'],
  ])('%s → 400 invalid_grant', async (_name, claims, reason) => {
    const res = await exchangeDemo(claims());
    expect({ status: res.status, error: res.body.error, reason: await lastReason() }).toEqual({ status: 400, error: 'invalid_grant', reason });
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it.each([
    ['one audience, no azp', () => ({ aud: stack.url })],
    ['several audiences, azp the broker', () => ({ aud: [stack.url, other], azp: stack.url })],
    ['one audience, azp the broker', () => ({ aud: stack.url, azp: stack.url })],
  ])('%s → 200', async (_name, claims) => {
    const res = await exchangeDemo(claims());
    expect({ status: res.status, token: typeof res.body.access_token }).toEqual({ status: 200, token: 'string' });
  });
});

describe('authorized_parties: a Google-style ID token', () => {
  it.each([
    ['azp the web client (aud and azp equal)', { azp: WEB_CLIENT }],
    ['azp the Android client, aud the web client', { azp: ANDROID_CLIENT }],
  ])('%s → 200', async (_name, claims) => {
    expect((await exchangeGoogleLike(claims)).status).toBe(200);
  });

  it('azp a client not listed → 400 invalid_grant', async () => {
    const res = await exchangeGoogleLike({ azp: '9999-web.apps.example.test' });
    expect({ status: res.status, error: res.body.error, reason: await lastReason() }).toEqual({ status: 400, error: 'invalid_grant', reason: 'authorized_party_mismatch' });
  });
});

it('refuses an empty authorized_parties list at load', async () => {
  const bad = await startDevStack({
    auditTransport: new LineCapture(),
    policyText: ({ issuer, broker }) => `
version: 1
issuers:
  - { issuer: "${issuer}", audiences: ["${broker}"], authorized_parties: [] }
rules:
  - { id: r, issuer: "${issuer}", condition: "true", grant: { service_account: ${SA}, scopes: [https://www.googleapis.com/auth/cloud-platform] } }
`,
  });
  try {
    const error = await bad.broker.then(() => undefined, (err: unknown) => err);
    expect(error).toBeInstanceOf(PolicyLoadError);
    expect((error as PolicyLoadError).issues.map((i) => i.path)).toEqual(['issuers[0].authorized_parties']);
  } finally {
    await bad.close();
  }
});
