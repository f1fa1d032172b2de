/** Parameter readers every grant type shares. */
import { DEFAULTS } from '../config/defaults';
import { BrokerError, invalidRequest } from '../errors';
import type { AccessBoundaryWire } from '../policy/access-boundary';
import { SCOPE_TOKEN } from '../policy/schema';
import type { ReasonFor } from '../refusal-reasons';
import type { TokenParams } from '../token-params';

/** Keys the broker reads from the JSON `options` parameter; `userProject` is accepted for STS compatibility and ignored. */
const OPTION_KEYS = new Set(['lifetimeSeconds', 'accessBoundary', 'userProject']);

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

/** What the JSON `options` parameter may ask for. */
export interface RequestOptions {
  readonly lifetimeSeconds?: number;
  /** A boundary narrower than the rule's (Google's wire form). */
  readonly accessBoundary?: AccessBoundaryWire;
}

/**
 * The JSON `options` parameter, as Google STS has it: `{"lifetimeSeconds": 600}`,
 * `{"accessBoundary": {"accessBoundaryRules": [...]}}`; `userProject` is accepted and ignored.
 */
export function parseOptions(options: string | undefined): RequestOptions {
  if (options === undefined || options === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(options);
  } catch {
    throw invalidRequest('options must be a JSON object', 'malformed_options');
  }
  if (!isRecord(parsed)) throw invalidRequest('options must be a JSON object', 'malformed_options');
  const unknown = Object.keys(parsed).filter((key) => !OPTION_KEYS.has(key));
  if (unknown.length > 0) throw invalidRequest('options contains unsupported keys', 'unsupported_options');
  return { ...lifetimeOf(parsed.lifetimeSeconds), ...boundaryOf(parsed.accessBoundary) };
}

function lifetimeOf(lifetime: unknown): RequestOptions {
  if (lifetime === undefined) return {};
  if (typeof lifetime !== 'number' || !Number.isSafeInteger(lifetime) || lifetime <= 0) {
    throw invalidRequest('options.lifetimeSeconds must be a positive integer', 'malformed_options');
  }
  return { lifetimeSeconds: lifetime };
}

/** Shape only; whether it is within the rule's boundary is decided once the rule is known. */
function boundaryOf(value: unknown): RequestOptions {
  if (value === undefined) return {};
  const malformed = () => invalidRequest('options.accessBoundary must be {"accessBoundaryRules": [{"availableResource", "availablePermissions", "availabilityCondition"?}]}', 'malformed_options');
  if (!isRecord(value) || Object.keys(value).some((key) => key !== 'accessBoundaryRules')) throw malformed();
  const rules = value.accessBoundaryRules;
  if (!Array.isArray(rules) || rules.length < 1 || rules.length > DEFAULTS.maxAccessBoundaryRules) throw malformed();
  return {
    accessBoundary: {
      accessBoundaryRules: rules.map((rule: unknown) => {
        if (!isRecord(rule) || Object.keys(rule).some((key) => !RULE_KEYS.has(key))) throw malformed();
        const { availableResource, availablePermissions, availabilityCondition } = rule;
        if (typeof availableResource !== 'string' || !Array.isArray(availablePermissions) || availablePermissions.length === 0
          || !availablePermissions.every((p) => typeof p === 'string')) throw malformed();
        const condition = availabilityCondition === undefined ? undefined : conditionOf(availabilityCondition, malformed);
        return { availableResource, availablePermissions: [...(availablePermissions as string[])], ...(condition ? { availabilityCondition: condition } : {}) };
      }),
    },
  };
}

function conditionOf(value: unknown, malformed: () => Error): { expression: string; title?: string; description?: string } {
  if (!isRecord(value) || typeof value.expression !== 'string' || Object.keys(value).some((key) => !['expression', 'title', 'description'].includes(key))
    || (value.title !== undefined && typeof value.title !== 'string') || (value.description !== undefined && typeof value.description !== 'string')) throw malformed();
  return { expression: value.expression, ...(value.title === undefined ? {} : { title: value.title as string }), ...(value.description === undefined ? {} : { description: value.description as string }) };
}

const RULE_KEYS = new Set(['availableResource', 'availablePermissions', 'availabilityCondition']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
