/**
 * Weak or hostile keys in a trusted key set, through the real token endpoint on 127.0.0.1.
 *
 * Each issuer below fetches its JWKS from a loopback key host that serves one sound RSA key
 * (`good`) next to one weak or malformed key (`weak`). A token naming the weak key is
 * `400 invalid_grant` (reason `key_rejected`) — never issued, never a 500 — while the sound key
 * of the same set keeps working, and the refusal of the key is an audit entry that names the
 * issuer, the `kid` and the reason and holds no key material. The same keys given inline are
 * load errors with their path. Named cases: the e = 1 forgery (a "signature" anyone can compute
 * from the token alone) and a 1024-bit RSA key.
 */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { compactVerify, createLocalJWKSet, type JWK } from 'jose';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { PolicyLoadError } from '../../shared/policy/policy-error';
import { LineCapture } from '../helpers/capture';
import { b64url, es256Signer, forgeJwsWith, rs256Signer } from '../helpers/forge';
import { exchangeForm, post, type Answer } from '../helpers/http';

const SA = 'gemini-caller@token-broker-dev.iam.gserviceaccount.com';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

const jwkOf = (key: KeyObject): Record<string, unknown> => key.export({ format: 'jwk' }) as Record<string, unknown>;
const rsa = (bits: number, publicExponent = 65537) => generateKeyPairSync('rsa', { modulusLength: bits, publicExponent });
const good = rsa(2048);
const short = rsa(1024);
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const goodJwk = { ...jwkOf(good.publicKey), kid: 'good', alg: 'RS256', use: 'sig' };
const flipLastBit = (value: unknown) => { const bytes = Buffer.from(String(value), 'base64url'); bytes[bytes.length - 1]! ^= 1; return bytes.toString('base64url'); };

/**
 * The PKCS#1 v1.5 encoding of a SHA-256 hash (RFC 8017 §9.2), as an integer of `k` bytes.
 * With a public exponent of 1, RSA verification computes s^1 mod n = s, so this encoding *is*
 * a valid "signature" of the input: computable by anyone, no private key involved.
 */
function pkcs1v15Encoding(input: string, k: number): Buffer {
  const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(input).digest()]);
  return Buffer.concat([Buffer.from([0x00, 0x01]), Buffer.alloc(k - digestInfo.length - 3, 0xff), Buffer.from([0x00]), digestInfo]);
}
const e1Signer = (input: string) => pkcs1v15Encoding(input, 256);

interface WeakCase {
  name: string;
  /** The weak key, published with `kid: "weak"` beside the sound one. */
  weak: Record<string, unknown>;
  reason: string | RegExp;
  algorithms?: string[];
  /** Signs a token naming the weak key (default: the sound RSA key signs; the signature must not matter). */
  sign?: (input: string) => Buffer;
  alg?: string;
}

