/**
 * Property-based fuzzing (fast-check) of the token endpoint over HTTP and of the subject-token
 * verifier directly.
 *
 * HTTP (the real broker function on 127.0.0.1): for form requests drawn from a grammar of valid
 * and mutated parameters, headers and real tokens, the answer is never a 5xx and never a token
 * (no access_token, nothing minted at the Google emulator); it is always an RFC 6749 §5.2 error
 * body, JSON, with `Cache-Control: no-store`. Arbitrary bodies with arbitrary content types
 * and encodings get the same answer: the Functions Framework's own parsers are switched off
 * (functions/http/framework-body.ts), so the broker answers every one of them itself.
 *
 * Verifier (`verifyOidcToken` with a compiled policy): the unmutated token is accepted, and
 * every mutation is refused with a BrokerError, never another error type. A run with the
 * identity mutation shows the property can fail.
 *
 * Each property is bounded by a run count and a time limit. The seed is fixed and can be
 * overridden with FUZZ_SEED; fast-check prints seed and path of a failure to replay it.
 */
import fc from 'fast-check';
import { base64url, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { trimTokenWhitespace } from '../../functions/http/form-params';
import { BrokerError } from '../../shared/errors';
import { verifyOidcToken } from '../../shared/identity/oidc-token';
import { compilePolicy } from '../../shared/policy/compile-policy';
import type { CompiledPolicy } from '../../shared/policy/compiled-policy';
import { parsePolicyText } from '../../shared/policy/parse-document';
import {
  GRANT_TYPE_CLIENT_CREDENTIALS, GRANT_TYPE_JWT_BEARER, GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT,
} from '../../shared/oauth-uris';
import { APP_ORIGIN, assertion, clientPolicy, type ClientCredentialsSet } from '../clients/client-fixture';
import { CLOUD_PLATFORM, STORAGE_READ } from '../http/policy-fixture';
import type { Answer } from '../helpers/http';
import { sendCounting, type RawRequest, type Sent } from '../helpers/raw-http';

const SEED = Number(process.env.FUZZ_SEED ?? 20261107);
const FORM = 'application/x-www-form-urlencoded';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Runs each property achieved (printed at the end, for the record). */
const runs: Record<string, number> = {};
const settings = (name: string, numRuns: number, timeLimitMs: number) => {
  runs[name] = 0;
  return { seed: SEED, numRuns, interruptAfterTimeLimit: timeLimitMs, markInterruptAsFailure: false, endOnFailure: true };
};

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

let stack: DevStack;
let creds: ClientCredentialsSet;
let subjectTokens: string[];
let assertions: string[];

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  const policy = await clientPolicy();
  creds = policy.creds;
  stack = await startDevStack({ env: { BROKER_CACHE: 'none' }, policyText: policy.text });
  await stack.broker;
  const claims = { sub: 'repo:acme/app:ref:refs/heads/main', aud: stack.url, repository: 'acme/app', ref: 'refs/heads/main' };
  subjectTokens = await Promise.all([0, 1, 2].map((i) => stack.issuer.sign({ ...claims, run_note: `n${i}` })));
  assertions = await Promise.all([0, 1].map(() => assertion(creds.signerKey, 'signer', stack.url)));
});

afterAll(async () => {
  await stack.close();
  process.off('unhandledRejection', onUnhandled);
  process.stdout.write(`fuzz seed ${SEED}; runs per property: ${JSON.stringify(runs)}\n`);
});

// ---------------------------------------------------------------------------------------------
// Token mutations

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const decodeJson = (segment: string): unknown => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
const encodeJson = (value: unknown, space?: number) => Buffer.from(JSON.stringify(value, null, space)).toString('base64url');

