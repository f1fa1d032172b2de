/**
 * The policy reference's examples are real: every docs/examples/*.yaml compiles as a
 * production broker would load it, docs/policy.md shows each one byte for byte, and each
 * rule's condition matches the tokens (or clients) it is meant for and not their near misses.
 * The policies docs/clients.md shows compile too.
 */
import { createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { toClaims, type Claims } from '../../shared/identity/claims';
import { CLIENT_ISSUER, type ClientAuthMethod, type Principal } from '../../shared/identity/principal';
import { parseSecretHash, verifySecret } from '../../shared/identity/secret-hash';
import { BrokerError } from '../../shared/errors';
import { compilePolicy } from '../../shared/policy/compile-policy';
import type { CompiledPolicy, CompiledRule } from '../../shared/policy/compiled-policy';
import { parsePolicyText } from '../../shared/policy/parse-document';
import { resolveGrant } from '../../shared/policy/resolve-grant';
import { PolicyDenial, selectRule } from '../../shared/policy/select-rule';

const ROOT = join(__dirname, '..', '..');
const EXAMPLES_DIR = join(ROOT, 'docs', 'examples');
const POLICY_MD = join(ROOT, 'docs', 'policy.md');
const CLIENTS_MD = join(ROOT, 'docs', 'clients.md');
const PRODUCTION = { allowInsecureLoopback: false };
const BROKER = 'https://broker.example.com';
const NOW = 1_760_000_000;

const exampleFiles = readdirSync(EXAMPLES_DIR).filter((name) => name.endsWith('.yaml')).sort();

function readExample(name: string): string {
  return readFileSync(join(EXAMPLES_DIR, name), 'utf8');
}

function compileText(text: string, source: string): CompiledPolicy {
  return compilePolicy(parsePolicyText(text, source), { source, network: PRODUCTION });
}

function loadExample(name: string): CompiledPolicy {
  return compileText(readExample(name), `docs/examples/${name}`);
}

/** Claims exactly as the verifier hands them to policy: type-checked, prototype-free, frozen. */
function claimsOf(payload: Record<string, unknown>): Claims {
  return toClaims({ aud: BROKER, iat: NOW - 30, nbf: NOW - 30, exp: NOW + 270, ...payload }).claims;
}

/** The same token with some claims changed. */
function variant(base: Claims, changes: Record<string, unknown>): Claims {
  return claimsOf({ ...base, ...changes });
}

/** The same token without one claim. */
function without(base: Claims, claim: string): Claims {
  const { [claim]: _removed, ...rest } = base;
  return claimsOf(rest);
}

function principalOf(claims: Claims): Principal {
  return {
    kind: 'oidc',
    issuer: claims.iss as string,
    subject: claims.sub as string,
    claims,
    credentialSha256: 'test',
    expiresAt: claims.exp as number,
  };
}

function ruleOf(policy: CompiledPolicy, id: string): CompiledRule {
  const rule = policy.rules.find((r) => r.id === id);
  if (!rule) throw new Error(`no rule ${id}`);
  return rule;
}

/** A registered client as client authentication hands it to the policy. */
function clientPrincipalOf(clientId: string, authMethod: ClientAuthMethod, apiKeyId?: string): Principal {
  const claims: Record<string, unknown> = Object.create(null);
  claims.client_id = clientId;
  claims.auth_method = authMethod;
  if (apiKeyId !== undefined) claims.api_key_id = apiKeyId;
  return { kind: 'client', issuer: CLIENT_ISSUER, subject: clientId, claims: Object.freeze(claims), credentialSha256: 'test' };
}

/** The id of the rule the broker would pick, or the error code it would answer. */
function select(policy: CompiledPolicy, claims: Claims, audience?: string): string {
  return selectFor(policy, principalOf(claims), audience);
}

function selectFor(policy: CompiledPolicy, principal: Principal, audience?: string): string {
  try {
    return selectRule(policy, principal, { audience, brokerAudiences: [BROKER, `${BROKER}/token`, `${BROKER}/v1/token`] }).rule.id;
  } catch (err) {
    if (err instanceof PolicyDenial) return 'access_denied';
    if (err instanceof BrokerError) return err.code;
    throw err;
  }
}

function expectMatch(rule: CompiledRule, claims: Claims): void {
  expect({ rule: rule.id, outcome: rule.condition.evaluate(claims) }).toEqual({ rule: rule.id, outcome: { matched: true } });
}

function expectNoMatch(rule: CompiledRule, claims: Claims): void {
  expect(rule.condition.evaluate(claims).matched).toBe(false);
}

describe('docs/examples', () => {
  const expectedRules: Record<string, string[]> = {
    'generic-oidc.yaml': ['data-pipeline-writer', 'analytics-reader'],
    'github-actions.yaml': ['app-deploy-prod', 'org-terraform-plan', 'app-ci-cache'],
    'gitlab-ci.yaml': ['gitlab-deploy-production', 'gitlab-publish-release', 'gitlab-ci-read'],
    'kubernetes.yaml': ['gke-deployer', 'onprem-batch-exporters'],
    'browser-firebase.yaml': ['web-users-gemini'],
    'service-clients.yaml': ['nightly-report-bigquery', 'billing-export-upload', 'dashboard-metrics'],
  };

  it('holds exactly the documented examples', () => {
    expect(exampleFiles).toEqual([...Object.keys(expectedRules), 'policy-tests.yaml'].sort()); // policy-tests.yaml: cases, run by test/cli/policy-tools.test.ts
  });

  it.each(Object.entries(expectedRules))('%s compiles under the production network policy', (name, ids) => {
    const policy = loadExample(name);
    expect(policy.rules.map((rule) => rule.id)).toEqual(ids);
    expect(policy.version).toMatch(/^[0-9a-f]{64}$/);
    for (const issuer of policy.issuers.keys()) expect(issuer.startsWith('https://')).toBe(true);
  });
});

/** The contents of the markdown's fenced blocks of one language. */
function fencedBlocks(markdown: string, language: string): string[] {
  return [...markdown.matchAll(new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\`$`, 'gm'))].map((m) => m[1] as string);
}

