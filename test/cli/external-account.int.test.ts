/**
 * `admin external-account` end to end: the CLI runs as a real process and writes the file;
 * google-auth-library (GoogleAuth, ExternalAccountClient) loads it and obtains a token from
 * the development broker, with the subject token read from a file, fetched from a loopback
 * token service, or printed by an executable. Usage errors exit 2.
 */
import { chmod, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExternalAccountClient, GoogleAuth, type ExternalAccountClientOptions } from 'google-auth-library';
import type { ExternalAccountConfig } from '../../cli/external-account';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { LineCapture } from '../helpers/capture';
import { runAdmin } from '../helpers/admin-cli';

/** The development policy's rule and its service account. */
const DEMO_RULE = 'demo-gemini';
const DEMO_ACCOUNT = 'gemini-caller@token-broker-dev.iam.gserviceaccount.com';
const ALLOW_EXECUTABLES = 'GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES';

let stack: DevStack;
let dir: string;

beforeAll(async () => {
  stack = await startDevStack({ auditTransport: new LineCapture() });
  await stack.broker;
  dir = await mkdtemp(join(tmpdir(), 'external-account-cli-'));
});
afterAll(() => stack.close());

const run = (args: string[]) => runAdmin(['external-account', ...args]);

const uniqueName = (prefix: string) => join(dir, `${prefix}-${Math.random().toString(36).slice(2)}`);
/** A token of the demo workload, which the development policy's rule grants. */
const demoToken = () => stack.issuer.sign({ sub: 'demo-workload', repository: 'acme/demo', aud: stack.issuerUrl });
/** The broker URL and the flag a loopback broker needs. */
const broker = () => ['--broker-url', `${stack.url}/`, '--allow-insecure-loopback'];

/** The file as google-auth-library loads it (its options type is a union of one shape per source). */
function load(config: ExternalAccountConfig) {
  const client = ExternalAccountClient.fromJSON(config as ExternalAccountClientOptions);
  if (!client) throw new Error('google-auth-library made no client of the file');
  return client;
}

async function expectDemoToken(token: string | null | undefined): Promise<void> {
  expect(token).toMatch(/^ya29\./);
  expect(stack.google.lookup(String(token))).toMatchObject({ kind: 'impersonated', serviceAccount: DEMO_ACCOUNT });
}

it('file source, written with --out (mode 0600, replacing a file): GoogleAuth gets the broker-minted token', async () => {
  const tokenFile = uniqueName('token.jwt');
  await writeFile(tokenFile, await demoToken());
  const credentials = uniqueName('credentials.json');
  await writeFile(credentials, 'an older file', { mode: 0o644 });

  const { code, stdout, stderr } = await run([...broker(), '--audience', stack.issuerUrl, '--token-file', tokenFile, '--out', credentials]);
  expect({ code, stdout }).toEqual({ code: 0, stdout: '' });
  expect(stderr).toContain(`Wrote ${credentials} (mode 0600).`);
  expect((await stat(credentials)).mode & 0o777).toBe(0o600);
  expect(JSON.parse(await readFile(credentials, 'utf8'))).toStrictEqual({
    type: 'external_account',
    audience: stack.issuerUrl,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: `${stack.url}/token`,
    token_info_url: `${stack.url}/v1/introspect`,
    credential_source: { file: tokenFile, format: { type: 'text' } },
  });

  const auth = new GoogleAuth({ keyFile: credentials });
  const { token } = await (await auth.getClient()).getAccessToken();
  await expectDemoToken(token);
});

it('url source: a loopback token service answering {"id_token": …}, with the header, and the rule as audience', async () => {
  const subjectToken = await demoToken();
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id_token: subjectToken, other: 'x' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/id-token?audience=broker`;
    const { code, stdout, stderr } = await run([
      ...broker(), '--audience', DEMO_RULE, '--token-url', url, '--header', 'Authorization: Bearer request-token', '--json-field', 'id_token',
    ]);
    expect(code).toBe(0);
    expect(stderr).toContain('The file holds the --header values');
    const config = JSON.parse(stdout) as ExternalAccountConfig;
    expect(config.credential_source).toStrictEqual({
      url,
      headers: { Authorization: 'Bearer request-token' },
      format: { type: 'json', subject_token_field_name: 'id_token' },
    });

    const { token } = await load(config).getAccessToken();
    await expectDemoToken(token);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.authorization).toBe('Bearer request-token');
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

it(`executable source: refused at runtime unless ${ALLOW_EXECUTABLES}=1, then the broker-minted token`, async () => {
  const subjectToken = await demoToken();
  const response = JSON.stringify({
    version: 1, success: true, token_type: 'urn:ietf:params:oauth:token-type:jwt', id_token: subjectToken,
    expiration_time: Math.floor(Date.now() / 1000) + 300,
  });
  const program = uniqueName('get-token.sh');
  await writeFile(program, `#!/bin/sh\nprintf '%s' '${response}'\n`);
  await chmod(program, 0o755);

  const { code, stdout, stderr } = await run([...broker(), '--audience', stack.issuerUrl, '--executable', `${program} --for broker`, '--executable-timeout-ms', '10000']);
  expect(code).toBe(0);
  expect(stderr).toContain(`${ALLOW_EXECUTABLES}=1`);
  const config = JSON.parse(stdout) as ExternalAccountConfig;
  expect(config.credential_source).toStrictEqual({ executable: { command: `${program} --for broker`, timeout_millis: 10000 } });

  const before = process.env[ALLOW_EXECUTABLES];
  try {
    delete process.env[ALLOW_EXECUTABLES];
    await expect(load(config).getAccessToken()).rejects.toThrow(ALLOW_EXECUTABLES);
    process.env[ALLOW_EXECUTABLES] = '1';
    const { token } = await load(config).getAccessToken();
    await expectDemoToken(token);
  } finally {
    if (before === undefined) delete process.env[ALLOW_EXECUTABLES];
    else process.env[ALLOW_EXECUTABLES] = before;
  }
});

it.each([
  ['no source', () => [...broker(), '--audience', DEMO_RULE], 'needs a subject-token source'],
  ['two sources', () => [...broker(), '--audience', DEMO_RULE, '--token-file', '/t', '--executable', '/t'], 'exclude each other'],
  ['a loopback broker without the flag', () => ['--broker-url', stack.url, '--audience', DEMO_RULE, '--token-file', '/t'], 'add --allow-insecure-loopback'],
  ['a bad header', () => [...broker(), '--audience', DEMO_RULE, '--token-url', 'https://t.example', '--header', 'Authorization Bearer s3cret'], '--header must be Name:value'],
  ['--scopes', () => [...broker(), '--audience', DEMO_RULE, '--token-file', '/t', '--scopes', 'x'], 'scopes are not part of an external_account file'],
])('%s: exit 2, the reason and the usage on stderr, nothing on stdout or in --out', async (_name, args, reason) => {
  const out = uniqueName('never.json');
  const { code, stdout, stderr } = await run([...args(), '--out', out]);
  expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
  expect(stderr).toMatch(/^admin: /);
  expect(stderr).toContain(reason);
  expect(stderr).toContain('Usage: npm run -s admin -- <command> [options]');
  expect(stderr).not.toContain('s3cret');
  await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' });
});

