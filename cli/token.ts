/**
 * `admin token`: a token from the broker on stdout, for scripts and Postman — what
 * `gcloud auth print-access-token` is for Google.
 *
 *     npm run -s admin -- token --broker-url URL [--allow-insecure-loopback] <credential>
 *         [--audience RULE] [--scope S]... [--lifetime SECONDS]
 *     npm run -s admin -- token --dev [--audience RULE]          (a broker run by `npm start`)
 *
 * The request goes through the client library's Node entry (client/src/index.ts), so retries
 * (network errors, 429, 503; Retry-After), timeouts and refusals are the library's. Output
 * discipline: stdout gets the access token and one line break, nothing else; diagnostics go to
 * stderr. A refusal exits 1 with the broker's `error` and `error_description`.
 *
 * Credentials, exactly one:
 *   --subject-token-file FILE   RFC 8693 exchange of the OIDC token in FILE (read as is)
 *   --client-id ID              client_credentials with the client's secret, from the
 *                               BROKER_CLIENT_SECRET environment variable or else stdin (hidden
 *                               on a terminal); never from the command line, which shell
 *                               history keeps (--client-secret is refused)
 *   --dev                       a development broker: --broker-url defaults to
 *                               http://127.0.0.1:8080, loopback is allowed, and without another
 *                               credential the subject token comes from the development demo
 *                               issuer (GET /token), at the broker's port + 1 as `npm start`
 *                               runs it, or --demo-issuer-url
 */
import { BrokerClientError, BrokerError, BrokerTokenClient, BrokerUnreachableError } from '../client/src/index';
import type { NodeBrokerCredential } from '../client/src/index';
import { isLoopbackHost } from '../shared/config/network-policy';

/** A command line the command cannot run (exit 2). */
export class TokenUsageError extends Error {}
/** The command ran and got no token (exit 1). The message never holds a secret. */
export class TokenFailure extends Error {}

export interface TokenIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Reads one secret: hidden from a terminal, else all of a piped stdin. */
  readSecret: (prompt: string) => Promise<string>;
}

/** Where `npm start` listens unless PORT says otherwise. */
export const DEV_BROKER_URL = 'http://127.0.0.1:8080';
/** The environment variable `--client-id` takes the client's secret from. */
export const CLIENT_SECRET_ENV = 'BROKER_CLIENT_SECRET';
const LOOPBACK_FLAG = '--allow-insecure-loopback';
/** What the broker accepts as `lifetimeSeconds` at least; the policy caps it. */
const MIN_LIFETIME_SECONDS = 60;

interface TokenArgs {
  brokerUrl?: string;
  allowLoopback: boolean;
  dev: boolean;
  demoIssuerUrl?: string;
  subjectTokenFile?: string;
  clientId?: string;
  audience?: string;
  scopes: string[];
  lifetimeSeconds?: number;
}

const VALUE_OPTIONS = {
  '--broker-url': 'brokerUrl',
  '--demo-issuer-url': 'demoIssuerUrl',
  '--subject-token-file': 'subjectTokenFile',
  '--client-id': 'clientId',
  '--audience': 'audience',
} as const satisfies Record<string, keyof TokenArgs>;

export async function tokenCommand(args: string[], env: NodeJS.ProcessEnv, io: TokenIo): Promise<void> {
  const parsed = parseTokenArgs(args);
  const brokerUrl = checkedBrokerUrl(parsed);
  const credential = await credentialFor(parsed, brokerUrl, env, io);
  let client: BrokerTokenClient;
  try {
    client = new BrokerTokenClient({
      brokerUrl,
      credential,
      ...(parsed.audience !== undefined ? { audience: parsed.audience } : {}),
      ...(parsed.scopes.length > 0 ? { scope: parsed.scopes } : {}),
      ...(parsed.lifetimeSeconds !== undefined ? { lifetimeSeconds: parsed.lifetimeSeconds } : {}),
    });
  } catch (err) {
    // The library's misconfiguration errors name an option, never its value.
    if (err instanceof TypeError) throw new TokenUsageError(`token: ${err.message}`);
    throw err;
  }
  const token = await client.getToken().catch((err: unknown) => {
    throw failureFor(err, brokerUrl);
  });
  io.out(`${token.accessToken}\n`);
  const expiresIn = Math.max(0, Math.round((token.expiresAt - Date.now()) / 1000));
  io.err(`token: ${token.tokenType}, expires in ${expiresIn} s${token.scopes.length > 0 ? `, scope ${token.scopes.join(' ')}` : ''}\n`);
}

