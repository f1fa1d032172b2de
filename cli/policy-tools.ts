/**
 * `admin policy validate|explain|test|diff`: checks an operator runs on a policy before it
 * ships. Each subcommand lives in its own module (cli/policy-*.ts); this one dispatches and
 * holds what they share: reading and loading a policy file, and the two ways they fail.
 *
 * Nothing here mints a token or contacts anything, with one exception: `explain --token`
 * fetches the issuer's signing keys, exactly as the broker would, to verify the token.
 */
import { readFile } from 'node:fs/promises';
import { compilePolicy } from '../shared/policy/compile-policy';
import type { CompiledPolicy } from '../shared/policy/compiled-policy';
import { parsePolicyText } from '../shared/policy/parse-document';
import { PolicyLoadError, type PolicyIssue } from '../shared/policy/policy-error';
import type { PolicyDocument } from '../shared/policy/schema';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Wrong arguments: exit 2 with the usage text. */
export class PolicyToolUsageError extends Error {
  override readonly name = 'PolicyToolUsageError';
}

/** The policy does not load, a test case failed, a token does not verify: exit 1. */
export class PolicyToolFailure extends Error {
  override readonly name = 'PolicyToolFailure';
}

export const POLICY_TOOLS = ['validate', 'explain', 'test', 'diff'] as const;
export type PolicyTool = (typeof POLICY_TOOLS)[number];

export function isPolicyTool(name: string | undefined): name is PolicyTool {
  return (POLICY_TOOLS as readonly (string | undefined)[]).includes(name);
}

/** Runs `policy <tool> ARGS…`. Each module is loaded on use (explain brings the token verifier). */
export async function policyTool(tool: PolicyTool, args: string[], io: Io): Promise<void> {
  switch (tool) {
    case 'validate':
      return (require('./policy-validate') as typeof import('./policy-validate')).policyValidate(args, io);
    case 'explain':
      return (require('./policy-explain') as typeof import('./policy-explain')).policyExplain(args, io);
    case 'test':
      return (require('./policy-test') as typeof import('./policy-test')).policyTest(args, io);
    case 'diff':
      return (require('./policy-diff') as typeof import('./policy-diff')).policyDiff(args, io);
  }
}

/** How the CLI loads a policy: as a production broker would (no loopback URLs) unless told otherwise. */
export interface LoadSettings {
  allowInsecureLoopback: boolean;
}

export type Loaded =
  | { readonly ok: true; readonly text: string; readonly document: PolicyDocument; readonly policy: CompiledPolicy }
  | { readonly ok: false; readonly text: string; readonly stage: 'schema' | 'compile'; readonly issues: readonly PolicyIssue[] };

export async function readText(file: string, what = 'the policy file'): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new PolicyToolFailure(`cannot read ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * Parses, checks and compiles a policy exactly as the broker does at start-up. Compiling
 * fetches nothing: issuers' keys (discovery, jwks_uri) are fetched on first use only.
 */
export function loadPolicy(text: string, source: string, settings: LoadSettings): Loaded {
  let document: PolicyDocument;
  try {
    document = parsePolicyText(text, source);
  } catch (err) {
    if (err instanceof PolicyLoadError) return { ok: false, text, stage: 'schema', issues: err.issues };
    throw err;
  }
  try {
    const policy = compilePolicy(document, { source, network: { allowInsecureLoopback: settings.allowInsecureLoopback } });
    return { ok: true, text, document, policy };
  } catch (err) {
    if (err instanceof PolicyLoadError) return { ok: false, text, stage: 'compile', issues: err.issues };
    throw err;
  }
}

/** Loads a policy the command cannot do without: one that does not load is a failure naming each problem. */
export async function requirePolicy(file: string, settings: LoadSettings): Promise<Extract<Loaded, { ok: true }>> {
  const loaded = loadPolicy(await readText(file), file, settings);
  if (!loaded.ok) {
    const lines = loaded.issues.map((issue) => `${file}: ${issue.path}: ${issue.reason}`);
    throw new PolicyToolFailure(`${file} does not load (run policy validate for positions):\n${lines.join('\n')}`);
  }
  return loaded;
}

/**
 * Splits `args` into positionals and `--name value` / `--name=value` options, allowing only
 * `valued` and `flags`. Each option at most once.
 */
export function parseOptions(
  command: string,
  args: readonly string[],
  valued: readonly string[],
  flags: readonly string[] = [],
): { positionals: string[]; options: Map<string, string> } {
  const positionals: string[] = [];
  const options = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let value: string | undefined;
    if (flags.includes(name)) {
      if (eq !== -1) throw new PolicyToolUsageError(`${command}: --${name} takes no value`);
      value = 'true';
    } else if (valued.includes(name)) {
      value = eq === -1 ? args[++i] : arg.slice(eq + 1);
      if (value === undefined) throw new PolicyToolUsageError(`${command}: --${name} needs a value`);
    } else {
      throw new PolicyToolUsageError(/^[a-z][a-z-]{0,30}$/.test(name) ? `${command}: unknown option --${name}` : `${command}: unknown option`);
    }
    if (options.has(name)) throw new PolicyToolUsageError(`${command}: --${name} given twice`);
    options.set(name, value);
  }
  return { positionals, options };
}

/** `first-12-hex…` of a policy version, for headers; the full value where it is compared. */
export function shortVersion(version: string): string {
  return version.slice(0, 12);
}
