/**
 * Browser sign-in presets: Firebase Auth and Google Sign-In ID tokens. The presets' key URLs
 * are Google's (unreachable here), so each test compiles the real preset and then swaps only
 * the key source for a local key set; every other check runs as in production.
 */
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { verifyOidcToken } from '../../shared/identity/oidc-token';
import type { TrustedIssuer } from '../../shared/identity/trusted-issuer';
import { BrokerError } from '../../shared/errors';
import { compilePolicy } from '../../shared/policy/compile-policy';
import { parsePolicyText } from '../../shared/policy/parse-document';
import { PolicyLoadError } from '../../shared/policy/policy-error';

const PRODUCTION = { allowInsecureLoopback: false };
const WEB_CLIENT = '1234567890-abc.apps.googleusercontent.com';
let key: { privateKey: CryptoKey; jwk: JWK };

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  key = { privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256' } };
});

const policyText = `
version: 1
issuers:
  - preset: firebase
    project_id: acme-web-app
  - preset: google
    client_ids: ["${WEB_CLIENT}"]
rules:
  - id: firebase-users
    issuer: https://securetoken.google.com/acme-web-app
    condition: claims.email_verified == true && claims.firebase.sign_in_provider != 'anonymous'
    grant:
      service_account: gemini-browser@acme-prod.iam.gserviceaccount.com
      scopes: [https://www.googleapis.com/auth/generative-language]
  - id: google-users
    issuer: https://accounts.google.com
    condition: claims.email_verified == true && claims.hd == 'acme.com'
    grant:
      service_account: gemini-browser@acme-prod.iam.gserviceaccount.com
      scopes: [https://www.googleapis.com/auth/generative-language]
      max_lifetime_seconds: 900
`;

function compiled() {
  const policy = compilePolicy(parsePolicyText(policyText, 'browser.yaml'), { source: 'browser.yaml', network: PRODUCTION });
  const local = createLocalJWKSet({ keys: [key.jwk] });
  const issuers = new Map<string, TrustedIssuer>([...policy.issuers].map(([name, issuer]) => [name, { ...issuer, keys: local }]));
  return { policy, issuers };
}

const now = () => Math.floor(Date.now() / 1000);
const sign = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' }).setIssuedAt().setExpirationTime('1h').sign(key.privateKey);

it('expands the presets: issuers, aliases, audiences, browser lifetimes', () => {
  const { policy } = compiled();
  const firebase = policy.issuers.get('https://securetoken.google.com/acme-web-app');
  expect(firebase).toMatchObject({ audiences: ['acme-web-app'], algorithms: ['RS256'], browser: true, requireAuthTime: true, maxTokenAgeSeconds: 3600 });
  const google = policy.issuers.get('https://accounts.google.com');
  expect(google).toMatchObject({ audiences: [WEB_CLIENT], aliases: ['accounts.google.com'], browser: true });
  expect(policy.issuers.get('accounts.google.com')).toBe(google);
  expect(policy.rules.map((r) => r.grant.maxLifetimeSeconds)).toEqual([300, 900]);
});

it('accepts a Firebase ID token and exposes auth_time, email_verified and firebase.* to the rules', async () => {
  const { policy, issuers } = compiled();
  const token = await sign({ iss: 'https://securetoken.google.com/acme-web-app', aud: 'acme-web-app', sub: 'uid-1', auth_time: now() - 60, email_verified: true, firebase: { sign_in_provider: 'google.com' } });
  const principal = await verifyOidcToken(token, issuers);
  expect(principal).toMatchObject({ issuer: 'https://securetoken.google.com/acme-web-app', subject: 'uid-1' });
  expect(policy.rules[0]?.condition.evaluate(principal.claims)).toEqual({ matched: true });
  const anonymous = await verifyOidcToken(await sign({ iss: 'https://securetoken.google.com/acme-web-app', aud: 'acme-web-app', sub: 'uid-2', auth_time: now(), email_verified: true, firebase: { sign_in_provider: 'anonymous' } }), issuers);
  expect(policy.rules[0]?.condition.evaluate(anonymous.claims)).toMatchObject({ matched: false });
});

it.each<[string, Record<string, unknown>]>([
  ['without auth_time', {}],
  ['with auth_time in the future', { auth_time: now() + 3600 }],
  ['with auth_time as a string', { auth_time: String(now()) }],
  ['for another Firebase project', { aud: 'other-project', auth_time: now() }],
])('refuses a Firebase token %s', async (_name, extra) => {
  const { issuers } = compiled();
  const token = await sign({ iss: 'https://securetoken.google.com/acme-web-app', aud: 'acme-web-app', sub: 'uid-1', ...extra });
  await expect(verifyOidcToken(token, issuers)).rejects.toMatchObject({ code: 'invalid_grant' });
});

it('accepts Google ID tokens under both issuer spellings, as one issuer', async () => {
  const { policy, issuers } = compiled();
  for (const iss of ['https://accounts.google.com', 'accounts.google.com']) {
    const principal = await verifyOidcToken(await sign({ iss, aud: WEB_CLIENT, sub: '1100', email_verified: true, hd: 'acme.com' }), issuers);
    expect(principal.issuer).toBe('https://accounts.google.com');
    expect(policy.rules[1]?.condition.evaluate(principal.claims)).toEqual({ matched: true });
  }
  await expect(verifyOidcToken(await sign({ iss: 'accounts.google.com', aud: 'someone-elses-client', sub: '1' }), issuers)).rejects.toBeInstanceOf(BrokerError);
});

it.each([
  ['firebase without project_id', 'issuers:\n  - preset: firebase\n', 'issuers[0].project_id'],
  ['google without client_ids', 'issuers:\n  - preset: google\n', 'issuers[0].client_ids'],
  ['a preset with its own jwks_uri', 'issuers:\n  - preset: google\n    client_ids: [x]\n    jwks_uri: https://evil.example.com/jwks\n', 'issuers[0].jwks_uri'],
])('refuses %s at load', (_name, issuersYaml, path) => {
  const text = `version: 1\n${issuersYaml}rules:\n  - id: r\n    issuer: https://accounts.google.com\n    condition: "true"\n    grant: { service_account: a@p.iam.gserviceaccount.com, scopes: [s] }\n`;
  try {
    compilePolicy(parsePolicyText(text, 'p.yaml'), { source: 'p.yaml', network: PRODUCTION });
    throw new Error('expected a PolicyLoadError');
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyLoadError);
    expect((err as PolicyLoadError).issues.map((i) => i.path)).toContain(path);
  }
});
