/**
 * The deployed build: functions/build.mjs bundles functions/index.ts into one CommonJS file
 * (dist/functions/index.js; here a temporary directory). Served by the Functions Framework in
 * a fresh Node process, as Cloud Functions serves it, the bundle registers `broker`, mints
 * through google-auth-library loaded from node_modules (external, dynamically imported), and
 * writes one audit entry per request through LogSync. The libraries it bundles (jose, zod, yaml,
 * CEL) are not loaded from node_modules.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEV_SERVICE_ACCOUNTS, DEV_SOURCE_TOKEN } from '../../dev/dev-stack';
import { startDemoIssuer, type DemoIssuer } from '../../dev/demo-issuer';
import { startGoogleEmulator, type GoogleEmulator } from '../../dev/google-emulator';
import { exchangeForm, post } from '../helpers/http';
import { testPolicy } from '../http/policy-fixture';

const ROOT = join(__dirname, '..', '..');
const AUDIENCE = 'https://broker.example.test';
let out: string;
let google: GoogleEmulator;
let issuer: DemoIssuer;
let child: ChildProcess | undefined;

beforeAll(async () => {
  // Inside the repository, so that the bundle's external packages resolve from node_modules (as
  // in a deployment), for require and dynamic import alike; node_modules/.cache is ignored by git.
  mkdirSync(join(ROOT, 'node_modules', '.cache'), { recursive: true });
  out = mkdtempSync(join(ROOT, 'node_modules', '.cache', 'broker-bundle-'));
  execFileSync(process.execPath, [join(ROOT, 'functions', 'build.mjs'), out], { cwd: ROOT, stdio: 'pipe' });
  google = await startGoogleEmulator({ serviceAccounts: DEV_SERVICE_ACCOUNTS, callerTokens: [DEV_SOURCE_TOKEN] });
  issuer = await startDemoIssuer({ defaultAudience: AUDIENCE });
}, 60_000);

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await Promise.all([google?.close(), issuer?.close()]);
  rmSync(out, { recursive: true, force: true });
});

/** Serves the bundle; resolves with its URL, the lines it printed, and a stop() that returns the packages it loaded from node_modules. */
async function serveBundle(env: Record<string, string>): Promise<{ url: string; lines: string[]; stop: () => Promise<string[]> }> {
  const script = `
    require(${JSON.stringify(join(out, 'functions', 'index.js'))});
    const { getTestServer } = require('@google-cloud/functions-framework/testing');
    const server = getTestServer('broker');
    server.listen(0, '127.0.0.1', () => process.stderr.write('LISTENING http://127.0.0.1:' + server.address().port + '\\n'));
    process.on('SIGTERM', () => {
      const packages = new Set(Object.keys(require.cache).map((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(f)?.[1]).filter(Boolean));
      process.stderr.write('PACKAGES ' + JSON.stringify([...packages]) + '\\n', () => process.exit(0));
    });`;
  const started = spawn(process.execPath, ['-e', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, METADATA_SERVER_DETECTION: 'none', GOOGLE_CLOUD_PROJECT: 'acme-test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = started;
  const lines: string[] = [];
  let stdout = '';
  let stderr = '';
  started.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    const parts = stdout.split('\n');
    stdout = parts.pop() ?? '';
    lines.push(...parts);
  });
  const url = await new Promise<string>((resolve, reject) => {
    started.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /LISTENING (\S+)/.exec(stderr);
      if (match?.[1]) resolve(match[1]);
    });
    started.once('exit', (code) => reject(new Error(`bundle process exited with ${code}: ${stderr}`)));
  });
  const stop = () => new Promise<string[]>((resolve) => {
    started.once('exit', () => resolve(JSON.parse(/PACKAGES (.*)/.exec(stderr)?.[1] ?? 'null') as string[]));
    started.kill('SIGTERM');
  });
  return { url, lines, stop };
}

it('serves the broker: a minted exchange and a refused one, each audited once, the Google libraries loaded from node_modules', async () => {
  const policyFile = join(out, 'policy.yaml');
  writeFileSync(policyFile, testPolicy({ issuer: issuer.issuer, broker: AUDIENCE }));
  const broker = await serveBundle({
    BROKER_MODE: 'development',
    BROKER_CACHE: 'memory',
    BROKER_POLICY_FILE: policyFile,
    BROKER_IAM_ENDPOINT: google.url,
    BROKER_DEV_SOURCE_TOKEN: DEV_SOURCE_TOKEN,
  });
  const subject = await issuer.sign({ sub: 'repo:acme/app:ref:refs/heads/main', aud: AUDIENCE, repository: 'acme/app', ref: 'refs/heads/main' });
  const minted = await post(`${broker.url}/token`, exchangeForm(subject));
  const refused = await post(`${broker.url}/token`, exchangeForm('a.b.c'));
  const packages = await broker.stop();

  expect(minted.status).toBe(200);
  expect(google.lookup(String(minted.body.access_token))).toBeDefined();
  expect([refused.status, refused.body.error]).toEqual([400, 'invalid_grant']);
  const exchanges = broker.lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.event === 'token_exchange');
  expect(exchanges.map((entry) => [entry.outcome, entry.logName])).toEqual([
    ['issued', 'projects/acme-test/logs/token-broker-audit'],
    ['denied', 'projects/acme-test/logs/token-broker-audit'],
  ]);
  expect(packages).toEqual(expect.arrayContaining(['@google-cloud/functions-framework', 'google-auth-library', '@google-cloud/logging']));
  expect(packages.filter((name) => ['jose', 'zod', 'yaml', '@bufbuild/cel', 'openid-client', '@google-cloud/firestore'].includes(name))).toEqual([]);
}, 60_000);