const WEAK_CASES: WeakCase[] = [
  { name: 'e1-forgery', weak: { ...jwkOf(good.publicKey), e: 'AQ' }, reason: 'RSA public exponent 1 is not allowed (at least 3; 65537 expected)', sign: e1Signer },
  { name: 'rsa-1024', weak: jwkOf(short.publicKey), reason: 'RSA modulus of 1024 bits is too short (at least 2048 bits)', sign: rs256Signer(short.privateKey) },
  { name: 'even-exponent', weak: { ...jwkOf(good.publicKey), e: Buffer.from([1, 0, 0]).toString('base64url') }, reason: /must be odd/ },
  { name: 'even-modulus', weak: { ...jwkOf(good.publicKey), n: flipLastBit(jwkOf(good.publicKey).n) }, reason: 'RSA modulus is even' },
  { name: 'zero-padded-modulus', weak: { ...jwkOf(short.publicKey), n: Buffer.concat([Buffer.alloc(128), Buffer.from(String(jwkOf(short.publicKey).n), 'base64url')]).toString('base64url') }, reason: 'RSA "n" must not start with a zero octet', sign: rs256Signer(short.privateKey) },
  { name: 'malformed-modulus', weak: { ...jwkOf(good.publicKey), n: 'not base64url!' }, reason: 'RSA "n" must be a non-empty canonical base64url string' },
  { name: 'private-key', weak: jwkOf(good.privateKey), reason: /^private key members \(d, p, q, dp, dq, qi\)/, sign: rs256Signer(good.privateKey) },
  { name: 'symmetric-key', weak: { kty: 'oct', k: b64url('shared secret of thirty-two bytes') }, reason: /^symmetric keys/ },
  { name: 'encryption-use', weak: { ...jwkOf(good.publicKey), use: 'enc' }, reason: 'use "enc" does not allow signature verification (use "sig")', sign: rs256Signer(good.privateKey) },
  { name: 'encryption-ops', weak: { ...jwkOf(good.publicKey), key_ops: ['encrypt'] }, reason: 'key_ops must be a list of strings that includes "verify"', sign: rs256Signer(good.privateKey) },
  { name: 'alg-contradicts', weak: { ...jwkOf(good.publicKey), alg: 'ES256' }, reason: /^alg "ES256" contradicts the key/, algorithms: ['RS256', 'ES256'] },
  { name: 'ec-off-curve', weak: { ...jwkOf(p256.publicKey), y: flipLastBit(jwkOf(p256.publicKey).y) }, reason: 'EC point is not on its curve', algorithms: ['RS256', 'ES256'], alg: 'ES256', sign: es256Signer(p256.privateKey) },
  { name: 'ec-curve-not-allowed', weak: jwkOf(p384.publicKey), reason: 'no accepted algorithm (RS256, ES256) uses EC P-384 keys', algorithms: ['RS256', 'ES256'], alg: 'ES256', sign: es256Signer(p256.privateKey) },
  { name: 'okp-x25519', weak: jwkOf(generateKeyPairSync('x25519').publicKey), reason: /uses OKP X25519 keys$/, algorithms: ['RS256', 'EdDSA'], alg: 'EdDSA', sign: () => Buffer.alloc(64, 1) },
  { name: 'okp-short', weak: { ...jwkOf(generateKeyPairSync('ed25519').publicKey), x: b64url(Buffer.alloc(31, 3)) }, reason: 'Ed25519 "x" must be 32 bytes, not 31', algorithms: ['RS256', 'EdDSA'], alg: 'EdDSA', sign: () => Buffer.alloc(64, 1) },
];

/** Two copies of one `kid`: which one the issuer meant cannot be known, so neither verifies. */
const DUPLICATE_KID = 'duplicate-kid';

const issuerUrl = (name: string) => `https://${name}.keys.example.test`;

/** A loopback key host: `/jwks/<case>` serves that case's set; `/client` the RFC 7523 client's. */
interface KeyHost { url: string; sets: Map<string, object>; hits: () => number; close(): Promise<void> }

