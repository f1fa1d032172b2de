/**
 * The point of the broker: a workload with only its OIDC token calls Gemini. The token the
 * broker mints is handed to @google/genai (Vertex mode) pointed at a loopback Gemini
 * endpoint that checks the bearer token against the IAM emulator.
 */
import { GoogleGenAI } from '@google/genai';
import { OAuth2Client } from 'google-auth-library';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { startGeminiEmulator, type GeminiEmulator } from '../../dev/gemini-emulator';
import { exchangeForm, post } from '../helpers/http';
import { CLOUD_PLATFORM, STORAGE_READ, testPolicy } from '../http/policy-fixture';

let stack: DevStack;
let gemini: GeminiEmulator;

beforeAll(async () => {
  stack = await startDevStack({ policyText: testPolicy });
  await stack.broker;
  gemini = await startGeminiEmulator({ googleEmulator: stack.google });
});
afterAll(async () => {
  await gemini.close();
  await stack.close();
});

async function brokerToken(claims: Record<string, unknown>, scope?: string): Promise<string> {
  const subject = await stack.issuer.sign({ sub: 'repo:acme/app', aud: stack.url, repository: 'acme/app', ...claims });
  const res = await post(stack.tokenUrl, exchangeForm(subject, scope ? { scope } : {}));
  expect(res.status).toBe(200);
  return String(res.body.access_token);
}

function genai(accessToken: string): GoogleGenAI {
  const authClient = new OAuth2Client();
  authClient.setCredentials({ access_token: accessToken, expiry_date: Date.now() + 600_000 });
  return new GoogleGenAI({
    vertexai: true,
    project: 'acme-prod',
    location: 'us-central1',
    googleAuthOptions: { authClient },
    // Inside jest's sandbox genai's own dispatcher cannot reach Node's undici global
    // ("Undici globalDispatcher is not available"); handing it the same global fetch avoids that.
    httpOptions: { baseUrl: gemini.url, fetch },
  });
}

it('completes generateContent with a broker-minted token', async () => {
  const token = await brokerToken({ ref: 'refs/heads/main' }, CLOUD_PLATFORM);
  const response = await genai(token).models.generateContent({ model: 'gemini-2.5-flash', contents: 'Say hello' });
  expect(response.text).toContain('Say hello');
  const call = gemini.requests.at(-1);
  expect(call?.path).toMatch(/\/projects\/acme-prod\/locations\/us-central1\/publishers\/google\/models\/gemini-2\.5-flash:generateContent$/);
  expect(call?.headers.authorization).toBe(`Bearer ${token}`);
});

it('a token the policy narrowed to another scope is refused by Gemini', async () => {
  const token = await brokerToken({ ref: 'refs/heads/feature' }, STORAGE_READ);
  await expect(genai(token).models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi' })).rejects.toThrow(/403|PERMISSION_DENIED|insufficient/i);
});

it('a token that did not come from the broker is refused', async () => {
  await expect(genai('ya29.forged').models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi' })).rejects.toThrow(/401|UNAUTHENTICATED/i);
});
