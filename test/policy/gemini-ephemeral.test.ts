/**
 * `gemini_ephemeral` grants: checked when the policy loads (model name, uses 1–100,
 * expire_seconds ≤ 1800, new_session_expire_seconds ≤ expire_seconds, only LiveConnectConfig
 * fields in `lock`), and rendered into the body @google/genai's `authTokens.create` sends.
 */
import { DEFAULTS } from '../../shared/config/defaults';
import { compilePolicy } from '../../shared/policy/compile-policy';
import { renderAuthTokenRequest } from '../../shared/policy/gemini-ephemeral';
import { parsePolicyText } from '../../shared/policy/parse-document';
import { PolicyLoadError } from '../../shared/policy/policy-error';

const ISSUER = 'https://token.actions.githubusercontent.com';
const SA = 'live@acme-prod.iam.gserviceaccount.com';

function load(geminiEphemeral: unknown) {
  const doc = {
    version: 1,
    issuers: [{ issuer: ISSUER, audiences: ['https://broker.example.com'] }],
    rules: [{
      id: 'live', issuer: ISSUER, condition: 'true',
      grant: { service_account: SA, scopes: ['https://www.googleapis.com/auth/cloud-platform'], gemini_ephemeral: geminiEphemeral },
    }],
  };
  return compilePolicy(parsePolicyText(JSON.stringify(doc), 'policy.json'), { source: 'policy.json', network: { allowInsecureLoopback: false } });
}

function issuePaths(geminiEphemeral: unknown): string[] {
  try {
    load(geminiEphemeral);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyLoadError);
    return (err as PolicyLoadError).issues.map((issue) => issue.path);
  }
  throw new Error('expected a PolicyLoadError');
}

it('compiles with Google\'s defaults and a models/ name', () => {
  const spec = load({ model: 'gemini-live-2.5-flash-preview' }).rules[0]?.grant.geminiEphemeral;
  expect(spec).toEqual({
    model: 'models/gemini-live-2.5-flash-preview',
    uses: 1,
    expireSeconds: DEFAULTS.geminiEphemeralExpireSeconds,
    newSessionExpireSeconds: DEFAULTS.geminiEphemeralNewSessionExpireSeconds,
    lock: {},
  });
  expect(load({ model: 'models/gemini-2.0-flash-live-001' }).rules[0]?.grant.geminiEphemeral?.model).toBe('models/gemini-2.0-flash-live-001');
});

it.each([
  ['a model that is not a model name', { model: 'projects/p/models/x' }, 'model'],
  ['no model', { uses: 2 }, 'model'],
  ['uses 0 (unlimited at Google)', { model: 'm', uses: 0 }, 'uses'],
  ['uses above 100', { model: 'm', uses: 101 }, 'uses'],
  ['expire_seconds above 1800', { model: 'm', expire_seconds: 1801 }, 'expire_seconds'],
  ['a new-session window longer than the token', { model: 'm', expire_seconds: 300, new_session_expire_seconds: 600 }, 'new_session_expire_seconds'],
  ['a lock field LiveConnectConfig does not have', { model: 'm', lock: { responseModalities: ['AUDIO'], httpOptions: {} } }, 'lock'],
  ['a lock value of the wrong type', { model: 'm', lock: { temperature: 'hot' } }, 'lock.temperature'],
  ['an unknown key', { model: 'm', fieldMask: 'x' }, ''],
])('refuses %s at load', (_name, grant, path) => {
  const paths = issuePaths(grant);
  expect(paths.some((p) => p.includes('gemini_ephemeral') && p.includes(path))).toBe(true);
});

it('renders the auth_tokens.create body: generation settings under generationConfig, the rest beside model, no fieldMask', () => {
  const spec = load({
    model: 'gemini-live-2.5-flash-preview', uses: 3, expire_seconds: 600, new_session_expire_seconds: 120,
    lock: { responseModalities: ['AUDIO'], temperature: 0.2, systemInstruction: 'Answer in English.', sessionResumption: {} },
  }).rules[0]?.grant.geminiEphemeral;
  const now = Date.parse('2026-12-06T12:00:00Z');
  expect(renderAuthTokenRequest(spec!, now)).toEqual({
    uses: 3,
    expireTime: '2026-12-06T12:10:00.000Z',
    newSessionExpireTime: '2026-12-06T12:02:00.000Z',
    bidiGenerateContentSetup: {
      model: 'models/gemini-live-2.5-flash-preview',
      generationConfig: { responseModalities: ['AUDIO'], temperature: 0.2 },
      systemInstruction: { parts: [{ text: 'Answer in English.' }], role: 'user' },
      sessionResumption: {},
    },
  });
});
