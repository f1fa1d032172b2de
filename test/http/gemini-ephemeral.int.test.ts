/**
 * Gemini Live API ephemeral tokens through the real endpoint: `requested_token_type=
 * urn:x-token-broker:token-type:gemini-ephemeral` on a rule with `gemini_ephemeral` gets an
 * `auth_tokens/…` name created at the (emulated) Gemini API `v1alpha/auth_tokens`, with the
 * broker's API key read from the (emulated) Secret Manager and the rule's locked Live
 * configuration, which the emulator records. Never cached, never without the grant, and the
 * API key appears in no answer and no audit line.
 */
import { DEV_GEMINI_API_KEY, startDevStack, type DevStack } from '../../dev/dev-stack';
import { TOKEN_TYPE_GEMINI_EPHEMERAL } from '../../shared/oauth-uris';
import { LineCapture } from '../helpers/capture';
import { exchangeForm, post, type Answer } from '../helpers/http';

const SA = 'gemini-caller@token-broker-dev.iam.gserviceaccount.com';
const CLOUD = 'https://www.googleapis.com/auth/cloud-platform';
const KEY_SECRET = 'projects/token-broker-dev/secrets/gemini-api-key';

const policyText = ({ issuer, broker }: { issuer: string; broker: string }) => `
version: 1
issuers:
  - issuer: "${issuer}"
    audiences: ["${broker}"]
rules:
  - id: live
    issuer: "${issuer}"
    condition: claims.sub == 'voice-app'
    grant:
      service_account: ${SA}
      scopes: [${CLOUD}]
      gemini_ephemeral:
        model: gemini-live-2.5-flash-preview
        uses: 3
        expire_seconds: 600
        new_session_expire_seconds: 120
        lock:
          responseModalities: [AUDIO]
          temperature: 0.2
          systemInstruction: Answer in English.
  - id: developer-api
    issuer: "${issuer}"
    condition: claims.sub == 'studio-app'
    grant:
      preset: gemini-developer-api
      service_account: ${SA}
  - id: plain
    issuer: "${issuer}"
    condition: claims.sub == 'batch-job'
    grant:
      service_account: ${SA}
      scopes: [${CLOUD}]
`;

const fast = { upstream: { retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 20, minAttemptMs: 10 } } };
const audit = new LineCapture();
let stack: DevStack;
beforeAll(async () => {
  stack = await startDevStack({ policyText, auditTransport: audit, resilience: fast });
  await stack.broker;
});
afterAll(() => stack?.close());
afterEach(() => stack.google.faults.clear());

const answers: Answer[] = [];
async function ask(on: DevStack, sub: string, extra: Record<string, string> = {}): Promise<Answer> {
  const res = await post(on.tokenUrl, exchangeForm(await on.issuer.sign({ sub, aud: on.issuerUrl }), { requested_token_type: TOKEN_TYPE_GEMINI_EPHEMERAL, ...extra }));
  answers.push(res);
  return res;
}
const calls = (on: DevStack, endpoint: 'authTokens' | 'secretAccess') => on.google.requests.filter((r) => r.endpoint === endpoint);

async function lastExchange(on: DevStack, lines: LineCapture): Promise<Record<string, unknown>> {
  await on.audit.flush();
  return lines.entries().filter((e) => e.event === 'token_exchange').at(-1) ?? {};
}

