/**
 * `policy test FILE CASES.yaml [--allow-insecure-loopback]`: table-driven checks of a policy
 * (in the spirit of `opa test`). Each case names a caller and the decision expected of the
 * broker: the rule that grants, or the refusal reason. One PASS/FAIL line per case (a failure
 * says why, with each rule's outcome), then a count; exit 1 when any case fails.
 *
 *   defaults:                      # optional, applied to every case
 *     claims: { iss: https://token.actions.githubusercontent.com, aud: https://broker.example.com }
 *   broker_url: https://broker.example.com   # optional: an `audience` equal to it selects no rule
 *   cases:
 *     - name: main deploys
 *       claims: { sub: "repo:acme/app:environment:prod", ... }   # merged over defaults.claims
 *       unset: [ref]                 # claims of defaults to leave out
 *       issuer: https://…            # default: claims.iss
 *       audience: app-deploy-prod    # the request's `audience`
 *       scope: "https://… https://…" # the request's `scope`
 *       client: nightly-report       # or { id, auth_method, api_key_id }; alone (no claims): client_credentials
 *       expect: { rule: app-deploy-prod }    # or { refusal: no_rule_matched }
 *
 * Claims are taken as verified (nothing is signed or checked but `iss` and, when present, `aud`).
 */
import { brokerAudiences } from '../shared/broker-audiences';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { DEFAULTS } from '../shared/config/defaults';
import type { Principal } from '../shared/identity/principal';
import type { CompiledPolicy } from '../shared/policy/compiled-policy';
import { formatPath } from '../shared/policy/policy-error';
import { policySourceMap } from '../shared/policy/source-map';
import { parseOptions, PolicyToolFailure, PolicyToolUsageError, readText, requirePolicy, type Io } from './policy-tools';
import { claimsFromJson, clientPrincipal, CLIENT_AUTH_METHODS, decide, isClientAuthMethod, oidcPrincipal, splitScopes, type Decision } from './policy-simulate';

const ClaimsSchema = z.record(z.string(), z.unknown());
const ClientSchema = z.union([
  z.string().min(1),
  z.strictObject({ id: z.string().min(1), auth_method: z.enum(CLIENT_AUTH_METHODS as [string, ...string[]]).optional(), api_key_id: z.string().optional() }),
]);
const RequestFields = {
  issuer: z.string().min(1).optional(),
  audience: z.string().min(1).optional(),
  scope: z.union([z.string(), z.array(z.string())]).optional(),
  client: ClientSchema.optional(),
};
const CaseSchema = z.strictObject({
  name: z.string().min(1),
  claims: ClaimsSchema.optional(),
  unset: z.array(z.string()).optional(),
  ...RequestFields,
  expect: z.union([z.strictObject({ rule: z.string().min(1) }), z.strictObject({ refusal: z.string().min(1) })]),
});
const CasesSchema = z.strictObject({
  defaults: z.strictObject({ claims: ClaimsSchema.optional(), ...RequestFields }).optional(),
  broker_url: z.url({ protocol: /^https?$/ }).optional(),
  cases: z.array(CaseSchema).min(1),
});

export type PolicyTestCase = z.infer<typeof CaseSchema>;
export type PolicyTestFile = z.infer<typeof CasesSchema>;

export interface CaseResult {
  readonly name: string;
  readonly passed: boolean;
  /** One line: what was decided (and, failing, what was expected). */
  readonly summary: string;
  /** Failing only: each rule's outcome. */
  readonly details: readonly string[];
}

export async function policyTest(args: string[], io: Io): Promise<void> {
  const { positionals, options } = parseOptions('policy test', args, [], ['allow-insecure-loopback']);
  const [file, casesFile, ...rest] = positionals;
  if (file === undefined || casesFile === undefined || rest.length > 0) throw new PolicyToolUsageError('policy test takes a policy file and a cases file');
  const { policy } = await requirePolicy(file, { allowInsecureLoopback: options.has('allow-insecure-loopback') });
  const cases = parseCases(await readText(casesFile, 'the cases file'), casesFile);
  const results = runCases(policy, cases);
  for (const result of results) {
    io.out(`${result.passed ? 'PASS' : 'FAIL'} ${result.name}: ${result.summary}\n`);
    for (const line of result.details) io.out(`     ${line}\n`);
  }
  const failed = results.filter((r) => !r.passed).length;
  io.out(`${results.length} cases: ${results.length - failed} passed, ${failed} failed (policy version ${policy.version})\n`);
  if (failed > 0) throw new PolicyToolFailure(`${failed} of ${results.length} cases failed`);
}

