/**
 * The token endpoint's request-level matrix (RFC 6749 §2.3, §3.2, §5.2; RFC 8693 §2.1,
 * §2.2.2; RFC 7523 §2.1), through the real HTTP endpoint: the Functions Framework server, the
 * broker core, the demo issuer and the Google emulator on 127.0.0.1.
 *
 * For each grant type every parameter is missing, repeated (also under a percent-encoded
 * name), empty, oversized and wrongly typed; then whitespace around token parameters (dropped
 * when it is ASCII space, tab, CR or LF around the token, refused anywhere else), unknown grant
 * types, methods (CORS preflights included), content types,
 * content encodings (a real gzip bomb included), body caps, broken percent-encoding, raw
 * non-ASCII bytes and client authentication. Every refusal is checked to be exact: status,
 * `error`, an `error_description` string and nothing else, JSON, `Cache-Control: no-store`,
 * no access token, and nothing minted at the emulator. Each grant's unmodified request is
 * accepted first, so each refusal is caused by its one change.
 *
 * The "framework" describe blocks hold the requests the Functions Framework's own body parsers
 * used to answer before the broker ran (an HTML page with a stack trace, no `no-store`), and the
 * gzip bomb they used to inflate. functions/http/framework-body.ts switches those parsers off;
 * these cases fail if it stops doing so.
 */
import { SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import {
  GRANT_TYPE_CLIENT_CREDENTIALS, GRANT_TYPE_JWT_BEARER, GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT,
} from '../../shared/oauth-uris';
import { APP_ORIGIN, assertion, basic, clientPolicy, type ClientCredentialsSet } from '../clients/client-fixture';
import { sha256Fingerprint } from '../../shared/fingerprint';
import { CLOUD_PLATFORM, GENERATIVE_LANGUAGE, STORAGE_READ } from '../http/policy-fixture';
import { LineCapture } from '../helpers/capture';
import type { Answer } from '../helpers/http';
import { formBody, sendCounting, type RawRequest, type Sent } from '../helpers/raw-http';

const FORM = 'application/x-www-form-urlencoded';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const MAX_BODY = 64 * 1024;
const MAX_TOKEN = 16 * 1024;
const MAX_PARAM = 4 * 1024;
/** Parameters that carry a credential: never echoed in an answer. */
const SECRET_PARAMETERS = new Set(['subject_token', 'assertion', 'client_secret', 'client_assertion', 'actor_token']);

type Pairs = Array<[string, string]>;

let stack: DevStack;
let creds: ClientCredentialsSet;
const lines = new LineCapture();
const lastExchange = () => lines.entries().filter((e) => e.event === 'token_exchange').at(-1) ?? {};

beforeAll(async () => {
  const policy = await clientPolicy();
  creds = policy.creds;
  // No cache: every accepted request mints, so "nothing minted" is observable at the emulator.
  stack = await startDevStack({ env: { BROKER_CACHE: 'none' }, policyText: policy.text, auditTransport: lines });
  await stack.broker;
});
afterAll(() => stack.close());

// ---------------------------------------------------------------------------------------------
// Requests and expectations

const mainClaims = () => ({ sub: 'repo:acme/app:ref:refs/heads/main', aud: stack.url, repository: 'acme/app', ref: 'refs/heads/main' });
const subjectToken = () => stack.issuer.sign(mainClaims());
const exchangePairs = async (): Promise<Pairs> => [['grant_type', GRANT_TYPE_TOKEN_EXCHANGE], ['subject_token', await subjectToken()], ['subject_token_type', TOKEN_TYPE_JWT]];
const bearerAssertion = () => assertion(creds.signerKey, 'signer', stack.url);
const foreignTypAssertion = () =>
  new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: 'signer-1', typ: 'at+jwt' }).setIssuer('signer').setSubject('signer')
    .setAudience(stack.url).setIssuedAt().setExpirationTime('2m').sign(creds.signerKey);

/** A form POST to /token with the given pairs, extra headers and an optional raw tail. */
function formRequest(pairs: Pairs, headers: Record<string, string> = {}, tail = ''): RawRequest {
  return { headers: { 'content-type': FORM, ...headers }, body: `${formBody(pairs)}${tail}` };
}

const send = (req: RawRequest): Promise<Sent> => sendCounting(stack, req);

/** Values of credential-bearing parameters in a request body (must never come back). */
function secretsIn(req: RawRequest): string[] {
  const body = typeof req.body === 'string' ? req.body : '';
  return [...new URLSearchParams(body)].filter(([name, value]) => SECRET_PARAMETERS.has(name) && value.length >= 12).map(([, value]) => value);
}

function expectRefusal({ res, upstreamCalls }: Sent, status: number, error: string, secrets: string[] = []): void {
  expect({ status: res.status, error: res.body.error }).toEqual({ status, error });
  expect(Object.keys(res.body).sort()).toEqual(['error', 'error_description']);
  expect(typeof res.body.error_description).toBe('string');
  expect(String(res.body.error_description).length).toBeGreaterThan(0);
  // RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
  expect(String(res.body.error_description)).toMatch(/^[\x20\x21\x23-\x5B\x5D-\x7E]+$/);
  expect(res.headers.get('content-type')).toMatch(/^application\/json\b/);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('pragma')).toBe('no-cache');
  expect(res.text).not.toMatch(/"access_token"\s*:|\bat \S+\.(?:js|ts):\d+|node_modules/);
  for (const secret of secrets) expect(res.text).not.toContain(secret);
  expect(upstreamCalls).toBe(0);
}

function expectIssued({ res, upstreamCalls }: Sent): void {
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(typeof res.body.access_token).toBe('string');
  expect(stack.google.lookup(String(res.body.access_token))).toBeDefined();
  expect(upstreamCalls).toBeGreaterThan(0);
}

interface Case {
  name: string;
  make: () => Promise<RawRequest> | RawRequest;
  status: number;
  error: string;
}

async function runCase(c: Case): Promise<Sent> {
  const req = await c.make();
  const sent = await send(req);
  expectRefusal(sent, c.status, c.error, secretsIn(req));
  return sent;
}

// ---------------------------------------------------------------------------------------------
// The per-grant matrix

interface GrantSpec {
  label: string;
  /** The unmodified, acceptable request. */
  base: () => Promise<Pairs>;
  headers?: () => Record<string, string>;
  /** A valid value for every parameter the grant type declares (used when the base lacks it). */
  samples: () => Promise<Record<string, string>> | Record<string, string>;
  /** Expected answer when a base parameter is left out, or sent empty. */
  missing: Record<string, [number, string]>;
  empty: Record<string, [number, string]>;
  /** Wrongly typed values: [name, parameter overrides, status, error]. */
  typed: Array<[string, () => Promise<Record<string, string>> | Record<string, string>, number, string]>;
}

const withParam = (pairs: Pairs, name: string, value: string): Pairs =>
  pairs.some(([n]) => n === name) ? pairs.map(([n, v]) => [n, n === name ? value : v]) : [...pairs, [name, value]];
