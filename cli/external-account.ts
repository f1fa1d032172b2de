/**
 * `admin external-account`: an `external_account` credential configuration — the file format
 * of Google's workload identity federation — whose token exchange goes to the broker, so that
 * Google's client libraries (Python google-auth, Node.js google-auth-library, gcloud) obtain
 * broker-minted tokens with no broker code on the client.
 *
 *     parseExternalAccountArgs(argv)  →  { options, out }     command-line syntax only
 *     buildExternalAccount(options)   →  the JSON document    every check of the values
 *     externalAccountNotes(config)    →  lines for stderr     what the reader must know
 *
 * The document holds exactly the fields Google's libraries read, in their shapes
 * (google-auth-library's IdentityPoolClientOptions and PluggableAuthClientOptions; gcloud's
 * `iam workload-identity-pools create-cred-config` writes the same): `type`, `audience`,
 * `subject_token_type`, `token_url`, `token_info_url` (the broker's RFC 7662 introspection,
 * where gcloud learns the account name `gcloud auth list` shows) and `credential_source`.
 * Never `service_account_impersonation_url` (the broker's answer already is the service
 * account's token), never scopes (the application asks for them).
 *
 * Pure: no file system, no network. Every refusal is an ExternalAccountUsageError with a code;
 * its message names options, never a value that might be secret (a header, a URL).
 */
import { posix, win32 } from 'node:path';
import { isLoopbackHost } from '../shared/config/network-policy';
import { GrantSchema, RuleSchema } from '../shared/policy/schema';

export const SUBJECT_TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
/** google-auth-library and google-auth (Python) refuse timeouts outside 5 s–2 min; 30 s is their default. */
export const EXECUTABLE_TIMEOUT_MS = { min: 5_000, max: 120_000, default: 30_000 } as const;
/** Without this variable set to 1, Google's libraries refuse to run an executable source. */
export const ALLOW_EXECUTABLES_ENV = 'GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES';
/** The scope Google's libraries ask for when the application names none. */
export const DEFAULT_CLIENT_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

export type SubjectTokenFormat = { type: 'text' } | { type: 'json'; subject_token_field_name: string };

export type CredentialSource =
  | { file: string; format: SubjectTokenFormat }
  | { url: string; headers?: Record<string, string>; format: SubjectTokenFormat }
  | { executable: { command: string; timeout_millis: number; output_file?: string } };

export interface ExternalAccountConfig {
  type: 'external_account';
  audience: string;
  subject_token_type: typeof SUBJECT_TOKEN_TYPE_JWT;
  token_url: string;
  token_info_url: string;
  credential_source: CredentialSource;
}

/** The command line's values, unchecked: buildExternalAccount checks them all. */
export interface ExternalAccountOptions {
  brokerUrl?: string;
  audience?: string;
  /** Accept a loopback broker (and audience URL), over plain http too: a development broker. */
  allowInsecureLoopback?: boolean;
  tokenFile?: string;
  tokenUrl?: string;
  /** `Name: value` each. */
  headers?: readonly string[];
  jsonField?: string;
  executable?: string;
  executableTimeoutMs?: number | string;
  executableOutputFile?: string;
}

export type ExternalAccountErrorCode =
  | 'unknown_option'
  | 'unexpected_argument'
  | 'missing_value'
  | 'repeated_option'
  | 'missing_broker_url'
  | 'invalid_broker_url'
  | 'insecure_broker_url'
  | 'missing_audience'
  | 'invalid_audience'
  | 'missing_source'
  | 'multiple_sources'
  | 'option_without_source'
  | 'invalid_token_file'
  | 'invalid_token_url'
  | 'invalid_header'
  | 'duplicate_header'
  | 'invalid_json_field'
  | 'invalid_executable'
  | 'invalid_executable_timeout'
  | 'invalid_executable_output_file'
  | 'invalid_out';

/** A refusal of the command line: the CLI prints the message and the usage, and exits 2. */
export class ExternalAccountUsageError extends Error {
  readonly code: ExternalAccountErrorCode;
  constructor(code: ExternalAccountErrorCode, message: string) {
    super(message);
    this.name = 'ExternalAccountUsageError';
    this.code = code;
  }
}

const usage = (code: ExternalAccountErrorCode, message: string) => new ExternalAccountUsageError(code, message);

// ---------------------------------------------------------------------------------------------
// The command line

type ValueOption = Exclude<keyof ExternalAccountOptions, 'headers' | 'allowInsecureLoopback'> | 'out';

const VALUE_OPTIONS: Readonly<Record<string, ValueOption>> = {
  '--broker-url': 'brokerUrl',
  '--audience': 'audience',
  '--token-file': 'tokenFile',
  '--token-url': 'tokenUrl',
  '--json-field': 'jsonField',
  '--executable': 'executable',
  '--executable-timeout-ms': 'executableTimeoutMs',
  '--executable-output-file': 'executableOutputFile',
  '--out': 'out',
};
const HEADER_OPTION = '--header';
const LOOPBACK_FLAG = '--allow-insecure-loopback';

