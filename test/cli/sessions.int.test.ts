/**
 * `admin sessions list|revoke` as a real child process against the development stack with
 * shared state (Firestore emulator, the local cache key): users sign in over HTTP through the
 * emulated provider, the CLI, given the broker's environment, lists and revokes their sessions
 * in the vault and their refresh tokens at the provider. Never a token in its output.
 */
import { DEV_CACHE_KEY, DEV_SOURCE_TOKEN, startDevStack, type DevStack } from '../../dev/dev-stack';
import { DEFAULT_DEMO_USERS } from '../../dev/oauth-provider-emulator';
import { sessionHandle } from '../../shared/sign-in/session-vault';
import { runAdmin, type Run } from '../helpers/admin-cli';
import { LineCapture } from '../helpers/capture';
import { CookieBrowser } from '../helpers/sign-in';

/** This file's own Firestore project: no other test's sessions in the way. */
const PROJECT = 'sessions-cli-test';
const [ALICE, BOB] = DEFAULT_DEMO_USERS.map((user) => user.sub) as [string, string];

let stack: DevStack;
beforeAll(async () => {
  stack = await startDevStack({ env: { BROKER_CACHE: 'firestore', BROKER_FIRESTORE_PROJECT: PROJECT }, auditTransport: new LineCapture() });
  await stack.broker;
}, 30_000);
afterAll(() => stack?.close());
afterEach(() => stack.oauth.faults.clear());

/** The broker's environment, as the dev stack gives it to its broker. */
function brokerEnv(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    BROKER_MODE: 'development',
    BROKER_POLICY_FILE: stack.policyFile,
    BROKER_CACHE: 'firestore',
    BROKER_CACHE_LOCAL_KEY: DEV_CACHE_KEY,
    BROKER_FIRESTORE_PROJECT: PROJECT,
    FIRESTORE_EMULATOR_HOST: process.env.FIRESTORE_EMULATOR_HOST,
    BROKER_SECRET_MANAGER_ENDPOINT: stack.google.url,
    BROKER_DEV_SOURCE_TOKEN: DEV_SOURCE_TOKEN,
    METADATA_SERVER_DETECTION: 'none',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined));
}

const admin = (args: string[], env = brokerEnv()) => runAdmin(['sessions', ...args], '', env);

interface SignedIn {
  browser: CookieBrowser;
  handle: string;
  refreshToken: string;
}

/** Signs demo user `user` in to demo-web: the browser, its session's handle, and the refresh token the provider issued for it. */
async function signIn(user: 0 | 1): Promise<SignedIn> {
  const before = new Set(stack.oauth.issued().refreshTokens.map((t) => t.token));
  const browser = new CookieBrowser(stack);
  expect((await browser.signIn(user)).status).toBe(302);
  expect((await browser.session('/v1/session/token')).status).toBe(200);
  const sessionId = browser.cookies.get('tb-session-demo-web');
  expect(sessionId).toBeDefined();
  const fresh = stack.oauth.issued().refreshTokens.filter((t) => !before.has(t.token));
  expect(fresh).toHaveLength(1);
  return { browser, handle: sessionHandle(sessionId ?? ''), refreshToken: fresh[0]?.token ?? '' };
}

const refreshState = (token: string) => stack.oauth.issued().refreshTokens.find((t) => t.token === token)?.state;

/** Neither the refresh token nor the access tokens issued to the user appear anywhere in the run's output. */
function expectNoToken(run: Run, sub: string): void {
  const issued = stack.oauth.issued();
  const tokens = [...issued.refreshTokens, ...issued.accessTokens].filter((t) => t.sub === sub).map((t) => t.token);
  expect(tokens.length).toBeGreaterThan(0);
  for (const token of tokens) {
    expect(run.stdout).not.toContain(token);
    expect(run.stderr).not.toContain(token);
  }
}

/** The audit entries on stderr. */
function auditEntries(stderr: string): Array<Record<string, unknown>> {
  return stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.event === 'operator_action');
}