it('creates an ephemeral token locked to the rule\'s model and Live configuration', async () => {
  const res = await ask(stack, 'voice-app');
  expect(res.status).toBe(200);
  expect(Object.keys(res.body).sort()).toEqual(['access_token', 'expires_in', 'issued_token_type', 'token_type']);
  expect(res.body).toMatchObject({ issued_token_type: TOKEN_TYPE_GEMINI_EPHEMERAL, token_type: 'N_A' });
  expect(String(res.body.access_token)).toMatch(/^auth_tokens\/\S+$/);
  expect(Number(res.body.expires_in)).toBeGreaterThan(590);
  expect(Number(res.body.expires_in)).toBeLessThanOrEqual(600);
  expect(res.headers.get('cache-control')).toBe('no-store');

  const issued = stack.google.authTokens().find((t) => t.name === res.body.access_token);
  expect(issued).toMatchObject({
    uses: 3,
    setup: {
      model: 'models/gemini-live-2.5-flash-preview',
      generationConfig: { responseModalities: ['AUDIO'], temperature: 0.2 },
      systemInstruction: { parts: [{ text: 'Answer in English.' }], role: 'user' },
    },
  });
  expect(issued?.fieldMask).toBeUndefined(); // no mask: Google locks the whole LiveConnectConfig
  expect(Date.parse(issued!.newSessionExpireTime) - Date.now()).toBeLessThanOrEqual(120_000);

  // The API key authenticates the call; the broker's own OAuth token is not sent along.
  const request = calls(stack, 'authTokens').at(-1);
  expect(request?.headers['x-goog-api-key']).toBe(DEV_GEMINI_API_KEY);
  expect(request?.headers.authorization).toBeUndefined();
  // The key came from Secret Manager, read with the broker's own credentials.
  expect(calls(stack, 'secretAccess').at(-1)?.path).toBe(`/v1/${KEY_SECRET}/versions/latest:access`);

  expect(await lastExchange(stack, audit)).toMatchObject({ outcome: 'issued', cache: { outcome: 'none' }, grant: { scopes: [], lifetimeSeconds: 600 } });
});

it('is never cached: each request creates its own token; the key is read from Secret Manager once', async () => {
  const before = calls(stack, 'authTokens').length;
  const secretReads = calls(stack, 'secretAccess').length;
  const first = await ask(stack, 'voice-app');
  const second = await ask(stack, 'voice-app');
  expect([first.status, second.status]).toEqual([200, 200]);
  expect(second.body.access_token).not.toBe(first.body.access_token);
  expect(calls(stack, 'authTokens').length - before).toBe(2);
  expect(calls(stack, 'secretAccess').length).toBe(secretReads);
});

it('a rule without gemini_ephemeral refuses the type: 400 invalid_target, nothing created', async () => {
  const before = calls(stack, 'authTokens').length;
  const res = await ask(stack, 'batch-job');
  expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_target' });
  expect(calls(stack, 'authTokens').length).toBe(before);
  expect(await lastExchange(stack, audit)).toMatchObject({ error: { reason: 'gemini_ephemeral_not_allowed' } });
  // The same caller still gets access tokens.
  const plain = await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign({ sub: 'batch-job', aud: stack.issuerUrl })));
  expect(plain.status).toBe(200);
});

it('preset gemini-developer-api: an access token with the generative-language scope', async () => {
  const res = await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign({ sub: 'studio-app', aud: stack.issuerUrl })));
  expect(res.status).toBe(200);
  expect(res.body.scope).toBe('https://www.googleapis.com/auth/generative-language');
  expect(stack.google.lookup(String(res.body.access_token))?.scopes).toEqual(['https://www.googleapis.com/auth/generative-language']);
});

it('resource is refused with the ephemeral type (400 invalid_request)', async () => {
  const res = await ask(stack, 'voice-app', { resource: 'https://example.test' });
  expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_request' });
});

it('Gemini auth_tokens 503 → 503 temporarily_unavailable with its Retry-After', async () => {
  stack.google.faults.failNext({ status: 503, count: Infinity, retryAfterSeconds: 7, match: 'authTokens' });
  const res = await ask(stack, 'voice-app');
  expect({ status: res.status, error: res.body.error, retryAfter: res.headers.get('retry-after') }).toEqual({ status: 503, error: 'temporarily_unavailable', retryAfter: '7' });
  expect(await lastExchange(stack, audit)).toMatchObject({ error: { reason: 'gemini_unavailable' } });
});

