/**
 * `npm start` as a new user runs it: the process starts, prints a curl command, and that
 * command, pasted into a shell, performs a real exchange that returns an access token. The
 * banner names the issuer URL (BROKER_ISSUER_URL or the loopback URL) and the service
 * accounts the Google emulator mints for.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

const root = join(__dirname, '..', '..');
let child: ChildProcess | undefined;

afterEach(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
});

function startBroker(env: NodeJS.ProcessEnv): { output: () => string; ready: Promise<string> } {
  let output = '';
  child = spawn(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(root, 'dev', 'start.ts')], {
    cwd: root,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ctrl-C stops it.')) resolve(output);
    };
    child?.stdout?.on('data', onData);
    child?.stderr?.on('data', onData);
    child?.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
  return { output: () => output, ready };
}

const BUILT_IN_ACCOUNTS = ['gemini-caller@token-broker-dev.iam.gserviceaccount.com', 'reader@token-broker-dev.iam.gserviceaccount.com'];

/** The printed exchange commands (blocks that start with `curl -s`). */
function printedCommands(banner: string): string[] {
  return banner.split('\n\n').filter((block) => block.startsWith('curl -s'));
}

/** A printed exchange command (the first by default), run as a user pastes it. */
async function runPrintedCommand(banner: string, index = 0): Promise<Record<string, unknown>> {
  const command = printedCommands(banner)[index] ?? '';
  expect(command).toMatch(/^curl -s http:\/\/127\.0\.0\.1:\d+\/token/);
  const { stdout } = await promisify(execFile)('bash', ['-c', command]);
  return JSON.parse(stdout) as Record<string, unknown>;
}

/** `label value` lines of the banner, continuation lines joined to the value before them. */
function bannerField(banner: string, label: string): string[] {
  const lines = banner.split('\n');
  const start = lines.findIndex((line) => line.startsWith(`  ${label.padEnd(16)} `));
  if (start < 0) return [];
  const values = [lines[start]?.slice(19) ?? ''];
  for (const line of lines.slice(start + 1)) {
    if (!/^ {19}\S/.test(line)) break;
    values.push(line.slice(19));
  }
  return values.map((value) => value.split('   (')[0]?.trim() ?? '');
}

it('prints a copy-paste curl command that returns an access token', async () => {
  const { ready } = startBroker({ BROKER_ISSUER_URL: '' });
  const banner = await ready;
  const body = await runPrintedCommand(banner);
  expect(body).toMatchObject({ token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' });
  expect(String(body.access_token)).toMatch(/^ya29\./);
  expect(Number(body.expires_in)).toBeGreaterThan(800);
  // Without BROKER_ISSUER_URL the issuer is the loopback URL the broker listens on.
  const tokenUrl = /token endpoint +(\S+)/.exec(banner)?.[1];
  expect(bannerField(banner, 'issuer (aud)')).toEqual([tokenUrl?.replace(/\/token$/, '')]);
  expect(bannerField(banner, 'service accounts')).toEqual(BUILT_IN_ACCOUNTS);
}, 60_000);

it('prints one working command per kind of token: access, downscoped to a bucket, ID token, Gemini ephemeral token', async () => {
  const { ready } = startBroker({ BROKER_ISSUER_URL: '' });
  const banner = await ready;
  expect(printedCommands(banner)).toHaveLength(4);
  const [access, downscoped, idToken] = [await runPrintedCommand(banner, 0), await runPrintedCommand(banner, 1), await runPrintedCommand(banner, 2)];
  expect(access).toMatchObject({ token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' });
  expect(downscoped).toMatchObject({ token_type: 'Bearer', scope: 'https://www.googleapis.com/auth/cloud-platform' });
  expect(downscoped.access_token).not.toBe(access.access_token);
  expect(idToken).toMatchObject({ token_type: 'N_A', issued_token_type: 'urn:ietf:params:oauth:token-type:id_token' });
  const payload = JSON.parse(Buffer.from(String(idToken.access_token).split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
  expect(payload).toMatchObject({ aud: 'https://demo-service.example.run.app', email: 'gemini-caller@token-broker-dev.iam.gserviceaccount.com' });
  const ephemeral = await runPrintedCommand(banner, 3);
  expect(ephemeral).toMatchObject({ token_type: 'N_A', issued_token_type: 'urn:x-token-broker:token-type:gemini-ephemeral', access_token: expect.stringMatching(/^auth_tokens\//) });
}, 60_000);

it('honours BROKER_ISSUER_URL: printed as the issuer, and the printed command still exchanges', async () => {
  const { ready } = startBroker({ BROKER_ISSUER_URL: 'https://broker.example.test/' });
  const banner = await ready;
  expect(bannerField(banner, 'issuer (aud)')).toEqual(['https://broker.example.test']);
  const body = await runPrintedCommand(banner);
  expect(body).toMatchObject({ token_type: 'Bearer' });
  expect(String(body.access_token)).toMatch(/^ya29\./);
}, 60_000);

it('lists and mints for the service accounts of your own policy', async () => {
  const custom = 'custom-sa@token-broker-dev.iam.gserviceaccount.com';
  const hop = 'custom-hop@token-broker-dev.iam.gserviceaccount.com';
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1' };
  const dir = await mkdtemp(join(tmpdir(), 'token-broker-start-'));
  try {
    const policyFile = join(dir, 'policy.yaml');
    await writeFile(policyFile, `
version: 1
issuers:
  - issuer: https://issuer.example.test
    audiences: [https://broker.example.test]
    algorithms: [ES256]
    jwks: { keys: [${JSON.stringify(jwk)}] }
rules:
  - id: custom
    issuer: https://issuer.example.test
    condition: claims.sub == 'ci'
    grant:
      service_account: ${custom}
      delegates: [${hop}]
      scopes: [https://www.googleapis.com/auth/cloud-platform]
`);
    const { ready } = startBroker({ BROKER_POLICY_FILE: policyFile, BROKER_ISSUER_URL: 'https://broker.example.test' });
    const banner = await ready;
    expect(bannerField(banner, 'service accounts')).toEqual([...BUILT_IN_ACCOUNTS, custom, hop]);
    expect(bannerField(banner, 'issuer (aud)')).toEqual(['https://broker.example.test']);

    const now = Math.floor(Date.now() / 1000);
    const subjectToken = await new SignJWT({ sub: 'ci' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' })
      .setIssuer('https://issuer.example.test')
      .setAudience('https://broker.example.test')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(privateKey);
    const tokenUrl = /token endpoint +(\S+)/.exec(banner)?.[1] ?? '';
    const res = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        subject_token: subjectToken,
      }),
    });
    const body = (await res.json()) as Record<string, unknown>;
    expect({ status: res.status, token_type: body.token_type }).toEqual({ status: 200, token_type: 'Bearer' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);

it('refuses to start on a policy file that does not load, naming the file', async () => {
  const { ready } = startBroker({ BROKER_POLICY_FILE: '/nonexistent/policy.yaml' });
  await expect(ready).rejects.toThrow(/failed to start: \/nonexistent\/policy\.yaml: \(file\): cannot read/);
}, 60_000);
