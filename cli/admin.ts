/**
 * Operator CLI: makes client secrets and broker API keys, and hashes existing secrets, for
 * the policy file (which holds only hashes); writes `external_account` credential files for
 * Google's client libraries (cli/external-account.ts).
 *
 *     npm run -s admin -- new-client-secret --client <id>
 *     npm run -s admin -- new-api-key --client <id>
 *     npm run -s admin -- hash-secret < secret.txt
 *     npm run -s admin -- external-account --broker-url <url> --audience <rule> --token-file <path>
 *     npm run -s admin -- sessions list --subject <sub>      (cli/sessions.ts)
 *     npm run -s admin -- sessions revoke --subject <sub>
 *     npm run -s admin -- deny add|list|remove ...              (cli/deny.ts)
 *     npm run -s admin -- token --broker-url <url> --audience <rule> <credential>  (cli/token.ts)
 *
 * Output discipline: a new secret is written exactly once, alone on one line of stdout
 * (so `... > file` or a pipe into a secret manager captures it and nothing else). Everything
 * else — the "store it now" warning, the policy snippet (hashes only), errors — goes to
 * stderr and never contains a secret. Arguments are never echoed back unless they are
 * plainly not secrets (a command or option name, a valid client id), and `hash-secret`
 * refuses to take its input from argv, which shell history keeps.
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { stringify as stringifyYaml } from 'yaml';
import { compilePolicy } from '../shared/policy/compile-policy';
import { parsePolicyText } from '../shared/policy/parse-document';
import { PolicyLoadError } from '../shared/policy/policy-error';
import { expandPresets } from '../shared/policy/presets';
import type { PolicyDocument } from '../shared/policy/schema';
import { basename, dirname, join } from 'node:path';
import type { ReadStream } from 'node:tty';
import {
  buildExternalAccount, EXECUTABLE_TIMEOUT_MS, ExternalAccountUsageError, externalAccountNotes, parseExternalAccountArgs,
} from './external-account';
import { API_KEY_PREFIX, generateApiKey, generateClientSecret, isClientSecretFormat, parseApiKey } from '../shared/identity/credential-format';
import { CLIENT_ID_RULE, isValidClientId } from '../shared/identity/client-id';
import { hashSecret } from '../shared/identity/secret-hash';
import { DEFAULTS } from '../shared/config/defaults';

/** Same rule as the policy schema's client ids. */
/** Longest secret hash-secret accepts. */
const MAX_SECRET_LENGTH = DEFAULTS.adminSecretLength.max;
/** Shortest secret hash-secret accepts (generated ones are 47 characters). */
const MIN_SECRET_LENGTH = DEFAULTS.adminSecretLength.min;

