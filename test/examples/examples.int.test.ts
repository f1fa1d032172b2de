/**
 * The programs in examples/ (examples/README.md), run unmodified as child processes against the
 * development composition (`npm start`'s: startDevStack with the embedded policy, rule
 * demo-gemini) and the loopback Gemini emulator. Each gets an `external_account` file as
 * `admin external-account --allow-insecure-loopback --audience demo-gemini --token-file FILE`
 * writes it (buildExternalAccount), its Google library exchanges the demo issuer's token at the
 * broker, and it calls Gemini. The test then checks that the one generateContent request the
 * emulator saw carried a token the broker issued under demo-gemini: the SHA-256 of its Bearer
 * token is the `tokenSha256` of an `issued` audit entry (shared/fingerprint.ts).
 *
 * What runs where (examples/README.md has the table):
 *   node    always (google-auth-library and @google/genai are the repo's own dependencies).
 *   python  with BROKER_TEST_PYTHON (or python3) importing google.auth and google.genai, as .ci/run makes.
 *   go      with Go 1.24+ on PATH and the Go module proxy reachable (golang.org/x/oauth2 v0.35).
 *           Neither is on these machines: Debian's Go is 1.19 and its x/oauth2 0.3 refuses any
 *           token_url but https://*.sts.googleapis.com. Skipped with the reason.
 *   java    never here: google-auth-library-java with external_account (0.24+) needs Maven
 *           Central, which these machines cannot reach, and it accepts only an https token_url,
 *           which the development broker is not. Skipped with the reason. Where javac and Debian's
 *           libgoogle-auth-java (0.18) are installed, a second test compiles the example against
 *           0.18 and shows that version refusing the file, so the reason is checked, not assumed.
 * Every skip is announced with console.warn, saying what to install.
 */
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildExternalAccount } from '../../cli/external-account';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { startGeminiEmulator, type GeminiEmulator } from '../../dev/gemini-emulator';
import { sha256Fingerprint } from '../../shared/fingerprint';
import { LineCapture } from '../helpers/capture';
import { closedPort } from '../helpers/net';

const EXAMPLES = join(__dirname, '..', '..', 'examples');
/** The embedded development policy's rule for Gemini (dev/dev-policy.template.yaml). */
const RULE = 'demo-gemini';
const SA = 'gemini-caller@token-broker-dev.iam.gserviceaccount.com';
const PROJECT = 'acme-prod';
const LOCATION = 'us-central1';
const MODEL = 'gemini-2.5-flash';
const RUN_TIMEOUT_MS = 60_000;
/** Debian's libgoogle-auth-java 0.18 and what it needs to compile and run the Java example. */
const DEBIAN_JARS = ['google-auth-library-oauth2-http', 'google-auth-library-credentials', 'google-http-client', 'google-http-client-gson', 'gson', 'google-http-client-jackson2', 'jackson-core', 'guava', 'httpclient', 'httpcore', 'commons-logging', 'commons-codec', 'opencensus-api', 'opencensus-contrib-http-util', 'grpc-context', 'jsr305']
  .map((name) => `/usr/share/java/${name}.jar`);

const python = findPython();
const go = findGo();
const javaWithMaven = findJavaWithMaven();
const javaDebian = findJavaDebian();

if (!python.path) warnSkip('python', python.reason, 'python3 -m venv DIR && DIR/bin/pip install --retries 0 -r examples/python/requirements.txt, then BROKER_TEST_PYTHON=DIR/bin/python (.ci/run does this)');
if (!go.ok) warnSkip('go', go.reason, 'Go 1.24+ on PATH and the Go module proxy reachable (go mod download in examples/go); Debian 12 has only Go 1.19 and x/oauth2 0.3, which cannot work');
if (!javaWithMaven.ok) warnSkip('java', javaWithMaven.reason, 'Maven that resolves com.google.auth:google-auth-library-oauth2-http:1.58.0, and the broker behind https (examples/README.md, Java)');
if (!javaDebian.ok) warnSkip('java (Debian 0.18 check)', javaDebian.reason, 'apt-get install -y --no-install-recommends libgoogle-auth-java (and a JDK: javac)');

