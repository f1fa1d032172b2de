/**
 * The trust-policy document as JSON Schema (draft 2020-12), generated from the zod schema so
 * editors can complete and check policy files. `docs/policy.schema.json` is this output,
 * written by `npx tsx dev/write-policy-schema.ts`; a test keeps the two in step.
 *
 * The JSON Schema is structural only: the cross-field checks (`refine`/`superRefine`: at
 * most one of `jwks`/`jwks_uri`, public JWKs only, unique issuers and rule ids, rules naming
 * declared issuers), the `http(s)` restriction on URLs, and everything `compilePolicy`
 * checks (CEL, the production network policy) exist only in the broker.
 */
import { z } from 'zod';
import { PolicySchema } from './schema';

export const POLICY_SCHEMA_ID = 'urn:token-broker:policy:v1';

export function policyJsonSchema(): Record<string, unknown> {
  const { $schema, ...body } = z.toJSONSchema(PolicySchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    $schema,
    $id: POLICY_SCHEMA_ID,
    title: 'token-broker trust policy (version 1)',
    description:
      'Which external OIDC tokens the broker accepts and which Google service account each may impersonate. ' +
      'Structural only: the broker additionally checks CEL conditions, cross-references and URLs at load time.',
    ...body,
  };
}