const USAGE = `Usage: npm run -s admin -- <command> [options]

Commands:
  new-client-secret --client <id>
      Make a new client secret (client_secret_basic / client_secret_post).
      The secret is printed once on stdout; the policy entry with its hash on stderr.
  new-api-key --client <id>
      Make a new broker API key (sent in the x-goog-api-key header).
      The key is printed once on stdout; the policy entry with its id and hash on stderr.
  hash-secret
      Read one secret from stdin (not echoed on a terminal; never from the command
      line, which shell history keeps) and print its hash on stdout. Given a broker
      API key (tbk_...), hashes its secret part, which is what the broker verifies.
  external-account --broker-url <url> --audience <rule id | issuer URL> <source> [--out <file>]
      Print an external_account credential file (JSON) for Google's client libraries,
      whose token exchange goes to the broker at <url>/token. <source>, exactly one of:
        --token-file <absolute path> [--json-field <name>]
        --token-url <url> [--header 'Name: value' ...] [--json-field <name>]
        --executable '<absolute path> [arguments]'
            [--executable-timeout-ms <${EXECUTABLE_TIMEOUT_MS.min}-${EXECUTABLE_TIMEOUT_MS.max}, default ${EXECUTABLE_TIMEOUT_MS.default}>] [--executable-output-file <absolute path>]
      --json-field <name>: the token is this top-level field of a JSON document (default:
        the whole text). --allow-insecure-loopback: accept a loopback broker URL, over
        http too (a development broker). --out <file>: write the file (mode 0600) instead
        of stdout. Notes for the reader go to stderr.
  policy expand <policy file>
      Print the policy (YAML) with every preset written out as the settings it stands for
      (issuer presets firebase and google; grant presets gemini-vertex and
      gemini-developer-api). Exit 1, naming each problem, when the file does not load.
  policy validate <policy file> [--json]
      Every problem the broker would refuse the file for, one line each as
      file:line:column: path: reason (--json: an array of {path, line, column, message});
      else "ok: N rules, M issuers, policy version V". No network I/O.
  policy explain <policy file> (--token <jwt|@file|-> | --claims <json|@file|->)
          [--audience <a>] [--scope '<s> ...'] [--client <id>] [--client-auth <method>] [--broker-url <url>]
      Per rule: issuer, audience, each clause of the condition with its value, scopes
      and limits; then the rule chosen and the grant it would issue. Nothing is minted.
      --token verifies the token (fetching the issuer's keys); --claims skips that.
  policy test <policy file> <cases file>
      Run table-driven cases (docs/examples/policy-tests.yaml): PASS/FAIL per case.
  policy diff <old policy file> <new policy file>
      Rules added, removed, reordered and changed (field by field), issuers and clients
      added, removed and changed, and both policy versions.
      validate, explain, test and diff load policies as production does; give
      --allow-insecure-loopback for a development policy. Exit 1: the policy does not
      load, a case failed, or the token does not verify.
  sessions list [--subject <sub>] [--app <id>] [--handle <handle>] [--limit <n>] [--json]
      List users' live web-app sessions matching every option given (at least one):
      handle, app, subject, email, created, expires, last refresh; never a token.
      --json: one JSON document instead of tab-separated lines. --limit: at most
      <n> sessions (1-1000, default 100).
  sessions revoke (--handle <handle> | --subject <sub> [--app <id>]) [--no-upstream]
      Delete the session <handle>, or every session of <sub> (of app <id> only),
      then revoke each one's refresh token at its app's provider (RFC 7009) unless
      --no-upstream. One line per session and the counts on stdout; one audit entry
      (event operator_action) per session on stderr. Exit 1 when any upstream
      revocation failed: the sessions are deleted all the same.
      Both read the broker's environment (BROKER_POLICY_FILE, BROKER_MODE,
      BROKER_CACHE=firestore and its key, BROKER_FIRESTORE_PROJECT, ...).
  deny add <selector> --reason <text> [--expires <ISO 8601> | --for <30m|2h|7d>] [--by <name>] [--revoke-sessions]
      Refuse matching requests (403 access_denied, reason denied_by_operator) on every
      instance within seconds, and purge the shared cache of a subject's, rule's or
      policy version's tokens. <selector>, exactly one of:
        --subject <issuer> <subject> | --claim <name>=<value> (top-level, exact string)
        --client <id> | --api-key <id> | --rule <id> | --service-account <email>
        --policy-version <version>
      --revoke-sessions (with --subject): also revoke that user's web-app sessions,
      upstream too, as sessions revoke --subject does. The same selector again replaces
      the entry (reason, expiry).
  deny list [--json]
      Every entry: id, live or expired, selector, created, expires, by, reason.
  deny remove <id>
      Remove an entry: matching requests are served again within seconds.
      deny reads the broker's environment like sessions (BROKER_CACHE=firestore); each
      change is one audit entry (event operator_action, action deny_added / deny_removed)
      on stderr. See docs/operations.md.
  token (--broker-url <url> [--allow-insecure-loopback] | --dev) <credential>
          [--audience <rule id | service account | issuer URL>] [--scope '<s> ...'] [--lifetime <seconds>]
      Print an access token from the broker on stdout (and only that: for scripts and
      Postman, like gcloud auth print-access-token); what it is on stderr. <credential>:
        --subject-token-file <path>   an OIDC token to exchange (RFC 8693)
        --client-id <id>              client_credentials; the secret from BROKER_CLIENT_SECRET,
                                      else stdin (hidden on a terminal), never from argv
        --dev                         a broker run by npm start: --broker-url defaults to
                                      http://127.0.0.1:8080 and, without another credential,
                                      the token comes from its demo issuer (port + 1, or
                                      --demo-issuer-url <url>)
      Retries as the client library does (network errors, 429, 503). Exit 1 with the
      broker's error and error_description when it refuses.
  --help
      Show this help.

Exit status: 0 done, 1 failed, 2 usage error.
`;

class UsageError extends Error {}
class CliError extends Error {}

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const STORE_NOW = (what: string) =>
  `Store this ${what} now (stdout, one line): it cannot be shown again — the policy keeps only its hash.\n`;

