/**
 * Credential Access Boundaries (Google's downscoping through STS) that follow the caller's
 * identity. A rule's boundary is compiled at load (resource format, permissions, CEL syntax,
 * placeholders) and rendered per request from the verified claims:
 *
 *   resource:  //storage.googleapis.com/projects/_/buckets/{{claims.repository_owner}}-artifacts
 *   condition: resource.name.startsWith("projects/_/buckets/b/objects/" + {{claims.sub}})
 *
 * A placeholder's value must be a string matching its safe pattern (default
 * DEFAULTS.boundaryPlaceholderPattern) or the request is refused. In a resource the value is
 * spliced into the name; in a condition it becomes one double-quoted CEL string literal,
 * escaped, never code. A caller may narrow the rendered boundary further, never widen it.
 */
import { parse } from '@bufbuild/cel';
import { DEFAULTS } from '../config/defaults';
import { BrokerError, invalidGrant } from '../errors';
import type { PolicyIssue } from './policy-error';

/** Google's wire form (STS `options.accessBoundary`). */
export interface AccessBoundaryWire {
  accessBoundaryRules: AccessBoundaryRuleWire[];
}

export interface AccessBoundaryRuleWire {
  availableResource: string;
  availablePermissions: string[];
  availabilityCondition?: { expression: string; title?: string; description?: string };
}

export interface AccessBoundaryRuleDocument {
  resource: string;
  permissions: string[];
  condition?: { expression: string; title?: string; description?: string };
}

/** Values placeholders may name: a verified claim, or the authenticated client's id. */
export interface PlaceholderValues {
  readonly claims: Readonly<Record<string, unknown>>;
  readonly clientId?: string;
}

type Part = { text: string } | { placeholder: string };
type Template = readonly Part[];

export interface CompiledAccessBoundary {
  readonly rules: ReadonlyArray<{
    readonly resource: Template;
    readonly permissions: readonly string[];
    readonly condition?: { readonly expression: Template; readonly title?: string; readonly description?: string };
  }>;
  /** Placeholder name (`claims.x`, `client.client_id`) → the pattern its value must match. */
  readonly patterns: ReadonlyMap<string, RegExp>;
}

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const PLACEHOLDER_NAME = /^(claims\.[A-Za-z0-9_]{1,64}|client\.client_id)$/;
/** Cloud Storage buckets, the one resource type Credential Access Boundaries support. */
const RESOURCE = /^\/\/storage\.googleapis\.com\/projects\/_\/buckets\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
const PERMISSION = /^inRole:roles\/[A-Za-z0-9_.]{1,128}$/;
/** What a placeholder stands for while its template's syntax is checked at load. */
const SAMPLE = 'sample0';

/** Compiles a grant's `access_boundary`; problems go to `issues` with their paths. */
export function compileAccessBoundary(
  rules: readonly AccessBoundaryRuleDocument[],
  patterns: Readonly<Record<string, string>> | undefined,
  path: string,
  issues: PolicyIssue[],
): CompiledAccessBoundary {
  const compiledPatterns = new Map<string, RegExp>();
  for (const [name, source] of Object.entries(patterns ?? {})) {
    if (!PLACEHOLDER_NAME.test(name)) issues.push({ path: `${path}.placeholder_patterns.${name}`, reason: 'must name claims.NAME or client.client_id' });
    try {
      compiledPatterns.set(name, new RegExp(`^(?:${source})$`));
    } catch {
      issues.push({ path: `${path}.placeholder_patterns.${name}`, reason: 'not a valid regular expression' });
    }
  }
  const compiled = rules.map((rule, r) => {
    const at = `${path}.access_boundary[${r}]`;
    const resource = template(rule.resource, `${at}.resource`, issues);
    if (!RESOURCE.test(renderWith(resource, () => SAMPLE))) {
      issues.push({ path: `${at}.resource`, reason: 'must be a Cloud Storage bucket: //storage.googleapis.com/projects/_/buckets/NAME' });
    }
    rule.permissions.forEach((permission, p) => {
      if (!PERMISSION.test(permission)) issues.push({ path: `${at}.permissions[${p}]`, reason: 'must be inRole:roles/ROLE' });
    });
    const condition = rule.condition && { ...rule.condition, expression: template(rule.condition.expression, `${at}.condition.expression`, issues) };
    if (condition) {
      try {
        parse(renderWith(condition.expression, () => celString(SAMPLE)));
      } catch (err) {
        issues.push({ path: `${at}.condition.expression`, reason: `invalid CEL: ${err instanceof Error ? err.message.split('\n')[0] : 'syntax error'}` });
      }
    }
    return { resource, permissions: [...new Set(rule.permissions)].sort(), ...(condition ? { condition } : {}) };
  });
  return { rules: compiled, patterns: compiledPatterns };
}