const without = (pairs: Pairs, name: string): Pairs => pairs.filter(([n]) => n !== name);
const hex = (ch: string, lower = false) => `%${ch.charCodeAt(0).toString(16).padStart(2, '0')[lower ? 'toLowerCase' : 'toUpperCase']()}`;

/** Ways to repeat a parameter name: each decodes to the same name, so each is a repetition. */
const REPEATS: Array<[string, (name: string) => string, 'after' | 'before']> = [
  ['repeated verbatim', (name) => name, 'after'],
  ['repeated with its first character percent-encoded', (name) => `${hex(name[0] ?? '')}${name.slice(1)}`, 'after'],
  ['repeated fully percent-encoded in lowercase hex, before the plain one', (name) => [...name].map((ch) => hex(ch, true)).join(''), 'before'],
];

/** RFC 6749 §5.2: a scope that is "invalid, unknown, malformed, or exceeds the scope granted" is invalid_scope. */
const SCOPE_CASES = (good: string, outside: string): GrantSpec['typed'] => [
  ['scope with a line feed between scopes', () => ({ scope: `${good}\n${good}` }), 400, 'invalid_scope'],
  ['scope with a tab as separator', () => ({ scope: `${good}\t${good}` }), 400, 'invalid_scope'],
  ['scope with a NUL byte', () => ({ scope: `${good}\u0000` }), 400, 'invalid_scope'],
  ['scope with DEL', () => ({ scope: `${good}\u007f` }), 400, 'invalid_scope'],
  ['scope with a double quote', () => ({ scope: `${good}"` }), 400, 'invalid_scope'],
  ['scope with a backslash', () => ({ scope: `${good}\\` }), 400, 'invalid_scope'],
  ['scope with a non-ASCII character', () => ({ scope: `${good}é` }), 400, 'invalid_scope'],
  ['scope of spaces only', () => ({ scope: '   ' }), 400, 'invalid_scope'],
  ['scope naming 33 scopes', () => ({ scope: Array.from({ length: 33 }, (_, i) => `s${i}`).join(' ') }), 400, 'invalid_scope'],
  ['scope naming the same scope twice', () => ({ scope: `${good} ${good}` }), 400, 'invalid_scope'],
  ['scope outside the matched rule', () => ({ scope: outside }), 400, 'invalid_scope'],
];

const OPTIONS_CASES: GrantSpec['typed'] = [
  ['options not JSON', () => ({ options: 'lifetimeSeconds=600' }), 400, 'invalid_request'],
  ['options a JSON array', () => ({ options: '[600]' }), 400, 'invalid_request'],
  ['options JSON null', () => ({ options: 'null' }), 400, 'invalid_request'],
  ['options a bare number', () => ({ options: '600' }), 400, 'invalid_request'],
  ['lifetime as a string', () => ({ options: '{"lifetimeSeconds":"600"}' }), 400, 'invalid_request'],
  ['lifetime non-numeric', () => ({ options: '{"lifetimeSeconds":"ten minutes"}' }), 400, 'invalid_request'],
  ['lifetime true', () => ({ options: '{"lifetimeSeconds":true}' }), 400, 'invalid_request'],
  ['lifetime negative', () => ({ options: '{"lifetimeSeconds":-600}' }), 400, 'invalid_request'],
  ['lifetime zero', () => ({ options: '{"lifetimeSeconds":0}' }), 400, 'invalid_request'],
  ['lifetime below the 60 s minimum', () => ({ options: '{"lifetimeSeconds":59}' }), 400, 'invalid_request'],
  ['lifetime fractional', () => ({ options: '{"lifetimeSeconds":600.5}' }), 400, 'invalid_request'],
  ['lifetime huge (1e20, not a safe integer)', () => ({ options: '{"lifetimeSeconds":1e20}' }), 400, 'invalid_request'],
  ['lifetime 1e400 (Infinity)', () => ({ options: '{"lifetimeSeconds":1e400}' }), 400, 'invalid_request'],
  ['options with an unsupported key', () => ({ options: '{"accessBoundary":{"accessBoundaryRules":[]}}' }), 400, 'invalid_request'],
  ['options with a __proto__ key', () => ({ options: '{"__proto__":{"lifetimeSeconds":600}}' }), 400, 'invalid_request'],
];

const AUDIENCE_CASES: GrantSpec['typed'] = [
  ['audience not a URI', () => ({ audience: 'not a uri at all' }), 400, 'invalid_target'],
  ['audience another service', () => ({ audience: 'https://evil.example.test' }), 400, 'invalid_target'],
  ['audience the broker URL with another path', () => ({ audience: `${stack.url}/admin` }), 400, 'invalid_target'],
  ['audience with a control character', () => ({ audience: `${stack.url}\n` }), 400, 'invalid_target'],
];

