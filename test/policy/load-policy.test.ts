/** Policy loading: every problem is reported at load time with file, path and reason. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicyFile } from '../../shared/load-broker';
import { compilePolicy } from '../../shared/policy/compile-policy';
import { parsePolicyText } from '../../shared/policy/parse-document';
import { PolicyLoadError } from '../../shared/policy/policy-error';

const PRODUCTION = { allowInsecureLoopback: false };
const ISSUER = 'https://token.actions.githubusercontent.com';
const SA = 'deployer@acme-prod.iam.gserviceaccount.com';

const valid = () => ({
  version: 1,
  issuers: [{ issuer: ISSUER, audiences: ['https://broker.example.com'] }],
  rules: [
    {
      id: 'deploy',
      issuer: ISSUER,
      condition: "claims.repository == 'acme/app'",
      grant: { service_account: SA, scopes: ['https://www.googleapis.com/auth/cloud-platform'] },
    },
  ],
});

function load(doc: unknown, source = 'policy.yaml') {
  return compilePolicy(parsePolicyText(JSON.stringify(doc), source), { source, network: PRODUCTION });
}

function issuesOf(fn: () => unknown): Array<{ path: string; reason: string }> {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyLoadError);
    return [...(err as PolicyLoadError).issues];
  }
  throw new Error('expected a PolicyLoadError');
}

describe('a valid policy', () => {
  it('compiles with defaults applied and a content version', () => {
    const policy = load(valid());
    expect(policy.rules.map((r) => r.id)).toEqual(['deploy']);
    expect(policy.rules[0]?.grant).toEqual({ serviceAccount: SA, scopes: ['https://www.googleapis.com/auth/cloud-platform'], maxLifetimeSeconds: 3600, delegates: [], scopeRequest: 'exact' });
    const issuer = policy.issuers.get(ISSUER);
    expect(issuer).toMatchObject({ algorithms: ['RS256'], clockToleranceSeconds: 30, maxTokenAgeSeconds: 3600, maxTokenValiditySeconds: 86400 });
    expect(policy.version).toMatch(/^[0-9a-f]{64}$/);
  });

  it('has a version that ignores formatting and key order but not meaning', () => {
    const a = load(valid()).version;
    const reordered = compilePolicy(
      parsePolicyText(`# comment\nrules: ${JSON.stringify(valid().rules)}\nissuers: ${JSON.stringify(valid().issuers)}\nversion: 1\n`, 'p.yaml'),
      { source: 'p.yaml', network: PRODUCTION },
    ).version;
    expect(reordered).toBe(a);
    const changed = valid();
    changed.rules[0]!.condition = "claims.repository == 'acme/other'";
    expect(load(changed).version).not.toBe(a);
  });

  it('clamps a rule lifetime to the broker ceiling', () => {
    const policy = compilePolicy(parsePolicyText(JSON.stringify(valid()), 'p'), { source: 'p', network: PRODUCTION, maxLifetimeSeconds: 600 });
    expect(policy.rules[0]?.grant.maxLifetimeSeconds).toBe(600);
  });
});

describe('schema errors name file, path and reason', () => {
  const cases: Array<[string, (doc: ReturnType<typeof valid>) => unknown, string, RegExp]> = [
    ['wrong version', (d) => ({ ...d, version: 2 }), 'version', /expected 1/i],
    ['unknown top-level key', (d) => ({ ...d, rulez: [] }), '(document)', /rulez/],
    ['missing rules', (d) => ({ version: 1, issuers: d.issuers }), 'rules', /expected array/i],
    ['no audiences', (d) => ({ ...d, issuers: [{ issuer: ISSUER, audiences: [] }] }), 'issuers[0].audiences', /too small|at least/i],
    ['HMAC algorithm', (d) => ({ ...d, issuers: [{ ...d.issuers[0], algorithms: ['HS256'] }] }), 'issuers[0].algorithms[0]', /RS256/],
    ['both jwks and jwks_uri', (d) => ({ ...d, issuers: [{ ...d.issuers[0], jwks_uri: `${ISSUER}/jwks`, jwks: { keys: [{ kty: 'RSA', n: 'x', e: 'AQAB' }] } }] }), 'issuers[0]', /at most one/],
    ['private key in jwks', (d) => ({ ...d, issuers: [{ ...d.issuers[0], jwks: { keys: [{ kty: 'RSA', n: 'x', e: 'AQAB', d: 'secret' }] } }] }), 'issuers[0].jwks.keys[0]', /public key/],
    ['key staleness below the refetch interval', (d) => ({ ...d, issuers: [{ ...d.issuers[0], max_key_staleness_seconds: 60 }] }), 'issuers[0].max_key_staleness_seconds', /600/],
    ['key staleness above 24 h', (d) => ({ ...d, issuers: [{ ...d.issuers[0], max_key_staleness_seconds: 90_000 }] }), 'issuers[0].max_key_staleness_seconds', /86400/],
    ['key staleness with inline keys', (d) => ({ ...d, issuers: [{ ...d.issuers[0], max_key_staleness_seconds: 3600, jwks: { keys: [{ kty: 'RSA', n: 'x', e: 'AQAB' }] } }] }), 'issuers[0].max_key_staleness_seconds', /never go stale/],
    ['clock tolerance too large', (d) => ({ ...d, issuers: [{ ...d.issuers[0], clock_tolerance_seconds: 600 }] }), 'issuers[0].clock_tolerance_seconds', /60/],
    ['not a service account', (d) => ({ ...d, rules: [{ ...d.rules[0], grant: { ...d.rules[0]!.grant, service_account: 'someone@gmail.com' } }] }), 'rules[0].grant.service_account', /service account/],
    ['scope with a space', (d) => ({ ...d, rules: [{ ...d.rules[0], grant: { ...d.rules[0]!.grant, scopes: ['a b'] } }] }), 'rules[0].grant.scopes[0]', /scope token/],
    ['lifetime above 3600', (d) => ({ ...d, rules: [{ ...d.rules[0], grant: { ...d.rules[0]!.grant, max_lifetime_seconds: 7200 } }] }), 'rules[0].grant.max_lifetime_seconds', /3600/],
    ['undeclared issuer', (d) => ({ ...d, rules: [{ ...d.rules[0], issuer: 'https://gitlab.com' }] }), 'rules[0].issuer', /not declared/],
    ['duplicate rule id', (d) => ({ ...d, rules: [d.rules[0], d.rules[0]] }), 'rules[1].id', /duplicate/],
    ['missing condition', (d) => ({ ...d, rules: [{ ...d.rules[0], condition: undefined }] }), 'rules[0].condition', /expected string/i],
    ['misspelt grant key', (d) => ({ ...d, rules: [{ ...d.rules[0], grant: { ...d.rules[0]!.grant, scope: ['x'] } }] }), 'rules[0].grant', /scope/],
  ];

  it.each(cases)('%s', (_name, mutate, path, reason) => {
    const issues = issuesOf(() => load(mutate(valid()), 'teams/ci.yaml'));
    const issue = issues.find((i) => i.path === path);
    expect(issue).toBeDefined();
    expect(issue?.reason).toMatch(reason);
  });

  it('puts file, path and reason in the message', () => {
    try {
      load({ ...valid(), version: 2 }, 'teams/ci.yaml');
      throw new Error('expected a PolicyLoadError');
    } catch (err) {
      expect((err as Error).message).toMatch(/^teams\/ci\.yaml: version: .+/);
    }
  });
});

describe('load-time checks beyond the schema', () => {
  it('reports a CEL syntax error at load, with the rule path', () => {
    const doc = valid();
    doc.rules[0]!.condition = "claims.repository == 'acme/app' &&";
    const issues = issuesOf(() => load(doc));
    expect(issues).toEqual([{ path: 'rules[0].condition', reason: expect.stringMatching(/invalid CEL: syntax error/) }]);
  });

  it('reports a CEL reference to an undeclared variable at load', () => {
    const doc = valid();
    doc.rules[0]!.condition = "request.repository == 'acme/app'";
    expect(issuesOf(() => load(doc))[0]).toEqual({ path: 'rules[0].condition', reason: expect.stringMatching(/undeclared reference to 'request'/) });
  });

  it('refuses plain-HTTP and loopback issuers in production, naming the path', () => {
    const doc = valid();
    doc.issuers[0]!.issuer = 'http://127.0.0.1:9999';
    doc.rules[0]!.issuer = 'http://127.0.0.1:9999';
    expect(issuesOf(() => load(doc))).toEqual([{ path: 'issuers[0].issuer', reason: 'loopback addresses are allowed only in development mode' }]);
    doc.issuers[0]!.issuer = 'http://issuer.example.com';
    doc.rules[0]!.issuer = 'http://issuer.example.com';
    expect(issuesOf(() => load(doc))).toEqual([{ path: 'issuers[0].issuer', reason: 'only https URLs are allowed' }]);
    doc.issuers[0]!.issuer = 'https://localhost:8443';
    doc.rules[0]!.issuer = 'https://localhost:8443';
    expect(issuesOf(() => load(doc))[0]?.reason).toMatch(/loopback/);
  });

  it('allows loopback HTTP issuers in development only', () => {
    const doc = valid();
    doc.issuers[0]!.issuer = 'http://127.0.0.1:9999';
    doc.rules[0]!.issuer = 'http://127.0.0.1:9999';
    const policy = compilePolicy(parsePolicyText(JSON.stringify(doc), 'p'), { source: 'p', network: { allowInsecureLoopback: true } });
    expect(policy.issuers.has('http://127.0.0.1:9999')).toBe(true);
    doc.issuers[0]!.issuer = 'http://issuer.example.com';
    doc.rules[0]!.issuer = 'http://issuer.example.com';
    expect(issuesOf(() => compilePolicy(parsePolicyText(JSON.stringify(doc), 'p'), { source: 'p', network: { allowInsecureLoopback: true } }))[0]?.path).toBe('issuers[0].issuer');
  });

  it('reports YAML syntax errors and duplicate keys with line and column', () => {
    expect(issuesOf(() => parsePolicyText('version: 1\nissuers: [\n', 'bad.yaml'))[0]?.path).toMatch(/^line \d+, column \d+$/);
    const dup = issuesOf(() => parsePolicyText('version: 1\nversion: 1\n', 'dup.yaml'));
    expect(dup[0]).toEqual({ path: 'line 2, column 1', reason: expect.stringMatching(/unique/i) });
  });

  it('refuses alias bombs', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`)].join('\n');
    expect(issuesOf(() => parsePolicyText(bomb, 'bomb.yaml'))[0]?.reason).toMatch(/alias/i);
  });

  it('reports a missing file by path', async () => {
    await expect(loadPolicyFile('/nonexistent/policy.yaml', PRODUCTION)).rejects.toThrow(/^\/nonexistent\/policy\.yaml: \(file\): cannot read: ENOENT/);
  });

  it('loads JSON and YAML files alike', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'policy-'));
    await writeFile(join(dir, 'p.json'), JSON.stringify(valid()));
    const policy = await loadPolicyFile(join(dir, 'p.json'), PRODUCTION);
    expect(policy.rules).toHaveLength(1);
    expect(policy.source).toBe(join(dir, 'p.json'));
  });
});
