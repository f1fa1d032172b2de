/**
 * `admin policy validate|explain|test|diff` in-process (cli/policy-*.ts): problems placed at
 * their line and column, explanations compared with golden files a reviewer can read
 * (test/cli/golden/; `UPDATE_GOLDEN=1` rewrites them), the sample cases of
 * docs/examples/policy-tests.yaml, and diffs. test/cli/policy-tools.int.test.ts runs the
 * real CLI for exit codes.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { policyDiff } from '../../cli/policy-diff';
import { policyExplain } from '../../cli/policy-explain';
import { policyTest, parseCases, runCases } from '../../cli/policy-test';
import { loadPolicy, parseOptions, PolicyToolFailure, PolicyToolUsageError } from '../../cli/policy-tools';
import { policyValidate, validatePolicyText } from '../../cli/policy-validate';
import { describeValue, explainCondition, splitTopLevel } from '../../shared/policy/explain-condition';
import { policySourceMap } from '../../shared/policy/source-map';

const ROOT = join(__dirname, '..', '..');
const GOLDEN = join(__dirname, 'golden');
const EXAMPLES = join(ROOT, 'docs', 'examples');
const PRODUCTION = { allowInsecureLoopback: false };

/** Runs a command with captured output; paths under the repository are shown relative to it. */
async function run(command: (args: string[], io: { out: (t: string) => void; err: (t: string) => void }) => Promise<void>, args: string[]) {
  let out = '';
  let err = '';
  let failure: unknown;
  try {
    await command(args, { out: (t) => (out += t), err: (t) => (err += t) });
  } catch (error) {
    failure = error;
  }
  const relative = (text: string) => text.replaceAll(`${ROOT}/`, '');
  return { out: relative(out), err: relative(err), failure };
}

function expectGolden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, actual);
  expect({ file: name, exists: existsSync(file) }).toEqual({ file: name, exists: true });
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

