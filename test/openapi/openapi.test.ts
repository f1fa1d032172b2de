/**
 * docs/openapi.yaml is a valid OpenAPI 3.1 document, and it agrees with the code that needs no
 * server to ask: the routes of functions/broker.ts, the error catalogue (every wire code, each
 * under its status), the metadata the core builds, and the response checker's lookups.
 * test/openapi/responses.int.test.ts checks live answers against it.
 */
import { validate } from '@readme/openapi-parser';
import { METADATA_PATH, INTROSPECTION_PATH, TOKEN_PATHS } from '../../functions/broker';
import { SIGN_IN_PATHS } from '../../functions/sign-in';
import { ERROR_CATALOGUE, wireErrorCode, type CatalogueCode } from '../../shared/error-catalogue';
import { serverMetadata } from '../../shared/server-metadata';
import { GRANT_TYPE_CLIENT_CREDENTIALS, GRANT_TYPE_JWT_BEARER, GRANT_TYPE_TOKEN_EXCHANGE } from '../../shared/oauth-uris';
import { HTTP_METHODS, OPENAPI_FILE, OpenApiSpec } from './check-response';

let spec: OpenApiSpec;
beforeAll(async () => {
  spec = await OpenApiSpec.load();
});

type Schema = Record<string, unknown>;
const schemas = () => (spec.document.components as { schemas: Record<string, Schema> }).schemas;

/** The `error` codes a (dereferenced) error schema allows: its enum, narrowed by `allOf` members' `const` or `enum`. */
function errorCodes(schema: Schema): string[] {
  const own = (schema.properties as { error?: { enum?: string[]; const?: string } } | undefined)?.error;
  const sets = [own?.const !== undefined ? [own.const] : own?.enum, ...((schema.allOf ?? []) as Schema[]).map(errorCodes)]
    .filter((set): set is string[] => set !== undefined && set.length > 0);
  const [first = [], ...rest] = sets;
  return first.filter((code) => rest.every((set) => set.includes(code)));
}

/** Every documented answer: `[operation, status, response]`. */
function documentedResponses(): Array<[string, string, { content?: Record<string, { schema?: Schema }> }]> {
  return spec.documented().map((key) => {
    const [method = '', path = '', status = ''] = key.split(' ');
    const probe = path === '*' ? '/no-such-path' : path;
    return [`${method} ${path}`, status, spec.lookUp(method === '*' ? 'PATCH' : method, probe).responses[status] ?? {}];
  });
}

it('is a valid OpenAPI 3.1 document', async () => {
  const result = await validate(OPENAPI_FILE);
  expect(result).toMatchObject({ valid: true, specification: 'OpenAPI' });
  expect(spec.document.openapi).toMatch(/^3\.1\./);
});

it('documents exactly the routes functions/broker.ts serves', () => {
  const served = [...TOKEN_PATHS, METADATA_PATH, INTROSPECTION_PATH, ...Object.keys(SIGN_IN_PATHS)].sort();
  expect(Object.keys(spec.paths()).sort()).toEqual(served);
});

it('every operation and every documented method set answers 405 for the rest', () => {
  for (const [template, item] of Object.entries(spec.paths())) {
    const methods = HTTP_METHODS.filter((m) => item[m] !== undefined);
    expect({ template, methods: methods.length > 0, other405: spec.lookUp('PATCH', template).responses['405'] !== undefined })
      .toEqual({ template, methods: true, other405: true });
  }
});

it("ErrorResponse's error enum is exactly the catalogue's wire codes", () => {
  const wire = [...new Set((Object.keys(ERROR_CATALOGUE) as CatalogueCode[]).map(wireErrorCode))].sort();
  expect([...errorCodes(schemas().ErrorResponse ?? {})].sort()).toEqual(wire);
});

it('each status allows exactly the wire codes the catalogue gives that status', () => {
  const byStatus = new Map<string, Set<string>>();
  for (const [, status, response] of documentedResponses()) {
    const schema = response.content?.['application/json']?.schema;
    if (!schema || status === '200' || status === '404') continue;
    const codes = byStatus.get(status) ?? new Set<string>();
    for (const code of errorCodes(schema)) codes.add(code);
    byStatus.set(status, codes);
  }
  const expected = new Map<string, Set<string>>();
  for (const [code, { status }] of Object.entries(ERROR_CATALOGUE)) {
    const codes = expected.get(String(status)) ?? new Set<string>();
    codes.add(wireErrorCode(code as CatalogueCode));
    expected.set(String(status), codes);
  }
  const sorted = (m: Map<string, Set<string>>) => Object.fromEntries([...m].map(([s, c]) => [s, [...c].sort()]).sort());
  expect(sorted(byStatus)).toEqual(sorted(expected));
});

