/**
 * Every .tf file under terraform/ parses, and every google resource / data block in every module
 * and example matches the hashicorp/google 7.9.0 schema (see schema-check.ts).
 */
import { parse } from '@cdktf/hcl2json';
import {
  TERRAFORM_ROOT,
  REPO_ROOT,
  checkModuleCalls,
  checkTerraform,
  enumValues,
  errorsOf,
  findTfFiles,
  formatFinding,
  loadGoogleSchema,
  parseTerraformTree,
  type Finding,
  type JsonObject,
  type ParseResult,
  type ProviderSchema,
  type TfFile,
} from './schema-check';
import { relative } from 'node:path';

// Directories (modules, examples) known when the file is loaded, for one test each.
const dirs = [...new Set(findTfFiles(TERRAFORM_ROOT).map((f) => relative(REPO_ROOT, f).split('\\').join('/').replace(/\/[^/]+$/, '')))];

let parsed: ParseResult;
let schema: ProviderSchema | Error;
let findings: Finding[] = [];

beforeAll(async () => {
  parsed = await parseTerraformTree(TERRAFORM_ROOT);
  try {
    schema = loadGoogleSchema();
    findings = checkTerraform(parsed.files, schema);
  } catch (err) {
    schema = err instanceof Error ? err : new Error(String(err));
  }
}, 60_000);

function requireSchema(): ProviderSchema {
  if (schema instanceof Error) throw schema;
  return schema;
}

describe('parsing', () => {
  test('every .tf file under terraform/ parses with @cdktf/hcl2json', () => {
    expect(parsed.files.length + parsed.errors.length).toBe(findTfFiles(TERRAFORM_ROOT).length);
    expect(parsed.errors.map((e) => `${e.file}: ${e.message}`)).toEqual([]);
  });
});

describe('google provider schema', () => {
  test('the shared schema is present and holds hashicorp/google', () => {
    const s = requireSchema();
    expect(s.resource_schemas.google_cloudfunctions2_function).toBeDefined();
    expect(s.resource_schemas.google_access_context_manager_service_perimeter).toBeDefined();
  });

  test('a missing schema fails with a plain message', () => {
    expect(() => loadGoogleSchema('/nonexistent/google-provider.schema.json')).toThrow(/shared google provider schema is missing/);
  });

  test.each(dirs.length ? dirs : ['(no Terraform directory)'])('%s matches the schema', (dir) => {
    requireSchema();
    const errors = errorsOf(findings).filter((f) => f.file.startsWith(`${dir}/`) && !f.file.slice(dir.length + 1).includes('/'));
    expect(errors.map(formatFinding)).toEqual([]);
    // Something was checked in this directory (or it holds no resources at all).
    const files = parsed.files.filter((f) => f.dir === dir);
    expect(files.length).toBeGreaterThan(0);
  });

  test('module calls pass only declared variables, every required one, and read declared outputs', () => {
    expect(checkModuleCalls(parsed.files).map(formatFinding)).toEqual([]);
  });

  test('only non-google types are left unchecked', () => {
    requireSchema();
    const unchecked = findings.filter((f) => f.kind === 'unchecked');
    for (const f of unchecked) expect(f.message).toMatch(/not a hashicorp\/google type|schema is not available/);
  });
});

describe('enumerations in descriptions', () => {
  test('the generated form', () => {
    expect(enumValues('Specifies the type. Default value: "A" Possible values: ["PERIMETER_TYPE_REGULAR", "PERIMETER_TYPE_BRIDGE"]')).toEqual([
      'PERIMETER_TYPE_REGULAR',
      'PERIMETER_TYPE_BRIDGE',
    ]);
  });

  test('the prose forms', () => {
    expect(enumValues('Possible values are: "PREVENT", "ABANDON", "DELETE"')).toEqual(['PREVENT', 'ABANDON', 'DELETE']);
    expect(enumValues("Policy. Possible values are: 'A_B', 'C'. More text.")).toEqual(['A_B', 'C']);
    expect(enumValues('Possible values are: * DELETE * DISABLE * ABANDON')).toEqual(['DELETE', 'DISABLE', 'ABANDON']);
    expect(enumValues('Possible values are VCPU, MEMORY, LOCAL_SSD, and ACCELERATOR.')).toEqual(['VCPU', 'MEMORY', 'LOCAL_SSD', 'ACCELERATOR']);
    expect(enumValues('Permission type. Must be one of DATA_READ, DATA_WRITE, or ADMIN_READ.')).toEqual(['DATA_READ', 'DATA_WRITE', 'ADMIN_READ']);
  });

  test('prose that is not a list is not guessed at', () => {
    expect(enumValues('Possible values are described in the API package (https://pkg.go.dev/x)')).toBeUndefined();
    expect(enumValues('Possible values are: CREATING: The instance is being created. READY: ready.')).toBeUndefined();
    expect(enumValues('must be one of the cipher suite names listed in: http://docs.oracle.com/x')).toBeUndefined();
    expect(enumValues(undefined)).toBeUndefined();
  });

  test('the schema uses the generated form for the values this project sets', () => {
    const s = requireSchema();
    const alert = s.resource_schemas.google_monitoring_alert_policy?.block;
    expect(enumValues(alert?.attributes?.combiner?.description)).toEqual(['AND', 'OR', 'AND_WITH_MATCHING_RESOURCE']);
    const audit = s.resource_schemas.google_project_iam_audit_config?.block.block_types?.audit_log_config?.block;
    expect(enumValues(audit?.attributes?.log_type?.description)).toEqual(['DATA_READ', 'DATA_WRITE', 'ADMIN_READ']);
  });
});

