/**
 * Grant presets for Gemini: `preset: gemini-vertex` (cloud-platform) and
 * `preset: gemini-developer-api` (generative-language) expand at load into the explicit grant
 * they stand for; a preset and `scopes` together, or neither, is a load error.
 */
import { DEFAULTS } from '../../shared/config/defaults';
import { compilePolicy } from '../../shared/policy/compile-policy';
import { parsePolicyText } from '../../shared/policy/parse-document';
import { PolicyLoadError } from '../../shared/policy/policy-error';

const ISSUER = 'https://token.actions.githubusercontent.com';
const SA = 'gemini@acme-prod.iam.gserviceaccount.com';
const CLOUD = 'https://www.googleapis.com/auth/cloud-platform';
const GENERATIVE = 'https://www.googleapis.com/auth/generative-language';

function load(grant: Record<string, unknown>) {
  const doc = {
    version: 1,
    issuers: [{ issuer: ISSUER, audiences: ['https://broker.example.com'] }],
    rules: [{ id: 'gemini', issuer: ISSUER, condition: 'true', grant: { service_account: SA, ...grant } }],
  };
  return compilePolicy(parsePolicyText(JSON.stringify(doc), 'policy.json'), { source: 'policy.json', network: { allowInsecureLoopback: false } }).rules[0]?.grant;
}

function issues(grant: Record<string, unknown>): Array<{ path: string; reason: string }> {
  try {
    load(grant);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyLoadError);
    return [...(err as PolicyLoadError).issues];
  }
  throw new Error('expected a PolicyLoadError');
}

it.each([
  ['gemini-vertex', [CLOUD]],
  ['gemini-developer-api', [GENERATIVE]],
])('preset %s expands into the explicit grant with its scope and the default lifetime', (preset, scopes) => {
  const grant = load({ preset });
  expect(grant).toMatchObject({ serviceAccount: SA, scopes, maxLifetimeSeconds: DEFAULTS.ruleMaxLifetimeSeconds, delegates: [] });
  expect({ ...grant }).toEqual({ ...load({ scopes }) });
});

it('keeps the rule\'s own lifetime and delegates', () => {
  expect(load({ preset: 'gemini-vertex', max_lifetime_seconds: 900, delegates: ['hop@acme-prod.iam.gserviceaccount.com'] }))
    .toMatchObject({ scopes: [CLOUD], maxLifetimeSeconds: 900, delegates: ['hop@acme-prod.iam.gserviceaccount.com'] });
});

it('refuses scopes next to a preset, and a grant with neither', () => {
  expect(issues({ preset: 'gemini-vertex', scopes: [CLOUD] })).toEqual([expect.objectContaining({ path: expect.stringContaining('grant.scopes'), reason: expect.stringContaining('set by preset gemini-vertex') })]);
  expect(issues({})).toEqual([expect.objectContaining({ path: expect.stringContaining('grant.scopes'), reason: expect.stringContaining('required') })]);
  expect(issues({ preset: 'gemini-enterprise' }).map((i) => i.path)).toEqual([expect.stringContaining('grant.preset')]);
});

it('an access boundary needs cloud-platform: fine with gemini-vertex, refused with gemini-developer-api', () => {
  const boundary = { access_boundary: [{ resource: '//storage.googleapis.com/projects/_/buckets/acme', permissions: ['inRole:roles/storage.objectViewer'] }] };
  expect(load({ preset: 'gemini-vertex', ...boundary })?.accessBoundary).toBeDefined();
  expect(issues({ preset: 'gemini-developer-api', ...boundary }).map((i) => i.path)).toEqual([expect.stringContaining('grant.scopes')]);
});
