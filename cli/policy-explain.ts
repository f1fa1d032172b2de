/**
 * `policy explain FILE (--token JWT | --claims JSON | --client ID) [--audience A] [--scope S]
 * [--client ID] [--client-auth METHOD] [--broker-url URL] [--allow-insecure-loopback]`:
 * why the broker would (or would not) give this caller a token. Per rule, in evaluation order:
 * is it for this caller (issuer or clients), does the requested `audience` name it, the value
 * of its condition and of each `&&` / `||` clause, the scopes requested against the rule's,
 * its limits; then the rule chosen (the first match, by the broker's own `selectRule`) and the
 * grant that would be issued. Nothing is minted.
 *
 * `--token` verifies the token as the broker does, which may fetch the issuer's keys (the only
 * network I/O of any policy command); `--claims` skips verification and says so first.
 * A token or claims given as `@FILE` are read from that file, `-` from stdin.
 */
import { brokerAudiences } from '../shared/broker-audiences';
import { BrokerError } from '../shared/errors';
import { verifyOidcToken } from '../shared/identity/oidc-token';
import type { Principal } from '../shared/identity/principal';
import type { CompiledPolicy, CompiledRule } from '../shared/policy/compiled-policy';
import { describeValue, explainCondition, type Clause } from '../shared/policy/explain-condition';
import type { Grant } from '../shared/policy/resolve-grant';
import type { LimitSpec } from '../shared/limits/rate-limiter';
import type { RuleTrace } from '../shared/policy/select-rule';
import { parseOptions, PolicyToolFailure, PolicyToolUsageError, readText, requirePolicy, shortVersion, type Io } from './policy-tools';
import {
  claimsFromJson, clientPrincipal, CLIENT_AUTH_METHODS, decide, isClientAuthMethod, oidcPrincipal, splitScopes,
  type Decision, type SimulatedRequest,
} from './policy-simulate';

const OPTIONS = ['token', 'claims', 'audience', 'scope', 'client', 'client-auth', 'broker-url'];

export async function policyExplain(args: string[], io: Io, readStdin: () => Promise<string> = readAllStdin): Promise<void> {
  const { positionals, options } = parseOptions('policy explain', args, OPTIONS, ['allow-insecure-loopback']);
  const [file, ...rest] = positionals;
  if (file === undefined || rest.length > 0) throw new PolicyToolUsageError('policy explain takes one policy file');
  if (options.has('token') && options.has('claims')) throw new PolicyToolUsageError('policy explain: give --token or --claims, not both');
  if (!options.has('token') && !options.has('claims') && !options.has('client')) {
    throw new PolicyToolUsageError('policy explain needs --token <jwt>, --claims <json> or (a client on its own) --client <id>');
  }
  const authMethod = options.get('client-auth');
  if (authMethod !== undefined && !isClientAuthMethod(authMethod)) {
    throw new PolicyToolUsageError(`policy explain: --client-auth must be one of ${CLIENT_AUTH_METHODS.join(', ')}`);
  }
  const brokerUrl = options.get('broker-url');
  const { policy } = await requirePolicy(file, { allowInsecureLoopback: options.has('allow-insecure-loopback') });

  const client = options.has('client') ? clientPrincipal(options.get('client') ?? '', authMethod) : undefined;
  const { principal, provenance } = await principalFor(policy, options, client, readStdin);
  const request: SimulatedRequest = {
    principal,
    ...(client ? { client } : {}),
    ...(options.has('audience') ? { audience: options.get('audience') } : {}),
    ...(splitScopes(options.get('scope')) ? { scopes: splitScopes(options.get('scope')) } : {}),
    brokerAudiences: brokerUrl === undefined ? [] : brokerAudiences(brokerUrl.replace(/\/$/, '')),
  };
  io.out(renderExplanation(policy, request, provenance));
}

/** Where the principal came from, for the explanation's first lines. */
type Provenance = 'token' | 'claims' | 'client';

async function principalFor(
  policy: CompiledPolicy, options: Map<string, string>, client: Principal | undefined, readStdin: () => Promise<string>,
): Promise<{ principal: Principal; provenance: Provenance }> {
  const token = options.get('token');
  if (token !== undefined) {
    const text = (await argumentText(token, 'token', readStdin)).trim();
    try {
      return { principal: await verifyOidcToken(text, policy.issuers), provenance: 'token' };
    } catch (err) {
      if (err instanceof BrokerError) throw new PolicyToolFailure(`the token does not verify: ${err.reason} (${err.description})${err.detail ? `: ${err.detail}` : ''}`);
      throw err;
    }
  }
  const claims = options.get('claims');
  if (claims !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await argumentText(claims, 'claims', readStdin));
    } catch {
      throw new PolicyToolUsageError('policy explain: --claims must be a JSON object (or @FILE holding one)');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new PolicyToolUsageError('policy explain: --claims must be a JSON object');
    return { principal: oidcPrincipal(policy, claimsFromJson(parsed)), provenance: 'claims' };
  }
  if (!client) throw new PolicyToolUsageError('policy explain needs --token, --claims or --client');
  return { principal: client, provenance: 'client' };
}

