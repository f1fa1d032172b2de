/**
 * RFC 7523 client assertions: what is accepted, every way one is refused (with the error
 * code the caller asked for), single use within and across instances, and mutual
 * exclusivity with identity tokens (RFC 8725 §3.12).
 */
import { rejection } from '../helpers/rejection';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Firestore } from '@google-cloud/firestore';
import { createLocalJWKSet, exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { startDemoIssuer, type DemoIssuer } from '../../dev/demo-issuer';
import {
  verifyClientAssertion,
  type AssertionCheck,
  type RegisteredClient,
} from '../../shared/identity/client-assertion';
import { createKeySource } from '../../shared/identity/key-source';
import { verifyOidcToken } from '../../shared/identity/oidc-token';
import { createFirestoreReplayStore, createMemoryReplayStore, type ReplayStore } from '../../shared/identity/replay-store';
import type { TrustedIssuer } from '../../shared/identity/trusted-issuer';
import { b64url, forgeJws, nowSeconds } from '../helpers/forge';

const ISSUER_URL = 'https://broker.example.test';
const TOKEN_URL = 'https://broker.example.test/token';
const AUDIENCES = [ISSUER_URL, TOKEN_URL];

interface ClientKey { privateKey: CryptoKey; publicKey: CryptoKey; publicJwk: JWK; kid: string; alg: string }

async function clientKey(alg: 'RS256' | 'ES256'): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  return { privateKey, publicKey, kid, alg, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

let rsa: ClientKey;
let stranger: ClientKey;
let ec: ClientKey;
let jwksServer: Server;
let jwksUrl: string;
let jwksUp = true;
let demo: DemoIssuer;
let clients: Map<string, RegisteredClient>;
const firestoreClients: Firestore[] = [];

function registered(id: string, keys: RegisteredClient['keys'], algorithms: string[], maxAssertionLifetimeSeconds = 300): RegisteredClient {
  return { id, keys, algorithms, maxAssertionLifetimeSeconds };
}

beforeAll(async () => {
  [rsa, stranger, ec] = await Promise.all([clientKey('RS256'), clientKey('RS256'), clientKey('ES256')]);
  jwksServer = createServer((_req, res) => {
    if (!jwksUp) return void res.writeHead(503).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [ec.publicJwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
  demo = await startDemoIssuer({ defaultAudience: TOKEN_URL });
  clients = new Map([
    ['ci-deployer', registered('ci-deployer', createLocalJWKSet({ keys: [rsa.publicJwk] }), ['RS256'])],
    ['svc.remote:ec', registered('svc.remote:ec', createKeySource({ kind: 'jwks_uri', jwksUri: jwksUrl }, { network: { allowInsecureLoopback: true }, cooldownMs: 50, acceptance: { algorithms: ['ES256'] } }), ['ES256'])],
  ]);
});

afterAll(async () => {
  jwksServer.closeAllConnections();
  await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
  await demo.close();
  await Promise.all(firestoreClients.map((c) => c.terminate()));
});

/** A replay store that counts the claims that reach it. */
function counting(store: ReplayStore = createMemoryReplayStore()): ReplayStore & { claims: number } {
  const counted = {
    claims: 0,
    claim: (key: string, expiresAtMs: number) => {
      counted.claims++;
      return store.claim(key, expiresAtMs);
    },
    close: () => store.close(),
  };
  return counted;
}

function check(overrides: Partial<AssertionCheck> = {}): AssertionCheck {
  return { clients, audiences: AUDIENCES, replay: createMemoryReplayStore(), errorCode: 'invalid_client', ...overrides };
}

interface SignOptions { key?: ClientKey; header?: Record<string, unknown>; omit?: string[] }

/** An assertion of `ci-deployer` for the token URL, valid for two minutes, unless told otherwise. */
async function assertion(claims: JWTPayload = {}, options: SignOptions = {}): Promise<string> {
  const key = options.key ?? rsa;
  const now = nowSeconds();
  const iss = (claims.iss as string | undefined) ?? 'ci-deployer';
  const payload: Record<string, unknown> = { iss, sub: iss, aud: TOKEN_URL, iat: now, exp: now + 120, jti: randomUUID(), ...claims };
  for (const claim of options.omit ?? []) delete payload[claim];
  return new SignJWT(payload as JWTPayload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...options.header })
    .sign(key.privateKey);
}


describe('accepts', () => {
  it('a good assertion, once, and returns what the broker needs', async () => {
    const jwt = await assertion({ jti: 'jti-1', scope: 'ignored' });
    const verified = await verifyClientAssertion(jwt, check());
    expect(verified).toMatchObject({ clientId: 'ci-deployer', jti: 'jti-1' });
    expect(verified.expiresAt).toBeGreaterThan(nowSeconds());
    expect(verified.assertionSha256).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Object.getPrototypeOf(verified.claims)).toBeNull();
    expect(verified.claims.scope).toBe('ignored');
  });

  it.each([
    ['no typ', {}],
    ['typ JWT', { typ: 'JWT' }],
    ['typ client-authentication+jwt', { typ: 'client-authentication+jwt' }],
    ['typ application/Client-Authentication+JWT', { typ: 'application/Client-Authentication+JWT' }],
  ])('%s', async (_name, header) => {
    await expect(verifyClientAssertion(await assertion({}, { header }), check())).resolves.toMatchObject({ clientId: 'ci-deployer' });
  });

  it.each([
    ['the issuer URL', ISSUER_URL],
    ['the token URL', TOKEN_URL],
    ['a one-element array', [TOKEN_URL]],
  ])('aud: %s', async (_name, aud) => {
    await expect(verifyClientAssertion(await assertion({ aud }), check())).resolves.toMatchObject({ clientId: 'ci-deployer' });
  });

  it('a client whose keys come from a loopback JWKS URL, and a matching client_id', async () => {
    const jwt = await assertion({ iss: 'svc.remote:ec' }, { key: ec });
    await expect(verifyClientAssertion(jwt, check({ expectedClientId: 'svc.remote:ec' }))).resolves.toMatchObject({ clientId: 'svc.remote:ec' });
  });

  it('nbf in the past, and clock skew within the tolerance', async () => {
    const now = nowSeconds();
    await expect(verifyClientAssertion(await assertion({ nbf: now - 5 }), check())).resolves.toBeDefined();
    await expect(verifyClientAssertion(await assertion({ iat: now + 20, exp: now + 200 }), check())).resolves.toBeDefined();
  });
});

describe('refuses, without consuming the jti', () => {
  const now = nowSeconds();
  const cases: Array<[string, () => Promise<string>, string, Partial<AssertionCheck>?]> = [
    ['signed with another key (same kid)', () => assertion({}, { key: { ...stranger, kid: rsa.kid } }), 'bad_signature'],
    ['signed with a key the client has not registered', () => assertion({}, { key: stranger }), 'unknown_key'],
    ['an unknown client', () => assertion({ iss: 'nobody' }), 'unknown_client'],
    ['no iss', () => assertion({}, { omit: ['iss'] }), 'unknown_client'],
    ['sub ≠ iss', () => assertion({ sub: 'someone-else' }), 'subject_mismatch'],
    ['a wrong aud', () => assertion({ aud: 'https://other.example.test/token' }), 'audience_mismatch'],
    ['an aud array with two values, both ours', () => assertion({ aud: [TOKEN_URL, ISSUER_URL] }), 'audience_mismatch'],
    ['an aud array with ours and another', () => assertion({ aud: [TOKEN_URL, 'https://rp.example.test'] }), 'audience_mismatch'],
    ['an aud with a trailing slash', () => assertion({ aud: `${TOKEN_URL}/` }), 'audience_mismatch'],
    ['an aud differing in case', () => assertion({ aud: TOKEN_URL.toUpperCase() }), 'audience_mismatch'],
    ['no aud', () => assertion({}, { omit: ['aud'] }), 'missing_claim'],
    ['expired', () => assertion({ iat: now - 200, exp: now - 60 }), 'token_expired'],
    ['iat in the future', () => assertion({ iat: nowSeconds() + 120, exp: nowSeconds() + 240 }), 'issued_in_future'],
    ['nbf in the future', () => assertion({ nbf: nowSeconds() + 120 }), 'token_not_yet_valid'],
    ['a lifetime longer than allowed', () => assertion({ exp: nowSeconds() + 301 }), 'assertion_lifetime_too_long'],
    ['exp before iat (both within the tolerance)', () => assertion({ iat: nowSeconds(), exp: nowSeconds() - 1 }), 'invalid_claim_type'],
    ['no jti', () => assertion({}, { omit: ['jti'] }), 'missing_claim'],
    ['an empty jti', () => assertion({ jti: '' }), 'invalid_jti'],
    ['a jti longer than 256 characters', () => assertion({ jti: 'j'.repeat(257) }), 'invalid_jti'],
    ['a non-string jti', () => assertion({ jti: 42 as unknown as string }), 'invalid_claim_type'],
    ['no exp', () => assertion({}, { omit: ['exp'] }), 'missing_claim'],
    ['no iat', () => assertion({}, { omit: ['iat'] }), 'missing_claim'],
    ['a float exp', () => assertion({ exp: nowSeconds() + 60.5 }), 'invalid_claim_type'],
    ['typ at+jwt', () => assertion({}, { header: { typ: 'at+jwt' } }), 'wrong_token_type'],
    ['typ application/at+jwt', () => assertion({}, { header: { typ: 'application/at+jwt' } }), 'wrong_token_type'],
    ['typ JOSE', () => assertion({}, { header: { typ: 'JOSE' } }), 'wrong_token_type'],
    ['a non-string typ', () => assertion({}, { header: { typ: 1 } }), 'malformed_token'],
    ['a client_id naming another client', () => assertion(), 'client_id_mismatch', { expectedClientId: 'svc.remote:ec' }],
    ['an algorithm the client has not registered', () => assertion({ iss: 'ci-deployer' }, { key: { ...ec, kid: rsa.kid } }), 'algorithm_not_allowed'],
    ['HS256 keyed with the client\'s public key (JWK n)', async () => forgeJws(
      { alg: 'HS256', typ: 'JWT', kid: rsa.kid }, claimsFor(), { kind: 'hs256', secret: Buffer.from(rsa.publicJwk.n as string, 'base64url') }), 'algorithm_not_allowed'],
    ['HS256 keyed with the client\'s public key (PEM)', async () => forgeJws(
      { alg: 'HS256', typ: 'JWT' }, claimsFor(), { kind: 'hs256', secret: await exportSPKI(rsa.publicKey) }), 'algorithm_not_allowed'],
    ['alg none with an empty signature', async () => forgeJws({ alg: 'none', typ: 'JWT' }, claimsFor(), { kind: 'none' }), 'malformed_token'],
    ['alg none with a signature', async () => forgeJws({ alg: 'none', typ: 'JWT' }, claimsFor(), { kind: 'garbage' }), 'algorithm_not_allowed'],
    ['a JWE', async () => `${b64url('{"alg":"RSA-OAEP","enc":"A256GCM"}')}.a.b.c.d`, 'jwe_not_accepted'],
    ['padding in the signature', async () => `${await assertion()}=`, 'malformed_token'],
    ['a payload that is not JSON', async () => `${b64url('{"alg":"RS256"}')}.${b64url('not json')}.${b64url('sig')}`, 'malformed_token'],
    ['an oversized assertion', () => assertion({ pad: 'x'.repeat(20_000) }), 'token_too_large'],
  ];

  it.each(cases)('%s', async (_name, make, reason, overrides = {}) => {
    const jwt = await make();
    const replay = counting();
    const err = await rejection(verifyClientAssertion(jwt, check({ replay, ...overrides })));
    expect({ code: err.code, status: err.status, reason: err.reason }).toEqual({ code: 'invalid_client', status: 401, reason });
    expect(err.description).not.toContain(jwt.slice(0, 20));
    expect(replay.claims).toBe(0);
  });

  it('with the error code asked for: invalid_grant (400) for the jwt-bearer grant', async () => {
    for (const [, make, reason, overrides = {}] of cases) {
      const err = await rejection(verifyClientAssertion(await make(), check({ errorCode: 'invalid_grant', ...overrides })));
      expect({ code: err.code, status: err.status, reason: err.reason }).toEqual({ code: 'invalid_grant', status: 400, reason });
    }
  });

  it('an algorithm outside the asymmetric set even when the client (misconfigured) lists it', async () => {
    const misconfigured = new Map([['hmac-client', registered('hmac-client', createLocalJWKSet({ keys: [{ kty: 'oct', k: b64url('shared'), alg: 'HS256' }] }), ['HS256'])]]);
    const jwt = forgeJws({ alg: 'HS256' }, claimsFor('hmac-client'), { kind: 'hs256', secret: 'shared' });
    const err = await rejection(verifyClientAssertion(jwt, check({ clients: misconfigured })));
    expect(err.reason).toBe('algorithm_not_allowed');
  });

  it('a jti refused for another reason stays usable by a good assertion', async () => {
    const replay = counting();
    const jti = randomUUID();
    await rejection(verifyClientAssertion(await assertion({ jti, aud: 'https://elsewhere.example.test' }), check({ replay })));
    await rejection(verifyClientAssertion(await assertion({ jti }, { key: { ...stranger, kid: rsa.kid } }), check({ replay })));
    expect(replay.claims).toBe(0);
    await expect(verifyClientAssertion(await assertion({ jti }), check({ replay }))).resolves.toMatchObject({ jti });
    expect(replay.claims).toBe(1);
  });
});

describe('onSignatureVerified: the client is named once its key verified the signature, never before', () => {
  /** Whom the hook was told of, and why the assertion was refused (undefined: accepted). */
  async function identified(jwt: string, overrides: Partial<AssertionCheck> = {}): Promise<{ told: string[]; reason?: string }> {
    const told: string[] = [];
    const err = await verifyClientAssertion(jwt, check({ onSignatureVerified: (id) => told.push(id), ...overrides })).then(() => undefined, (e: { reason?: string }) => e);
    return { told, reason: err?.reason };
  }
  const past = () => ({ iat: nowSeconds() - 600, exp: nowSeconds() - 300 });

  it.each<[string, () => Promise<string>, string | undefined]>([
    ['a good assertion', () => assertion(), undefined],
    ['an expired one', () => assertion(past()), 'token_expired'],
    ['one not yet valid', () => assertion({ nbf: nowSeconds() + 600 }), 'token_not_yet_valid'],
    ['one without a jti', () => assertion({}, { omit: ['jti'] }), 'missing_claim'],
    ['one for another audience', () => assertion({ aud: 'https://elsewhere.example.test' }), 'audience_mismatch'],
    ['one whose sub is not its iss', () => assertion({ sub: 'someone-else' }), 'subject_mismatch'],
  ])('%s: named', async (_name, make, reason) => {
    expect(await identified(await make())).toEqual({ told: ['ci-deployer'], reason });
  });

  it('a replayed one: named', async () => {
    const replay = createMemoryReplayStore();
    const jwt = await assertion();
    await verifyClientAssertion(jwt, check({ replay }));
    expect(await identified(jwt, { replay })).toEqual({ told: ['ci-deployer'], reason: 'assertion_replayed' });
  });

  it.each<[string, () => Promise<string>, string, Partial<AssertionCheck>?]>([
    ['signed with another key under the client\'s kid', () => assertion({}, { key: { ...stranger, kid: rsa.kid } }), 'bad_signature'],
    ['signed with another key, expired too', () => assertion(past(), { key: { ...stranger, kid: rsa.kid } }), 'bad_signature'],
    ['with a kid the client does not have', () => assertion({}, { key: stranger }), 'unknown_key'],
    ['from an iss that names no client', () => assertion({ iss: 'nobody' }), 'unknown_client'],
    ['with an algorithm the client does not allow', () => assertion({}, { key: ec }), 'algorithm_not_allowed'],
    ['for another client than client_id', () => assertion(), 'client_id_mismatch', { expectedClientId: 'svc.remote:ec' }],
  ])('%s: not named', async (_name, make, reason, overrides = {}) => {
    expect(await identified(await make(), overrides)).toEqual({ told: [], reason });
  });
});

describe('single use', () => {
  it('refuses a replay on the same instance, with either error code', async () => {
    const replay = createMemoryReplayStore();
    const jwt = await assertion();
    await verifyClientAssertion(jwt, check({ replay }));
    const again = await rejection(verifyClientAssertion(jwt, check({ replay })));
    expect({ code: again.code, reason: again.reason }).toEqual({ code: 'invalid_client', reason: 'assertion_replayed' });
    // A new assertion reusing the jti is a replay too.
    const reused = await rejection(verifyClientAssertion(await assertion({ jti: JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString()).jti }), check({ replay, errorCode: 'invalid_grant' })));
    expect({ code: reused.code, reason: reused.reason }).toEqual({ code: 'invalid_grant', reason: 'assertion_replayed' });
  });

  it('keys the jti by client: two clients may use the same jti', async () => {
    const replay = createMemoryReplayStore();
    await verifyClientAssertion(await assertion({ jti: 'shared' }), check({ replay }));
    await expect(verifyClientAssertion(await assertion({ iss: 'svc.remote:ec', jti: 'shared' }, { key: ec }), check({ replay }))).resolves.toBeDefined();
  });

  it('refuses a replay on another instance (two Firestore replay stores)', async () => {
    const projectId = `demo-replay-${randomUUID().slice(0, 8)}`;
    const [one, two] = [new Firestore({ projectId }), new Firestore({ projectId })];
    firestoreClients.push(one, two);
    const a = createFirestoreReplayStore({ firestore: one, budgetMs: 10_000 });
    const b = createFirestoreReplayStore({ firestore: two, budgetMs: 10_000 });
    const jwt = await assertion();
    await expect(verifyClientAssertion(jwt, check({ replay: a }))).resolves.toMatchObject({ clientId: 'ci-deployer' });
    const err = await rejection(verifyClientAssertion(jwt, check({ replay: b })));
    expect(err.reason).toBe('assertion_replayed');
    // Both presented at once to both instances: exactly one wins.
    const racing = await assertion();
    const results = await Promise.allSettled([a, b, a, b].map((replay) => verifyClientAssertion(racing, check({ replay }))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  }, 30_000);

  it('fails closed (503) when the replay store cannot answer', async () => {
    const broken: ReplayStore = { claim: () => Promise.reject(new Error('disk on fire')), close: async () => {} };
    const err = await rejection(verifyClientAssertion(await assertion(), check({ replay: broken })));
    expect({ code: err.code, status: err.status, reason: err.reason, retryAfter: err.retryAfterSeconds }).toEqual({
      code: 'temporarily_unavailable', status: 503, reason: 'replay_store_unavailable', retryAfter: 5,
    });
    expect(err.description).not.toContain('disk on fire');
  });
});

it('maps an outage of the client\'s JWKS URL to 503, whatever the error code', async () => {
  const outage = new Map([['svc.outage', registered('svc.outage', createKeySource({ kind: 'jwks_uri', jwksUri: jwksUrl.replace('/jwks', '/other') }, { network: { allowInsecureLoopback: true }, cooldownMs: 50, acceptance: { algorithms: ['ES256'] } }), ['ES256'])]]);
  jwksUp = false;
  try {
    const replay = counting();
    const err = await rejection(verifyClientAssertion(await assertion({ iss: 'svc.outage' }, { key: ec }), check({ clients: outage, replay, errorCode: 'invalid_grant' })));
    expect({ code: err.code, status: err.status, reason: err.reason }).toEqual({ code: 'temporarily_unavailable', status: 503, reason: 'issuer_keys_unavailable' });
    expect(err.retryAfterSeconds).toBeGreaterThan(0);
    expect(replay.claims).toBe(0);
  } finally {
    jwksUp = true;
  }
});


describe('mutual exclusivity with identity tokens (RFC 8725 §3.12)', () => {
  function trustedIssuers(): ReadonlyMap<string, TrustedIssuer> {
    const issuer = {
      issuer: demo.issuer,
      aliases: [],
      audiences: [TOKEN_URL],
      authorizedParties: [TOKEN_URL],
      algorithms: ['RS256'],
      clockToleranceSeconds: 30,
      maxTokenAgeSeconds: 3600,
      maxTokenValiditySeconds: 86400,
      browser: false,
      requireAuthTime: false,
      oneTime: false,
      keys: createLocalJWKSet({ keys: [demo.signingKey().publicJwk] }),
    } as TrustedIssuer;
    return new Map([[demo.issuer, issuer]]);
  }

  it('an identity token from a trusted issuer, addressed to the broker, is not a client assertion', async () => {
    const idToken = await demo.sign({ sub: 'workload', aud: TOKEN_URL });
    await expect(verifyOidcToken(idToken, trustedIssuers())).resolves.toMatchObject({ subject: 'workload' }); // it is a good identity token
    const err = await rejection(verifyClientAssertion(idToken, check()));
    expect(err.reason).toBe('unknown_client');
    // Even one shaped like an assertion (sub = iss), and even against a registry that (wrongly) holds the issuer as a client.
    const lookalike = await demo.sign({ sub: demo.issuer, aud: TOKEN_URL });
    const misregistered = new Map([[demo.issuer, registered(demo.issuer, createLocalJWKSet({ keys: [demo.signingKey().publicJwk] }), ['RS256'])]]);
    const replay = counting();
    const refused = await rejection(verifyClientAssertion(lookalike, check({ clients: misregistered, replay })));
    expect(refused.reason).toBe('unknown_client');
    expect(replay.claims).toBe(0);
  });

  it('a client assertion is not an identity token', async () => {
    for (const typ of [undefined, 'JWT', 'client-authentication+jwt']) {
      const jwt = await assertion({}, typ ? { header: { typ } } : {});
      await expect(verifyClientAssertion(jwt, check())).resolves.toBeDefined(); // it is a good assertion
      const err = await rejection(verifyOidcToken(jwt, trustedIssuers()));
      expect(err.reason).toBe(typ === 'client-authentication+jwt' ? 'wrong_token_type' : 'untrusted_issuer');
    }
  });
});

/** Claims of a valid `ci-deployer` assertion, for byte-level forging. */
function claimsFor(iss = 'ci-deployer'): Record<string, unknown> {
  const now = nowSeconds();
  return { iss, sub: iss, aud: TOKEN_URL, iat: now, exp: now + 120, jti: randomUUID() };
}