function warnSkip(example: string, reason: string, install: string): void {
  console.warn(`examples.int.test.ts: the ${example} example is SKIPPED — ${reason}. To run it: ${install}.`);
}

describe('examples/ against the development broker and the Gemini emulator', () => {
  const lines = new LineCapture();
  let stack: DevStack;
  let gemini: GeminiEmulator;
  let dir: string;
  let credentials: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    stack = await startDevStack({ auditTransport: lines });
    await stack.broker;
    gemini = await startGeminiEmulator({ googleEmulator: stack.google });
    dir = await mkdtemp(join(tmpdir(), 'examples-'));
    const tokenFile = join(dir, 'subject.jwt');
    // What `curl http://127.0.0.1:8081/token` gives under `npm start`: the demo workload.
    await writeFile(tokenFile, await stack.issuer.sign({ sub: 'demo-workload', repository: 'acme/demo', aud: stack.issuerUrl }, { ttlSeconds: 600 }));
    credentials = join(dir, 'broker-credentials.json');
    await writeFile(credentials, JSON.stringify(buildExternalAccount({ brokerUrl: stack.url, allowInsecureLoopback: true, audience: RULE, tokenFile })));
    env = childEnv(await closedPort());
  });
  afterAll(async () => {
    await gemini?.close();
    await stack?.close();
    for (const temporary of [dir, go.dir, javaDebian.classes]) if (temporary) await rm(temporary, { recursive: true, force: true });
  });

  /** The example's arguments: the same flags in every language. */
  const args = (prompt: string) => ['--credentials', credentials, '--project', PROJECT, '--location', LOCATION, '--model', MODEL, '--gemini-base-url', gemini.url, '--prompt', prompt];

  /**
   * The example printed Gemini's answer, and the one request Gemini saw carried the token the
   * broker issued to this example's own exchange under demo-gemini. (The broker's cache hands
   * every example the same token, so the match is made among the exchanges of this run.)
   */
  async function expectBrokerTokenAtGemini(result: Run, { gemini: geminiBefore, exchanges: exchangesBefore }: Marks, prompt: string): Promise<void> {
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(result.stdout).toContain(prompt); // the emulator echoes the prompt
    const calls = gemini.requests.slice(geminiBefore);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.path).toMatch(new RegExp(`/projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/${MODEL.replace(/\./g, '\\.')}:generateContent$`));
    const authorization = String(calls[0]?.headers.authorization ?? '');
    expect(authorization).toMatch(/^Bearer \S+$/);
    const token = authorization.slice('Bearer '.length);
    const exchanges = (await exchangesSoFar()).slice(exchangesBefore);
    expect(exchanges.length).toBeGreaterThanOrEqual(1);
    const issued = exchanges.filter((e) => e.tokenSha256 === sha256Fingerprint(token));
    expect(issued.length).toBeGreaterThanOrEqual(1);
    expect(issued[0]).toMatchObject({ outcome: 'issued', principal: { subject: 'demo-workload' }, policy: { ruleId: RULE }, grant: { serviceAccount: SA } });
    expect(stack.google.lookup(token)).toMatchObject({ serviceAccount: SA });
  }

  it('node: google-auth-library (external_account) + @google/genai (Vertex mode)', async () => {
    const before = await marks();
    const prompt = 'Hello from the Node example';
    const result = await run(process.execPath, [join(EXAMPLES, 'node', 'gemini.mjs'), ...args(prompt)], env);
    await expectBrokerTokenAtGemini(result, before, prompt);
  }, RUN_TIMEOUT_MS);

  (python.path ? it : it.skip)('python: google-auth (external_account) + google-genai (Vertex mode)', async () => {
    const before = await marks();
    const prompt = 'Hello from the Python example';
    const result = await run(python.path ?? 'python3', [join(EXAMPLES, 'python', 'gemini.py'), ...args(prompt)], { ...env, PYTHONDONTWRITEBYTECODE: '1' });
    // google-genai logs one advisory about automatic function calling on generate_content calls
    // made with its default config; nothing else may appear.
    result.stderr = result.stderr.split('\n').filter((line) => line !== '' && !line.startsWith('Direct use of automatic function calling (AFC)')).join('\n');
    await expectBrokerTokenAtGemini(result, before, prompt);
  }, RUN_TIMEOUT_MS);

  (go.ok ? it : it.skip)('go: golang.org/x/oauth2/google (external_account) + Vertex REST generateContent', async () => {
    const before = await marks();
    const prompt = 'Hello from the Go example';
    const result = await run(go.binary ?? 'false', args(prompt), env);
    await expectBrokerTokenAtGemini(result, before, prompt);
  }, RUN_TIMEOUT_MS);

  (javaWithMaven.ok ? it : it.skip)('java: google-auth-library-java (external_account) + Vertex REST generateContent', () => {
    // Never reached on these machines: findJavaWithMaven says why.
  });

  (javaDebian.ok ? it : it.skip)('java, Debian 0.18 (why the Java example cannot run here): it compiles, and the library refuses the external_account file', async () => {
    const before = (await exchangesSoFar()).length;
    const result = await run('java', ['-cp', `${javaDebian.classes}:${DEBIAN_JARS.filter(existsSync).join(':')}`, 'example.GeminiExample', ...args('unused')], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/'type' value 'external_account' not recognized/);
    expect((await exchangesSoFar()).length).toBe(before); // it never reached the broker
  }, RUN_TIMEOUT_MS);

  interface Marks { gemini: number; exchanges: number }
  const marks = async (): Promise<Marks> => ({ gemini: gemini.requests.length, exchanges: (await exchangesSoFar()).length });

  async function exchangesSoFar() {
    await stack.audit.flush();
    return lines.entries().filter((e) => e.event === 'token_exchange');
  }
});