/** A mutation of a compact JWS, described for failure reports. */
const mutation = (token: string): fc.Arbitrary<string> => {
  const [h = '', p = '', s = ''] = token.split('.');
  const index = fc.nat({ max: token.length - 1 });
  return fc.oneof(
    fc.tuple(index, fc.nat({ max: 6 })).map(([i, bit]) => `${token.slice(0, i)}${String.fromCharCode(token.charCodeAt(i) ^ (1 << bit))}${token.slice(i + 1)}`),
    fc.tuple(index, fc.constantFrom(...B64URL)).map(([i, ch]) => `${token.slice(0, i)}${ch}${token.slice(i + 1)}`),
    fc.tuple(index, fc.constantFrom(' ', '\n', '=', '.', '+', '/', '%', '\u0000', 'é')).map(([i, ch]) => `${token.slice(0, i)}${ch}${token.slice(i)}`),
    fc.nat({ max: token.length - 1 }).map((n) => token.slice(0, n)),
    fc.constantFrom(`${h}.${s}.${p}`, `${p}.${h}.${s}`, `${s}.${p}.${h}`, `${h}.${p}`, `${h}.${p}.${s}.${s}`, `${h}.${p}.`, `${h}..${s}`, `${h}.${h}.${s}`, `${p}.${p}.${s}`),
    // Re-encodings of the same content: standard base64 with padding, JSON re-serialised.
    fc.constantFrom(
      [h, p, s].map((seg) => Buffer.from(seg, 'base64url').toString('base64')).join('.'),
      `${encodeJson(decodeJson(h), 1)}.${p}.${s}`,
      `${h}.${encodeJson(decodeJson(p), 1)}.${s}`,
      `${h}.${p}.${s}==`,
      token.toUpperCase(),
      encodeURIComponent(token).replace(/\./g, '%2E'),
    ),
    // Claims and header changed after signing.
    fc.tuple(fc.constantFrom('sub', 'aud', 'iss', 'exp', 'iat', 'repository'), fc.jsonValue()).map(([claim, value]) => {
      const payload = decodeJson(p) as Record<string, unknown>;
      return `${h}.${encodeJson({ ...payload, [claim]: value })}.${s}`;
    }),
    fc.constantFrom('none', 'HS256', 'RS512', 'ES256', 'PS256', '').map((alg) => `${encodeJson({ ...(decodeJson(h) as object), alg })}.${p}.${s}`),
  );
};

/**
 * Mutations that leave the header and payload text intact and only re-encode the signature's
 * bytes (its last character's unused bits): accepted today, see the known-gap test below.
 * Excluded from the "never accepted" properties so that they test everything else.
 */
function sameSignedBytes(mutated: string, original: string): boolean {
  const [mh, mp, ms, ...rest] = mutated.split('.');
  const [oh, op, os] = original.split('.');
  if (rest.length > 0 || mh !== oh || mp !== op || ms === undefined || os === undefined || !/^[A-Za-z0-9_-]+$/.test(ms)) return false;
  try {
    return Buffer.from(base64url.decode(ms)).equals(Buffer.from(base64url.decode(os)));
  } catch {
    return false;
  }
}

const mutatedFrom = (tokens: () => string[]) =>
  fc.nat({ max: 100 }).chain((i) => {
    const list = tokens();
    const original = list[i % list.length] ?? '';
    return mutation(original).filter((m) => m !== original && !sameSignedBytes(m, original));
  });

/**
 * Mutations for requests over HTTP, where a token's surrounding ASCII whitespace is dropped
 * (functions/http/form-params.ts): a space or newline put before the token is the token itself
 * there, so it is left out of the "never accepted" properties. The verifier still sees it.
 */
const mutatedForHttp = (tokens: () => string[]) => mutatedFrom(tokens).filter((m) => !tokens().includes(trimTokenWhitespace(m)));

// ---------------------------------------------------------------------------------------------
// HTTP: answers and checks

const send = (req: RawRequest): Promise<Sent> => sendCounting(stack, req);

/** Never a token, never a 5xx: for every request whatsoever. */
function checkSafe({ res, upstreamCalls }: Sent): void {
  if (res.status >= 500 || res.status < 400) throw new Error(`status ${res.status}: ${res.text.slice(0, 200)}`);
  if (/"access_token"\s*:/.test(res.text)) throw new Error(`token in answer: ${res.text.slice(0, 200)}`);
  if (upstreamCalls !== 0) throw new Error(`${upstreamCalls} upstream calls`);
  if (stack.google.requests.some((r) => r.path.includes(':generateAccessToken'))) throw new Error('the emulator minted a token');
}

/** The RFC 6749 §5.2 error contract. */
function checkErrorBody(sent: Sent): void {
  checkSafe(sent);
  const { res } = sent;
  const keys = Object.keys(res.body).sort().join(',');
  if (keys !== 'error,error_description') throw new Error(`body members ${keys}: ${res.text.slice(0, 200)}`);
  if (typeof res.body.error !== 'string' || !/^[a-z_]+$/.test(res.body.error)) throw new Error(`error ${String(res.body.error)}`);
  if (typeof res.body.error_description !== 'string' || !/^[\x20\x21\x23-\x5B\x5D-\x7E]+$/.test(res.body.error_description)) {
    throw new Error(`error_description ${JSON.stringify(res.body.error_description)}`);
  }
  if (!/^application\/json\b/.test(res.headers.get('content-type') ?? '')) throw new Error(`content-type ${res.headers.get('content-type')}`);
  if (res.headers.get('cache-control') !== 'no-store' || res.headers.get('pragma') !== 'no-cache') throw new Error('missing no-store');
  if (/\bat \S+\.(?:js|ts):\d+|node_modules/.test(res.text)) throw new Error('stack trace in answer');
}