describe('sessions list', () => {
  it('shows a signed-in user\'s session by subject, app or handle, never a token', async () => {
    const alice = await signIn(0);
    for (const filter of [['--subject', ALICE], ['--app', 'demo-web', '--subject', ALICE], ['--handle', alice.handle]]) {
      const run = await admin(['list', ...filter]);
      expect(run).toMatchObject({ code: 0 });
      const [header, ...rows] = run.stdout.trimEnd().split('\n');
      expect(header).toBe('HANDLE\tAPP\tSUBJECT\tEMAIL\tCREATED\tEXPIRES\tLAST_REFRESH');
      const row = rows.find((line) => line.startsWith(alice.handle));
      expect(row?.split('\t')).toEqual([alice.handle, 'demo-web', ALICE, 'alice@example.com', expect.stringMatching(/^\d{4}-.*Z$/), expect.stringMatching(/Z$/), expect.any(String)]);
      expectNoToken(run, ALICE);
    }
    const json = await admin(['list', '--handle', alice.handle, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      sessions: [expect.objectContaining({ handle: alice.handle, app: 'demo-web', subject: ALICE, email: 'alice@example.com', scopes: expect.any(Array) })],
      truncated: false,
    });
    expectNoToken(json, ALICE);
  });

  it('lists nothing for a subject without sessions', async () => {
    const run = await admin(['list', '--subject', 'nobody-signed-in']);
    expect(run.code).toBe(0);
    expect(run.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('0 live sessions');
  });
});

describe('sessions revoke', () => {
  it('deletes every session of a subject and revokes its refresh tokens upstream, leaving other users alone', async () => {
    const [alice1, alice2, bob] = [await signIn(0), await signIn(0), await signIn(1)];
    const run = await admin(['revoke', '--subject', ALICE]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/(\d+) sessions? deleted; upstream: \1 revoked, 0 failed, 0 skipped/);
    for (const session of [alice1, alice2]) {
      expect(run.stdout).toContain(`deleted ${session.handle} app=demo-web subject=${ALICE} upstream=revoked`);
      expect(refreshState(session.refreshToken)).toBe('revoked');
      const token = await session.browser.session('/v1/session/token');
      expect(token.status).toBe(401);
      expect(await token.json()).toMatchObject({ error: 'login_required' });
    }
    expect(auditEntries(run.stderr)).toEqual(expect.arrayContaining([alice1, alice2].map((s) => expect.objectContaining({
      event: 'operator_action', action: 'session_revoked', handle: s.handle, app: 'demo-web', subject: ALICE, upstream: 'revoked', severity: 'NOTICE',
    }))));
    expectNoToken(run, ALICE);
    // Bob is untouched, in the vault and upstream.
    expect(refreshState(bob.refreshToken)).toBe('active');
    expect((await bob.browser.session('/v1/session/token')).status).toBe(200);
    expect((await admin(['list', '--subject', ALICE])).stdout.trimEnd().split('\n')).toHaveLength(1);
  });

  it('deletes one session by handle without touching the provider when told --no-upstream', async () => {
    const bob = await signIn(1);
    const run = await admin(['revoke', '--handle', bob.handle, '--no-upstream']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('1 session deleted; upstream: 0 revoked, 0 failed, 1 skipped');
    expect(auditEntries(run.stderr)).toEqual([expect.objectContaining({ handle: bob.handle, subject: BOB, upstream: 'skipped' })]);
    expect(refreshState(bob.refreshToken)).toBe('active');
    expect((await bob.browser.session('/v1/session/token')).status).toBe(401);
    expectNoToken(run, BOB);
  });

  it('fails (exit 1) when the provider refuses the revocation, the session being deleted all the same', async () => {
    const alice = await signIn(0);
    stack.oauth.faults.failNext({ status: 400, count: Infinity, match: 'revoke' });
    const run = await admin(['revoke', '--handle', alice.handle]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`deleted ${alice.handle} app=demo-web subject=${ALICE} upstream=failed`);
    expect(run.stdout).toContain('1 session deleted; upstream: 0 revoked, 1 failed, 0 skipped');
    expect(run.stderr).toMatch(/admin: upstream revocation failed for 1 of 1 sessions/);
    expect(auditEntries(run.stderr)).toEqual([expect.objectContaining({ handle: alice.handle, upstream: 'failed', severity: 'WARNING' })]);
    expect(refreshState(alice.refreshToken)).toBe('active');
    expect((await alice.browser.session('/v1/session/token')).status).toBe(401);
    expectNoToken(run, ALICE);
  });

  it('deletes nothing when the policy cannot be loaded for upstream revocation', async () => {
    const alice = await signIn(0);
    const run = await admin(['revoke', '--handle', alice.handle], brokerEnv({ BROKER_POLICY_FILE: '/nonexistent/policy.yaml' }));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('nothing was deleted');
    expect((await alice.browser.session('/v1/session/token')).status).toBe(200);
  });
});

describe('usage and configuration', () => {
  const usageErrors: Array<[string, string[], RegExp]> = [
    ['list without a filter', ['list'], /sessions list needs at least one of --subject, --app, --handle/],
    ['list with --json only', ['list', '--json'], /needs at least one of/],
    ['revoke without a filter', ['revoke'], /sessions revoke needs --handle <handle> or --subject <sub>/],
    ['revoke by app alone', ['revoke', '--app', 'demo-web'], /sessions revoke needs --handle/],
    ['revoke by handle and subject', ['revoke', '--handle', 'a'.repeat(64), '--subject', ALICE], /--handle names one session/],
    ['a malformed handle', ['list', '--handle', 'not-a-handle'], /--handle must be a session handle/],
    ['an option twice', ['list', '--subject', 'a', '--subject', 'b'], /--subject given twice/],
    ['an option without value', ['list', '--subject'], /--subject needs a value/],
    ['an unknown option', ['list', '--subject', 'a', '--all'], /unknown option --all/],
    ['a bad limit', ['list', '--subject', 'a', '--limit', '0'], /--limit must be an integer/],
    ['no subcommand', [], /sessions needs a subcommand/],
    ['an unknown subcommand', ['purge'], /two subcommands: list and revoke/],
  ];
  it.each(usageErrors)('%s is a usage error: exit 2, the reason and the usage on stderr, nothing on stdout', async (_name, args, message) => {
    const run = await admin(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toContain('sessions revoke (--handle <handle> | --subject <sub> [--app <id>]) [--no-upstream]');
    expect(run.stdout).toBe('');
  });

  it('refuses to run without BROKER_CACHE=firestore, saying so (exit 1)', async () => {
    for (const env of [brokerEnv({ BROKER_CACHE: undefined }), brokerEnv({ BROKER_CACHE: 'memory' })]) {
      const run = await admin(['list', '--subject', ALICE], env);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/sessions are shared only through Firestore.*BROKER_CACHE=(memory)?.*BROKER_CACHE=firestore/);
    }
  });

  it('refuses a configuration the broker would refuse (exit 1)', async () => {
    const run = await admin(['list', '--subject', ALICE], brokerEnv({ BROKER_POLICY_FILE: undefined }));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("the broker's configuration is refused: BROKER_POLICY_FILE must name the trust-policy file");
  });
});