interface Run { code: number | null; stdout: string; stderr: string }

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { env, cwd: EXAMPLES, timeout: RUN_TIMEOUT_MS - 5_000, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr: error?.killed ? `${stderr}\n(killed after ${RUN_TIMEOUT_MS - 5_000} ms)` : stderr });
    });
  });
}

/**
 * No proxy, no inherited Google configuration (GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_CLOUD_PROJECT…),
 * and the metadata server, should anything probe it, at a closed loopback port.
 */
function childEnv(closedLoopbackPort: number): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^((https?|all|no)_proxy|GOOGLE_.*|GCE_.*|CLOUDSDK_.*|GEMINI_.*)$/i.test(name)));
  return {
    ...env,
    METADATA_SERVER_DETECTION: 'none',
    GCE_METADATA_HOST: `127.0.0.1:${closedLoopbackPort}`,
    GCE_METADATA_ROOT: `127.0.0.1:${closedLoopbackPort}`,
    GCE_METADATA_IP: `127.0.0.1:${closedLoopbackPort}`,
    NO_PROXY: '127.0.0.1,localhost',
  };
}

function quiet(command: string, args: string[], options: { cwd?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {}): { ok: boolean; output: string } {
  try {
    return { ok: true, output: execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000, ...options }).toString() };
  } catch (error) {
    const e = error as { stdout?: Buffer; stderr?: Buffer; message: string };
    return { ok: false, output: `${e.stderr?.toString() ?? ''}${e.stdout?.toString() ?? ''}`.trim() || e.message };
  }
}

const lastLine = (text: string) => text.trim().split('\n').at(-1) ?? '';

