/**
 * Several broker processes (dev/serve.ts: the deployed entry point, configured from the
 * environment) share one Firestore emulator, one IAM emulator and one issuer. A burst of
 * identical requests spread over all of them mints once; an instance running a changed
 * policy never serves a token minted under the old one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEV_SERVICE_ACCOUNTS, DEV_SOURCE_TOKEN } from '../../dev/dev-stack';
import { startDemoIssuer, type DemoIssuer } from '../../dev/demo-issuer';
import { startGoogleEmulator, type GoogleEmulator } from '../../dev/google-emulator';
import { exchangeForm, post } from '../helpers/http';
import { testPolicy } from '../http/policy-fixture';

const root = join(__dirname, '..', '..');
const AUDIENCE = 'https://broker.example.test';
const children: ChildProcess[] = [];
let google: GoogleEmulator;
let issuer: DemoIssuer;
let dir: string;

beforeAll(async () => {
  google = await startGoogleEmulator({ serviceAccounts: DEV_SERVICE_ACCOUNTS, callerTokens: [DEV_SOURCE_TOKEN] });
  issuer = await startDemoIssuer({ defaultAudience: AUDIENCE });
  dir = await mkdtemp(join(tmpdir(), 'multi-'));
});
afterAll(async () => {
  await Promise.all(children.map((child) => new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  })));
  await Promise.all([google.close(), issuer.close()]);
});

/** Starts one broker process; resolves with its URL. */
async function brokerProcess(policyFile: string, env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(root, 'dev', 'serve.ts')], {
    cwd: root,
    env: {
      ...process.env,
      PORT: '0',
      BROKER_LOG: 'silent',
      BROKER_MODE: 'development',
      BROKER_POLICY_FILE: policyFile,
      BROKER_IAM_ENDPOINT: google.url,
      BROKER_DEV_SOURCE_TOKEN: DEV_SOURCE_TOKEN,
      BROKER_CACHE: 'firestore',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`broker process exited with ${code}: ${output}`)));
  });
}

async function policyFile(text: string): Promise<string> {
  const file = join(dir, `${randomUUID()}.yaml`);
  await writeFile(file, text);
  return file;
}

const mints = () => google.requests.filter((r) => r.path.endsWith(':generateAccessToken')).length;

it('three processes mint once for a burst of identical requests, and a changed policy mints anew', async () => {
  const env = { BROKER_FIRESTORE_PROJECT: `demo-${randomUUID().slice(0, 8)}`, BROKER_CACHE_LOCAL_KEY: randomBytes(32).toString('base64') };
  const policy = testPolicy({ issuer: issuer.issuer, broker: AUDIENCE });
  const same = await policyFile(policy);
  const urls = await Promise.all([brokerProcess(same, env), brokerProcess(same, env), brokerProcess(same, env)]);

  const subject = await issuer.sign({ sub: 'repo:acme/app:ref:refs/heads/main', aud: AUDIENCE, repository: 'acme/app', ref: 'refs/heads/main' }, { ttlSeconds: 600 });
  const before = mints();
  const answers = await Promise.all(urls.flatMap((url) => Array.from({ length: 30 }, () => post(`${url}/token`, exchangeForm(subject)))));
  expect(answers.map((a) => a.status)).toEqual(Array(90).fill(200));
  expect(new Set(answers.map((a) => a.body.access_token)).size).toBe(1);
  expect(mints() - before).toBe(1);

  const changed = await policyFile(policy.replace("claims.repository == 'acme/app' && claims.ref", "claims.repository in ['acme/app'] && claims.ref"));
  const other = await brokerProcess(changed, env);
  const fromChanged = await post(`${other}/token`, exchangeForm(subject));
  expect(fromChanged.status).toBe(200);
  expect(fromChanged.body.access_token).not.toBe(answers[0]?.body.access_token);
  expect(mints() - before).toBe(2);
}, 90_000);
