/**
 * `policy validate FILE [--json] [--allow-insecure-loopback]`: every problem the broker would
 * refuse the policy for at start-up, at once, each at its line and column in the file.
 *
 * The policy loads in two stages (parse-document.ts, then compile-policy.ts), and the second
 * runs only when the first passed: fix schema problems first, as the broker's own message
 * says. Loading does no network I/O (issuers' keys are fetched on first use), so neither does this.
 */
import { parse as parseYaml } from 'yaml';
import { DEFAULTS } from '../shared/config/defaults';
import { CelConditionError, compileCondition } from '../shared/policy/cel';
import type { PolicyIssue } from '../shared/policy/policy-error';
import { policySourceMap } from '../shared/policy/source-map';
import { loadPolicy, parseOptions, PolicyToolFailure, PolicyToolUsageError, readText, type Io } from './policy-tools';

/** How parse-document.ts names the place of a YAML syntax error. */
const LINE_COLUMN = /^line \d+, column \d+$/;

/** One problem, as `--json` prints it. */
export interface ValidationProblem {
  readonly path: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

export type Validation =
  | { readonly ok: true; readonly rules: number; readonly issuers: number; readonly clients: number; readonly version: string }
  | { readonly ok: false; readonly stage: 'syntax' | 'schema' | 'compile'; readonly problems: readonly ValidationProblem[] };

export async function policyValidate(args: string[], io: Io): Promise<void> {
  const { positionals, options } = parseOptions('policy validate', args, [], ['json', 'allow-insecure-loopback']);
  const [file, ...rest] = positionals;
  if (file === undefined || rest.length > 0) throw new PolicyToolUsageError('policy validate takes one policy file');
  const json = options.has('json');
  const result = validatePolicyText(await readText(file), file, { allowInsecureLoopback: options.has('allow-insecure-loopback') });
  if (json) io.out(`${JSON.stringify(result.ok ? [] : result.problems, null, 2)}\n`);
  if (result.ok) {
    if (!json) io.out(`ok: ${result.rules} rules, ${result.issuers} issuers, policy version ${result.version}\n`);
    return;
  }
  if (!json) for (const p of result.problems) io.out(`${file}:${p.line}:${p.column}: ${p.path}: ${p.message}\n`);
  if (result.stage === 'schema') io.err(`note: ${file} fails the schema, so the compile checks (URLs, keys, hashes, address ranges, origins) have not run; its CEL conditions have been checked\n`);
  throw new PolicyToolFailure(`${file} does not load: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}`);
}

/** Loads `text` as the broker would and places each problem in the text. */
export function validatePolicyText(text: string, source: string, settings: { allowInsecureLoopback: boolean }): Validation {
  const loaded = loadPolicy(text, source, settings);
  if (loaded.ok) {
    return {
      ok: true,
      rules: loaded.policy.rules.length,
      issuers: loaded.document.issuers.length,
      clients: loaded.policy.clients.size,
      version: loaded.policy.version,
    };
  }
  const locate = policySourceMap(text);
  const stage = loaded.issues.some((issue) => LINE_COLUMN.test(issue.path)) ? 'syntax' : loaded.stage;
  const issues = stage === 'schema' ? [...loaded.issues, ...conditionIssues(text)] : loaded.issues;
  const problems = issues.map((issue) => placed(issue, locate)).sort((a, b) => a.line - b.line || a.column - b.column);
  return { ok: false, stage, problems };
}

/**
 * The CEL checks of the compile stage, run on a document that failed the schema (and so
 * never reaches that stage): each rule's and web app's condition that is a string.
 */
function conditionIssues(text: string): PolicyIssue[] {
  let raw: unknown;
  try {
    raw = parseYaml(text, { uniqueKeys: false, maxAliasCount: DEFAULTS.policyMaxAliases });
  } catch {
    return [];
  }
  const issues: PolicyIssue[] = [];
  for (const section of ['rules', 'web_apps'] as const) {
    const entries = (raw as Record<string, unknown> | null)?.[section];
    if (!Array.isArray(entries)) continue;
    entries.forEach((entry: unknown, i) => {
      const condition = (entry as Record<string, unknown> | null)?.condition;
      if (typeof condition !== 'string' || condition.length === 0) return;
      try {
        compileCondition(condition);
      } catch (err) {
        if (err instanceof CelConditionError) issues.push({ path: `${section}[${i}].condition`, reason: `invalid CEL: ${err.message}` });
      }
    });
  }
  return issues;
}

function placed(issue: PolicyIssue, locate: ReturnType<typeof policySourceMap>): ValidationProblem {
  const { line, column } = locate(issue.path, issue.reason);
  return { path: issue.path, line, column, message: issue.reason };
}
