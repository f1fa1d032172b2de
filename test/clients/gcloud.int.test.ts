/**
 * The Google Cloud CLI, unmodified, as a client of the broker: `gcloud auth login --cred-file`
 * with an `external_account` file whose `token_url` and `token_info_url` are the broker's.
 *
 * What gcloud (528) does with such a file when it has no `service_account_impersonation_url`
 * (googlecloudsdk/core/credentials/creds.py, introspect.py; surface/auth/login.py):
 *   - it adds its installed-app client id and published secret to the file, so the token
 *     exchange carries them as HTTP Basic (the broker's `public_clients: [gcloud]`), and asks
 *     for its six default scopes (the rule's `scope_request: intersect`);
 *   - at login it names the account by RFC 7662 introspection of the token it just got:
 *     `POST <token_info_url>` with `token` and `token_type_hint`, the same Basic client
 *     authentication; it needs `200`, `active: true`, and takes `username` as the account.
 *     No other field is read. Without a `username` there is no account to store and login fails;
 *   - `auth list` shows the stored account; `print-access-token` prints the cached token.
 *
 * gcloud runs as a child process with a throwaway configuration directory, prompts, update
 * checks and usage reporting off, and its metadata-server probe pointed at a closed loopback
 * port. Without gcloud on PATH the suite is skipped, saying so.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { sha256Fingerprint } from '../../shared/fingerprint';
import { GCLOUD_CLIENT } from '../../shared/policy/schema';
import { buildExternalAccount } from '../../cli/external-account';
import { LineCapture } from '../helpers/capture';
import { closedPort } from '../helpers/net';

const SA = 'reader@token-broker-dev.iam.gserviceaccount.com';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
/** The subject of the workload's OIDC token: the account introspection names by default. */
const SUBJECT = 'repo:acme/tools:ref:refs/heads/main';
/** Bound on one gcloud command (each takes about a second: mostly its start-up). */
const GCLOUD_TIMEOUT_MS = 60_000;

const gcloud = findOnPath('gcloud');
if (!gcloud) {
  console.warn('gcloud.int.test.ts: SKIPPED — `gcloud` is not on PATH. Install the Google Cloud CLI (tested with SDK 528) to run the gcloud compatibility tests.');
}
const describeWithGcloud = gcloud ? describe : describe.skip;

