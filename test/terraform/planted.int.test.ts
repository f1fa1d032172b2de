/**
 * The checks can fail: a copy of a module, with one mistake planted at a time, is reported.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT, checkModuleCalls, checkTerraform, errorsOf, formatFinding, loadGoogleSchema, parseTerraformTree, type Finding, type TfFile } from './schema-check';
import { checkFunctionIngress, checkNoServiceAccountKeys, checkTokenCreatorGrants, checkTtlPolicies, checkWebAppSecrets, checkWifProviders } from './invariants';

const MODULE = 'terraform/modules/observability';
const MAIN = `${MODULE}/main.tf`;

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'tf-planted-'));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

let copies = 0;

/** A fresh copy of the module with `edit` applied to main.tf, parsed; paths read as in the repo. */
async function planted(edit: (main: string) => string, extra: Record<string, string> = {}): Promise<TfFile[]> {
  return plantedIn(MODULE, MAIN, edit, extra);
}

/** The same for any module and file of it. */
async function plantedIn(module: string, target: string, edit: (text: string) => string, extra: Record<string, string> = {}): Promise<TfFile[]> {
  const root = join(work, String(copies++));
  cpSync(join(REPO_ROOT, module), join(root, module), { recursive: true });
  for (const [file, text] of Object.entries(extra)) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), text);
  }
  const main = join(root, target);
  const before = readFileSync(main, 'utf8');
  const after = edit(before);
  expect(after).not.toBe(before);
  writeFileSync(main, after);
  const parsed = await parseTerraformTree(join(root, 'terraform'), root);
  expect(parsed.errors).toEqual([]);
  return parsed.files;
}

/** Inserts `line` right after the opening line of resource TYPE.NAME. */
function insertInto(text: string, type: string, name: string, line: string): string {
  const opening = `resource "${type}" "${name}" {\n`;
  expect(text).toContain(opening);
  return text.replace(opening, `${opening}  ${line}\n`);
}

const schemaErrors = (files: TfFile[]): Finding[] => errorsOf(checkTerraform(files, loadGoogleSchema()));
const summary = (fs: Finding[]): string[] => fs.map((f) => `${f.kind} ${f.address}${f.path ? ` ${f.path}` : ''}`);

test('the unmodified copy is clean', async () => {
  const files = await planted((t) => `${t}\n`);
  expect(schemaErrors(files).map(formatFinding)).toEqual([]);
  expect(checkTokenCreatorGrants(files)).toEqual([]);
  expect(checkWifProviders(files)).toEqual([]);
});

test('(a) an unknown argument', async () => {
  const files = await planted((t) => insertInto(t, 'google_logging_metric', 'denials', 'retention_days = 30'));
  expect(summary(schemaErrors(files))).toEqual(['unknown-argument google_logging_metric.denials retention_days']);
  expect(formatFinding(schemaErrors(files)[0] as Finding)).toBe(
    `${MAIN}:google_logging_metric.denials:retention_days: "retention_days" is not an argument of this resource type [unknown-argument]`,
  );
});

test('(a) an unknown argument in a nested block, and an unknown nested block', async () => {
  const files = await planted((t) =>
    t.replace('      trigger {\n        count = 1\n      }', '      trigger {\n        count   = 1\n        percent_of = 5\n      }\n      forecast {\n        horizon = "1h"\n      }'),
  );
  expect(summary(schemaErrors(files)).sort()).toEqual([
    'unknown-argument google_monitoring_alert_policy.invalid_grant_spike conditions.condition_threshold.trigger.percent_of',
    'unknown-block google_monitoring_alert_policy.invalid_grant_spike conditions.condition_threshold.forecast',
  ]);
});

test('(b) a missing required argument', async () => {
  const files = await planted((t) => {
    const start = t.indexOf('resource "google_logging_metric" "issued"');
    const filterLine = /\n {2}filter {6}= [^\n]*/;
    return t.slice(0, start) + t.slice(start).replace(filterLine, '');
  });
  expect(summary(schemaErrors(files))).toEqual(['missing-required google_logging_metric.issued filter']);
});

test('(b) a missing required nested block', async () => {
  const files = await planted(
    (t) => `${t}
resource "google_monitoring_alert_policy" "no_conditions" {
  project      = var.project_id
  display_name = "nothing to evaluate"
  combiner     = "OR"
}
`,
  );
  expect(summary(schemaErrors(files))).toEqual(['missing-block google_monitoring_alert_policy.no_conditions conditions']);
});

