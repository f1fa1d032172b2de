/**
 * The operator CLI, run as a real process: what goes to stdout (the new secret, once, or a
 * hash), what goes to stderr (warnings and policy snippets, never a secret), exit codes,
 * and that every printed hash verifies the printed secret.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { ClientSchema } from '../../shared/policy/schema';
import { CLIENT_SECRET_PATTERN, generateApiKey, generateClientSecret, parseApiKey } from '../../shared/identity/credential-format';
import { parseSecretHash, verifySecret } from '../../shared/identity/secret-hash';
import { runAdmin } from '../helpers/admin-cli';

const ROOT = join(__dirname, '..', '..');
const CLI = ['node_modules/tsx/dist/cli.mjs', 'cli/admin.ts'];

const run = (args: string[], input: string | Buffer = '') => runAdmin(args, input);

/** The YAML snippet on stderr: from the line starting with `key:` to the end. */
function snippet(stderr: string, key: 'secrets' | 'api_keys'): Record<string, Array<Record<string, string>>> {
  const start = stderr.search(new RegExp(`^${key}:`, 'm'));
  expect(start).toBeGreaterThanOrEqual(0);
  return parseYaml(stderr.slice(start)) as Record<string, Array<Record<string, string>>>;
}

function expectRecentIso(created: string | undefined): void {
  expect(created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  expect(Math.abs(Date.parse(created ?? '') - Date.now())).toBeLessThan(60_000);
}

/** A secret never appears on stderr, in clear or as its base64url body. */
function expectNotIn(text: string, secret: string): void {
  expect(text).not.toContain(secret);
  expect(text).not.toContain(secret.slice(-40));
}

it('--help prints the usage on stdout and exits 0', async () => {
  const { code, stdout, stderr } = await run(['--help']);
  expect(code).toBe(0);
  expect(stdout).toContain('Usage: npm run -s admin -- <command>');
  for (const command of ['new-client-secret --client <id>', 'new-api-key --client <id>', 'hash-secret', '--help']) expect(stdout).toContain(command);
  expect(stderr).toBe('');
});

it('new-client-secret prints the secret once on stdout and a policy entry holding its hash on stderr', async () => {
  const { code, stdout, stderr } = await run(['new-client-secret', '--client', 'acme-ci']);
  expect(code).toBe(0);
  const lines = stdout.split('\n');
  expect(lines).toHaveLength(2);
  expect(lines[1]).toBe('');
  const secret = lines[0] ?? '';
  expect(secret).toMatch(CLIENT_SECRET_PATTERN);
  expect(stderr).toMatch(/store this client secret for "acme-ci" now.*it cannot be shown again/i);
  expectNotIn(stderr, secret);

  const entry = snippet(stderr, 'secrets');
  expect(entry.secrets).toHaveLength(1);
  const { hash = '', created } = entry.secrets?.[0] ?? {};
  expect(hash).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$/);
  expectRecentIso(created);
  const parsed = parseSecretHash(hash);
  expect(await verifySecret(secret, parsed)).toBe(true);
  expect(await verifySecret(generateClientSecret(), parsed)).toBe(false);
  // The snippet is exactly what the policy schema accepts for a client.
  expect(ClientSchema.safeParse({ id: 'acme-ci', ...entry }).success).toBe(true);
});

it('new-api-key prints the key once on stdout and a policy entry with its public id and hash on stderr', async () => {
  const { code, stdout, stderr } = await run(['new-api-key', '--client=acme-web']);
  expect(code).toBe(0);
  const [key = '', rest] = stdout.split('\n');
  expect(rest).toBe('');
  const parsedKey = parseApiKey(key);
  expect(parsedKey).toBeDefined();
  expect(stderr).toMatch(/store this API key for "acme-web" now.*it cannot be shown again/i);
  expectNotIn(stderr, parsedKey?.secret ?? 'missing');

  const entry = snippet(stderr, 'api_keys');
  expect(entry.api_keys).toHaveLength(1);
  const { id, hash = '', created } = entry.api_keys?.[0] ?? {};
  expect(id).toBe(parsedKey?.id);
  expectRecentIso(created);
  // The hash covers the key's secret part (what the broker verifies after finding the entry by id).
  const parsed = parseSecretHash(hash);
  expect(await verifySecret(parsedKey?.secret ?? '', parsed)).toBe(true);
  expect(await verifySecret(key, parsed)).toBe(false);
  expect(ClientSchema.safeParse({ id: 'acme-web', ...entry }).success).toBe(true);
});

