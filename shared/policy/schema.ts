/**
 * The trust-policy document schema (version 1). This zod schema is the single source of
 * truth: `docs/policy.schema.json` is generated from it (`npm run schema`) and a test keeps
 * the two in step. Objects are strict, so a misspelt key is an error, not a silent no-op.
 */
import { z } from 'zod';
import { DEFAULTS } from '../config/defaults';

/** JWS algorithms an issuer may list. Asymmetric only: an HMAC key would be a shared secret. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
] as const;

/** RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const SERVICE_ACCOUNT = /^[a-z0-9][a-z0-9._-]{0,99}@[a-z0-9][a-z0-9.-]{0,99}\.gserviceaccount\.com$/;
const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const CLAIM_NAME = /^[A-Za-z0-9_.:/-]{1,128}$/;
/** JWK members that only private or symmetric keys carry. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

const seconds = (min: number, max: number) => z.number().int().min(min).max(max);

const PublicJwk = z
  .looseObject({ kty: z.enum(['RSA', 'EC', 'OKP']), kid: z.string().max(256).optional() })
  .refine((jwk) => PRIVATE_JWK_MEMBERS.every((m) => !(m in jwk)), {
    message: 'must be a public key: private or symmetric key members (d, p, q, k, ...) are not allowed in a policy',
  });

export const IssuerSchema = z
  .strictObject({
    issuer: z.url({ protocol: /^https?$/ }).describe('Exact `iss` value of the tokens; also the base URL for OIDC discovery.'),
    audiences: z.array(z.string().min(1).max(512)).min(1).describe('Accepted `aud` values; a token must name at least one.'),
    algorithms: z.array(z.enum(ASYMMETRIC_ALGORITHMS)).min(1).optional()
      .describe(`Accepted JWS algorithms (default ${DEFAULTS.algorithms.join(', ')}).`),
    jwks_uri: z.url({ protocol: /^https?$/ }).optional().describe('Fetch keys from this JWKS URL instead of OIDC discovery.'),
    jwks: z.strictObject({ keys: z.array(PublicJwk).min(1).max(100) }).optional()
      .describe('Inline public keys, for issuers that publish none (no fetching at all).'),
    clock_tolerance_seconds: seconds(0, DEFAULTS.clockToleranceSecondsCeiling).optional()
      .describe(`Clock skew tolerated on exp/nbf/iat (default ${DEFAULTS.clockToleranceSeconds}).`),
    max_token_age_seconds: seconds(1, DEFAULTS.maxTokenAgeSecondsCeiling).optional()
      .describe(`Refuse tokens issued longer ago than this (default ${DEFAULTS.maxTokenAgeSeconds}).`),
    max_token_validity_seconds: seconds(1, DEFAULTS.maxTokenAgeSecondsCeiling).optional()
      .describe(`Refuse tokens whose exp − iat exceeds this (default ${DEFAULTS.maxTokenValiditySeconds}).`),
  })
  .refine((i) => !(i.jwks_uri !== undefined && i.jwks !== undefined), {
    message: 'set at most one of jwks_uri and jwks (neither means OIDC discovery)',
  });

export const GrantSchema = z.strictObject({
  service_account: z.string().regex(SERVICE_ACCOUNT, 'must be a service account email (…@….gserviceaccount.com)')
    .describe('Target service account the broker impersonates.'),
  scopes: z.array(z.string().regex(SCOPE_TOKEN, 'must be an RFC 6749 scope token').max(512)).min(1).max(DEFAULTS.maxScopes)
    .describe('OAuth scopes a caller may request; the token gets the requested subset (all of them when none are requested).'),
  max_lifetime_seconds: seconds(DEFAULTS.minTokenLifetimeSeconds, DEFAULTS.maxTokenLifetimeSecondsCeiling).optional()
    .describe(`Longest lifetime of a minted token (default and ceiling ${DEFAULTS.maxTokenLifetimeSecondsCeiling}).`),
  delegates: z.array(z.string().regex(SERVICE_ACCOUNT, 'must be a service account email')).max(10).optional()
    .describe('Delegation chain for IAM Credentials, outermost first.'),
});

export const RuleSchema = z.strictObject({
  id: z.string().regex(RULE_ID, 'must be 1–63 letters, digits, ".", "_" or "-"').describe('Unique rule name (audit, `audience`).'),
  description: z.string().max(1024).optional(),
  issuer: z.string().min(1).describe('Issuer this rule applies to; must be declared under `issuers`.'),
  condition: z.string().min(1).max(4096).describe('CEL expression over `claims` that must be true. `\'true\'` accepts every token of the issuer: never do that for a multi-tenant issuer (GitHub, GitLab).'),
  grant: GrantSchema,
  audit_claims: z.array(z.string().regex(CLAIM_NAME)).max(20).optional()
    .describe('Claims recorded in audit entries for tokens this rule grants.'),
});

export const PolicySchema = z
  .strictObject({
    version: z.literal(1),
    issuers: z.array(IssuerSchema).min(1).max(100),
    rules: z.array(RuleSchema).min(1).max(1000),
  })
  .superRefine((policy, ctx) => {
    const issuers = new Set<string>();
    policy.issuers.forEach((issuer, i) => {
      if (issuers.has(issuer.issuer)) ctx.addIssue({ code: 'custom', path: ['issuers', i, 'issuer'], message: 'duplicate issuer' });
      issuers.add(issuer.issuer);
    });
    const ids = new Set<string>();
    policy.rules.forEach((rule, i) => {
      if (ids.has(rule.id)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate rule id "${rule.id}"` });
      ids.add(rule.id);
      if (!issuers.has(rule.issuer)) {
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'issuer'], message: `issuer "${rule.issuer}" is not declared under issuers` });
      }
    });
  });

export type PolicyDocument = z.infer<typeof PolicySchema>;
export type IssuerDocument = z.infer<typeof IssuerSchema>;
export type RuleDocument = z.infer<typeof RuleSchema>;