test('(c) a project-wide token-creator grant', async () => {
  const files = await planted(
    (t) => `${t}
resource "google_project_iam_member" "broker_minter" {
  project = var.project_id
  role    = "roles/iam.serviceAccountTokenCreator"
  member  = "serviceAccount:token-broker@example-project.iam.gserviceaccount.com"
}
`,
  );
  expect(schemaErrors(files)).toEqual([]);
  const findings = checkTokenCreatorGrants(files);
  expect(findings).toHaveLength(1);
  expect(findings[0]).toMatch(new RegExp(`^${MAIN}:google_project_iam_member\\.broker_minter: roles/iam\\.serviceAccountTokenCreator granted through google_project_iam_member`));
});

test('(c) a token-creator grant hidden behind a local, on a folder', async () => {
  const files = await planted(
    (t) => `${t}
locals {
  minter_roles = ["roles/logging.viewer", "roles/iam.serviceAccountTokenCreator"]
}

resource "google_folder_iam_member" "minters" {
  for_each = toset(local.minter_roles)
  folder   = "folders/123456789"
  role     = each.value
  member   = "group:ops@example.com"
}
`,
  );
  expect(schemaErrors(files)).toEqual([]);
  expect(checkTokenCreatorGrants(files)).toEqual([expect.stringMatching(/google_folder_iam_member\.minters: .* through google_folder_iam_member/)]);
});

test('(c) a project custom role carrying iam.serviceAccounts.getAccessToken', async () => {
  const files = await planted(
    (t) => `${t}
resource "google_project_iam_custom_role" "minter" {
  project     = var.project_id
  role_id     = "tokenMinter"
  title       = "Token minter"
  permissions = ["iam.serviceAccounts.getAccessToken"]
}

resource "google_project_iam_member" "minter" {
  project = var.project_id
  role    = google_project_iam_custom_role.minter.id
  member  = "user:alice@example.com"
}
`,
  );
  expect(schemaErrors(files)).toEqual([]);
  expect(checkTokenCreatorGrants(files)).toEqual([expect.stringMatching(/google_project_iam_member\.minter: a custom role with token-minting permissions/)]);
});

const POOL_PROVIDER = (condition: string): string => `
resource "google_iam_workload_identity_pool_provider" "github" {
  project                            = var.project_id
  workload_identity_pool_id          = "ci"
  workload_identity_pool_provider_id = "github"
  attribute_mapping = {
    "google.subject" = "assertion.sub"
  }
${condition}
  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}
`;

test('(d) a workload identity pool provider without attribute_condition', async () => {
  const files = await planted((t) => t + POOL_PROVIDER(''));
  expect(schemaErrors(files)).toEqual([]);
  expect(checkWifProviders(files)).toEqual([`${MAIN}:google_iam_workload_identity_pool_provider.github: attribute_condition is not set: without it any identity of the issuer (any repository, any tenant) can federate`]);
});

test('(d) an empty attribute_condition, and one from an unvalidated variable', async () => {
  const empty = await planted((t) => t + POOL_PROVIDER('  attribute_condition = "  "'));
  expect(checkWifProviders(empty)).toEqual([expect.stringMatching(/attribute_condition is empty$/)]);

  const unvalidated = await planted(
    (t) => `${t}${POOL_PROVIDER('  attribute_condition = var.github_condition')}
variable "github_condition" {
  type    = string
  default = ""
}
`,
  );
  expect(checkWifProviders(unvalidated)).toEqual([
    `${MODULE}: variable "github_condition" (attribute_condition of google_iam_workload_identity_pool_provider.github) has no validation {} rejecting an empty condition`,
    `${MODULE}: variable "github_condition" (attribute_condition of google_iam_workload_identity_pool_provider.github) defaults to an empty condition`,
  ]);
});

test('(d) a for_each over a variable whose attribute_condition is optional and unvalidated', async () => {
  const files = await planted(
    (t) => `${t}${POOL_PROVIDER('  for_each            = var.providers\n  attribute_condition = each.value.attribute_condition')}
variable "providers" {
  type = map(object({
    attribute_condition = optional(string)
  }))
}
`,
  );
  expect(checkWifProviders(files)).toEqual([
    `${MODULE}: variable "providers" has no validation {} of attribute_condition (attribute_condition of google_iam_workload_identity_pool_provider.github)`,
    `${MODULE}: variable "providers" declares attribute_condition optional; it must be required`,
  ]);
});

test('(e) a computed-only attribute assignment', async () => {
  const files = await planted((t) => insertInto(t, 'google_logging_project_sink', 'audit', 'writer_identity = "serviceAccount:me@example.iam.gserviceaccount.com"'));
  expect(summary(schemaErrors(files))).toEqual(['computed-only google_logging_project_sink.audit writer_identity']);
});

