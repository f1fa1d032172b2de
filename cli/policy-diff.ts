/**
 * `policy diff OLD NEW [--allow-insecure-loopback]`: what a policy change changes, in the
 * terms the broker decides by. Both files are loaded as the broker would (presets expanded,
 * defaults applied: a rule's lifetime is its effective maximum), then compared: rules added,
 * removed, moved (first match wins, so order matters) and changed, field by field; issuers
 * and clients added, removed and changed; and both policy versions (CompiledPolicy.version,
 * which the audit trail and the token cache record).
 */
import { canonicalJson } from '../shared/canonical-json';
import type { CompiledPolicy, CompiledRule } from '../shared/policy/compiled-policy';
import { splitTopLevel } from '../shared/policy/explain-condition';
import { expandPreset } from '../shared/policy/presets';
import type { PolicyDocument, RuleDocument } from '../shared/policy/schema';
import { parseOptions, PolicyToolUsageError, requirePolicy, type Io } from './policy-tools';

interface LoadedPolicy {
  readonly document: PolicyDocument;
  readonly policy: CompiledPolicy;
}

export interface RuleChange {
  readonly id: string;
  readonly changes: readonly string[];
}

export interface PolicyDiff {
  readonly oldVersion: string;
  readonly newVersion: string;
  readonly rulesAdded: readonly string[];
  readonly rulesRemoved: readonly string[];
  readonly rulesChanged: readonly RuleChange[];
  /** Rules present in both whose relative order differs: which one is tried first may change. */
  readonly orderChanged: boolean;
  readonly issuersAdded: readonly string[];
  readonly issuersRemoved: readonly string[];
  readonly issuersChanged: readonly string[];
  readonly clientsAdded: readonly string[];
  readonly clientsRemoved: readonly string[];
  readonly clientsChanged: readonly string[];
  /** Top-level sections (cors, public_clients, web_apps) whose content differs. */
  readonly otherChanged: readonly string[];
}

export async function policyDiff(args: string[], io: Io): Promise<void> {
  const { positionals, options } = parseOptions('policy diff', args, [], ['allow-insecure-loopback']);
  const [oldFile, newFile, ...rest] = positionals;
  if (oldFile === undefined || newFile === undefined || rest.length > 0) throw new PolicyToolUsageError('policy diff takes two policy files: OLD NEW');
  const settings = { allowInsecureLoopback: options.has('allow-insecure-loopback') };
  const before = await requirePolicy(oldFile, settings);
  const after = await requirePolicy(newFile, settings);
  io.out(renderDiff(diffPolicies(before, after), oldFile, newFile));
}

export function diffPolicies(before: LoadedPolicy, after: LoadedPolicy): PolicyDiff {
  const oldRules = new Map(before.policy.rules.map((rule, i) => [rule.id, { rule, doc: before.document.rules[i] as RuleDocument }]));
  const newRules = new Map(after.policy.rules.map((rule, i) => [rule.id, { rule, doc: after.document.rules[i] as RuleDocument }]));
  const kept = [...oldRules.keys()].filter((id) => newRules.has(id));
  const keptAfter = [...newRules.keys()].filter((id) => oldRules.has(id));
  const issuers = keyedDiff(issuerEntries(before.document), issuerEntries(after.document));
  const clients = keyedDiff(
    new Map((before.document.clients ?? []).map((c) => [c.id, c])),
    new Map((after.document.clients ?? []).map((c) => [c.id, c])),
  );
  return {
    oldVersion: before.policy.version,
    newVersion: after.policy.version,
    rulesAdded: [...newRules.keys()].filter((id) => !oldRules.has(id)),
    rulesRemoved: [...oldRules.keys()].filter((id) => !newRules.has(id)),
    rulesChanged: kept.flatMap((id) => {
      const a = oldRules.get(id);
      const b = newRules.get(id);
      const changes = a && b ? ruleChanges(a, b) : [];
      return changes.length > 0 ? [{ id, changes }] : [];
    }),
    orderChanged: kept.join('\n') !== keptAfter.join('\n'),
    issuersAdded: issuers.added,
    issuersRemoved: issuers.removed,
    issuersChanged: issuers.changed,
    clientsAdded: clients.added,
    clientsRemoved: clients.removed,
    clientsChanged: clients.changed,
    otherChanged: (['cors', 'public_clients', 'web_apps'] as const).filter((key) => canonicalJson(before.document[key]) !== canonicalJson(after.document[key])),
  };
}

/** Issuers by the URL rules name, with presets written out. */
function issuerEntries(document: PolicyDocument): Map<string, object> {
  return new Map(document.issuers.map((issuer) => {
    const expanded = expandPreset(issuer);
    return [expanded.issuer, expanded];
  }));
}

/** Added and removed keys; changed ones as `key (field, field)`, naming the top-level fields that differ. */
function keyedDiff(before: ReadonlyMap<string, object>, after: ReadonlyMap<string, object>) {
  const changed = [...before.keys()].flatMap((key) => {
    const a = before.get(key) as Record<string, unknown>;
    const b = after.get(key) as Record<string, unknown> | undefined;
    if (!b || canonicalJson(a) === canonicalJson(b)) return [];
    const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((f) => canonicalJson(a[f]) !== canonicalJson(b[f])).sort();
    return [`${key} (${fields.join(', ')})`];
  });
  return {
    added: [...after.keys()].filter((key) => !before.has(key)),
    removed: [...before.keys()].filter((key) => !after.has(key)),
    changed,
  };
}