export function parseTokenArgs(args: string[]): TokenArgs {
  const parsed: TokenArgs = { allowLoopback: false, dev: false, scopes: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = name === arg ? undefined : arg.slice(eq + 1);
    const value = (): string => {
      const v = inline ?? args[++i];
      if (v === undefined || v === '') throw new TokenUsageError(`${name} needs a value`);
      return v;
    };
    if (name === '--client-secret' || name === '--secret') {
      throw new TokenUsageError(`${name} is not taken: a secret on the command line stays in shell history. Set ${CLIENT_SECRET_ENV} or pipe it to stdin`);
    } else if (name === LOOPBACK_FLAG && inline === undefined) {
      parsed.allowLoopback = true;
    } else if (name === '--dev' && inline === undefined) {
      parsed.dev = true;
    } else if (name === '--scope') {
      parsed.scopes.push(...value().split(' ').filter((s) => s !== ''));
    } else if (name === '--lifetime') {
      const v = value();
      const seconds = /^\d{1,6}$/.test(v) ? Number(v) : NaN;
      if (!(seconds >= MIN_LIFETIME_SECONDS)) throw new TokenUsageError(`--lifetime must be a whole number of seconds, at least ${MIN_LIFETIME_SECONDS}`);
      parsed.lifetimeSeconds = seconds;
    } else if (Object.hasOwn(VALUE_OPTIONS, name)) {
      const key = VALUE_OPTIONS[name as keyof typeof VALUE_OPTIONS];
      if (parsed[key] !== undefined) throw new TokenUsageError(`${name} given twice`);
      parsed[key] = value();
    } else {
      throw new TokenUsageError(/^--?[a-z][a-z-]{0,30}$/.test(name) ? `token: unknown option ${name}` : 'token: unexpected argument');
    }
  }
  const credentials = [parsed.subjectTokenFile !== undefined, parsed.clientId !== undefined].filter(Boolean).length;
  if (credentials > 1) throw new TokenUsageError('token takes one credential: --subject-token-file or --client-id');
  if (credentials === 0 && !parsed.dev) throw new TokenUsageError('token needs a credential: --subject-token-file <file>, --client-id <id> (secret from BROKER_CLIENT_SECRET or stdin), or --dev');
  if (parsed.demoIssuerUrl !== undefined && (!parsed.dev || credentials > 0)) throw new TokenUsageError('--demo-issuer-url goes with --dev and no other credential');
  if (!parsed.dev && parsed.brokerUrl === undefined) throw new TokenUsageError('token needs --broker-url <the broker\'s https URL> (or --dev for a broker run by npm start)');
  if (parsed.audience !== undefined && /\s/.test(parsed.audience)) throw new TokenUsageError('--audience is one rule id, service account or the broker\'s issuer URL');
  return parsed;
}

/** https, or a loopback URL with --allow-insecure-loopback or --dev; base URL, no trailing slash. */
function checkedBrokerUrl(args: TokenArgs): string {
  const value = args.brokerUrl ?? DEV_BROKER_URL;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TokenUsageError('--broker-url must be an absolute URL, e.g. https://broker.example.com');
  }
  if (url.username || url.password || url.search || url.hash || value.includes('?') || value.includes('#')) {
    throw new TokenUsageError('--broker-url must be a base URL: no user name, password, query or fragment');
  }
  const loopback = isLoopbackHost(url.hostname);
  if (loopback && !args.allowLoopback && !args.dev) {
    throw new TokenUsageError(`--broker-url names a loopback address, where only a development broker listens: add ${LOOPBACK_FLAG} (or --dev)`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new TokenUsageError('--broker-url must be an https URL (plain http only to a loopback development broker)');
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

async function credentialFor(args: TokenArgs, brokerUrl: string, env: NodeJS.ProcessEnv, io: TokenIo): Promise<NodeBrokerCredential> {
  if (args.subjectTokenFile !== undefined) return { kind: 'subject_token', subjectToken: { file: args.subjectTokenFile } };
  if (args.clientId !== undefined) {
    const fromEnv = env[CLIENT_SECRET_ENV];
    const secret = fromEnv !== undefined && fromEnv !== '' ? fromEnv : await io.readSecret(`Client secret of ${args.clientId} (not echoed): `);
    if (secret === '') throw new TokenFailure(`no client secret: set ${CLIENT_SECRET_ENV} or pipe it to stdin`);
    return { kind: 'client_secret', clientId: args.clientId, clientSecret: secret };
  }
  const issuer = demoIssuerUrl(args, brokerUrl);
  io.err(`subject token: the development demo issuer, ${issuer}/token\n`);
  return { kind: 'subject_token', subjectToken: { url: `${issuer}/token` } };
}

/** --demo-issuer-url, or where `npm start` runs the demo issuer: the broker's port + 1. */
function demoIssuerUrl(args: TokenArgs, brokerUrl: string): string {
  if (args.demoIssuerUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(args.demoIssuerUrl);
    } catch {
      throw new TokenUsageError('--demo-issuer-url must be an absolute URL');
    }
    if (!isLoopbackHost(url.hostname)) throw new TokenUsageError('--demo-issuer-url must be a loopback URL: the demo issuer is development mode\'s');
    return url.origin;
  }
  const broker = new URL(brokerUrl);
  if (!isLoopbackHost(broker.hostname)) throw new TokenUsageError('--dev without --demo-issuer-url needs a loopback --broker-url (its demo issuer is on the port after it)');
  const port = Number(broker.port || (broker.protocol === 'https:' ? 443 : 80));
  return `http://${broker.hostname}:${port + 1}`;
}

/** The library's error, said in a line that holds no secret. */
function failureFor(err: unknown, brokerUrl: string): unknown {
  if (err instanceof BrokerError) {
    const retry = err.retryAfterSeconds !== undefined ? ` (retry after ${err.retryAfterSeconds} s)` : '';
    return new TokenFailure(`the broker refused (${err.status}): ${err.error}${err.errorDescription ? `: ${err.errorDescription}` : ''}${retry}`);
  }
  if (err instanceof BrokerUnreachableError) {
    const cause = (err.cause as { cause?: { code?: unknown }; code?: unknown } | undefined);
    const code = cause?.cause?.code ?? cause?.code;
    return new TokenFailure(`no answer from the broker at ${brokerUrl} after ${err.attempts} attempt(s)${typeof code === 'string' ? ` (${code})` : ''}`);
  }
  if (err instanceof BrokerClientError) return new TokenFailure(`${err.code}: ${err.message}`);
  return err;
}