test('(e) a computed-only attribute inside a nested block', async () => {
  const files = await planted((t) => t.replace('  conditions {\n', '  conditions {\n    name = "projects/p/alertPolicies/1/conditions/2"\n'));
  expect(summary(schemaErrors(files))).toEqual(['computed-only google_monitoring_alert_policy.invalid_grant_spike conditions.name']);
  const top = await planted((t) => insertInto(t, 'google_project_iam_audit_config', 'token_services', 'etag = "BwX"'));
  expect(summary(schemaErrors(top))).toEqual(['computed-only google_project_iam_audit_config.token_services etag']);
});

test('an unknown argument inside dynamic content', async () => {
  const files = await planted((t) =>
    t.replace('      log_type         = audit_log_config.value', '      log_type         = audit_log_config.value\n      etag             = "x"'),
  );
  expect(summary(schemaErrors(files))).toEqual(['unknown-argument google_project_iam_audit_config.token_services audit_log_config.etag']);
});

test('an enumerated value outside the documented list, and a dynamic block naming an argument', async () => {
  const files = await planted((t) =>
    insertInto(t.replace('combiner              = "OR"', 'combiner              = "XOR"'), 'google_logging_metric', 'issued', 'dynamic "filter" {\n    for_each = []\n    content {}\n  }'),
  );
  expect(summary(schemaErrors(files)).sort()).toEqual(
    ['invalid-enum google_monitoring_alert_policy.invalid_grant_spike combiner', 'unknown-block google_logging_metric.issued dynamic.filter'].sort(),
  );
});

test('a service account key, a function open to all, a TTL on the wrong field', async () => {
  const files = await planted(
    (t) => `${t}
resource "google_service_account_key" "k" {
  service_account_id = "projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com"
}

resource "google_cloudfunctions2_function" "f" {
  name     = "f"
  location = "europe-west1"
  service_config {
    ingress_settings = "ALLOW_ALL"
  }
}

resource "google_firestore_field" "ttl" {
  for_each   = toset(["token-broker-cache", "token-broker-replay"])
  collection = each.value
  field      = "expiresAt"
  ttl_config {}
}
`,
  );
  expect(schemaErrors(files)).toEqual([]);
  expect(checkNoServiceAccountKeys(files)).toEqual([`${MAIN}:google_service_account_key.k: service account keys are forbidden (the broker exists so that no key is ever created)`]);
  expect(checkFunctionIngress(files)).toEqual([`${MAIN}:google_cloudfunctions2_function.f: service_config.ingress_settings is ALLOW_ALL`]);
  expect(checkTtlPolicies(files, ['token-broker-cache', 'token-broker-limits'])).toEqual([
    `no google_firestore_field with ttl_config on token-broker-cache.expireAt; found ${MAIN}:google_firestore_field.ttl (field expiresAt, ttl_config set)`,
    'no google_firestore_field with ttl_config on token-broker-limits.expireAt',
  ]);
});

test('a module call with an unknown input, a missing required input and an unknown output', async () => {
  const files = await planted((t) => `${t}\n`, {
    'terraform/examples/planted/main.tf': `module "observability" {
  source         = "../../modules/observability"
  alert_treshold = 10
}

output "channels" {
  value = module.observability.alert_policy_id
}
`,
  });
  expect(checkModuleCalls(files).map(formatFinding)).toEqual([
    'terraform/examples/planted/main.tf:module.observability:alert_treshold: "alert_treshold" is not a variable of terraform/modules/observability [unknown-argument]',
    'terraform/examples/planted/main.tf:module.observability:project_id: variable "project_id" of terraform/modules/observability has no default and is not passed [missing-required]',
    'terraform/examples/planted/main.tf:module.observability:alert_policy_id: module.observability.alert_policy_id is not an output of terraform/modules/observability [unknown-argument]',
  ]);
});

test('an enumerated argument whose variable default is outside the documented list', async () => {
  const direct = await planted(
    (t) => `${t.replace('combiner              = "OR"', 'combiner              = var.combiner')}
variable "combiner" {
  type    = string
  default = "ANY"
}
`,
  );
  expect(errorsOf(checkTerraform(direct, loadGoogleSchema())).map((f) => f.message)).toEqual([
    'the default of var.combiner, "ANY", is not one of the documented values: AND, OR, AND_WITH_MATCHING_RESOURCE',
  ]);
  const optional = await planted(
    (t) => `${t.replace('combiner              = "OR"', 'combiner              = var.alerting.combiner')}
variable "alerting" {
  type = object({
    combiner = optional(string, "EITHER")
  })
  default = {}
}
`,
  );
  expect(summary(schemaErrors(optional))).toEqual(['invalid-enum google_monitoring_alert_policy.invalid_grant_spike combiner']);
});

