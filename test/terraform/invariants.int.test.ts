/**
 * Security invariants over every .tf file under terraform/ (modules and examples).
 */
import { TERRAFORM_ROOT, addressOf, blocksOf, parseTerraformTree, type TfBlock, type TfFile } from './schema-check';
import {
  TOKEN_CREATOR_ROLE,
  TTL_FIELD,
  checkFunctionIngress,
  checkKmsKeyWiring,
  checkNoServiceAccountKeys,
  checkPerimeterServices,
  checkTokenCreatorGrants,
  checkTtlPolicies,
  checkWebAppSecrets,
  checkWifProviders,
  runtimeServiceAccountName,
} from './invariants';

const BROKER_DIR = 'terraform/modules/broker';
const FEDERATION_DIR = 'terraform/modules/federation';
const TTL_COLLECTIONS = ['token-broker-cache', 'token-broker-replay', 'token-broker-limits', 'token-broker-issued', 'token-broker-sessions', 'token-broker-logins'];

let files: TfFile[];

beforeAll(async () => {
  const parsed = await parseTerraformTree(TERRAFORM_ROOT);
  if (parsed.errors.length) throw new Error(`unparsable Terraform: ${parsed.errors.map((e) => `${e.file}: ${e.message}`).join('; ')}`);
  files = parsed.files;
}, 60_000);

function brokerFunction(): TfBlock {
  const fns = blocksOf(files, ['resource']).filter((b) => b.dir === BROKER_DIR && b.type === 'google_cloudfunctions2_function');
  if (fns.length !== 1) throw new Error(`${BROKER_DIR} must declare exactly one google_cloudfunctions2_function, found ${fns.length}`);
  return fns[0] as TfBlock;
}

test('no google_service_account_key anywhere', () => {
  expect(checkNoServiceAccountKeys(files)).toEqual([]);
});

test(`${TOKEN_CREATOR_ROLE} is granted on specific service accounts only, never on a project, folder or organization`, () => {
  expect(checkTokenCreatorGrants(files)).toEqual([]);
  // And the broker module does grant it, on its targets.
  const grants = blocksOf(files, ['resource']).filter((b) => b.dir === BROKER_DIR && JSON.stringify(b.body).includes(TOKEN_CREATOR_ROLE));
  expect(grants.length).toBeGreaterThan(0);
  for (const g of grants) expect(`${addressOf(g)} ${g.type}`).toMatch(/google_service_account_iam_(member|binding)$/);
});

test('every workload identity pool provider has a non-empty attribute_condition, validated by the federation module', () => {
  const providers = blocksOf(files, ['resource']).filter((b) => b.type === 'google_iam_workload_identity_pool_provider');
  expect(providers.filter((p) => p.dir === FEDERATION_DIR).length).toBeGreaterThan(0);
  expect(checkWifProviders(files)).toEqual([]);
});

test('the function ingress does not default to ALLOW_ALL', () => {
  brokerFunction();
  expect(checkFunctionIngress(files)).toEqual([]);
});

test.each(TTL_COLLECTIONS)(`%s has a google_firestore_field with ttl_config on ${TTL_FIELD}`, (collection) => {
  expect(checkTtlPolicies(files, [collection])).toEqual([]);
});

describe('web app client secrets', () => {
  const webAppSecrets = (): TfBlock[] =>
    blocksOf(files, ['resource']).filter((b) => b.dir === BROKER_DIR && b.type === 'google_secret_manager_secret' && /var\.web_apps|local\.web_apps/.test(String(b.body.for_each)));

  test('the broker module creates one secret per web app, with no secret version', () => {
    expect(webAppSecrets().map((b) => addressOf(b))).toEqual(['google_secret_manager_secret.web_app']);
    const versions = blocksOf(files).filter((b) => b.type === 'google_secret_manager_secret_version');
    // Only the policy has a version; nothing reads or writes a web app secret's value.
    expect(versions.map((b) => `${b.dir} ${addressOf(b)}`)).toEqual([`${BROKER_DIR} google_secret_manager_secret_version.policy`]);
  });

  test("each web app secret has exactly one accessor binding, to the broker's runtime service account; no version; never project-wide", () => {
    expect(runtimeServiceAccountName(files, BROKER_DIR)).toBe('runtime');
    expect(checkWebAppSecrets(files, BROKER_DIR)).toEqual([]);
  });
});

test('the KMS crypto key id is passed to the function as BROKER_CACHE_KMS_KEY', () => {
  expect(checkKmsKeyWiring(files, brokerFunction())).toEqual([]);
});

test('the perimeter restricts aiplatform, iamcredentials, sts, firestore, cloudkms, secretmanager and logging', () => {
  expect(checkPerimeterServices(files)).toEqual([]);
});
