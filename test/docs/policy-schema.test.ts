/**
 * docs/policy.schema.json is the zod policy schema as JSON Schema, regenerated with
 * `npx tsx dev/write-policy-schema.ts`; the example policies fit it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { policySchemaText } from '../../dev/write-policy-schema';
import { policyJsonSchema, POLICY_SCHEMA_ID } from '../../shared/policy/json-schema';

const ROOT = join(__dirname, '..', '..');
const SCHEMA_FILE = join(ROOT, 'docs', 'policy.schema.json');
const EXAMPLES_DIR = join(ROOT, 'docs', 'examples');

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  enum?: unknown[];
  const?: unknown;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
};

/**
 * A deliberately small structural check (no validator dependency): types, required and
 * unknown keys, enum/const, sizes, patterns and bounds — the keywords the generated
 * schema uses. Returns "path: problem" strings.
 */
function structuralProblems(schema: Schema, value: unknown, path = '$'): string[] {
  const problems: string[] = [];
  const fail = (problem: string) => problems.push(`${path}: ${problem}`);
  if (schema.const !== undefined && value !== schema.const) fail(`must be ${JSON.stringify(schema.const)}`);
  if (schema.enum !== undefined && !schema.enum.includes(value)) fail(`must be one of ${schema.enum.join(', ')}`);
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: must be an object`];
      const record = value as Record<string, unknown>;
      for (const key of schema.required ?? []) if (!(key in record)) fail(`missing required "${key}"`);
      for (const [key, item] of Object.entries(record)) {
        const property = schema.properties?.[key];
        if (property) problems.push(...structuralProblems(property, item, `${path}.${key}`));
        else if (schema.additionalProperties === false) fail(`unknown key "${key}"`);
      }
      break;
    }
    case 'array':
      if (!Array.isArray(value)) return [`${path}: must be an array`];
      if (schema.minItems !== undefined && value.length < schema.minItems) fail(`needs at least ${schema.minItems} items`);
      if (schema.maxItems !== undefined && value.length > schema.maxItems) fail(`allows at most ${schema.maxItems} items`);
      if (schema.items) value.forEach((item, i) => problems.push(...structuralProblems(schema.items as Schema, item, `${path}[${i}]`)));
      break;
    case 'string':
      if (typeof value !== 'string') return [`${path}: must be a string`];
      if (schema.minLength !== undefined && value.length < schema.minLength) fail('too short');
      if (schema.maxLength !== undefined && value.length > schema.maxLength) fail('too long');
      if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) fail(`must match ${schema.pattern}`);
      break;
    case 'integer':
    case 'number':
      if (typeof value !== 'number' || (schema.type === 'integer' && !Number.isInteger(value))) return [`${path}: must be an ${schema.type}`];
      if (schema.minimum !== undefined && value < schema.minimum) fail(`must be ≥ ${schema.minimum}`);
      if (schema.maximum !== undefined && value > schema.maximum) fail(`must be ≤ ${schema.maximum}`);
      break;
    case 'boolean':
      if (typeof value !== 'boolean') fail('must be a boolean');
      break;
    default:
      break;
  }
  return problems;
}

describe('docs/policy.schema.json', () => {
  it('is up to date with the zod schema (run `npx tsx dev/write-policy-schema.ts`)', () => {
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    if (committed !== policySchemaText()) {
      throw new Error('docs/policy.schema.json is stale: run `npx tsx dev/write-policy-schema.ts`');
    }
    expect(JSON.parse(committed)).toEqual(policyJsonSchema());
  });

  it('identifies itself and requires version and rules (issuers may be absent when only clients are used)', () => {
    const schema = policyJsonSchema() as Schema & Record<string, unknown>;
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.$id).toBe(POLICY_SCHEMA_ID);
    expect(typeof schema.title).toBe('string');
    expect(schema.required).toEqual(['version', 'rules']);
    expect(schema.additionalProperties).toBe(false);
  });

  it('carries the limits of defaults.ts', () => {
    const schema = policyJsonSchema() as Schema;
    const issuer = schema.properties?.issuers?.items?.properties ?? {};
    const grant = schema.properties?.rules?.items?.properties?.grant?.properties ?? {};
    expect(issuer.clock_tolerance_seconds).toMatchObject({ type: 'integer', minimum: 0, maximum: 60 });
    expect(issuer.max_token_age_seconds).toMatchObject({ minimum: 1, maximum: 172800 });
    expect(grant.max_lifetime_seconds).toMatchObject({ minimum: 60, maximum: 3600 });
    expect(grant.scopes).toMatchObject({ minItems: 1, maxItems: 32 });
  });
});

describe('the example policies against the JSON schema', () => {
  const schema = policyJsonSchema() as Schema;
  // policy-tests.yaml holds `policy test` cases, not a policy (test/cli/policy-tools.test.ts runs it).
  const examples = readdirSync(EXAMPLES_DIR).filter((name) => name.endsWith('.yaml') && name !== 'policy-tests.yaml').sort();

  it('finds the examples', () => {
    expect(examples.length).toBeGreaterThanOrEqual(4);
  });

  it.each(examples)('%s fits the schema', (name) => {
    const document = parse(readFileSync(join(EXAMPLES_DIR, name), 'utf8')) as Record<string, unknown>;
    const keys = Object.keys(document);
    expect(keys).toEqual(expect.arrayContaining([...(schema.required ?? [])]));
    expect(keys.filter((key) => !(key in (schema.properties ?? {})))).toEqual([]);
    expect(structuralProblems(schema, document)).toEqual([]);
  });

  it('the structural check does catch what editors would flag', () => {
    const document = parse(readFileSync(join(EXAMPLES_DIR, examples[0] as string), 'utf8')) as Record<string, unknown>;
    const rules = document.rules as Array<Record<string, unknown>>;
    const broken = { ...document, version: 2, rulez: [], rules: [{ ...rules[0], grant: { scopes: ['a b'] } }] };
    expect(structuralProblems(schema, broken)).toEqual(
      expect.arrayContaining([
        '$.version: must be 1',
        '$: unknown key "rulez"',
        '$.rules[0].grant: missing required "service_account"',
        expect.stringMatching(/^\$\.rules\[0\]\.grant\.scopes\[0\]: must match/),
      ]),
    );
  });
});
