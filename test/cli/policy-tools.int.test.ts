/**
 * `npm run -s admin -- policy validate|explain|test|diff` as a real process: the exit codes CI
 * relies on (0 fine, 1 the policy does not load / a case failed / a token does not verify,
 * 2 usage), and what goes to stdout and stderr. Output details: test/cli/policy-tools.test.ts.
 */
import { join } from 'node:path';
import { runAdmin } from '../helpers/admin-cli';

const GOLDEN = 'test/cli/golden';
const GHA = 'docs/examples/github-actions.yaml';

describe('admin policy tools', () => {
  it('validate: ok on stdout, exit 0', async () => {
    const run = await runAdmin(['policy', 'validate', GHA]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^ok: 3 rules, 1 issuers, policy version [0-9a-f]{64}\n$/);
  });

  it('validate: every problem on stdout, a summary on stderr, exit 1', async () => {
    const run = await runAdmin(['policy', 'validate', join(GOLDEN, 'invalid-policy.yaml'), '--json']);
    expect(run.code).toBe(1);
    expect((JSON.parse(run.stdout) as unknown[]).length).toBe(6);
    expect(run.stderr).toContain('admin: test/cli/golden/invalid-policy.yaml does not load: 6 problems\n');
  });

  it('test: the sample cases pass, exit 0', async () => {
    const run = await runAdmin(['policy', 'test', GHA, 'docs/examples/policy-tests.yaml']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('12 cases: 12 passed, 0 failed');
  });

  it('test: a failing case, exit 1', async () => {
    const run = await runAdmin(['policy', 'test', 'docs/examples/gitlab-ci.yaml', 'docs/examples/policy-tests.yaml']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^FAIL a push to main gets the build cache: expected rule app-ci-cache, got refusal untrusted_issuer$/m);
    expect(run.stderr).toMatch(/^admin: \d+ of 12 cases failed\n$/);
  });

  it('explain --claims: says NOT VERIFIED first, exit 0', async () => {
    const run = await runAdmin(['policy', 'explain', join(GOLDEN, 'explain-policy.yaml'), '--claims', `@${join(GOLDEN, 'explain-no-match.claims.json')}`]);
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toMatch(/^NOT VERIFIED: /);
    expect(run.stdout).toContain('Decision: REFUSED: no_rule_matched');
  });

  it('explain --token: a token that is not a JWT, exit 1 with the reason', async () => {
    const run = await runAdmin(['policy', 'explain', GHA, '--token', '-'], 'not-a-jwt\n');
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('admin: the token does not verify: malformed_token (token is not a compact JWS with three base64url parts)\n');
  });

  it('diff: exit 0 with both versions', async () => {
    const run = await runAdmin(['policy', 'diff', join(GOLDEN, 'explain-policy.yaml'), join(GOLDEN, 'diff-new-policy.yaml')]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^old .*: version [0-9a-f]{64}\nnew .*: version [0-9a-f]{64}\n/);
  });

  it.each([
    [['policy', 'validate']],
    [['policy', 'explain', GHA]],
    [['policy', 'test', GHA]],
    [['policy', 'diff', GHA]],
    [['policy', 'lint', GHA]],
  ])('usage error: %j exits 2', async (args) => {
    const run = await runAdmin(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^admin: .*\n\nUsage: /);
  });
});
