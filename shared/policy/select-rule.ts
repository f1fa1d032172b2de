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
 *
 * Only the rules for which 1 and 2 hold are visited: the policy's rule index (rule-index.ts)
 * lists them by issuer, client id and audience, in document order, so a request costs about
 * the same with 1,000 rules as with the few that are for its caller. The outcome is exactly
 * that of walking every rule top to bottom.
 *
 * Traces. A selection (and a denial) carries two:
 *   - `tried`: the rules tried (conditions evaluated), in document order, and `skipped`, how
 *     many rules before the decision were passed over without being tried (for another issuer
 *     or client, or not named by the audience). Small and cheap: for request logs.
 *   - `trace`: every rule up to the deciding one (all rules for a denial), exactly as the
 *     top-to-bottom walk lists them: the passed-over rules as `issuer_mismatch` or
 *     `audience_mismatch`. Written out on first read, from `tried` and the rules' subjects (no
 *     condition is evaluated): for operator tooling (`policy explain`, `policy test`).
 */
import { BrokerError } from '../errors';
import type { Principal } from '../identity/principal';
import type { CompiledPolicy, CompiledRule } from './compiled-policy';
import { candidatePositions, indexRules, namesAnyRule, namesRule, ruleCovers, type RuleIndex } from './rule-index';

export type RuleOutcome = 'issuer_mismatch' | 'audience_mismatch' | 'condition_false' | 'condition_error' | 'condition_not_bool' | 'matched';

/** One line of the evaluation trace: kept for operators' logs, never sent to the caller. */
export interface RuleTrace {
  readonly rule: string;
  readonly outcome: RuleOutcome;
  readonly detail?: string;
  /** Present for shadow rules, which never decide. */
  readonly mode?: 'shadow';
}

/** What selection recorded about the rules, for logs (see the module comment). */
export interface SelectionTrace {
  /** The rules tried, in document order: only condition outcomes and `matched`. */
  readonly tried: readonly RuleTrace[];
  /** Rules before the decision (every other rule, for a denial) passed over without being tried. */
  readonly skipped: number;
  /** Every rule up to the decision as the top-to-bottom walk lists them; built on first read. */
  readonly trace: readonly RuleTrace[];
}

export interface RuleSelection extends SelectionTrace {
  readonly rule: CompiledRule;
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

export class PolicyDenial extends BrokerError<'access_denied'> implements SelectionTrace {
  readonly tried: readonly RuleTrace[];
  readonly skipped: number;
  readonly shadows: readonly ShadowOutcome[];
  private readonly steps: SelectionTrace;
  constructor(steps: SelectionTrace, shadows: readonly ShadowOutcome[] = []) {
    super('access_denied', 'no policy rule grants a token to this caller', { reason: 'no_rule_matched' });
    this.steps = steps;
    this.tried = steps.tried;
    this.skipped = steps.skipped;
    this.shadows = shadows;
  }

  get trace(): readonly RuleTrace[] {
    return this.steps.trace;
  }
}

export function selectRule(policy: CompiledPolicy, principal: Principal, request: SelectionRequest): RuleSelection {
  const index = ruleIndexOf(policy);
  const audience = targetAudience(index, request);
  const steps = new Steps(index, principal);
  const shadows: ShadowOutcome[] = [];
  for (const position of candidatePositions(index, principal, audience)) {
    const rule = index.rules[position]!;
    if (!ruleCovers(rule, principal) || (audience !== undefined && !namesRule(audience, rule))) continue;
    const step = tryRule(rule, principal, request.client);
    if (rule.mode === 'shadow') {
      steps.record(position, { ...step, mode: 'shadow' });
      shadows.push({ rule, outcome: step.outcome, ...(step.detail === undefined ? {} : { detail: step.detail }) });
      continue;
    }
    steps.record(position, step);
    if (step.outcome === 'matched') return new Selected(rule, steps.end(position + 1), shadows);
  }
  throw new PolicyDenial(steps.end(index.rules.length), shadows);
}

/** The audience that filters rules, or undefined for none; unknown audiences are refused. */
function targetAudience(index: RuleIndex, request: SelectionRequest): string | undefined {
  const { audience } = request;
  if (audience === undefined || request.brokerAudiences.includes(audience)) return undefined;
  if (!namesAnyRule(index, audience)) {
    throw new BrokerError('invalid_target', 'the requested audience is not known to the broker', { reason: 'unknown_audience' });
  }
  return audience;
}

/** A rule for this principal and audience: its condition decides. */
function tryRule(rule: CompiledRule, principal: Principal, client: Principal | undefined): RuleTrace {
  const result = rule.condition.evaluate(principal.claims, client?.claims);
  if (result.matched) return { rule: rule.id, outcome: 'matched' };
  const outcome: RuleOutcome =
    result.reason === 'error' ? 'condition_error' : result.reason === 'not_bool' ? 'condition_not_bool' : 'condition_false';
  return { rule: rule.id, outcome, detail: result.detail };
}

/** A rule not tried: the line the top-to-bottom walk writes for it. */
function passedOver(rule: CompiledRule, principal: Principal): RuleTrace {
  const outcome: RuleOutcome = ruleCovers(rule, principal) ? 'audience_mismatch' : 'issuer_mismatch';
  return rule.mode === 'shadow' ? { rule: rule.id, outcome, mode: 'shadow' } : { rule: rule.id, outcome };
}

class Selected implements RuleSelection {
  readonly tried: readonly RuleTrace[];
  readonly skipped: number;
  constructor(readonly rule: CompiledRule, private readonly steps: Steps, readonly shadows: readonly ShadowOutcome[]) {
    this.tried = steps.tried;
    this.skipped = steps.skipped;
  }

  get trace(): readonly RuleTrace[] {
    return this.steps.trace;
  }
}

/** The rules tried and where they stand, from which the full trace is written out on demand. */
class Steps implements SelectionTrace {
  readonly tried: RuleTrace[] = [];
  private readonly positions: number[] = [];
  private stop = 0;
  private written: readonly RuleTrace[] | undefined = undefined;

  constructor(private readonly index: RuleIndex, private readonly principal: Principal) {}

  record(position: number, step: RuleTrace): void {
    this.positions.push(position);
    this.tried.push(step);
  }

  /** The walk stopped after `stop` rules (the deciding rule's position + 1, or all of them). */
  end(stop: number): this {
    this.stop = stop;
    return this;
  }

  get skipped(): number {
    return this.stop - this.tried.length;
  }

  get trace(): readonly RuleTrace[] {
    this.written ??= this.writeOut();
    return this.written;
  }

  private writeOut(): readonly RuleTrace[] {
    const { rules } = this.index;
    const trace: RuleTrace[] = [];
    let next = 0;
    for (let position = 0; position < this.stop; position++) {
      if (next < this.positions.length && this.positions[next] === position) trace.push(this.tried[next++]!);
      else trace.push(passedOver(rules[position]!, this.principal));
    }
    return trace;
  }
}

/**
 * The policy's rule index. compilePolicy builds it; a policy whose `rules` were replaced
 * afterwards (a test's copy) gets one built here, once.
 */
function ruleIndexOf(policy: CompiledPolicy): RuleIndex {
  const built = policy.ruleIndex as RuleIndex | undefined;
  if (built?.rules === policy.rules) return built;
  let index = LATE_INDEXES.get(policy.rules);
  if (!index) {
    index = indexRules(policy.rules);
    LATE_INDEXES.set(policy.rules, index);
  }
  return index;
}

const LATE_INDEXES = new WeakMap<readonly CompiledRule[], RuleIndex>();
