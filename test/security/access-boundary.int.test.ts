/**
 * Credential Access Boundaries end to end: the real token endpoint, the policy's boundary
 * rendered from the caller's verified claims, the token minted at IAM Credentials and then
 * downscoped at the (emulated) Google STS, which records the boundary it applied.
 *
 * The boundary follows the caller: `repository_owner: acme` gets bucket `acme-artifacts`. A
 * claim that tries to break out of its place (quotes, `||`, slashes) is refused before anything
 * is minted. A caller may narrow the boundary in `options`, never widen it. STS failures are
 * retryable 503s or, when STS refuses, a 500 for the operator.
 */
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { LineCapture } from '../helpers/capture';
import { exchangeForm, post, type Answer } from '../helpers/http';

const SA = 'reader@token-broker-dev.iam.gserviceaccount.com';
const CLOUD = 'https://www.googleapis.com/auth/cloud-platform';
const VIEWER = 'inRole:roles/storage.objectViewer';
const CREATOR = 'inRole:roles/storage.objectCreator';
const ownBucket = (owner: string) => `//storage.googleapis.com/projects/_/buckets/${owner}-artifacts`;
const ownObjects = (owner: string, sub: string) => `resource.name.startsWith("projects/_/buckets/" + "${owner}" + "-artifacts/objects/" + "${sub}")`;

const audit = new LineCapture();
let stack: DevStack;

beforeAll(async () => {
  stack = await startDevStack({
    auditTransport: audit,
    policyText: ({ issuer, broker }) => `
version: 1
issuers:
  - issuer: "${issuer}"
    audiences: ["${broker}"]
rules:
  - id: artifacts
    issuer: "${issuer}"
    condition: claims.sub.startsWith('ci-')
    grant:
      service_account: ${SA}
      scopes: [${CLOUD}]
      access_boundary:
        - resource: "//storage.googleapis.com/projects/_/buckets/{{claims.repository_owner}}-artifacts"
          permissions: [${VIEWER}, ${CREATOR}]
          condition:
            expression: 'resource.name.startsWith("projects/_/buckets/" + {{ claims.repository_owner }} + "-artifacts/objects/" + {{claims.sub}})'
            title: own objects
      placeholder_patterns:
        claims.repository_owner: "[a-z0-9-]{1,39}"
`,
  });
  await stack.broker;
});
afterAll(() => stack?.close());
afterEach(() => stack.google.faults.clear());

const stsCalls = () => stack.google.requests.filter((r) => r.path === '/v1/token').length;
const mints = () => stack.google.requests.filter((r) => r.path.includes(':generateAccessToken')).length;

async function exchange(claims: Record<string, unknown>, extra: Record<string, string> = {}): Promise<Answer> {
  return post(stack.tokenUrl, exchangeForm(await stack.issuer.sign({ sub: 'ci-build', aud: stack.issuerUrl, repository_owner: 'acme', ...claims }), extra));
}

/** The boundary the emulated STS applied to the token the broker answered with (its `options.accessBoundary`). */
function applied(res: Answer): { accessBoundaryRules: Array<{ availableResource: string }> } | undefined {
  return (stack.google.lookup(String(res.body.access_token))?.accessBoundary as { accessBoundary?: { accessBoundaryRules: Array<{ availableResource: string }> } } | undefined)?.accessBoundary;
}

async function lastExchangeEntry(): Promise<Record<string, unknown>> {
  await stack.audit.flush();
  return audit.entries().filter((e) => e.event === 'token_exchange').at(-1) ?? {};
}

describe('the boundary follows the caller', () => {
  it('renders the bucket and the condition from the claims, and STS applies exactly that', async () => {
    const res = await exchange({ sub: 'ci-render', repository_owner: 'acme' });
    expect(res.status).toBe(200);
    const issued = stack.google.lookup(String(res.body.access_token));
    expect(issued).toMatchObject({ kind: 'sts-downscoped', serviceAccount: SA });
    expect(applied(res)).toEqual({
      accessBoundaryRules: [{
        availableResource: ownBucket('acme'),
        availablePermissions: [CREATOR, VIEWER],
        availabilityCondition: { expression: ownObjects('acme', 'ci-render'), title: 'own objects' },
      }],
    });
    const entry = await lastExchangeEntry();
    expect(entry.grant).toMatchObject({ accessBoundary: { sha256: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), resources: [ownBucket('acme')] } });
  });

  it('never shares a token between callers whose boundaries differ (the cache key holds the boundary)', async () => {
    const before = stsCalls();
    const acme = await exchange({ sub: 'ci-cache', repository_owner: 'acme' });
    const globex = await exchange({ sub: 'ci-cache', repository_owner: 'globex' });
    const acmeAgain = await exchange({ sub: 'ci-cache', repository_owner: 'acme' });
    expect([acme.status, globex.status, acmeAgain.status]).toEqual([200, 200, 200]);
    expect(globex.body.access_token).not.toBe(acme.body.access_token);
    expect(acmeAgain.body.access_token).toBe(acme.body.access_token);
    expect(stsCalls() - before).toBe(2);
    expect(applied(globex)?.accessBoundaryRules[0]?.availableResource).toBe(ownBucket('globex'));
  });
});

