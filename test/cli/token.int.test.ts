/**
 * `admin token` as a real child process against the development stack: the token alone on
 * stdout (and usable: the Gemini emulator takes it), diagnostics on stderr, the broker's error
 * and exit 1 on a refusal, exit 2 on a command line it cannot run; never a secret in argv or
 * in the output.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { runAdmin, type Run } from '../helpers/admin-cli';
import { closedPort, freePort } from '../helpers/net';
import { clientPolicy, CLIENT_SA, type ClientCredentialsSet } from '../clients/client-fixture';
import { tokenCommand, TokenUsageError } from '../../cli/token';

const GEMINI_CALLER = 'gemini-caller@token-broker-dev.iam.gserviceaccount.com';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const TOKEN_LINE = /^ya29\.[A-Za-z0-9._-]+\n$/;

const silent = () => new Writable({ write: (_chunk, _encoding, done) => done() });
/** The CLI's environment: no BROKER_CLIENT_SECRET of the test runner's, no proxy. */
const cleanEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: process.env.HOME, ...extra });
const admin = (args: string[], input = '', env: NodeJS.ProcessEnv = cleanEnv()) => runAdmin(['token', ...args], input, env);

function expectToken(run: Run): string {
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.stringMatching(/^token: Bearer, expires in \d+ s/m) });
  expect(run.stdout).toMatch(TOKEN_LINE);
  return run.stdout.trimEnd();
}

function expectRefusal(run: Run, pattern: RegExp): void {
  expect(run.code).toBe(1);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(pattern);
}

describe('with the development policy, as npm start runs it', () => {
  let stack: DevStack;
  let port: number;
  let dir: string;
  beforeAll(async () => {
    port = await freePort();
    stack = await startDevStack({ port, issuerPort: port + 1, auditTransport: silent() });
    await stack.broker;
    dir = await mkdtemp(join(tmpdir(), 'token-cli-'));
  }, 30_000);
  afterAll(() => stack?.close());

  const workloadToken = (claims: Record<string, unknown> = {}) =>
    stack.issuer.sign({ sub: 'demo-workload', aud: stack.issuerUrl, repository: 'acme/demo', ...claims });
  async function tokenFile(token: string): Promise<string> {
    const file = join(dir, `${Math.random().toString(36).slice(2)}.jwt`);
    await writeFile(file, token, { mode: 0o600 });
    return file;
  }

  it('--dev: a token from the demo issuer at the broker\'s port + 1, alone on stdout, usable at Gemini', async () => {
    const token = expectToken(await admin(['--dev', '--broker-url', stack.url, '--audience', 'demo-gemini']));
    const issued = stack.google.lookup(token);
    expect(issued).toMatchObject({ kind: 'impersonated', serviceAccount: GEMINI_CALLER });
    const res = await fetch(`${stack.gemini.url}/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent`, {
      method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }),
    });
    expect(res.status).toBe(200);
  });

  it('--subject-token-file with --scope and --lifetime: the narrower, shorter token', async () => {
    const run = await admin(['--broker-url', stack.url, '--allow-insecure-loopback', '--subject-token-file', await tokenFile(await workloadToken()), '--audience', 'demo-gemini', '--scope', CLOUD_PLATFORM, '--lifetime', '300']);
    const issued = stack.google.lookup(expectToken(run));
    expect(issued?.scopes).toEqual([CLOUD_PLATFORM]);
    expect(run.stderr).toMatch(/expires in (29\d|300) s, scope https:\/\/www\.googleapis\.com\/auth\/cloud-platform$/m);
  });

  it('a refusal: exit 1 with the broker\'s error and error_description, nothing on stdout', async () => {
    const stranger = await tokenFile(await workloadToken({ sub: 'someone-else' }));
    const run = await admin(['--broker-url', stack.url, '--allow-insecure-loopback', '--subject-token-file', stranger, '--audience', 'demo-gemini']);
    expectRefusal(run, /^admin: the broker refused \(403\): access_denied: \S.*\n$/);

    const unknownRule = await admin(['--dev', '--broker-url', stack.url, '--audience', 'no-such-rule']);
    expectRefusal(unknownRule, /^subject token: [^\n]*\nadmin: the broker refused \(400\): invalid_target: \S.*\n$/);
  });

  it('a subject token file that is not there: exit 1 before any request', async () => {
    const exchanges = stack.google.requests.length;
    const run = await admin(['--broker-url', stack.url, '--allow-insecure-loopback', '--subject-token-file', join(dir, 'missing.jwt')]);
    expectRefusal(run, /^admin: ERR_SUBJECT_TOKEN_UNAVAILABLE: subject token unavailable: cannot read /);
    expect(stack.google.requests.length).toBe(exchanges);
  });

  it('no broker there: exit 1 after the library\'s retries', async () => {
    const run = await admin(['--broker-url', `http://127.0.0.1:${await closedPort()}`, '--allow-insecure-loopback', '--subject-token-file', await tokenFile(await workloadToken())]);
    expectRefusal(run, /^admin: no answer from the broker at http:\/\/127\.0\.0\.1:\d+ after 4 attempt\(s\)/);
  }, 30_000);
});

