/**
 * `admin deny add --subject … --revoke-sessions`: with the development stack's shared state
 * (Firestore emulator, the local cache key), a user signed in to the demo web app is denied and
 * their sessions end, refresh token revoked at the provider; each step audited.
 */
import { DEV_CACHE_KEY, DEV_SOURCE_TOKEN, startDevStack, type DevStack } from '../../dev/dev-stack';
import { DEFAULT_DEMO_USERS } from '../../dev/oauth-provider-emulator';
import { sessionHandle } from '../../shared/sign-in/session-vault';
import { runAdmin } from '../helpers/admin-cli';
import { LineCapture } from '../helpers/capture';
import { CookieBrowser } from '../helpers/sign-in';

const PROJECT = 'deny-revoke-sessions-test';
const [ALICE] = DEFAULT_DEMO_USERS.map((user) => user.sub) as [string, string];

let stack: DevStack;
beforeAll(async () => {
  stack = await startDevStack({ env: { BROKER_CACHE: 'firestore', BROKER_FIRESTORE_PROJECT: PROJECT }, auditTransport: new LineCapture() });
  await stack.broker;
}, 30_000);
afterAll(() => stack?.close());

function brokerEnv(): NodeJS.ProcessEnv {
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
  };
  return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined));
}

async function signIn(user: 0 | 1): Promise<{ browser: CookieBrowser; handle: string; refreshToken: string }> {
  const before = new Set(stack.oauth.issued().refreshTokens.map((t) => t.token));
  const browser = new CookieBrowser(stack);
  expect((await browser.signIn(user)).status).toBe(302);
  expect((await browser.session('/v1/session/token')).status).toBe(200);
  const fresh = stack.oauth.issued().refreshTokens.filter((t) => !before.has(t.token));
  return { browser, handle: sessionHandle(browser.cookies.get('tb-session-demo-web') ?? ''), refreshToken: fresh[0]?.token ?? '' };
}

const refreshState = (token: string) => stack.oauth.issued().refreshTokens.find((t) => t.token === token)?.state;

it('denies the subject and revokes its sessions, upstream too, leaving other users alone', async () => {
  const [alice, bob] = [await signIn(0), await signIn(1)];
  const run = await runAdmin(['deny', 'add', '--subject', stack.oauth.url, ALICE, '--reason', 'account compromised', '--for', '1h', '--revoke-sessions'], '', brokerEnv());
  expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
  expect(run.stdout).toMatch(/^added [0-9a-f]{32} subject /);
  expect(run.stdout).toContain(`deleted ${alice.handle} app=demo-web subject=${ALICE} upstream=revoked`);
  expect(run.stdout).toContain('1 session deleted; upstream: 1 revoked, 0 failed, 0 skipped');
  expect(refreshState(alice.refreshToken)).toBe('revoked');
  expect((await alice.browser.session('/v1/session/token')).status).toBe(401);
  expect(refreshState(bob.refreshToken)).toBe('active');
  const audit = run.stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.event === 'operator_action');
  expect(audit).toEqual([
    expect.objectContaining({ action: 'deny_added', kind: 'subject', subject: ALICE, reason: 'account compromised', expiresAt: expect.stringMatching(/Z$/) }),
    expect.objectContaining({ action: 'session_revoked', handle: alice.handle, subject: ALICE, upstream: 'revoked' }),
  ]);
  // No token in the output.
  for (const token of [alice.refreshToken, ...stack.oauth.issued().accessTokens.filter((t) => t.sub === ALICE).map((t) => t.token)]) {
    expect(run.stdout + run.stderr).not.toContain(token);
  }
}, 60_000);