it('hash-secret reads the secret from stdin and prints only its hash on stdout', async () => {
  const secret = generateClientSecret();
  const { code, stdout, stderr } = await run(['hash-secret'], `${secret}\n`);
  expect(code).toBe(0);
  const [hash = '', rest] = stdout.split('\n');
  expect(rest).toBe('');
  expect(await verifySecret(secret, parseSecretHash(hash))).toBe(true);
  expectNotIn(stderr, secret);
  expect(snippet(stderr, 'secrets').secrets?.[0]?.hash).toBe(hash);
  expect(stderr).not.toContain('Note:'); // a generated secret draws no remark
});

it('hash-secret takes a CRLF line and any secret of 16+ characters, noting one scanners will not recognise', async () => {
  const secret = 'an-imported-legacy-secret-1234';
  const { code, stdout, stderr } = await run(['hash-secret'], `${secret}\r\n`);
  expect(code).toBe(0);
  expect(await verifySecret(secret, parseSecretHash(stdout.trim()))).toBe(true);
  expect(stderr).toContain('not a secret made by new-client-secret');
  expectNotIn(stderr, secret);
});

it('hash-secret given an API key hashes its secret part and names its id', async () => {
  const { key, id } = generateApiKey();
  const secret = parseApiKey(key)?.secret ?? '';
  const { code, stdout, stderr } = await run(['hash-secret'], key);
  expect(code).toBe(0);
  const hash = stdout.trim();
  expect(await verifySecret(secret, parseSecretHash(hash))).toBe(true);
  expect(snippet(stderr, 'api_keys').api_keys?.[0]).toMatchObject({ id, hash });
  expectNotIn(stderr, secret);
});

const refusedInput: Array<[string, string | Buffer, string]> = [
  ['empty stdin', '', 'no secret on stdin'],
  ['a bare newline', '\n', 'no secret on stdin'],
  ['two lines', 'first-line-of-secret\nsecond-line-of-secret\n', 'the secret contains a line break or another control character'],
  ['a tab', 'a-secret-with\ta-tab-inside', 'the secret contains a line break or another control character'],
  ['leading whitespace', ' a-secret-with-a-leading-space', 'the secret starts or ends with whitespace'],
  ['a short secret', 'short-secret', 'the secret is shorter than 16 characters'],
  ['an overlong secret', 'x'.repeat(1025), 'the secret is longer than 1024 characters'],
  ['a huge input', 'x'.repeat(100_000), 'the secret is longer than 1024 characters'],
  ['invalid UTF-8', Buffer.from([0x61, 0xff, 0x62]), 'stdin is not valid UTF-8'],
  ['a malformed API key', `tbk_${'a'.repeat(12)}_tooshort`, 'the input starts with tbk_ but is not a well-formed broker API key'],
];
it.each(refusedInput)('hash-secret refuses %s (exit 1)', async (_name, input, message) => {
  const { code, stdout, stderr } = await run(['hash-secret'], input);
  expect(code).toBe(1);
  expect(stdout).toBe('');
  expect(stderr).toContain(`admin: ${message}`);
  if (typeof input === 'string' && input.trim() !== '' && input.length < 100) expect(stderr).not.toContain(input.trim());
});

it('hash-secret refuses a secret on the command line (exit 2) without echoing it', async () => {
  const secret = generateClientSecret();
  const { code, stdout, stderr } = await run(['hash-secret', secret], `${secret}\n`);
  expect(code).toBe(2);
  expect(stdout).toBe('');
  expect(stderr).toContain('reads the secret from stdin, never from the command line');
  expect(stderr).toContain('Usage:');
  expectNotIn(stderr, secret);
});

