/**
 * Offline checks of the observability module's log-based metrics, dashboard and alert policies
 * against the audit trail as docs/audit.md documents it:
 *   - every metric's filter starts with the broker's audit log (`logName=... AND ...`: in the
 *     Logging query language OR binds tighter than AND, so nothing after it can widen the match),
 *     names at least one event, and every event, refusal reason and jsonPayload field it uses is
 *     documented (or on the small allow-list of ones being documented right now);
 *   - label extractors and declared labels agree;
 *   - the dashboard template renders (with the module's own values) to JSON whose every query
 *     names a metric of the module, and only labels that metric has;
 *   - every alert policy's filters name metrics of the module and their labels.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, blocksOf, isObject, isObjectArray, type Json, type JsonObject, type TfBlock, type TfFile } from './schema-check';
import { moduleContext, resolveValue, type ModuleContext } from './invariants';

export const OBSERVABILITY_DIR = 'terraform/modules/observability';
export const AUDIT_LOG_ID = 'token-broker-audit';
export const USER_METRIC_PREFIX = 'logging.googleapis.com/user/';

/**
 * Events and refusal reasons other engineers are adding while this module is written; docs/audit.md
 * will document them. Until it does, they are accepted from here (with the fields the metrics read).
 * Once the document has them, the document wins and these entries are ignored: delete them then.
 */
export const PENDING_EVENTS: Record<string, string[]> = {
  // A rule in `mode: shadow` that would have matched / would have refused.
  shadow_match: ['event', 'ruleId', 'wouldGrant.serviceAccount', 'principal.subject'],
  shadow_refusal: ['event', 'ruleId', 'wouldGrant.serviceAccount', 'principal.subject'],
};
export const PENDING_REASONS = [
  // 403 access_denied: a principal on the operator's deny-list (already in shared/refusal-reasons.ts).
  'denied_by_operator',
];

// ---------------------------------------------------------------------------------------------
// docs/audit.md

export interface AuditDoc {
  /** Documented fields (jsonPayload paths) by event. */
  events: Map<string, Set<string>>;
  reasons: Set<string>;
}

const backticked = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
const cells = (row: string): string[] => row.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());

/** Events from the `<!-- schema:EVENT -->` tables and the table of "The other auth events"; the reasons table. */
export function parseAuditDoc(markdown: string): AuditDoc {
  const events = new Map<string, Set<string>>();
  for (const m of markdown.matchAll(/<!-- schema:([a-z_]+) -->([\s\S]*?)<!-- \/schema -->/g)) {
    const fields = new Set<string>();
    for (const line of (m[2] as string).split('\n')) {
      if (!line.startsWith('|')) continue;
      const first = backticked(cells(line)[0] ?? '')[0];
      if (first) fields.add(first);
    }
    events.set(m[1] as string, fields);
  }
  const other = /\n## The other auth events\n([\s\S]*?)(?=\n## )/.exec(markdown)?.[1] ?? '';
  for (const line of other.split('\n')) {
    if (!line.startsWith('|')) continue;
    const [name, , fields] = cells(line);
    const event = backticked(name ?? '')[0];
    if (!event || !/^[a-z_]+$/.test(event)) continue;
    events.set(event, new Set(['event', ...backticked(fields ?? '')]));
  }
  const reasons = new Set<string>();
  const table = /<!-- reasons -->([\s\S]*?)<!-- \/reasons -->/.exec(markdown)?.[1] ?? '';
  for (const line of table.split('\n')) {
    if (!line.startsWith('|')) continue;
    const first = backticked(cells(line)[0] ?? '')[0];
    if (first) reasons.add(first);
  }
  return { events, reasons };
}

export function loadAuditDoc(): AuditDoc {
  return parseAuditDoc(readFileSync(join(REPO_ROOT, 'docs', 'audit.md'), 'utf8'));
}

/** The documented fields of an event, else the pending allow-list's, else undefined. */
function eventFields(doc: AuditDoc, event: string): Set<string> | undefined {
  return doc.events.get(event) ?? (PENDING_EVENTS[event] ? new Set(PENDING_EVENTS[event]) : undefined);
}

