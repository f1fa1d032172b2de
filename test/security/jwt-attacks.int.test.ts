/**
 * The JWT attack classes of SECURITY.md and RFC 8725, each a named case sent through the real
 * token endpoint on 127.0.0.1 (the Functions Framework server, the broker core, jose against
 * the demo issuer's live JWKS and inline policy keys, IAM calls to the Google emulator).
 *
 * Every refusal asserts the exact status, the RFC 6749 `error`, the audit `error.reason`,
 * `Cache-Control: no-store`, no `access_token`, exactly one audit entry for the request, no
 * mint at the emulator and no request to the attacker's key server. Honest tokens of every
 * issuer are accepted by the same harness, so each case differs from a success only by its
 * attack.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { sha256Fingerprint } from '../../shared/fingerprint';
import { LineCapture } from '../helpers/capture';
import {
  b64url,
  constantSigner,
  ecdsaParts,
  ecdsaSignature,
  es256Signer,
  forgeJwsWith,
  hmacSigner,
  P256_ORDER,
  publicKeyEncodings,
  rs256Signer,
  selfSignedCertificate,
  type HmacAlgorithm,
  type RawSigner,
} from '../helpers/forge';
import { exchangeForm, post, type Answer } from '../helpers/http';

const EC_ISSUER = 'https://ec-issuer.example.test';
const OTHER_ISSUER = 'https://other-issuer.example.test';
const DEMO_SA = 'gemini-caller@token-broker-dev.iam.gserviceaccount.com';
const READER_SA = 'reader@token-broker-dev.iam.gserviceaccount.com';
const CLIENT_ID = 'signer';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The demo issuer's clock tolerance, stated in the policy below. */
const TOLERANCE = 30;

interface KeyPair { privateKey: CryptoKey; publicKey: CryptoKey; publicJwk: JWK; kid: string }

