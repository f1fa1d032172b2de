/**
 * The external_account generator's pure part: the exact document for each subject-token
 * source, what google-auth-library itself makes of it, every usage error (code and message,
 * never quoting a value that may be secret), the notes for stderr, and the example in
 * docs/clients.md. test/cli/external-account.int.test.ts runs the CLI against the dev stack.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExternalAccountClient, type ExternalAccountClientOptions } from 'google-auth-library';
import {
  ALLOW_EXECUTABLES_ENV,
  buildExternalAccount,
  EXECUTABLE_TIMEOUT_MS,
  ExternalAccountUsageError,
  externalAccountNotes,
  parseExternalAccountArgs,
  type ExternalAccountErrorCode,
  type ExternalAccountOptions,
} from '../../cli/external-account';

const BROKER = 'https://broker.example.com';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const base = { brokerUrl: BROKER, audience: 'gke-deployer' } as const;

/** The error `run` throws, as { code, message }; fails when it does not throw one. */
function refusal(run: () => unknown): { code: ExternalAccountErrorCode; message: string } {
  try {
    run();
  } catch (err) {
    if (err instanceof ExternalAccountUsageError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected an ExternalAccountUsageError');
}

describe('the document', () => {
  it('file source: exact JSON, in Google\'s field order', () => {
    const config = buildExternalAccount({ ...base, tokenFile: '/var/run/secrets/broker/token' });
    expect(JSON.stringify(config, null, 2)).toBe(`{
  "type": "external_account",
  "audience": "gke-deployer",
  "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
  "token_url": "https://broker.example.com/token",
  "token_info_url": "https://broker.example.com/v1/introspect",
  "credential_source": {
    "file": "/var/run/secrets/broker/token",
    "format": {
      "type": "text"
    }
  }
}`);
  });

  it('file source holding JSON: format json with the field name', () => {
    expect(buildExternalAccount({ ...base, tokenFile: '/run/token.json', jsonField: 'id_token' }).credential_source).toStrictEqual({
      file: '/run/token.json',
      format: { type: 'json', subject_token_field_name: 'id_token' },
    });
  });

  it('url source: the URL exactly as given, headers, json format', () => {
    const url = 'https://pipelines.actions.example/idtoken?api-version=2.0&audience=https%3A%2F%2Fbroker.example.com';
    const config = buildExternalAccount({
      ...base,
      tokenUrl: url,
      headers: ['Authorization: Bearer request-token', 'X-Extra:one two ', 'accept:\tapplication/json'],
      jsonField: 'value',
    });
    expect(config).toStrictEqual({
      type: 'external_account',
      audience: 'gke-deployer',
      subject_token_type: JWT,
      token_url: `${BROKER}/token`,
      token_info_url: `${BROKER}/v1/introspect`,
      credential_source: {
        url,
        headers: { Authorization: 'Bearer request-token', 'X-Extra': 'one two', accept: 'application/json' },
        format: { type: 'json', subject_token_field_name: 'value' },
      },
    });
    expect(Object.keys(config.credential_source)).toEqual(['url', 'headers', 'format']);
  });

  it('url source without headers or field: text, no headers member', () => {
    expect(buildExternalAccount({ ...base, tokenUrl: 'http://169.254.169.254/token' }).credential_source).toStrictEqual({
      url: 'http://169.254.169.254/token',
      format: { type: 'text' },
    });
  });

  it('executable source: command, timeout_millis (default 30000) and output_file', () => {
    expect(buildExternalAccount({ ...base, executable: '/usr/local/bin/get-token --audience broker' }).credential_source).toStrictEqual({
      executable: { command: '/usr/local/bin/get-token --audience broker', timeout_millis: 30_000 },
    });
    expect(buildExternalAccount({
      ...base, executable: '  /opt/t  ', executableTimeoutMs: '5000', executableOutputFile: '/tmp/token-cache.json',
    }).credential_source).toStrictEqual({
      executable: { command: '/opt/t', timeout_millis: 5000, output_file: '/tmp/token-cache.json' },
    });
    expect(buildExternalAccount({ ...base, executable: 'C:\\tools\\token.exe', executableTimeoutMs: 120_000 }).credential_source)
      .toStrictEqual({ executable: { command: 'C:\\tools\\token.exe', timeout_millis: 120_000 } });
  });

  it('never writes impersonation, scopes or anything else; token_info_url is the broker\'s introspection endpoint', () => {
    for (const options of [
      { ...base, tokenFile: '/t' },
      { ...base, tokenUrl: 'https://t.example', headers: ['a:b'], jsonField: 'v' },
      { ...base, executable: '/t', executableOutputFile: '/o' },
    ]) {
      const config = buildExternalAccount(options);
      expect(Object.keys(config)).toEqual(['type', 'audience', 'subject_token_type', 'token_url', 'token_info_url', 'credential_source']);
      expect(config.token_info_url).toBe(`${BROKER}/v1/introspect`);
    }
  });

  it.each([
    ['https://broker.example.com', 'https://broker.example.com/token'],
    ['https://broker.example.com/', 'https://broker.example.com/token'],
    ['HTTPS://Broker.Example.COM:443/', 'https://broker.example.com/token'],
    ['https://broker.example.com:8443', 'https://broker.example.com:8443/token'],
    ['https://europe-west1-acme.cloudfunctions.net/broker', 'https://europe-west1-acme.cloudfunctions.net/broker/token'],
    ['https://europe-west1-acme.cloudfunctions.net/broker/', 'https://europe-west1-acme.cloudfunctions.net/broker/token'],
  ])('broker URL %s: token_url %s', (brokerUrl, tokenUrl) => {
    expect(buildExternalAccount({ ...base, brokerUrl, tokenFile: '/t' }).token_url).toBe(tokenUrl);
  });

  it.each([
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080/token'],
    ['http://localhost:8080/', 'http://localhost:8080/token'],
    ['http://[::1]:8080', 'http://[::1]:8080/token'],
    ['https://localhost:8443', 'https://localhost:8443/token'],
  ])('with allowInsecureLoopback, loopback broker %s', (brokerUrl, tokenUrl) => {
    expect(buildExternalAccount({ ...base, brokerUrl, allowInsecureLoopback: true, tokenFile: '/t' }).token_url).toBe(tokenUrl);
  });

  it.each([
    'gke-deployer',
    'A.rule_1-x',
    'gemini-caller@acme-prod.iam.gserviceaccount.com',
    'https://broker.example.com',
    'https://broker.example.com/token',
    'https://broker.example.com/v1/token',
    'https://Broker.example.com',
  ])('audience %s is kept exactly', (audience) => {
    expect(buildExternalAccount({ ...base, audience, tokenFile: '/t' }).audience).toBe(audience);
  });

  it('a loopback audience URL needs allowInsecureLoopback, as the broker URL does', () => {
    const options = { brokerUrl: 'http://127.0.0.1:8080', audience: 'http://127.0.0.1:8080', tokenFile: '/t', allowInsecureLoopback: true };
    expect(buildExternalAccount(options).audience).toBe('http://127.0.0.1:8080');
  });
});

describe('google-auth-library reads every shape', () => {
  it.each<[string, ExternalAccountOptions, string]>([
    ['file', { ...base, tokenFile: '/t' }, 'IdentityPoolClient'],
    ['file, json', { ...base, tokenFile: '/t', jsonField: 'id_token' }, 'IdentityPoolClient'],
    ['url', { ...base, tokenUrl: 'https://t.example/x', headers: ['Metadata: true'], jsonField: 'access_token' }, 'IdentityPoolClient'],
    ['executable', { ...base, executable: '/bin/t', executableTimeoutMs: 5000, executableOutputFile: '/tmp/o' }, 'PluggableAuthClient'],
  ])('%s', (_kind, options, clientClass) => {
    // Its options type is a union of one shape per source; ours is one shape with a union inside.
    const client = ExternalAccountClient.fromJSON(buildExternalAccount(options) as ExternalAccountClientOptions);
    expect(client?.constructor.name).toBe(clientClass);
  });

  it('refuses the executable timeouts the builder refuses, and accepts its bounds', () => {
    const config = buildExternalAccount({ ...base, executable: '/bin/t' });
    const withTimeout = (ms: number) => ({ ...config, credential_source: { executable: { command: '/bin/t', timeout_millis: ms } } });
    expect(() => ExternalAccountClient.fromJSON(withTimeout(EXECUTABLE_TIMEOUT_MS.min - 1))).toThrow(/Timeout must be between 5000 and 120000/);
    expect(() => ExternalAccountClient.fromJSON(withTimeout(EXECUTABLE_TIMEOUT_MS.max + 1))).toThrow(/Timeout must be between 5000 and 120000/);
    expect(() => ExternalAccountClient.fromJSON(withTimeout(EXECUTABLE_TIMEOUT_MS.min))).not.toThrow();
    expect(() => ExternalAccountClient.fromJSON(withTimeout(EXECUTABLE_TIMEOUT_MS.max))).not.toThrow();
  });
});

describe('usage errors from the values', () => {
  const cases: Array<[string, ExternalAccountOptions, ExternalAccountErrorCode, RegExp]> = [
    ['no broker URL', { audience: 'r', tokenFile: '/t' }, 'missing_broker_url', /needs --broker-url/],
    ['broker URL not a URL', { ...base, brokerUrl: 'broker.example.com', tokenFile: '/t' }, 'invalid_broker_url', /absolute https URL/],
    ['broker URL empty', { ...base, brokerUrl: '', tokenFile: '/t' }, 'invalid_broker_url', /absolute https URL/],
    ['broker URL ftp', { ...base, brokerUrl: 'ftp://broker.example.com', tokenFile: '/t' }, 'invalid_broker_url', /absolute https URL/],
    ['broker URL with credentials', { ...base, brokerUrl: 'https://u:p@broker.example.com', tokenFile: '/t' }, 'invalid_broker_url', /user name or password/],
    ['broker URL with a query', { ...base, brokerUrl: 'https://broker.example.com/?x=1', tokenFile: '/t' }, 'invalid_broker_url', /query or a fragment/],
    ['broker URL with an empty query', { ...base, brokerUrl: 'https://broker.example.com?', tokenFile: '/t' }, 'invalid_broker_url', /query or a fragment/],
    ['broker URL with a fragment', { ...base, brokerUrl: 'https://broker.example.com#x', tokenFile: '/t' }, 'invalid_broker_url', /query or a fragment/],
    ['broker URL with //', { ...base, brokerUrl: 'https://broker.example.com//', tokenFile: '/t' }, 'invalid_broker_url', /empty path segment/],
    ['broker URL with // inside', { ...base, brokerUrl: 'https://broker.example.com/a//b', tokenFile: '/t' }, 'invalid_broker_url', /empty path segment/],
    ['broker URL is the token endpoint', { ...base, brokerUrl: 'https://broker.example.com/token', tokenFile: '/t' }, 'invalid_broker_url', /base URL: the file's token_url adds \/token/],
    ['broker URL is the v1 token endpoint', { ...base, brokerUrl: 'https://broker.example.com/v1/token/', tokenFile: '/t' }, 'invalid_broker_url', /base URL/],
    ['plain http broker', { ...base, brokerUrl: 'http://broker.example.com', tokenFile: '/t' }, 'insecure_broker_url', /must be an https URL .*--allow-insecure-loopback/],
    ['plain http broker, flag given', { ...base, brokerUrl: 'http://broker.example.com', allowInsecureLoopback: true, tokenFile: '/t' }, 'insecure_broker_url', /must be an https URL/],
    ['loopback broker without the flag', { ...base, brokerUrl: 'http://127.0.0.1:8080', tokenFile: '/t' }, 'insecure_broker_url', /loopback address.*add --allow-insecure-loopback/],
    ['https loopback broker without the flag', { ...base, brokerUrl: 'https://localhost', tokenFile: '/t' }, 'insecure_broker_url', /loopback/],

    ['no audience', { brokerUrl: BROKER, tokenFile: '/t' }, 'missing_audience', /needs --audience/],
    ['empty audience', { ...base, audience: '', tokenFile: '/t' }, 'invalid_audience', /rule id .*service account.*issuer URL/],
    ['audience with a space', { ...base, audience: 'gke deployer', tokenFile: '/t' }, 'invalid_audience', /rule id/],
    ['audience __proto__', { ...base, audience: '__proto__', tokenFile: '/t' }, 'invalid_audience', /rule id/],
    ['audience too long', { ...base, audience: 'r'.repeat(64), tokenFile: '/t' }, 'invalid_audience', /rule id/],
    ['audience an email of no service account', { ...base, audience: 'someone@example.com', tokenFile: '/t' }, 'invalid_audience', /rule id/],
    ['audience URL with a trailing slash', { ...base, audience: 'https://broker.example.com/', tokenFile: '/t' }, 'invalid_audience', /must not end in "\/"/],
    ['audience URL with a query', { ...base, audience: 'https://broker.example.com?a', tokenFile: '/t' }, 'invalid_audience', /as a URL/],
    ['audience a URN', { ...base, audience: 'urn:x:y', tokenFile: '/t' }, 'invalid_audience', /as a URL/],
    ['audience plain http', { ...base, audience: 'http://broker.example.com', tokenFile: '/t' }, 'invalid_audience', /must be https/],
    ['audience loopback without the flag', { ...base, audience: 'http://127.0.0.1:8080', tokenFile: '/t' }, 'invalid_audience', /--allow-insecure-loopback/],

    ['no source', { ...base }, 'missing_source', /--token-file, --token-url or --executable/],
    ['file and url', { ...base, tokenFile: '/t', tokenUrl: 'https://t.example' }, 'multiple_sources', /--token-file and --token-url exclude each other/],
    ['url and executable', { ...base, tokenUrl: 'https://t.example', executable: '/t' }, 'multiple_sources', /--token-url and --executable/],
    ['all three', { ...base, tokenFile: '/t', tokenUrl: 'https://t.example', executable: '/t' }, 'multiple_sources', /--token-file and --token-url and --executable/],
    ['empty file still counts as given', { ...base, tokenFile: '', executable: '/t' }, 'multiple_sources', /exclude each other/],
    ['header with a file', { ...base, tokenFile: '/t', headers: ['a:b'] }, 'option_without_source', /--header goes only with --token-url/],
    ['header with an executable', { ...base, executable: '/t', headers: ['a:b'] }, 'option_without_source', /--header/],
    ['json field with an executable', { ...base, executable: '/t', jsonField: 'x' }, 'option_without_source', /--json-field goes only with/],
    ['timeout with a file', { ...base, tokenFile: '/t', executableTimeoutMs: 5000 }, 'option_without_source', /go only with --executable/],
    ['output file with a url', { ...base, tokenUrl: 'https://t.example', executableOutputFile: '/o' }, 'option_without_source', /go only with --executable/],

    ['relative token file', { ...base, tokenFile: 'token.jwt' }, 'invalid_token_file', /absolute path/],
    ['empty token file', { ...base, tokenFile: '' }, 'invalid_token_file', /absolute path/],
    ['token file with a newline', { ...base, tokenFile: '/t\n' }, 'invalid_token_file', /absolute path/],
    ['empty json field', { ...base, tokenFile: '/t', jsonField: '' }, 'invalid_json_field', /top-level field/],
    ['json field with a control character', { ...base, tokenFile: '/t', jsonField: 'a\u0000' }, 'invalid_json_field', /top-level field/],

    ['token URL relative', { ...base, tokenUrl: '/token' }, 'invalid_token_url', /absolute http or https URL/],
    ['token URL file:', { ...base, tokenUrl: 'file:///etc/token' }, 'invalid_token_url', /absolute http or https URL/],
    ['token URL with a newline', { ...base, tokenUrl: 'https://t.example/\nx' }, 'invalid_token_url', /absolute http or https URL/],
    ['token URL with a space', { ...base, tokenUrl: 'https://t.example/a b' }, 'invalid_token_url', /absolute http or https URL/],
    ['token URL with credentials', { ...base, tokenUrl: 'https://user:secret@t.example/' }, 'invalid_token_url', /user name or password: send credentials with --header/],

    ['header without a colon', { ...base, tokenUrl: 'https://t.example', headers: ['Authorization Bearer x'] }, 'invalid_header', /Name:value/],
    ['header with an empty name', { ...base, tokenUrl: 'https://t.example', headers: [':x'] }, 'invalid_header', /Name:value/],
    ['header name with a space', { ...base, tokenUrl: 'https://t.example', headers: ['X Y: z'] }, 'invalid_header', /HTTP field name/],
    ['header name with a space before the colon', { ...base, tokenUrl: 'https://t.example', headers: ['X-Y : z'] }, 'invalid_header', /right before the colon/],
    ['header without a value', { ...base, tokenUrl: 'https://t.example', headers: ['X-Y:  '] }, 'invalid_header', /X-Y has no value/],
    ['header value with CR LF', { ...base, tokenUrl: 'https://t.example', headers: ['X-Y: a\r\nHost: evil'] }, 'invalid_header', /printable ASCII, on one line/],
    ['header value not ASCII', { ...base, tokenUrl: 'https://t.example', headers: ['X-Y: café'] }, 'invalid_header', /printable ASCII/],
    ['header twice', { ...base, tokenUrl: 'https://t.example', headers: ['X-Y: a', 'x-y: b'] }, 'duplicate_header', /--header x-y given twice/],

    ['empty executable', { ...base, executable: '   ' }, 'invalid_executable', /one line/],
    ['executable with a newline', { ...base, executable: '/bin/t\n/bin/u' }, 'invalid_executable', /one line/],
    ['executable with double quotes', { ...base, executable: '/bin/t "a b"' }, 'invalid_executable', /must not contain quotes/],
    ['executable with single quotes', { ...base, executable: "/bin/t 'a b'" }, 'invalid_executable', /must not contain quotes/],
    ['executable not absolute', { ...base, executable: 'get-token --x' }, 'invalid_executable', /absolute path/],
    ['executable timeout too short', { ...base, executable: '/t', executableTimeoutMs: '4999' }, 'invalid_executable_timeout', /from 5000 to 120000/],
    ['executable timeout too long', { ...base, executable: '/t', executableTimeoutMs: 120_001 }, 'invalid_executable_timeout', /from 5000 to 120000/],
    ['executable timeout not a number', { ...base, executable: '/t', executableTimeoutMs: '30s' }, 'invalid_executable_timeout', /whole number/],
    ['executable timeout a fraction', { ...base, executable: '/t', executableTimeoutMs: 5000.5 }, 'invalid_executable_timeout', /whole number/],
    ['executable timeout in exponent form', { ...base, executable: '/t', executableTimeoutMs: '1e4' }, 'invalid_executable_timeout', /whole number/],
    ['executable timeout empty', { ...base, executable: '/t', executableTimeoutMs: '' }, 'invalid_executable_timeout', /whole number/],
    ['relative output file', { ...base, executable: '/t', executableOutputFile: 'cache.json' }, 'invalid_executable_output_file', /--executable-output-file must be an absolute path/],
  ];

  it.each(cases)('%s', (_name, options, code, message) => {
    const error = refusal(() => buildExternalAccount(options));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
  });

  it('never quotes a header value, a token URL or a command', () => {
    const secret = 'Sup3rS3cretV4lue';
    for (const options of [
      { ...base, tokenUrl: 'https://t.example', headers: [`Authorization: Bearer ${secret}\n`] },
      { ...base, tokenUrl: 'https://t.example', headers: [`Authorization ${secret}`] },
      { ...base, tokenUrl: `https://user:${secret}@t.example` },
      { ...base, tokenUrl: `/relative?token=${secret}` },
      { ...base, executable: `relative --key=${secret}` },
      { ...base, brokerUrl: `https://broker.example.com/?key=${secret}`, tokenFile: '/t' },
    ]) {
      expect(refusal(() => buildExternalAccount(options)).message).not.toContain(secret);
    }
  });

  it('a header named __proto__ stays a header', () => {
    const source = buildExternalAccount({ ...base, tokenUrl: 'https://t.example', headers: ['__proto__: x'] }).credential_source;
    expect(JSON.parse(JSON.stringify(source))).toStrictEqual(JSON.parse('{"url":"https://t.example","headers":{"__proto__":"x"},"format":{"type":"text"}}'));
  });
});

describe('the command line', () => {
  it('reads --name value and --name=value, repeated --header and the flag', () => {
    expect(parseExternalAccountArgs([
      '--broker-url', BROKER, '--audience=gke-deployer', '--token-url', 'https://t.example/?a=b',
      '--header', 'A: 1', '--header=B:2=3', '--json-field', 'value', '--allow-insecure-loopback', '--out', 'creds.json',
    ])).toStrictEqual({
      options: {
        brokerUrl: BROKER,
        audience: 'gke-deployer',
        tokenUrl: 'https://t.example/?a=b',
        headers: ['A: 1', 'B:2=3'],
        jsonField: 'value',
        allowInsecureLoopback: true,
      },
      out: 'creds.json',
    });
  });

  it('passes executable options through unchecked (the builder checks them)', () => {
    expect(parseExternalAccountArgs([
      '--executable', '/bin/t --x', '--executable-timeout-ms', '6000', '--executable-output-file=/tmp/o',
    ])).toStrictEqual({ options: { executable: '/bin/t --x', executableTimeoutMs: '6000', executableOutputFile: '/tmp/o' } });
    expect(parseExternalAccountArgs([])).toStrictEqual({ options: {} });
  });

  it.each<[string, string[], ExternalAccountErrorCode, RegExp]>([
    ['unknown option', ['--token'], 'unknown_option', /^external-account: unknown option --token$/],
    ['--scopes', ['--scopes', 'x'], 'unknown_option', /scopes are not part of an external_account file: the application asks for them/],
    ['--scope', ['--scope=x'], 'unknown_option', /scopes are not part of an external_account file/],
    ['--service-account', ['--service-account', 'sa@p.iam.gserviceaccount.com'], 'unknown_option', /no service_account_impersonation_url/],
    ['a positional argument', ['https://broker.example.com'], 'unexpected_argument', /^external-account: unexpected argument$/],
    ['an odd option name', ['--Token_File'], 'unexpected_argument', /unexpected argument/],
    ['__proto__', ['__proto__'], 'unexpected_argument', /unexpected argument/],
    ['--__proto__', ['--__proto__=x'], 'unexpected_argument', /unexpected argument/],
    ['--toString', ['--toString', 'x'], 'unexpected_argument', /unexpected argument/],
    ['a missing value at the end', ['--audience'], 'missing_value', /^--audience needs a value$/],
    ['an option where a value should be', ['--broker-url', '--audience', 'r'], 'missing_value', /^--broker-url needs a value$/],
    ['a missing header', ['--header'], 'missing_value', /--header needs a value/],
    ['a repeated option', ['--audience', 'a', '--audience=b'], 'repeated_option', /^--audience given twice$/],
    ['a repeated source', ['--token-file', '/a', '--token-file', '/b'], 'repeated_option', /--token-file given twice/],
    ['a value for the flag', ['--allow-insecure-loopback=yes'], 'unexpected_argument', /takes no value/],
    ['an empty --out', ['--out='], 'invalid_out', /--out must name a file/],
    ['--out with a newline', ['--out', 'a\nb'], 'invalid_out', /--out must name a file/],
  ])('%s', (_name, args, code, message) => {
    const error = refusal(() => parseExternalAccountArgs(args));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
  });
});

describe('notes for stderr', () => {
  it('say where the exchange goes and that the application asks for scopes', () => {
    const notes = externalAccountNotes(buildExternalAccount({ ...base, tokenFile: '/t' }));
    expect(notes).toEqual([
      'An external_account file: Google\'s client libraries exchange the subject token at https://broker.example.com/token (audience "gke-deployer").',
      'The application asks for its scopes (Google\'s libraries default to https://www.googleapis.com/auth/cloud-platform): the broker\'s rule must allow them.',
    ]);
  });

  it('executable: GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1 and the response format', () => {
    const notes = externalAccountNotes(buildExternalAccount({ ...base, executable: '/bin/t' })).join('\n');
    expect(notes).toContain(`${ALLOW_EXECUTABLES_ENV}=1`);
    expect(notes).toContain('"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":"<JWT>"');
  });

  it('url: plain http off the host, and headers kept in the file', () => {
    const notes = (options: ExternalAccountOptions) => externalAccountNotes(buildExternalAccount({ ...base, ...options })).slice(2);
    expect(notes({ tokenUrl: 'http://169.254.169.254/t', headers: ['Metadata: true'] })).toEqual([
      'The subject token is fetched over plain http: acceptable only from a metadata server on the same host or link.',
      'The file holds the --header values: keep it as private as they are.',
    ]);
    expect(notes({ tokenUrl: 'http://127.0.0.1:9/t' })).toEqual([]);
    expect(notes({ tokenUrl: 'https://t.example/t' })).toEqual([]);
  });
});

describe('docs/clients.md', () => {
  const markdown = readFileSync(join(__dirname, '..', '..', 'docs', 'clients.md'), 'utf8');
  const start = markdown.indexOf('\n## Google client libraries: an external_account file\n');
  const section = markdown.slice(start, markdown.indexOf('\n## ', start + 1));

  it('shows the output of the command it shows', () => {
    expect(start).toBeGreaterThan(0);
    const command = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    const words = command.replace(/\\\n/g, ' ').split('\n')[0]?.trim().split(/\s+/) ?? [];
    expect(words.slice(0, 5)).toEqual(['npm', 'run', '-s', 'admin', '--']);
    expect(words[5]).toBe('external-account');
    const { options } = parseExternalAccountArgs(words.slice(6));
    const json = /```json\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    expect(JSON.parse(json)).toStrictEqual(buildExternalAccount(options));
  });
});