// ---------------------------------------------------------------------------------------------
// Interpolation of the module's strings

/**
 * Expands ${local.X}, ${var.X} (its literal default, else `<var.X>`) and
 * ${google_logging_metric.N.name} in a string, as far as the module determines them. A local
 * that is not a plain string (a conditional) is replaced by its expression text, which still
 * names the fields it reads. Anything else is left as it is.
 */
export function interpolate(text: string, ctx: ModuleContext, metricNames: Map<string, string>, depth = 0): string {
  if (depth > 10) return text;
  const out = text.replace(/\$\{\s*(local|var|google_logging_metric)\.([A-Za-z0-9_-]+)(\.name)?\s*\}/g, (whole: string, kind: string, name: string, dotName?: string) => {
    if (kind === 'google_logging_metric') return dotName ? (metricNames.get(name) ?? whole) : whole;
    if (dotName) return whole;
    if (kind === 'var') {
      const v = resolveValue(ctx.variables.get(name)?.default, ctx);
      return typeof v === 'string' || typeof v === 'number' ? String(v) : `<var.${name}>`;
    }
    const local = ctx.locals.get(name);
    if (typeof local !== 'string') return whole;
    const resolved = resolveValue(local, ctx);
    if (typeof resolved === 'string') return interpolate(resolved, ctx, metricNames, depth + 1);
    // A conditional or a function call the module does not determine: its text.
    return isSingleExpression(local) ? local : interpolate(local, ctx, metricNames, depth + 1);
  });
  return out === text ? out : interpolate(out, ctx, metricNames, depth + 1);
}

/** Whether a string is one "${...}" expression rather than a template with text or several parts. */
function isSingleExpression(s: string): boolean {
  if (!s.startsWith('${')) return false;
  let depth = 0;
  let quote = false;
  for (let i = 1; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === '"') quote = false;
    } else if (c === '"') quote = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i === s.length - 1;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Metrics

export interface MetricInfo {
  block: TfBlock;
  name: string;
  /** logging.googleapis.com/user/NAME */
  type: string;
  valueType: string;
  filter: string;
  labels: string[];
  extractors: Record<string, string>;
  valueExtractor?: string;
}

const where = (b: TfBlock): string => `${b.file}:google_logging_metric.${b.name}`;

export function moduleMetrics(files: readonly TfFile[], dir = OBSERVABILITY_DIR): { metrics: MetricInfo[]; ctx: ModuleContext; names: Map<string, string> } {
  const ctx = moduleContext(files, dir);
  const blocks = blocksOf(files, ['resource']).filter((b) => b.dir === dir && b.type === 'google_logging_metric');
  const names = new Map<string, string>();
  for (const b of blocks) {
    const name = resolveValue(b.body.name, ctx);
    if (typeof name === 'string') names.set(b.name, name);
  }
  const metrics = blocks.map((b): MetricInfo => {
    const name = names.get(b.name) ?? `<unresolved ${b.name}>`;
    const descriptor = isObjectArray(b.body.metric_descriptor) ? b.body.metric_descriptor[0] : undefined;
    const labels = isObjectArray(descriptor?.labels) ? descriptor.labels.map((l) => String(l.key)) : [];
    const extractors: Record<string, string> = {};
    if (isObject(b.body.label_extractors)) for (const [k, v] of Object.entries(b.body.label_extractors)) extractors[k] = interpolate(String(v), ctx, names);
    return {
      block: b,
      name,
      type: `${USER_METRIC_PREFIX}${name}`,
      valueType: String(descriptor?.value_type ?? ''),
      filter: interpolate(String(b.body.filter ?? ''), ctx, names),
      labels,
      extractors,
      valueExtractor: typeof b.body.value_extractor === 'string' ? interpolate(b.body.value_extractor, ctx, names) : undefined,
    };
  });
  return { metrics, ctx, names };
}