/** BROKER_TEST_PYTHON, else python3, if it imports google.auth and google.genai; otherwise why not. */
function findPython(): { path?: string; reason: string } {
  const candidates = [...new Set([process.env.BROKER_TEST_PYTHON, 'python3'].filter((c): c is string => Boolean(c)))];
  const failures: string[] = [];
  for (const candidate of candidates) {
    if (quiet(candidate, ['-c', 'import google.auth, google.auth.transport.requests, requests; from google import genai']).ok) return { path: candidate, reason: '' };
    failures.push(`${candidate} cannot import google.auth, requests and google.genai`);
  }
  return { reason: `${failures.join('; ')}${process.env.BROKER_TEST_PYTHON ? '' : ' (BROKER_TEST_PYTHON is unset)'}` };
}

/** Go 1.24+ that can fetch examples/go's modules and build it (in a copy: go.sum is written there). */
function findGo(): { ok: boolean; binary?: string; dir?: string; reason: string } {
  const version = quiet('go', ['env', 'GOVERSION']);
  if (!version.ok) return { ok: false, reason: 'go is not on PATH' };
  const [major, minor] = (/^go(\d+)\.(\d+)/.exec(version.output.trim()) ?? []).slice(1).map(Number);
  if (major === undefined || minor === undefined || major < 1 || (major === 1 && minor < 24)) {
    return { ok: false, reason: `${version.output.trim()} is older than the Go 1.24 that golang.org/x/oauth2 v0.35 (examples/go/go.mod) needs` };
  }
  const copy = mkdtempSync(join(tmpdir(), 'examples-go-'));
  cpSync(join(EXAMPLES, 'go'), copy, { recursive: true });
  const tidy = quiet('go', ['mod', 'tidy'], { cwd: copy, timeout: 180_000 });
  if (!tidy.ok) {
    rmSync(copy, { recursive: true, force: true });
    return { ok: false, reason: `go mod tidy could not fetch golang.org/x/oauth2 (${lastLine(tidy.output)})` };
  }
  const build = quiet('go', ['build', '-o', join(copy, 'gemini'), '.'], { cwd: copy, timeout: 180_000 });
  if (!build.ok) return { ok: false, dir: copy, reason: `go build failed: ${lastLine(build.output)}` };
  return { ok: true, binary: join(copy, 'gemini'), dir: copy, reason: '' };
}

/**
 * The Java example needs google-auth-library-java 0.24+ from Maven Central and an https
 * token_url. Neither is here, and this suite does not put a TLS front before the development
 * broker, so it is never run; the reason names what is missing.
 */
function findJavaWithMaven(): { ok: boolean; reason: string } {
  return {
    ok: false,
    reason: 'google-auth-library-java with external_account (0.24+, pinned 1.58.0) comes only from Maven Central, which these machines cannot reach (Debian has 0.18), and it accepts only an https token_url while the development broker listens on plain http',
  };
}

/** javac and Debian's libgoogle-auth-java: the example compiled against 0.18 into a temporary folder. */
function findJavaDebian(): { ok: boolean; classes?: string; reason: string } {
  if (!quiet('javac', ['-version']).ok) return { ok: false, reason: 'javac is not on PATH' };
  const missing = DEBIAN_JARS.slice(0, 6).filter((jar) => !existsSync(jar));
  if (missing.length > 0) return { ok: false, reason: `Debian's libgoogle-auth-java is not installed (${missing.join(', ')} missing)` };
  const classes = mkdtempSync(join(tmpdir(), 'examples-java-'));
  const compile = quiet('javac', ['-d', classes, '-cp', DEBIAN_JARS.filter(existsSync).join(':'), join(EXAMPLES, 'java', 'src', 'main', 'java', 'example', 'GeminiExample.java')], { timeout: 120_000 });
  if (!compile.ok) return { ok: false, classes, reason: `javac failed against Debian's 0.18: ${lastLine(compile.output)}` };
  return { ok: true, classes, reason: '' };
}