/** The cases file, checked; a problem is a failure naming file, line and column. */
export function parseCases(text: string, source: string): PolicyTestFile {
  const document = parseDocument(text, { uniqueKeys: true, schema: 'core' });
  if (document.errors.length > 0) {
    const error = document.errors[0];
    const at = error?.linePos?.[0];
    throw new PolicyToolFailure(`${source}:${at ? `${at.line}:${at.col}` : '1:1'}: ${(error?.message ?? 'not YAML').split('\n')[0]}`);
  }
  const parsed = CasesSchema.safeParse(document.toJS({ maxAliasCount: DEFAULTS.policyMaxAliases }));
  if (!parsed.success) {
    const locate = policySourceMap(text);
    const lines = parsed.error.issues.map((issue) => {
      const path = formatPath(issue.path);
      const { line, column } = locate(path, issue.message);
      return `${source}:${line}:${column}: ${path}: ${issue.message}`;
    });
    throw new PolicyToolFailure(`the cases file is not valid:\n${lines.join('\n')}`);
  }
  const names = new Set<string>();
  for (const testCase of parsed.data.cases) {
    if (names.has(testCase.name)) throw new PolicyToolFailure(`${source}: two cases are named ${JSON.stringify(testCase.name)}`);
    names.add(testCase.name);
  }
  return parsed.data;
}

export function runCases(policy: CompiledPolicy, file: PolicyTestFile): CaseResult[] {
  return file.cases.map((testCase) => runCase(policy, file, testCase));
}

function runCase(policy: CompiledPolicy, file: PolicyTestFile, testCase: PolicyTestCase): CaseResult {
  const defaults = file.defaults ?? {};
  const clientSpec = testCase.client ?? defaults.client;
  const client = clientSpec === undefined
    ? undefined
    : typeof clientSpec === 'string'
      ? clientPrincipal(clientSpec)
      : clientPrincipal(clientSpec.id, isClientAuthMethod(clientSpec.auth_method) ? clientSpec.auth_method : undefined, clientSpec.api_key_id);
  const hasClaims = testCase.claims !== undefined || defaults.claims !== undefined;
  let principal: Principal;
  if (hasClaims) {
    const merged: Record<string, unknown> = { ...defaults.claims, ...testCase.claims };
    for (const name of testCase.unset ?? []) delete merged[name];
    principal = oidcPrincipal(policy, claimsFromJson(merged), testCase.issuer ?? defaults.issuer);
  } else if (client) {
    principal = client;
  } else {
    return { name: testCase.name, passed: false, summary: 'the case has neither claims nor a client', details: [] };
  }
  const scope = testCase.scope ?? defaults.scope;
  const audience = testCase.audience ?? defaults.audience;
  const brokerUrl = file.broker_url?.replace(/\/$/, '');
  const decision = decide(policy, {
    principal,
    ...(client ? { client } : {}),
    ...(audience === undefined ? {} : { audience }),
    scopes: Array.isArray(scope) ? scope : splitScopes(scope),
    brokerAudiences: brokerUrl === undefined ? [] : brokerAudiences(brokerUrl),
  });
  return judge(testCase, decision);
}

function judge(testCase: PolicyTestCase, decision: Decision): CaseResult {
  const got = decision.granted ? `rule ${decision.rule.id}` : `refusal ${decision.reason}`;
  const expected = 'rule' in testCase.expect ? `rule ${testCase.expect.rule}` : `refusal ${testCase.expect.refusal}`;
  if (got === expected) return { name: testCase.name, passed: true, summary: got, details: [] };
  return { name: testCase.name, passed: false, summary: `expected ${expected}, got ${got}`, details: traceLines(decision) };
}

function traceLines(decision: Decision): string[] {
  const lines = (decision.trace ?? []).map((step) => `${step.rule}: ${step.outcome}${step.detail ? ` (${step.detail})` : ''}`);
  if (!decision.granted) lines.push(`refused: ${decision.reason}: ${decision.description}`);
  return lines;
}
