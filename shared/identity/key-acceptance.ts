/**
 * Which JWKs may verify a token. A trusted issuer's key set is input like any other: a key
 * host can be misconfigured or compromised, or serve a test key, and inline keys are typed by
 * people. An RSA key with public exponent 1 makes a "signature" of the padded hash, which
 * anyone can compute, verify; so every key passes here before it can verify anything — the
 * policy's inline keys at load, every fetched set on arrival.
 *
 * A key is accepted only when it is a public signature key that some algorithm of the
 * issuer's allowlist can use, of sound size and shape, and Node's own import of it succeeds
 * (which also checks that an EC point lies on its curve). What comes out is a clean copy with
 * only the members verification reads.
 */
import { createPublicKey } from 'node:crypto';
import { DEFAULTS } from '../config/defaults';
import { isCanonicalBase64url } from './compact-jws';
import { isSigningAlgorithm, keyFits, SIGNING_ALGORITHMS, type AlgorithmKey } from './signing-algorithms';

export interface KeyAcceptanceRules {
  /** The issuer's (or client's) algorithm allowlist. */
  readonly algorithms: readonly string[];
  /** RSA modulus floor in bits; never below DEFAULTS.minRsaKeyBits. */
  readonly minRsaBits?: number;
}

/** A public JWK as verification uses it: only these members are kept. */
export interface AcceptedJwk {
  kty: 'RSA' | 'EC' | 'OKP';
  kid?: string;
  alg?: string;
  use?: 'sig';
  key_ops?: string[];
  n?: string;
  e?: string;
  crv?: string;
  x?: string;
  y?: string;
}

export type KeyVerdict =
  | { readonly accepted: true; readonly jwk: AcceptedJwk; readonly warning?: string }
  | { readonly accepted: false; readonly reason: string };

export interface RejectedKey {
  readonly index: number;
  /** The key's `kid` as sent, when it had a string one (`printableKid` before logging it). */
  readonly kid?: string;
  readonly reason: string;
}

export interface KeySetVerdict {
  readonly keys: AcceptedJwk[];
  readonly rejected: RejectedKey[];
  readonly warnings: { readonly index: number; readonly kid?: string; readonly warning: string }[];
}

/** Members only private or symmetric keys carry (RFC 7518 §6.3.2, §6.2.2, §6.4; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
/** Fixed by the curves (RFC 7518 §6.2.1.2, RFC 8037 §2), not tunable. */
const EC_COORDINATE_BYTES: Readonly<Record<string, number>> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };
const ED25519_KEY_BYTES = 32;
const EXPECTED_RSA_EXPONENT = 65537n;

/** One key against the rules. Never throws. */
export function acceptJwk(value: unknown, rules: KeyAcceptanceRules): KeyVerdict {
  try {
    return checkJwk(value, rules);
  } catch (err) {
    return refuse(`the key could not be checked: ${err instanceof Error ? err.message : 'unknown error'}`);
  }
}

/**
 * A whole set. Keys that fail are left out with their reason; keys sharing a `kid` are all
 * left out, because a `kid` must name one key (which copy the issuer meant cannot be known).
 * A value that is not `{ "keys": [...] }` throws: that is a broken document, not a bad key.
 */
export function acceptKeySet(value: unknown, rules: KeyAcceptanceRules): KeySetVerdict {
  const keys = keysOf(value);
  const verdicts = keys.map((key) => acceptJwk(key, rules));
  const kidCounts = new Map<string, number>();
  for (const verdict of verdicts) {
    if (verdict.accepted && verdict.jwk.kid !== undefined) kidCounts.set(verdict.jwk.kid, (kidCounts.get(verdict.jwk.kid) ?? 0) + 1);
  }
  const result: KeySetVerdict = { keys: [], rejected: [], warnings: [] };
  verdicts.forEach((verdict, index) => {
    const kid = kidOf(keys[index]);
    if (!verdict.accepted) {
      result.rejected.push({ index, kid, reason: verdict.reason });
    } else if (verdict.jwk.kid !== undefined && (kidCounts.get(verdict.jwk.kid) ?? 0) > 1) {
      result.rejected.push({ index, kid, reason: `kid "${printableKid(verdict.jwk.kid)}" names more than one key in the set` });
    } else {
      result.keys.push(verdict.jwk);
      if (verdict.warning) result.warnings.push({ index, kid, warning: verdict.warning });
    }
  });
  return result;
}

function keysOf(value: unknown): unknown[] {
  const keys = isObject(value) ? value.keys : undefined;
  if (!Array.isArray(keys)) throw new TypeError('a JWK set must be an object with a "keys" array');
  if (keys.length > DEFAULTS.jwksMaxKeys) throw new TypeError(`a JWK set may hold at most ${DEFAULTS.jwksMaxKeys} keys`);
  return keys;
}

