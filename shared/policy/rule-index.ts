/**
 * The rule index: built once when a policy compiles, so that selecting a rule visits only the
 * rules that can apply to a request instead of walking all of them (a policy may hold 1,000
 * rules over 100 issuers; a caller is usually covered by a handful).
 *
 * A rule applies to a principal when it is for that principal (`ruleCovers`: its `issuer` is
 * the token's issuer, or its `clients` list the authenticated client) and, when the request
 * names an `audience`, the audience names it (`namesRule`: its id or its service account).
 * The index holds, for each issuer, each client id and each audience value, the positions of
 * the rules it selects, in ascending (document) order. A principal has exactly one key (its
 * issuer, or its client id), so the candidates of a request are that key's list, intersected
 * with the audience's list when there is one. Every list is in document order, so walking the
 * candidates in list order is walking the rules top to bottom with the others left out.
 *
 * The index only ever leaves rules out: selection still checks both predicates on every
 * candidate, so a rule is never tried for a principal it is not for.
 */
import type { Principal } from '../identity/principal';
import type { CompiledRule } from './compiled-policy';

export interface RuleIndex {
  /** The rules indexed, in document order; positions refer to this array. */
  readonly rules: readonly CompiledRule[];
  /** Positions of the rules for tokens of an issuer (`rules[].issuer`), by issuer. */
  readonly byIssuer: ReadonlyMap<string, readonly number[]>;
  /** Positions of the rules for a registered client (`rules[].clients`), by client id. */
  readonly byClient: ReadonlyMap<string, readonly number[]>;
  /** Positions of the rules an `audience` names: by rule id and by service account. */
  readonly byAudience: ReadonlyMap<string, readonly number[]>;
}

const NONE: readonly number[] = Object.freeze([]);

/** Builds the index of `rules` (in document order). */
export function indexRules(rules: readonly CompiledRule[]): RuleIndex {
  const byIssuer = new Map<string, number[]>();
  const byClient = new Map<string, number[]>();
  const byAudience = new Map<string, number[]>();
  rules.forEach((rule, position) => {
    if (rule.subjects.kind === 'issuer') append(byIssuer, rule.subjects.issuer, position);
    else for (const id of rule.subjects.ids) append(byClient, id, position);
    append(byAudience, rule.id, position);
    append(byAudience, rule.grant.serviceAccount, position);
  });
  return Object.freeze({ rules, byIssuer: frozen(byIssuer), byClient: frozen(byClient), byAudience: frozen(byAudience) });
}

/** Whether an `audience` names at least one rule (else the broker answers invalid_target). */
export function namesAnyRule(index: RuleIndex, audience: string): boolean {
  return index.byAudience.has(audience);
}

/**
 * The positions of the rules that may apply, ascending, possibly with extras the caller
 * filters out: the principal's list, or, with an `audience`, the shorter of the principal's
 * and the audience's lists (every rule in both is in the shorter one).
 */
export function candidatePositions(index: RuleIndex, principal: Principal, audience: string | undefined): readonly number[] {
  const mine = principalPositions(index, principal);
  if (audience === undefined) return mine;
  const named = index.byAudience.get(audience) ?? NONE;
  return named.length < mine.length ? named : mine;
}

/** Whether a rule is for this principal at all: its issuer's tokens, or one of its clients. */
export function ruleCovers(rule: CompiledRule, principal: Principal): boolean {
  if (rule.subjects.kind === 'issuer') return principal.kind === 'oidc' && rule.subjects.issuer === principal.issuer;
  return principal.kind === 'client' && rule.subjects.ids.has(principal.subject);
}

/** Whether an `audience` names a rule: its id or its service account. */
export function namesRule(audience: string, rule: CompiledRule): boolean {
  return audience === rule.id || audience === rule.grant.serviceAccount;
}

function principalPositions(index: RuleIndex, principal: Principal): readonly number[] {
  if (principal.kind === 'oidc') return index.byIssuer.get(principal.issuer) ?? NONE;
  if (principal.kind === 'client') return index.byClient.get(principal.subject) ?? NONE;
  return NONE;
}

function append(map: Map<string, number[]>, key: string, position: number): void {
  const list = map.get(key);
  if (!list) map.set(key, [position]);
  else if (list[list.length - 1] !== position) list.push(position);
}

function frozen(map: Map<string, number[]>): ReadonlyMap<string, readonly number[]> {
  for (const list of map.values()) Object.freeze(list);
  return map;
}
