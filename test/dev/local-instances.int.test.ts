/**
 * Trying your own policy locally, as README and docs/local.md describe it, with real `npm start`
 * processes:
 *  - docs/examples/local/my-first-policy.yaml names the demo issuer at the broker's port + 1,
 *    so the same file works on every start;
 *  - with BROKER_CACHE=firestore, two `npm start` processes on one Firestore emulator are two
 *    instances of one deployment: a rate limit counts across both, an assertion used on one is
 *    refused by the other, and a token cached by one is served by the other.
 * The suite's emulator stands in for the one the first `npm start` would start itself
 * (FIRESTORE_EMULATOR_HOST is set for the integration project).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { sharedStateEnv } from '../../dev/dev-stack';
import { freePort } from '../helpers/net';
import { awayFromMinuteEnd } from '../helpers/limits';

const root = join(__dirname, '..', '..');
const children: ChildProcess[] = [];
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'token-broker-local-'));
});
afterEach(async () => {
  await Promise.all(children.splice(0).map(stop));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** `npm start` (dev/start.ts) with `env`; resolves with its banner once it is ready. */
async function npmStart(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; banner: string }> {
  const child = spawn(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(root, 'dev', 'start.ts')], {
    cwd: root,
    env: { ...process.env, BROKER_LOG: 'silent', BROKER_ISSUER_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  const banner = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ctrl-C stops it.')) resolve(output);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`npm start exited with ${code}: ${output}`)));
  });
  return { child, banner };
}

async function post(url: string, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const exchange = (subjectToken: string) => ({
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
  subject_token: subjectToken,
});

const demoToken = async (issuerPort: number, query = '') => (await fetch(`http://127.0.0.1:${issuerPort}/token${query}`)).text();

it('my first policy works on every start without editing (the demo issuer is the broker\'s port + 1)', async () => {
  const port = await freePort();
  const policy = (await readFile(join(root, 'docs', 'examples', 'local', 'my-first-policy.yaml'), 'utf8'))
    .replaceAll('127.0.0.1:8081', `127.0.0.1:${port + 1}`)
    .replaceAll('127.0.0.1:8080', `127.0.0.1:${port}`);
  const file = join(dir, 'my-first-policy.yaml');
  await writeFile(file, policy);
  for (const start of ['first', 'second']) {
    const { child, banner } = await npmStart({ PORT: String(port), BROKER_POLICY_FILE: file });
    expect(banner).toContain(`demo issuer      http://127.0.0.1:${port + 1}`);
    expect(banner).toContain('my-first-sa@token-broker-dev.iam.gserviceaccount.com');
    const granted = await post(`http://127.0.0.1:${port}/token`, exchange(await demoToken(port + 1)));
    expect({ start, status: granted.status, scope: granted.body.scope }).toEqual({ start, status: 200, scope: 'https://www.googleapis.com/auth/generative-language' });
    const refused = await post(`http://127.0.0.1:${port}/token`, exchange(await demoToken(port + 1, '?repository=acme/other')));
    expect({ start, status: refused.status, error: refused.body.error }).toEqual({ start, status: 403, error: 'access_denied' });
    await stop(child);
  }
}, 90_000);

it('two instances on one Firestore emulator share limits, single-use assertions and cached tokens', async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  const issuerUrl = `http://127.0.0.1:${portA}`;
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'local-1' };
  const file = join(dir, 'shared-state.yaml');
  await writeFile(file, `
version: 1
issuers:
  - issuer: "http://127.0.0.1:${portA + 1}"
    audiences: ["${issuerUrl}"]
clients:
  - id: local-service
    jwks: { keys: [${JSON.stringify(jwk)}] }
    algorithms: [ES256]
rules:
  - id: limited
    issuer: "http://127.0.0.1:${portA + 1}"
    condition: claims.sub == 'limited'
    limits: { requests_per_minute: 2 }
    grant: { service_account: reader@token-broker-dev.iam.gserviceaccount.com, scopes: [https://www.googleapis.com/auth/cloud-platform] }
  - id: shared
    issuer: "http://127.0.0.1:${portA + 1}"
    condition: claims.sub == 'shared'
    grant: { service_account: gemini-caller@token-broker-dev.iam.gserviceaccount.com, scopes: [https://www.googleapis.com/auth/cloud-platform] }
  - id: service
    clients: [local-service]
    condition: "true"
    grant: { service_account: reader@token-broker-dev.iam.gserviceaccount.com, scopes: [https://www.googleapis.com/auth/cloud-platform] }
`);
  // One deployment: the same policy, the same issuer URL, the same emulator (and project).
  const common = { BROKER_CACHE: 'firestore', BROKER_POLICY_FILE: file, BROKER_ISSUER_URL: issuerUrl, BROKER_FIRESTORE_PROJECT: `local-${randomUUID().slice(0, 8)}` };
  const a = await npmStart({ ...common, PORT: String(portA) });
  const b = await npmStart({ ...common, PORT: String(portB) });
  expect(a.banner).toContain(`shared state     Firestore emulator ${process.env.FIRESTORE_EMULATOR_HOST} (from FIRESTORE_EMULATOR_HOST)`);
  expect(a.banner).toContain('the fixed development key');
  const [atA, atB] = [`http://127.0.0.1:${portA}/token`, `http://127.0.0.1:${portB}/token`];

  // A limit of 2 requests a minute, counted across both instances.
  const limited = await demoToken(portA + 1, '?sub=limited');
  await awayFromMinuteEnd();
  const statuses = [(await post(atA, exchange(limited))).status, (await post(atA, exchange(limited))).status, (await post(atB, exchange(limited))).status];
  expect(statuses).toEqual([200, 200, 429]);

  // A token minted and cached by one instance is served by the other (same development key).
  const shared = await demoToken(portA + 1, '?sub=shared');
  const fromA = await post(atA, exchange(shared));
  const fromB = await post(atB, exchange(shared));
  expect({ a: fromA.status, b: fromB.status, same: fromA.body.access_token === fromB.body.access_token }).toEqual({ a: 200, b: 200, same: true });

  // An assertion used on one instance is refused by the other.
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES256', kid: 'local-1', typ: 'JWT' })
    .setIssuer('local-service').setSubject('local-service').setAudience(issuerUrl)
    .setIssuedAt(now).setExpirationTime(now + 120)
    .sign(privateKey);
  const bearer = { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion };
  expect((await post(atA, bearer)).status).toBe(200);
  const replayed = await post(atB, bearer);
  expect({ status: replayed.status, error: replayed.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
}, 120_000);

it('refuses BROKER_CACHE=firestore without the emulator rather than reach a real database', async () => {
  // What npm start does when FIRESTORE_EMULATOR_HOST is unset is start an emulator; the dev stack
  // underneath refuses on its own when none is named.
  const saved = process.env.FIRESTORE_EMULATOR_HOST;
  delete process.env.FIRESTORE_EMULATOR_HOST;
  try {
    expect(() => sharedStateEnv({ BROKER_CACHE: 'firestore' })).toThrow(/set FIRESTORE_EMULATOR_HOST/);
    expect(sharedStateEnv({ BROKER_CACHE: 'memory' })).toEqual({});
  } finally {
    process.env.FIRESTORE_EMULATOR_HOST = saved;
  }
});