/** Seconds-precision UTC ISO 8601, e.g. 2026-01-31T12:00:00Z. */
function isoNow(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A YAML double-quoted scalar (JSON string syntax is valid YAML). */
const quote = (value: string) => JSON.stringify(value);

function parseClientOption(command: string, args: string[]): string {
  let client: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    let value: string | undefined;
    if (arg === '--client') {
      value = args[++i];
      if (value === undefined) throw new UsageError('--client needs a value');
    } else if (arg.startsWith('--client=')) {
      value = arg.slice('--client='.length);
    } else {
      throw new UsageError(/^--?[a-z][a-z-]{0,30}$/.test(arg) ? `${command}: unknown option ${arg}` : `${command}: unexpected argument`);
    }
    if (client !== undefined) throw new UsageError('--client given twice');
    if (!isValidClientId(value)) throw new UsageError(`--client must be a client id: ${CLIENT_ID_RULE}`);
    client = value;
  }
  if (client === undefined) throw new UsageError(`${command} needs --client <id>`);
  return client;
}

async function newClientSecret(args: string[], io: Io): Promise<void> {
  const client = parseClientOption('new-client-secret', args);
  const secret = generateClientSecret();
  const hash = await hashSecret(secret);
  io.err(STORE_NOW(`client secret for ${quote(client)}`));
  io.out(`${secret}\n`);
  io.err(
    `# Add to client ${quote(client)} in the policy (at most two secrets: keep the old one until clients have switched):\n`
    + `secrets:\n  - { hash: ${quote(hash)}, created: ${quote(isoNow())} }\n`,
  );
}

async function newApiKey(args: string[], io: Io): Promise<void> {
  const client = parseClientOption('new-api-key', args);
  const { key, id } = generateApiKey();
  const parsed = parseApiKey(key);
  if (!parsed) throw new CliError('generated an API key that does not parse (bug)');
  const hash = await hashSecret(parsed.secret);
  io.err(STORE_NOW(`API key for ${quote(client)}`));
  io.out(`${key}\n`);
  io.err(
    `# Add to client ${quote(client)} in the policy (the id is public: it names the key in logs and audit entries):\n`
    + `api_keys:\n  - { id: ${quote(id)}, hash: ${quote(hash)}, created: ${quote(isoNow())} }\n`,
  );
}

/**
 * Reads one line per prompt from a terminal without echoing them. Echo is off from before
 * the first prompt until after the last line, so nothing typed ahead is ever echoed.
 */
