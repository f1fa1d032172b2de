/**
 * Narrows a rule's grant to what the caller asked for: scopes ⊆ the rule's scopes (all of
 * them when none are asked for), lifetime = min(requested, rule maximum, broker ceiling).
 */
import { BrokerError, invalidRequest } from '../errors';
import { DEFAULTS } from '../config/defaults';
import type { CompiledRule } from './compiled-policy';

/** Exactly what will be minted. */
export interface Grant {
  readonly ruleId: string;
  readonly serviceAccount: string;
  /** Sorted, without duplicates. */
  readonly scopes: readonly string[];
  readonly lifetimeSeconds: number;
  readonly delegates: readonly string[];
}

export function resolveGrant(rule: CompiledRule, requestedScopes: readonly string[] | undefined, requestedLifetimeSeconds?: number): Grant {
  return {
    ruleId: rule.id,
    serviceAccount: rule.grant.serviceAccount,
    scopes: narrowScopes(rule.grant.scopes, requestedScopes),
    lifetimeSeconds: clampLifetime(rule.grant.maxLifetimeSeconds, requestedLifetimeSeconds),
    delegates: rule.grant.delegates,
  };
}

function narrowScopes(allowed: readonly string[], requested: readonly string[] | undefined): readonly string[] {
  if (requested === undefined || requested.length === 0) return allowed;
  const unique = [...new Set(requested)].sort();
  if (!unique.every((scope) => allowed.includes(scope))) {
    throw new BrokerError('invalid_scope', 'a requested scope is not granted by the policy', { reason: 'scope_not_allowed' });
  }
  return unique;
}

function clampLifetime(ruleMaximum: number, requested: number | undefined): number {
  if (requested !== undefined && requested < DEFAULTS.minTokenLifetimeSeconds) {
    throw invalidRequest(`requested lifetime must be at least ${DEFAULTS.minTokenLifetimeSeconds} seconds`, 'lifetime_too_short');
  }
  return Math.min(requested ?? Infinity, ruleMaximum, DEFAULTS.maxTokenLifetimeSecondsCeiling);
}
