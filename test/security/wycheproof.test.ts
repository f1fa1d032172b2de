/**
 * Project Wycheproof JWS vectors through the broker's own compact checks: the format
 * pre-check (`checkCompactJws`) and jose's compact verification restricted to the broker's
 * algorithm policy (asymmetric algorithms only). Every `invalid` vector must be refused; every
 * `valid` one must be accepted, except the documented, intentional deviations below.
 * The vectors are shared data in ../shared/vectors/wycheproof/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compactVerify, createLocalJWKSet, type JWK } from 'jose';
import { checkCompactJws } from '../../shared/identity/compact-jws';
import { acceptKeySet } from '../../shared/identity/key-acceptance';
import { SIGNING_ALGORITHM_NAMES as ASYMMETRIC_ALGORITHMS } from '../../shared/identity/signing-algorithms';

const VECTORS = join(__dirname, '..', '..', '..', 'shared', 'vectors', 'wycheproof');
const FILE = join(VECTORS, 'json_web_signature_test.json');
const KEY_FILE = join(VECTORS, 'json_web_key_test.json');

interface Vector { tcId: number; comment: string; jws: string; result: 'valid' | 'invalid' | 'acceptable'; flags: string[] }
interface Group { comment?: string; public?: JWK; private?: JWK; tests: Vector[] }

/**
 * `valid` vectors the broker refuses on purpose:
 *  - every HMAC (HS*) vector: the broker never accepts symmetric algorithms (RFC 8725 §3.2;
 *    an HMAC key would be a secret shared with every verifier);
 *  - tcId 372, 373: a `?` inside a segment; the broker's strict compact format refuses it
 *    (RFC 8725bis §3.14: one token, one string form);
 *  - tcId 346, 347, 350, 351: the key's `alg` differs from the token's; jose enforces the JWK
 *    `alg` (RFC 8725 §3.1), as it should;
 *  - every `emptyPayload` vector: a JWT always carries a claims payload, so the format check
 *    requires three non-empty segments.
 */
const INTENTIONAL = new Set([372, 373, 346, 347, 350, 351]);
const intentional = (vector: Vector) => INTENTIONAL.has(vector.tcId) || vector.comment === 'emptyPayload';

async function brokerAccepts(jws: string, key: JWK | undefined): Promise<boolean> {
  return key !== undefined && brokerAcceptsWithKeys(jws, [key]);
}

/**
 * As an issuer's token meets its keys: the compact pre-check, key acceptance over the whole set
 * (weak keys left out), then jose against a JWKS of the accepted keys, which matches the token
 * against each key's kty, alg, use and key_ops.
 */
async function brokerAcceptsWithKeys(jws: string, keys: unknown[]): Promise<boolean> {
  try {
    const header = checkCompactJws(jws, 16 * 1024);
    if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(String(header.alg))) return false;
    const accepted = acceptKeySet({ keys }, { algorithms: ASYMMETRIC_ALGORITHMS }).keys;
    await compactVerify(jws, createLocalJWKSet({ keys: accepted as JWK[] }), { algorithms: [...ASYMMETRIC_ALGORITHMS] });
    return true;
  } catch {
    return false;
  }
}

const present = existsSync(FILE);

it('has the shared Wycheproof vectors', () => {
  if (!present) throw new Error(`shared test data missing: ${FILE} (the repository expects ../shared beside it)`);
});