/** A value given inline, as `@FILE`, or as `-` (stdin). */
async function argumentText(value: string, what: string, readStdin: () => Promise<string>): Promise<string> {
  if (value === '-') return readStdin();
  if (value.startsWith('@')) return readText(value.slice(1), `the ${what} file`);
  return value;
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}


/** The whole explanation, as text. Pure: the golden files are its output. */
export function renderExplanation(policy: CompiledPolicy, request: SimulatedRequest, provenance: Provenance): string {
  const decision = decide(policy, request);
  const lines: string[] = [];
  lines.push(...header(policy, request, provenance));
  lines.push('', ...callerSection(policy, request));
  const traced = new Map((decision.trace ?? []).map((step) => [step.rule, step]));
  const chosen = decision.granted ? decision.rule.id : undefined;
  policy.rules.forEach((rule, i) => {
    lines.push('', ...ruleSection(rule, i, request, traced.get(rule.id), chosen));
  });
  lines.push('', ...decisionSection(decision, request));
  return `${lines.join('\n')}\n`;
}

function header(policy: CompiledPolicy, request: SimulatedRequest, provenance: Provenance): string[] {
  const lines: string[] = [];
  if (provenance === 'claims') {
    lines.push('NOT VERIFIED: these claims come from --claims, not from a token: no signature, key, time or claim-type check was made.');
  } else if (provenance === 'token') {
    lines.push(`Token verified as the broker would (signature with the issuer's keys, audience, times, claim types).`);
  } else {
    lines.push(`Client ${request.principal.subject} (${String(request.principal.claims.auth_method)}) taken as authenticated: no credential was checked.`);
  }
  lines.push(`Policy ${policy.source}, version ${policy.version}`);
  const client = request.client && request.client !== request.principal
    ? `${request.client.subject} (${String(request.client.claims.auth_method)}, taken as authenticated)`
    : '(none)';
  lines.push(`Request: audience ${request.audience ?? '(none)'}; scope ${request.scopes?.join(' ') ?? '(none)'}; client ${client}`);
  lines.push('Nothing is minted: this shows what the broker would decide.');
  return lines;
}

function callerSection(policy: CompiledPolicy, request: SimulatedRequest): string[] {
  const { principal } = request;
  if (principal.kind === 'client') {
    const known = policy.clients.has(principal.subject);
    return ['Caller', `  client ${principal.subject}: ${known ? 'registered in the policy' : 'NOT registered in the policy'}`];
  }
  const issuer = policy.issuers.get(principal.issuer);
  const lines = ['Caller', `  iss ${principal.issuer || '(none)'}: ${issuer ? 'a trusted issuer' : 'NOT an issuer of the policy'}`];
  const aud = principal.claims.aud;
  if (aud === undefined) lines.push('  aud (absent: not checked)');
  else if (issuer) {
    const values = (Array.isArray(aud) ? aud : [aud]).map(String);
    const accepted = values.some((value) => issuer.audiences.includes(value));
    lines.push(`  aud ${values.join(', ')}: ${accepted ? 'accepted' : 'NOT accepted'} (the issuer accepts ${issuer.audiences.join(', ')})`);
  }
  lines.push(`  sub ${principal.subject || '(none)'}`);
  return lines;
}

function ruleSection(rule: CompiledRule, index: number, request: SimulatedRequest, step: RuleTrace | undefined, chosen: string | undefined): string[] {
  const { principal } = request;
  const covers = rule.subjects.kind === 'issuer'
    ? principal.kind === 'oidc' && rule.subjects.issuer === principal.issuer
    : principal.kind === 'client' && rule.subjects.ids.has(principal.subject);
  const named = request.audience === undefined || request.brokerAudiences.includes(request.audience)
    || request.audience === rule.id || request.audience === rule.grant.serviceAccount;
  const title = `Rule ${index + 1} ${rule.id}: ${ruleVerdict(step, chosen, covers, named, rule, request)}`;
  const lines = [title, `  for: ${subjectsText(rule)}: ${covers ? 'yes' : 'no'}`];
  if (!covers) return lines;
  lines.push(`  audience: ${audienceText(rule, request, named)}`);
  if (!named) return lines;
  const clause = explainCondition(rule.condition.source, principal.claims, request.client?.claims);
  lines.push(`  condition: ${describeValue(clause.value)}`, ...clauseLines(clause, '    '));
  lines.push(`  scopes: ${scopeText(rule, request.scopes)}`);
  lines.push(`  lifetime: up to ${rule.grant.maxLifetimeSeconds} s`);
  lines.push(`  limits: ${limitsText(rule.limits)}`);
  return lines;
}

