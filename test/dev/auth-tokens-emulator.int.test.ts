/**
 * The emulated Gemini API `v1alpha/auth_tokens` and Secret Manager `AccessSecretVersion`,
 * driven over loopback HTTP: auth_tokens by @google/genai 2.32's own `authTokens.create`
 * (so the emulator accepts exactly what the SDK sends), Secret Manager by plain fetch with the
 * caller's bearer token.
 */
import { ApiError, GoogleGenAI } from '@google/genai';
import { crc32c } from '../../shared/cache/crc32c';
import { startGoogleEmulator, type GoogleEmulator } from '../../dev/google-emulator';

const KEY = 'AIzaSy-emulator-test-key';
const CALLER = 'broker-caller-token';
let google: GoogleEmulator;
beforeAll(async () => {
  google = await startGoogleEmulator({ serviceAccounts: [], callerTokens: [CALLER], geminiApiKeys: [KEY], secrets: { 'projects/acme/secrets/gemini-key': `${KEY}\n` } });
});
afterAll(() => google?.close());

// An explicit fetch: inside jest's sandbox genai cannot find undici's global dispatcher.
const genai = (apiKey: string) => new GoogleGenAI({ apiKey, httpOptions: { baseUrl: google.url, apiVersion: 'v1alpha', fetch } });
const inMinutes = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();

describe('auth_tokens.create', () => {
  it('accepts what @google/genai sends, records the locked setup and answers a name', async () => {
    const token = await genai(KEY).authTokens.create({
      config: {
        uses: 2,
        expireTime: inMinutes(10),
        newSessionExpireTime: inMinutes(1),
        liveConnectConstraints: { model: 'gemini-live-2.5-flash-preview', config: { responseModalities: ['AUDIO' as never], temperature: 0.3, systemInstruction: 'Be brief.' } },
        lockAdditionalFields: [],
      },
    });
    expect(token.name).toMatch(/^auth_tokens\/\S+$/);
    expect(google.authTokens().at(-1)).toMatchObject({
      name: token.name,
      uses: 2,
      setup: { model: 'models/gemini-live-2.5-flash-preview', generationConfig: { responseModalities: ['AUDIO'], temperature: 0.3 }, systemInstruction: { parts: [{ text: 'Be brief.' }] } },
      fieldMask: 'model,generationConfig.responseModalities,generationConfig.temperature,systemInstruction.parts,systemInstruction.role',
    });
  });

  it('refuses an unknown key (400 API_KEY_INVALID) and a missing one (403)', async () => {
    await expect(genai('AIzaSy-wrong').authTokens.create({ config: { uses: 1 } })).rejects.toMatchObject({ status: 400 });
    const res = await fetch(`${google.url}/v1alpha/auth_tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { status: string } }).error.status).toBe('PERMISSION_DENIED');
  });

  it.each([
    ['an unknown field', { uses: 1, lock: true }, 'Unknown name "lock"'],
    ['an unknown setup field', { bidiGenerateContentSetup: { model: 'models/m', voice: 'x' } }, 'Unknown name "voice"'],
    ['an unknown generationConfig field', { bidiGenerateContentSetup: { model: 'models/m', generationConfig: { warmth: 1 } } }, 'Unknown name "warmth"'],
    ['negative uses', { uses: -1 }, 'uses'],
    ['an expireTime in the past', { expireTime: new Date(Date.now() - 1000).toISOString() }, 'in the future'],
    ['an expireTime 20 hours ahead', { expireTime: inMinutes(20 * 60 + 1) }, 'less than 20 hours'],
    ['a model without models/', { bidiGenerateContentSetup: { model: 'gemini-x' } }, 'Invalid model name'],
  ])('refuses %s with 400 INVALID_ARGUMENT', async (_name, body, says) => {
    const res = await fetch(`${google.url}/v1alpha/auth_tokens`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': KEY }, body: JSON.stringify(body) });
    const answer = (await res.json()) as { error: { status: string; message: string } };
    expect({ status: res.status, rpc: answer.error.status }).toEqual({ status: 400, rpc: 'INVALID_ARGUMENT' });
    expect(answer.error.message).toContain(says);
  });

  it('honours the fault switches (match authTokens)', async () => {
    google.faults.failNext({ status: 503, match: 'authTokens' });
    await expect(genai(KEY).authTokens.create({ config: { uses: 1 } })).rejects.toBeInstanceOf(ApiError);
  });
});

describe('Secret Manager AccessSecretVersion', () => {
  const access = (name: string, token: string | null = CALLER) =>
    fetch(`${google.url}/v1/${name}:access`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });

  it('answers the payload with its CRC32C, as a string, and the numbered version name', async () => {
    for (const version of ['latest', '1']) {
      const res = await access(`projects/acme/secrets/gemini-key/versions/${version}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { name: string; payload: { data: string; dataCrc32c: string } };
      expect(body.name).toMatch(/^projects\/\d{12}\/secrets\/gemini-key\/versions\/1$/);
      const data = Buffer.from(body.payload.data, 'base64');
      expect(data.toString()).toBe(`${KEY}\n`);
      expect(body.payload.dataCrc32c).toBe(String(crc32c(data)));
    }
  });

  it('404 NOT_FOUND for an unknown secret or version; 401 without the caller\'s token', async () => {
    const missing = await access('projects/acme/secrets/nope/versions/latest');
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { status: string } }).error.status).toBe('NOT_FOUND');
    expect((await access('projects/acme/secrets/gemini-key/versions/2')).status).toBe(404);
    expect((await access('projects/acme/secrets/gemini-key/versions/latest', null)).status).toBe(401);
    expect((await access('projects/acme/secrets/gemini-key/versions/latest', 'someone-else')).status).toBe(401);
  });

  it('setSecret adds a version that latest then names, and undefined deletes the secret', async () => {
    google.setSecret('projects/acme/secrets/rotating', 'one');
    google.setSecret('projects/acme/secrets/rotating', 'two');
    const latest = (await (await access('projects/acme/secrets/rotating/versions/latest')).json()) as { name: string; payload: { data: string } };
    expect([latest.name.endsWith('/versions/2'), Buffer.from(latest.payload.data, 'base64').toString()]).toEqual([true, 'two']);
    google.setSecret('projects/acme/secrets/rotating', undefined);
    expect((await access('projects/acme/secrets/rotating/versions/1')).status).toBe(404);
  });
});