const GRANTS: GrantSpec[] = [
  {
    label: 'token-exchange',
    base: async () => [['grant_type', GRANT_TYPE_TOKEN_EXCHANGE], ['subject_token', await subjectToken()], ['subject_token_type', TOKEN_TYPE_JWT]],
    samples: () => ({
      audience: stack.url,
      scope: CLOUD_PLATFORM,
      requested_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      options: '{"lifetimeSeconds":300}',
      resource: 'https://storage.googleapis.com/',
      actor_token: 'actor.token.value',
      actor_token_type: TOKEN_TYPE_JWT,
      client_id: 'reporter',
      client_secret: creds.reporterSecret,
      client_assertion: 'a.b.c',
      client_assertion_type: ASSERTION_TYPE,
    }),
    missing: { grant_type: [400, 'invalid_request'], subject_token: [400, 'invalid_request'], subject_token_type: [400, 'invalid_request'] },
    empty: { grant_type: [400, 'invalid_request'], subject_token: [400, 'invalid_request'], subject_token_type: [400, 'invalid_request'] },
    typed: [
      ['subject_token_type an unknown URI (saml2)', () => ({ subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' }), 400, 'invalid_request'],
      ['subject_token_type access_token', () => ({ subject_token_type: TOKEN_TYPE_ACCESS_TOKEN }), 400, 'invalid_request'],
      ['subject_token_type in another case', () => ({ subject_token_type: TOKEN_TYPE_JWT.toUpperCase() }), 400, 'invalid_request'],
      ['subject_token_type a bare word', () => ({ subject_token_type: 'jwt' }), 400, 'invalid_request'],
      ['subject_token_type with a trailing space', () => ({ subject_token_type: `${TOKEN_TYPE_JWT} ` }), 400, 'invalid_request'],
      ['requested_token_type id_token', () => ({ requested_token_type: TOKEN_TYPE_ID_TOKEN }), 400, 'invalid_request'],
      ['requested_token_type refresh_token', () => ({ requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }), 400, 'invalid_request'],
      ['requested_token_type jwt', () => ({ requested_token_type: TOKEN_TYPE_JWT }), 400, 'invalid_request'],
      ['requested_token_type not a URI', () => ({ requested_token_type: 'access_token' }), 400, 'invalid_request'],
      ...SCOPE_CASES(CLOUD_PLATFORM, STORAGE_READ),
      ...OPTIONS_CASES,
      ...AUDIENCE_CASES,
      ['resource an absolute URI (not supported)', () => ({ resource: 'https://storage.googleapis.com/' }), 400, 'invalid_request'],
      ['resource not a URI', () => ({ resource: 'storage' }), 400, 'invalid_request'],
      ['actor_token with actor_token_type (delegation not supported)', async () => ({ actor_token: await subjectToken(), actor_token_type: TOKEN_TYPE_JWT }), 400, 'invalid_request'],
      ['actor_token_type without actor_token', () => ({ actor_token_type: TOKEN_TYPE_JWT }), 400, 'invalid_request'],
      ['subject_token not a JWT', () => ({ subject_token: 'not-a-jwt-at-all' }), 400, 'invalid_grant'],
      ['subject_token a JWE', () => ({ subject_token: 'eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y3Q.dGFn' }), 400, 'invalid_grant'],
    ],
  },
  {
    label: 'jwt-bearer',
    base: async () => [['grant_type', GRANT_TYPE_JWT_BEARER], ['assertion', await bearerAssertion()]],
    samples: () => ({
      audience: stack.url,
      scope: STORAGE_READ,
      options: '{"lifetimeSeconds":300}',
      client_id: 'signer',
      client_secret: creds.reporterSecret,
      client_assertion: 'a.b.c',
      client_assertion_type: ASSERTION_TYPE,
    }),
    missing: { grant_type: [400, 'invalid_request'], assertion: [400, 'invalid_request'] },
    empty: { grant_type: [400, 'invalid_request'], assertion: [400, 'invalid_request'] },
    typed: [
      ['assertion not a JWT', () => ({ assertion: 'not-a-jwt-at-all' }), 400, 'invalid_grant'],
      ['assertion for another audience', async () => ({ assertion: await assertion(creds.signerKey, 'signer', 'https://elsewhere.example.test') }), 400, 'invalid_grant'],
      ['assertion signed with another key', async () => ({ assertion: await assertion(creds.otherKey, 'signer', stack.url) }), 400, 'invalid_grant'],
      // Its description names "typ": quotes must not reach the wire (RFC 6749 §5.2 character set).
      ['assertion with typ at+jwt', async () => ({ assertion: await foreignTypAssertion() }), 400, 'invalid_grant'],
      ['assertion from an unknown client', async () => ({ assertion: await assertion(creds.signerKey, 'nobody', stack.url) }), 400, 'invalid_grant'],
      ['assertion expired', async () => ({ assertion: await assertion(creds.signerKey, 'signer', stack.url, { iat: Math.floor(Date.now() / 1000) - 600, exp: Math.floor(Date.now() / 1000) - 300 }) }), 400, 'invalid_grant'],
      ...SCOPE_CASES(STORAGE_READ, CLOUD_PLATFORM),
      ...OPTIONS_CASES,
      ...AUDIENCE_CASES,
    ],
  },
  {
    label: 'client_credentials',
    // client_secret_post, so that the client parameters are part of the matrix.
    base: async () => [['grant_type', GRANT_TYPE_CLIENT_CREDENTIALS], ['client_id', 'reporter'], ['client_secret', creds.reporterSecret]],
    samples: () => ({ audience: stack.url, scope: STORAGE_READ, options: '{"lifetimeSeconds":300}', client_assertion: 'a.b.c', client_assertion_type: ASSERTION_TYPE }),
    missing: { grant_type: [400, 'invalid_request'], client_id: [400, 'invalid_request'], client_secret: [401, 'invalid_client'] },
    // RFC 6749 §3.2: an empty parameter is an omitted one.
    empty: { grant_type: [400, 'invalid_request'], client_id: [400, 'invalid_request'], client_secret: [401, 'invalid_client'] },
    typed: [
      ['client_secret wrong (unknown client)', () => ({ client_id: 'nobody', client_secret: 'tbs_not-a-real-secret-value' }), 401, 'invalid_client'],
      ['client_id of another client', () => ({ client_id: 'limited' }), 401, 'invalid_client'],
      ...SCOPE_CASES(STORAGE_READ, CLOUD_PLATFORM),
      ...OPTIONS_CASES,
      ...AUDIENCE_CASES,
    ],
  },
];

describe.each(GRANTS)('$label', (spec) => {
  const headers = () => spec.headers?.() ?? {};

  it('accepts the unmodified request (the baseline every case below changes once)', async () => {
    expectIssued(await send(formRequest(await spec.base(), headers())));
  });

  const baseNames = () => Object.keys(spec.missing);

  it.each(Object.entries(spec.missing))('missing %s → %j', async (name, [status, error]) => {
    await runCase({ name, make: async () => formRequest(without(await spec.base(), name), headers()), status, error });
  });

  it.each(Object.entries(spec.empty))('empty %s → %j', async (name, [status, error]) => {
    await runCase({ name, make: async () => formRequest(withParam(await spec.base(), name, ''), headers()), status, error });
  });

  const declared = async (): Promise<Record<string, string>> => {
    const base = Object.fromEntries(await spec.base());
    return { ...(await spec.samples()), ...base };
  };

  // RFC 6749 §3.2 forbids repeats; RFC 8693 §2.1 allows several audiences, which the broker cannot serve.
  const repeatRefusal = (name: string): [string, RegExp] => (name === 'audience' ? ['invalid_target', /one audience per request/] : ['invalid_request', /repeated/]);

  it.each(REPEATS)('every declared parameter %s → 400 invalid_request (audience: invalid_target)', async (_how, encode, where) => {
    const values = await declared();
    const names = Object.keys(values);
    expect(names.length).toBeGreaterThanOrEqual(baseNames().length);
    expect(names).toContain('audience');
    for (const name of names) {
      const pairs = withParam(await spec.base(), name, values[name] ?? '');
      const plain = formBody(pairs);
      const repeat = `${encode(name)}=${encodeURIComponent(values[name] ?? '')}`;
      const req: RawRequest = { headers: { 'content-type': FORM, ...headers() }, body: where === 'after' ? `${plain}&${repeat}` : `${repeat}&${plain}` };
      const sent = await send(req);
      try {
        const [error, description] = repeatRefusal(name);
        expectRefusal(sent, 400, error, secretsIn(req));
        expect(sent.res.body.error_description).toMatch(description);
      } catch (err) {
        throw new Error(`parameter ${name}: ${(err as Error).message}`);
      }
    }
  });

  it('every declared parameter oversized by one byte → 400 invalid_request', async () => {
    const values = await declared();
    for (const name of Object.keys(values)) {
      const limit = ['subject_token', 'assertion', 'client_assertion', 'actor_token'].includes(name) ? MAX_TOKEN : MAX_PARAM;
      const req = formRequest(withParam(await spec.base(), name, 'x'.repeat(limit + 1)), headers());
      const sent = await send(req);
      try {
        expectRefusal(sent, 400, 'invalid_request');
      } catch (err) {
        throw new Error(`parameter ${name}: ${(err as Error).message}`);
      }
    }
  });

  it.each(spec.typed.map(([name, overrides, status, error]) => [name, status, error, overrides] as const))('%s → %s %s', async (_name, status, error, overrides) => {
    const changes = await overrides();
    await runCase({
      name: _name,
      make: async () => formRequest(Object.entries(changes).reduce((pairs, [n, v]) => withParam(pairs, n, v), await spec.base()), headers()),
      status,
      error,
    });
  });
});

describe('empty optional parameters are treated as omitted (RFC 6749 §3.2)', () => {
  const ALL_RULE_SCOPES = [CLOUD_PLATFORM, GENERATIVE_LANGUAGE].sort().join(' ');
  it.each(['scope', 'audience', 'options', 'requested_token_type', 'resource', 'actor_token', 'actor_token_type', 'client_id', 'client_secret'])(
    'token-exchange with an empty %s is the request without it',
    async (name) => {
      const pairs: Pairs = [['grant_type', GRANT_TYPE_TOKEN_EXCHANGE], ['subject_token', await subjectToken()], ['subject_token_type', TOKEN_TYPE_JWT], [name, '']];
      const sent = await send(formRequest(pairs));
      expectIssued(sent);
      expect(sent.res.body.scope).toBe(ALL_RULE_SCOPES);
    },
  );
});

describe('refused scopes carry their audit reason', () => {
  it.each([
    ['malformed', 'malformed_scope', `${CLOUD_PLATFORM}"`],
    ['spaces only', 'malformed_scope', '   '],
    ['33 scopes', 'too_many_scopes', Array.from({ length: 33 }, (_, i) => `s${i}`).join(' ')],
    ['the same scope twice', 'duplicate_scope', `${CLOUD_PLATFORM} ${GENERATIVE_LANGUAGE} ${CLOUD_PLATFORM}`],
  ])('%s → invalid_scope, reason %s', async (_name, reason, scope) => {
    await runCase({ name: reason, make: async () => formRequest([...(await exchangePairs()), ['scope', scope]]), status: 400, error: 'invalid_scope' });
    expect(lastExchange()).toMatchObject({ outcome: 'denied', error: { code: 'invalid_scope', reason } });
  });

  it('two audience parameters → invalid_target, reason multiple_audiences', async () => {
    await runCase({ name: 'audiences', make: async () => formRequest([...(await exchangePairs()), ['audience', stack.url], ['audience', 'any-branch']]), status: 400, error: 'invalid_target' });
    expect(lastExchange()).toMatchObject({ error: { code: 'invalid_target', reason: 'multiple_audiences' } });
  });
});

// ---------------------------------------------------------------------------------------------
// Whitespace around token parameters: a token read from a file ends in a newline

describe('token parameters: leading and trailing ASCII whitespace is dropped, nothing else', () => {
  interface TokenParam {
    name: string;
    token: () => Promise<string>;
    request: (token: string) => Pairs;
    /** The refusal of a malformed token. */
    refused: [number, string];
    /** Whether the audit entry holds the token's fingerprint (as subjectTokenSha256). */
    fingerprinted: boolean;
  }
  const PARAMS: TokenParam[] = [
    {
      name: 'subject_token', token: subjectToken, refused: [400, 'invalid_grant'], fingerprinted: true,
      request: (token) => [['grant_type', GRANT_TYPE_TOKEN_EXCHANGE], ['subject_token', token], ['subject_token_type', TOKEN_TYPE_JWT]],
    },
    {
      name: 'assertion', token: bearerAssertion, refused: [400, 'invalid_grant'], fingerprinted: true,
      request: (token) => [['grant_type', GRANT_TYPE_JWT_BEARER], ['assertion', token]],
    },
    {
      name: 'client_assertion', token: () => assertion(creds.signerKey, 'signer', stack.tokenUrl), refused: [401, 'invalid_client'], fingerprinted: false,
      request: (token) => [['grant_type', GRANT_TYPE_CLIENT_CREDENTIALS], ['client_assertion_type', ASSERTION_TYPE], ['client_assertion', token]],
    },
  ];
  const ASCII_WHITESPACE: Array<[string, string]> = [['a space', ' '], ['a tab', '\t'], ['a CR', '\r'], ['an LF', '\n'], ['CR LF', '\r\n'], ['all four', ' \t\r\n']];
  // Whitespace to other definitions (String.prototype.trim, Unicode) but not to the broker.
  const OTHER_WHITESPACE: Array<[string, string]> = [['U+00A0', '\u00a0'], ['U+2003', '\u2003'], ['U+FEFF', '\ufeff'], ['a vertical tab', '\u000b'], ['a form feed', '\u000c']];
  const byParam = (rows: Array<[string, string]>): Array<[string, string, string, TokenParam]> =>
    PARAMS.flatMap((param) => rows.map(([label, ws]): [string, string, string, TokenParam] => [param.name, label, ws, param]));

  it.each(byParam(ASCII_WHITESPACE))('%s with %s before and after it is accepted, any audited fingerprint of the trimmed token', async (_name, _label, ws, param) => {
    const token = await param.token();
    expectIssued(await send(formRequest(param.request(`${ws}${token}${ws}`))));
    if (param.fingerprinted) expect(lastExchange()).toMatchObject({ outcome: 'issued', subjectTokenSha256: sha256Fingerprint(token) });
  });

  it.each(PARAMS.map((param) => [param.name, param] as const))('%s followed by a newline only (a token file) is accepted', async (_name, param) => {
    expectIssued(await send(formRequest(param.request(`${await param.token()}\n`))));
  });

  it.each(byParam(ASCII_WHITESPACE))('%s with %s inside it is refused', async (_name, _label, ws, param) => {
    const token = await param.token();
    const dot = token.indexOf('.');
    const [status, error] = param.refused;
    await runCase({ name: param.name, make: () => formRequest(param.request(`${token.slice(0, dot + 1)}${ws}${token.slice(dot + 1)}`)), status, error });
  });

  it.each(byParam(OTHER_WHITESPACE))('%s with %s after it is refused (not trimmed)', async (_name, _label, ws, param) => {
    const [status, error] = param.refused;
    await runCase({ name: param.name, make: async () => formRequest(param.request(`${await param.token()}${ws}`)), status, error });
  });

  it.each(byParam(OTHER_WHITESPACE))('%s with %s before it is refused (not trimmed)', async (_name, _label, ws, param) => {
    const [status, error] = param.refused;
    await runCase({ name: param.name, make: async () => formRequest(param.request(`${ws}${await param.token()}`)), status, error });
  });

  it.each(byParam(ASCII_WHITESPACE))('%s that is only %s is treated as omitted → 400 invalid_request', async (_name, _label, ws, param) => {
    await runCase({ name: param.name, make: () => formRequest(param.request(ws)), status: 400, error: 'invalid_request' });
    expect(lastExchange()).toMatchObject({ error: { reason: 'missing_parameter' } });
  });
});

describe('unknown grant types → 400 unsupported_grant_type', () => {
  const UNKNOWN = [
    'password', 'authorization_code', 'refresh_token', 'implicit', 'urn:ietf:params:oauth:grant-type:saml2-bearer',
    'urn:ietf:params:oauth:grant-type:device_code', 'CLIENT_CREDENTIALS', 'client_credentials ', `${GRANT_TYPE_TOKEN_EXCHANGE} `,
    GRANT_TYPE_TOKEN_EXCHANGE.toUpperCase(), 'client_credentials\u0000', '__proto__', 'constructor', 'toString', 'urn:ietf:params:oauth:grant-type:token-exchange:extra',
  ];
  it.each(UNKNOWN)('grant_type=%j', async (grantType) => {
    await runCase({
      name: grantType,
      make: async () => formRequest([['grant_type', grantType], ['subject_token', await subjectToken()], ['subject_token_type', TOKEN_TYPE_JWT], ['username', 'u'], ['password', 'p']]),
      status: 400,
      error: 'unsupported_grant_type',
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Methods

const exchangeBody = async () => formBody([['grant_type', GRANT_TYPE_TOKEN_EXCHANGE], ['subject_token', await subjectToken()], ['subject_token_type', TOKEN_TYPE_JWT]]);

describe('methods', () => {
  it.each(['GET', 'PUT', 'DELETE', 'PATCH'].flatMap((method) => ['/token', '/v1/token'].map((path) => [method, path] as const)))(
    '%s %s → 405 invalid_request with Allow: POST',
    async (method, path) => {
      const sent = await send({ method, path, headers: { 'content-type': FORM }, body: method === 'GET' || method === 'DELETE' ? undefined : await exchangeBody() });
      expectRefusal(sent, 405, 'invalid_request');
      expect(sent.res.headers.get('allow')).toBe('POST');
    },
  );

  it('HEAD → 405 with Allow: POST, no-store and no body', async () => {
    const { res, upstreamCalls } = await send({ method: 'HEAD' });
    expect({ status: res.status, text: res.text, allow: res.headers.get('allow'), cacheControl: res.headers.get('cache-control') })
      .toEqual({ status: 405, text: '', allow: 'POST', cacheControl: 'no-store' });
    expect(upstreamCalls).toBe(0);
  });

  it('OPTIONS without Origin is not a preflight → 405 invalid_request with Allow: POST', async () => {
    const sent = await send({ method: 'OPTIONS' });
    expectRefusal(sent, 405, 'invalid_request');
    expect(sent.res.headers.get('allow')).toBe('POST');
  });

  it('OPTIONS preflight from a listed origin for POST → 204 with the CORS answer', async () => {
    const { res, upstreamCalls } = await send({ method: 'OPTIONS', headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST' } });
    expect({ status: res.status, origin: res.headers.get('access-control-allow-origin'), methods: res.headers.get('access-control-allow-methods'), cache: res.headers.get('cache-control') })
      .toEqual({ status: 204, origin: APP_ORIGIN, methods: 'POST', cache: 'no-store' });
    expect(upstreamCalls).toBe(0);
  });

  it.each([
    ['from an unlisted origin', { origin: 'https://evil.example.test', 'access-control-request-method': 'POST' }, /origin is not allowed/],
    ['from an unlisted origin, without a requested method', { origin: 'https://evil.example.test' }, /origin is not allowed/],
    // A listed origin gets no CORS headers either: the browser refuses the PUT.
    ['from a listed origin for PUT', { origin: APP_ORIGIN, 'access-control-request-method': 'PUT' }, /only POST/],
    ['from a listed origin without a requested method', { origin: APP_ORIGIN }, /only POST/],
  ])('OPTIONS preflight %s → 403 access_denied as RFC 6749 JSON, no Access-Control-Allow-* headers', async (_name, headers, description) => {
    const sent = await send({ method: 'OPTIONS', headers });
    expectRefusal(sent, 403, 'access_denied');
    expect(sent.res.body.error_description).toMatch(description);
    expect(sent.res.headers.get('vary')).toMatch(/\bOrigin\b/);
    expect([...sent.res.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);
  });

  it('POST from an unlisted browser origin → 403 access_denied, before anything is verified', async () => {
    await runCase({ name: 'origin', make: async () => ({ headers: { 'content-type': FORM, origin: 'https://evil.example.test' }, body: await exchangeBody() }), status: 403, error: 'access_denied' });
  });
});

// ---------------------------------------------------------------------------------------------
// Content types (RFC 6749 §3.2: application/x-www-form-urlencoded, UTF-8 per Appendix B)

const multipart = async () => {
  const boundary = 'XyZboundary';
  const parts = [['grant_type', GRANT_TYPE_TOKEN_EXCHANGE], ['subject_token', await subjectToken()], ['subject_token_type', TOKEN_TYPE_JWT]]
    .map(([n, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${n}"\r\n\r\n${v}\r\n`).join('');
  return { type: `multipart/form-data; boundary=${boundary}`, body: `${parts}--${boundary}--\r\n` };
};

describe('content types', () => {
  it.each([FORM, `${FORM}; charset=utf-8`, `${FORM}; charset=UTF-8`, `${FORM};charset="utf-8"`, 'Application/X-WWW-Form-URLEncoded', ` ${FORM} `])(
    'accepts %j',
    async (type) => {
      expectIssued(await send({ headers: { 'content-type': type }, body: await exchangeBody() }));
    },
  );

  const refused: Array<[string, () => Promise<RawRequest>]> = [
    ['application/json with a JSON object body', async () => ({
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: await subjectToken(), subject_token_type: TOKEN_TYPE_JWT }),
    })],
    ['multipart/form-data', async () => { const m = await multipart(); return { headers: { 'content-type': m.type }, body: m.body }; }],
    ['text/plain with a form body', async () => ({ headers: { 'content-type': 'text/plain' }, body: await exchangeBody() })],
    // RFC 6749 Appendix B: the form is UTF-8; another declared charset is refused.
    ['form type with charset=iso-8859-1', async () => ({ headers: { 'content-type': `${FORM}; charset=iso-8859-1` }, body: await exchangeBody() })],
    ['text/plain; charset=latin1', async () => ({ headers: { 'content-type': 'text/plain; charset=latin1' }, body: await exchangeBody() })],
    ['no Content-Type at all', async () => ({ body: Buffer.from(await exchangeBody()) })],
    ['an empty Content-Type', async () => ({ headers: { 'content-type': '' }, body: await exchangeBody() })],
    ['form type with a boundary parameter', async () => ({ headers: { 'content-type': `${FORM}; boundary=x` }, body: await exchangeBody() })],
    ['form type with an extra parameter after the charset', async () => ({ headers: { 'content-type': `${FORM}; charset=utf-8; q=1` }, body: await exchangeBody() })],
    ['a look-alike form type', async () => ({ headers: { 'content-type': `${FORM}x` }, body: await exchangeBody() })],
    ['two media types in one header', async () => ({ headers: { 'content-type': `${FORM}, application/json` }, body: await exchangeBody() })],
    ['application/vnd.api+json', async () => ({ headers: { 'content-type': 'application/vnd.api+json' }, body: '{' })],
    ['application/octet-stream', async () => ({ headers: { 'content-type': 'application/octet-stream' }, body: await exchangeBody() })],
    ['a garbage Content-Type', async () => ({ headers: { 'content-type': ';;;' }, body: await exchangeBody() })],
  ];
  it.each(refused)('refuses %s → 400 invalid_request', async (name, make) => {
    await runCase({ name, make, status: 400, error: 'invalid_request' });
  });
});

/**
 * Requests the Functions Framework's lenient body parsers refused before the broker ran, with
 * express's HTML error page (a stack trace outside NODE_ENV=production, no no-store). With those
 * parsers switched off (functions/http/framework-body.ts) the broker answers each one itself.
 */
const FRAMEWORK_REFUSED: Array<[string, () => Promise<RawRequest> | RawRequest]> = [
  ['form type with charset=utf-16', async () => ({ headers: { 'content-type': `${FORM}; charset=utf-16` }, body: await exchangeBody() })],
  ['application/json with a body that is not JSON', () => ({ headers: { 'content-type': 'application/json' }, body: '{"grant_type":' })],
  ['application/json with a JSON string body', () => ({ headers: { 'content-type': 'application/json' }, body: '"grant_type"' })],
  ['Content-Encoding: compress', async () => ({ headers: { 'content-type': FORM, 'content-encoding': 'compress' }, body: await exchangeBody() })],
  ['Content-Encoding: x-gzip', async () => ({ headers: { 'content-type': FORM, 'content-encoding': 'x-gzip' }, body: gzipSync(await exchangeBody()) })],
  ['Content-Encoding: gzip, identity', async () => ({ headers: { 'content-type': FORM, 'content-encoding': 'gzip, identity' }, body: gzipSync(await exchangeBody()) })],
  ['Content-Encoding: gzip with bytes that are not gzip', async () => ({ headers: { 'content-type': FORM, 'content-encoding': 'gzip' }, body: await exchangeBody() })],
  ['more than 1000 form parameters', () => ({ headers: { 'content-type': FORM }, body: Array.from({ length: 1001 }, (_, i) => `p${i}=1`).join('&') })],
  ['a parameter name nested 40 brackets deep', () => ({ headers: { 'content-type': FORM }, body: `grant_type=client_credentials&a${'[b]'.repeat(40)}=1` })],
];

describe('framework: requests its body parser refused first (safety properties)', () => {
  it.each(FRAMEWORK_REFUSED)('%s → a 4xx, no token, nothing minted', async (_name, make) => {
    const { res, upstreamCalls } = await send(await make());
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.text).not.toContain('access_token');
    expect(upstreamCalls).toBe(0);
  });
});

describe('framework: requests its body parser refused first (RFC 6749 error contract)', () => {
  it.each(FRAMEWORK_REFUSED)('%s → 400 invalid_request as JSON with no-store', async (name, make) => {
    await runCase({ name, make, status: 400, error: 'invalid_request' });
  });
});

// ---------------------------------------------------------------------------------------------
// Content encodings: the broker takes none (no gzip, deflate or br), identity aside

describe('content encodings', () => {
  it.each<[string, (body: string) => Buffer]>([
    ['gzip', (b) => gzipSync(b)],
    ['GZIP', (b) => gzipSync(b)],
    ['deflate', (b) => deflateSync(b)],
    ['br', (b) => brotliCompressSync(b)],
  ])('Content-Encoding: %s → 400 invalid_request', async (encoding, compress) => {
    await runCase({ name: encoding, make: async () => ({ headers: { 'content-type': FORM, 'content-encoding': encoding }, body: compress(await exchangeBody()) }), status: 400, error: 'invalid_request' });
  });

  it.each(['identity', 'IDENTITY'])('Content-Encoding: %s is no encoding → accepted', async (encoding) => {
    expectIssued(await send({ headers: { 'content-type': FORM, 'content-encoding': encoding }, body: await exchangeBody() }));
  });

  /** 64 MiB of form data compressed into about 64 KiB. */
  const bomb = () => gzipSync(Buffer.concat([Buffer.from('grant_type=client_credentials&pad='), Buffer.alloc(64 * 1024 * 1024, 0x61)]), { level: 9 });

  async function bombMemory(): Promise<{ sent: Sent; rssDelta: number; buffersDelta: number; compressed: number }> {
    const body = bomb();
    const before = process.memoryUsage();
    let peakRss = before.rss;
    let peakBuffers = before.arrayBuffers;
    const sample = setInterval(() => {
      const now = process.memoryUsage();
      peakRss = Math.max(peakRss, now.rss);
      peakBuffers = Math.max(peakBuffers, now.arrayBuffers);
    }, 2);
    try {
      const sent = await send({ headers: { 'content-type': FORM, 'content-encoding': 'gzip' }, body });
      return { sent, rssDelta: peakRss - before.rss, buffersDelta: peakBuffers - before.arrayBuffers, compressed: body.length };
    } finally {
      clearInterval(sample);
    }
  }

  it('a gzip bomb (64 KiB → 64 MiB) → 400 invalid_request, nothing minted', async () => {
    const { sent, compressed } = await bombMemory();
    expect(compressed).toBeLessThan(MAX_BODY * 2);
    expectRefusal(sent, 400, 'invalid_request');
  });

  // The framework's parsers would inflate the whole body before the broker saw it (about 630 MB of RSS).
  it('a gzip bomb is refused without being inflated (peak RSS and buffers grow < 50 MB)', async () => {
    const { rssDelta, buffersDelta } = await bombMemory();
    expect(buffersDelta).toBeLessThan(50 * 1024 * 1024);
    expect(rssDelta).toBeLessThan(50 * 1024 * 1024);
  });
});

// ---------------------------------------------------------------------------------------------
// Body size

/** A valid exchange padded with unknown parameters to exactly `size` bytes. */
async function paddedExchange(size: number): Promise<string> {
  let body = await exchangeBody();
  let i = 0;
  while (body.length < size) {
    const room = size - body.length - `&p${i}=`.length;
    body += `&p${i}=${'a'.repeat(Math.max(0, Math.min(MAX_PARAM, room)))}`;
    i++;
  }
  return body;
}

describe('body size', () => {
  it('a body of exactly 64 KiB is read (the boundary)', async () => {
    const body = await paddedExchange(MAX_BODY);
    expect(body.length).toBe(MAX_BODY);
    expectIssued(await send({ headers: { 'content-type': FORM }, body }));
  });

  it('a body of 64 KiB + 1 with Content-Length → 413 invalid_request', async () => {
    await runCase({ name: 'cap', make: async () => ({ headers: { 'content-type': FORM }, body: `${await paddedExchange(MAX_BODY)}a` }), status: 413, error: 'invalid_request' });
  });

  it.each<[string, () => Promise<Buffer[]>]>([
    ['70 KiB in one chunk', async () => [Buffer.from(`${await paddedExchange(MAX_BODY)}${'a'.repeat(6 * 1024)}`)]],
    ['70 KiB in 1 KiB chunks', async () => {
      const body = Buffer.from(`${await paddedExchange(MAX_BODY)}${'a'.repeat(6 * 1024)}`);
      return Array.from({ length: Math.ceil(body.length / 1024) }, (_, i) => body.subarray(i * 1024, (i + 1) * 1024));
    }],
    ['4 MiB', async () => [Buffer.from(`${await exchangeBody()}&pad=`), Buffer.alloc(4 * 1024 * 1024, 0x61)]],
  ])('a chunked body without Content-Length over the cap (%s) → 413 invalid_request', async (name, chunks) => {
    const parts = await chunks();
    await runCase({ name, make: () => ({ headers: { 'content-type': FORM, 'transfer-encoding': 'chunked' }, chunks: parts }), status: 413, error: 'invalid_request' });
  });

  it('33 parameters → 400 invalid_request', async () => {
    await runCase({ name: '33', make: async () => ({ headers: { 'content-type': FORM }, body: `${await exchangeBody()}${Array.from({ length: 30 }, (_, i) => `&p${i}=1`).join('')}` }), status: 400, error: 'invalid_request' });
  });

  it('an unknown parameter over 4 KiB → 400 invalid_request', async () => {
    await runCase({ name: 'unknown big', make: async () => ({ headers: { 'content-type': FORM }, body: `${await exchangeBody()}&pad=${'a'.repeat(MAX_PARAM + 1)}` }), status: 400, error: 'invalid_request' });
  });

  it('a parameter name over 64 characters → 400 invalid_request', async () => {
    await runCase({ name: 'long name', make: async () => ({ headers: { 'content-type': FORM }, body: `${await exchangeBody()}&${'n'.repeat(65)}=1` }), status: 400, error: 'invalid_request' });
  });

  it('an empty body → 400 invalid_request (no grant_type)', async () => {
    await runCase({ name: 'empty', make: () => ({ headers: { 'content-type': FORM }, body: '' }), status: 400, error: 'invalid_request' });
  });
});

// ---------------------------------------------------------------------------------------------
// Percent-encoding and bytes

describe('truncated or invalid percent-encoding', () => {
  const exchangeWith = async (tail: Record<string, string>, rawTail = '') => {
    const token = await subjectToken();
    const pairs: Pairs = [['grant_type', GRANT_TYPE_TOKEN_EXCHANGE], ['subject_token_type', TOKEN_TYPE_JWT]];
    return { headers: { 'content-type': FORM }, body: `${formBody(pairs)}&subject_token=${tail.subject_token ?? token}${rawTail}` };
  };
  const cases: Array<[string, () => Promise<RawRequest>, number, string]> = [
    ['a lone % after the subject token', () => exchangeWith({}, '%'), 400, 'invalid_grant'],
    ['a truncated %4 after the subject token', () => exchangeWith({}, '%4'), 400, 'invalid_grant'],
    ['%zz inside the subject token', async () => exchangeWith({ subject_token: `${(await subjectToken()).slice(0, 20)}%zz${(await subjectToken()).slice(20)}` }), 400, 'invalid_grant'],
    ['a truncated UTF-8 sequence (%E0%A4) after the subject token', () => exchangeWith({}, '%E0%A4'), 400, 'invalid_grant'],
    ['an encoded NUL (%00) after the subject token', () => exchangeWith({}, '%00'), 400, 'invalid_grant'],
    ['scope %E0%A4 (decodes to U+FFFD)', async () => ({ ...(await exchangeWith({})), body: `${(await exchangeWith({})).body}&scope=%E0%A4` }), 400, 'invalid_scope'],
    ['scope %C0%AF (overlong UTF-8)', async () => ({ ...(await exchangeWith({})), body: `${(await exchangeWith({})).body}&scope=%C0%AF` }), 400, 'invalid_scope'],
    ['scope a lone % (a legal scope character, not a rule scope)', async () => ({ ...(await exchangeWith({})), body: `${(await exchangeWith({})).body}&scope=%` }), 400, 'invalid_scope'],
    ['grant_type truncated mid-escape', async () => ({ headers: { 'content-type': FORM }, body: 'grant_type=urn%3Aietf%3Aparams%3' }), 400, 'unsupported_grant_type'],
    ['grant_type with an encoded NUL', async () => ({ headers: { 'content-type': FORM }, body: 'grant_type=client_credentials%00' }), 400, 'unsupported_grant_type'],
    ['grant_type with + for _', async () => ({ headers: { 'content-type': FORM }, body: 'grant_type=client+credentials' }), 400, 'unsupported_grant_type'],
    ['subject_token_type double-encoded (%253A)', async () => ({ headers: { 'content-type': FORM }, body: `grant_type=${encodeURIComponent(GRANT_TYPE_TOKEN_EXCHANGE)}&subject_token=${await subjectToken()}&subject_token_type=${encodeURIComponent(encodeURIComponent(TOKEN_TYPE_JWT))}` }), 400, 'invalid_request'],
    ['the name grant_type followed by a lone % (another name)', async () => ({ headers: { 'content-type': FORM }, body: `grant_type%=${encodeURIComponent(GRANT_TYPE_TOKEN_EXCHANGE)}&subject_token=${await subjectToken()}&subject_token_type=${encodeURIComponent(TOKEN_TYPE_JWT)}` }), 400, 'invalid_request'],
  ];
  it.each(cases.map(([name, make, status, error]) => [name, status, error, make] as const))('%s → %s %s', async (name, status, error, make) => {
    await runCase({ name, make, status, error });
  });
});

describe('raw bytes outside printable ASCII → 400 invalid_request', () => {
  const cases: Array<[string, Buffer]> = [
    ['0xFF', Buffer.from([0xff])],
    ['0x80', Buffer.from([0x80])],
    ['raw UTF-8 é', Buffer.from('é', 'utf8')],
    ['an overlong UTF-8 sequence', Buffer.from([0xc0, 0xaf])],
    ['a UTF-16 surrogate encoded in UTF-8', Buffer.from([0xed, 0xa0, 0x80])],
    ['NUL', Buffer.from([0x00])],
    ['DEL', Buffer.from([0x7f])],
    ['a line feed', Buffer.from('\n')],
    ['CR LF', Buffer.from('\r\n')],
    ['a tab', Buffer.from('\t')],
  ];
  it.each(cases)('%s inside the body', async (name, bytes) => {
    await runCase({
      name,
      make: async () => {
        const body = await exchangeBody();
        const cut = body.indexOf('&subject_token_type');
        return { headers: { 'content-type': FORM }, body: Buffer.concat([Buffer.from(body.slice(0, cut)), bytes, Buffer.from(body.slice(cut))]) };
      },
      status: 400,
      error: 'invalid_request',
    });
  });

  it('a UTF-8 byte-order mark before the body', async () => {
    await runCase({ name: 'bom', make: async () => ({ headers: { 'content-type': FORM }, body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(await exchangeBody())]) }), status: 400, error: 'invalid_request' });
  });
});

// ---------------------------------------------------------------------------------------------
// Client authentication (RFC 6749 §2.3, RFC 7523 §2.2)

describe('client authentication', () => {
  const cc = (extra: Pairs = []): Pairs => [['grant_type', GRANT_TYPE_CLIENT_CREDENTIALS], ...extra];
  const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');
  const reporterBasic = () => basic('reporter', creds.reporterSecret);

  it('accepts client_secret_basic alone (the baseline)', async () => {
    expectIssued(await send(formRequest(cc(), { authorization: reporterBasic() })));
  });

  const cases: Array<[string, () => Promise<RawRequest> | RawRequest, number, string]> = [
    ['Authorization: Basic without credentials', () => formRequest(cc(), { authorization: 'Basic' }), 400, 'invalid_request'],
    ['Authorization: Basic with characters outside base64', () => formRequest(cc(), { authorization: 'Basic !!!not-base64!!!' }), 400, 'invalid_request'],
    ['Authorization: Basic without a colon', () => formRequest(cc(), { authorization: `Basic ${b64('reporter')}` }), 400, 'invalid_request'],
    ['Authorization: Basic with an empty client id', () => formRequest(cc(), { authorization: `Basic ${b64(`:${creds.reporterSecret}`)}` }), 400, 'invalid_request'],
    ['Authorization: Basic with a broken percent-encoding in the id', () => formRequest(cc(), { authorization: `Basic ${b64(`%ZZ:${creds.reporterSecret}`)}` }), 400, 'invalid_request'],
    ['Authorization: Basic followed by a second token', () => formRequest(cc(), { authorization: `${reporterBasic()} extra` }), 400, 'invalid_request'],
    ['Authorization: Bearer (not a client authentication scheme)', () => formRequest(cc(), { authorization: 'Bearer some.access.token' }), 400, 'invalid_request'],
    ['Authorization: Digest', () => formRequest(cc(), { authorization: 'Digest username="reporter"' }), 400, 'invalid_request'],
    ['Authorization: Basic with bytes that are not UTF-8 (unknown client)', () => formRequest(cc(), { authorization: `Basic ${b64(Buffer.from([0xff, 0xfe, 0x3a, 0x78]))}` }), 401, 'invalid_client'],
    ['Authorization: Basic for an unknown client', () => formRequest(cc(), { authorization: basic('nobody', 'tbs_not-a-real-secret') }), 401, 'invalid_client'],
    ['two methods: Basic and client_secret_post', () => formRequest(cc([['client_id', 'reporter'], ['client_secret', creds.reporterSecret]]), { authorization: reporterBasic() }), 400, 'invalid_request'],
    ['two methods: Basic and private_key_jwt', () => formRequest(cc([['client_assertion_type', ASSERTION_TYPE], ['client_assertion', 'a.b.c']]), { authorization: reporterBasic() }), 400, 'invalid_request'],
    ['two methods: Basic and an API key', () => formRequest(cc(), { authorization: reporterBasic(), 'x-goog-api-key': creds.apiKey }), 400, 'invalid_request'],
    ['two methods: client_secret_post and private_key_jwt', async () => formRequest(cc([['client_id', 'signer'], ['client_secret', creds.reporterSecret], ['client_assertion_type', ASSERTION_TYPE], ['client_assertion', await assertion(creds.signerKey, 'signer', stack.tokenUrl)]])), 400, 'invalid_request'],
    ['two methods: client_secret_post and an API key', () => formRequest(cc([['client_id', 'reporter'], ['client_secret', creds.reporterSecret]]), { 'x-goog-api-key': creds.apiKey }), 400, 'invalid_request'],
    ['two methods in a token exchange', async () => formRequest([['grant_type', GRANT_TYPE_TOKEN_EXCHANGE], ['subject_token', await subjectToken()], ['subject_token_type', TOKEN_TYPE_JWT], ['client_id', 'reporter'], ['client_secret', creds.reporterSecret]], { authorization: reporterBasic() }), 400, 'invalid_request'],
    ['Basic with a different client_id parameter', () => formRequest(cc([['client_id', 'signer']]), { authorization: reporterBasic() }), 400, 'invalid_request'],
    ['client_secret without client_id', () => formRequest(cc([['client_secret', creds.reporterSecret]])), 400, 'invalid_request'],
    ['client_assertion_type without client_assertion', () => formRequest(cc([['client_assertion_type', ASSERTION_TYPE]])), 400, 'invalid_request'],
    ['client_assertion without client_assertion_type', async () => formRequest(cc([['client_assertion', await assertion(creds.signerKey, 'signer', stack.tokenUrl)]])), 400, 'invalid_request'],
    ['client_assertion_type an unknown URI', async () => formRequest(cc([['client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer'], ['client_assertion', await assertion(creds.signerKey, 'signer', stack.tokenUrl)]])), 400, 'invalid_request'],
    ['client_assertion not a JWT', () => formRequest(cc([['client_assertion_type', ASSERTION_TYPE], ['client_assertion', 'not-a-jwt-at-all']])), 401, 'invalid_client'],
    ['an API key that is malformed', () => formRequest(cc(), { 'x-goog-api-key': 'not-an-api-key' }), 401, 'invalid_client'],
    ['client_credentials without any client authentication', () => formRequest(cc()), 401, 'invalid_client'],
    ...['client_secret', 'client_assertion', 'key', 'api_key', 'x-goog-api-key', 'access_token', 'subject_token', 'assertion', 'CLIENT_SECRET', 'client%5Fsecret'].map(
      (name): [string, () => RawRequest, number, string] => [
        `?${name}= in the query string`,
        () => ({ ...formRequest(cc(), { authorization: reporterBasic() }), path: `/token?${name}=value-in-the-query` }),
        400,
        'invalid_request',
      ],
    ),
    ['grant_type in the query string only (query parameters are not read)', () => ({ ...formRequest([], { authorization: reporterBasic() }), path: `/token?grant_type=${GRANT_TYPE_CLIENT_CREDENTIALS}` }), 400, 'invalid_request'],
  ];
  it.each(cases.map(([name, make, status, error]) => [name, status, error, make] as const))('%s → %s %s', async (name, status, error, make) => {
    const sent = await runCase({ name, make, status, error });
    if (status === 401 && name.startsWith('Authorization: Basic')) expect(sent.res.headers.get('www-authenticate')).toMatch(/^Basic realm="token-broker"/);
  });
});
