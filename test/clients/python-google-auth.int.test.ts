/**
 * Python's google-auth, unmodified, with an `external_account` file from `admin
 * external-account` (buildExternalAccount, --allow-insecure-loopback) against the development
 * broker and its embedded policy (`npm start`'s composition): test/clients/python/
 * google_auth_external_account.py loads the file with `google.auth.load_credentials_from_file`
 * and refreshes it, which is the RFC 8693 exchange at the file's `token_url`. With google-genai
 * installed the same credentials then call the loopback Gemini emulator in Vertex mode.
 *
 * The child process reaches loopback only: the script refuses any other lookup or connection
 * (a Python audit hook), the metadata server is a closed loopback port, and no proxy applies.
 *
 * The interpreter is BROKER_TEST_PYTHON (a virtual environment with google-auth, requests and
 * google-genai, as .ci/run makes), else `python3` when it can import google.auth and requests.
 * Without either the suite is skipped, saying what to install; without google-genai only the
 * Gemini test is.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildExternalAccount } from '../../cli/external-account';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { startGeminiEmulator, type GeminiEmulator } from '../../dev/gemini-emulator';
import { sha256Fingerprint } from '../../shared/fingerprint';
import { LineCapture } from '../helpers/capture';
import { closedPort } from '../helpers/net';

const SCRIPT = join(__dirname, 'python', 'google_auth_external_account.py');
/** The embedded development policy's demo-gemini rule (dev/dev-policy.template.yaml). */
const RULE = 'demo-gemini';
const SA = 'gemini-caller@token-broker-dev.iam.gserviceaccount.com';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const PYTHON_TIMEOUT_MS = 30_000;

const python = findPython();
if (!python.path) {
  console.warn(`python-google-auth.int.test.ts: SKIPPED — ${python.reason}. Install google-auth: python3 -m venv DIR && DIR/bin/pip install google-auth requests google-genai, then set BROKER_TEST_PYTHON=DIR/bin/python (.ci/run does this).`);
} else if (!python.genai) {
  console.warn(`python-google-auth.int.test.ts: google-genai test SKIPPED — ${python.path} cannot import google.genai. Install it: DIR/bin/pip install google-genai (.ci/run does this).`);
}
const describeWithGoogleAuth = python.path ? describe : describe.skip;
const itWithGenai = python.genai ? it : it.skip;

describeWithGoogleAuth('google-auth (Python) with an external_account file, against the embedded development policy', () => {
  const lines = new LineCapture();
  let stack: DevStack;
  let gemini: GeminiEmulator;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    stack = await startDevStack({ auditTransport: lines });
    await stack.broker;
    gemini = await startGeminiEmulator({ googleEmulator: stack.google });
    dir = await mkdtemp(join(tmpdir(), 'python-google-auth-'));
    env = pythonEnv(await closedPort());
  });
  afterAll(async () => {
    await gemini?.close();
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const exchanges = async () => {
    await stack.audit.flush();
    return lines.entries().filter((e) => e.event === 'token_exchange');
  };

  /** A credential file as `admin external-account` writes it, reading a demo-issuer token with `claims`. */
  async function credentialFile(name: string, claims: Record<string, unknown>): Promise<string> {
    const tokenFile = join(dir, `${name}.jwt`);
    await writeFile(tokenFile, await stack.issuer.sign({ sub: 'demo-workload', repository: 'acme/demo', aud: stack.issuerUrl, ...claims }, { ttlSeconds: 600 }));
    const file = join(dir, `${name}.json`);
    await writeFile(file, JSON.stringify(buildExternalAccount({ brokerUrl: stack.url, allowInsecureLoopback: true, audience: RULE, tokenFile })));
    return file;
  }

  it('refreshes the credentials: the token google-auth holds is one the broker issued under demo-gemini', async () => {
    const result = await runScript([await credentialFile('allowed', {})], env);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    const printed = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(printed).toMatchObject({ credentials_class: 'google.auth.identity_pool.Credentials', access_token: expect.any(String), expiry: expect.any(String) });
    const token = String(printed.access_token);

    const entry = (await exchanges()).find((e) => e.tokenSha256 === sha256Fingerprint(token));
    expect(entry).toMatchObject({
      outcome: 'issued',
      principal: { subject: 'demo-workload' },
      policy: { ruleId: RULE },
      grant: { serviceAccount: SA, scopes: [CLOUD_PLATFORM] },
    });
    expect(stack.google.lookup(token)).toMatchObject({ serviceAccount: SA, scopes: [CLOUD_PLATFORM] });
    // google-auth's expiry is the broker's expires_in: at most the rule's 15 minutes from now.
    const expiresInMs = Date.parse(`${String(printed.expiry)}Z`) - Date.now();
    expect(expiresInMs).toBeGreaterThan(0);
    expect(expiresInMs).toBeLessThanOrEqual(900_000);
  }, 2 * PYTHON_TIMEOUT_MS);

  itWithGenai('google-genai (Vertex mode) calls Gemini with the broker-minted token as its Bearer token', async () => {
    const before = gemini.requests.length;
    const result = await runScript([await credentialFile('gemini', {}), '--gemini-base-url', gemini.url, '--prompt', 'Say hello from Python'], env);
    // google-genai (2.25) logs one advisory about automatic function calling on every
    // models.generate_content call made with its default config; nothing else may appear.
    const stderr = result.stderr.split('\n').filter((line) => line !== '' && !line.startsWith('Direct use of automatic function calling (AFC) in Models.generate_content is not recommended.'));
    expect({ code: result.code, stderr }).toEqual({ code: 0, stderr: [] });
    const printed = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(printed.gemini_text).toContain('Say hello from Python');
    const token = String(printed.access_token);
    expect(printed.access_token_after_gemini).toBe(token);

    const calls = gemini.requests.slice(before);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.path).toMatch(/\/projects\/acme-prod\/locations\/us-central1\/publishers\/google\/models\/gemini-2\.5-flash:generateContent$/);
    expect(calls[0]?.headers.authorization).toBe(`Bearer ${token}`);
    expect((await exchanges()).find((e) => e.tokenSha256 === sha256Fingerprint(token))).toMatchObject({ outcome: 'issued', policy: { ruleId: RULE } });
  }, 2 * PYTHON_TIMEOUT_MS);

  it('a workload the rule does not cover: google-auth raises the broker\'s access_denied, and no token is issued', async () => {
    const before = (await exchanges()).length;
    const result = await runScript([await credentialFile('refused', { repository: 'acme/other' })], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const error = JSON.parse(result.stderr) as { error: string; message: string };
    expect(error.error).toMatch(/^google\.auth\.exceptions\./);
    expect(error.message).toMatch(/access_denied/);
    const after = (await exchanges()).slice(before);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ outcome: 'denied', error: { code: 'access_denied' } });
  }, 2 * PYTHON_TIMEOUT_MS);
});