// ---------------------------------------------------------------------------------------------
// HTTP: the parameter grammar

const NAMES = [
  'grant_type', 'subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'scope', 'options', 'resource',
  'actor_token', 'actor_token_type', 'assertion', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type',
];

const printable = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });

const nameArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 1, arbitrary: fc.constantFrom(...NAMES).map((n) => `%${n.charCodeAt(0).toString(16)}${n.slice(1)}`) },
  { weight: 1, arbitrary: fc.constantFrom(...NAMES).map((n) => n.toUpperCase()) },
  { weight: 1, arbitrary: fc.constantFrom(...NAMES).map((n) => `${n}[]`) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'hasOwnProperty', '__proto__[alg]', 'a[b][c]') },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);

const valueArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(GRANT_TYPE_TOKEN_EXCHANGE, GRANT_TYPE_JWT_BEARER, GRANT_TYPE_CLIENT_CREDENTIALS, 'password', 'refresh_token') },
  { weight: 2, arbitrary: fc.constantFrom(TOKEN_TYPE_JWT, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_ACCESS_TOKEN, ASSERTION_TYPE, 'urn:ietf:params:oauth:token-type:saml2') },
  { weight: 2, arbitrary: fc.constantFrom(CLOUD_PLATFORM, `${CLOUD_PLATFORM} ${STORAGE_READ}`, 'openid', 'a\u0000b', 'a\tb', '"') },
  { weight: 2, arbitrary: fc.constantFrom('{"lifetimeSeconds":600}', '{"lifetimeSeconds":-1}', '{"lifetimeSeconds":1e400}', '{"__proto__":{}}', '[]', 'null', '{') },
  { weight: 1, arbitrary: fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'), fc.record({ lifetimeSeconds: fc.oneof(fc.integer(), fc.double(), fc.string()) }).map((v) => JSON.stringify(v))) },
  { weight: 2, arbitrary: fc.constantFrom('', 'nobody', 'signer', 'https://evil.example.test', 'main-branch', 'any-branch').map((v) => v) },
  { weight: 4, arbitrary: mutatedForHttp(() => subjectTokens) },
  { weight: 2, arbitrary: mutatedForHttp(() => assertions) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom(4096, 4097, 16384, 16385).map((n) => 'x'.repeat(n)) },
);

/** How a pair is put on the wire: percent-encoded, raw, or with stray escapes. */
const encodeArb = fc.constantFrom<(text: string) => string>(
  encodeURIComponent,
  encodeURIComponent,
  (text) => text,
  (text) => `${encodeURIComponent(text)}%`,
  (text) => encodeURIComponent(text).replace(/%([0-9A-F])[0-9A-F]/, '%$1'),
  (text) => encodeURIComponent(text).toLowerCase(),
);