/** Events a filter names: jsonPayload.event="X" and jsonPayload.event=("X" OR "Y"). */
export function filterEvents(filter: string): string[] {
  const out: string[] = [];
  for (const m of filter.matchAll(/jsonPayload\.event\s*(!?=)\s*(?:"([^"]*)"|\(([^)]*)\))/g)) {
    if (m[1] !== '=') continue;
    if (m[2] !== undefined) out.push(m[2]);
    else out.push(...[...(m[3] ?? '').matchAll(/"([^"]*)"/g)].map((x) => x[1] as string));
  }
  return out;
}

const jsonPayloadPaths = (text: string): string[] => [...text.matchAll(/jsonPayload\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)/g)].map((m) => m[1] as string);

const documented = (fields: Set<string>, path: string): boolean => [...fields].some((f) => f === path || path.startsWith(`${f}.`));

/** Findings for every log-based metric of the module; empty when all is well. */
export function checkMetrics(metrics: readonly MetricInfo[], doc: AuditDoc, logId = AUDIT_LOG_ID): string[] {
  const findings: string[] = [];
  const head = new RegExp(`^logName="projects/[^"/]+/logs/${logId.replace(/[.]/g, '\\.')}" AND \\S`);
  for (const m of metrics) {
    const at = where(m.block);
    if (m.name.startsWith('<unresolved')) findings.push(`${at}: its name does not resolve to a literal`);
    if (!head.test(m.filter)) findings.push(`${at}: filter ${JSON.stringify(m.filter)} does not start with logName="projects/PROJECT/logs/${logId}" AND ...`);
    const events = filterEvents(m.filter);
    if (events.length === 0) findings.push(`${at}: filter names no jsonPayload.event`);
    const known = events.filter((e) => eventFields(doc, e) !== undefined);
    for (const e of events) if (!eventFields(doc, e)) findings.push(`${at}: event "${e}" is not documented in docs/audit.md`);
    for (const r of [...m.filter.matchAll(/jsonPayload\.error\.reason\s*=\s*"([^"]*)"/g)].map((x) => x[1] as string)) {
      if (!doc.reasons.has(r) && !PENDING_REASONS.includes(r)) findings.push(`${at}: refusal reason "${r}" is not in docs/audit.md's reasons table`);
    }
    // Every field the metric reads is documented for one of its events.
    const read = [m.filter, ...Object.values(m.extractors), m.valueExtractor ?? ''].flatMap(jsonPayloadPaths);
    for (const path of [...new Set(read)]) {
      if (known.length && !known.some((e) => documented(eventFields(doc, e) as Set<string>, path))) {
        findings.push(`${at}: jsonPayload.${path} is not a documented field of ${known.join(' / ')}`);
      }
    }
    const declared = [...m.labels].sort();
    const extracted = Object.keys(m.extractors).sort();
    if (JSON.stringify(declared) !== JSON.stringify(extracted)) findings.push(`${at}: labels [${declared.join(', ')}] and label_extractors [${extracted.join(', ')}] differ`);
    if (m.valueType === 'DISTRIBUTION' && !m.valueExtractor) findings.push(`${at}: a DISTRIBUTION metric needs a value_extractor`);
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------
// Metric references in Monitoring filters (dashboard and alerts)

const metricTypesIn = (text: string): string[] => [...text.matchAll(/metric\.type\s*=\s*"([^"]*)"/g)].map((m) => m[1] as string);
const labelsIn = (text: string): string[] => [...text.matchAll(/metric\.labels?\.(?:"([a-z0-9_]+)"|([a-z0-9_]+))/g)].map((m) => (m[1] ?? m[2]) as string);

/** A query (its filters, aggregations and groupings as one text) names module metrics and their labels only. */
function checkQuery(where: string, text: string, byType: Map<string, MetricInfo>): string[] {
  const findings: string[] = [];
  const types = [...new Set(metricTypesIn(text))];
  if (types.length === 0) findings.push(`${where}: names no metric.type`);
  for (const t of types) {
    const metric = byType.get(t);
    if (!metric) {
      findings.push(`${where}: metric.type "${t}" is not a metric of the module (${[...byType.keys()].join(', ')})`);
      continue;
    }
    for (const l of [...new Set(labelsIn(text))]) if (!metric.labels.includes(l)) findings.push(`${where}: metric.label.${l} is not a label of ${t}`);
    if (/REDUCE_PERCENTILE|ALIGN_PERCENTILE/.test(text) && metric.valueType !== 'DISTRIBUTION') findings.push(`${where}: a percentile of ${t}, which is not a distribution`);
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------
// Dashboard

export interface Dashboard {
  block: TfBlock;
  templateFile: string;
  vars: JsonObject;
}

/** The module's google_monitoring_dashboard: dashboard_json = templatefile("${path.module}/FILE", local.NAME). */
export function moduleDashboard(files: readonly TfFile[], metrics: { ctx: ModuleContext; names: Map<string, string> }, dir = OBSERVABILITY_DIR): Dashboard | string {
  const blocks = blocksOf(files, ['resource']).filter((b) => b.dir === dir && b.type === 'google_monitoring_dashboard');
  if (blocks.length !== 1) return `${dir}: expected one google_monitoring_dashboard, found ${blocks.length}`;
  const block = blocks[0] as TfBlock;
  const m = /^\$\{\s*templatefile\(\s*"\$\{path\.module\}\/([^"]+)"\s*,\s*local\.([A-Za-z0-9_]+)\s*\)\s*\}$/.exec(String(block.body.dashboard_json));
  if (!m?.[1] || !m[2]) return `${block.file}: dashboard_json must be templatefile("\${path.module}/FILE", local.NAME), is ${JSON.stringify(block.body.dashboard_json)}`;
  const raw = metrics.ctx.locals.get(m[2]);
  if (!isObject(raw ?? null)) return `${block.file}: local.${m[2]} is not an object`;
  // Resolve the template's variables: strings interpolated, var.X at its default.
  const resolve = (v: Json): Json => {
    if (typeof v === 'string') {
      const sole = resolveValue(v, metrics.ctx);
      if (sole !== undefined && typeof sole !== 'object') return sole;
      return interpolate(v, metrics.ctx, metrics.names);
    }
    if (Array.isArray(v)) return v.map(resolve);
    if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
    return v;
  };
  return { block, templateFile: join(REPO_ROOT, dir, m[1]), vars: resolve(raw as JsonObject) as JsonObject };
}

/** Renders a template of ${a} / ${a.b} placeholders ($${ is a literal ${); no directives. */
export function renderTemplate(template: string, vars: JsonObject): { text: string; errors: string[] } {
  const errors: string[] = [];
  if (template.includes('%{')) errors.push('the template uses a %{ } directive; only ${ } placeholders are supported here');
  const text = template.replace(/(\$?)\$\{\s*([^}]*?)\s*\}/g, (whole: string, escape: string, expr: string) => {
    if (escape) return whole.slice(1);
    let v: Json | undefined = vars;
    for (const part of expr.split('.')) v = isObject(v ?? null) ? (v as JsonObject)[part] : undefined;
    if (v === undefined || isObject(v) || Array.isArray(v)) {
      errors.push(`\${${expr}} is not a scalar variable of the template`);
      return whole;
    }
    if (typeof v === 'string' && v.includes('${')) errors.push(`\${${expr}} does not resolve: ${v}`);
    return String(v);
  });
  return { text, errors };
}

/** Every string (and object key) in a JSON value. */
function stringsOf(v: Json): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(stringsOf);
  if (isObject(v)) return Object.entries(v).flatMap(([k, x]) => [k, ...stringsOf(x)]);
  return [];
}

/** Every widget title in a dashboard (mosaic, grid, row or column layout). */
export function widgetTitles(dashboard: Json): string[] {
  const titles: string[] = [];
  const visit = (v: Json): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (isObject(v)) {
      if (typeof v.title === 'string' && (v.xyChart || v.scorecard || v.timeSeriesTable || v.pieChart || v.text)) titles.push(v.title);
      Object.values(v).forEach(visit);
    }
  };
  visit(dashboard);
  return titles;
}

/** The rendered dashboard parses as JSON, and every query in it names the module's metrics and their labels only. */
export function checkDashboard(template: string, vars: JsonObject, metrics: readonly MetricInfo[]): { findings: string[]; json?: Json } {
  const { text, errors } = renderTemplate(template, vars);
  if (errors.length) return { findings: errors };
  let json: Json;
  try {
    json = JSON.parse(text) as Json;
  } catch (err) {
    return { findings: [`the rendered dashboard is not JSON: ${err instanceof Error ? err.message : String(err)}`] };
  }
  const findings: string[] = [];
  const byType = new Map(metrics.map((m) => [m.type, m]));
  if (!isObject(json) || typeof json.displayName !== 'string' || !json.displayName) findings.push('the dashboard has no displayName');
  // Every filter anywhere is inside a query; check each query as a whole.
  let queries = 0;
  const visit = (v: Json, path: string): void => {
    if (Array.isArray(v)) v.forEach((x, i) => visit(x, `${path}[${i}]`));
    else if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'timeSeriesQuery') {
          queries++;
          findings.push(...checkQuery(`${path}.${k}`, stringsOf(x).join('\n'), byType));
          if (isObject(x) && (x.timeSeriesQueryLanguage || x.prometheusQuery)) findings.push(`${path}.${k}: MQL/PromQL queries are not checked; use timeSeriesFilter(Ratio)`);
        } else visit(x, `${path}.${k}`);
      }
    } else if (typeof v === 'string' && /metric\.type\s*=/.test(v) && !path.includes('timeSeriesQuery')) findings.push(`${path}: a metric filter outside a timeSeriesQuery`);
  };
  visit(json, '$');
  if (queries === 0) findings.push('the dashboard has no timeSeriesQuery');
  return { findings, json };
}

