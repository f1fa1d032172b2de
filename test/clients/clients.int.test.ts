/**
 * Every way a client can prove itself, through the real token endpoint: client secrets
 * (basic and post, rotation overlap), RFC 7523 assertions (client authentication and the
 * jwt-bearer grant, single-use jti), broker API keys (IP and origin restrictions, expiry),
 * CORS. Mints counted at the IAM emulator; audit entries captured.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { loadBroker } from '../../shared/load-broker';
import { LineCapture } from '../helpers/capture';
import { parseApiKey } from '../../shared/identity/credential-format';
import { answer, FORM, post, type Answer } from '../helpers/http';
import { APP_ORIGIN, assertion, basic, CLIENT_SA, clientPolicy, type ClientCredentialsSet } from './client-fixture';

const CLIENT_CREDENTIALS = { grant_type: 'client_credentials' };
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

let stack: DevStack;
let creds: ClientCredentialsSet;
const lines = new LineCapture();

beforeAll(async () => {
  const policy = await clientPolicy();
  creds = policy.creds;
  stack = await startDevStack({ env: { BROKER_CACHE: 'none' }, policyText: policy.text, auditTransport: lines });
  await stack.broker;
});
afterAll(() => stack.close());
beforeEach(() => lines.clear());

function expectToken(res: Answer): void {
  expect(res.status).toBe(200);
  expect(stack.google.lookup(String(res.body.access_token))?.serviceAccount).toBe(CLIENT_SA);
}
function expectError(res: Answer, status: number, error: string): void {
  expect({ status: res.status, error: res.body.error }).toEqual({ status, error });
  expect(res.headers.get('cache-control')).toBe('no-store');
}
const lastExchange = () => lines.entries().filter((e) => e.event === 'token_exchange').at(-1) ?? {};

describe('client secrets', () => {
  it('client_secret_basic: accepted, audited with the client and auth method', async () => {
    const res = await post(stack.tokenUrl, CLIENT_CREDENTIALS, { ...FORM, authorization: basic('reporter', creds.reporterSecret) });
    expectToken(res);
    expect(lastExchange()).toMatchObject({
      outcome: 'issued',
      client: { id: 'reporter', authMethod: 'client_secret_basic' },
      principal: { issuer: 'urn:token-broker:client', subject: 'reporter', claims: { client_id: 'reporter', auth_method: 'client_secret_basic' } },
      policy: { ruleId: 'clients-read' },
    });
  });

  it('client_secret_post: accepted', async () => {
    expectToken(await post(stack.tokenUrl, { ...CLIENT_CREDENTIALS, client_id: 'reporter', client_secret: creds.reporterSecret }));
  });

  it('rotation overlap: the second secret works too until it expires', async () => {
    expectToken(await post(stack.tokenUrl, CLIENT_CREDENTIALS, { ...FORM, authorization: basic('reporter', creds.reporterOldSecret) }));
  });

  it('a rotated-out (expired) secret → 401 invalid_client', async () => {
    expectError(await post(stack.tokenUrl, CLIENT_CREDENTIALS, { ...FORM, authorization: basic('retired', creds.retiredSecret) }), 401, 'invalid_client');
  });

  it('a wrong secret → 401 invalid_client with a Basic challenge, audited as denied', async () => {
    const res = await post(stack.tokenUrl, CLIENT_CREDENTIALS, { ...FORM, authorization: basic('reporter', 'tbs_wrong') });
    expectError(res, 401, 'invalid_client');
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="token-broker"/);
    expect(lastExchange()).toMatchObject({ outcome: 'denied', error: { code: 'invalid_client', reason: 'bad_client_secret' } });
  });

  it('an unknown client → 401 invalid_client', async () => {
    expectError(await post(stack.tokenUrl, { ...CLIENT_CREDENTIALS, client_id: 'nobody', client_secret: creds.reporterSecret }), 401, 'invalid_client');
  });

  it('a secret of another client → 401 invalid_client', async () => {
    expectError(await post(stack.tokenUrl, { ...CLIENT_CREDENTIALS, client_id: 'reporter', client_secret: creds.limitedSecret }), 401, 'invalid_client');
  });

  it('two authentication methods at once → 400 invalid_request', async () => {
    const res = await post(stack.tokenUrl, { ...CLIENT_CREDENTIALS, client_id: 'reporter', client_secret: creds.reporterSecret }, { ...FORM, authorization: basic('reporter', creds.reporterSecret) });
    expectError(res, 400, 'invalid_request');
  });

  it('client_credentials without any client authentication → 401 invalid_client', async () => {
    expectError(await post(stack.tokenUrl, CLIENT_CREDENTIALS), 401, 'invalid_client');
  });

  it('repeated failures are slowed down', async () => {
    for (let i = 0; i < 4; i++) await post(stack.tokenUrl, { ...CLIENT_CREDENTIALS, client_id: 'retired', client_secret: 'tbs_guess' });
    const started = Date.now();
    await post(stack.tokenUrl, { ...CLIENT_CREDENTIALS, client_id: 'retired', client_secret: 'tbs_guess' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });
});

describe('RFC 7523 assertions', () => {
  const clientAuth = async (jwt: string) => post(stack.tokenUrl, { ...CLIENT_CREDENTIALS, client_assertion_type: ASSERTION_TYPE, client_assertion: jwt });
  const bearer = async (jwt: string) => post(stack.tokenUrl, { grant_type: JWT_BEARER, assertion: jwt });

  it('private_key_jwt client authentication: accepted once, the replay refused', async () => {
    const jwt = await assertion(creds.signerKey, 'signer', stack.tokenUrl);
    expectToken(await clientAuth(jwt));
    expect(lastExchange()).toMatchObject({ client: { id: 'signer', authMethod: 'private_key_jwt' } });
    expectError(await clientAuth(jwt), 401, 'invalid_client');
    expect(lastExchange()).toMatchObject({ error: { reason: 'assertion_replayed' } });
  });

  it('jwt-bearer grant: accepted once, the replay refused with invalid_grant', async () => {
    const jwt = await assertion(creds.signerKey, 'signer', stack.url);
    expectToken(await bearer(jwt));
    expectError(await bearer(jwt), 400, 'invalid_grant');
  });

  it.each<[string, () => Promise<string>]>([
    ['signed with another key', () => assertion(creds.otherKey, 'signer', stack.tokenUrl)],
    ['for another audience', () => assertion(creds.signerKey, 'signer', 'https://elsewhere.example.com/token')],
    ['with two audiences', () => assertion(creds.signerKey, 'signer', [stack.tokenUrl, 'https://elsewhere.example.com'])],
    ['expired', () => assertion(creds.signerKey, 'signer', stack.tokenUrl, { iat: Math.floor(Date.now() / 1000) - 600, exp: Math.floor(Date.now() / 1000) - 300 })],
    ['living longer than an hour (the default limit)', () => assertion(creds.signerKey, 'signer', stack.tokenUrl, { exp: Math.floor(Date.now() / 1000) + 3601 })],
    ['from an unknown client', () => assertion(creds.signerKey, 'stranger', stack.tokenUrl)],
  ])('an assertion %s is refused (401 as client auth, 400 as grant)', async (_name, make) => {
    expectError(await clientAuth(await make()), 401, 'invalid_client');
    expectError(await bearer(await make()), 400, 'invalid_grant');
  });

  it('an OIDC subject token is not an assertion, nor an assertion a subject token', async () => {
    const oidc = await stack.issuer.sign({ sub: 'signer', aud: stack.tokenUrl });
    expectError(await bearer(oidc), 400, 'invalid_grant');
    const jwt = await assertion(creds.signerKey, 'signer', stack.url);
    const res = await post(stack.tokenUrl, { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', subject_token: jwt });
    expectError(res, 400, 'invalid_grant');
  });
});

describe('API keys', () => {
  const withKey = (key: string, headers: Record<string, string> = {}) => post(stack.tokenUrl, CLIENT_CREDENTIALS, { ...FORM, 'x-goog-api-key': key, ...headers });

  it('accepted in the x-goog-api-key header, audited by public key id', async () => {
    expectToken(await withKey(creds.apiKey));
    const entry = lastExchange();
    const parsed = parseApiKey(creds.apiKey);
    expect(entry).toMatchObject({ client: { id: 'bot', authMethod: 'api_key', apiKeyId: parsed?.id } });
    expect(JSON.stringify(entry)).not.toContain(parsed?.secret);
  });

  it('refused in the query string, even when also in the header', async () => {
    const res = await answer(await fetch(`${stack.tokenUrl}?key=${creds.apiKey}`, { method: 'POST', headers: { ...FORM, 'x-goog-api-key': creds.apiKey }, body: 'grant_type=client_credentials' }));
    expectError(res, 400, 'invalid_request');
  });

  it('a client_id that is not the key\'s client → 400 invalid_request', async () => {
    const res = await post(stack.tokenUrl, { ...CLIENT_CREDENTIALS, client_id: 'reporter' }, { ...FORM, 'x-goog-api-key': creds.apiKey });
    expectError(res, 400, 'invalid_request');
  });

  it('a wrong, malformed or expired key → 401 invalid_client', async () => {
    expectError(await withKey(`${creds.apiKey.slice(0, -3)}AAA`), 401, 'invalid_client');
    expectError(await withKey('AIzaSyNotOurs'), 401, 'invalid_client');
    expectError(await withKey(creds.expiredKey), 401, 'invalid_client');
  });

  it('an IP-restricted key from another address → 403, and a spoofed X-Forwarded-For does not help locally', async () => {
    expectError(await withKey(creds.internalKey), 403, 'access_denied');
    expectError(await withKey(creds.internalKey, { 'x-forwarded-for': '10.1.2.3' }), 403, 'access_denied');
    expect(lastExchange()).toMatchObject({ error: { reason: 'api_key_ip_not_allowed' } });
  });

  it('an origin-restricted key: allowed origin accepted, others and none refused', async () => {
    expectToken(await withKey(creds.browserKey, { origin: APP_ORIGIN }));
    expectToken(await withKey(creds.browserKey, { referer: `${APP_ORIGIN}/dashboard?x=1` }));
    expectError(await withKey(creds.browserKey, { origin: 'https://evil.example.com' }), 403, 'access_denied');
    expectError(await withKey(creds.browserKey), 403, 'access_denied');
  });
});

describe('the client an audit entry names: refusals after the credential verified name it, others do not', () => {
  const withKey = (key: string, headers: Record<string, string> = {}) => post(stack.tokenUrl, CLIENT_CREDENTIALS, { ...FORM, 'x-goog-api-key': key, ...headers });
  const keyId = (key: string) => parseApiKey(key)?.id ?? 'unparsed';
  const bot = (key: string) => ({ id: 'bot', authMethod: 'api_key', apiKeyId: keyId(key) });
  const refusedAs = (reason: string, client: Record<string, string>) => expect(lastExchange()).toMatchObject({ outcome: 'denied', error: { reason }, client });
  const namesNoClient = (reason: string) => {
    expect(lastExchange()).toMatchObject({ outcome: 'denied', error: { reason } });
    expect(lastExchange()).not.toHaveProperty('client');
  };

  it('an IP-restricted key from another address: the key and its client', async () => {
    expectError(await withKey(creds.internalKey), 403, 'access_denied');
    refusedAs('api_key_ip_not_allowed', bot(creds.internalKey));
  });

  it('an origin-restricted key from another page, or from none: the key and its client', async () => {
    // An Origin the policy's `cors` does not list is refused before any credential is read (origin_not_allowed).
    expectError(await withKey(creds.browserKey, { referer: 'https://evil.example.com/page' }), 403, 'access_denied');
    refusedAs('api_key_origin_not_allowed', bot(creds.browserKey));
    expectError(await withKey(creds.browserKey), 403, 'access_denied');
    refusedAs('api_key_origin_not_allowed', bot(creds.browserKey));
  });

  it('an expired key: the key and its client', async () => {
    expectError(await withKey(creds.expiredKey), 401, 'invalid_client');
    refusedAs('api_key_expired', bot(creds.expiredKey));
  });

  it('a valid key with the client_id of another client: the key\'s client, never the claimed one', async () => {
    expectError(await post(stack.tokenUrl, { ...CLIENT_CREDENTIALS, client_id: 'reporter' }, { ...FORM, 'x-goog-api-key': creds.apiKey }), 400, 'invalid_request');
    expect(lastExchange()).toMatchObject({ outcome: 'rejected', error: { reason: 'client_id_mismatch' }, client: bot(creds.apiKey) });
  });

  it('an unknown, malformed or wrong key: no client', async () => {
    expectError(await withKey(`${creds.apiKey.slice(0, -3)}AAA`), 401, 'invalid_client'); // the id of a real key, the wrong secret part
    namesNoClient('bad_api_key');
    expectError(await withKey(creds.apiKey.replace(keyId(creds.apiKey), 'aaaaaaaaaaaa')), 401, 'invalid_client'); // an unknown id
    namesNoClient('bad_api_key');
    expectError(await withKey('AIzaSyNotOurs'), 401, 'invalid_client');
    namesNoClient('bad_api_key');
  });

  it('a wrong, rotated-out or foreign secret, or an unknown client: no client, whatever id was claimed', async () => {
    expectError(await post(stack.tokenUrl, CLIENT_CREDENTIALS, { ...FORM, authorization: basic('reporter', 'tbs_wrong') }), 401, 'invalid_client');
    namesNoClient('bad_client_secret');
    expectError(await post(stack.tokenUrl, CLIENT_CREDENTIALS, { ...FORM, authorization: basic('retired', creds.retiredSecret) }), 401, 'invalid_client');
    namesNoClient('bad_client_secret');
    expectError(await post(stack.tokenUrl, { ...CLIENT_CREDENTIALS, client_id: 'reporter', client_secret: creds.limitedSecret }), 401, 'invalid_client');
    namesNoClient('bad_client_secret');
    expectError(await post(stack.tokenUrl, { ...CLIENT_CREDENTIALS, client_id: 'nobody', client_secret: creds.reporterSecret }), 401, 'invalid_client');
    namesNoClient('bad_client_secret');
  });

  it('assertions: named once the signature verifies (expired, replayed), not before (another key)', async () => {
    const clientAuth = (jwt: string) => post(stack.tokenUrl, { ...CLIENT_CREDENTIALS, client_assertion_type: ASSERTION_TYPE, client_assertion: jwt });
    const bearer = (jwt: string) => post(stack.tokenUrl, { grant_type: JWT_BEARER, assertion: jwt });
    const now = Math.floor(Date.now() / 1000);
    const expired = { iat: now - 600, exp: now - 300 };
    expectError(await clientAuth(await assertion(creds.signerKey, 'signer', stack.tokenUrl, expired)), 401, 'invalid_client');
    refusedAs('token_expired', { id: 'signer', authMethod: 'private_key_jwt' });
    expectError(await bearer(await assertion(creds.signerKey, 'signer', stack.url, expired)), 400, 'invalid_grant');
    refusedAs('token_expired', { id: 'signer', authMethod: 'jwt_bearer' });
    const once = await assertion(creds.signerKey, 'signer', stack.url);
    expectToken(await bearer(once));
    expect(lastExchange()).toMatchObject({ outcome: 'issued', client: { id: 'signer', authMethod: 'jwt_bearer' } });
    expectError(await bearer(once), 400, 'invalid_grant');
    refusedAs('assertion_replayed', { id: 'signer', authMethod: 'jwt_bearer' });
    expectError(await clientAuth(await assertion(creds.otherKey, 'signer', stack.tokenUrl)), 401, 'invalid_client');
    namesNoClient('bad_signature');
    expectError(await bearer(await assertion(creds.otherKey, 'signer', stack.url)), 400, 'invalid_grant');
    namesNoClient('bad_signature');
  });
});

describe('CORS', () => {
  const preflight = (origin: string) =>
    fetch(stack.tokenUrl, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-goog-api-key' } });

  it('answers a preflight from a configured origin', async () => {
    const res = await preflight(APP_ORIGIN);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(res.headers.get('access-control-allow-methods')).toBe('POST');
    expect(res.headers.get('access-control-allow-headers')).toMatch(/x-goog-api-key/);
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('vary')).toMatch(/Origin/);
  });

  it('refuses a preflight from any other origin with an RFC 6749 error, without CORS headers, unaudited', async () => {
    const before = lines.entries().length;
    const res = await answer(await preflight('https://evil.example.com'));
    expectError(res, 403, 'access_denied');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('vary')).toMatch(/Origin/);
    expect(lines.entries().length).toBe(before);
  });

  it('marks actual responses for allowed origins only, and always varies by Origin', async () => {
    const allowed = await post(stack.tokenUrl, CLIENT_CREDENTIALS, { ...FORM, origin: APP_ORIGIN, 'x-goog-api-key': creds.browserKey });
    expect(allowed.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(allowed.headers.get('vary')).toMatch(/Origin/);
    const other = await post(stack.tokenUrl, CLIENT_CREDENTIALS, { ...FORM, origin: 'https://evil.example.com', 'x-goog-api-key': creds.browserKey });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.headers.get('vary')).toMatch(/Origin/);
  });

  it('refuses a simple (unpreflighted) POST from an unlisted origin before doing anything, audited', async () => {
    const before = stack.google.requests.length;
    const subject = await stack.issuer.sign({ sub: 'repo:acme/app', aud: stack.url, repository: 'acme/app', ref: 'refs/heads/main' });
    const res = await post(stack.tokenUrl, { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', subject_token: subject }, { ...FORM, origin: 'https://evil.example.com' });
    expectError(res, 403, 'access_denied');
    expect(stack.google.requests.length).toBe(before);
    expect(lastExchange()).toMatchObject({ outcome: 'denied', error: { reason: 'origin_not_allowed' } });
  });
});

describe('rules that name the client of a token exchange (CEL `client`)', () => {
  let own: DevStack;
  let ownCreds: ClientCredentialsSet;
  const ownLines = new LineCapture();
  beforeAll(async () => {
    const policy = await clientPolicy();
    ownCreds = policy.creds;
    own = await startDevStack({
      env: { BROKER_CACHE: 'none' },
      auditTransport: ownLines,
      policyText: (urls) => policy.text(urls).replace('rules:\n', `rules:
  - id: web-via-bot
    issuer: "${urls.issuer}"
    condition: "client.client_id == 'bot' && client.auth_method == 'api_key' && claims.repository == 'acme/web'"
    grant:
      service_account: ${CLIENT_SA}
      scopes: [https://www.googleapis.com/auth/devstorage.read_only]
`),
    });
    await own.broker;
  });
  afterAll(() => own.close());

  const exchange = async (headers: Record<string, string>) => {
    const token = await own.issuer.sign({ sub: 'user-1', aud: own.url, repository: 'acme/web' });
    return post(own.tokenUrl, { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', subject_token: token }, { ...FORM, ...headers });
  };

  it('the named client, with the user\'s token: granted by that rule', async () => {
    const res = await exchange({ 'x-goog-api-key': ownCreds.apiKey });
    expect(res.status).toBe(200);
    expect(own.google.lookup(String(res.body.access_token))?.serviceAccount).toBe(CLIENT_SA);
    await own.audit.flush();
    expect(ownLines.entries().at(-1)).toMatchObject({ policy: { ruleId: 'web-via-bot' }, client: { id: 'bot', authMethod: 'api_key' } });
  });

  it('the same token without a client, or through another client: no rule matches (403)', async () => {
    const bare = await exchange({});
    expect({ status: bare.status, error: bare.body.error }).toEqual({ status: 403, error: 'access_denied' });
    const other = await exchange({ authorization: basic('reporter', ownCreds.reporterSecret) });
    expect({ status: other.status, error: other.body.error }).toEqual({ status: 403, error: 'access_denied' });
    await own.audit.flush();
    expect(ownLines.entries().at(-1)).toMatchObject({
      error: { reason: 'no_rule_matched' },
      client: { id: 'reporter', authMethod: 'client_secret_basic' }, // refused by policy, still named: its secret verified
      policy: { trace: expect.arrayContaining([{ rule: 'web-via-bot', outcome: 'condition_false' }]) },
    });
  });
});

describe('deployment requirements checked at load', () => {
  it('refuses assertion clients without BROKER_ISSUER_URL, and shared-state features without Firestore in production', async () => {
    const { text } = await clientPolicy();
    const file = join(await mkdtemp(join(tmpdir(), 'req-')), 'policy.yaml');
    await writeFile(file, text({ issuer: 'http://127.0.0.1:9', broker: 'https://broker.example.com' }));
    await expect(loadBroker({ BROKER_MODE: 'development', BROKER_POLICY_FILE: file, BROKER_CACHE: 'memory' })).rejects.toThrow(/BROKER_ISSUER_URL/);
    await writeFile(file, text({ issuer: 'https://issuer.example.com', broker: 'https://broker.example.com' }));
    await expect(loadBroker({ BROKER_POLICY_FILE: file, BROKER_CACHE: 'none', BROKER_ISSUER_URL: 'https://broker.example.com' })).rejects.toThrow(/BROKER_CACHE=firestore/);
  });
});