(present ? describe : describe.skip)('JSON Web Signature vectors', () => {
  const data = present ? (JSON.parse(readFileSync(FILE, 'utf8')) as { testGroups: Group[] }) : { testGroups: [] };
  const cases = data.testGroups.flatMap((group) =>
    group.tests.map((vector) => ({ group, vector, symmetric: group.public === undefined })),
  );

  it('covers the whole file', () => {
    expect(cases.length).toBe(401);
  });

  it.each(cases.filter((c) => c.vector.result === 'invalid').map((c) => [c.vector.tcId, c.vector.comment, c] as const))(
    'refuses invalid tcId %i (%s)',
    async (_id, _comment, c) => {
      expect(await brokerAccepts(c.vector.jws, c.group.public)).toBe(false);
    },
  );

  const valid = cases.filter((c) => c.vector.result === 'valid');
  it.each(valid.filter((c) => !c.symmetric && !intentional(c.vector)).map((c) => [c.vector.tcId, c.vector.comment, c] as const))(
    'accepts valid tcId %i (%s)',
    async (_id, _comment, c) => {
      expect(await brokerAccepts(c.vector.jws, c.group.public)).toBe(true);
    },
  );

  it.each(valid.filter((c) => c.symmetric || intentional(c.vector)).map((c) => [c.vector.tcId, c.vector.comment, c] as const))(
    'refuses valid tcId %i (%s) on purpose (see INTENTIONAL)',
    async (_id, _comment, c) => {
      expect(await brokerAccepts(c.vector.jws, c.group.public ?? c.group.private)).toBe(false);
    },
  );
});

/**
 * Wycheproof's JSON Web Key vectors: key sets with an RSA exponent of 1, a 1024-bit modulus, a
 * ROCA-vulnerable modulus, an EC point off its curve, a curve or `alg` that does not fit, an
 * encryption key, symmetric and mixed sets, duplicate `kid`s. Every `invalid` vector must be
 * refused; the `valid` ones are accepted unless they need a symmetric key (never, here).
 */
const keyVectorsPresent = existsSync(KEY_FILE);
(keyVectorsPresent ? describe : describe.skip)('JSON Web Key vectors', () => {
  interface KeyGroup { comment: string; public?: { keys: unknown[] }; private?: { keys: unknown[] }; tests: Vector[] }
  const data = keyVectorsPresent ? (JSON.parse(readFileSync(KEY_FILE, 'utf8')) as { testGroups: KeyGroup[] }) : { testGroups: [] };
  const cases = data.testGroups.flatMap((group) => group.tests.map((vector) => ({ group, vector })));
  const symmetric = (group: KeyGroup) => group.public === undefined;

  it('covers the whole file', () => {
    expect(cases.length).toBe(26);
  });

  it.each(cases.filter((c) => c.vector.result === 'invalid').map((c) => [c.vector.tcId, `${c.group.comment}: ${c.vector.comment}`, c] as const))(
    'refuses invalid tcId %i (%s)',
    async (_id, _comment, c) => {
      expect(await brokerAcceptsWithKeys(c.vector.jws, (c.group.public ?? c.group.private)?.keys ?? [])).toBe(false);
    },
  );

  it.each(cases.filter((c) => c.vector.result === 'valid' && !symmetric(c.group)).map((c) => [c.vector.tcId, `${c.group.comment}: ${c.vector.comment}`, c] as const))(
    'accepts valid tcId %i (%s)',
    async (_id, _comment, c) => {
      expect(await brokerAcceptsWithKeys(c.vector.jws, c.group.public?.keys ?? [])).toBe(true);
    },
  );

  it('refuses the weak keys themselves, not only their tokens', () => {
    const reasonFor = (comment: string) => {
      const group = data.testGroups.find((g) => g.comment === comment);
      return acceptKeySet(group?.public, { algorithms: ASYMMETRIC_ALGORITHMS }).rejected.map((r) => r.reason);
    };
    expect(reasonFor('exponentOne')).toEqual(['RSA public exponent 1 is not allowed (at least 3; 65537 expected)']);
    expect(reasonFor('keysize_too_small')).toEqual(['RSA modulus of 1024 bits is too short (at least 2048 bits)']);
    expect(reasonFor('jws_rsa_roca_key')).toEqual(['RSA modulus has the ROCA fingerprint (CVE-2017-15361): its private key can be computed']);
    expect(reasonFor('invalid_point')).toEqual(['EC point is not on its curve']);
  });
});
