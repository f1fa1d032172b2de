/**
 * The introspection core without HTTP: the username template, the memory record, and the
 * property that keeps inactive answers alike: every call that gets past client authentication
 * makes exactly one lookup, whatever the token, and every inactive answer is the same object.
 */
import { compileUsernameTemplate, SUBJECT_USERNAME, type UsernameTemplate } from '../../shared/policy/username-template';
import { createMemoryIssuedTokenStore, type IssuedTokenStore } from '../../shared/introspection/issued-tokens';
import { introspect, type IntrospectionRecord } from '../../shared/introspection/introspect';
import type { ClientCredentials } from '../../shared/identity/client-authentication';
import { compilePolicy } from '../../shared/policy/compile-policy';
import { parsePolicyText } from '../../shared/policy/parse-document';
import { SecretVerifier } from '../../shared/identity/secret-hash';
import { FailureThrottle } from '../../shared/identity/failure-throttle';
import { createMemoryReplayStore } from '../../shared/identity/replay-store';
import { createMemoryRateLimiter } from '../../shared/limits/rate-limiter';
import { Deadline } from '../../shared/resilience/deadline';
import { sha256Fingerprint } from '../../shared/fingerprint';
import { GCLOUD_CLIENT } from '../../shared/policy/schema';
import { rejection } from '../helpers/rejection';
import { PolicyLoadError } from '../../shared/policy/policy-error';

describe('username template', () => {
  const compiled = (template: string): UsernameTemplate => {
    const result = compileUsernameTemplate(template);
    if ('error' in result) throw new Error(result.error);
    return result;
  };

  it('replaces each {claim} with the claim, numbers included', () => {
    expect(compiled('{repository}@github')({ repository: 'acme/app' }, 'sub')).toBe('acme/app@github');
    expect(compiled('{a}-{b}')({ a: 'x', b: 7 }, 'sub')).toBe('x-7');
  });

  it('falls back to the subject when a claim is missing or not a string or number', () => {
    const template = compiled('{email}');
    for (const claims of [{}, { email: ['a'] }, { email: { x: 1 } }, { email: true }]) expect(template(claims, 'the-subject')).toBe('the-subject');
    expect(SUBJECT_USERNAME({ email: 'e' }, 'the-subject')).toBe('the-subject');
  });

  it('refuses templates without a placeholder, with stray braces or control characters', () => {
    for (const template of ['plain', '{bad claim}', 'a{b', 'a}b{c}', '{a}\n']) expect(compileUsernameTemplate(template)).toHaveProperty('error');
  });

  it("is checked when the policy loads, at the rule's path", () => {
    const text = `
version: 1
issuers: [{ issuer: "https://issuer.example", audiences: [x] }]
rules:
  - id: r
    issuer: "https://issuer.example"
    condition: "true"
    username: "no placeholder"
    grant: { service_account: a@p.iam.gserviceaccount.com, scopes: [https://www.googleapis.com/auth/cloud-platform] }
`;
    expect(() => compilePolicy(parsePolicyText(text, 'p.yaml'), { source: 'p.yaml', network: { allowInsecureLoopback: false } })).toThrow(PolicyLoadError);
    expect(() => compilePolicy(parsePolicyText(text, 'p.yaml'), { source: 'p.yaml', network: { allowInsecureLoopback: false } })).toThrow(/rules\[0\]\.username: must hold at least one \{claim\} placeholder/);
  });
});

