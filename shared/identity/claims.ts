/**
 * Verified claims, copied into prototype-free objects and type-checked before policy sees
 * them. jose only checks that `exp`/`iat`/`nbf` are numbers and `sub` is present; here
 * `1e400`, floats, `sub: 123` or `aud: [123]` are refused, and a `"__proto__"` claim stays
 * an ordinary key instead of becoming a prototype.
 */
import { z } from 'zod';
import { DEFAULTS } from '../config/defaults';
import { invalidGrant } from '../errors';

/** Claims as the policy sees them: a prototype-free, frozen, JSON-shaped tree. */
export type Claims = Readonly<Record<string, unknown>>;

const NumericDate = z.number().int().positive();
const Audience = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const RegisteredClaims = z.object({
  iss: z.string().min(1),
  sub: z.string().min(1).max(DEFAULTS.maxIdClaimLength),
  aud: Audience,
  exp: NumericDate,
  iat: NumericDate,
  nbf: NumericDate.optional(),
  jti: z.string().max(DEFAULTS.maxIdClaimLength).optional(),
});

export type RegisteredClaimValues = z.infer<typeof RegisteredClaims>;

/** Copies a verified payload into a safe claim tree and checks the registered claims. */
export function toClaims(payload: unknown): { claims: Claims; registered: RegisteredClaimValues } {
  const budget = { nodes: 0 };
  const claims = copy(payload, 0, budget);
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    throw invalidGrant('token payload is not a JSON object', 'malformed_token');
  }
  const parsed = RegisteredClaims.safeParse(claims);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const claim = issue?.path[0] === undefined ? 'a registered claim' : `"${String(issue.path[0])}"`;
    throw invalidGrant(`${claim} has an invalid type or value`, 'invalid_claim_type');
  }
  return { claims: claims as Claims, registered: parsed.data };
}

function copy(value: unknown, depth: number, budget: { nodes: number }): unknown {
  if (++budget.nodes > DEFAULTS.maxClaimNodes) throw invalidGrant('token has too many claims', 'too_many_claims');
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalidGrant('token has a non-finite number', 'invalid_claim_type');
    return value;
  }
  if (depth >= DEFAULTS.maxClaimDepth) throw invalidGrant('token claims are nested too deeply', 'too_many_claims');
  if (Array.isArray(value)) return Object.freeze(value.map((item) => copy(item, depth + 1, budget)));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(value)) {
      Object.defineProperty(out, key, {
        value: copy((value as Record<string, unknown>)[key], depth + 1, budget),
        enumerable: true,
      });
    }
    return Object.freeze(out);
  }
  throw invalidGrant('token payload holds a non-JSON value', 'invalid_claim_type');
}