function checkJwk(value: unknown, rules: KeyAcceptanceRules): KeyVerdict {
  if (!isObject(value)) return refuse('a key must be a JSON object');
  const { kty } = value;
  if (kty === 'oct') return refuse('symmetric keys (kty "oct") are not allowed: an HMAC key is a shared secret');
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') return refuse(`key type ${describe(kty)} is not supported (RSA, EC or OKP)`);
  const privateMembers = PRIVATE_MEMBERS.filter((member) => Object.hasOwn(value, member));
  if (privateMembers.length > 0) {
    return refuse(`private key members (${privateMembers.join(', ')}) are not allowed: publish the public key only`);
  }
  const kid = value.kid;
  if (kid !== undefined && (typeof kid !== 'string' || kid.length < 1 || kid.length > DEFAULTS.maxKidLength)) {
    return refuse(`kid must be a string of 1 to ${DEFAULTS.maxKidLength} characters`);
  }
  const use = value.use;
  if (use !== undefined && use !== 'sig') return refuse(`use ${describe(use)} does not allow signature verification (use "sig")`);
  const keyOps = value.key_ops;
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.every((op) => typeof op === 'string') && keyOps.includes('verify'))) {
    return refuse('key_ops must be a list of strings that includes "verify"');
  }
  const crv = typeof value.crv === 'string' ? value.crv : undefined;
  const algRefusal = checkAlg(value.alg, kty, crv, rules.algorithms);
  if (algRefusal) return refuse(algRefusal);

  const shape = kty === 'RSA' ? checkRsa(value, rules) : kty === 'EC' ? checkEc(value) : checkOkp(value);
  if ('reason' in shape) return refuse(shape.reason);
  const importRefusal = importRefusalOf(shape.members, kty);
  if (importRefusal) return refuse(importRefusal);

  const jwk: AcceptedJwk = { kty, ...shape.members };
  if (kid !== undefined) jwk.kid = kid as string;
  if (value.alg !== undefined) jwk.alg = value.alg as string;
  if (use !== undefined) jwk.use = 'sig';
  if (keyOps !== undefined) jwk.key_ops = [...(keyOps as string[])];
  return shape.warning ? { accepted: true, jwk, warning: shape.warning } : { accepted: true, jwk };
}

/** A key's `alg`, when it has one, must be a signing algorithm for its type and allowed; without one, some allowed algorithm must fit the key. */
function checkAlg(alg: unknown, kty: string, crv: string | undefined, allowed: readonly string[]): string | undefined {
  const keyName = crv === undefined ? kty : `${kty} ${crv}`;
  if (alg !== undefined) {
    if (!isSigningAlgorithm(alg)) return `alg ${describe(alg)} is not a supported signature algorithm`;
    const needed: AlgorithmKey = SIGNING_ALGORITHMS[alg];
    if (!keyFits(alg, kty, crv)) {
      return `alg "${alg}" contradicts the key (${keyName}; "${alg}" needs ${needed.kty}${needed.crv === undefined ? '' : ` ${needed.crv}`})`;
    }
    if (!allowed.includes(alg)) return `alg "${alg}" is not among the accepted algorithms (${allowed.join(', ')})`;
    return undefined;
  }
  if (!allowed.some((name) => keyFits(name, kty, crv))) {
    return `no accepted algorithm (${allowed.join(', ')}) uses ${keyName} keys`;
  }
  return undefined;
}

type Shape = { members: Partial<AcceptedJwk>; warning?: string } | { reason: string };

function checkRsa(jwk: Record<string, unknown>, rules: KeyAcceptanceRules): Shape {
  const n = unsignedOf(jwk.n, 'n');
  if (typeof n === 'string') return { reason: n };
  const e = unsignedOf(jwk.e, 'e');
  if (typeof e === 'string') return { reason: e };
  const floor = Math.max(rules.minRsaBits ?? DEFAULTS.minRsaKeyBits, DEFAULTS.minRsaKeyBits);
  const bits = n.value.toString(2).length;
  if (bits < floor) return { reason: `RSA modulus of ${bits} bits is too short (at least ${floor} bits)` };
  if (bits > DEFAULTS.maxRsaKeyBits) return { reason: `RSA modulus of ${bits} bits is too long (at most ${DEFAULTS.maxRsaKeyBits} bits)` };
  if ((n.value & 1n) === 0n) return { reason: 'RSA modulus is even' };
  if (hasRocaFingerprint(n.value)) return { reason: 'RSA modulus has the ROCA fingerprint (CVE-2017-15361): its private key can be computed' };
  if (e.value < 3n) return { reason: `RSA public exponent ${e.value} is not allowed (at least 3; 65537 expected)` };
  if ((e.value & 1n) === 0n) return { reason: `RSA public exponent ${e.value} is not allowed: it must be odd` };
  if (e.value.toString(2).length > DEFAULTS.maxRsaExponentBits) return { reason: `RSA public exponent is wider than ${DEFAULTS.maxRsaExponentBits} bits` };
  if (e.value >= n.value) return { reason: 'RSA public exponent is not smaller than the modulus' };
  const warning = e.value === EXPECTED_RSA_EXPONENT ? undefined : `RSA public exponent ${e.value} is unusual (65537 expected)`;
  return { members: { n: jwk.n as string, e: jwk.e as string }, warning };
}