describe('policy validate', () => {
  it('lists every schema problem at its line and column, and checks conditions too', async () => {
    const { out, err, failure } = await run(policyValidate, [join(GOLDEN, 'invalid-policy.yaml')]);
    expectGolden('validate-invalid.txt', out);
    expect(failure).toBeInstanceOf(PolicyToolFailure);
    expect((failure as Error).message).toBe(`${join(GOLDEN, 'invalid-policy.yaml')} does not load: 6 problems`);
    expect(err).toContain('the compile checks (URLs, keys, hashes, address ranges, origins) have not run');
  });

  it('--json: an array of {path, line, column, message}', async () => {
    const { out, failure } = await run(policyValidate, [join(GOLDEN, 'invalid-policy.yaml'), '--json']);
    expect(failure).toBeInstanceOf(PolicyToolFailure);
    const problems = JSON.parse(out) as Array<Record<string, unknown>>;
    expect(problems).toHaveLength(6);
    expect(problems[0]).toEqual({ path: 'issuers[0].max_token_age_seconds', line: 7, column: 28, message: 'Too small: expected number to be >=1' });
    // The unknown key is placed at the key, the CEL error at the offending identifier inside the folded block.
    expect(problems.find((p) => p.path === 'rules[1]')).toMatchObject({ line: 19, column: 5, message: 'Unrecognized key: "conditon"' });
    expect(problems.find((p) => p.path === 'rules[0].condition')).toMatchObject({ line: 13, column: 7 });
  });

  it('places compile problems in a JSON policy, and follows the network policy', () => {
    const text = readFileSync(join(GOLDEN, 'compile-errors.json'), 'utf8');
    expect(validatePolicyText(text, 'compile-errors.json', PRODUCTION)).toEqual({
      ok: false,
      stage: 'compile',
      problems: [
        { path: 'issuers[0].issuer', line: 4, column: 17, message: 'loopback addresses are allowed only in development mode' },
        { path: 'rules[0].condition', line: 10, column: 40, message: "invalid CEL: invalid regular expression: error parsing regexp: missing closing ): `(` at line 1, column 20" },
      ],
    });
    const development = validatePolicyText(text, 'compile-errors.json', { allowInsecureLoopback: true });
    expect(development.ok ? [] : development.problems.map((p) => p.path)).toEqual(['rules[0].condition']);
  });

  it('places YAML syntax errors where the parser found them', () => {
    const result = validatePolicyText('version: 1\nrules:\n  - id: a\n  id: b\n', 'dup.yaml', PRODUCTION);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.stage).toBe('syntax');
      expect(result.problems).toEqual([expect.objectContaining({ path: 'line 4, column 1', line: 4, column: 1 })]);
    }
  });

  it.each(['browser-firebase.yaml', 'generic-oidc.yaml', 'github-actions.yaml', 'gitlab-ci.yaml', 'kubernetes.yaml', 'service-clients.yaml'])(
    'docs/examples/%s: ok, with its counts and version',
    async (name) => {
      const { out, failure } = await run(policyValidate, [join(EXAMPLES, name)]);
      expect(failure).toBeUndefined();
      const loaded = loadPolicy(readFileSync(join(EXAMPLES, name), 'utf8'), name, PRODUCTION);
      if (!loaded.ok) throw new Error('example does not load');
      expect(out).toBe(`ok: ${loaded.policy.rules.length} rules, ${loaded.document.issuers.length} issuers, policy version ${loaded.policy.version}\n`);
    },
  );

  it('does no network I/O: issuers with discovery and jwks_uri load without a fetch', () => {
    const fetchSpy = jest.spyOn(globalThis, 'fetch');
    const text = [
      'version: 1',
      'issuers:',
      '  - { issuer: "https://idp.example.com", audiences: [broker] }',
      '  - { issuer: "https://other.example.com", audiences: [broker], jwks_uri: "https://other.example.com/keys" }',
      '  - { preset: google, client_ids: [web.apps.example] }',
      'clients:',
      '  - { id: signer, jwks_uri: "https://signer.example.com/jwks" }',
      'rules:',
      '  - id: r',
      '    issuer: https://idp.example.com',
      '    condition: "claims.sub == \'x\'"',
      '    grant: { service_account: a@b.iam.gserviceaccount.com, scopes: [s] }',
    ].join('\n');
    try {
      expect(validatePolicyText(text, 'keys.yaml', PRODUCTION)).toMatchObject({ ok: true, rules: 1, issuers: 3 });
      expect(fetchSpy).not.toHaveBeenCalled();
    } finally {
      fetchSpy.mockRestore();
    }
  });

  it('usage errors', async () => {
    for (const args of [[], ['a.yaml', 'b.yaml'], ['a.yaml', '--jsn'], ['a.yaml', '--json=1']]) {
      expect((await run(policyValidate, args)).failure).toBeInstanceOf(PolicyToolUsageError);
    }
  });
});

describe('policy source map', () => {
  const text = 'version: 1\nrules:\n  - id: a\n    grant:\n      scopes: [x, "y"]\n';
  const locate = policySourceMap(text);
  it.each([
    ['rules[0].grant.scopes[1]', { line: 5, column: 19 }],
    ['rules[0].grant', { line: 5, column: 7 }],
    ['rules[0].grant.missing', { line: 5, column: 7 }],
    ['rules[3]', { line: 3, column: 3 }],
    ['line 2, column 4', { line: 2, column: 4 }],
    ['(document)', { line: 1, column: 1 }],
  ])('%s', (path, position) => {
    expect(locate(path)).toEqual(position);
  });

  it('never throws on hostile paths or text', () => {
    for (const path of ['', '[', ']]', '__proto__', 'constructor.prototype', 'rules[999999999999]', '...']) {
      expect(() => policySourceMap(': : :\n\t- [').call(null, path)).not.toThrow();
      expect(() => locate(path)).not.toThrow();
    }
  });
});