describe('claims that try to widen the boundary', () => {
  it.each([
    ["a CEL break-out with single quotes", "x' || true || '"],
    ['a CEL break-out with double quotes', 'x" || true || "'],
    ['another bucket by path', 'acme-artifacts/../other'],
    ['a wildcard', '*'],
    ['upper case (outside this rule\'s pattern)', 'ACME'],
    ['an empty string', ''],
    ['too long for the pattern', 'a'.repeat(40)],
  ])('repository_owner %s → 400 invalid_grant, nothing minted', async (_name, owner) => {
    const before = { mints: mints(), sts: stsCalls() };
    const res = await exchange({ sub: 'ci-hostile', repository_owner: owner });
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
    expect((await lastExchangeEntry()).error).toMatchObject({ reason: 'boundary_value_refused' });
    expect({ mints: mints() - before.mints, sts: stsCalls() - before.sts }).toEqual({ mints: 0, sts: 0 });
  });

  it.each([
    ['missing', undefined],
    ['a number', 42],
    ['a list', ['acme']],
  ])('repository_owner %s → 400 invalid_grant', async (_name, owner) => {
    const res = await exchange({ repository_owner: owner });
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('a sub with a quote in the condition is refused the same way (default pattern)', async () => {
    const res = await exchange({ sub: 'ci-"||true||"' });
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
  });
});

describe('a boundary the caller sends (options.accessBoundary)', () => {
  const rendered = (owner: string, sub: string) => ({ expression: ownObjects(owner, sub), title: 'own objects' });
  const options = (rules: unknown[]) => ({ options: JSON.stringify({ accessBoundary: { accessBoundaryRules: rules } }) });

  it('narrower (fewer permissions, same resource and condition) → 200, and STS applies the narrower one', async () => {
    const narrower = { availableResource: ownBucket('acme'), availablePermissions: [VIEWER], availabilityCondition: rendered('acme', 'ci-narrow') };
    const res = await exchange({ sub: 'ci-narrow' }, options([narrower]));
    expect(res.status).toBe(200);
    expect(applied(res)).toEqual({ accessBoundaryRules: [narrower] });
  });

  it.each([
    ['another bucket', { availableResource: ownBucket('globex'), availablePermissions: [VIEWER], availabilityCondition: rendered('acme', 'ci-wide') }],
    ['a permission the rule does not grant', { availableResource: ownBucket('acme'), availablePermissions: [VIEWER, 'inRole:roles/storage.admin'], availabilityCondition: rendered('acme', 'ci-wide') }],
    ['no condition where the rule has one', { availableResource: ownBucket('acme'), availablePermissions: [VIEWER] }],
    ['another condition', { availableResource: ownBucket('acme'), availablePermissions: [VIEWER], availabilityCondition: { expression: 'true' } }],
  ])('wider (%s) → 400 invalid_target, nothing minted', async (_name, rule) => {
    const before = mints();
    const res = await exchange({ sub: 'ci-wide' }, options([rule]));
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_target' });
    expect((await lastExchangeEntry()).error).toMatchObject({ reason: 'boundary_not_within_rule' });
    expect(mints()).toBe(before);
  });

  it.each([
    ['not an object', '"x"'],
    ['no rules', '{"accessBoundaryRules":[]}'],
    ['a rule without permissions', `{"accessBoundaryRules":[{"availableResource":"${ownBucket('acme')}"}]}`],
    ['an unknown member', `{"accessBoundaryRules":[{"availableResource":"${ownBucket('acme')}","availablePermissions":["${VIEWER}"],"x":1}]}`],
  ])('malformed (%s) → 400 invalid_request', async (_name, boundary) => {
    const res = await exchange({ sub: 'ci-malformed' }, { options: `{"accessBoundary":${boundary}}` });
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_request' });
  });
});

describe('when STS fails', () => {
  it('5xx → 503 temporarily_unavailable with Retry-After, after the usual retries', async () => {
    stack.google.faults.failNext({ status: 503, count: 3, match: 'sts' });
    const res = await exchange({ sub: 'ci-sts-down' });
    expect({ status: res.status, error: res.body.error, retryAfter: res.headers.get('retry-after') !== null }).toEqual({ status: 503, error: 'temporarily_unavailable', retryAfter: true });
    expect(res.text).not.toContain('ya29.');
  });

  it('a refusal (4xx) → 500 server_error, the detail for the operator only', async () => {
    stack.google.faults.failNext({ status: 400, match: 'sts' });
    const res = await exchange({ sub: 'ci-sts-refuses' });
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 500, error: 'server_error' });
    expect((await lastExchangeEntry()).error).toMatchObject({ reason: 'upstream_refused', detail: expect.stringContaining('sts token exchange') });
  });
});