describe('web app client secrets of the broker module', () => {
  const BROKER = 'terraform/modules/broker';
  const WEB_APPS = `${BROKER}/web_apps.tf`;
  const broker = (edit: (text: string) => string): Promise<TfFile[]> => plantedIn(BROKER, WEB_APPS, edit);
  const ACCESSOR = 'google_secret_manager_secret_iam_member.runtime_web_app_accessor';

  test('the unmodified copy is clean', async () => {
    const files = await broker((t) => `${t}\n`);
    expect(checkWebAppSecrets(files, BROKER)).toEqual([]);
    expect(schemaErrors(files).map(formatFinding)).toEqual([]);
  });

  test('a secret version holding the client secret', async () => {
    const files = await broker(
      (t) => `${t}
resource "google_secret_manager_secret_version" "web_app" {
  for_each    = google_secret_manager_secret.web_app
  secret      = each.value.id
  secret_data = "client-secret"
}
`,
    );
    expect(schemaErrors(files)).toEqual([]);
    expect(checkWebAppSecrets(files, BROKER)).toEqual([expect.stringMatching(/^terraform\/modules\/broker\/web_apps\.tf:google_secret_manager_secret_version\.web_app: a secret version of google_secret_manager_secret\.web_app/)]);
  });

  test('a data source reading the value through the variable', async () => {
    const files = await broker(
      (t) => `${t}
data "google_secret_manager_secret_version" "web_app" {
  for_each = local.web_apps
  project  = var.project_id
  secret   = each.value.secret_id
}
`,
    );
    expect(checkWebAppSecrets(files, BROKER)).toEqual([expect.stringMatching(/data\.google_secret_manager_secret_version\.web_app: a secret version of/)]);
  });

  test('a second accessor binding, to someone else', async () => {
    const files = await broker(
      (t) => `${t}
resource "google_secret_manager_secret_iam_member" "developers" {
  for_each  = local.web_apps
  project   = var.project_id
  secret_id = google_secret_manager_secret.web_app[each.key].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "group:developers@example.com"
}
`,
    );
    expect(checkWebAppSecrets(files, BROKER)).toEqual([
      `${BROKER}/web_apps.tf:google_secret_manager_secret.web_app (web app secret): 2 roles/secretmanager.secretAccessor bindings (google_secret_manager_secret_iam_member.developers, ${ACCESSOR}); expected exactly one, to the broker's runtime service account`,
      `${WEB_APPS}:google_secret_manager_secret_iam_member.developers: member "group:developers@example.com" on google_secret_manager_secret.web_app is not the broker's runtime service account (\${google_service_account.runtime.member})`,
    ]);
  });

  test('the accessor binding given to another member, or removed', async () => {
    const other = await broker((t) => t.replace('  member    = google_service_account.runtime.member\n', '  member    = "allAuthenticatedUsers"\n'));
    expect(checkWebAppSecrets(other, BROKER)).toEqual([expect.stringMatching(new RegExp(`${ACCESSOR}: member "allAuthenticatedUsers" .* is not the broker's runtime service account`))]);
    const none = await broker((t) => t.slice(0, t.indexOf('# Read access for the broker')));
    expect(checkWebAppSecrets(none, BROKER)).toEqual([expect.stringMatching(/0 roles\/secretmanager\.secretAccessor bindings \(none\)/)]);
  });

  test('a binding that does not follow the secrets one for one, another role, and project-wide access', async () => {
    const files = await broker(
      (t) => `${t.replace('secret_id = google_secret_manager_secret.web_app[each.key].secret_id', 'secret_id = google_secret_manager_secret.web_app["demo"].secret_id')}
resource "google_secret_manager_secret_iam_member" "adder" {
  for_each  = local.web_apps
  project   = var.project_id
  secret_id = google_secret_manager_secret.web_app[each.key].secret_id
  role      = "roles/secretmanager.secretVersionAdder"
  member    = "group:ops@example.com"
}

resource "google_project_iam_member" "all_secrets" {
  project = var.project_id
  role    = "roles/secretmanager.secretAccessor"
  member  = google_service_account.runtime.member
}
`,
    );
    expect(schemaErrors(files)).toEqual([]);
    expect(checkWebAppSecrets(files, BROKER)).toEqual([
      expect.stringMatching(/iam_member\.adder: grants "roles\/secretmanager\.secretVersionAdder" on google_secret_manager_secret\.web_app/),
      expect.stringMatching(new RegExp(`${ACCESSOR}: does not bind each instance of google_secret_manager_secret\\.web_app exactly once`)),
      expect.stringMatching(/google_project_iam_member\.all_secrets: roles\/secretmanager\.secretAccessor granted through google_project_iam_member/),
    ]);
  });
});