/** Options people reach for that have no place in the file: a refusal that says why. */
const SCOPES_ARE_THE_CLIENTS = 'scopes are not part of an external_account file: the application asks for them '
  + `(Google's libraries default to ${DEFAULT_CLIENT_SCOPE}), and the broker's rule must allow them`;
const NOT_IN_THE_FILE: Readonly<Record<string, string>> = {
  '--scope': SCOPES_ARE_THE_CLIENTS,
  '--scopes': SCOPES_ARE_THE_CLIENTS,
  '--service-account': 'the broker already returns a token of the matching rule\'s service account: '
    + 'the file has no service_account_impersonation_url (choose the rule with --audience)',
};

export interface ParsedExternalAccountArgs {
  options: ExternalAccountOptions;
  /** Write the file here (mode 0600) instead of stdout. */
  out?: string;
}

/** `--name value` or `--name=value`; `--header` repeats; a value never starts with `--`. */
export function parseExternalAccountArgs(args: readonly string[]): ParsedExternalAccountArgs {
  const values: Partial<Record<ValueOption, string>> = {};
  const headers: string[] = [];
  let allowInsecureLoopback = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (name === LOOPBACK_FLAG) {
      if (name !== arg) throw usage('unexpected_argument', `${LOOPBACK_FLAG} takes no value`);
      allowInsecureLoopback = true;
      continue;
    }
    const key = Object.hasOwn(VALUE_OPTIONS, name) ? VALUE_OPTIONS[name] : undefined;
    if (key === undefined && name !== HEADER_OPTION) throw unknownArgument(name);
    let value: string | undefined;
    if (name !== arg) {
      value = arg.slice(eq + 1);
    } else {
      value = args[i + 1];
      if (value === undefined || value.startsWith('--')) throw usage('missing_value', `${name} needs a value`);
      i++;
    }
    if (key === undefined) {
      headers.push(value);
    } else {
      if (values[key] !== undefined) throw usage('repeated_option', `${name} given twice`);
      values[key] = value;
    }
  }
  const { out, ...rest } = values;
  if (out !== undefined && (out === '' || /[\u0000-\u001f\u007f]/.test(out))) throw usage('invalid_out', '--out must name a file');
  const options: ExternalAccountOptions = { ...rest, ...(headers.length > 0 ? { headers } : {}), ...(allowInsecureLoopback ? { allowInsecureLoopback } : {}) };
  return out === undefined ? { options } : { options, out };
}

function unknownArgument(arg: string): ExternalAccountUsageError {
  if (Object.hasOwn(NOT_IN_THE_FILE, arg)) return usage('unknown_option', `${arg}: ${NOT_IN_THE_FILE[arg]}`);
  if (/^--?[a-z][a-z-]{0,30}$/.test(arg)) return usage('unknown_option', `external-account: unknown option ${arg}`);
  return usage('unexpected_argument', 'external-account: unexpected argument');
}

// ---------------------------------------------------------------------------------------------
// The document

export function buildExternalAccount(options: ExternalAccountOptions): ExternalAccountConfig {
  const allowLoopback = options.allowInsecureLoopback === true;
  const base = brokerBaseUrl(options.brokerUrl, allowLoopback);
  const audience = checkedAudience(options.audience, allowLoopback);
  return {
    type: 'external_account',
    audience,
    subject_token_type: SUBJECT_TOKEN_TYPE_JWT,
    token_url: `${base}/token`,
    token_info_url: `${base}/v1/introspect`,
    credential_source: credentialSource(options),
  };
}

/**
 * The broker's base URL, without its trailing slash: https, or with --allow-insecure-loopback
 * a loopback URL (http too). No user info, query or fragment; not already the token endpoint.
 */
function brokerBaseUrl(value: string | undefined, allowLoopback: boolean): string {
  if (value === undefined) throw usage('missing_broker_url', 'external-account needs --broker-url <the broker\'s https URL>');
  const url = parseUrl(value);
  if (!url) throw usage('invalid_broker_url', '--broker-url must be an absolute https URL, e.g. https://broker.example.com');
  if (url.username || url.password) throw usage('invalid_broker_url', '--broker-url must not contain a user name or password');
  if (value.includes('?') || value.includes('#')) throw usage('invalid_broker_url', '--broker-url must not have a query or a fragment');
  const loopback = isLoopbackHost(url.hostname);
  if (loopback && !allowLoopback) {
    throw usage('insecure_broker_url', `--broker-url names a loopback address, where only a development broker listens: add ${LOOPBACK_FLAG}`);
  }
  if (url.protocol !== 'https:' && !loopback) {
    throw usage('insecure_broker_url', `--broker-url must be an https URL (plain http only to a loopback development broker, with ${LOOPBACK_FLAG})`);
  }
  const path = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
  if (path.endsWith('/') || path.includes('//')) throw usage('invalid_broker_url', '--broker-url has an empty path segment ("//")');
  if (/\/(v1\/)?token$/.test(path)) {
    throw usage('invalid_broker_url', '--broker-url is the broker\'s base URL: the file\'s token_url adds /token to it');
  }
  return `${url.protocol}//${url.host}${path}`;
}

