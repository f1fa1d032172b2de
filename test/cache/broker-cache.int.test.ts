/**
 * The cache through the token endpoint: the real broker over HTTP, the Firestore cache on
 * the real emulator, mints counted at the IAM emulator.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { exchangeForm, post } from '../helpers/http';
import { GENERATIVE_LANGUAGE, testPolicy } from '../http/policy-fixture';

const stacks: DevStack[] = [];
afterAll(() => Promise.all(stacks.map((s) => s.close())));

const firestoreEnv = (projectId: string, key: string) => ({
  BROKER_CACHE: 'firestore',
  BROKER_CACHE_LOCAL_KEY: key,
  BROKER_FIRESTORE_PROJECT: projectId,
});

async function stack(env: Record<string, string>): Promise<DevStack> {
  const started = await startDevStack({ env, policyText: testPolicy });
  stacks.push(started);
  await started.broker;
  return started;
}

const mints = (s: DevStack) => s.google.requests.filter((r) => r.path.endsWith(':generateAccessToken')).length;
const claims = (s: DevStack, extra: Record<string, unknown> = {}) => ({ sub: 'repo:acme/app:ref:refs/heads/main', aud: s.url, repository: 'acme/app', ref: 'refs/heads/main', ...extra });

describe('one instance', () => {
  let s: DevStack;
  beforeAll(async () => {
    s = await stack(firestoreEnv(`demo-${randomUUID().slice(0, 8)}`, randomBytes(32).toString('base64')));
  });

  it('answers 200 concurrent identical requests with one upstream mint', async () => {
    const before = mints(s);
    const subject = await s.issuer.sign(claims(s));
    const answers = await Promise.all(Array.from({ length: 200 }, () => post(s.tokenUrl, exchangeForm(subject))));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(answers.map((a) => a.body.access_token)).size).toBe(1);
    expect(mints(s) - before).toBe(1);
  });

  it('reports the true remaining lifetime of a cached token', async () => {
    const subject = await s.issuer.sign(claims(s, { sub: 'lifetime-check' }));
    const first = await post(s.tokenUrl, exchangeForm(subject));
    await new Promise((r) => setTimeout(r, 1100));
    const second = await post(s.tokenUrl, exchangeForm(subject));
    expect(second.body.access_token).toBe(first.body.access_token);
    expect(Number(second.body.expires_in)).toBeLessThan(Number(first.body.expires_in));
    const issued = s.google.lookup(String(second.body.access_token));
    expect(Math.abs(Number(second.body.expires_in) - ((issued?.expiresAt ?? 0) - Date.now()) / 1000)).toBeLessThanOrEqual(1.5);
  });

  it('never shares a token across principals, scopes or lifetimes', async () => {
    const before = mints(s);
    const tokens = await Promise.all([
      post(s.tokenUrl, exchangeForm(await s.issuer.sign(claims(s, { sub: 'alice' })))),
      post(s.tokenUrl, exchangeForm(await s.issuer.sign(claims(s, { sub: 'bob' })))),
      post(s.tokenUrl, exchangeForm(await s.issuer.sign(claims(s, { sub: 'alice' })), { scope: GENERATIVE_LANGUAGE })),
      post(s.tokenUrl, exchangeForm(await s.issuer.sign(claims(s, { sub: 'alice' })), { options: '{"lifetimeSeconds":600}' })),
    ]);
    expect(new Set(tokens.map((t) => t.body.access_token)).size).toBe(4);
    expect(mints(s) - before).toBe(4);
    expect(Number(tokens[3]?.body.expires_in)).toBeLessThanOrEqual(600);
  });
});