describeWithGcloud('gcloud auth login --cred-file with a broker external_account file', () => {
  const lines = new LineCapture();
  let stack: DevStack;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    stack = await startDevStack({
      auditTransport: lines,
      policyText: ({ issuer, broker }) => `
version: 1
public_clients: [gcloud]
issuers:
  - issuer: "${issuer}"
    audiences: ["${broker}"]
rules:
  - id: gcloud-tools
    issuer: "${issuer}"
    condition: claims.sub == '${SUBJECT}'
    grant:
      service_account: ${SA}
      scopes: [${CLOUD_PLATFORM}]
      scope_request: intersect
`,
    });
    await stack.broker;
    dir = await mkdtemp(join(tmpdir(), 'gcloud-client-'));
    const tokenFile = join(dir, 'token.jwt');
    await writeFile(tokenFile, await stack.issuer.sign({ sub: SUBJECT, aud: stack.issuerUrl }, { ttlSeconds: 600 }));
    await writeFile(join(dir, 'credentials.json'), JSON.stringify({
      type: 'external_account',
      audience: 'gcloud-tools',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: `${stack.url}/v1/token`,
      token_info_url: `${stack.url}/v1/introspect`,
      credential_source: { file: tokenFile, format: { type: 'text' } },
    }));
    env = gcloudEnv(join(dir, 'config'), await closedPort());
  });
  afterAll(async () => {
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const exchanges = async () => {
    await stack.audit.flush();
    return lines.entries().filter((e) => e.event === 'token_exchange');
  };

  it('logs in: the broker exchanges the file\'s token for gcloud, a public client, with the scopes it allows', async () => {
    const login = await run(['auth', 'login', `--cred-file=${join(dir, 'credentials.json')}`], env);

    // The exchange comes first; login then names the account by introspection.
    const issued = (await exchanges()).filter((e) => e.outcome === 'issued');
    expect(issued.length).toBeGreaterThan(0);
    for (const entry of issued) {
      expect(entry).toMatchObject({
        client: { id: GCLOUD_CLIENT.id, authMethod: 'public' },
        principal: { subject: SUBJECT },
        grant: { serviceAccount: SA, scopes: [CLOUD_PLATFORM] },
      });
      // gcloud asked for its six default scopes; the rule issued the one it allows.
      expect((entry.grant as { requestedScopes?: string[] }).requestedScopes).toEqual(expect.arrayContaining([CLOUD_PLATFORM, 'openid']));
    }
    expect({ code: login.code, stderr: login.stderr }).toEqual({ code: 0, stderr: expect.stringContaining(`Authenticated with external account credentials for: [${SUBJECT}]`) });
  }, 4 * GCLOUD_TIMEOUT_MS);

  it('print-access-token prints a token the broker issued to gcloud', async () => {
    const printed = await run(['auth', 'print-access-token'], env);
    expect({ code: printed.code, stderr: printed.stderr }).toEqual({ code: 0, stderr: '' });
    const token = printed.stdout.trim();
    expect(token).toMatch(/^\S+$/);

    const entry = (await exchanges()).find((e) => e.tokenSha256 === sha256Fingerprint(token));
    expect(entry).toMatchObject({ outcome: 'issued', client: { id: GCLOUD_CLIENT.id, authMethod: 'public' } });
    expect(stack.google.lookup(token)).toMatchObject({ serviceAccount: SA, scopes: [CLOUD_PLATFORM] });
  }, 2 * GCLOUD_TIMEOUT_MS);

  it('auth list shows the account the broker\'s introspection names (the subject), active', async () => {
    const list = await run(['auth', 'list', '--format=json'], env);
    expect({ code: list.code, stderr: list.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(list.stdout)).toEqual([{ account: SUBJECT, status: 'ACTIVE' }]);
  }, 2 * GCLOUD_TIMEOUT_MS);
});

describeWithGcloud('gcloud against the embedded development policy (npm start), with a file from admin external-account', () => {
  let stack: DevStack;
  let dir: string;
  beforeAll(async () => {
    stack = await startDevStack({ auditTransport: new LineCapture() });
    await stack.broker;
    dir = await mkdtemp(join(tmpdir(), 'gcloud-dev-'));
  });
  afterAll(async () => {
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('logs in, prints a token and lists the account the demo-gcloud rule names', async () => {
    const tokenFile = join(dir, 'token.jwt');
    await writeFile(tokenFile, await stack.issuer.sign({ sub: 'demo-workload', repository: 'acme/demo', aud: stack.issuerUrl }, { ttlSeconds: 600 }));
    const file = buildExternalAccount({ brokerUrl: stack.url, allowInsecureLoopback: true, audience: 'demo-gcloud', tokenFile });
    await writeFile(join(dir, 'credentials.json'), JSON.stringify(file));
    const env = gcloudEnv(join(dir, 'config'), await closedPort());

    const login = await run(['auth', 'login', `--cred-file=${join(dir, 'credentials.json')}`], env);
    expect({ code: login.code, stderr: login.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('acme/demo@demo') });
    const printed = await run(['auth', 'print-access-token'], env);
    expect(stack.google.lookup(printed.stdout.trim())).toMatchObject({ scopes: [CLOUD_PLATFORM] });
    const list = await run(['auth', 'list', '--format=json'], env);
    expect(JSON.parse(list.stdout)).toEqual([{ account: 'acme/demo@demo', status: 'ACTIVE' }]);
  }, 4 * GCLOUD_TIMEOUT_MS);
});

/** gcloud's environment: its own configuration directory, nothing interactive, nothing beyond loopback. */
function gcloudEnv(configDir: string, closedLoopbackPort: number): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(CLOUDSDK_|GOOGLE_|GCE_)/.test(name)));
  return {
    ...inherited,
    CLOUDSDK_CONFIG: configDir,
    CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
    CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: 'true',
    CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: 'true',
    CLOUDSDK_SURVEY_DISABLE_PROMPTS: 'true',
    // The metadata-server probe goes to a closed loopback port.
    GCE_METADATA_ROOT: `127.0.0.1:${closedLoopbackPort}`,
    METADATA_SERVER_DETECTION: 'none',
  };
}

interface Run { code: number | null; stdout: string; stderr: string }

function run(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(gcloud ?? 'gcloud', args, { env, timeout: GCLOUD_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr: error?.killed ? `${stderr}\n(killed after ${GCLOUD_TIMEOUT_MS} ms)` : stderr });
    });
  });
}

function findOnPath(command: string): string | undefined {
  for (const directory of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(directory, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}