const headerValue = printable(60);
const headersArb = fc.record(
  {
    authorization: fc.oneof(
      fc.constant('Basic'),
      fc.tuple(printable(20), printable(20)).map(([id, secret]) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`),
      fc.uint8Array({ maxLength: 30 }).map((bytes) => `Basic ${Buffer.from(bytes).toString('base64')}`),
      fc.constantFrom('Bearer x', 'Digest a=b', `Basic ${Buffer.from('nobody:x').toString('base64')} extra`),
      headerValue,
    ),
    origin: fc.oneof(fc.constantFrom(APP_ORIGIN, 'https://evil.example.test', 'null', `${APP_ORIGIN}/path`), headerValue),
    'x-goog-api-key': fc.oneof(fc.constantFrom('tbk_bad', ''), headerValue),
    'content-type': fc.constantFrom(FORM, `${FORM}; charset=utf-8`, `${FORM}; charset=UTF-8`, `${FORM};charset="utf-8"`),
  },
  { requiredKeys: ['content-type'] },
);

const formRequestArb = fc.record({
  pairs: fc.array(fc.tuple(nameArb, valueArb, encodeArb, encodeArb), { maxLength: 12 }),
  headers: headersArb,
  path: fc.constantFrom('/token', '/v1/token', '/token?x=1', '/token?client_secret=x', '/v1/token?scope=a'),
});

// ---------------------------------------------------------------------------------------------
// HTTP properties

describe('HTTP endpoint', () => {
  afterEach(() => expect(unhandled).toEqual([]));

  it('form requests from the parameter grammar: never a 5xx or a token, always an RFC 6749 error', async () => {
    await fc.assert(
      fc.asyncProperty(formRequestArb, async ({ pairs, headers, path }) => {
        runs.form = (runs.form ?? 0) + 1;
        const body = pairs.map(([name, value, encName, encValue]) => `${encName(name)}=${encValue(value)}`).join('&');
        checkErrorBody(await send({ path, headers: headers as Record<string, string>, body: Buffer.from(body, 'utf8') }));
      }),
      settings('form', 2500, 8000),
    );
    expect(runs.form).toBeGreaterThan(100);
  });

  it('mutated real tokens as subject_token or assertion: invalid_grant (invalid_request when nothing is left), never a token', async () => {
    const arb = fc.record({
      grant: fc.constantFrom('exchange', 'bearer'),
      subject: mutatedForHttp(() => subjectTokens),
      assertion: mutatedForHttp(() => assertions),
      tokenType: fc.constantFrom(TOKEN_TYPE_JWT, TOKEN_TYPE_ID_TOKEN),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ grant, subject, assertion: bearer, tokenType }) => {
        runs.tokens = (runs.tokens ?? 0) + 1;
        const params: Record<string, string> = grant === 'exchange'
          ? { grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token_type: tokenType, subject_token: subject }
          : { grant_type: GRANT_TYPE_JWT_BEARER, assertion: bearer };
        const token = grant === 'exchange' ? subject : bearer;
        const sent = await send({ headers: { 'content-type': FORM }, body: new URLSearchParams(params).toString() });
        checkErrorBody(sent);
        const expected = token === '' ? 'invalid_request' : 'invalid_grant';
        if (sent.res.status !== 400 || sent.res.body.error !== expected) {
          throw new Error(`expected 400 ${expected}, got ${sent.res.status} ${String(sent.res.body.error)}`);
        }
        if (token.length >= 12 && sent.res.text.includes(token)) throw new Error('token echoed');
      }),
      settings('tokens', 2500, 6000),
    );
    expect(runs.tokens).toBeGreaterThan(100);
  });

  it('arbitrary bodies, content types and encodings: never a 5xx or a token, always an RFC 6749 error (the framework parses nothing itself)', async () => {
    const arb = fc.record({
      body: fc.oneof(fc.uint8Array({ maxLength: 1500 }).map((b) => Buffer.from(b)), printable(1500).map((s) => Buffer.from(s, 'latin1'))),
      contentType: fc.oneof(
        fc.constantFrom(FORM, `${FORM}; charset=utf-8`, `${FORM}; charset=latin1`, 'application/json', 'multipart/form-data; boundary=x', 'text/plain', 'application/octet-stream', ''),
        headerValue,
      ),
      encoding: fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'compress', 'gzip, identity', 'x-unknown'), { nil: undefined }),
      method: fc.constantFrom('POST', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE', 'GET'),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ body, contentType, encoding, method }) => {
        runs.arbitrary = (runs.arbitrary ?? 0) + 1;
        const headers: Record<string, string> = { 'content-type': contentType };
        let wire = body;
        if (encoding !== undefined) {
          headers['content-encoding'] = encoding;
          wire = encoding === 'gzip' ? gzipSync(body) : encoding === 'deflate' ? deflateSync(body) : encoding === 'br' ? brotliCompressSync(body) : body;
        }
        const sent = await send({ method, headers, body: method === 'GET' ? undefined : wire });
        checkErrorBody(sent);
      }),
      settings('arbitrary', 2500, 6000),
    );
    expect(runs.arbitrary).toBeGreaterThan(100);
  });

  it('after fuzzing the broker still answers a valid request with a token (the properties can fail)', async () => {
    const token = await stack.issuer.sign({ sub: 'repo:acme/app:ref:refs/heads/main', aud: stack.url, repository: 'acme/app', ref: 'refs/heads/main' });
    const sent = await send({ headers: { 'content-type': FORM }, body: new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token_type: TOKEN_TYPE_JWT, subject_token: token }).toString() });
    expect(sent.res.status).toBe(200);
    expect(() => checkSafe(sent)).toThrow(/status 200/);
  });
});

// ---------------------------------------------------------------------------------------------
// The verifier directly

describe('verifyOidcToken', () => {
  const ISSUER = 'https://issuer.example.test';
  const AUDIENCE = 'https://broker.example.test';
  let policy: CompiledPolicy;
  let privateKey: CryptoKey;
  let tokens: string[];

  const sign = (claims: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' }).setIssuer(ISSUER).setAudience(AUDIENCE)
      .setIssuedAt(now).setExpirationTime(now + 300).sign(privateKey);
  };

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const doc = {
      version: 1,
      issuers: [{ issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['RS256'], jwks: { keys: [jwk] } }],
      rules: [{ id: 'any', issuer: ISSUER, condition: 'true', grant: { service_account: 'fuzz@acme.iam.gserviceaccount.com', scopes: [CLOUD_PLATFORM] } }],
    };
    policy = compilePolicy(parsePolicyText(JSON.stringify(doc), 'fuzz.json'), { source: 'fuzz.json', network: { allowInsecureLoopback: false } });
    tokens = await Promise.all(['alice', 'bob', 'repo:acme/app:ref:refs/heads/main'].map((sub) => sign({ sub, repository: 'acme/app' })));
  });

  afterEach(() => expect(unhandled).toEqual([]));

  /** undefined when accepted; the error otherwise. */
  async function outcome(token: string): Promise<unknown> {
    try {
      await verifyOidcToken(token, policy.issuers);
      return undefined;
    } catch (err) {
      return err ?? new Error('falsy throw');
    }
  }

  const rejectedWithBrokerError = (arb: fc.Arbitrary<string>, label: string) =>
    fc.asyncProperty(arb, async (token) => {
      runs[label] = (runs[label] ?? 0) + 1;
      const err = await outcome(token);
      if (err === undefined) throw new Error(`accepted: ${token}`);
      if (!(err instanceof BrokerError)) throw new Error(`not a BrokerError: ${String(err)}`);
      if (!['invalid_grant', 'invalid_request'].includes(err.code)) throw new Error(`code ${err.code}`);
    });

  it('accepts every unmutated token', async () => {
    for (const token of tokens) expect(await outcome(token)).toBeUndefined();
  });

  it('refuses every mutation of a valid token with a BrokerError', async () => {
    await fc.assert(rejectedWithBrokerError(mutatedFrom(() => tokens), 'verifier'), settings('verifier', 10000, 5000));
    expect(runs.verifier).toBeGreaterThan(500);
  });

  it('refuses arbitrary strings and three-part base64url strings with a BrokerError', async () => {
    const segment = fc.string({ unit: fc.constantFrom(...B64URL), minLength: 1, maxLength: 60 });
    const arb = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.tuple(segment, segment, segment).map((parts) => parts.join('.')),
      fc.tuple(fc.jsonValue(), fc.jsonValue(), segment).map(([h, p, s]) => `${encodeJson(h)}.${encodeJson(p)}.${s}`),
      fc.tuple(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue()), segment).map(([claims, s]) => `${encodeJson({ alg: 'RS256', kid: 'k1' })}.${encodeJson({ iss: ISSUER, aud: AUDIENCE, ...claims })}.${s}`),
    );
    await fc.assert(rejectedWithBrokerError(arb, 'verifier-arbitrary'), settings('verifier-arbitrary', 10000, 3000));
    expect(runs['verifier-arbitrary']).toBeGreaterThan(500);
  });

  it('the property fails when a mutation can be the identity (it is not vacuous)', async () => {
    const withIdentity = fc.nat({ max: 100 }).chain((i) => {
      const original = tokens[i % tokens.length] ?? '';
      return fc.oneof(fc.constant(original), mutation(original));
    });
    const result = await fc.check(rejectedWithBrokerError(withIdentity, 'identity'), { seed: SEED, numRuns: 200 });
    expect(result.failed).toBe(true);
    expect(String(result.counterexample?.[0])).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(tokens).toContain(result.counterexample?.[0]);
  });

  // RFC 8725bis §3.14, SECURITY.md "one token, one string form": the signature's last character
  // may differ in its unused low bits and still decode to the same bytes; the format check
  // requires the canonical base64url form.
  it('refuses a token whose last signature character differs only in its unused bits', async () => {
    const token = tokens[0] ?? '';
    const last = token.at(-1) ?? 'A';
    const variant = `${token.slice(0, -1)}${B64URL[B64URL.indexOf(last) ^ 1]}`;
    expect(sameSignedBytes(variant, token)).toBe(true);
    expect(await outcome(variant)).toBeInstanceOf(BrokerError);
  });
});