/**
 * What the broker accepts as `audience` (shared/policy/select-rule.ts): one of its own
 * identifiers — BROKER_ISSUER_URL, or it followed by /token or /v1/token, compared exactly —
 * which lets the first matching rule decide; or a rule's `id` or `grant.service_account`,
 * which requires that rule. Anything else is `400 invalid_target`.
 */
function checkedAudience(value: string | undefined, allowLoopback: boolean): string {
  if (value === undefined) throw usage('missing_audience', 'external-account needs --audience <rule id, or the broker\'s issuer URL>');
  if (!value.includes(':')) {
    if (RuleSchema.shape.id.safeParse(value).success || GrantSchema.shape.service_account.safeParse(value).success) return value;
    throw usage('invalid_audience', '--audience must be a rule id (1–63 letters, digits, ".", "_" or "-"), a rule\'s service account, '
      + 'or the broker\'s issuer URL (BROKER_ISSUER_URL)');
  }
  const url = parseUrl(value);
  if (!url || url.username || url.password || value.includes('?') || value.includes('#')) {
    throw usage('invalid_audience', '--audience, as a URL, must be the broker\'s issuer URL (BROKER_ISSUER_URL), or it followed by /token or /v1/token');
  }
  const loopback = isLoopbackHost(url.hostname);
  if ((loopback && !allowLoopback) || (url.protocol !== 'https:' && !loopback)) {
    throw usage('invalid_audience', `--audience, as a URL, must be https (a loopback URL only with ${LOOPBACK_FLAG}): it is the broker's issuer URL`);
  }
  if (value.endsWith('/')) {
    throw usage('invalid_audience', '--audience must not end in "/": the broker compares it exactly with BROKER_ISSUER_URL, which never does');
  }
  return value;
}

function credentialSource(options: ExternalAccountOptions): CredentialSource {
  const { tokenFile, tokenUrl, executable } = options;
  const given = ([[tokenFile, '--token-file'], [tokenUrl, '--token-url'], [executable, '--executable']] as const)
    .filter(([value]) => value !== undefined)
    .map(([, name]) => name);
  if (given.length === 0) throw usage('missing_source', 'external-account needs a subject-token source: --token-file, --token-url or --executable');
  if (given.length > 1) throw usage('multiple_sources', `${given.join(' and ')} exclude each other: give exactly one subject-token source`);

  if (options.headers !== undefined && options.headers.length > 0 && tokenUrl === undefined) {
    throw usage('option_without_source', '--header goes only with --token-url');
  }
  if (options.jsonField !== undefined && executable !== undefined) {
    throw usage('option_without_source', '--json-field goes only with --token-file or --token-url (an executable prints Google\'s executable-response JSON)');
  }
  if ((options.executableTimeoutMs !== undefined || options.executableOutputFile !== undefined) && executable === undefined) {
    throw usage('option_without_source', '--executable-timeout-ms and --executable-output-file go only with --executable');
  }

  if (tokenFile !== undefined) return { file: absolutePath('--token-file', tokenFile, 'invalid_token_file'), format: subjectTokenFormat(options.jsonField) };
  if (tokenUrl !== undefined) {
    const url = subjectTokenUrl(tokenUrl);
    const headers = httpHeaders(options.headers ?? []);
    return { url, ...(headers ? { headers } : {}), format: subjectTokenFormat(options.jsonField) };
  }
  return { executable: executableSource(options) };
}

function subjectTokenFormat(jsonField: string | undefined): SubjectTokenFormat {
  if (jsonField === undefined) return { type: 'text' };
  if (jsonField === '' || /[\u0000-\u001f\u007f]/.test(jsonField)) {
    throw usage('invalid_json_field', '--json-field must name a top-level field of the JSON document that holds the subject token');
  }
  return { type: 'json', subject_token_field_name: jsonField };
}

/** An http(s) URL, kept exactly as given (it may carry parameters the token service needs). */
function subjectTokenUrl(value: string): string {
  const url = /[\u0000-\u0020\u007f]/.test(value) ? undefined : parseUrl(value);
  if (!url) throw usage('invalid_token_url', '--token-url must be an absolute http or https URL');
  if (url.username || url.password) throw usage('invalid_token_url', '--token-url must not contain a user name or password: send credentials with --header');
  return value;
}

