/**
 * The observability module's metrics, dashboard and alerts agree with each other and with the
 * audit trail docs/audit.md documents (see observability.ts); planted mistakes are reported.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { REPO_ROOT, TERRAFORM_ROOT, parseTerraformTree, type Json, type JsonObject, type TfFile } from './schema-check';
import {
  OBSERVABILITY_DIR,
  PENDING_EVENTS,
  PENDING_REASONS,
  checkAlertPolicies,
  checkDashboard,
  checkMetrics,
  filterEvents,
  interpolate,
  loadAuditDoc,
  moduleDashboard,
  moduleMetrics,
  parseAuditDoc,
  renderTemplate,
  thresholds,
  widgetTitles,
  type AuditDoc,
  type Dashboard,
} from './observability';

let files: TfFile[];
let info: ReturnType<typeof moduleMetrics>;
let dashboard: Dashboard;
let template: string;
let doc: AuditDoc;
const readme = readFileSync(join(REPO_ROOT, OBSERVABILITY_DIR, 'README.md'), 'utf8');

beforeAll(async () => {
  const parsed = await parseTerraformTree(TERRAFORM_ROOT);
  if (parsed.errors.length) throw new Error(`unparsable Terraform: ${parsed.errors.map((e) => `${e.file}: ${e.message}`).join('; ')}`);
  files = parsed.files;
  info = moduleMetrics(files);
  const d = moduleDashboard(files, info);
  if (typeof d === 'string') throw new Error(d);
  dashboard = d;
  template = readFileSync(d.templateFile, 'utf8');
  doc = loadAuditDoc();
}, 60_000);

describe('docs/audit.md as the tests read it', () => {
  test('documents the events and reasons the metrics rely on', () => {
    for (const e of ['token_exchange', 'token_introspection', 'user_session', 'upstream_mint']) expect(doc.events.has(e)).toBe(true);
    expect([...(doc.events.get('token_exchange') ?? [])]).toEqual(expect.arrayContaining(['outcome', 'error.reason', 'cache.outcome', 'principal.subject', 'policy.ruleId']));
    expect([...(doc.events.get('upstream_mint') ?? [])]).toEqual(expect.arrayContaining(['outcome', 'trigger', 'serviceAccount', 'latencyMs']));
    expect(doc.reasons.has('no_rule_matched')).toBe(true);
    expect(doc.reasons.has('limit_requests_per_minute')).toBe(true);
  });

  test('the pending allow-lists stay small', () => {
    expect(Object.keys(PENDING_EVENTS).sort()).toEqual(['shadow_match', 'shadow_refusal']);
    expect(PENDING_REASONS).toEqual(['denied_by_operator']);
  });
});

describe('log-based metrics', () => {
  test('the module defines the metrics the dashboard and alerts need', () => {
    expect(info.metrics.map((m) => m.name).sort()).toEqual(
      [
        'token_broker/denials',
        'token_broker/deny_list_hits',
        'token_broker/exchanges',
        'token_broker/introspections',
        'token_broker/issued',
        'token_broker/rate_limited',
        'token_broker/shadow_decisions',
        'token_broker/upstream_failures',
        'token_broker/upstream_latency',
        'token_broker/upstream_mints',
        'token_broker/user_sessions',
      ].sort(),
    );
  });

  test('every filter reads the audit log, names documented events, reasons and fields; labels match extractors', () => {
    expect(checkMetrics(info.metrics, doc)).toEqual([]);
  });

  test('upstream latency is a distribution of upstream_mint latencyMs', () => {
    const latency = info.metrics.find((m) => m.name === 'token_broker/upstream_latency');
    expect(latency?.valueType).toBe('DISTRIBUTION');
    expect(latency?.valueExtractor).toBe('EXTRACT(jsonPayload.latencyMs)');
    expect(filterEvents(latency?.filter ?? '')).toEqual(['upstream_mint']);
  });

  test('the shadow metric reads both shadow events; deny-list hits read denied_by_operator', () => {
    expect(filterEvents(info.metrics.find((m) => m.name === 'token_broker/shadow_decisions')?.filter ?? '')).toEqual(['shadow_match', 'shadow_refusal']);
    expect(info.metrics.find((m) => m.name === 'token_broker/deny_list_hits')?.filter).toMatch(/jsonPayload\.error\.reason="denied_by_operator"$/);
  });
});

describe('dashboard', () => {
  test('the template renders, with the module values, to JSON naming only the module metrics and their labels', () => {
    const { findings, json } = checkDashboard(template, dashboard.vars, info.metrics);
    expect(findings).toEqual([]);
    expect(json).toBeDefined();
  });

  test('the raw template is JSON too (placeholders only inside strings, or as whole numbers)', () => {
    expect(() => JSON.parse(template.replace(/\$\{top_n\}/g, '1'))).not.toThrow();
  });

  test('it has every panel the issue asks for, each described in the README', () => {
    const { json } = checkDashboard(template, dashboard.vars, info.metrics);
    const titles = widgetTitles(json as Json);
    const wanted = [/exchanges by outcome/i, /refusals by reason/i, /cache hit ratio/i, /latency p50 \/ p95 \/ p99/i, /upstream errors/i, /429.*by principal/i, /deny-list hits/i, /shadow/i, /introspection by outcome/i, /user sessions/i];
    for (const w of wanted) expect({ panel: w.source, found: titles.some((t) => w.test(t)) }).toEqual({ panel: w.source, found: true });
    // One README paragraph per panel, headed by the panel's title as rendered with the defaults.
    for (const t of titles) expect({ title: t, inReadme: readme.includes(`**${t}**`) }).toEqual({ title: t, inReadme: true });
  });
});

describe('alert policies', () => {
  test('every condition names module metrics and their labels; every policy notifies var.notification_channels', () => {
    expect(checkAlertPolicies(files, info)).toEqual([]);
  });

  test('the deny-list alert fires on the first denied_by_operator hit', () => {
    const [c, ...rest] = thresholds(files, 'deny_list_hit');
    expect(rest).toEqual([]);
    expect(c?.comparison).toBe('COMPARISON_GT');
    expect(c?.threshold_value).toBe(0);
    expect(c?.duration).toBe('0s');
    expect(interpolate(String(c?.filter), info.ctx, info.names)).toContain('metric.type="logging.googleapis.com/user/token_broker/deny_list_hits"');
  });

  test('the refusal spike and upstream error rate thresholds are variables', () => {
    expect(thresholds(files, 'refusal_spike')[0]?.threshold_value).toBe('${var.refusal_spike_threshold}');
    const upstream = thresholds(files, 'upstream_error_rate');
    expect(upstream[0]?.threshold_value).toBe('${var.upstream_error_ratio}');
    expect(String(upstream[0]?.denominator_filter)).toContain('upstream_mints');
  });

  test('each alert is described in the README', () => {
    for (const name of ['invalid_grant_spike', 'refusal_spike', 'upstream_error_rate', 'deny_list_hit']) expect({ name, inReadme: readme.includes(`google_monitoring_alert_policy.${name}`) }).toEqual({ name, inReadme: true });
  });
});

describe('planted mistakes are reported', () => {
  async function metricsOf(hcl: string): Promise<ReturnType<typeof moduleMetrics>> {
    const json = (await parse('inline.tf', hcl)) as JsonObject;
    return moduleMetrics([{ file: 'inline/main.tf', dir: 'inline', text: hcl, json }], 'inline');
  }
  const LOCALS = `
    variable "project_id" { type = string }
    locals {
      log_filter = "logName=\\"projects/\${var.project_id}/logs/token-broker-audit\\""
    }
  `;

  test('a filter without the audit log, an undocumented event, reason and field, labels without extractors', async () => {
    const m = await metricsOf(`${LOCALS}
      resource "google_logging_metric" "a" {
        name   = "token_broker/a"
        filter = "jsonPayload.event=\\"token_exchange\\""
        metric_descriptor {
          metric_kind = "DELTA"
          value_type  = "INT64"
        }
      }
      resource "google_logging_metric" "b" {
        name   = "token_broker/b"
        filter = "\${local.log_filter} AND jsonPayload.event=(\\"token_exchange\\" OR \\"token_swap\\") AND jsonPayload.error.reason=\\"bad_vibes\\" AND jsonPayload.cache.outcomes=\\"hit\\""
        metric_descriptor {
          metric_kind = "DELTA"
          value_type  = "INT64"
          labels {
            key = "rule"
          }
        }
      }
      resource "google_logging_metric" "c" {
        name   = "token_broker/c"
        filter = "\${local.log_filter} AND jsonPayload.outcome=\\"denied\\""
        metric_descriptor {
          metric_kind = "DELTA"
          value_type  = "DISTRIBUTION"
        }
      }
    `);
    expect(checkMetrics(m.metrics, doc)).toEqual([
      'inline/main.tf:google_logging_metric.a: filter "jsonPayload.event=\\"token_exchange\\"" does not start with logName="projects/PROJECT/logs/token-broker-audit" AND ...',
      'inline/main.tf:google_logging_metric.b: event "token_swap" is not documented in docs/audit.md',
      'inline/main.tf:google_logging_metric.b: refusal reason "bad_vibes" is not in docs/audit.md\'s reasons table',
      'inline/main.tf:google_logging_metric.b: jsonPayload.cache.outcomes is not a documented field of token_exchange',
      'inline/main.tf:google_logging_metric.b: labels [rule] and label_extractors [] differ',
      'inline/main.tf:google_logging_metric.c: filter names no jsonPayload.event',
      'inline/main.tf:google_logging_metric.c: a DISTRIBUTION metric needs a value_extractor',
    ]);
  });

  test('a pending event is accepted until documented, then the document decides its fields', () => {
    const metric = { ...info.metrics.find((m) => m.name === 'token_broker/shadow_decisions')! };
    expect(checkMetrics([metric], doc)).toEqual([]);
    const documented = parseAuditDoc('\n## The other auth events\n\n| event | severity | fields | when |\n|---|---|---|---|\n| `shadow_match` | NOTICE | `ruleId` | x |\n| `shadow_refusal` | NOTICE | `ruleId` | x |\n\n## Next\n');
    expect(checkMetrics([metric], documented)).toEqual([expect.stringMatching(/jsonPayload\.wouldGrant\.serviceAccount is not a documented field of shadow_match \/ shadow_refusal$/)]);
  });

  test('a dashboard naming a metric the module does not define, a label the metric lacks, or broken JSON', () => {
    const other = template.replace('${metrics.user_sessions}', 'logging.googleapis.com/user/token_broker/sessions');
    expect(checkDashboard(other, dashboard.vars, info.metrics).findings).toEqual([expect.stringMatching(/metric\.type "logging\.googleapis\.com\/user\/token_broker\/sessions" is not a metric of the module/)]);
    const label = template.replace('"metric.label.subject"', '"metric.label.issuer"');
    expect(checkDashboard(label, dashboard.vars, info.metrics).findings).toEqual([expect.stringMatching(/metric\.label\.issuer is not a label of logging\.googleapis\.com\/user\/token_broker\/rate_limited$/)]);
    const percentile = template.replace('"crossSeriesReducer": "REDUCE_SUM"', '"crossSeriesReducer": "REDUCE_PERCENTILE_99"');
    expect(checkDashboard(percentile, dashboard.vars, info.metrics).findings).toEqual([expect.stringMatching(/a percentile of logging\.googleapis\.com\/user\/token_broker\/exchanges, which is not a distribution$/)]);
    expect(checkDashboard(template.replace(/\}\s*$/, ''), dashboard.vars, info.metrics).findings).toEqual([expect.stringMatching(/^the rendered dashboard is not JSON/)]);
    expect(checkDashboard(template.replace('${metrics.exchanges}', '${metrics.exchange}'), dashboard.vars, info.metrics).findings).toEqual(
      expect.arrayContaining(['${metrics.exchange} is not a scalar variable of the template']),
    );
  });

  test('the template renderer keeps $${ literal', () => {
    expect(renderTemplate('{"a": "$${x}", "b": "${y}"}', { y: 'z' })).toEqual({ text: '{"a": "${x}", "b": "z"}', errors: [] });
  });

  test('an alert on a metric the module does not define', async () => {
    const hcl = `${LOCALS}
      locals {
        user_metric_type = "logging.googleapis.com/user"
      }
      resource "google_logging_metric" "a" {
        name   = "token_broker/a"
        filter = "\${local.log_filter} AND jsonPayload.event=\\"token_exchange\\""
        metric_descriptor {
          metric_kind = "DELTA"
          value_type  = "INT64"
        }
      }
      resource "google_monitoring_alert_policy" "p" {
        display_name          = "p"
        combiner              = "OR"
        notification_channels = var.notification_channels
        conditions {
          display_name = "c"
          condition_threshold {
            filter     = "metric.type=\\"\${local.user_metric_type}/token_broker/b\\" AND metric.label.code=\\"x\\""
            comparison = "COMPARISON_GT"
            duration   = "0s"
          }
        }
        conditions {
          display_name = "d"
          condition_threshold {
            filter     = "metric.type=\\"\${local.user_metric_type}/\${google_logging_metric.a.name}\\" AND metric.label.code=\\"x\\""
            comparison = "COMPARISON_GT"
            duration   = "0s"
          }
        }
      }
    `;
    const json = (await parse('inline.tf', hcl)) as JsonObject;
    const planted: TfFile[] = [{ file: 'inline/main.tf', dir: 'inline', text: hcl, json }];
    expect(checkAlertPolicies(planted, moduleMetrics(planted, 'inline'), 'inline')).toEqual([
      'inline/main.tf:google_monitoring_alert_policy.p: conditions[0].filter: metric.type "logging.googleapis.com/user/token_broker/b" is not a metric of the module (logging.googleapis.com/user/token_broker/a)',
      'inline/main.tf:google_monitoring_alert_policy.p: conditions[1].filter: metric.label.code is not a label of logging.googleapis.com/user/token_broker/a',
    ]);
  });
});