describe('client credentials', () => {
  let stack: DevStack;
  let creds: ClientCredentialsSet;
  beforeAll(async () => {
    const policy = await clientPolicy();
    creds = policy.creds;
    stack = await startDevStack({ policyText: policy.text, auditTransport: silent() });
    await stack.broker;
  }, 30_000);
  afterAll(() => stack?.close());

  it('takes the secret from BROKER_CLIENT_SECRET', async () => {
    const run = await admin(['--broker-url', stack.url, '--allow-insecure-loopback', '--client-id', 'reporter', '--audience', 'clients-read'], '', cleanEnv({ BROKER_CLIENT_SECRET: creds.reporterSecret }));
    expect(stack.google.lookup(expectToken(run))).toMatchObject({ serviceAccount: CLIENT_SA });
    expect(run.stderr).not.toContain(creds.reporterSecret);
  });

  it('else from stdin', async () => {
    const run = await admin(['--broker-url', stack.url, '--allow-insecure-loopback', '--client-id', 'reporter'], `${creds.reporterSecret}\n`);
    expect(stack.google.lookup(expectToken(run))).toMatchObject({ serviceAccount: CLIENT_SA });
  });

  it('a wrong secret: exit 1, invalid_client, the secret never echoed', async () => {
    const wrong = creds.retiredSecret;
    const run = await admin(['--broker-url', stack.url, '--allow-insecure-loopback', '--client-id', 'reporter'], wrong);
    expectRefusal(run, /^admin: the broker refused \(401\): invalid_client/);
    expect(run.stderr).not.toContain(wrong);
  });
});

describe('command lines it cannot run: usage errors before any request', () => {
  // In process (a child per case costs seconds); the exit code is checked once, through the CLI.
  const io = { out: () => undefined, err: () => undefined, readSecret: () => Promise.reject(new Error('no stdin here')) };
  const cases: Array<[string, string[], RegExp]> = [
    ['no credential', ['--broker-url', 'https://broker.example.test'], /token needs a credential/],
    ['two credentials', ['--broker-url', 'https://broker.example.test', '--subject-token-file', '/t', '--client-id', 'reporter'], /one credential/],
    ['no broker URL', ['--subject-token-file', '/t'], /needs --broker-url/],
    ['a loopback broker without the flag', ['--broker-url', 'http://127.0.0.1:8080', '--subject-token-file', '/t'], /--allow-insecure-loopback/],
    ['plain http off loopback', ['--broker-url', 'http://broker.example.test', '--allow-insecure-loopback', '--subject-token-file', '/t'], /https URL/],
    ['a broker URL with a query', ['--broker-url', 'https://broker.example.test/?x=1', '--subject-token-file', '/t'], /base URL/],
    ['--demo-issuer-url without --dev', ['--broker-url', 'https://broker.example.test', '--subject-token-file', '/t', '--demo-issuer-url', 'http://127.0.0.1:1'], /goes with --dev/],
    ['--dev off loopback without --demo-issuer-url', ['--dev', '--broker-url', 'https://broker.example.test'], /needs a loopback --broker-url/],
    ['a lifetime under 60 s', ['--dev', '--lifetime', '59'], /--lifetime/],
    ['a lifetime that is not a number', ['--dev', '--lifetime', '1e3'], /--lifetime/],
    ['an option without its value', ['--dev', '--audience'], /--audience needs a value/],
    ['an option twice', ['--dev', '--audience', 'a', '--audience', 'b'], /given twice/],
    ['an unknown option', ['--dev', '--frobnicate'], /unknown option --frobnicate/],
    ['a stray argument', ['--dev', 'demo-gemini'], /unexpected argument/],
  ];
  it.each(cases)('%s', async (_name, args, pattern) => {
    await expect(tokenCommand(args, {}, io)).rejects.toThrow(expect.objectContaining({ constructor: TokenUsageError, message: expect.stringMatching(pattern) }));
  });

  it('refuses a client secret on the command line, without repeating it', async () => {
    for (const args of [['--client-secret', 'tbs_hunter2hunter2'], ['--client-secret=tbs_hunter2hunter2']]) {
      const err = await tokenCommand(['--broker-url', 'https://broker.example.test', '--client-id', 'reporter', ...args], {}, io).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TokenUsageError);
      expect((err as Error).message).toMatch(/shell history/);
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('through the CLI: exit 2, the usage on stderr, nothing on stdout', async () => {
    const run = await admin(['--broker-url', 'https://broker.example.test', '--client-id', 'reporter', '--client-secret=tbs_hunter2hunter2']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^admin: --client-secret is not taken: .*shell history/);
    expect(run.stderr).toContain('Usage: npm run -s admin');
    expect(run.stderr).not.toContain('hunter2');
  });
});