describe('condition clauses', () => {
  it('splits at top-level operators only: not inside strings, brackets, comprehensions or comments', () => {
    expect(splitTopLevel("a == 'x && y' && (b || c) && [d && e].size() > 0", '&&')).toEqual(["a == 'x && y'", '(b || c)', '[d && e].size() > 0']);
    expect(splitTopLevel('a || b && c', '||')).toEqual(['a', 'b && c']);
    expect(splitTopLevel('claims.groups.exists(g, g == "a" || g == "b")', '||')).toEqual(['claims.groups.exists(g, g == "a" || g == "b")']);
    expect(splitTopLevel("a // x && y\n&& b", '&&')).toEqual(['a // x && y', 'b']);
    expect(splitTopLevel("r'\\d && x' && c", '&&')).toEqual(["r'\\d && x'", 'c']);
    expect(splitTopLevel("'it\\'s && x' && c", '&&')).toEqual(["'it\\'s && x'", 'c']);
    expect(splitTopLevel('a ? b && c : d', '&&')).toEqual(['a ? b && c : d']);
    expect(splitTopLevel("'''a && ''' && b", '&&')).toEqual(["'''a && '''", 'b']);
  });

  it('evaluates each clause with the broker engine, errors included', () => {
    const claims = { repository: 'acme/app', ref: 'refs/tags/v1.2.0' };
    const clause = explainCondition("claims.repository == 'acme/app' && (claims.ref == 'refs/heads/main' || claims.ref.startsWith('refs/tags/v')) && claims.environment == 'prod'", claims);
    expect(describeValue(clause.value)).toMatch(/^error: /);
    expect(clause.operator).toBe('&&');
    expect(clause.parts?.map((part) => [part.text, describeValue(part.value)])).toEqual([
      ["claims.repository == 'acme/app'", 'true'],
      ["claims.ref == 'refs/heads/main' || claims.ref.startsWith('refs/tags/v')", 'true'],
      ["claims.environment == 'prod'", 'error: field not found: environment (line 1, column 7)'],
    ]);
    expect(clause.parts?.[1]?.parts?.map((part) => describeValue(part.value))).toEqual(['false', 'true']);
  });

  it('hostile claim names and values stay data', () => {
    for (const value of [0, 1, -1, true, false, null, [], '', '__proto__']) {
      const claims = JSON.parse(JSON.stringify({ __proto__: value, constructor: value, sub: value })) as Record<string, unknown>;
      const clause = explainCondition("claims['__proto__'] == 'x' || claims.constructor == 1 || claims.sub == ''", claims);
      expect(clause.parts).toHaveLength(3);
      expect(['true', 'false', 'error']).toContain(clause.value.kind);
    }
  });

  it('the client variable and a non-bool clause', () => {
    const clause = explainCondition('client.client_id == "web" || claims.exp', { exp: 5 }, { client_id: 'web' });
    expect(clause.parts?.map((part) => part.value.kind)).toEqual(['true', 'not_bool']);
    expect(describeValue(clause.value)).toBe('true');
  });
});

