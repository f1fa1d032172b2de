/**
 * The client against the development composition: the real broker with the embedded dev
 * policy (rule demo-gemini), the demo issuer, the Google emulators, and @google/genai (Vertex
 * mode) calling the loopback Gemini emulator with the broker's token through BrokerAuthClient.
 */
import { GoogleGenAI } from '@google/genai';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { startGeminiEmulator, type GeminiEmulator } from '../../dev/gemini-emulator';
import { BrokerError, BrokerTokenClient } from '../../client/src/index';
import { BrokerAuthClient } from '../../client/src/google-auth';
import { LineCapture } from '../helpers/capture';
import { CookieBrowser } from '../helpers/sign-in';

let stack: DevStack;
let gemini: GeminiEmulator;
const audit = new LineCapture();

beforeAll(async () => {
  stack = await startDevStack({ auditTransport: audit });
  await stack.broker;
  gemini = await startGeminiEmulator({ googleEmulator: stack.google });
});
afterAll(async () => {
  await gemini?.close();
  await stack?.close();
});
beforeEach(() => audit.clear());

const exchanges = () => audit.entries().filter((e) => e.event === 'token_exchange');

function demoClient(claims: Record<string, unknown> = {}, options: Partial<ConstructorParameters<typeof BrokerTokenClient>[0]> = {}): BrokerTokenClient {
  return new BrokerTokenClient({
    brokerUrl: stack.url,
    credential: { kind: 'subject_token', subjectToken: () => stack.issuer.sign({ sub: 'demo-workload', aud: stack.issuerUrl, repository: 'acme/demo', ...claims }) },
    audience: 'demo-gemini',
    ...options,
  });
}

it('exchanges a subject token once, then serves the cached token (one audit entry)', async () => {
  const tokens = demoClient();
  const first = await tokens.getToken();
  const second = await tokens.getToken();
  expect(second).toBe(first);
  expect(first.accessToken).toMatch(/^ya29\./);
  expect(first.scopes).toEqual(['https://www.googleapis.com/auth/cloud-platform', 'https://www.googleapis.com/auth/generative-language']);
  expect(first.expiresAt - Date.now()).toBeGreaterThan(800_000);
  const entries = exchanges();
  expect(entries).toHaveLength(1);
  expect(entries[0]).toMatchObject({ outcome: 'issued', policy: { ruleId: 'demo-gemini' } });
});

it('100 concurrent first calls make one exchange', async () => {
  const tokens = demoClient();
  const results = await Promise.all(Array.from({ length: 100 }, () => tokens.getAccessToken()));
  expect(new Set(results).size).toBe(1);
  expect(exchanges()).toHaveLength(1);
});

it('a refusal is surfaced typed, after one request', async () => {
  const tokens = demoClient({ repository: 'acme/other' });
  const error = await tokens.getAccessToken().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(BrokerError);
  expect(error).toMatchObject({ status: 403, error: 'access_denied', attempts: 1 });
  expect((error as BrokerError).errorDescription).toEqual(expect.any(String));
  expect(exchanges()).toHaveLength(1);
});

it('a scope outside the rule: 400 invalid_scope', async () => {
  await expect(demoClient({}, { scope: 'https://www.googleapis.com/auth/devstorage.read_only' }).getAccessToken()).rejects.toMatchObject({ status: 400, error: 'invalid_scope' });
});

it('@google/genai (Vertex mode) reaches Gemini with the broker token through BrokerAuthClient', async () => {
  const authClient = new BrokerAuthClient(demoClient());
  const ai = new GoogleGenAI({
    vertexai: true,
    project: 'acme-prod',
    location: 'us-central1',
    googleAuthOptions: { authClient },
    // As in test/e2e/gemini.int.test.ts: inside jest, hand genai the global fetch.
    httpOptions: { baseUrl: gemini.url, fetch },
  });
  const response = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Say hello' });
  expect(response.text).toContain('Say hello');
  const { token } = await authClient.getAccessToken();
  const call = gemini.requests.at(-1);
  expect(call?.path).toMatch(/\/projects\/acme-prod\/locations\/us-central1\/publishers\/google\/models\/gemini-2\.5-flash:generateContent$/);
  expect(call?.headers.authorization).toBe(`Bearer ${token}`);
  await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'again' });
  expect(exchanges()).toHaveLength(1);
});

it('BrokerAuthClient.request and the fetch wrapper send the Bearer token', async () => {
  const tokens = demoClient();
  const authClient = new BrokerAuthClient(tokens);
  const url = `${gemini.url}/v1beta1/projects/p/locations/l/publishers/google/models/gemini-2.5-flash:generateContent`;
  const body = { contents: [{ role: 'user', parts: [{ text: 'via request' }] }] };
  const viaRequest = await authClient.request<{ candidates: unknown[] }>({ url, method: 'POST', data: body });
  expect(viaRequest.status).toBe(200);
  const viaFetch = await tokens.fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(viaFetch.status).toBe(200);
  expect(gemini.requests.at(-1)?.headers.authorization).toBe(`Bearer ${await tokens.getAccessToken()}`);
  expect(exchanges()).toHaveLength(1);
});

it('the sign-in session credential: the user token from POST /v1/session/token', async () => {
  const browser = new CookieBrowser(stack);
  expect((await browser.signIn()).status).toBe(302);
  // What a page's fetch adds by itself: its Origin and the cookie jar (credentials: 'include').
  const pageFetch = ((input: RequestInfo | URL, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('origin', stack.url);
    return browser.go(String(input), { ...init, headers });
  }) as typeof fetch;
  const tokens = new BrokerTokenClient({ brokerUrl: stack.url, credential: { kind: 'session', app: 'demo-web' }, fetch: pageFetch });
  const token = await tokens.getToken();
  expect(token.accessToken).toEqual(expect.any(String));
  expect(token.tokenType).toBe('Bearer');
  // Without the session cookie: 401 login_required, typed.
  const signedOut = new BrokerTokenClient({ brokerUrl: stack.url, credential: { kind: 'session', app: 'demo-web' }, fetch: ((input: RequestInfo | URL, init: RequestInit = {}) => fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), origin: stack.url } })) as typeof fetch });
  await expect(signedOut.getAccessToken()).rejects.toMatchObject({ status: 401, error: 'login_required' });
});
