/**
 * The JWS algorithms the broker verifies, and the key each one needs. One table: the policy
 * schema's allowlists, key acceptance (a JWK's `alg` must agree with its `kty` and curve) and
 * the advertised metadata all read it. Asymmetric only: an HMAC key would be a shared secret,
 * and `none` proves nothing.
 */

export interface AlgorithmKey {
  readonly kty: 'RSA' | 'EC' | 'OKP';
  /** The curve, for EC and OKP keys. */
  readonly crv?: 'P-256' | 'P-384' | 'P-521' | 'Ed25519';
}

export const SIGNING_ALGORITHMS = {
  RS256: { kty: 'RSA' },
  RS384: { kty: 'RSA' },
  RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  PS512: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES512: { kty: 'EC', crv: 'P-521' },
  /** RFC 8037's name; jose also accepts the fully specified `Ed25519` (RFC 9864). */
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
} as const satisfies Record<string, AlgorithmKey>;

export type SigningAlgorithm = keyof typeof SIGNING_ALGORITHMS;

export const SIGNING_ALGORITHM_NAMES = Object.keys(SIGNING_ALGORITHMS) as [SigningAlgorithm, ...SigningAlgorithm[]];

export function isSigningAlgorithm(name: unknown): name is SigningAlgorithm {
  return typeof name === 'string' && Object.hasOwn(SIGNING_ALGORITHMS, name);
}

/** The key an algorithm needs, or undefined for a name outside the table. */
export function keyFor(algorithm: string): AlgorithmKey | undefined {
  return isSigningAlgorithm(algorithm) ? SIGNING_ALGORITHMS[algorithm] : undefined;
}

/** Whether a key of this type and curve can verify signatures made with `algorithm`. */
export function keyFits(algorithm: string, kty: string, crv: string | undefined): boolean {
  const needed = keyFor(algorithm);
  return needed !== undefined && needed.kty === kty && (needed.crv === undefined || needed.crv === crv);
}