describe('docs/policy.md', () => {
  const markdown = readFileSync(POLICY_MD, 'utf8');
  const blocks = (language: string) => fencedBlocks(markdown, language);

  it('shows every example file verbatim, exactly once', () => {
    const yamlBlocks = blocks('yaml');
    for (const name of exampleFiles) {
      expect({ name, copies: yamlBlocks.filter((block) => block === readExample(name)).length }).toEqual({ name, copies: 1 });
    }
  });

  it('has no policy document that is neither an example file nor itself loadable', () => {
    const examples = new Set(exampleFiles.map(readExample));
    const documents = blocks('yaml').filter((block) => block.startsWith('version: 1'));
    expect(documents.length).toBeGreaterThanOrEqual(exampleFiles.length);
    for (const block of documents) {
      if (!examples.has(block)) expect(() => compileText(block, 'docs/policy.md')).not.toThrow();
    }
  });

  it('has JSON blocks that parse', () => {
    for (const block of blocks('json')) expect(() => JSON.parse(block)).not.toThrow();
  });

  it('tells editors where the JSON schema is', () => {
    expect(markdown).toContain('# yaml-language-server: $schema=');
    expect(markdown).toContain('policy.schema.json');
  });
});

describe('docs/clients.md', () => {
  const markdown = readFileSync(CLIENTS_MD, 'utf8');

  it('has policy documents that are example files or load in production mode', () => {
    const examples = new Set(exampleFiles.map(readExample));
    const documents = fencedBlocks(markdown, 'yaml').filter((block) => block.startsWith('version: 1'));
    expect(documents.length).toBeGreaterThanOrEqual(3);
    for (const block of documents) {
      if (!examples.has(block)) expect(() => compileText(block, 'docs/clients.md')).not.toThrow();
    }
  });

  it('has YAML fragments and JSON blocks that parse', () => {
    for (const block of fencedBlocks(markdown, 'yaml')) expect(() => parseYaml(block)).not.toThrow();
    for (const block of fencedBlocks(markdown, 'json')) expect(() => JSON.parse(block)).not.toThrow();
  });
});