async function readHiddenLines(stdin: ReadStream, prompts: string[], io: Io): Promise<string[]> {
  const lines: string[] = [];
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  try {
    io.err(prompts[0] ?? '');
    await new Promise<void>((resolve, reject) => {
      let chars: string[] = [];
      let previous = '';
      const finish = (error?: Error) => {
        stdin.off('data', onData);
        chars = [];
        if (error) {
          io.err('\n');
          reject(error);
        } else {
          resolve();
        }
      };
      const onData = (chunk: string) => {
        for (const ch of chunk) {
          const afterCr = previous === '\r';
          previous = ch;
          if (ch === '\n' && afterCr) continue; // CR LF: one line end
          if (ch === '\r' || ch === '\n') {
            lines.push(chars.join(''));
            chars = [];
            io.err('\n');
            if (lines.length === prompts.length) return finish();
            io.err(prompts[lines.length] ?? '');
            continue;
          }
          if (ch === '\u0003') return finish(new CliError('interrupted'));
          if (ch === '\u0004') {
            if (chars.length === 0) return finish(new CliError('no secret given'));
            continue;
          }
          if (ch === '\u007f' || ch === '\b') {
            chars.pop();
            continue;
          }
          if (ch === '\u001b') return; // an escape sequence (arrow keys...): drop the rest of the chunk
          if (ch < ' ') continue;
          chars.push(ch);
          if (chars.length > MAX_SECRET_LENGTH) return finish(new CliError(`the secret is longer than ${MAX_SECRET_LENGTH} characters`));
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
  return lines;
}

/** Reads all of a piped stdin (bounded), as strict UTF-8, minus one final line break. */
async function readPipedSecret(): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk), 'utf8');
    total += bytes.length;
    if (total > 4 * MAX_SECRET_LENGTH + 2) {
      process.stdin.destroy();
      throw new CliError(`the secret is longer than ${MAX_SECRET_LENGTH} characters`);
    }
    chunks.push(bytes);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new CliError('stdin is not valid UTF-8');
  }
  return text.replace(/\r?\n$/, '');
}

async function hashSecretCommand(args: string[], io: Io): Promise<void> {
  if (args.length > 0) {
    throw new UsageError('hash-secret takes no arguments: it reads the secret from stdin, never from the command line (shell history keeps it)');
  }
  let secret: string;
  if (process.stdin.isTTY) {
    const [first = '', again = ''] = await readHiddenLines(process.stdin as ReadStream, ['Secret (not echoed): ', 'Again: '], io);
    if (again !== first) throw new CliError('the two entries differ');
    secret = first;
  } else {
    secret = await readPipedSecret();
  }
  if (secret.length === 0) throw new CliError('no secret on stdin');
  if (secret.length > MAX_SECRET_LENGTH) throw new CliError(`the secret is longer than ${MAX_SECRET_LENGTH} characters`);
  if (/[\u0000-\u001f\u007f]/.test(secret)) throw new CliError('the secret contains a line break or another control character (one line expected)');
  if (/^\s|\s$/.test(secret)) throw new CliError('the secret starts or ends with whitespace (a copy-and-paste accident?)');

  if (secret.startsWith(API_KEY_PREFIX)) {
    const key = parseApiKey(secret);
    if (!key) throw new CliError('the input starts with tbk_ but is not a well-formed broker API key');
    const hash = await hashSecret(key.secret);
    io.out(`${hash}\n`);
    io.err(
      `# A broker API key with id ${quote(key.id)}: the hash above is of its secret part, which is what the broker verifies.\n`
      + `api_keys:\n  - { id: ${quote(key.id)}, hash: ${quote(hash)}, created: ${quote(isoNow())} }\n`,
    );
    return;
  }
  if (secret.length < MIN_SECRET_LENGTH) throw new CliError(`the secret is shorter than ${MIN_SECRET_LENGTH} characters: too guessable`);
  const hash = await hashSecret(secret);
  io.out(`${hash}\n`);
  if (!isClientSecretFormat(secret)) {
    io.err('# Note: not a secret made by new-client-secret (tbs_...): secret scanners will not recognise it if it leaks.\n');
  }
  io.err(`secrets:\n  - { hash: ${quote(hash)}, created: ${quote(isoNow())} }\n`);
}

async function externalAccount(args: string[], io: Io): Promise<void> {
  let built: { text: string; notes: string[]; out: string | undefined };
  try {
    const { options, out } = parseExternalAccountArgs(args);
    const config = buildExternalAccount(options);
    built = { text: `${JSON.stringify(config, null, 2)}\n`, notes: externalAccountNotes(config), out };
  } catch (err) {
    if (err instanceof ExternalAccountUsageError) throw new UsageError(err.message);
    throw err;
  }
  if (built.out === undefined) {
    io.out(built.text);
  } else {
    await writePrivateFile(built.out, built.text);
    io.err(`Wrote ${built.out} (mode 0600).\n`);
  }
  for (const note of built.notes) io.err(`${note}\n`);
}

/**
 * Writes `text` to `path` with mode 0600, whatever the umask and whether or not the file
 * existed: a new file beside it, then a rename over it.
 */
async function writePrivateFile(path: string, text: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temporary, text, { mode: 0o600, flag: 'wx' });
    await chmod(temporary, 0o600);
    await rename(temporary, path);
  } catch (err) {
    await rm(temporary, { force: true }).catch(() => undefined);
    const errorCode = (err as { code?: unknown } | null)?.code;
    throw new CliError(`cannot write ${path}${typeof errorCode === 'string' ? ` (${errorCode})` : ''}`);
  }
}

const COMMANDS: Record<string, (args: string[], io: Io) => Promise<void>> = {
  'new-client-secret': newClientSecret,
  'new-api-key': newApiKey,
  'hash-secret': hashSecretCommand,
  'external-account': externalAccount,
  policy: policyCommand,
  sessions,
  deny,
  token,
};