it('every error answer is an RFC 6749 §5.2 body with Cache-Control: no-store', () => {
  for (const [operation, status, response] of documentedResponses()) {
    if (Number(status) < 400) continue;
    const headers = (response as { headers?: Record<string, { required?: boolean }> }).headers ?? {};
    expect({ operation, status, noStore: headers['Cache-Control']?.required }).toEqual({ operation, status, noStore: true });
    if (operation.startsWith('HEAD ')) continue;
    expect({ operation, status, codes: errorCodes(response.content?.['application/json']?.schema ?? {}).length > 0 })
      .toEqual({ operation, status, codes: true });
  }
});

it('the metadata the core builds matches the Metadata schema, member for member', () => {
  const metadata = serverMetadata(
    { policy: { assertionClients: new Map() }, grantTypes: [GRANT_TYPE_TOKEN_EXCHANGE, GRANT_TYPE_JWT_BEARER, GRANT_TYPE_CLIENT_CREDENTIALS] },
    'https://broker.example.test',
  );
  const answer = { status: 200, headers: new Headers({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', pragma: 'no-cache' }), text: JSON.stringify(metadata) };
  expect(spec.check('GET', METADATA_PATH, answer)).toEqual([]);
  expect(Object.keys(metadata).sort()).toEqual([...(schemas().Metadata?.required as string[])].sort());
});

describe('the response checker', () => {
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
    status,
    text: JSON.stringify(body),
    headers: new Headers({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', pragma: 'no-cache', 'x-request-id': '0b6a1b8e-7c1f-4e0e-9a55-3b0f7c9f2f11', ...headers }),
  });
  const ok = { access_token: 'ya29.x', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 899, scope: 'a b' };

  it('looks operations up by method and path, with the extensions for other methods and paths', () => {
    expect(spec.lookUp('POST', '/v1/token?x=1').operation).toBe('POST /v1/token');
    expect(spec.lookUp('GET', '/token').operation).toBe('* /token');
    expect(spec.lookUp('GET', '/nowhere').operation).toBe('* *');
  });

  it('accepts a documented answer', () => {
    expect(spec.check('POST', '/token', json(200, ok))).toEqual([]);
    expect(spec.check('POST', '/token', json(429, { error: 'slow_down', error_description: 'x' }, { 'retry-after': '12' }))).toEqual([]);
  });

  it.each([
    ['an undocumented status', json(418, { error: 'invalid_request', error_description: 'x' }), /status 418 is not documented/],
    ['a body member too many', json(200, { ...ok, refresh_token: 'r' }), /must NOT have additional properties/],
    ['an access token without scope', json(200, { ...ok, scope: undefined }), /must have required property 'scope'/],
    ['an ID token with Bearer', json(200, { ...ok, issued_token_type: 'urn:ietf:params:oauth:token-type:id_token', scope: undefined }), /token_type must be equal to constant/],
    ['an error code not in the catalogue', json(400, { error: 'bad_thing', error_description: 'x' }), /must be equal to one of the allowed values/],
    ['an error code of another status', json(400, { error: 'slow_down', error_description: 'x' }), /must be equal to one of the allowed values/],
    ['a third error member', json(400, { error: 'invalid_request', error_description: 'x', error_uri: 'https://x' }), /additional properties/],
    ['a missing Retry-After', json(503, { error: 'temporarily_unavailable', error_description: 'x' }), /required header retry-after is missing/],
    ['a cacheable answer', json(200, ok, { 'cache-control': 'max-age=60' }), /header cache-control/],
    ['an undocumented significant header', json(200, ok, { allow: 'POST' }), /header allow is sent but not documented/],
    ['another media type', { ...json(200, ok), headers: new Headers({ 'content-type': 'text/plain', 'cache-control': 'no-store', pragma: 'no-cache', 'x-request-id': '0b6a1b8e-7c1f-4e0e-9a55-3b0f7c9f2f11' }) }, /content type text\/plain is not documented/],
  ])('refuses %s', (_name, answer, problem) => {
    expect(spec.check('POST', '/token', answer).join('\n')).toMatch(problem);
  });
});