it('Gemini auth_tokens 4xx → 500 server_error, Google\'s message in the audit detail only', async () => {
  stack.google.faults.failNext({ status: 400, count: 1, match: 'authTokens' });
  const res = await ask(stack, 'voice-app');
  expect({ status: res.status, error: res.body.error }).toEqual({ status: 500, error: 'server_error' });
  expect(JSON.stringify(res.body)).not.toContain('INVALID_ARGUMENT');
  const entry = await lastExchange(stack, audit);
  expect(entry).toMatchObject({ error: { reason: 'gemini_refused' } });
  expect(String((entry.error as { detail?: string }).detail)).toContain('HTTP 400 INVALID_ARGUMENT');
});

describe('the API key secret', () => {
  it('Secret Manager 503 → 503 temporarily_unavailable; once it is back, the token is created', async () => {
    const lines = new LineCapture();
    const fresh = await startDevStack({ policyText, auditTransport: lines, resilience: fast });
    try {
      await fresh.broker;
      fresh.google.faults.failNext({ status: 503, count: Infinity, match: 'secretAccess' });
      const res = await ask(fresh, 'voice-app');
      expect({ status: res.status, error: res.body.error, retryAfter: res.headers.get('retry-after') !== null }).toEqual({ status: 503, error: 'temporarily_unavailable', retryAfter: true });
      expect(await lastExchange(fresh, lines)).toMatchObject({ error: { reason: 'secret_unavailable' } });
      expect(calls(fresh, 'authTokens')).toHaveLength(0);
      fresh.google.faults.clear();
      expect((await ask(fresh, 'voice-app')).status).toBe(200);
      assertNoKey(lines);
    } finally {
      await fresh.close();
    }
  });

  it('a secret that does not exist → 500 server_error (secret_refused)', async () => {
    const lines = new LineCapture();
    const fresh = await startDevStack({ policyText, auditTransport: lines, resilience: fast });
    try {
      await fresh.broker;
      fresh.google.setSecret(KEY_SECRET, undefined);
      const res = await ask(fresh, 'voice-app');
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 500, error: 'server_error' });
      expect(await lastExchange(fresh, lines)).toMatchObject({ error: { reason: 'secret_refused' } });
    } finally {
      await fresh.close();
    }
  });

  it('not configured (BROKER_GEMINI_API_KEY_SECRET unset) → 500 server_error at first use; the broker starts', async () => {
    const lines = new LineCapture();
    const fresh = await startDevStack({ policyText, auditTransport: lines, env: { BROKER_GEMINI_API_KEY_SECRET: '' } });
    try {
      await fresh.broker;
      const res = await ask(fresh, 'voice-app');
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 500, error: 'server_error' });
      expect(await lastExchange(fresh, lines)).toMatchObject({ error: { reason: 'gemini_key_not_configured' } });
      expect(calls(fresh, 'secretAccess')).toHaveLength(0);
      expect((await post(fresh.tokenUrl, exchangeForm(await fresh.issuer.sign({ sub: 'voice-app', aud: fresh.issuerUrl })))).status).toBe(200);
    } finally {
      await fresh.close();
    }
  });
});

function assertNoKey(lines: LineCapture): void {
  const leaked = lines.lines.filter((line) => line.includes(DEV_GEMINI_API_KEY));
  expect(leaked).toEqual([]);
}

it('the API key and the ephemeral tokens appear in no audit line and no answer', async () => {
  await stack.audit.flush();
  expect(audit.lines.length).toBeGreaterThan(10);
  assertNoKey(audit);
  const tokens = stack.google.authTokens().map((t) => t.name);
  expect(tokens.length).toBeGreaterThan(2);
  expect(audit.lines.filter((line) => tokens.some((token) => line.includes(token)))).toEqual([]);
  expect(answers.filter((res) => JSON.stringify(res.body).includes(DEV_GEMINI_API_KEY) || [...res.headers.values()].some((v) => v.includes(DEV_GEMINI_API_KEY)))).toEqual([]);
});