function ruleVerdict(step: RuleTrace | undefined, chosen: string | undefined, covers: boolean, named: boolean, rule: CompiledRule, request: SimulatedRequest): string {
  if (step) {
    if (step.outcome === 'matched') return 'MATCHED (first match: this rule decides)';
    return `no match (${step.outcome})`;
  }
  if (chosen === undefined) return 'not tried (the request was refused before rules were tried)';
  const wouldMatch = covers && named && rule.condition.evaluate(request.principal.claims, request.client?.claims).matched;
  return `not tried: rule ${chosen} matched first${wouldMatch ? ' (this rule would match too: it is shadowed for this caller)' : ''}`;
}

function subjectsText(rule: CompiledRule): string {
  return rule.subjects.kind === 'issuer' ? `tokens of ${rule.subjects.issuer}` : `clients ${[...rule.subjects.ids].join(', ')}`;
}

function audienceText(rule: CompiledRule, request: SimulatedRequest, named: boolean): string {
  if (request.audience === undefined) return 'none requested: any rule may answer';
  if (request.brokerAudiences.includes(request.audience)) return `${request.audience} is the broker itself: any rule may answer`;
  if (named) return `${request.audience} names this rule`;
  return `${request.audience} names neither this rule (${rule.id}) nor its service account`;
}

/** Each clause on its own line, its value first (an error's message on the next line), nested groups indented. */
function clauseLines(clause: Clause, indent: string): string[] {
  if (!clause.parts) return valueLines(clause, clause.text, indent);
  const lines = [`${indent}${clause.operator === '&&' ? 'all of (&&):' : 'any of (||):'}`];
  for (const part of clause.parts) {
    if (part.parts) lines.push(...valueLines(part, `(${part.text})`, `${indent}  `), ...clauseLines(part, `${indent}    `));
    else lines.push(...valueLines(part, part.text, `${indent}  `));
  }
  return lines;
}

function valueLines(clause: Clause, text: string, indent: string): string[] {
  const { value } = clause;
  const label = value.kind === 'not_bool' ? 'not bool' : value.kind;
  const line = `${indent}${label.padEnd(5)} ${text}`;
  if (value.kind === 'true' || value.kind === 'false') return [line];
  return [line, `${indent}${' '.repeat(6)}^ ${value.detail.replace(/ \(line \d+, column \d+\)$/, '')}`];
}

function scopeText(rule: CompiledRule, requested: readonly string[] | undefined): string {
  const allowed = rule.grant.scopes;
  const mode = `scope_request ${rule.grant.scopeRequest}`;
  if (requested === undefined) return `none requested: all of ${allowed.join(' ')} (${mode})`;
  const unique = [...new Set(requested)].sort();
  const granted = unique.filter((scope) => allowed.includes(scope));
  const missing = unique.filter((scope) => !allowed.includes(scope));
  if (missing.length === 0) return `requested ${unique.join(' ')}: all allowed (${mode})`;
  if (rule.grant.scopeRequest === 'intersect' && granted.length > 0) {
    return `requested ${unique.join(' ')}: issues ${granted.join(' ')}, drops ${missing.join(' ')} (${mode})`;
  }
  return `requested ${unique.join(' ')}: REFUSED, not granted by the rule: ${missing.join(' ')} (it grants ${allowed.join(' ')}; ${mode})`;
}

function limitsText(limits: LimitSpec | undefined): string {
  if (!limits) return 'none';
  const parts = [
    ...(limits.requestsPerMinute === undefined ? [] : [`${limits.requestsPerMinute} requests/minute`]),
    ...(limits.tokensPerDay === undefined ? [] : [`${limits.tokensPerDay} tokens/day`]),
  ];
  return `${parts.join(', ')} per principal (not counted here)`;
}

function decisionSection(decision: Decision, request: SimulatedRequest): string[] {
  if (!decision.granted) {
    return [`Decision: REFUSED: ${decision.reason} (${decision.description}${decision.detail ? `: ${decision.detail}` : ''})`];
  }
  return [`Decision: rule ${decision.rule.id}`, ...grantLines(decision.grant, decision.rule, request)];
}

function grantLines(grant: Grant, rule: CompiledRule, request: SimulatedRequest): string[] {
  const lines = [
    'Grant that would be issued (not minted):',
    `  service_account: ${grant.serviceAccount}`,
    `  delegates: ${grant.delegates.length === 0 ? '(none)' : grant.delegates.join(' -> ')}`,
    `  scopes: ${grant.scopes.join(' ')}`,
    ...(grant.requestedScopes ? [`  requested scopes: ${grant.requestedScopes.join(' ')}`] : []),
    `  lifetime: ${grant.lifetimeSeconds} s (at most; lower when BROKER_MAX_LIFETIME_SECONDS is, or the caller asks for less)`,
    `  limits: ${limitsText(rule.limits)}`,
  ];
  if (!grant.accessBoundary) {
    lines.push('  access_boundary: (none)');
  } else {
    lines.push('  access_boundary (rendered for this caller):');
    for (const line of JSON.stringify(grant.accessBoundary, null, 2).split('\n')) lines.push(`    ${line}`);
  }
  if (request.principal.kind === 'client' && rule.subjects.kind === 'clients') lines.push(`  principal: client ${request.principal.subject}`);
  return lines;
}