function checkEc(jwk: Record<string, unknown>): Shape {
  const crv = jwk.crv;
  const size = typeof crv === 'string' && Object.hasOwn(EC_COORDINATE_BYTES, crv) ? EC_COORDINATE_BYTES[crv] : undefined;
  if (size === undefined) return { reason: `EC curve ${describe(crv)} is not supported (P-256, P-384 or P-521)` };
  for (const member of ['x', 'y'] as const) {
    const refusal = fixedLengthRefusal(jwk[member], member, size, `EC ${crv}`);
    if (refusal) return { reason: refusal };
  }
  return { members: { crv: crv as string, x: jwk.x as string, y: jwk.y as string } };
}

function checkOkp(jwk: Record<string, unknown>): Shape {
  if (jwk.crv !== 'Ed25519') return { reason: `OKP curve ${describe(jwk.crv)} is not allowed: only Ed25519 signs` };
  const refusal = fixedLengthRefusal(jwk.x, 'x', ED25519_KEY_BYTES, 'Ed25519');
  if (refusal) return { reason: refusal };
  if (Object.hasOwn(jwk, 'y')) return { reason: 'Ed25519 keys have no "y" member' };
  return { members: { crv: 'Ed25519', x: jwk.x as string } };
}

/**
 * Keys made by the Infineon library flawed by ROCA (CVE-2017-15361) have moduli of a special
 * form that makes them factorable. Their fingerprint (Nemec et al., CCS 2017): for each of
 * these small primes p, n mod p lies in the subgroup that 65537 generates modulo p. A random
 * modulus passes all 38 tests with negligible probability.
 */
const ROCA_PRIMES = [3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167];
const ROCA_SUBGROUPS = ROCA_PRIMES.map((p) => {
  const members = new Set<number>();
  for (let x = 1; !members.has(x); x = (x * 65537) % p) members.add(x);
  return { p: BigInt(p), members };
});

function hasRocaFingerprint(n: bigint): boolean {
  return ROCA_SUBGROUPS.every(({ p, members }) => members.has(Number(n % p)));
}

/** Node's import: the last word on whether the members form a key (EC: the point is on the curve). */
function importRefusalOf(members: Partial<AcceptedJwk>, kty: string): string | undefined {
  try {
    createPublicKey({ key: { kty, ...members } as never, format: 'jwk' });
    return undefined;
  } catch {
    return kty === 'EC' ? 'EC point is not on its curve' : `the ${kty} key could not be imported`;
  }
}

/** A big-endian unsigned integer member: canonical base64url, no leading zero octet (RFC 7518 §6.3.1). */
function unsignedOf(value: unknown, member: string): { value: bigint } | string {
  if (typeof value !== 'string' || !isCanonicalBase64url(value)) return `RSA "${member}" must be a non-empty canonical base64url string`;
  const bytes = Buffer.from(value, 'base64url');
  if (bytes[0] === 0) return `RSA "${member}" must not start with a zero octet`;
  return { value: BigInt(`0x${bytes.toString('hex')}`) };
}

function fixedLengthRefusal(value: unknown, member: string, bytes: number, keyName: string): string | undefined {
  if (typeof value !== 'string' || !isCanonicalBase64url(value)) return `${keyName} "${member}" must be a canonical base64url string`;
  const length = Buffer.from(value, 'base64url').length;
  return length === bytes ? undefined : `${keyName} "${member}" must be ${bytes} bytes, not ${length}`;
}

function refuse(reason: string): KeyVerdict {
  return { accepted: false, reason };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kidOf(value: unknown): string | undefined {
  return isObject(value) && typeof value.kid === 'string' ? value.kid : undefined;
}

/** A `kid` fit for a message or log line: printable ASCII, at most DEFAULTS.logKidChars characters. */
export function printableKid(kid: string): string {
  return kid.replace(/[^\x20-\x7E]/g, '?').slice(0, DEFAULTS.logKidChars);
}

/** A member's value for a message: short strings quoted, anything else by type. */
function describe(value: unknown): string {
  if (typeof value === 'string') return `"${value.replace(/[^\x20-\x7E]/g, '?').slice(0, 32)}"`;
  return value === undefined ? '(missing)' : typeof value;
}