/** `token` (cli/token.ts), loaded on use: it brings the client library. */
async function token(args: string[], io: Io): Promise<void> {
  const { TokenFailure, TokenUsageError, tokenCommand } = require('./token') as typeof import('./token');
  const readSecret = async (prompt: string): Promise<string> =>
    process.stdin.isTTY ? ((await readHiddenLines(process.stdin as ReadStream, [prompt], io))[0] ?? '') : readPipedSecret();
  try {
    await tokenCommand(args, process.env, { ...io, readSecret });
  } catch (err) {
    if (err instanceof TokenUsageError) throw new UsageError(err.message);
    if (err instanceof TokenFailure) throw new CliError(err.message);
    throw err;
  }
}

/** `deny add|list|remove` (cli/deny.ts), with this process's environment as the broker's; loaded on use. */
async function deny(args: string[], io: Io): Promise<void> {
  const { DenyFailure, DenyUsageError, denyCommand } = require('./deny') as typeof import('./deny');
  try {
    await denyCommand(args, process.env, io);
  } catch (err) {
    if (err instanceof DenyUsageError) throw new UsageError(err.message);
    if (err instanceof DenyFailure) throw new CliError(err.message);
    throw err;
  }
}

/**
 * `sessions list|revoke` (cli/sessions.ts), with this process's environment as the broker's.
 * Loaded on use: it brings the broker's state and provider clients, which the other commands do not need.
 */
async function sessions(args: string[], io: Io): Promise<void> {
  const { SessionsFailure, SessionsUsageError, sessionsCommand } = require('./sessions') as typeof import('./sessions');
  try {
    await sessionsCommand(args, process.env, io);
  } catch (err) {
    if (err instanceof SessionsUsageError) throw new UsageError(err.message);
    if (err instanceof SessionsFailure) throw new CliError(err.message);
    throw err;
  }
}

/** `policy validate|explain|test|diff` (cli/policy-tools.ts), loaded on use. */
async function policyTools(sub: string, args: string[], io: Io): Promise<void> {
  const { isPolicyTool, policyTool, PolicyToolFailure, PolicyToolUsageError } = require('./policy-tools') as typeof import('./policy-tools');
  if (!isPolicyTool(sub)) throw new UsageError('unknown policy subcommand');
  try {
    await policyTool(sub, args, io);
  } catch (err) {
    if (err instanceof PolicyToolUsageError) throw new UsageError(err.message);
    if (err instanceof PolicyToolFailure) throw new CliError(err.message);
    throw err;
  }
}

/** `policy expand FILE`: the document, presets expanded, after the same checks the broker makes at load. */
async function policyCommand(args: string[], io: Io): Promise<void> {
  const [sub, file, ...rest] = args;
  if (sub !== 'expand' && sub !== undefined && ['validate', 'explain', 'test', 'diff'].includes(sub)) return policyTools(sub, args.slice(1), io);
  if (sub !== 'expand') throw new UsageError(sub === undefined ? 'policy needs a subcommand: expand, validate, explain, test or diff' : 'policy knows the subcommands expand, validate, explain, test and diff');
  if (file === undefined || rest.length > 0) throw new UsageError('policy expand takes one policy file');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the policy file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let document: PolicyDocument;
  try {
    document = parsePolicyText(text, file);
    compilePolicy(document, { source: file, network: { allowInsecureLoopback: true } });
  } catch (err) {
    if (err instanceof PolicyLoadError) throw new CliError(err.message);
    throw err;
  }
  io.out(stringifyYaml(expandPresets(document)));
  if (document.issuers.some((issuer) => issuer.preset === 'firebase')) {
    io.err('note: preset firebase also requires a valid auth_time claim, which no explicit setting expresses: keep the preset to keep that check\n');
  }
}

async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...args] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    io.out(USAGE);
    return 0;
  }
  try {
    if (command === undefined) throw new UsageError('no command given');
    const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!run) throw new UsageError(/^[a-z][a-z-]{0,30}$/.test(command) ? `unknown command ${command}` : 'unknown command');
    if (args.includes('--help') || args.includes('-h')) {
      io.out(USAGE);
      return 0;
    }
    await run(args, io);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`admin: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof CliError) {
      io.err(`admin: ${err.message}\n`);
      return 1;
    }
    // Unexpected: name the failure without any message that might quote input.
    const errorCode = (err as { code?: unknown } | null)?.code;
    const code = typeof errorCode === 'string' ? ` ${errorCode}` : '';
    io.err(`admin: failed (${err instanceof Error ? err.name : 'non-error thrown'}${code})\n`);
    return 1;
  }
}

main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}).then((code) => {
  process.exitCode = code;
});