async function keyPair(alg: 'RS256' | 'ES256', kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicKey, kid, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/**
 * Three issuers and one client: the demo issuer (RS256, keys by OIDC discovery), an issuer
 * with an inline P-256 key and an RSA key (ES256 and RS256), another RSA issuer, and an
 * RFC 7523 client with an ES256 key.
 */
function attackPolicy(urls: { issuer: string; broker: string }, keys: { ec: KeyPair; ecRsa: KeyPair; other: KeyPair; client: KeyPair }): string {
  return `
version: 1
issuers:
  - issuer: "${urls.issuer}"
    audiences: ["${urls.broker}"]
    algorithms: [RS256]
    clock_tolerance_seconds: ${TOLERANCE}
    max_token_age_seconds: 3600
    max_token_validity_seconds: 86400
  - issuer: "${EC_ISSUER}"
    audiences: ["${urls.broker}"]
    algorithms: [ES256, RS256]
    jwks: { keys: [${JSON.stringify(keys.ec.publicJwk)}, ${JSON.stringify(keys.ecRsa.publicJwk)}] }
  - issuer: "${OTHER_ISSUER}"
    audiences: ["${urls.broker}"]
    algorithms: [RS256]
    jwks: { keys: [${JSON.stringify(keys.other.publicJwk)}] }
clients:
  - id: ${CLIENT_ID}
    jwks: { keys: [${JSON.stringify(keys.client.publicJwk)}] }
    algorithms: [ES256]
rules:
  - id: demo
    issuer: "${urls.issuer}"
    condition: claims.sub == 'demo-workload' && claims.repository == 'acme/demo'
    grant:
      service_account: ${DEMO_SA}
      scopes: [https://www.googleapis.com/auth/cloud-platform]
      max_lifetime_seconds: 900
  - id: ec
    issuer: "${EC_ISSUER}"
    condition: claims.sub == 'ec-workload'
    grant:
      service_account: ${READER_SA}
      scopes: [https://www.googleapis.com/auth/devstorage.read_only]
      max_lifetime_seconds: 600
  - id: other
    issuer: "${OTHER_ISSUER}"
    condition: claims.sub == 'other-workload'
    grant:
      service_account: ${READER_SA}
      scopes: [https://www.googleapis.com/auth/devstorage.read_only]
      max_lifetime_seconds: 600
  - id: signer-read
    clients: [${CLIENT_ID}]
    condition: "true"
    grant:
      service_account: ${READER_SA}
      scopes: [https://www.googleapis.com/auth/devstorage.read_only]
      max_lifetime_seconds: 600
`;
}

/** An attacker's key server on loopback: serves its own JWKS and certificate, records every hit. */
interface Trap { url: string; hits: string[]; close(): Promise<void> }

async function startTrap(jwks: object, certPem: string): Promise<Trap> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    if (req.url?.startsWith('/cert')) res.writeHead(200, { 'content-type': 'application/pem-certificate-chain' }).end(certPem);
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

// ─── Expected outcomes ───────────────────────────────────────────────────────

type Expected =
  | { issued: true }
  | { issued?: false; status: number; error: string; reason: string };

const ISSUED: Expected = { issued: true };
const grant = (reason: string): Expected => ({ status: 400, error: 'invalid_grant', reason });
const MALFORMED = grant('malformed_token');
const ALG_NOT_ALLOWED = grant('algorithm_not_allowed');
const BAD_SIGNATURE = grant('bad_signature');
const UNKNOWN_KEY = grant('unknown_key');
const DUPLICATE_KEY = grant('duplicate_json_key');
const UNTRUSTED_ISSUER = grant('untrusted_issuer');
const AUDIENCE_MISMATCH = grant('audience_mismatch');
const MISSING_CLAIM = grant('missing_claim');
const CLAIM_TYPE = grant('invalid_claim_type');
const TOO_MANY_CLAIMS = grant('too_many_claims');
const EXPIRED = grant('token_expired');
const TOO_OLD = grant('token_too_old');
const NOT_YET_VALID = grant('token_not_yet_valid');
const ISSUED_IN_FUTURE = grant('issued_in_future');
const VALIDITY_TOO_LONG = grant('token_validity_too_long');
const AUTHORIZED_PARTY = grant('authorized_party_mismatch');
const NO_RULE = { status: 403, error: 'access_denied', reason: 'no_rule_matched' } satisfies Expected;
/** Refused at the HTTP edge: `subject_token` is over its 16 KiB parameter cap. */
const TOKEN_TOO_LARGE = { status: 400, error: 'invalid_request', reason: 'parameter_too_large' } satisfies Expected;
const BODY_TOO_LARGE = { status: 413, error: 'invalid_request', reason: 'body_too_large' } satisfies Expected;

type Case = [name: string, make: () => string | Promise<string>, expected: Expected];

// ─── The stack ───────────────────────────────────────────────────────────────

let stack: DevStack;
let trap: Trap;
let keys: { ec: KeyPair; ecRsa: KeyPair; other: KeyPair; client: KeyPair; attackerRsa: KeyPair; attackerEc: KeyPair };
let attackerCert: Buffer;
let attackerEcCert: Buffer;
/** The broker's clock: real time unless a test freezes it (ms). */
let frozenMs: number | undefined;
const audit = new LineCapture();

beforeAll(async () => {
  const [ec, ecRsa, other, client, attackerRsa, attackerEc] = await Promise.all([
    keyPair('ES256', 'ec-1'), keyPair('RS256', 'rsa-1'), keyPair('RS256', 'other-1'), keyPair('ES256', 'signer-1'),
    keyPair('RS256', 'attacker-rsa'), keyPair('ES256', 'attacker-ec'),
  ]);
  keys = { ec, ecRsa, other, client, attackerRsa, attackerEc };
  attackerCert = selfSignedCertificate(attackerRsa.privateKey, attackerRsa.publicKey, 'attacker');
  attackerEcCert = selfSignedCertificate(attackerEc.privateKey, attackerEc.publicKey, 'attacker');
  const pem = `-----BEGIN CERTIFICATE-----\n${attackerCert.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
  trap = await startTrap({ keys: [attackerRsa.publicJwk, attackerEc.publicJwk] }, pem);
  stack = await startDevStack({
    env: { BROKER_CACHE: 'none' }, // every accepted request mints, so mints are countable
    policyText: (urls) => attackPolicy(urls, keys),
    auditTransport: audit,
    now: () => frozenMs ?? Date.now(),
  });
  await stack.broker;
});

afterAll(async () => {
  await stack?.close();
  await trap?.close();
});

afterEach(() => {
  frozenMs = undefined;
  // No case may pollute Object.prototype, whatever it carried.
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'repository')).toBe(false);
});

// ─── Token builders ──────────────────────────────────────────────────────────

const nowS = () => Math.floor((frozenMs ?? Date.now()) / 1000);
const demoKey = () => stack.issuer.signingKey();
const demoSigner = (): RawSigner => rs256Signer(demoKey().privateKey);
const demoHeader = (extra: object = {}) => ({ alg: 'RS256', typ: 'JWT', kid: demoKey().kid, ...extra });
const demoClaims = (extra: object = {}): Record<string, unknown> => ({
  iss: stack.issuer.issuer, sub: 'demo-workload', aud: stack.url, iat: nowS(), exp: nowS() + 300, repository: 'acme/demo', ...extra,
});
/** A demo-issuer token signed with the issuer's real key. */
const demoToken = (claims: object = {}, header: object = {}) => forgeJwsWith(demoHeader(header), demoClaims(claims), demoSigner());

const ecHeader = (extra: object = {}) => ({ alg: 'ES256', typ: 'JWT', kid: keys.ec.kid, ...extra });
const ecClaims = (extra: object = {}) => ({ iss: EC_ISSUER, sub: 'ec-workload', aud: stack.url, iat: nowS(), exp: nowS() + 300, ...extra });
const ecToken = (claims: object = {}, header: object = {}) => forgeJwsWith(ecHeader(header), ecClaims(claims), es256Signer(keys.ec.privateKey));

/** Claims JSON with some members replaced by raw JSON text (`1e400`, `NaN`, ...); `undefined` drops a member. */
function rawClaims(claims: Record<string, unknown>, raw: Record<string, string | undefined>): string {
  const members = Object.entries(claims)
    .filter(([name]) => !(name in raw))
    .map(([name, value]) => `${JSON.stringify(name)}:${JSON.stringify(value)}`);
  for (const [name, text] of Object.entries(raw)) if (text !== undefined) members.push(`${JSON.stringify(name)}:${text}`);
  return `{${members.join(',')}}`;
}

/** A demo token whose signature part is replaced (the signature must not matter: these never verify). */
const withSignature = (token: string, signature: Buffer | string) => `${token.split('.').slice(0, 2).join('.')}.${Buffer.isBuffer(signature) ? signature.toString('base64url') : signature}`;

// ─── Presenting and checking ─────────────────────────────────────────────────

const mints = () => stack.google.requests.filter((r) => r.endpoint === 'generateAccessToken').length;
const exchangeEntries = () => audit.entries().filter((e) => e.event === 'token_exchange');

/** Sends a form and checks the answer, the audit entry, the mint count and the trap. */
async function check(form: Record<string, string>, expected: Expected, presented?: string): Promise<Answer> {
  const before = { mints: mints(), entries: exchangeEntries().length, hits: trap.hits.length };
  const res = await post(stack.tokenUrl, form);
  await stack.audit.flush();

  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('pragma')).toBe('no-cache');
  const entries = exchangeEntries().slice(before.entries);
  expect(entries).toHaveLength(1);
  const entry = entries[0] ?? {};
  if (presented !== undefined && 'subjectTokenSha256' in entry) expect(entry.subjectTokenSha256).toBe(sha256Fingerprint(presented));
  expect(trap.hits.slice(before.hits)).toEqual([]);

  if (expected.issued) {
    expect({ status: res.status, error: res.body.error, description: res.body.error_description }).toEqual({ status: 200, error: undefined, description: undefined });
    expect(typeof res.body.access_token).toBe('string');
    expect(stack.google.lookup(String(res.body.access_token))).toBeDefined();
    expect(mints() - before.mints).toBe(1);
    expect(entry).toMatchObject({ outcome: 'issued' });
    return res;
  }
  expect({ status: res.status, error: res.body.error, reason: (entry.error as { reason?: string } | undefined)?.reason })
    .toEqual({ status: expected.status, error: expected.error, reason: expected.reason });
  expect(Object.keys(res.body).sort()).toEqual(['error', 'error_description']);
  expect(res.text).not.toContain('access_token');
  if (presented !== undefined && presented.length > 16) expect(res.text).not.toContain(presented);
  expect(mints() - before.mints).toBe(0);
  expect(entry).toMatchObject({ error: { code: expected.error, status: expected.status } });
  return res;
}

/** A subject token through an RFC 8693 exchange. */
async function exchange(token: string, expected: Expected): Promise<Answer> {
  return check(exchangeForm(token), expected, token);
}

/** An RFC 7523 assertion of the registered client (claims as an object, or as raw bytes). */
const assertionClaims = (extra: { jti?: string; aud?: unknown; iat?: number; exp?: number } = {}) => ({
  iss: CLIENT_ID, sub: CLIENT_ID, aud: stack.tokenUrl, jti: `jti-${Math.random().toString(36).slice(2)}`, iat: nowS(), exp: nowS() + 120, ...extra,
});
const assertion = (extra: Parameters<typeof assertionClaims>[0] = {}, payload: object | Buffer = assertionClaims(extra)) =>
  forgeJwsWith({ alg: 'ES256', typ: 'JWT', kid: keys.client.kid }, payload, es256Signer(keys.client.privateKey));
/** The jwt-bearer grant (RFC 7523 §2.1). */
const bearer = (jwt: string, expected: Expected) => check({ grant_type: JWT_BEARER, assertion: jwt }, expected);
/** private_key_jwt client authentication (RFC 7523 §2.2). */
const clientAuth = (jwt: string, expected: Expected) => check({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: jwt }, expected);

const runCases = (cases: Case[]) =>
  it.each(cases.map(([name, make, expected]) => [name, describeExpected(expected), make, expected] as const))(
    '%s → %s',
    async (_name, _label, make, expected) => {
      await exchange(await make(), expected);
    },
  );

function describeExpected(expected: Expected): string {
  return expected.issued ? '200 (issued)' : `${expected.status} ${expected.error} (${expected.reason})`;
}

// ─── The cases ───────────────────────────────────────────────────────────────

describe('JWT attacks through POST /token', () => {
  describe('controls: honest tokens pass the same harness', () => {
    runCases([
      ['an RS256 token of the demo issuer (keys by discovery)', () => demoToken(), ISSUED],
      ['an ES256 token of the inline P-256 key', () => ecToken(), ISSUED],
      ['an RS256 token of the same issuer\'s RSA key', () => forgeJwsWith({ alg: 'RS256', kid: keys.ecRsa.kid }, ecClaims(), rs256Signer(keys.ecRsa.privateKey)), ISSUED],
      ['a token of the other RSA issuer', () => forgeJwsWith({ alg: 'RS256', kid: keys.other.kid }, { ...ecClaims(), iss: OTHER_ISSUER, sub: 'other-workload' }, rs256Signer(keys.other.privateKey)), ISSUED],
      ['a token without nbf (optional)', () => demoToken(), ISSUED],
      ['a token from the demo issuer\'s own signer (jose)', () => stack.issuer.sign({ sub: 'demo-workload', aud: stack.url, repository: 'acme/demo' }), ISSUED],
    ]);
  });

  describe('alg "none" in every spelling (RFC 8725 §3.1)', () => {
    const spellings = ['none', 'None', 'NONE', 'nOnE'];
    runCases([
      ...spellings.map((alg): Case => [`alg "${alg}" with an empty signature`, () => forgeJwsWith({ alg, typ: 'JWT' }, demoClaims(), constantSigner(Buffer.alloc(0))), MALFORMED]),
      ...spellings.map((alg): Case => [`alg "${alg}" with a junk signature`, () => forgeJwsWith({ alg, typ: 'JWT' }, demoClaims(), constantSigner(Buffer.from('junk signature'))), ALG_NOT_ALLOWED]),
      ...spellings.map((alg): Case => [`alg "${alg}" with the real key's RS256 signature and kid`, () => forgeJwsWith({ alg, kid: demoKey().kid }, demoClaims(), demoSigner()), ALG_NOT_ALLOWED]),
      ['alg "none" on the ES256 issuer', () => forgeJwsWith({ alg: 'none' }, ecClaims(), constantSigner(Buffer.from('x'))), ALG_NOT_ALLOWED],
      ['alg "" (empty)', () => forgeJwsWith({ alg: '', kid: demoKey().kid }, demoClaims(), demoSigner()), ALG_NOT_ALLOWED],
      ['no alg at all', () => forgeJwsWith({ kid: demoKey().kid }, demoClaims(), demoSigner()), MALFORMED],
      ['alg null', () => forgeJwsWith({ alg: null, kid: demoKey().kid }, demoClaims(), demoSigner()), MALFORMED],
      ['alg ["RS256"] (an array)', () => forgeJwsWith({ alg: ['RS256'], kid: demoKey().kid }, demoClaims(), demoSigner()), MALFORMED],
      ['alg "rs256" (case changed)', () => forgeJwsWith({ alg: 'rs256', kid: demoKey().kid }, demoClaims(), demoSigner()), ALG_NOT_ALLOWED],
      ['alg "RS256 " (trailing space)', () => forgeJwsWith({ alg: 'RS256 ', kid: demoKey().kid }, demoClaims(), demoSigner()), ALG_NOT_ALLOWED],
    ]);
  });

  describe('algorithm confusion: HMAC keyed with the issuer\'s public key (RFC 8725 §2.1)', () => {
    const hmacs: HmacAlgorithm[] = ['HS256', 'HS384', 'HS512'];
    // The keys exist only once the stack is up: the table is built from names, the secrets at run time.
    const rsaNames = ['PEM SPKI', 'PEM SPKI without the final newline', 'DER SPKI', 'JWK JSON', 'JWK JSON as published (kid, alg, use)', 'PEM PKCS#1', 'DER PKCS#1', 'modulus bytes', 'modulus as base64url text'];
    const ecNames = ['PEM SPKI', 'PEM SPKI without the final newline', 'DER SPKI', 'JWK JSON', 'JWK JSON as published (kid, alg, use)', 'uncompressed point', 'compressed point', 'x coordinate'];
    const secret = (encodings: Record<string, string | Buffer>, name: string) => {
      const value = encodings[name];
      if (value === undefined) throw new Error(`no encoding ${name}`);
      return value;
    };
    const demoEncodings = () => publicKeyEncodings(demoKey().privateKey, { kid: demoKey().kid, alg: 'RS256', use: 'sig' });
    runCases([
      ...hmacs.flatMap((alg) => rsaNames.map((name): Case => [
        `${alg} keyed with the demo issuer's RSA key as ${name}`,
        () => forgeJwsWith({ alg, typ: 'JWT', kid: demoKey().kid }, demoClaims(), hmacSigner(alg, secret(demoEncodings(), name))),
        ALG_NOT_ALLOWED,
      ])),
      ...hmacs.flatMap((alg) => ecNames.map((name): Case => [
        `${alg} keyed with the P-256 key as ${name}`,
        () => forgeJwsWith({ alg, typ: 'JWT', kid: keys.ec.kid }, ecClaims(), hmacSigner(alg, secret(publicKeyEncodings(keys.ec.publicKey, { kid: keys.ec.kid, alg: 'ES256', use: 'sig' }), name))),
        ALG_NOT_ALLOWED,
      ])),
      ['HS256 keyed with the RSA key of the ES256+RS256 issuer', () => forgeJwsWith({ alg: 'HS256', kid: keys.ecRsa.kid }, ecClaims(), hmacSigner('HS256', secret(publicKeyEncodings(keys.ecRsa.publicKey), 'PEM SPKI'))), ALG_NOT_ALLOWED],
      ['HS256 with an empty secret', () => forgeJwsWith({ alg: 'HS256', kid: demoKey().kid }, demoClaims(), hmacSigner('HS256', '')), ALG_NOT_ALLOWED],
      ['PS256 signed with the real RSA key (not in the issuer\'s list)', () => forgeJwsWith({ alg: 'PS256', kid: demoKey().kid }, demoClaims(), demoSigner()), ALG_NOT_ALLOWED],
      ['ES256 presented to the RS256-only issuer', () => forgeJwsWith({ alg: 'ES256', kid: demoKey().kid }, demoClaims(), es256Signer(keys.attackerEc.privateKey)), ALG_NOT_ALLOWED],
      ['ES384 on the ES256 issuer', () => forgeJwsWith({ alg: 'ES384', kid: keys.ec.kid }, ecClaims(), es256Signer(keys.ec.privateKey)), ALG_NOT_ALLOWED],
      ['EdDSA on the ES256 issuer', () => forgeJwsWith({ alg: 'EdDSA', kid: keys.ec.kid }, ecClaims(), es256Signer(keys.ec.privateKey)), ALG_NOT_ALLOWED],
      ['RS256 naming the P-256 key (key type confusion)', () => forgeJwsWith({ alg: 'RS256', kid: keys.ec.kid }, ecClaims(), rs256Signer(keys.attackerRsa.privateKey)), UNKNOWN_KEY],
      ['ES256 naming the RSA key (key type confusion)', () => forgeJwsWith({ alg: 'ES256', kid: keys.ecRsa.kid }, ecClaims(), es256Signer(keys.attackerEc.privateKey)), UNKNOWN_KEY],
    ]);
  });

  describe('keys carried in the header: jwk and x5c (RFC 8725 §3.10)', () => {
    const attackerJwk = () => ({ ...keys.attackerRsa.publicJwk });
    const x5c = () => [attackerCert.toString('base64')];
    const attackerSigner = () => rs256Signer(keys.attackerRsa.privateKey);
    runCases([
      ['embedded jwk of the attacker, with its own kid', () => forgeJwsWith({ alg: 'RS256', kid: keys.attackerRsa.kid, jwk: attackerJwk() }, demoClaims(), attackerSigner()), UNKNOWN_KEY],
      ['embedded jwk of the attacker, with the issuer\'s kid', () => forgeJwsWith({ alg: 'RS256', kid: demoKey().kid, jwk: attackerJwk() }, demoClaims(), attackerSigner()), BAD_SIGNATURE],
      ['embedded jwk of the attacker, no kid', () => forgeJwsWith({ alg: 'RS256', jwk: attackerJwk() }, demoClaims(), attackerSigner()), BAD_SIGNATURE],
      ['embedded jwk without a kid member of its own', () => forgeJwsWith({ alg: 'RS256', jwk: { kty: 'RSA', n: attackerJwk().n, e: attackerJwk().e } }, demoClaims(), attackerSigner()), BAD_SIGNATURE],
      ['embedded P-256 jwk of the attacker on the ES256 issuer', () => forgeJwsWith({ alg: 'ES256', kid: keys.ec.kid, jwk: keys.attackerEc.publicJwk }, ecClaims(), es256Signer(keys.attackerEc.privateKey)), BAD_SIGNATURE],
      ['x5c: a self-signed certificate, no kid', () => forgeJwsWith({ alg: 'RS256', x5c: x5c() }, demoClaims(), attackerSigner()), BAD_SIGNATURE],
      ['x5c: a self-signed certificate with the issuer\'s kid', () => forgeJwsWith({ alg: 'RS256', kid: demoKey().kid, x5c: x5c() }, demoClaims(), attackerSigner()), BAD_SIGNATURE],
      ['x5c: a self-signed certificate with its own kid', () => forgeJwsWith({ alg: 'RS256', kid: keys.attackerRsa.kid, x5c: x5c() }, demoClaims(), attackerSigner()), UNKNOWN_KEY],
      ['x5c: a two-certificate chain and x5t#S256', () => forgeJwsWith({ alg: 'RS256', kid: demoKey().kid, x5c: [...x5c(), attackerEcCert.toString('base64')], 'x5t#S256': b64url('thumbprint') }, demoClaims(), attackerSigner()), BAD_SIGNATURE],
      ['x5c: a self-signed P-256 certificate on the ES256 issuer', () => forgeJwsWith({ alg: 'ES256', kid: keys.ec.kid, x5c: [attackerEcCert.toString('base64')] }, ecClaims(), es256Signer(keys.attackerEc.privateKey)), BAD_SIGNATURE],
    ]);
  });

  describe('jku and x5u: the broker never fetches from a header (RFC 8725 §3.10)', () => {
    const attackerSigner = () => rs256Signer(keys.attackerRsa.privateKey);
    runCases([
      ['jku to the attacker\'s JWKS, signed with the attacker\'s key and kid', () => forgeJwsWith({ alg: 'RS256', kid: keys.attackerRsa.kid, jku: `${trap.url}/jwks` }, demoClaims(), attackerSigner()), UNKNOWN_KEY],
      ['jku to the attacker\'s JWKS, with the issuer\'s kid', () => forgeJwsWith({ alg: 'RS256', kid: demoKey().kid, jku: `${trap.url}/jwks` }, demoClaims(), attackerSigner()), BAD_SIGNATURE],
      ['jku on the ES256 issuer', () => forgeJwsWith({ alg: 'ES256', kid: keys.attackerEc.kid, jku: `${trap.url}/jwks` }, ecClaims(), es256Signer(keys.attackerEc.privateKey)), UNKNOWN_KEY],
      ['x5u to the attacker\'s certificate', () => forgeJwsWith({ alg: 'RS256', kid: keys.attackerRsa.kid, x5u: `${trap.url}/cert.pem` }, demoClaims(), attackerSigner()), UNKNOWN_KEY],
      ['x5u with the issuer\'s kid', () => forgeJwsWith({ alg: 'RS256', kid: demoKey().kid, x5u: `${trap.url}/cert.pem` }, demoClaims(), attackerSigner()), BAD_SIGNATURE],
      ['jku, x5u, jwk and x5c all at once', () => forgeJwsWith({ alg: 'RS256', kid: demoKey().kid, jku: `${trap.url}/jwks`, x5u: `${trap.url}/cert.pem`, jwk: keys.attackerRsa.publicJwk, x5c: [attackerCert.toString('base64')] }, demoClaims(), attackerSigner()), BAD_SIGNATURE],
      ['iss naming the attacker\'s server (never a discovery URL)', () => forgeJwsWith({ alg: 'RS256', kid: keys.attackerRsa.kid }, demoClaims({ iss: trap.url }), attackerSigner()), UNTRUSTED_ISSUER],
      ['kid holding the attacker\'s JWKS URL', () => forgeJwsWith({ alg: 'RS256', kid: `${trap.url}/jwks` }, demoClaims(), attackerSigner()), UNKNOWN_KEY],
    ]);

    it('the attacker\'s server was never contacted', () => {
      expect(trap.hits).toEqual([]);
    });
  });

  describe('kid injection: kid is an opaque string (RFC 8725 §3.10)', () => {
    const signed = (kid: unknown) => () => forgeJwsWith({ alg: 'RS256', typ: 'JWT', kid }, demoClaims(), demoSigner());
    runCases([
      ['path traversal ../../dev/null', signed('../../dev/null'), UNKNOWN_KEY],
      ['path traversal to /etc/passwd', signed('../../../../../../../../etc/passwd'), UNKNOWN_KEY],
      ['SQL injection \' OR 1=1--', signed('\' OR 1=1--'), UNKNOWN_KEY],
      ['SQL injection with a UNION', signed('x\' UNION SELECT \'secret\' AS key--'), UNKNOWN_KEY],
      ['command injection', signed('$(touch /tmp/pwned)|`id`'), UNKNOWN_KEY],
      ['a very long kid (8 KiB)', signed('k'.repeat(8 * 1024)), UNKNOWN_KEY],
      ['a NUL byte after the real kid', () => signed(`${demoKey().kid}\u0000`)(), UNKNOWN_KEY],
      ['a NUL byte before the real kid', () => signed(`\u0000${demoKey().kid}`)(), UNKNOWN_KEY],
      ['only NUL bytes', signed('\u0000\u0000'), UNKNOWN_KEY],
      ['a URL', signed('https://keys.example.test/jwks.json'), UNKNOWN_KEY],
      ['the real kid with a trailing space', () => signed(`${demoKey().kid} `)(), UNKNOWN_KEY],
      ['the real kid upper-cased', () => signed(demoKey().kid.toUpperCase())(), UNKNOWN_KEY],
      ['a kid matching no key', signed('no-such-key'), UNKNOWN_KEY],
      ['kid as a number', signed(123), UNKNOWN_KEY],
      ['kid as an object', signed({ $ne: null }), UNKNOWN_KEY],
      ['kid as an array holding the real kid', () => signed([demoKey().kid])(), UNKNOWN_KEY],
      ['kid of another issuer\'s key, signed with that key', () => forgeJwsWith({ alg: 'RS256', kid: keys.other.kid }, demoClaims(), rs256Signer(keys.other.privateKey)), UNKNOWN_KEY],
      ['another issuer\'s iss with the demo issuer\'s kid and key', () => forgeJwsWith({ alg: 'RS256', kid: demoKey().kid }, { ...ecClaims(), iss: OTHER_ISSUER, sub: 'other-workload' }, demoSigner()), UNKNOWN_KEY],
      ['the demo issuer\'s iss with the RSA key of the ES256+RS256 issuer', () => forgeJwsWith({ alg: 'RS256', kid: keys.ecRsa.kid }, demoClaims(), rs256Signer(keys.ecRsa.privateKey)), UNKNOWN_KEY],
    ]);
  });

  describe('crit (RFC 7515 §4.1.11) and b64 (RFC 7797)', () => {
    const signed = (extra: object) => () => demoToken({}, extra);
    runCases([
      ['crit naming an unknown extension that is present', signed({ crit: ['urn:example:unknown'], 'urn:example:unknown': true }), MALFORMED],
      ['crit naming several unknown extensions', signed({ crit: ['x-a', 'x-b'], 'x-a': 1, 'x-b': 2 }), MALFORMED],
      ['crit empty', signed({ crit: [] }), MALFORMED],
      ['crit naming a parameter that is not present', signed({ crit: ['urn:example:absent'] }), MALFORMED],
      ['crit naming a registered parameter (alg)', signed({ crit: ['alg'] }), MALFORMED],
      ['crit naming a claim (exp)', signed({ crit: ['exp'] }), MALFORMED],
      ['crit as a string, not a list', signed({ crit: 'b64', b64: false }), MALFORMED],
      ['crit holding an empty name', signed({ crit: [''] }), MALFORMED],
      ['crit holding a non-string', signed({ crit: [1] }), MALFORMED],
      ['b64 false with crit, payload as base64url text', signed({ b64: false, crit: ['b64'] }), MALFORMED],
      ['b64 false with crit, payload as raw JSON', () => {
        const header = b64url(JSON.stringify(demoHeader({ b64: false, crit: ['b64'] })));
        const payload = JSON.stringify(demoClaims());
        return `${header}.${payload}.${demoSigner()(`${header}.${payload}`).toString('base64url')}`;
      }, MALFORMED],
      ['b64 false with crit, detached (empty) payload', () => {
        const header = b64url(JSON.stringify(demoHeader({ b64: false, crit: ['b64'] })));
        return `${header}..${demoSigner()(`${header}.${JSON.stringify(demoClaims())}`).toString('base64url')}`;
      }, MALFORMED],
    ]);
  });

  describe('ECDSA signatures that must never verify (CVE-2022-21449 "psychic signatures")', () => {
    const valid = () => Buffer.from(ecToken().split('.')[2] ?? '', 'base64url');
    const n = P256_ORDER;
    const signedWith = (signature: () => Buffer) => () => withSignature(ecToken(), signature());
    runCases([
      ['r = 0 and s = 0 (all-zero, 64 bytes)', signedWith(() => Buffer.alloc(64)), BAD_SIGNATURE],
      ['r = 0, s from a valid signature', signedWith(() => ecdsaSignature(0n, ecdsaParts(valid()).s)), BAD_SIGNATURE],
      ['r from a valid signature, s = 0', signedWith(() => ecdsaSignature(ecdsaParts(valid()).r, 0n)), BAD_SIGNATURE],
      ['r = n, s = n', signedWith(() => ecdsaSignature(n, n)), BAD_SIGNATURE],
      ['r = n, s from a valid signature', signedWith(() => ecdsaSignature(n, ecdsaParts(valid()).s)), BAD_SIGNATURE],
      ['r from a valid signature, s = n', signedWith(() => ecdsaSignature(ecdsaParts(valid()).r, n)), BAD_SIGNATURE],
      ['r = r + n (same value mod n)', signedWith(() => { const { r, s } = ecdsaParts(valid()); return r + n < 2n ** 256n ? ecdsaSignature(r + n, s) : ecdsaSignature(2n ** 256n - 1n, s); }), BAD_SIGNATURE],
      ['r = 2^256 - 1, s = 2^256 - 1', signedWith(() => ecdsaSignature(2n ** 256n - 1n, 2n ** 256n - 1n)), BAD_SIGNATURE],
      ['r = 1, s = 1', signedWith(() => ecdsaSignature(1n, 1n)), BAD_SIGNATURE],
      ['all-zero, 1 byte', signedWith(() => Buffer.alloc(1)), BAD_SIGNATURE],
      ['a valid signature truncated to 63 bytes', signedWith(() => valid().subarray(0, 63)), BAD_SIGNATURE],
      ['a valid signature with a byte appended (65 bytes)', signedWith(() => Buffer.concat([valid(), Buffer.from([0])])), BAD_SIGNATURE],
      ['a valid signature zero-padded to 96 bytes (ES384 size)', signedWith(() => { const { r, s } = ecdsaParts(valid()); return ecdsaSignature(r, s, 48); }), BAD_SIGNATURE],
      ['a valid signature in DER (ASN.1) form instead of r ‖ s', () => {
        const { r, s } = ecdsaParts(valid());
        const int = (v: bigint) => { let b = Buffer.from(v.toString(16).padStart(64, '0'), 'hex'); if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]); return Buffer.concat([Buffer.from([2, b.length]), b]); };
        const body = Buffer.concat([int(r), int(s)]);
        return withSignature(ecToken(), Buffer.concat([Buffer.from([0x30, body.length]), body]));
      }, BAD_SIGNATURE],
      ['a valid signature of another token', () => withSignature(ecToken({ sub: 'someone-else' }), valid()), BAD_SIGNATURE],
      ['the P-256 key\'s signature swapped (s ‖ r)', signedWith(() => { const { r, s } = ecdsaParts(valid()); return ecdsaSignature(s, r); }), BAD_SIGNATURE],
    ]);
  });

  describe('duplicate JSON member names (RFC 7515 §5.2)', () => {
    const sign = (header: string, payload: string) => () => forgeJwsWith(header, payload, demoSigner());
    const header = () => JSON.stringify(demoHeader());
    const payload = () => JSON.stringify(demoClaims());
    runCases([
      ['header repeating alg (none first)', () => sign(`{"alg":"none",${header().slice(1)}`, payload())(), DUPLICATE_KEY],
      ['header repeating alg (none last)', () => sign(`${header().slice(0, -1)},"alg":"none"}`, payload())(), DUPLICATE_KEY],
      ['header repeating kid', () => sign(`{"kid":"attacker",${header().slice(1)}`, payload())(), DUPLICATE_KEY],
      ['payload repeating sub', () => sign(header(), `{"sub":"admin",${payload().slice(1)}`)(), DUPLICATE_KEY],
      ['payload repeating aud', () => sign(header(), `{"aud":"https://elsewhere.example.test",${payload().slice(1)}`)(), DUPLICATE_KEY],
      ['payload repeating exp', () => sign(header(), `${payload().slice(0, -1)},"exp":9999999999}`)(), DUPLICATE_KEY],
      ['payload repeating sub through an escape (\\u0073ub)', () => sign(header(), `{"\\u0073ub":"admin",${payload().slice(1)}`)(), DUPLICATE_KEY],
      ['a nested object repeating a member', () => sign(header(), `${payload().slice(0, -1)},"ctx":{"role":"user","role":"admin"}}`)(), DUPLICATE_KEY],
    ]);
  });

  describe('prototype keys: __proto__, constructor, prototype', () => {
    const sign = (payloadText: string) => () => forgeJwsWith(demoHeader(), payloadText, demoSigner());
    const without = (name: string, extra: string | (() => string)) => () => {
      const claims = demoClaims();
      delete claims[name];
      return sign(`${JSON.stringify(claims).slice(0, -1)},${typeof extra === 'string' ? extra : extra()}}`)();
    };
    runCases([
      ['"__proto__" supplying the repository the rule needs', without('repository', '"__proto__":{"repository":"acme/demo","polluted":"yes"}'), NO_RULE],
      ['"constructor.prototype" supplying the repository', without('repository', '"constructor":{"prototype":{"repository":"acme/demo","polluted":"yes"}}'), NO_RULE],
      ['"prototype" supplying the repository', without('repository', '"prototype":{"repository":"acme/demo"}'), NO_RULE],
      ['"__proto__" supplying sub', without('sub', '"__proto__":{"sub":"demo-workload"}'), MISSING_CLAIM],
      ['"__proto__" supplying exp', without('exp', '"__proto__":{"exp":9999999999}'), MISSING_CLAIM],
      ['"__proto__" supplying aud', without('aud', () => `"__proto__":{"aud":${JSON.stringify(stack.url)}}`), MISSING_CLAIM],
      ['a header "__proto__" supplying alg', () => forgeJwsWith(`{"__proto__":{"alg":"RS256"},"kid":${JSON.stringify(demoKey().kid)}}`, demoClaims(), demoSigner()), MALFORMED],
      ['a "__proto__" claim beside honest claims is only a claim', () => sign(`${JSON.stringify(demoClaims()).slice(0, -1)},"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}`)(), ISSUED],
    ]);

    it('left Object.prototype untouched', () => {
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(({} as Record<string, unknown>).repository).toBeUndefined();
    });
  });

  describe('encodings: invalid UTF-8, BOM, UTF-16 (RFC 7515 §5.2, RFC 8259 §8.1)', () => {
    const claimsBytes = (json: string, splice: { at: string; bytes: number[] }) => {
      const [before = '', after = ''] = json.split(splice.at);
      return Buffer.concat([Buffer.from(before), Buffer.from(splice.at), Buffer.from(splice.bytes), Buffer.from(after)]);
    };
    const payloadWith = (bytes: number[]) => () => forgeJwsWith(demoHeader(), claimsBytes(JSON.stringify(demoClaims()), { at: 'demo-workload', bytes }), demoSigner());
    const headerWith = (bytes: number[]) => () => forgeJwsWith(claimsBytes(JSON.stringify(demoHeader({ typ: 'JWT' })), { at: 'JWT', bytes }), demoClaims(), demoSigner());
    const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
    const utf16 = (text: string, bom: boolean) => Buffer.concat([bom ? Buffer.from([0xff, 0xfe]) : Buffer.alloc(0), Buffer.from(text, 'utf16le')]);
    runCases([
      ['payload: a lone 0xFF byte in sub', payloadWith([0xff]), MALFORMED],
      ['payload: a truncated sequence (0xE2 0x82)', payloadWith([0xe2, 0x82]), MALFORMED],
      ['payload: an overlong "/" (0xC0 0xAF)', payloadWith([0xc0, 0xaf]), MALFORMED],
      ['payload: an encoded surrogate (0xED 0xA0 0x80)', payloadWith([0xed, 0xa0, 0x80]), MALFORMED],
      ['payload: a code point above U+10FFFF (0xF4 0x90 0x80 0x80)', payloadWith([0xf4, 0x90, 0x80, 0x80]), MALFORMED],
      ['header: a lone 0xFF byte in typ', headerWith([0xff]), MALFORMED],
      ['header: an overlong sequence in typ', headerWith([0xc0, 0xaf]), MALFORMED],
      ['payload: a UTF-8 byte order mark', () => forgeJwsWith(demoHeader(), Buffer.concat([BOM, Buffer.from(JSON.stringify(demoClaims()))]), demoSigner()), MALFORMED],
      ['header: a UTF-8 byte order mark', () => forgeJwsWith(Buffer.concat([BOM, Buffer.from(JSON.stringify(demoHeader()))]), demoClaims(), demoSigner()), MALFORMED],
      ['payload: UTF-16LE with a BOM', () => forgeJwsWith(demoHeader(), utf16(JSON.stringify(demoClaims()), true), demoSigner()), MALFORMED],
      ['payload: UTF-16LE without a BOM', () => forgeJwsWith(demoHeader(), utf16(JSON.stringify(demoClaims()), false), demoSigner()), MALFORMED],
      ['header: UTF-16LE with a BOM', () => forgeJwsWith(utf16(JSON.stringify(demoHeader()), true), demoClaims(), demoSigner()), MALFORMED],
      ['payload: UTF-16BE', () => forgeJwsWith(demoHeader(), Buffer.from(JSON.stringify(demoClaims()), 'utf16le').swap16(), demoSigner()), MALFORMED],
    ]);

    it('a client assertion whose payload starts with a byte order mark → 400 invalid_grant (malformed_token)', async () => {
      await bearer(assertion({}, Buffer.concat([BOM, Buffer.from(JSON.stringify(assertionClaims()))])), MALFORMED);
    });

    it('a client assertion with invalid UTF-8 in its payload → 401 invalid_client (malformed_token)', async () => {
      const text = JSON.stringify(assertionClaims());
      const at = text.indexOf(CLIENT_ID) + CLIENT_ID.length;
      const payload = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([0xff]), Buffer.from(text.slice(at))]);
      await clientAuth(assertion({}, payload), { status: 401, error: 'invalid_client', reason: 'malformed_token' });
    });
  });

  describe('size and shape: token and body caps, claim counts, nesting', () => {
    /** An honest demo token of exactly `length` characters (a filler claim takes up the rest). */
    const tokenOfLength = (length: number) => {
      for (const typ of [undefined, 'JWT', 'jwt+x']) {
        const header = typ === undefined ? { alg: 'RS256', kid: demoKey().kid } : { alg: 'RS256', kid: demoKey().kid, typ };
        for (let filler = Math.floor(length * 0.74) - 600; filler < length; filler++) {
          const token = forgeJwsWith(header, demoClaims({ filler: 'x'.repeat(filler) }), demoSigner());
          if (token.length === length) return token;
          if (token.length > length) break;
        }
      }
      throw new Error(`no token of exactly ${length} characters`);
    };
    const nestedArrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const nestedObjects = (depth: number) => `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`;
    const withRaw = (name: string, text: string) => () => forgeJwsWith(demoHeader(), rawClaims(demoClaims(), { [name]: text }), demoSigner());
    const manyClaims = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`c${i}`, 0]));
    runCases([
      ['exactly 16 KiB (the cap itself)', () => tokenOfLength(16 * 1024), ISSUED],
      ['16 KiB + 1 byte', () => tokenOfLength(16 * 1024 + 1), TOKEN_TOO_LARGE],
      ['60 KiB: over the token cap, within the body cap', () => demoToken({ filler: 'x'.repeat(45 * 1024) }), TOKEN_TOO_LARGE],
      ['10 000 array values (over the token cap)', withRaw('values', `[${Array(10_000).fill('0').join(',')}]`), TOKEN_TOO_LARGE],
      ['10 000 claims (over the body cap)', () => demoToken(manyClaims(10_000)), BODY_TOO_LARGE],
      ['100 KiB (over the body cap)', () => demoToken({ filler: 'x'.repeat(100 * 1024) }), BODY_TOO_LARGE],
      ['5 000 array values within the token cap', withRaw('values', `[${Array(5_000).fill('0').join(',')}]`), TOO_MANY_CLAIMS],
      ['1 000 claims each holding an array of one (2 000+ values)', () => demoToken(Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [i.toString(36), [0]]))), TOO_MANY_CLAIMS],
      ['arrays nested 9 deep', withRaw('deep', nestedArrays(9)), TOO_MANY_CLAIMS],
      ['arrays nested 5 000 deep', withRaw('deep', nestedArrays(5_000)), TOO_MANY_CLAIMS],
      ['objects nested 1 500 deep', withRaw('deep', nestedObjects(1_500)), TOO_MANY_CLAIMS],
      ['a payload that is a JSON array', () => forgeJwsWith(demoHeader(), '[1,2,3]', demoSigner()), MALFORMED],
      ['a payload that is a JSON string', () => forgeJwsWith(demoHeader(), '"claims"', demoSigner()), MALFORMED],
      ['a payload that is null', () => forgeJwsWith(demoHeader(), 'null', demoSigner()), MALFORMED],
    ]);
  });

  describe('NumericDate edges of exp, iat and nbf (RFC 7519 §2, §4.1.4-6)', () => {
    const withRaw = (raw: Record<string, string | undefined>) => () => forgeJwsWith(demoHeader(), rawClaims(demoClaims(), raw), demoSigner());
    const n = () => nowS();
    /** `seconds` written as d.ddddddddd…e9, optionally with extra fraction digits appended. */
    const exponentForm = (seconds: number, extraDigits = '') => {
      const digits = String(seconds);
      return `${digits.slice(0, 1)}.${digits.slice(1)}${extraDigits}e${digits.length - 1}`;
    };
    const hostile: Array<[label: string, text: () => string, exp: Expected, iat: Expected, nbf: Expected]> = [
      ['a string', () => JSON.stringify(String(n())), CLAIM_TYPE, CLAIM_TYPE, CLAIM_TYPE],
      // Ten seconds ago: inside the clock tolerance for exp, so only the type can refuse it.
      ['a float', () => `${n() - 10}.5`, CLAIM_TYPE, CLAIM_TYPE, CLAIM_TYPE],
      ['negative', () => '-1', EXPIRED, TOO_OLD, CLAIM_TYPE],
      ['0', () => '0', EXPIRED, TOO_OLD, CLAIM_TYPE],
      ['1e400 (Infinity after parsing)', () => '1e400', CLAIM_TYPE, ISSUED_IN_FUTURE, NOT_YET_VALID],
      ['-1e400 (-Infinity after parsing)', () => '-1e400', EXPIRED, TOO_OLD, CLAIM_TYPE],
      ['2^63', () => '9223372036854775808', CLAIM_TYPE, ISSUED_IN_FUTURE, NOT_YET_VALID],
      ['2^53 + 2 (beyond safe integers)', () => '9007199254740994', CLAIM_TYPE, ISSUED_IN_FUTURE, NOT_YET_VALID],
      ['NaN (not JSON)', () => 'NaN', MALFORMED, MALFORMED, MALFORMED],
      ['Infinity (not JSON)', () => 'Infinity', MALFORMED, MALFORMED, MALFORMED],
      ['null', () => 'null', CLAIM_TYPE, CLAIM_TYPE, CLAIM_TYPE],
      ['true', () => 'true', CLAIM_TYPE, CLAIM_TYPE, CLAIM_TYPE],
      ['a list', () => `[${n()}]`, CLAIM_TYPE, CLAIM_TYPE, CLAIM_TYPE],
      ['an object', () => `{"$date":${n()}}`, CLAIM_TYPE, CLAIM_TYPE, CLAIM_TYPE],
      ['1.7e9 (exponent form, in 2023)', () => '1.7e9', EXPIRED, TOO_OLD, ISSUED],
      ['an exponent form with a fraction', () => exponentForm(n() - 10, '0005'), CLAIM_TYPE, CLAIM_TYPE, CLAIM_TYPE],
    ];
    runCases([
      ['exp missing', withRaw({ exp: undefined }), MISSING_CLAIM],
      ['iat missing', withRaw({ iat: undefined }), MISSING_CLAIM],
      ...hostile.flatMap(([label, text, exp, iat, nbf]): Case[] => [
        [`exp ${label}`, () => withRaw({ exp: text() })(), exp],
        [`iat ${label}`, () => withRaw({ iat: text() })(), iat],
        [`nbf ${label}`, () => withRaw({ nbf: text() })(), nbf],
      ]),
      ['exp in exponent form, the same integer as an honest exp', () => withRaw({ exp: exponentForm(n() + 300) })(), ISSUED],
      ['exp 10 years ahead', () => demoToken({ exp: n() + 10 * 365 * 86400 }), VALIDITY_TOO_LONG],
      ['exp − iat one second over the 24 h maximum', () => demoToken({ exp: n() + 86400 + 1 }), VALIDITY_TOO_LONG],
      ['iat 10 minutes in the future', () => demoToken({ iat: n() + 600, exp: n() + 900 }), ISSUED_IN_FUTURE],
      ['nbf 10 minutes in the future', () => demoToken({ nbf: n() + 600 }), NOT_YET_VALID],
      ['exp before iat', () => demoToken({ iat: n(), exp: n() - 60 }), EXPIRED],
    ]);
  });

  describe('audience and issuer near-misses (RFC 8725 §3.8, §3.9)', () => {
    const aud = (value: unknown) => () => demoToken({ aud: value });
    const iss = (value: unknown) => () => demoToken({ iss: value });
    const lookalike = (url: string) => url.replace('127.0.0.1', '127.0.0.\u0661'); // ARABIC-INDIC DIGIT ONE
    runCases([
      ['aud with a trailing slash', () => aud(`${stack.url}/`)(), AUDIENCE_MISMATCH],
      ['aud upper-cased', () => aud(stack.url.toUpperCase())(), AUDIENCE_MISMATCH],
      ['aud https instead of http', () => aud(stack.url.replace('http:', 'https:'))(), AUDIENCE_MISMATCH],
      ['aud with leading whitespace', () => aud(` ${stack.url}`)(), AUDIENCE_MISMATCH],
      ['aud with a trailing newline', () => aud(`${stack.url}\n`)(), AUDIENCE_MISMATCH],
      ['aud with a zero-width space', () => aud(`${stack.url}\u200b`)(), AUDIENCE_MISMATCH],
      ['aud with a lookalike digit', () => aud(lookalike(stack.url))(), AUDIENCE_MISMATCH],
      ['aud with a fullwidth dot', () => aud(stack.url.replace('127.0', '127\uff0e0'))(), AUDIENCE_MISMATCH],
      ['aud naming the token path', () => aud(`${stack.url}/token`)(), AUDIENCE_MISMATCH],
      ['aud [] (empty list)', aud([]), AUDIENCE_MISMATCH],
      ['aud [[right]] (nested list)', () => aud([[stack.url]])(), AUDIENCE_MISMATCH],
      ['aud {"0": right} (an object)', () => aud({ 0: stack.url })(), AUDIENCE_MISMATCH],
      ['aud null', aud(null), AUDIENCE_MISMATCH],
      ['aud missing', () => forgeJwsWith(demoHeader(), rawClaims(demoClaims(), { aud: undefined }), demoSigner()), MISSING_CLAIM],
      ['aud [right, 123]', () => aud([stack.url, 123])(), CLAIM_TYPE],
      ['aud [right, ""]', () => aud([stack.url, ''])(), CLAIM_TYPE],
      // RFC 7519 §4.1.3: a list names every intended recipient; the broker must be one of them.
      // With several, OIDC Core §2 asks for `azp`, the one the token was issued to.
      ['aud [right] where a single value is usual', () => aud([stack.url])(), ISSUED],
      ['aud [right, another recipient] without azp', () => aud([stack.url, 'https://elsewhere.example.test'])(), AUTHORIZED_PARTY],
      ['aud [another recipient, right] without azp', () => aud(['https://elsewhere.example.test', stack.url])(), AUTHORIZED_PARTY],
      ['aud [right, another recipient], azp the other', () => demoToken({ aud: [stack.url, 'https://elsewhere.example.test'], azp: 'https://elsewhere.example.test' }), AUTHORIZED_PARTY],
      ['aud [another recipient, right], azp right', () => demoToken({ aud: ['https://elsewhere.example.test', stack.url], azp: stack.url }), ISSUED],
      ['iss with a trailing slash', () => iss(`${stack.issuer.issuer}/`)(), UNTRUSTED_ISSUER],
      ['iss upper-cased', () => iss(stack.issuer.issuer.toUpperCase())(), UNTRUSTED_ISSUER],
      ['iss https instead of http', () => iss(stack.issuer.issuer.replace('http:', 'https:'))(), UNTRUSTED_ISSUER],
      ['iss with leading whitespace', () => iss(` ${stack.issuer.issuer}`)(), UNTRUSTED_ISSUER],
      ['iss with a trailing tab', () => iss(`${stack.issuer.issuer}\t`)(), UNTRUSTED_ISSUER],
      ['iss with a lookalike digit', () => iss(lookalike(stack.issuer.issuer))(), UNTRUSTED_ISSUER],
      ['iss as a list [right]', () => iss([stack.issuer.issuer])(), UNTRUSTED_ISSUER],
      ['iss null', iss(null), UNTRUSTED_ISSUER],
      ['iss missing', () => forgeJwsWith(demoHeader(), rawClaims(demoClaims(), { iss: undefined }), demoSigner()), UNTRUSTED_ISSUER],
      ['iss of the ES256 issuer, signed by the demo issuer', () => forgeJwsWith(demoHeader(), demoClaims({ iss: EC_ISSUER }), demoSigner()), UNKNOWN_KEY],
    ]);
  });

  describe('expiry at the clock-tolerance boundary (broker clock frozen)', () => {
    /** Freezes the broker's clock half-way through a second and builds the token against it. */
    const at = (make: (t: number) => string) => () => {
      const t = Math.floor(Date.now() / 1000);
      frozenMs = t * 1000 + 500;
      return make(t);
    };
    const times = (t: number, claims: Record<string, number>) => demoToken({ iat: t - 120, ...claims });
    runCases([
      ['just expired (exp = now − 1), within the 30 s tolerance', at((t) => times(t, { exp: t - 1 })), ISSUED],
      ['exp = now − 29', at((t) => times(t, { exp: t - (TOLERANCE - 1) })), ISSUED],
      ['exp = now − 30, exactly at the tolerance (exp must be later than now − 30)', at((t) => times(t, { exp: t - TOLERANCE })), EXPIRED],
      ['exp = now − 31, beyond the tolerance', at((t) => times(t, { exp: t - TOLERANCE - 1 })), EXPIRED],
      ['expired an hour ago', at((t) => times(t, { iat: t - 3700, exp: t - 3600 })), EXPIRED],
      ['iat = now + 30, at the tolerance', at((t) => times(t, { iat: t + TOLERANCE, exp: t + 300 })), ISSUED],
      ['iat = now + 31, beyond the tolerance', at((t) => times(t, { iat: t + TOLERANCE + 1, exp: t + 300 })), ISSUED_IN_FUTURE],
      ['nbf = now + 30, at the tolerance', at((t) => times(t, { nbf: t + TOLERANCE, exp: t + 300 })), ISSUED],
      ['nbf = now + 31, beyond the tolerance', at((t) => times(t, { nbf: t + TOLERANCE + 1, exp: t + 300 })), NOT_YET_VALID],
      ['iat = now − 3630, the maximum age plus the tolerance', at((t) => times(t, { iat: t - 3600 - TOLERANCE, exp: t + 300 })), ISSUED],
      ['iat = now − 3631, one second older', at((t) => times(t, { iat: t - 3600 - TOLERANCE - 1, exp: t + 300 })), TOO_OLD],
    ]);
  });

  describe('replay', () => {
    // Subject tokens are bearer credentials reusable until they expire, as at Google STS (an
    // external_account client re-reads the same token file); single use is for RFC 7523
    // assertions, whose jti the broker records (docs/clients.md).
    it('a subject token presented twice is accepted both times (no single use for subject tokens)', async () => {
      const token = demoToken();
      await exchange(token, ISSUED);
      await exchange(token, ISSUED);
    });

    const REPLAYED_GRANT = grant('assertion_replayed');
    const REPLAYED_CLIENT = { status: 401, error: 'invalid_client', reason: 'assertion_replayed' } satisfies Expected;

    it('a jwt-bearer assertion replayed verbatim → 400 invalid_grant', async () => {
      const jwt = assertion();
      await bearer(jwt, ISSUED);
      await bearer(jwt, REPLAYED_GRANT);
    });

    it('a client assertion (private_key_jwt) replayed verbatim → 401 invalid_client', async () => {
      const jwt = assertion();
      await clientAuth(jwt, ISSUED);
      await clientAuth(jwt, REPLAYED_CLIENT);
    });

    it('a replay across the two ways of presenting an assertion → refused', async () => {
      const jwt = assertion();
      await clientAuth(jwt, ISSUED);
      await bearer(jwt, REPLAYED_GRANT);
    });

    it('the same jti re-signed (a new signature, new times) → refused', async () => {
      const jti = `jti-resigned-${Math.random().toString(36).slice(2)}`;
      await bearer(assertion({ jti }), ISSUED);
      await bearer(assertion({ jti, iat: nowS() - 5, exp: nowS() + 60 }), REPLAYED_GRANT);
    });

    it('the same assertion with its ECDSA signature malleated (s → n − s) → refused', async () => {
      const jwt = assertion();
      const { r, s } = ecdsaParts(Buffer.from(jwt.split('.')[2] ?? '', 'base64url'));
      const malleated = withSignature(jwt, ecdsaSignature(r, P256_ORDER - s));
      expect(malleated).not.toBe(jwt);
      await bearer(jwt, ISSUED);
      await bearer(malleated, REPLAYED_GRANT);
    });

    it('a refused assertion does not use up its jti', async () => {
      const jti = `jti-refused-first-${Math.random().toString(36).slice(2)}`;
      await bearer(assertion({ jti, aud: 'https://elsewhere.example.test/token' }), grant('audience_mismatch'));
      await bearer(assertion({ jti }), ISSUED);
      await bearer(assertion({ jti }), REPLAYED_GRANT);
    });

    it('an expired assertion → refused, beyond the tolerance', async () => {
      await bearer(assertion({ iat: nowS() - 200, exp: nowS() - 31 }), EXPIRED);
    });
  });
});