describe('GitHub Actions example', () => {
  const policy = loadExample('github-actions.yaml');
  const github = (claims: Record<string, unknown>) =>
    claimsOf({
      iss: 'https://token.actions.githubusercontent.com',
      jti: '8f8a5c3e-3c4e-4e0b-9a51-6f6c7f0a1d2e',
      repository: 'acme/app',
      repository_id: '583231010',
      repository_owner: 'acme',
      repository_owner_id: '1342004',
      repository_visibility: 'private',
      actor: 'octocat',
      actor_id: '583231',
      run_id: '9912345678',
      run_number: '42',
      run_attempt: '1',
      runner_environment: 'github-hosted',
      head_ref: '',
      base_ref: '',
      sha: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4',
      workflow: 'deploy',
      ...claims,
    });
  const prodDeploy = github({
    sub: 'repo:acme/app:environment:prod',
    environment: 'prod',
    ref: 'refs/heads/main',
    ref_type: 'branch',
    event_name: 'push',
    workflow_ref: 'acme/app/.github/workflows/deploy.yml@refs/heads/main',
    job_workflow_ref: 'acme/app/.github/workflows/deploy.yml@refs/heads/main',
  });
  const featurePush = github({
    sub: 'repo:acme/app:ref:refs/heads/feature-x',
    ref: 'refs/heads/feature-x',
    ref_type: 'branch',
    event_name: 'push',
    workflow_ref: 'acme/app/.github/workflows/ci.yml@refs/heads/feature-x',
    job_workflow_ref: 'acme/app/.github/workflows/ci.yml@refs/heads/feature-x',
  });
  const planFromOtherRepo = github({
    repository: 'acme/billing',
    repository_id: '600000001',
    sub: 'repo:acme/billing:pull_request',
    ref: 'refs/pull/7/merge',
    ref_type: 'branch',
    event_name: 'pull_request',
    workflow_ref: 'acme/billing/.github/workflows/plan.yml@refs/pull/7/merge',
    job_workflow_ref: 'acme/platform/.github/workflows/terraform-plan.yml@refs/tags/v1.4.2',
  });

  describe('app-deploy-prod', () => {
    const rule = ruleOf(policy, 'app-deploy-prod');
    it('matches the deploy workflow on main in the prod environment', () => expectMatch(rule, prodDeploy));
    it('does not match the right repository on a feature branch, even with environment prod', () => {
      expectNoMatch(rule, variant(prodDeploy, { ref: 'refs/heads/feature-x', workflow_ref: 'acme/app/.github/workflows/deploy.yml@refs/heads/feature-x' }));
      expectNoMatch(rule, featurePush);
    });
    it('does not match a same-named repository with another id (renamed and re-created)', () => {
      expectNoMatch(rule, variant(prodDeploy, { repository_id: '777777777' }));
    });
    it('does not match when an id arrives as a number: GitHub ids are strings', () => {
      expectNoMatch(rule, variant(prodDeploy, { repository_id: 583231010 }));
    });
    it('does not match another workflow of the repository in the same environment', () => {
      expectNoMatch(rule, variant(prodDeploy, { workflow_ref: 'acme/app/.github/workflows/debug.yml@refs/heads/main' }));
    });
  });

  describe('org-terraform-plan', () => {
    const rule = ruleOf(policy, 'org-terraform-plan');
    it('matches the released reusable workflow called from any acme repository', () => expectMatch(rule, planFromOtherRepo));
    it.each([
      ['a branch instead of a release tag', 'acme/platform/.github/workflows/terraform-plan.yml@refs/heads/main'],
      ['a pre-release tag', 'acme/platform/.github/workflows/terraform-plan.yml@refs/tags/v1.4.2-rc1'],
      ['a fork of the platform repository', 'mallory/platform/.github/workflows/terraform-plan.yml@refs/tags/v1.4.2'],
      ['a look-alike path (the dots are literal)', 'acme/platform/xgithub/workflows/terraform-plan.yml@refs/tags/v1.4.2'],
    ])('does not match %s', (_label, jobWorkflowRef) => {
      expectNoMatch(rule, variant(planFromOtherRepo, { job_workflow_ref: jobWorkflowRef }));
    });
    it('does not match another organisation calling the same workflow', () => {
      expectNoMatch(rule, variant(planFromOtherRepo, { repository_owner: 'mallory', repository_owner_id: '999' }));
    });
  });

  describe('app-ci-cache', () => {
    const rule = ruleOf(policy, 'app-ci-cache');
    it('matches a push to a feature branch', () => expectMatch(rule, featurePush));
    it('does not match a pull request or a tag push', () => {
      expectNoMatch(rule, variant(featurePush, { event_name: 'pull_request', sub: 'repo:acme/app:pull_request' }));
      expectNoMatch(rule, variant(featurePush, { ref: 'refs/tags/v1', ref_type: 'tag', sub: 'repo:acme/app:ref:refs/tags/v1' }));
    });
  });

  describe('rule selection', () => {
    const pushToMainRunningPlan = github({
      sub: 'repo:acme/app:ref:refs/heads/main',
      ref: 'refs/heads/main',
      ref_type: 'branch',
      event_name: 'push',
      workflow_ref: 'acme/app/.github/workflows/ci.yml@refs/heads/main',
      job_workflow_ref: 'acme/platform/.github/workflows/terraform-plan.yml@refs/tags/v1.4.2',
    });

    it('picks the first matching rule in document order', () => {
      expect(select(policy, prodDeploy)).toBe('app-deploy-prod');
      expect(select(policy, featurePush)).toBe('app-ci-cache');
      expect(ruleOf(policy, 'app-ci-cache').condition.evaluate(pushToMainRunningPlan)).toEqual({ matched: true });
      expect(select(policy, pushToMainRunningPlan)).toBe('org-terraform-plan');
    });

    it('checks scopes against the selected rule only; an audience naming a rule selects a later one', () => {
      const first = ruleOf(policy, select(policy, pushToMainRunningPlan));
      expect(() => resolveGrant(first, ['https://www.googleapis.com/auth/devstorage.read_write'])).toThrow(
        expect.objectContaining({ code: 'invalid_scope' }),
      );
      expect(select(policy, pushToMainRunningPlan, 'app-ci-cache')).toBe('app-ci-cache');
      expect(select(policy, pushToMainRunningPlan, 'app-ci-cache@acme-prod.iam.gserviceaccount.com')).toBe('app-ci-cache');
      expect(select(policy, pushToMainRunningPlan, `${BROKER}/v1/token`)).toBe('org-terraform-plan');
    });

    it('refuses an unknown audience and denies when no rule matches', () => {
      expect(select(policy, featurePush, 'https://broker.example.com/')).toBe('invalid_target');
      expect(select(policy, featurePush, 'app-deploy-prod')).toBe('access_denied');
      expect(select(policy, variant(featurePush, { repository_owner_id: '999' }))).toBe('access_denied');
    });

    it('narrows lifetime to the rule maximum', () => {
      const grant = resolveGrant(ruleOf(policy, 'app-deploy-prod'), undefined, 3600);
      expect(grant).toMatchObject({ lifetimeSeconds: 900, scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
      expect(resolveGrant(ruleOf(policy, 'app-deploy-prod'), undefined, 120).lifetimeSeconds).toBe(120);
    });
  });
});

describe('GitLab CI example', () => {
  const policy = loadExample('gitlab-ci.yaml');
  const gitlab = (claims: Record<string, unknown>) =>
    claimsOf({
      iss: 'https://gitlab.com',
      namespace_id: '4217765',
      namespace_path: 'acme/platform',
      project_id: '51234567',
      project_path: 'acme/platform/app',
      user_id: '1203',
      user_login: 'alice',
      user_email: 'alice@acme.example',
      user_access_level: 'maintainer',
      pipeline_id: '1650000000',
      job_id: '9100000000',
      sha: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4',
      runner_id: 12270837,
      runner_environment: 'gitlab-hosted',
      project_visibility: 'private',
      ci_config_ref_uri: 'gitlab.com/acme/platform/app//.gitlab-ci.yml@refs/heads/main',
      ...claims,
    });
  const deploy = gitlab({
    sub: 'project_path:acme/platform/app:ref_type:branch:ref:main',
    ref: 'main',
    ref_type: 'branch',
    ref_path: 'refs/heads/main',
    ref_protected: 'true',
    environment: 'production',
    environment_protected: 'true',
    deployment_tier: 'production',
    pipeline_source: 'push',
  });
  const release = gitlab({
    sub: 'project_path:acme/platform/app:ref_type:tag:ref:v2.3.4',
    ref: 'v2.3.4',
    ref_type: 'tag',
    ref_path: 'refs/tags/v2.3.4',
    ref_protected: 'true',
    pipeline_source: 'push',
  });
  const featureBranch = gitlab({
    sub: 'project_path:acme/platform/app:ref_type:branch:ref:feature-x',
    ref: 'feature-x',
    ref_type: 'branch',
    ref_path: 'refs/heads/feature-x',
    ref_protected: 'false',
    pipeline_source: 'push',
  });

  describe('gitlab-deploy-production', () => {
    const rule = ruleOf(policy, 'gitlab-deploy-production');
    it('matches a protected main pipeline deploying to production', () => expectMatch(rule, deploy));
    it('does not match an unprotected branch, another environment, or a merge-request pipeline', () => {
      expectNoMatch(rule, variant(deploy, { ref: 'feature-x', ref_protected: 'false' }));
      expectNoMatch(rule, variant(deploy, { environment: 'staging' }));
      expectNoMatch(rule, variant(deploy, { pipeline_source: 'merge_request_event' }));
    });
    it('compares ref_protected as the string GitLab sends: a boolean true does not match', () => {
      expectNoMatch(rule, variant(deploy, { ref_protected: true }));
    });
    it('does not match a job without an environment (a missing claim is an error: not matched)', () => {
      expect(rule.condition.evaluate(without(deploy, 'environment'))).toMatchObject({ matched: false, reason: 'error' });
    });
  });

  describe('gitlab-publish-release', () => {
    const rule = ruleOf(policy, 'gitlab-publish-release');
    it('matches a protected vX.Y.Z tag', () => expectMatch(rule, release));
    it('does not match an unprotected tag, a pre-release tag or a branch of that name', () => {
      expectNoMatch(rule, variant(release, { ref_protected: 'false' }));
      expectNoMatch(rule, variant(release, { ref: 'v2.3.4-rc1' }));
      expectNoMatch(rule, variant(release, { ref_type: 'branch' }));
    });
  });

  describe('gitlab-ci-read', () => {
    const rule = ruleOf(policy, 'gitlab-ci-read');
    it('matches a feature-branch pipeline', () => expectMatch(rule, featureBranch));
    it('does not match a merge-request pipeline or another project', () => {
      expectNoMatch(rule, variant(featureBranch, { pipeline_source: 'merge_request_event' }));
      expectNoMatch(rule, variant(featureBranch, { project_id: '51234568', project_path: 'mallory/app', namespace_path: 'mallory' }));
    });
  });

  it('selects by document order', () => {
    expect(select(policy, deploy)).toBe('gitlab-deploy-production');
    expect(select(policy, release)).toBe('gitlab-publish-release');
    expect(select(policy, featureBranch)).toBe('gitlab-ci-read');
    expect(select(policy, variant(featureBranch, { pipeline_source: 'merge_request_event' }))).toBe('access_denied');
  });
});

describe('Kubernetes example', () => {
  const policy = loadExample('kubernetes.yaml');
  const GKE = 'https://container.googleapis.com/v1/projects/acme-prod/locations/europe-west1/clusters/prod-1';
  const ONPREM = 'https://kubernetes.default.svc.cluster.local';
  const podToken = (iss: string, namespace: string, serviceAccount: string) =>
    claimsOf({
      iss,
      aud: [BROKER],
      sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
      iat: NOW - 1800,
      nbf: NOW - 1800,
      exp: NOW + 1800,
      jti: '5b1c7a5e-0f7a-4b8e-9a3c-2d9f0e6c1b7a',
      'kubernetes.io': {
        namespace,
        node: { name: 'gke-prod-1-pool-1-3f2a9c1e-x7k2', uid: '0d5a2c44-1b8e-4f6a-9c3d-7e2f1a0b9c8d' },
        pod: { name: `${serviceAccount}-7d9f8c6b5-q2x4z`, uid: '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b' },
        serviceaccount: { name: serviceAccount, uid: '2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f' },
      },
    });

  it('matches the deployer of namespace deploy, and not its near misses', () => {
    const rule = ruleOf(policy, 'gke-deployer');
    expectMatch(rule, podToken(GKE, 'deploy', 'deployer'));
    expectNoMatch(rule, podToken(GKE, 'deploy', 'default'));
    expectNoMatch(rule, podToken(GKE, 'deploy-staging', 'deployer'));
  });

  it('matches the two batch service accounts and no other', () => {
    const rule = ruleOf(policy, 'onprem-batch-exporters');
    expectMatch(rule, podToken(ONPREM, 'batch', 'exporter'));
    expectMatch(rule, podToken(ONPREM, 'batch', 'reporter'));
    expectNoMatch(rule, podToken(ONPREM, 'batch', 'importer'));
    expectNoMatch(rule, podToken(ONPREM, 'default', 'exporter'));
  });

  it('never lets one cluster use the other cluster\'s rule', () => {
    expect(select(policy, podToken(GKE, 'deploy', 'deployer'))).toBe('gke-deployer');
    expect(select(policy, podToken(ONPREM, 'deploy', 'deployer'))).toBe('access_denied');
    expect(select(policy, podToken(GKE, 'batch', 'exporter'))).toBe('access_denied');
  });

  it('has an inline JWKS that is a real public RSA key', () => {
    const doc = parsePolicyText(readExample('kubernetes.yaml'), 'kubernetes.yaml');
    const keys = doc.issuers.flatMap((issuer) => issuer.jwks?.keys ?? []);
    expect(keys).toHaveLength(1);
    const key = createPublicKey({ key: keys[0] as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
    expect(key.type).toBe('public');
    expect(key.asymmetricKeyType).toBe('rsa');
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('uses discovery for GKE and the inline keys for the other cluster', () => {
    const doc = parsePolicyText(readExample('kubernetes.yaml'), 'kubernetes.yaml');
    expect(doc.issuers.map((issuer) => [issuer.issuer, issuer.jwks_uri, issuer.jwks === undefined])).toEqual([
      [GKE, undefined, true],
      [ONPREM, undefined, false],
    ]);
  });
});

describe('generic OIDC example', () => {
  const policy = loadExample('generic-oidc.yaml');
  const ISSUER = 'https://idp.acme.example/realms/workloads';
  const token = (claims: Record<string, unknown>) =>
    claimsOf({
      iss: ISSUER,
      aud: ['token-broker', 'account'],
      sub: '5f0c1f2e-8a1d-4c3b-9e7f-0a1b2c3d4e5f',
      azp: 'pipeline-runner',
      tenant: 'acme',
      groups: ['staff', 'data-writers'],
      clearance_level: 1,
      ...claims,
    });

  it('data-pipeline-writer: group membership with `in`', () => {
    const rule = ruleOf(policy, 'data-pipeline-writer');
    expectMatch(rule, token({}));
    expectNoMatch(rule, token({ groups: ['staff', 'data-readers'] }));
    expectNoMatch(rule, token({ tenant: 'globex' }));
    expectNoMatch(rule, token({ azp: 'notebook' }));
  });

  it('analytics-reader: exists() over a list and an int claim', () => {
    const rule = ruleOf(policy, 'analytics-reader');
    expectMatch(rule, token({ groups: ['analytics-eu'], clearance_level: 2 }));
    expectNoMatch(rule, token({ groups: ['analytics-eu'], clearance_level: 1 }));
    expectNoMatch(rule, token({ groups: ['data-analytics'], clearance_level: 3 }));
    expect(rule.condition.evaluate(token({ groups: ['analytics-eu'], clearance_level: '3' }))).toMatchObject({ matched: false, reason: 'error' });
  });

  it('a token without a groups claim matches no rule', () => {
    expect(select(policy, without(token({}), 'groups'))).toBe('access_denied');
  });

  it('selects the writer first when both rules match', () => {
    const both = token({ groups: ['data-writers', 'analytics-eu'], clearance_level: 5 });
    expect(ruleOf(policy, 'analytics-reader').condition.evaluate(both)).toEqual({ matched: true });
    expect(select(policy, both)).toBe('data-pipeline-writer');
    expect(select(policy, both, 'analytics-reader')).toBe('analytics-reader');
  });
});

describe('browser users (Firebase) example', () => {
  const policy = loadExample('browser-firebase.yaml');
  const ISSUER = 'https://securetoken.google.com/acme-web-app';
  const firebaseUser = (claims: Record<string, unknown>) =>
    claimsOf({
      iss: ISSUER,
      aud: 'acme-web-app',
      sub: 'Xq4vTn0sLbMyo8ZkR2pW1aE9cU53',
      user_id: 'Xq4vTn0sLbMyo8ZkR2pW1aE9cU53',
      auth_time: NOW - 86_400,
      name: 'Alice Example',
      email: 'alice@example.com',
      email_verified: true,
      firebase: { identities: { 'google.com': ['104857391234567890123'], email: ['alice@example.com'] }, sign_in_provider: 'google.com' },
      ...claims,
    });
  const alice = firebaseUser({});
  const rule = ruleOf(policy, 'web-users-gemini');

  it('expands the Firebase preset: issuer, audience, auth_time, browser lifetime', () => {
    expect(policy.issuers.get(ISSUER)).toMatchObject({ audiences: ['acme-web-app'], algorithms: ['RS256'], browser: true, requireAuthTime: true });
    expect(rule.grant.maxLifetimeSeconds).toBe(300);
    expect(rule.limits).toEqual({ requestsPerMinute: 10, tokensPerDay: 500 });
    expect([...(policy.cors?.allowedOrigins ?? [])]).toEqual(['https://app.acme.example']);
  });

  it('matches a verified Google or email/password user', () => {
    expectMatch(rule, alice);
    expectMatch(rule, variant(alice, { firebase: { identities: { email: ['alice@example.com'] }, sign_in_provider: 'password' } }));
  });

  it('does not match an anonymous user, an unverified email or a provider not listed', () => {
    const anonymous = without(without(variant(alice, { firebase: { identities: {}, sign_in_provider: 'anonymous' } }), 'email'), 'email_verified');
    expectNoMatch(rule, anonymous);
    expectNoMatch(rule, variant(alice, { email_verified: false, firebase: { identities: { email: ['alice@example.com'] }, sign_in_provider: 'password' } }));
    expectNoMatch(rule, variant(alice, { firebase: { identities: {}, sign_in_provider: 'custom' } }));
    expectNoMatch(rule, variant(alice, { email_verified: 'true' }));
  });

  it('selects the rule by id, and denies other projects and near misses', () => {
    expect(select(policy, alice)).toBe('web-users-gemini');
    expect(select(policy, alice, 'web-users-gemini')).toBe('web-users-gemini');
    expect(select(policy, variant(alice, { iss: 'https://securetoken.google.com/acme-web-app-staging' }))).toBe('access_denied');
    expect(select(policy, variant(alice, { email_verified: false }))).toBe('access_denied');
    expect(select(policy, alice, 'dashboard-metrics')).toBe('invalid_target');
  });
});

describe('service clients example', () => {
  const policy = loadExample('service-clients.yaml');
  const doc = parsePolicyText(readExample('service-clients.yaml'), 'service-clients.yaml');

  it('nightly-report-bigquery: the signer, by assertion only', () => {
    const rule = ruleOf(policy, 'nightly-report-bigquery');
    expectMatch(rule, clientPrincipalOf('nightly-report', 'private_key_jwt').claims);
    expectMatch(rule, clientPrincipalOf('nightly-report', 'jwt_bearer').claims);
    expectNoMatch(rule, clientPrincipalOf('nightly-report', 'client_secret_post').claims);
  });

  it('billing-export-upload: the client secret, basic or post', () => {
    const rule = ruleOf(policy, 'billing-export-upload');
    expectMatch(rule, clientPrincipalOf('billing-export', 'client_secret_basic').claims);
    expectMatch(rule, clientPrincipalOf('billing-export', 'client_secret_post').claims);
    expectNoMatch(rule, clientPrincipalOf('billing-export', 'api_key', 'r5bdhg5jo4eg').claims);
  });

  it('dashboard-metrics: the API key only', () => {
    const rule = ruleOf(policy, 'dashboard-metrics');
    expectMatch(rule, clientPrincipalOf('web-dashboard', 'api_key', 'r5bdhg5jo4eg').claims);
    expectNoMatch(rule, clientPrincipalOf('web-dashboard', 'client_secret_basic').claims);
  });

  it('gives each client its own rule and nothing else', () => {
    expect(selectFor(policy, clientPrincipalOf('nightly-report', 'private_key_jwt'))).toBe('nightly-report-bigquery');
    expect(selectFor(policy, clientPrincipalOf('billing-export', 'client_secret_basic'))).toBe('billing-export-upload');
    expect(selectFor(policy, clientPrincipalOf('web-dashboard', 'api_key', 'r5bdhg5jo4eg'))).toBe('dashboard-metrics');
    expect(selectFor(policy, clientPrincipalOf('web-dashboard', 'api_key', 'r5bdhg5jo4eg'), 'nightly-report-bigquery')).toBe('access_denied');
    expect(selectFor(policy, clientPrincipalOf('stranger', 'client_secret_basic'))).toBe('access_denied');
    expect(select(policy, claimsOf({ iss: 'https://token.actions.githubusercontent.com', sub: 'nightly-report', client_id: 'nightly-report', auth_method: 'private_key_jwt' }))).toBe('access_denied');
  });

  it('has an inline JWKS that is a real public P-256 key', () => {
    const keys = doc.clients?.flatMap((client) => client.jwks?.keys ?? []) ?? [];
    expect(keys).toHaveLength(1);
    const key = createPublicKey({ key: keys[0] as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
    expect(key.type).toBe('public');
    expect(key.asymmetricKeyType).toBe('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(policy.clients.get('nightly-report')?.assertion).toMatchObject({ algorithms: ['ES256'], maxAssertionLifetimeSeconds: 120 });
  });

  it('holds the hash of the placeholder secret its comment names', async () => {
    const hash = doc.clients?.find((client) => client.id === 'billing-export')?.secrets?.[0]?.hash ?? '';
    await expect(verifySecret('example-secret-not-real', parseSecretHash(hash))).resolves.toBe(true);
  });

  it('compiles the API key restrictions, the limits and CORS', () => {
    const key = policy.apiKeys.get('r5bdhg5jo4eg');
    expect(key).toMatchObject({ clientId: 'web-dashboard', expiresAtMs: Date.parse('2027-05-31T00:00:00Z') });
    expect(key?.ipRanges?.map(([range, bits]) => `${range.toString()}/${bits}`)).toEqual(['203.0.113.0/24', '2001:db8:1234::/48']);
    expect([...(key?.origins ?? [])]).toEqual(['https://dashboard.acme.example']);
    expect(policy.clients.get('billing-export')?.limits).toEqual({ requestsPerMinute: 30, tokensPerDay: 2000 });
    expect(ruleOf(policy, 'dashboard-metrics').limits).toEqual({ requestsPerMinute: 60, tokensPerDay: 5000 });
    expect([...(policy.cors?.allowedOrigins ?? [])]).toEqual(['https://dashboard.acme.example']);
  });
});
