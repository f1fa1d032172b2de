/**
 * Writes docs/policy.schema.json from the zod policy schema:
 *   npx tsx dev/write-policy-schema.ts [output-file]
 * Run it after any change to shared/policy/schema.ts (test/docs/policy-schema.test.ts fails
 * until you do).
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { policyJsonSchema } from '../shared/policy/json-schema';

export const POLICY_SCHEMA_FILE = resolve(__dirname, '..', 'docs', 'policy.schema.json');

/** The exact file content: two-space indentation and a trailing newline. */
export function policySchemaText(): string {
  return `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
}

if (require.main === module) {
  const output = resolve(process.argv[2] ?? POLICY_SCHEMA_FILE);
  writeFileSync(output, policySchemaText());
  process.stdout.write(`wrote ${output}\n`);
}