describe('introspect()', () => {
  const policy = compilePolicy(parsePolicyText(`
version: 1
public_clients: [gcloud, { id: other-cli }]
issuers: [{ issuer: "https://issuer.example", audiences: [x] }]
rules:
  - id: r
    issuer: "https://issuer.example"
    condition: "true"
    grant: { service_account: a@p.iam.gserviceaccount.com, scopes: [https://www.googleapis.com/auth/cloud-platform] }
`, 'p.yaml'), { source: 'p.yaml', network: { allowInsecureLoopback: false } });
  let clock = 1_000_000_000_000;
  const now = () => clock;
  const clientAuth = { policy, secrets: new SecretVerifier(), throttle: new FailureThrottle(), replay: createMemoryReplayStore(), audiences: [], now };
  const gcloud: ClientCredentials = { basic: { clientId: GCLOUD_CLIENT.id, clientSecret: GCLOUD_CLIENT.publishedSecret ?? '' }, remoteIp: '198.51.100.7' };

  /** A memory record that counts lookups. */
  function countingStore(): IssuedTokenStore & { finds: number } {
    const inner = createMemoryIssuedTokenStore();
    const store = { finds: 0, remember: inner.remember, flush: inner.flush, close: inner.close, find: async (sha: string) => { store.finds += 1; return inner.find(sha); } };
    return store;
  }

  async function setUp() {
    const issued = countingStore();
    await issued.remember({
      tokenSha256: sha256Fingerprint('ya29.live'), tokenType: 'Bearer', scopes: ['s1', 's2'], issuer: 'https://issuer.example', subject: 'alice',
      username: 'alice@example', ruleId: 'r', issuedAtMs: clock, expiresAtMs: clock + 600_000, clientId: GCLOUD_CLIENT.id,
    });
    const ctx = { policy, clientAuth, issued, limiter: createMemoryRateLimiter({ now }), issuerUrl: 'https://broker.example', now };
    const call = (token: string, credentials = gcloud, record: IntrospectionRecord = {}) =>
      introspect(new Map([['token', token]]), credentials, ctx, record, new Deadline(5000));
    return { issued, call };
  }

  it('active: the facts of the record, exp and iat in seconds', async () => {
    const { call } = await setUp();
    expect(await call('ya29.live')).toEqual({
      active: true, scope: 's1 s2', client_id: GCLOUD_CLIENT.id, username: 'alice@example', token_type: 'Bearer',
      exp: Math.floor((clock + 600_000) / 1000), iat: Math.floor(clock / 1000), sub: 'alice', iss: 'https://broker.example', subject_issuer: 'https://issuer.example',
    });
  });

  it('one lookup per call and one answer for every inactive reason', async () => {
    const { issued, call } = await setUp();
    const otherCli = { basic: { clientId: 'other-cli', clientSecret: '' } };
    const answers = [];
    const records: IntrospectionRecord[] = [{}, {}, {}, {}];
    answers.push(await call('ya29.unknown', gcloud, records[0]));
    answers.push(await call('', gcloud, records[1]).catch(() => 'refused'));
    answers.push(await call('ya29.live', otherCli, records[2]));
    clock += 601_000;
    answers.push(await call('ya29.live', gcloud, records[3]));
    clock -= 601_000;
    expect(answers[1]).toBe('refused'); // no token: invalid_request before any lookup
    expect(answers[0]).toBe(answers[2]);
    expect(answers[2]).toBe(answers[3]);
    expect(answers[0]).toEqual({ active: false });
    expect(records.map((r) => r.outcome)).toEqual(['unknown', undefined, 'other_client', 'expired']);
    expect(issued.finds).toBe(3);
  });

  it('no client authentication: 401 with a Basic challenge, no lookup', async () => {
    const { issued, call } = await setUp();
    const err = await rejection(call('ya29.live', {}));
    expect({ code: err.code, status: err.status, reason: err.reason, challenge: err.challenge }).toEqual({
      code: 'invalid_client', status: 401, reason: 'client_auth_required', challenge: 'Basic realm="token-broker", charset="UTF-8"',
    });
    expect(issued.finds).toBe(0);
  });

  it("a public client's rate is counted per caller address", async () => {
    const { call } = await setUp();
    const from = (ip: string) => ({ ...gcloud, remoteIp: ip });
    const limit = 600; // DEFAULTS.introspectionRequestsPerMinute
    for (let i = 0; i < limit; i += 1) await call('ya29.unknown', from('198.51.100.1'));
    const err = await rejection(call('ya29.unknown', from('198.51.100.1')));
    expect({ code: err.code, reason: err.reason }).toEqual({ code: 'slow_down', reason: 'limit_requests_per_minute' });
    expect(await call('ya29.unknown', from('198.51.100.2'))).toEqual({ active: false });
  });

  it('a store that cannot answer is 503 temporarily_unavailable, not a guess', async () => {
    const issued: IssuedTokenStore = { remember: async () => undefined, find: async () => { throw new Error('store down'); }, flush: async () => undefined, close: async () => undefined };
    const err = await rejection(introspect(new Map([['token', 'ya29.live']]), gcloud, { policy, clientAuth, issued, now }, {}, new Deadline(5000)));
    expect({ code: err.code, status: err.status, reason: err.reason, retryAfter: err.retryAfterSeconds }).toEqual({
      code: 'temporarily_unavailable', status: 503, reason: 'issued_tokens_unavailable', retryAfter: 5,
    });
  });
});