describe('the checker on small configurations', () => {
  async function check(hcl: string): Promise<Finding[]> {
    const json = (await parse('inline.tf', hcl)) as JsonObject;
    const file: TfFile = { file: 'inline/main.tf', dir: 'inline', text: hcl, json };
    return checkTerraform([file], requireSchema());
  }
  const kinds = (fs: Finding[]): string[] => errorsOf(fs).map((f) => `${f.kind} ${f.address}${f.path ? ` ${f.path}` : ''}`);

  test('meta-arguments, dynamic blocks and lifecycle are understood', async () => {
    const findings = await check(`
      resource "google_logging_metric" "m" {
        for_each = toset(["a"])
        provider = google
        name     = each.value
        filter   = "logName=x"
        metric_descriptor {
          metric_kind = "DELTA"
          value_type  = "INT64"
          dynamic "labels" {
            for_each = ["code"]
            iterator = l
            content {
              key        = l.value
              value_type = "STRING"
            }
          }
        }
        lifecycle {
          ignore_changes        = [description, metric_descriptor]
          create_before_destroy = true
        }
        depends_on = [google_logging_metric.n]
      }
      data "google_project" "p" {
        count = 1
      }
    `);
    expect(kinds(findings)).toEqual([]);
  });

  test('mistakes inside nested and dynamic blocks are reported', async () => {
    const findings = await check(`
      resource "google_logging_metric" "m" {
        name   = "x"
        filter = "y"
        metric_descriptor {
          metric_kind = "SOMETIMES"
          value_type  = "INT64"
          colour      = "red"
        }
        dynamic "filter" {
          for_each = [1]
          content {}
        }
        dynamic "nothing" {
          for_each = [1]
          content {}
        }
        bucket_options = var.b
        disabled       = "maybe"
        lifecycle {
          ignore_changes = [no_such_thing]
          prevent_deletion = true
        }
      }
      data "google_project" "p" {
        lifecycle {
          create_before_destroy = true
        }
      }
      resource "google_no_such_resource" "x" {}
      resource "google-beta_thing" "y" {}
    `);
    expect(kinds(findings).sort()).toEqual(
      [
        'invalid-enum google_logging_metric.m metric_descriptor.metric_kind',
        'unknown-argument google_logging_metric.m metric_descriptor.colour',
        'unknown-block google_logging_metric.m dynamic.filter',
        'unknown-block google_logging_metric.m dynamic.nothing',
        'not-a-block google_logging_metric.m bucket_options',
        'type-mismatch google_logging_metric.m disabled',
        'bad-meta google_logging_metric.m lifecycle.ignore_changes',
        'bad-meta google_logging_metric.m lifecycle.prevent_deletion',
        'bad-meta data.google_project.p lifecycle.create_before_destroy',
        'unknown-type google_no_such_resource.x',
      ].sort(),
    );
  });

  test('blocks of another provider (google-beta) are left unchecked, not failed', async () => {
    const findings = await check(`
      resource "google_logging_metric" "m" {
        provider       = google-beta
        beta_only_knob = true
      }
    `);
    expect(kinds(findings)).toEqual([]);
    expect(findings.map((f) => f.kind)).toEqual(['unchecked']);
  });

  test('required blocks given only through dynamic are accepted; max_items is enforced', async () => {
    const findings = await check(`
      resource "google_monitoring_alert_policy" "a" {
        display_name = "x"
        combiner     = "OR"
        dynamic "conditions" {
          for_each = var.c
          content {
            display_name = conditions.value
            condition_matched_log {
              filter = "x"
            }
          }
        }
        documentation {
          content = "a"
        }
        documentation {
          content = "b"
        }
      }
    `);
    expect(kinds(findings)).toEqual(['too-many-blocks google_monitoring_alert_policy.a documentation']);
  });
});