async function startKeyHost(): Promise<KeyHost> {
  const sets = new Map<string, object>();
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits += 1;
    const set = sets.get((req.url ?? '').replace(/^\/jwks\//, ''));
    if (!set) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(set));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sets,
    hits: () => hits,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function fetchedPolicy(host: KeyHost, broker: string): string {
  const names = [...WEAK_CASES.map((c) => c.name), DUPLICATE_KID];
  const algorithmsOf = (name: string) => WEAK_CASES.find((c) => c.name === name)?.algorithms ?? ['RS256'];
  return `
version: 1
issuers:
${names.map((name) => `  - issuer: "${issuerUrl(name)}"
    audiences: ["${broker}"]
    algorithms: ${JSON.stringify(algorithmsOf(name))}
    jwks_uri: "${host.url}/jwks/${name}"`).join('\n')}
clients:
  - id: weak-client
    jwks_uri: "${host.url}/jwks/client"
    algorithms: [RS256]
rules:
${names.map((name) => `  - id: ${name}
    issuer: "${issuerUrl(name)}"
    condition: claims.sub == 'keys-test'
    grant: { service_account: ${SA}, scopes: [https://www.googleapis.com/auth/cloud-platform], max_lifetime_seconds: 600 }`).join('\n')}
  - id: client
    clients: [weak-client]
    condition: "true"
    grant: { service_account: ${SA}, scopes: [https://www.googleapis.com/auth/cloud-platform], max_lifetime_seconds: 600 }
`;
}

const nowS = () => Math.floor(Date.now() / 1000);
const claimsFor = (name: string, broker: string) => ({ iss: issuerUrl(name), sub: 'keys-test', aud: broker, iat: nowS(), exp: nowS() + 300 });

let host: KeyHost;
let stack: DevStack;
const audit = new LineCapture();

beforeAll(async () => {
  host = await startKeyHost();
  for (const c of WEAK_CASES) host.sets.set(c.name, { keys: [goodJwk, { ...c.weak, kid: 'weak' }] });
  host.sets.set(DUPLICATE_KID, { keys: [{ ...goodJwk, kid: 'weak' }, { ...jwkOf(rsa(2048).publicKey), kid: 'weak' }, goodJwk] });
  host.sets.set('client', { keys: [goodJwk, { ...jwkOf(good.publicKey), e: 'AQ', kid: 'weak' }] });
  stack = await startDevStack({ env: { BROKER_CACHE: 'none' }, policyText: (urls) => fetchedPolicy(host, urls.broker), auditTransport: audit });
  await stack.broker;
});

afterAll(async () => {
  await stack?.close();
  await host?.close();
});

const mints = () => stack.google.requests.filter((r) => r.endpoint === 'generateAccessToken').length;

async function exchange(token: string): Promise<Answer> {
  const before = mints();
  const res = await post(stack.tokenUrl, exchangeForm(token));
  expect(res.headers.get('cache-control')).toBe('no-store');
  if (res.status !== 200) expect(mints()).toBe(before);
  return res;
}

function tokenNamingWeakKey(c: WeakCase): string {
  return forgeJwsWith({ alg: c.alg ?? 'RS256', typ: 'JWT', kid: 'weak' }, claimsFor(c.name, stack.url), c.sign ?? rs256Signer(good.privateKey));
}

const refusedAsKeyRejected = (res: Answer) =>
  expect({ status: res.status, error: res.body.error, description: res.body.error_description, keys: Object.keys(res.body).sort() })
    .toEqual({ status: 400, error: 'invalid_grant', description: 'the issuer key the token names was refused as unsafe', keys: ['error', 'error_description'] });

describe('the e = 1 forgery', () => {
  const forged = () => forgeJwsWith({ alg: 'RS256', typ: 'JWT', kid: 'weak' }, claimsFor('e1-forgery', stack.url), e1Signer);

  it('is a signature plain jose accepts: the key, not the token, is what must be refused', async () => {
    const weak = { ...jwkOf(good.publicKey), e: 'AQ', kid: 'weak' } as JWK;
    await expect(compactVerify(forged(), createLocalJWKSet({ keys: [weak] }), { algorithms: ['RS256'] })).resolves.toBeDefined();
  });

  it('is refused through the token endpoint (400 invalid_grant, no token, no mint)', async () => {
    const res = await exchange(forged());
    refusedAsKeyRejected(res);
    expect(res.text).not.toContain('access_token');
  });

  it('is refused without a kid too (the weak key is not in the set at all)', async () => {
    const token = forgeJwsWith({ alg: 'RS256', typ: 'JWT' }, claimsFor('e1-forgery', stack.url), e1Signer);
    const res = await exchange(token);
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
  });
});

describe('a 1024-bit RSA key', () => {
  it('makes a token signed with it 400 invalid_grant, not 500', async () => {
    const c = WEAK_CASES.find((w) => w.name === 'rsa-1024') as WeakCase;
    refusedAsKeyRejected(await exchange(tokenNamingWeakKey(c)));
  });
});

describe('every weak or malformed key class, fetched', () => {
  it.each(WEAK_CASES.map((c) => [c.name, c] as const))('%s: a token naming it is refused, the sound key of the set still works', async (_name, c) => {
    refusedAsKeyRejected(await exchange(tokenNamingWeakKey(c)));
    const honest = forgeJwsWith({ alg: 'RS256', typ: 'JWT', kid: 'good' }, claimsFor(c.name, stack.url), rs256Signer(good.privateKey));
    const res = await exchange(honest);
    expect({ status: res.status, type: typeof res.body.access_token }).toEqual({ status: 200, type: 'string' });
  });

  it('refuses both keys of a duplicated kid, keeps the rest', async () => {
    refusedAsKeyRejected(await exchange(forgeJwsWith({ alg: 'RS256', typ: 'JWT', kid: 'weak' }, claimsFor(DUPLICATE_KID, stack.url), rs256Signer(good.privateKey))));
    const res = await exchange(forgeJwsWith({ alg: 'RS256', typ: 'JWT', kid: 'good' }, claimsFor(DUPLICATE_KID, stack.url), rs256Signer(good.privateKey)));
    expect(res.status).toBe(200);
  });

  it('audits each refused key once per fetch: issuer, kid and reason, never the key', async () => {
    await stack.audit.flush();
    const rejected = audit.entries().filter((e) => e.event === 'jwks_key_rejected');
    for (const c of WEAK_CASES) {
      const entry = rejected.find((e) => e.issuer === issuerUrl(c.name));
      expect(entry).toMatchObject({ severity: 'ERROR', kid: 'weak', url: `${host.url}/jwks/${c.name}` });
      expect(entry?.reason).toEqual(typeof c.reason === 'string' ? c.reason : expect.stringMatching(c.reason));
    }
    expect(rejected.filter((e) => e.issuer === issuerUrl(DUPLICATE_KID)).map((e) => e.reason)).toEqual(['kid "weak" names more than one key in the set', 'kid "weak" names more than one key in the set']);
    const log = audit.lines.join('\n');
    for (const c of WEAK_CASES) for (const member of ['n', 'x', 'y', 'd', 'k'] as const) {
      const value = c.weak[member];
      if (typeof value === 'string' && value.length > 20) expect(log).not.toContain(value);
    }
  });

  it('does not refetch a key set for a kid it refused', async () => {
    const before = host.hits();
    for (let i = 0; i < 3; i += 1) refusedAsKeyRejected(await exchange(tokenNamingWeakKey(WEAK_CASES[0] as WeakCase)));
    expect(host.hits()).toBe(before);
  });
});

describe('a client key set with a weak key (RFC 7523)', () => {
  const assertion = () => forgeJwsWith({ alg: 'RS256', typ: 'JWT', kid: 'weak' }, {
    iss: 'weak-client', sub: 'weak-client', aud: stack.tokenUrl, jti: `jti-${Math.random()}`, iat: nowS(), exp: nowS() + 60,
  }, e1Signer);

  it('jwt-bearer grant: 400 invalid_grant', async () => {
    const res = await post(stack.tokenUrl, { grant_type: JWT_BEARER, assertion: assertion() });
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('private_key_jwt client authentication: 401 invalid_client', async () => {
    const res = await post(stack.tokenUrl, { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion() });
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 401, error: 'invalid_client' });
  });
});

describe('the same keys inline in the policy', () => {
  const inlinePolicy = (urls: { broker: string }, issuerKeys: object[], clientKeys?: object[]) => `
version: 1
issuers:
  - issuer: "https://inline.keys.example.test"
    audiences: ["${urls.broker}"]
    algorithms: [RS256, ES256, EdDSA]
    jwks: { keys: ${JSON.stringify(issuerKeys)} }
${clientKeys ? `clients:\n  - id: inline-client\n    jwks: { keys: ${JSON.stringify(clientKeys)} }\n` : ''}rules:
  - id: inline
    issuer: "https://inline.keys.example.test"
    condition: "true"
    grant: { service_account: ${SA}, scopes: [https://www.googleapis.com/auth/cloud-platform] }
`;

  async function loadError(issuerKeys: object[], clientKeys?: object[]): Promise<{ error: unknown; answer: Answer }> {
    const inline = await startDevStack({ policyText: (urls) => inlinePolicy(urls, issuerKeys, clientKeys), auditTransport: new LineCapture() });
    try {
      const error = await inline.broker.then(() => undefined, (err: unknown) => err);
      const answer = await post(inline.tokenUrl, exchangeForm(forgeJwsWith({ alg: 'RS256', kid: 'weak' }, { iss: 'https://inline.keys.example.test', sub: 'x', aud: inline.url, iat: nowS(), exp: nowS() + 60 }, e1Signer)));
      return { error, answer };
    } finally {
      await inline.close();
    }
  }

  it('refuses the e = 1 key at load with its path, and the broker issues nothing', async () => {
    const { error, answer } = await loadError([goodJwk, { ...jwkOf(good.publicKey), e: 'AQ', kid: 'weak' }]);
    expect(error).toBeInstanceOf(PolicyLoadError);
    expect((error as PolicyLoadError).issues).toEqual([{ path: 'issuers[0].jwks.keys[1]', reason: 'RSA public exponent 1 is not allowed (at least 3; 65537 expected)' }]);
    expect((error as Error).message).toContain('issuers[0].jwks.keys[1]: RSA public exponent 1 is not allowed');
    expect({ status: answer.status, error: answer.body.error }).toEqual({ status: 500, error: 'server_error' });
  });

  it('reports every weak inline key class at once, issuers and clients alike', async () => {
    const { error } = await loadError(WEAK_CASES.map((c) => ({ ...c.weak, kid: c.name })), [{ ...jwkOf(short.publicKey), kid: 'short' }]);
    const issues = (error as PolicyLoadError).issues;
    WEAK_CASES.forEach((c, i) => {
      const issue = issues.find((x) => x.path === `issuers[0].jwks.keys[${i}]`);
      // Inline, the allowlist is RS256, ES256 and EdDSA for every key.
      expect(issue?.reason).toEqual(c.name === 'ec-curve-not-allowed' ? 'no accepted algorithm (RS256, ES256, EdDSA) uses EC P-384 keys'
        : c.name === 'okp-x25519' ? expect.stringMatching(/uses OKP X25519 keys$/)
          : typeof c.reason === 'string' ? c.reason : expect.stringMatching(c.reason));
    });
    expect(issues).toContainEqual({ path: 'clients[0].jwks.keys[0]', reason: 'RSA modulus of 1024 bits is too short (at least 2048 bits)' });
    expect(issues).toHaveLength(WEAK_CASES.length + 1);
  });

  it('refuses a duplicated kid at load', async () => {
    const { error } = await loadError([{ ...goodJwk, kid: 'same' }, { ...jwkOf(rsa(2048).publicKey), kid: 'same' }]);
    expect((error as PolicyLoadError).issues.map((i) => i.path)).toEqual(['issuers[0].jwks.keys[0]', 'issuers[0].jwks.keys[1]']);
  });

  it('accepts sound inline keys (the harness itself can succeed)', async () => {
    const ok = await startDevStack({ policyText: (urls) => inlinePolicy(urls, [goodJwk]), auditTransport: new LineCapture() });
    try {
      await ok.broker;
      const token = forgeJwsWith({ alg: 'RS256', kid: 'good' }, { iss: 'https://inline.keys.example.test', sub: 'x', aud: ok.url, iat: nowS(), exp: nowS() + 60 }, rs256Signer(good.privateKey));
      expect((await post(ok.tokenUrl, exchangeForm(token))).status).toBe(200);
    } finally {
      await ok.close();
    }
  });
});
