/** Presets written out (`admin policy expand`): the expanded document loads into the same policy, less the checks only a preset carries. */
import { compilePolicy } from '../../shared/policy/compile-policy';
import { parsePolicyText } from '../../shared/policy/parse-document';
import { expandPresets } from '../../shared/policy/presets';

const text = `
version: 1
issuers:
  - preset: google
    client_ids: [1234-web.apps.googleusercontent.com]
  - issuer: https://token.actions.githubusercontent.com
    audiences: [https://broker.example.com]
rules:
  - id: users
    issuer: https://accounts.google.com
    condition: "true"
    grant: { service_account: users@acme-prod.iam.gserviceaccount.com, preset: gemini-developer-api }
  - id: ci
    issuer: https://token.actions.githubusercontent.com
    condition: "true"
    grant: { service_account: ci@acme-prod.iam.gserviceaccount.com, preset: gemini-vertex, max_lifetime_seconds: 600 }
`;
const load = (doc: ReturnType<typeof parsePolicyText>) => compilePolicy(doc, { source: 'p.yaml', network: { allowInsecureLoopback: false } });

it('writes every preset out, and the result loads into the same rules and issuers', () => {
  const document = parsePolicyText(text, 'p.yaml');
  const expanded = expandPresets(document);
  expect(JSON.stringify(expanded)).not.toContain('preset');
  const [original, again] = [load(document), load(parsePolicyText(JSON.stringify(expanded), 'expanded.json'))];
  expect(again.rules.map((r) => [r.id, r.grant.scopes, r.grant.maxLifetimeSeconds])).toEqual(original.rules.map((r) => [r.id, r.grant.scopes, r.grant.maxLifetimeSeconds]));
  expect(again.rules.map((r) => r.grant.scopes)).toEqual([['https://www.googleapis.com/auth/generative-language'], ['https://www.googleapis.com/auth/cloud-platform']]);
  const google = again.issuers.get('https://accounts.google.com');
  expect(google).toMatchObject({ audiences: ['1234-web.apps.googleusercontent.com'], algorithms: ['RS256'], browser: true });
  expect(original.issuers.get('https://accounts.google.com')).toMatchObject({ audiences: google?.audiences, algorithms: google?.algorithms, browser: google?.browser });
});

it('leaves a document without presets as it is', () => {
  const document = parsePolicyText(text
    .replace(/preset: gemini-[a-z-]+/g, 'scopes: [https://www.googleapis.com/auth/cloud-platform]')
    .replace(/  - preset: google\n    client_ids: \[[^\]]*\]\n/, '  - { issuer: "https://accounts.google.com", audiences: [web-client] }\n'), 'p.yaml');
  expect(expandPresets(document)).toEqual(document);
});