const usageErrors: Array<[string, string[], string]> = [
  ['no command', [], 'no command given'],
  ['an unknown command', ['rotate-everything'], 'unknown command rotate-everything'],
  ['a secret typed as a command, unechoed', ['tbs_ThisLooksLikeASecretValue0123456789abcdefgh'], 'unknown command\n'],
  ['a missing --client', ['new-client-secret'], 'new-client-secret needs --client <id>'],
  ['--client without a value', ['new-api-key', '--client'], '--client needs a value'],
  ['--client twice', ['new-api-key', '--client', 'a', '--client', 'b'], '--client given twice'],
  ['an invalid client id, unechoed', ['new-client-secret', '--client', 'has space'], '--client must be a client id'],
  ['a URL as client id', ['new-client-secret', '--client', 'https://example.com'], '--client must be a client id'],
  ['an unknown option', ['new-client-secret', '--client', 'a', '--force'], 'new-client-secret: unknown option --force'],
  ['a stray argument, unechoed', ['new-api-key', '--client', 'a', 'tbs_Stray'], 'new-api-key: unexpected argument\n'],
];
it.each(usageErrors)('exits 2 with the usage on %s', async (_name, args, message) => {
  const { code, stdout, stderr } = await run(args);
  expect(code).toBe(2);
  expect(stdout).toBe('');
  expect(stderr).toContain(`admin: ${message}`);
  expect(stderr).toContain('Usage: npm run -s admin -- <command>');
  expect(stderr).not.toContain('tbs_');
  expect(stderr).not.toContain('has space');
});

/** util-linux `script` gives the CLI a real terminal; skipped where it is missing. */
const hasScript = /util-linux/.test(spawnSync('script', ['--version'], { encoding: 'utf8' }).stdout ?? '');
(hasScript ? it : it.skip)('hash-secret on a terminal asks twice without echoing', async () => {
  const secret = generateClientSecret();
  const child = spawn('script', ['-qefc', `${JSON.stringify(process.execPath)} ${CLI.join(' ')} hash-secret`, '/dev/null'], { cwd: ROOT });
  let output = '';
  let sent = false;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    output += d;
    // Everything at once as soon as the first prompt shows: typing ahead must not echo either.
    if (!sent && output.includes('Secret (not echoed): ')) {
      sent = true;
      child.stdin.write(`${secret}\r${secret}\r`);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(code).toBe(0);
  expect(output).toContain('Again: ');
  expectNotIn(output, secret);
  const hash = /^(\$scrypt\$\S+)\r?$/m.exec(output)?.[1] ?? '';
  expect(await verifySecret(secret, parseSecretHash(hash))).toBe(true);
});

describe('policy expand', () => {
  it('prints the policy with its presets written out', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'policy-expand-'));
    const file = join(dir, 'policy.yaml');
    await writeFile(file, `version: 1
issuers:
  - preset: firebase
    project_id: acme-voice
rules:
  - id: voice
    issuer: https://securetoken.google.com/acme-voice
    condition: "true"
    grant: { service_account: voice@acme-prod.iam.gserviceaccount.com, preset: gemini-developer-api }
`);
    const { code, stdout, stderr } = await runAdmin(['policy', 'expand', file]);
    expect(code).toBe(0);
    const expanded = parseYaml(stdout) as { issuers: Array<Record<string, unknown>>; rules: Array<{ grant: Record<string, unknown> }> };
    expect(expanded.issuers[0]).toEqual({
      issuer: 'https://securetoken.google.com/acme-voice', audiences: ['acme-voice'], algorithms: ['RS256'], browser: true,
      jwks_uri: 'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com',
    });
    expect(expanded.rules[0]?.grant).toEqual({ service_account: 'voice@acme-prod.iam.gserviceaccount.com', scopes: ['https://www.googleapis.com/auth/generative-language'] });
    expect(stderr).toContain('auth_time');
  });

  it('exits 1 naming each problem of a policy that does not load, and 2 on a usage error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'policy-expand-'));
    const file = join(dir, 'policy.yaml');
    await writeFile(file, 'version: 1\nrules: []\n');
    const bad = await runAdmin(['policy', 'expand', file]);
    expect({ code: bad.code, stdout: bad.stdout }).toEqual({ code: 1, stdout: '' });
    expect(bad.stderr).toContain('rules');
    expect((await runAdmin(['policy'])).code).toBe(2);
    expect((await runAdmin(['policy', 'explain', file])).code).toBe(2);
  });
});
