/**
 * Python's Authlib, unmodified, as a `private_key_jwt` client (RFC 7523) of the broker:
 * test/clients/python/authlib_private_key_jwt.py asks for a `client_credentials` token the
 * way Authlib documents it. Authlib signs RS256 assertions for the token URL, valid for an
 * hour: the broker's default `max_assertion_lifetime_seconds` (3600) accepts them, and a
 * client limited to less refuses them.
 *
 * The interpreter is BROKER_TEST_PYTHON (a virtual environment with authlib and requests,
 * as .ci/run makes), else `python3` when it can import authlib. Without either the suite is
 * skipped, saying what to install.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { sha256Fingerprint } from '../../shared/fingerprint';
import { LineCapture } from '../helpers/capture';

const SCRIPT = join(__dirname, 'python', 'authlib_private_key_jwt.py');
const SA = 'reader@token-broker-dev.iam.gserviceaccount.com';
const STORAGE_READ = 'https://www.googleapis.com/auth/devstorage.read_only';
const PYTHON_TIMEOUT_MS = 30_000;

const python = findPythonWithAuthlib();
if (!python.path) {
  console.warn(`authlib.int.test.ts: SKIPPED — ${python.reason}. Install Authlib: python3 -m venv DIR && DIR/bin/pip install authlib requests, then set BROKER_TEST_PYTHON=DIR/bin/python (.ci/run does this).`);
}
const describeWithAuthlib = python.path ? describe : describe.skip;

describeWithAuthlib('Authlib PrivateKeyJWT, client_credentials', () => {
  const lines = new LineCapture();
  let stack: DevStack;
  let dir: string;
  let keyFile: string;
  let otherKeyFile: string;

  beforeAll(async () => {
    const signer = await generateKeyPair('RS256', { extractable: true });
    const other = await generateKeyPair('RS256', { extractable: true });
    dir = await mkdtemp(join(tmpdir(), 'authlib-client-'));
    keyFile = join(dir, 'signer.pem');
    otherKeyFile = join(dir, 'other.pem');
    await writeFile(keyFile, await exportPKCS8(signer.privateKey), { mode: 0o600 });
    await writeFile(otherKeyFile, await exportPKCS8(other.privateKey), { mode: 0o600 });
    const publicJwk = JSON.stringify({ ...(await exportJWK(signer.publicKey)), kid: 'report-job-1', alg: 'RS256', use: 'sig' });

    stack = await startDevStack({
      auditTransport: lines,
      policyText: () => `
version: 1
clients:
  - id: report-job
    jwks: { keys: [${publicJwk}] }
  - id: short-assertions
    jwks: { keys: [${publicJwk}] }
    max_assertion_lifetime_seconds: 300
rules:
  - id: report-job-storage
    clients: [report-job, short-assertions]
    condition: claims.auth_method == 'private_key_jwt'
    grant:
      service_account: ${SA}
      scopes: [${STORAGE_READ}]
      max_lifetime_seconds: 600
`,
    });
    await stack.broker;
  });
  afterAll(async () => {
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const exchanges = async () => {
    await stack.audit.flush();
    return lines.entries().filter((e) => e.event === 'token_exchange');
  };

  it('obtains a token: the broker accepts Authlib\'s one-hour assertion and records private_key_jwt', async () => {
    const result = await runClient(`${stack.url}/v1/token`, 'report-job', keyFile);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    const token = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(token).toMatchObject({ token_type: 'Bearer', scope: STORAGE_READ, access_token: expect.any(String) });
    expect(token.expires_in).toEqual(expect.any(Number));
    expect(token.expires_in as number).toBeGreaterThan(0);
    expect(token.expires_in as number).toBeLessThanOrEqual(600);

    const accessToken = String(token.access_token);
    expect(stack.google.lookup(accessToken)).toMatchObject({ serviceAccount: SA, scopes: [STORAGE_READ] });
    const entry = (await exchanges()).find((e) => e.tokenSha256 === sha256Fingerprint(accessToken));
    expect(entry).toMatchObject({
      outcome: 'issued',
      grantType: 'client_credentials',
      client: { id: 'report-job', authMethod: 'private_key_jwt' },
      principal: { issuer: 'urn:token-broker:client', subject: 'report-job' },
      policy: { ruleId: 'report-job-storage' },
    });
  }, 2 * PYTHON_TIMEOUT_MS);

  it('a client limited to 300-second assertions refuses Authlib\'s (invalid_client, assertion_lifetime_too_long)', async () => {
    const result = await runClient(`${stack.url}/v1/token`, 'short-assertions', keyFile);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stderr)).toMatchObject({ error: 'invalid_client' });
    expect((await exchanges()).at(-1)).toMatchObject({ outcome: 'denied', error: { code: 'invalid_client', reason: 'assertion_lifetime_too_long' } });
  }, 2 * PYTHON_TIMEOUT_MS);

  it('an assertion signed with a key the client has not registered is refused (invalid_client)', async () => {
    const result = await runClient(`${stack.url}/v1/token`, 'report-job', otherKeyFile);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stderr)).toMatchObject({ error: 'invalid_client' });
    expect((await exchanges()).at(-1)).toMatchObject({ outcome: 'denied', error: { code: 'invalid_client' } });
  }, 2 * PYTHON_TIMEOUT_MS);
});

interface Run { code: number | null; stdout: string; stderr: string }

function runClient(tokenUrl: string, clientId: string, privateKeyFile: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(python.path ?? 'python3', [SCRIPT, tokenUrl, clientId, privateKeyFile], { env: pythonEnv(), timeout: PYTHON_TIMEOUT_MS, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr: error?.killed ? `${stderr}\n(killed after ${PYTHON_TIMEOUT_MS} ms)` : stderr });
    });
  });
}

/** No proxy may stand between the client and the loopback broker. */
function pythonEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(https?|all|no)_proxy$/i.test(name)));
  return { ...env, METADATA_SERVER_DETECTION: 'none', NO_PROXY: '127.0.0.1,localhost', PYTHONDONTWRITEBYTECODE: '1' };
}

/** BROKER_TEST_PYTHON, else python3, if it imports authlib; otherwise why not. */
function findPythonWithAuthlib(): { path?: string; reason: string } {
  const candidates = [...new Set([process.env.BROKER_TEST_PYTHON, 'python3'].filter((c): c is string => Boolean(c)))];
  const failures: string[] = [];
  for (const candidate of candidates) {
    try {
      execFileSync(candidate, ['-c', 'import authlib, requests'], { stdio: 'ignore', timeout: PYTHON_TIMEOUT_MS });
      return { path: candidate, reason: '' };
    } catch {
      failures.push(`${candidate} cannot import authlib and requests`);
    }
  }
  return { reason: `${failures.join('; ')}${process.env.BROKER_TEST_PYTHON ? ' (BROKER_TEST_PYTHON)' : ' (BROKER_TEST_PYTHON is unset)'}` };
}
