/**
 * Narrows a rule's grant to what the caller asked for: scopes ⊆ the rule's scopes (all of
 * them when none are asked for), lifetime = min(requested, rule maximum, broker ceiling).
 */
import { BrokerError, invalidRequest } from '../errors';
import { DEFAULTS } from '../config/defaults';
import { narrowAccessBoundary, renderAccessBoundary, type AccessBoundaryWire, type PlaceholderValues } from './access-boundary';
import type { CompiledRule } from './compiled-policy';
import type { GeminiEphemeralSpec } from './gemini-ephemeral';

/** Exactly what will be minted. */
export interface Grant {
  readonly ruleId: string;
  readonly serviceAccount: string;
  /** Sorted, without duplicates. */
  readonly scopes: readonly string[];
  /** What the caller asked for, when it differs from what is issued (`scope_request: intersect`). */
  readonly requestedScopes?: readonly string[];
  readonly lifetimeSeconds: number;
  readonly delegates: readonly string[];
  /** Applied through Google STS after minting: the rule's boundary rendered for this caller, or the caller's narrower one. */
  readonly accessBoundary?: AccessBoundaryWire;
  /** Set when the caller asked for an ID token: its audience, allowed by the rule. */
  readonly idTokenAudience?: string;
  /** Set when the caller asked for a Gemini Live API ephemeral token: the rule's `gemini_ephemeral`. */
  readonly geminiEphemeral?: GeminiEphemeralSpec;
}

/** What an access boundary is rendered from, and the caller's own boundary (options), if any. */
export interface BoundaryRequest {
  readonly values: PlaceholderValues;
  readonly requested?: AccessBoundaryWire;
}

export function resolveGrant(
  rule: CompiledRule, requestedScopes: readonly string[] | undefined, requestedLifetimeSeconds?: number, boundary?: BoundaryRequest, idTokenAudience?: string,
  geminiEphemeral?: boolean,
): Grant {
  if (geminiEphemeral) return geminiEphemeralGrant(rule);
  if (idTokenAudience !== undefined) return idTokenGrant(rule, idTokenAudience);
  const accessBoundary = boundaryFor(rule, boundary);
  return {
    ruleId: rule.id,
    serviceAccount: rule.grant.serviceAccount,
    ...scopesFor(rule, requestedScopes),
    lifetimeSeconds: clampLifetime(rule.grant.maxLifetimeSeconds, requestedLifetimeSeconds),
    delegates: rule.grant.delegates,
    ...(accessBoundary ? { accessBoundary } : {}),
  };
}

/** The scopes to issue, and the request's when they differ (so the audit trail shows both). */
function scopesFor(rule: CompiledRule, requested: readonly string[] | undefined): { scopes: readonly string[]; requestedScopes?: readonly string[] } {
  const scopes = narrowScopes(rule.grant.scopes, requested, rule.grant.scopeRequest);
  const asked = requested && [...new Set(requested)].sort();
  return asked && asked.length > 0 && asked.join(' ') !== scopes.join(' ') ? { scopes, requestedScopes: asked } : { scopes };
}

/** An ID token names its service account and audience only: no scopes, boundary or lifetime (Google fixes an hour). */
function idTokenGrant(rule: CompiledRule, audience: string): Grant {
  if (!rule.grant.idTokenAudience?.(audience)) {
    throw new BrokerError('invalid_target', 'the rule does not issue ID tokens for this resource', { reason: 'id_token_audience_not_allowed' });
  }
  return { ruleId: rule.id, serviceAccount: rule.grant.serviceAccount, scopes: [], lifetimeSeconds: DEFAULTS.maxTokenLifetimeSecondsCeiling, delegates: rule.grant.delegates, idTokenAudience: audience };
}

/** An ephemeral token is what the rule's `gemini_ephemeral` says, nothing the caller chooses; the service account is recorded, not used. */
function geminiEphemeralGrant(rule: CompiledRule): Grant {
  const spec = rule.grant.geminiEphemeral;
  if (!spec) {
    throw new BrokerError('invalid_target', 'the rule does not issue Gemini ephemeral tokens', { reason: 'gemini_ephemeral_not_allowed' });
  }
  return { ruleId: rule.id, serviceAccount: rule.grant.serviceAccount, scopes: [], lifetimeSeconds: spec.expireSeconds, delegates: rule.grant.delegates, geminiEphemeral: spec };
}

function boundaryFor(rule: CompiledRule, boundary: BoundaryRequest | undefined): AccessBoundaryWire | undefined {
  const granted = rule.grant.accessBoundary && boundary && renderAccessBoundary(rule.grant.accessBoundary, boundary.values);
  if (rule.grant.accessBoundary && !granted) throw new TypeError('a rule with an access boundary needs the values to render it');
  return boundary?.requested ? narrowAccessBoundary(granted, boundary.requested) : granted;
}

function narrowScopes(allowed: readonly string[], requested: readonly string[] | undefined, mode: 'exact' | 'intersect' = 'exact'): readonly string[] {
  if (requested === undefined || requested.length === 0) return allowed;
  const unique = [...new Set(requested)].sort();
  const granted = unique.filter((scope) => allowed.includes(scope));
  if (mode === 'intersect' ? granted.length === 0 : granted.length !== unique.length) {
    throw new BrokerError('invalid_scope', mode === 'intersect' ? 'no requested scope is granted by the policy' : 'a requested scope is not granted by the policy', { reason: 'scope_not_allowed' });
  }
  return granted;
}

function clampLifetime(ruleMaximum: number, requested: number | undefined): number {
  if (requested !== undefined && requested < DEFAULTS.minTokenLifetimeSeconds) {
    throw invalidRequest(`requested lifetime must be at least ${DEFAULTS.minTokenLifetimeSeconds} seconds`, 'lifetime_too_short');
  }
  return Math.min(requested ?? Infinity, ruleMaximum, DEFAULTS.maxTokenLifetimeSecondsCeiling);
}
