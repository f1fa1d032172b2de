/** Parameter readers every grant type shares. */
import { DEFAULTS } from '../config/defaults';
import { BrokerError, invalidRequest } from '../errors';
import { SCOPE_TOKEN } from '../policy/schema';
import type { ReasonFor } from '../refusal-reasons';
import type { TokenParams } from '../token-params';

/** Keys the broker reads from the JSON `options` parameter; `userProject` is accepted for STS compatibility and ignored. */
const OPTION_KEYS = new Set(['lifetimeSeconds', 'userProject']);

export function required(params: TokenParams, name: string): string {
  const value = params.get(name);
  if (value === undefined || value === '') throw invalidRequest(`missing required parameter ${name}`, 'missing_parameter');
  return value;
}

/** RFC 6749 §3.2: a parameter sent without a value is treated as if it were omitted. */
export function optional(params: TokenParams, name: string): string | undefined {
  const value = params.get(name);
  return value === '' ? undefined : value;
}

const invalidScope = (description: string, reason: ReasonFor<'invalid_scope'>) => new BrokerError('invalid_scope', description, { reason });

/**
 * RFC 6749 §3.3: space-delimited scope tokens, each named once. A scope that is not well formed
 * is `invalid_scope` (RFC 6749 §5.2: "invalid, unknown, malformed, or exceeds the scope granted").
 */
export function parseScope(scope: string | undefined): readonly string[] | undefined {
  if (scope === undefined || scope === '') return undefined;
  const scopes = scope.split(' ').filter((s) => s !== '');
  if (scopes.length === 0) throw invalidScope('scope must name at least one scope', 'malformed_scope');
  if (scopes.length > DEFAULTS.maxScopes) throw invalidScope(`at most ${DEFAULTS.maxScopes} scopes may be requested`, 'too_many_scopes');
  if (!scopes.every((s) => SCOPE_TOKEN.test(s))) throw invalidScope('scope contains invalid characters', 'malformed_scope');
  if (new Set(scopes).size !== scopes.length) throw invalidScope('scope names the same scope more than once', 'duplicate_scope');
  return scopes;
}

/** The JSON `options` parameter (as Google STS has): `{"lifetimeSeconds": 600}`. */
export function parseOptions(options: string | undefined): number | undefined {
  if (options === undefined || options === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(options);
  } catch {
    throw invalidRequest('options must be a JSON object', 'malformed_options');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalidRequest('options must be a JSON object', 'malformed_options');
  }
  const record = parsed as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !OPTION_KEYS.has(key));
  if (unknown.length > 0) throw invalidRequest('options contains unsupported keys', 'unsupported_options');
  const lifetime = record.lifetimeSeconds;
  if (lifetime === undefined) return undefined;
  if (typeof lifetime !== 'number' || !Number.isSafeInteger(lifetime) || lifetime <= 0) {
    throw invalidRequest('options.lifetimeSeconds must be a positive integer', 'malformed_options');
  }
  return lifetime;
}
