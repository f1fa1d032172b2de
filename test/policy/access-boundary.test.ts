/**
 * Access boundaries at load (every malformed boundary is a policy error with its path) and at
 * render (a placeholder's value is data: in a condition it is one CEL string literal, even when
 * a rule's own pattern lets quotes through).
 */
import { parse } from '@bufbuild/cel';
import fc from 'fast-check';
import { compileAccessBoundary, narrowAccessBoundary, renderAccessBoundary } from '../../shared/policy/access-boundary';
import { compilePolicy } from '../../shared/policy/compile-policy';
import { parsePolicyText } from '../../shared/policy/parse-document';
import type { PolicyIssue } from '../../shared/policy/policy-error';
import { PolicyLoadError } from '../../shared/policy/policy-error';

const ISSUER = 'https://token.actions.githubusercontent.com';
const CLOUD = 'https://www.googleapis.com/auth/cloud-platform';
const BUCKET = '//storage.googleapis.com/projects/_/buckets/{{claims.repository_owner}}-artifacts';

function loadIssues(grant: Record<string, unknown>): PolicyIssue[] {
  const doc = {
    version: 1,
    issuers: [{ issuer: ISSUER, audiences: ['https://broker.example.com'] }],
    rules: [{ id: 'r', issuer: ISSUER, condition: 'true', grant: { service_account: 'sa@p-123456.iam.gserviceaccount.com', scopes: [CLOUD], ...grant } }],
  };
  try {
    compilePolicy(parsePolicyText(JSON.stringify(doc), 'policy.json'), { source: 'policy.json', network: { allowInsecureLoopback: false } });
  } catch (err) {
    if (err instanceof PolicyLoadError) return [...err.issues];
    throw err;
  }
  return [];
}

describe('at load', () => {
  it('accepts a boundary with placeholders and a condition', () => {
    expect(loadIssues({ access_boundary: [{ resource: BUCKET, permissions: ['inRole:roles/storage.objectViewer'], condition: { expression: 'resource.name.startsWith({{claims.sub}})' } }] })).toEqual([]);
  });

  it.each([
    ['a resource that is not a bucket', { access_boundary: [{ resource: '//compute.googleapis.com/projects/p', permissions: ['inRole:roles/x'] }] }, 'rules[0].grant.access_boundary[0].resource'],
    ['a permission that is not inRole:', { access_boundary: [{ resource: BUCKET, permissions: ['storage.objects.get'] }] }, 'rules[0].grant.access_boundary[0].permissions[0]'],
    ['a condition that is not CEL', { access_boundary: [{ resource: BUCKET, permissions: ['inRole:roles/x'], condition: { expression: 'resource.name.startsWith(' } }] }, 'rules[0].grant.access_boundary[0].condition.expression'],
    ['an unknown placeholder', { access_boundary: [{ resource: '//storage.googleapis.com/projects/_/buckets/{{request.audience}}', permissions: ['inRole:roles/x'] }] }, 'rules[0].grant.access_boundary[0].resource'],
    ['unbalanced braces', { access_boundary: [{ resource: '//storage.googleapis.com/projects/_/buckets/{{claims.sub}', permissions: ['inRole:roles/x'] }] }, 'rules[0].grant.access_boundary[0].resource'],
    ['a bad pattern', { access_boundary: [{ resource: BUCKET, permissions: ['inRole:roles/x'] }], placeholder_patterns: { 'claims.repository_owner': '([' } }, 'rules[0].grant.placeholder_patterns.claims.repository_owner'],
    ['no cloud-platform scope', { scopes: ['https://www.googleapis.com/auth/devstorage.read_only'], access_boundary: [{ resource: BUCKET, permissions: ['inRole:roles/x'] }] }, 'rules[0].grant.scopes'],
  ])('refuses %s, naming the path', (_name, grant, path) => {
    expect(loadIssues(grant).map((issue) => issue.path)).toContain(path);
  });

  it('refuses more than 10 boundary rules and patterns without a boundary (schema)', () => {
    const rule = { resource: BUCKET, permissions: ['inRole:roles/x'] };
    expect(loadIssues({ access_boundary: Array.from({ length: 11 }, () => rule) }).length).toBeGreaterThan(0);
    expect(loadIssues({ placeholder_patterns: { 'claims.sub': '.+' } }).length).toBeGreaterThan(0);
  });
});

describe('at render', () => {
  const issues: PolicyIssue[] = [];
  // A rule whose own pattern lets anything through: the literal must still hold.
  const permissive = compileAccessBoundary(
    [{ resource: '//storage.googleapis.com/projects/_/buckets/bkt', permissions: ['inRole:roles/x'], condition: { expression: 'resource.name.startsWith({{claims.prefix}})' } }],
    { 'claims.prefix': '[\\s\\S]{1,200}' }, 'grant', issues,
  );

  it('compiles', () => expect(issues).toEqual([]));

  it('inserts any value as exactly one CEL string literal (property)', () => {
    fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 60, unit: 'binary' }), (value) => {
      const expression = renderAccessBoundary(permissive, { claims: { prefix: value } }).accessBoundaryRules[0]?.availabilityCondition?.expression ?? '';
      const parsed = parse(expression) as unknown as { expr?: { exprKind?: { case?: string; value?: { function?: string; args?: Array<{ exprKind?: { case?: string; value?: { constantKind?: { value?: unknown } } } }> } } } };
      const call = parsed.expr?.exprKind;
      const arg = call?.value?.args?.[0]?.exprKind;
      return call?.case === 'callExpr' && call.value?.function === 'startsWith' && call.value.args?.length === 1
        && arg?.case === 'constExpr' && arg.value?.constantKind?.value === value;
    }), { numRuns: 500 });
  });

  it('narrowing keeps a boundary the rule allows and refuses one it does not', () => {
    const granted = { accessBoundaryRules: [{ availableResource: '//storage.googleapis.com/projects/_/buckets/bkt', availablePermissions: ['inRole:roles/a', 'inRole:roles/b'] }] };
    const narrower = { accessBoundaryRules: [{ availableResource: '//storage.googleapis.com/projects/_/buckets/bkt', availablePermissions: ['inRole:roles/a'], availabilityCondition: { expression: 'true' } }] };
    expect(narrowAccessBoundary(granted, narrower)).toBe(narrower);
    expect(() => narrowAccessBoundary(granted, { accessBoundaryRules: [{ availableResource: '//storage.googleapis.com/projects/_/buckets/ckt', availablePermissions: ['inRole:roles/a'] }] })).toThrow(/not within/);
    expect(() => narrowAccessBoundary(undefined, { accessBoundaryRules: [{ availableResource: 'gs://b', availablePermissions: ['inRole:roles/a'] }] })).toThrow(/does not accept/);
  });
});