/** RFC 9110 field name (a token). */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function httpHeaders(raw: readonly string[]): Record<string, string> | undefined {
  if (raw.length === 0) return undefined;
  const entries: Array<[string, string]> = [];
  const seen = new Set<string>();
  for (const header of raw) {
    const colon = header.indexOf(':');
    const name = colon < 0 ? '' : header.slice(0, colon);
    if (!FIELD_NAME.test(name)) {
      throw usage('invalid_header', '--header must be Name:value, the name an HTTP field name (letters, digits, !#$%&\'*+.^_`|~-) right before the colon');
    }
    const value = header.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (value === '') throw usage('invalid_header', `--header ${name} has no value`);
    if (!/^[\t\x20-\x7e]+$/.test(value)) throw usage('invalid_header', `--header ${name}: the value must be printable ASCII, on one line`);
    if (seen.has(name.toLowerCase())) throw usage('duplicate_header', `--header ${name} given twice`);
    seen.add(name.toLowerCase());
    entries.push([name, value]);
  }
  // fromEntries defines own properties: a header named __proto__ stays a header.
  return Object.fromEntries(entries);
}

function executableSource(options: ExternalAccountOptions): { command: string; timeout_millis: number; output_file?: string } {
  const command = (options.executable ?? '').trim();
  if (command === '' || /[\u0000-\u001f\u007f]/.test(command)) {
    throw usage('invalid_executable', '--executable must be one line: the program\'s absolute path, then its arguments');
  }
  if (/["']/.test(command)) {
    throw usage('invalid_executable', '--executable must not contain quotes: Google\'s libraries split the command at spaces '
      + '(Python keeps quote characters, Node.js drops double quotes), so no argument can contain a space');
  }
  if (!isAbsolutePath(command.split(/\s+/)[0] ?? '')) {
    throw usage('invalid_executable', '--executable must start with the program\'s absolute path, as Google\'s libraries require');
  }
  const timeout = executableTimeout(options.executableTimeoutMs);
  const outputFile = options.executableOutputFile;
  return {
    command,
    timeout_millis: timeout,
    ...(outputFile === undefined ? {} : { output_file: absolutePath('--executable-output-file', outputFile, 'invalid_executable_output_file') }),
  };
}

function executableTimeout(value: number | string | undefined): number {
  if (value === undefined) return EXECUTABLE_TIMEOUT_MS.default;
  const ms = typeof value === 'number' ? value : /^[0-9]{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < EXECUTABLE_TIMEOUT_MS.min || ms > EXECUTABLE_TIMEOUT_MS.max) {
    throw usage('invalid_executable_timeout',
      `--executable-timeout-ms must be a whole number of milliseconds from ${EXECUTABLE_TIMEOUT_MS.min} to ${EXECUTABLE_TIMEOUT_MS.max}: Google's libraries refuse others`);
  }
  return ms;
}

/** A POSIX or Windows absolute path: the libraries resolve a relative one against the application's working directory. */
function absolutePath(option: string, value: string, code: ExternalAccountErrorCode): string {
  if (!isAbsolutePath(value) || /[\u0000-\u001f\u007f]/.test(value)) {
    throw usage(code, `${option} must be an absolute path: Google's libraries would resolve a relative one against the application's working directory`);
  }
  return value;
}

function isAbsolutePath(value: string): boolean {
  return posix.isAbsolute(value) || win32.isAbsolute(value);
}

function parseUrl(value: string): URL | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// What to tell the operator (stderr)

export function externalAccountNotes(config: ExternalAccountConfig): string[] {
  const notes = [
    `An external_account file: Google's client libraries exchange the subject token at ${config.token_url} (audience ${JSON.stringify(config.audience)}).`,
    `The application asks for its scopes (Google's libraries default to ${DEFAULT_CLIENT_SCOPE}): the broker's rule must allow them.`,
  ];
  const source = config.credential_source;
  if ('executable' in source) {
    notes.push(
      `Executable sources run only where ${ALLOW_EXECUTABLES_ENV}=1 is set in the application's environment.`,
      `The command must print Google's executable response, e.g. {"version":1,"success":true,"token_type":"${SUBJECT_TOKEN_TYPE_JWT}","id_token":"<JWT>","expiration_time":<unix seconds>}`
        + ` (expiration_time is required with an output file, which the command must write itself).`,
    );
  }
  if ('url' in source) {
    const url = new URL(source.url);
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      notes.push('The subject token is fetched over plain http: acceptable only from a metadata server on the same host or link.');
    }
    if (source.headers) notes.push('The file holds the --header values: keep it as private as they are.');
  }
  return notes;
}