// ---------------------------------------------------------------------------------------------
// Alert policies

/** Every filter of every alert policy of the module names module metrics and their labels only. */
export function checkAlertPolicies(files: readonly TfFile[], info: { metrics: MetricInfo[]; ctx: ModuleContext; names: Map<string, string> }, dir = OBSERVABILITY_DIR): string[] {
  const findings: string[] = [];
  const byType = new Map(info.metrics.map((m) => [m.type, m]));
  const policies = blocksOf(files, ['resource']).filter((b) => b.dir === dir && b.type === 'google_monitoring_alert_policy');
  for (const p of policies) {
    const at = `${p.file}:google_monitoring_alert_policy.${p.name}`;
    if (p.body.notification_channels !== '${var.notification_channels}') findings.push(`${at}: notification_channels is not var.notification_channels`);
    const conditions = isObjectArray(p.body.conditions) ? p.body.conditions : [];
    if (conditions.length === 0) findings.push(`${at}: no conditions`);
    conditions.forEach((c, i) => {
      const threshold = isObjectArray(c.condition_threshold) ? c.condition_threshold[0] : undefined;
      if (!threshold) {
        findings.push(`${at}: conditions[${i}] is not a condition_threshold`);
        return;
      }
      const numerator = [threshold.filter, threshold.aggregations];
      const denominator = [threshold.denominator_filter, threshold.denominator_aggregations];
      for (const [part, value] of [['filter', numerator], ['denominator_filter', denominator]] as const) {
        if (value[0] === undefined) continue;
        findings.push(...checkQuery(`${at}: conditions[${i}].${part}`, interpolate(JSON.stringify(value), info.ctx, info.names).replace(/\\"/g, '"'), byType));
      }
    });
  }
  return findings;
}

/** The condition_threshold blocks of one alert policy of the module. */
export function thresholds(files: readonly TfFile[], name: string, dir = OBSERVABILITY_DIR): JsonObject[] {
  const p = blocksOf(files, ['resource']).find((b) => b.dir === dir && b.type === 'google_monitoring_alert_policy' && b.name === name);
  if (!p) return [];
  return (isObjectArray(p.body.conditions) ? p.body.conditions : []).flatMap((c) => (isObjectArray(c.condition_threshold) ? c.condition_threshold : []));
}

export const readIfExists = (path: string): string | undefined => (existsSync(path) ? readFileSync(path, 'utf8') : undefined);