describe('policy explain', () => {
  const policy = join(GOLDEN, 'explain-policy.yaml');

  it('golden: a matching caller, scopes intersected, the boundary rendered', async () => {
    const { out, failure } = await run(policyExplain, [
      policy, '--claims', `@${join(GOLDEN, 'explain-match.claims.json')}`,
      '--scope', 'https://www.googleapis.com/auth/devstorage.read_only https://www.googleapis.com/auth/bigquery',
    ]);
    expect(failure).toBeUndefined();
    expect(out.split('\n')[0]).toMatch(/^NOT VERIFIED: /);
    expectGolden('explain-match.txt', out);
  });

  it('golden: a caller no rule grants', async () => {
    const { out, failure } = await run(policyExplain, [policy, '--claims', `@${join(GOLDEN, 'explain-no-match.claims.json')}`]);
    expect(failure).toBeUndefined();
    expectGolden('explain-no-match.txt', out);
  });

  it('an audience naming a rule: the others are skipped, as the broker skips them', async () => {
    const { out } = await run(policyExplain, [policy, '--claims', `@${join(GOLDEN, 'explain-match.claims.json')}`, '--audience', 'deploy-prod']);
    expect(out).toContain('Rule 2 artifacts-read: no match (audience_mismatch)');
    expect(out).toContain('Decision: REFUSED: no_rule_matched');
  });

  it('a client on its own (client_credentials)', async () => {
    const { out } = await run(policyExplain, [policy, '--client', 'nightly', '--client-auth', 'private_key_jwt']);
    expect(out).toContain('Rule 3 nightly-report: MATCHED');
    expect(out).toContain('service_account: report-writer@acme-data.iam.gserviceaccount.com');
  });

  describe('--token: verified with the issuer\'s keys', () => {
    async function setup() {
      const { publicKey, privateKey } = await generateKeyPair('ES256');
      const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
      const text = [
        'version: 1',
        'issuers:',
        '  - issuer: https://ci.example.com',
        '    audiences: [https://broker.example.com]',
        '    algorithms: [ES256]',
        `    jwks: { keys: [${JSON.stringify(jwk)}] }`,
        'rules:',
        '  - id: ci',
        '    issuer: https://ci.example.com',
        "    condition: claims.project == 'acme'",
        '    grant: { service_account: ci@acme.iam.gserviceaccount.com, scopes: [https://www.googleapis.com/auth/cloud-platform] }',
      ].join('\n');
      const file = join(require('node:os').tmpdir(), `policy-explain-${process.pid}.yaml`);
      writeFileSync(file, text);
      const sign = (claims: Record<string, unknown>, key = privateKey) => new SignJWT({ project: 'acme', ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('https://ci.example.com').setAudience('https://broker.example.com').setSubject('job-1')
        .setIssuedAt().setExpirationTime('5m').sign(key);
      return { file, sign };
    }

    it('a valid token: verified, and the rule it gets', async () => {
      const { file, sign } = await setup();
      const token = await sign({});
      const { out, failure } = await run((args, io) => policyExplain(args, io, async () => token), [file, '--token', '-']);
      expect(failure).toBeUndefined();
      expect(out.split('\n')[0]).toBe("Token verified as the broker would (signature with the issuer's keys, audience, times, claim types).");
      expect(out).toContain('Decision: rule ci');
    });

    it('a token signed by another key: refused, with the reason', async () => {
      const { file, sign } = await setup();
      const other = await generateKeyPair('ES256');
      const { failure } = await run(policyExplain, [file, '--token', await sign({}, other.privateKey)]);
      expect(failure).toBeInstanceOf(PolicyToolFailure);
      expect((failure as Error).message).toBe('the token does not verify: bad_signature (token signature verification failed)');
    });
  });

  it('usage errors', async () => {
    for (const args of [[policy], [policy, '--claims', '{}', '--token', 'x'], [policy, '--claims', '[1]'], [policy, '--claims', 'nope'], [policy, '--client', 'x', '--client-auth', 'magic']]) {
      expect({ args, failure: (await run(policyExplain, args)).failure }).toEqual({ args, failure: expect.any(PolicyToolUsageError) });
    }
  });
});

describe('policy test', () => {
  it('the sample cases pass against docs/examples/github-actions.yaml', async () => {
    const { out, failure } = await run(policyTest, [join(EXAMPLES, 'github-actions.yaml'), join(EXAMPLES, 'policy-tests.yaml')]);
    expect(failure).toBeUndefined();
    const lines = out.trimEnd().split('\n');
    expect(lines.filter((line) => line.startsWith('PASS ')).length).toBe(lines.length - 1);
    expect(lines.at(-1)).toMatch(/^12 cases: 12 passed, 0 failed \(policy version [0-9a-f]{64}\)$/);
  });

  it('a failing case says what was expected, what was decided, and each rule\'s outcome', () => {
    const loaded = loadPolicy(readFileSync(join(EXAMPLES, 'github-actions.yaml'), 'utf8'), 'gha', PRODUCTION);
    if (!loaded.ok) throw new Error('does not load');
    const cases = parseCases([
      'cases:',
      '  - name: fork pull request',
      '    claims: { iss: "https://token.actions.githubusercontent.com", sub: "repo:mallory/app:pull_request", repository_owner_id: "1342004" }',
      '    expect: { rule: app-ci-cache }',
    ].join('\n'), 'cases.yaml');
    const [result] = runCases(loaded.policy, cases);
    expect(result).toMatchObject({ name: 'fork pull request', passed: false, summary: 'expected rule app-ci-cache, got refusal no_rule_matched' });
    expect(result?.details[0]).toBe('app-deploy-prod: condition_false');
    expect(result?.details.at(-1)).toBe('refused: no_rule_matched: no policy rule grants a token to this caller');
  });

  it('any failing case fails the run', async () => {
    const file = join(require('node:os').tmpdir(), `policy-cases-${process.pid}.yaml`);
    writeFileSync(file, 'cases:\n  - name: anyone\n    claims: { iss: "https://token.actions.githubusercontent.com" }\n    expect: { rule: app-ci-cache }\n');
    const { out, failure } = await run(policyTest, [join(EXAMPLES, 'github-actions.yaml'), file]);
    expect(out).toMatch(/^FAIL anyone: expected rule app-ci-cache, got refusal no_rule_matched\n/);
    expect((failure as Error).message).toBe('1 of 1 cases failed');
  });

  it('a client alone is a client_credentials caller', () => {
    const loaded = loadPolicy(readFileSync(join(EXAMPLES, 'service-clients.yaml'), 'utf8'), 'sc', PRODUCTION);
    if (!loaded.ok) throw new Error('does not load');
    const cases = parseCases([
      'cases:',
      '  - { name: signed, client: { id: nightly-report, auth_method: private_key_jwt }, expect: { rule: nightly-report-bigquery } }',
      '  - { name: secret, client: nightly-report, expect: { refusal: no_rule_matched } }',
      '  - { name: stranger, client: nobody, expect: { refusal: unknown_client } }',
    ].join('\n'), 'cases.yaml');
    expect(runCases(loaded.policy, cases).map((r) => [r.name, r.passed])).toEqual([['signed', true], ['secret', true], ['stranger', true]]);
  });

  it('a client beside a token must be registered', () => {
    const loaded = loadPolicy(readFileSync(join(EXAMPLES, 'github-actions.yaml'), 'utf8'), 'gha', PRODUCTION);
    if (!loaded.ok) throw new Error('does not load');
    const cases = parseCases('cases:\n  - { name: c, claims: { iss: "https://token.actions.githubusercontent.com" }, client: web, expect: { refusal: unknown_client } }\n', 'c.yaml');
    expect(runCases(loaded.policy, cases)[0]).toMatchObject({ passed: true, summary: 'refusal unknown_client' });
  });

  it('a cases file with problems names each at its line and column', () => {
    const text = 'cases:\n  - name: a\n    expect: { rule: x, refusal: y }\n  - name: b\n    claim: {}\n    expect: { rule: x }\n';
    expect(() => parseCases(text, 'c.yaml')).toThrow(PolicyToolFailure);
    try {
      parseCases(text, 'c.yaml');
    } catch (err) {
      expect((err as Error).message.split('\n').slice(1)).toEqual([
        'c.yaml:3:13: cases[0].expect: Invalid input',
        'c.yaml:5:5: cases[1]: Unrecognized key: "claim"',
      ]);
    }
    expect(() => parseCases('cases:\n  - { name: a, expect: { rule: x } }\n  - { name: a, expect: { rule: x } }\n', 'c.yaml')).toThrow('two cases are named "a"');
  });
});

describe('policy diff', () => {
  it('golden: rules removed, changed field by field, issuers and clients', async () => {
    const { out, failure } = await run(policyDiff, [join(GOLDEN, 'explain-policy.yaml'), join(GOLDEN, 'diff-new-policy.yaml')]);
    expect(failure).toBeUndefined();
    expectGolden('diff.txt', out);
  });

  it('the same policy: no change', async () => {
    const file = join(EXAMPLES, 'kubernetes.yaml');
    const { out } = await run(policyDiff, [file, file]);
    expect(out.trimEnd().split('\n').at(-1)).toBe('no change: both load to the same policy version');
  });

  it('a policy that does not load is a failure naming its problems', async () => {
    const { failure } = await run(policyDiff, [join(GOLDEN, 'invalid-policy.yaml'), join(EXAMPLES, 'kubernetes.yaml')]);
    expect(failure).toBeInstanceOf(PolicyToolFailure);
    expect((failure as Error).message).toContain('rules[1]: Unrecognized key: "conditon"');
  });
});

describe('options', () => {
  it('--name value and --name=value, each once; flags take no value', () => {
    expect(parseOptions('t', ['f', '--a', '1', '--b=2', '--c'], ['a', 'b'], ['c'])).toEqual({ positionals: ['f'], options: new Map([['a', '1'], ['b', '2'], ['c', 'true']]) });
    for (const args of [['--a'], ['--a', '1', '--a', '2'], ['--c=1'], ['--zz'], ['--__proto__']]) {
      expect(() => parseOptions('t', args, ['a'], ['c'])).toThrow(PolicyToolUsageError);
    }
  });
});
