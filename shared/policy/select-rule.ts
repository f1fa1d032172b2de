/**
 * Rule selection. Rules are tried in document order and the FIRST rule that matches wins;
 * later rules are never consulted, so the grant a caller gets is predictable from the file.
 * A rule matches when all hold:
 *   1. it is for this principal: its `issuer` is the token's issuer, or its `clients` list the
 *      authenticated client;
 *   2. the request's `audience`, if any, names it (its `id` or its service account) — unless
 *      the audience is one of the broker's own identifiers, which select no rule in particular;
 *   3. its CEL `condition` evaluates to `true` (an error or a non-boolean counts as no match).
 * No match is a denial (default deny).
 *
 * A rule in `mode: shadow` is tried like any other but never wins: its outcome is collected in
 * `shadows` (for the audit trail's shadow_match / shadow_refusal) and the walk goes on, so an
 * enforcing rule after it still decides. Shadow rules after the deciding rule are not tried.
 */
import { BrokerError } from '../errors';
import type { Principal } from '../identity/principal';
import type { CompiledPolicy, CompiledRule } from './compiled-policy';

export type RuleOutcome = 'issuer_mismatch' | 'audience_mismatch' | 'condition_false' | 'condition_error' | 'condition_not_bool' | 'matched';

/** One line of the evaluation trace: kept for operators' logs, never sent to the caller. */
export interface RuleTrace {
  readonly rule: string;
  readonly outcome: RuleOutcome;
  readonly detail?: string;
  /** Present for shadow rules, which never decide. */
  readonly mode?: 'shadow';
}

export interface RuleSelection {
  readonly rule: CompiledRule;
  readonly trace: readonly RuleTrace[];
  /** The shadow rules tried before the deciding rule, for principals they cover. */
  readonly shadows: readonly ShadowOutcome[];
}

/** What a shadow rule would have done. */
export interface ShadowOutcome {
  readonly rule: CompiledRule;
  readonly outcome: RuleOutcome;
  readonly detail?: string;
}

export interface SelectionRequest {
  /** The RFC 8693 `audience` parameter, if the caller sent one. */
  readonly audience?: string;
  /** Audience values that mean "the broker itself" (its issuer and token URLs). */
  readonly brokerAudiences: readonly string[];
  /** The client that authenticated the request, if any: CEL's `client`. */
  readonly client?: Principal;
}

export class PolicyDenial extends BrokerError<'access_denied'> {
  readonly trace: readonly RuleTrace[];
  readonly shadows: readonly ShadowOutcome[];
  constructor(trace: readonly RuleTrace[], shadows: readonly ShadowOutcome[] = []) {
    super('access_denied', 'no policy rule grants a token to this caller', { reason: 'no_rule_matched' });
    this.trace = trace;
    this.shadows = shadows;
  }
}

export function selectRule(policy: CompiledPolicy, principal: Principal, request: SelectionRequest): RuleSelection {
  const audience = targetAudience(policy, request);
  const trace: RuleTrace[] = [];
  const shadows: ShadowOutcome[] = [];
  for (const rule of policy.rules) {
    const step = tryRule(rule, principal, audience, request.client);
    if (rule.mode === 'shadow') {
      trace.push({ ...step, mode: 'shadow' });
      if (step.outcome !== 'issuer_mismatch' && step.outcome !== 'audience_mismatch') shadows.push({ rule, outcome: step.outcome, ...(step.detail === undefined ? {} : { detail: step.detail }) });
      continue;
    }
    trace.push(step);
    if (step.outcome === 'matched') return { rule, trace, shadows };
  }
  throw new PolicyDenial(trace, shadows);
}

/** The audience that filters rules, or undefined for none; unknown audiences are refused. */
function targetAudience(policy: CompiledPolicy, request: SelectionRequest): string | undefined {
  const { audience } = request;
  if (audience === undefined || request.brokerAudiences.includes(audience)) return undefined;
  if (!policy.rules.some((rule) => namesRule(audience, rule))) {
    throw new BrokerError('invalid_target', 'the requested audience is not known to the broker', { reason: 'unknown_audience' });
  }
  return audience;
}

/** Whether a rule is for this kind of principal at all: its issuer's tokens, or one of its clients. */
function ruleCovers(rule: CompiledRule, principal: Principal): boolean {
  if (rule.subjects.kind === 'issuer') return principal.kind === 'oidc' && rule.subjects.issuer === principal.issuer;
  return principal.kind === 'client' && rule.subjects.ids.has(principal.subject);
}

function namesRule(audience: string, rule: CompiledRule): boolean {
  return audience === rule.id || audience === rule.grant.serviceAccount;
}

function tryRule(rule: CompiledRule, principal: Principal, audience: string | undefined, client: Principal | undefined): RuleTrace {
  if (!ruleCovers(rule, principal)) return { rule: rule.id, outcome: 'issuer_mismatch' };
  if (audience !== undefined && !namesRule(audience, rule)) return { rule: rule.id, outcome: 'audience_mismatch' };
  const result = rule.condition.evaluate(principal.claims, client?.claims);
  if (result.matched) return { rule: rule.id, outcome: 'matched' };
  const outcome: RuleOutcome =
    result.reason === 'error' ? 'condition_error' : result.reason === 'not_bool' ? 'condition_not_bool' : 'condition_false';
  return { rule: rule.id, outcome, detail: result.detail };
}