type Side = { rule: CompiledRule; doc: RuleDocument };

/** What differs, one readable line per field. Compiled values where defaults matter (lifetime, scopes, mode). */
function ruleChanges(a: Side, b: Side): string[] {
  const changes: string[] = [];
  const field = (name: string, before: unknown, after: unknown, show: (value: unknown) => string = show_) => {
    if (canonicalJson(before) !== canonicalJson(after)) changes.push(`${name}: ${show(before)} -> ${show(after)}`);
  };
  field('for', subjects(a.rule), subjects(b.rule), String);
  if (a.rule.condition.source !== b.rule.condition.source) changes.push(conditionChange(a.rule.condition.source, b.rule.condition.source));
  field('service account', a.rule.grant.serviceAccount, b.rule.grant.serviceAccount);
  const scopesBefore = a.rule.grant.scopes;
  const scopesAfter = b.rule.grant.scopes;
  if (scopesBefore.join(' ') !== scopesAfter.join(' ')) {
    const added = scopesAfter.filter((s) => !scopesBefore.includes(s));
    const removed = scopesBefore.filter((s) => !scopesAfter.includes(s));
    changes.push(`scopes:${added.length ? ` added ${added.join(' ')}` : ''}${removed.length ? `${added.length ? ';' : ''} removed ${removed.join(' ')}` : ''}`);
  }
  field('scope_request (mode)', a.rule.grant.scopeRequest, b.rule.grant.scopeRequest);
  field('lifetime (max seconds)', a.rule.grant.maxLifetimeSeconds, b.rule.grant.maxLifetimeSeconds);
  field('delegates', a.rule.grant.delegates, b.rule.grant.delegates);
  field('limits', a.doc.limits ?? null, b.doc.limits ?? null);
  field('access_boundary', [a.doc.grant.access_boundary ?? null, a.doc.grant.placeholder_patterns ?? null], [b.doc.grant.access_boundary ?? null, b.doc.grant.placeholder_patterns ?? null]);
  field('id_token_audiences', a.doc.grant.id_token_audiences ?? null, b.doc.grant.id_token_audiences ?? null);
  field('gemini_ephemeral', a.doc.grant.gemini_ephemeral ?? null, b.doc.grant.gemini_ephemeral ?? null);
  field('audit_claims', a.rule.auditClaims, b.rule.auditClaims);
  field('username', a.doc.username ?? null, b.doc.username ?? null);
  field('description', a.doc.description ?? null, b.doc.description ?? null);
  return changes;
}

/** Clause by clause when both are chains of the same operator, else the whole old and new text. */
function conditionChange(before: string, after: string): string {
  for (const operator of ['||', '&&'] as const) {
    const old = splitTopLevel(before.trim(), operator).map(oneLine);
    const now = splitTopLevel(after.trim(), operator).map(oneLine);
    if (old.length > 1 && now.length > 1) {
      const removed = old.filter((clause) => !now.includes(clause));
      const added = now.filter((clause) => !old.includes(clause));
      if (removed.length === 0 && added.length === 0) return `condition (${operator}): same clauses, reordered or reformatted`;
      return [`condition (${operator} clauses):`, ...removed.map((c) => `    - ${c}`), ...added.map((c) => `    + ${c}`)].join('\n');
    }
    if (old.length > 1 || now.length > 1) break;
  }
  return `condition:\n    - ${oneLine(before)}\n    + ${oneLine(after)}`;
}

function show_(value: unknown): string {
  if (value === null || value === undefined) return '(none)';
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  return canonicalJson(value);
}

function subjects(rule: CompiledRule): string {
  return rule.subjects.kind === 'issuer' ? `tokens of ${rule.subjects.issuer}` : `clients ${[...rule.subjects.ids].sort().join(', ')}`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

export function renderDiff(diff: PolicyDiff, oldFile: string, newFile: string): string {
  const lines = [
    `old ${oldFile}: version ${diff.oldVersion}`,
    `new ${newFile}: version ${diff.newVersion}`,
  ];
  if (diff.oldVersion === diff.newVersion) return `${[...lines, 'no change: both load to the same policy version'].join('\n')}\n`;
  const list = (title: string, items: readonly string[]) => {
    if (items.length > 0) lines.push(`${title}: ${items.join(', ')}`);
  };
  list('rules added', diff.rulesAdded);
  list('rules removed', diff.rulesRemoved);
  for (const { id, changes } of diff.rulesChanged) {
    lines.push(`rule ${id} changed:`, ...changes.map((change) => `  ${change}`));
  }
  if (diff.orderChanged) lines.push('rule order changed (first match wins: a caller may now get another rule)');
  list('issuers added', diff.issuersAdded);
  list('issuers removed', diff.issuersRemoved);
  list('issuers changed', diff.issuersChanged);
  list('clients added', diff.clientsAdded);
  list('clients removed', diff.clientsRemoved);
  list('clients changed', diff.clientsChanged);
  list('also changed', diff.otherChanged);
  if (lines.length === 2) lines.push('no rule, issuer or client changed (formatting, order of keys, or equivalent spellings only)');
  return `${lines.join('\n')}\n`;
}