interface Run { code: number | null; stdout: string; stderr: string }

function runScript(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(python.path ?? 'python3', [SCRIPT, ...args], { env, timeout: PYTHON_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr: error?.killed ? `${stderr}\n(killed after ${PYTHON_TIMEOUT_MS} ms)` : stderr });
    });
  });
}

/**
 * No proxy, no inherited Google configuration (GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_CLOUD_PROJECT…),
 * and the metadata server, should anything probe it, at a closed loopback port.
 */
function pythonEnv(closedLoopbackPort: number): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^((https?|all|no)_proxy|GOOGLE_.*|GCE_.*|CLOUDSDK_.*)$/i.test(name)));
  return {
    ...env,
    METADATA_SERVER_DETECTION: 'none',
    GCE_METADATA_HOST: `127.0.0.1:${closedLoopbackPort}`,
    GCE_METADATA_ROOT: `127.0.0.1:${closedLoopbackPort}`,
    GCE_METADATA_IP: `127.0.0.1:${closedLoopbackPort}`,
    NO_PROXY: '127.0.0.1,localhost',
    PYTHONDONTWRITEBYTECODE: '1',
  };
}

/** BROKER_TEST_PYTHON, else python3, if it imports google.auth and requests (and whether it has google-genai); otherwise why not. */
function findPython(): { path?: string; genai: boolean; reason: string } {
  const candidates = [...new Set([process.env.BROKER_TEST_PYTHON, 'python3'].filter((c): c is string => Boolean(c)))];
  const failures: string[] = [];
  for (const candidate of candidates) {
    try {
      execFileSync(candidate, ['-c', 'import google.auth, google.auth.transport.requests, requests'], { stdio: 'ignore', timeout: PYTHON_TIMEOUT_MS });
    } catch {
      failures.push(`${candidate} cannot import google.auth and requests`);
      continue;
    }
    let genai = true;
    try {
      execFileSync(candidate, ['-c', 'from google import genai'], { stdio: 'ignore', timeout: PYTHON_TIMEOUT_MS });
    } catch {
      genai = false;
    }
    return { path: candidate, genai, reason: '' };
  }
  return { genai: false, reason: `${failures.join('; ')}${process.env.BROKER_TEST_PYTHON ? ' (BROKER_TEST_PYTHON)' : ' (BROKER_TEST_PYTHON is unset)'}` };
}
