/**
 * The ID token checks of the code exchange (shared/sign-in/provider.ts through openid-client),
 * against a loopback OpenID Connect provider that answers the token request with an ID token
 * of the test's choosing: discovery, JWKS and token endpoint in their real wire formats, the
 * token signed with the provider's published key (or, for one case, another key). Each wrong
 * claim must be refused as `id_token_invalid`; the control case shows the right one passes.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { createProviderClient, ProviderFailure } from '../../shared/sign-in/provider';
import type { CompiledWebApp } from '../../shared/policy/web-apps';
import { Deadline } from '../../shared/resilience/deadline';

const CLIENT_ID = 'web-client';
const NONCE = 'n'.repeat(43);
const STATE = 's'.repeat(43);
let server: Server;
let issuer: string;
let signingKey: CryptoKey;
let otherKey: CryptoKey;
/** What the next token response's ID token holds (relative to a correct one). */
let idTokenFor: () => Promise<string | undefined>;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  signingKey = pair.privateKey;
  otherKey = (await generateKeyPair('RS256')).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  server = createServer((req, res) => {
    const send = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    if (req.url === '/.well-known/openid-configuration') {
      return send(200, {
        issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'], token_endpoint_auth_methods_supported: ['client_secret_post'],
      });
    }
    if (req.url === '/jwks') return send(200, { keys: [jwk] });
    if (req.url === '/token' && req.method === 'POST') {
      req.resume();
      req.on('end', () => void idTokenFor().then((idToken) => send(200, {
        access_token: 'ya29.user-token', token_type: 'Bearer', expires_in: 3600, scope: 'openid email', ...(idToken ? { id_token: idToken } : {}),
      })));
      return undefined;
    }
    return send(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function app(): CompiledWebApp {
  return {
    id: 'web', issuer, clientId: CLIENT_ID, clientSecretRef: 'projects/p/secrets/s/versions/1', redirectUri: 'http://127.0.0.1:1/v1/callback',
    origins: new Set(), scopes: ['openid', 'email'], postLoginRedirects: new Set(), sessionLifetimeSeconds: 3600, refreshTokenLifetimeSeconds: 3600, requestsPerMinute: 60,
  };
}

function signed(overrides: JWTPayload = {}, key: CryptoKey = signingKey, kid = 'k1'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: issuer, aud: CLIENT_ID, azp: CLIENT_ID, sub: '1234', nonce: NONCE, iat: now, exp: now + 3600, email: 'a@example.com', ...overrides })
    .setProtectedHeader({ alg: 'RS256', kid })
    .sign(key);
}

async function exchange(): Promise<unknown> {
  const provider = createProviderClient({ clientSecret: async () => 'secret', allowInsecureLoopback: true });
  const callback = new URL(`http://127.0.0.1:1/v1/callback?code=c&state=${STATE}`);
  try {
    return await provider.exchangeCode(app(), callback, { state: STATE, nonce: NONCE, codeVerifier: 'v'.repeat(43) }, new Deadline(5000));
  } catch (err) {
    return err;
  }
}

it('accepts a correct ID token and returns its claims (the control case)', async () => {
  idTokenFor = () => signed();
  expect(await exchange()).toMatchObject({ accessToken: 'ya29.user-token', claims: { sub: '1234', email: 'a@example.com' } });
});

it.each<[string, () => Promise<string | undefined>]>([
  ['another nonce', () => signed({ nonce: 'other' })],
  ['no nonce', () => signed({ nonce: undefined })],
  ['another audience', () => signed({ aud: 'someone-else', azp: 'someone-else' })],
  ['an azp naming another client', () => signed({ aud: [CLIENT_ID, 'other'], azp: 'other' })],
  ['another issuer', () => signed({ iss: 'https://accounts.example' })],
  ['an expired token', () => signed({ iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 })],
  ['a signature by a key the provider does not publish', () => signed({}, otherKey)],
  ['no ID token at all', async () => undefined],
])('refuses %s as id_token_invalid', async (_case, token) => {
  idTokenFor = token;
  const outcome = await exchange();
  expect(outcome).toBeInstanceOf(ProviderFailure);
  expect((outcome as ProviderFailure).kind).toBe('id_token_invalid');
  expect((outcome as ProviderFailure).message).toMatch(/^code exchange: /); // refused at the ID token, not before
});