/** The boundary for one request, in Google's wire form; refuses unusable placeholder values. */
export function renderAccessBoundary(boundary: CompiledAccessBoundary, values: PlaceholderValues): AccessBoundaryWire {
  const value = (name: string): string => placeholderValue(name, values, boundary.patterns.get(name) ?? DEFAULT_PATTERN);
  return {
    accessBoundaryRules: boundary.rules.map((rule) => ({
      availableResource: renderWith(rule.resource, value),
      availablePermissions: [...rule.permissions],
      ...(rule.condition
        ? { availabilityCondition: { ...rule.condition, expression: renderWith(rule.condition.expression, (name) => celString(value(name))) } }
        : {}),
    })),
  };
}

/**
 * A boundary the caller sent (`options.accessBoundary`), accepted only when it is within the
 * rule's: each of its rules names a resource of the rule's boundary, with a subset of that
 * resource's permissions, and either the rule's own condition or (where the rule has none) any
 * condition, which can only narrow. Without a rule boundary, any well-formed boundary narrows.
 */
export function narrowAccessBoundary(granted: AccessBoundaryWire | undefined, requested: AccessBoundaryWire): AccessBoundaryWire {
  for (const rule of requested.accessBoundaryRules) {
    if (!RESOURCE.test(rule.availableResource) || !rule.availablePermissions.every((p) => PERMISSION.test(p))) {
      throw notWithin('the requested access boundary names a resource or permission the broker does not accept');
    }
    if (!granted) continue;
    const within = granted.accessBoundaryRules.some((allowed) =>
      allowed.availableResource === rule.availableResource &&
      rule.availablePermissions.every((p) => allowed.availablePermissions.includes(p)) &&
      (allowed.availabilityCondition === undefined || sameCondition(allowed.availabilityCondition, rule.availabilityCondition)));
    if (!within) throw notWithin('the requested access boundary is not within the boundary the policy grants');
  }
  return requested;
}

const DEFAULT_PATTERN = new RegExp(DEFAULTS.boundaryPlaceholderPattern);

function notWithin(description: string): BrokerError {
  return new BrokerError('invalid_target', description, { reason: 'boundary_not_within_rule' });
}

function sameCondition(a: { expression: string }, b: { expression: string } | undefined): boolean {
  return b !== undefined && a.expression === b.expression;
}

function placeholderValue(name: string, values: PlaceholderValues, pattern: RegExp): string {
  const value = name === 'client.client_id' ? values.clientId : Object.hasOwn(values.claims, name.slice('claims.'.length)) ? values.claims[name.slice('claims.'.length)] : undefined;
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw invalidGrant(`the token's ${name.replace(/^claims\./, '')} cannot be used in the access boundary (missing, not a string, or not matching its pattern)`, 'boundary_value_refused');
  }
  return value;
}

/** A double-quoted CEL string literal holding exactly `value`. */
function celString(value: string): string {
  return `"${[...value].map((ch) => (ch === '"' || ch === '\\' ? `\\${ch}` : ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}` : ch)).join('')}"`;
}

function template(source: string, path: string, issues: PolicyIssue[]): Template {
  const parts: Part[] = [];
  let last = 0;
  for (const match of source.matchAll(PLACEHOLDER)) {
    const name = match[1] ?? '';
    if (!PLACEHOLDER_NAME.test(name)) issues.push({ path, reason: `unknown placeholder {{${name.slice(0, 64)}}}: use {{claims.NAME}} or {{client.client_id}}` });
    if (match.index > last) parts.push({ text: source.slice(last, match.index) });
    parts.push({ placeholder: name });
    last = match.index + match[0].length;
  }
  if (last < source.length) parts.push({ text: source.slice(last) });
  if (parts.some((part) => 'text' in part && /\{\{|\}\}/.test(part.text))) issues.push({ path, reason: 'unbalanced {{ }}' });
  return parts;
}

function renderWith(parts: Template, value: (name: string) => string): string {
  return parts.map((part) => ('text' in part ? part.text : value(part.placeholder))).join('');
}
