/**
 * docs/audit.md documents the token_exchange and token_introspection entries field by field;
 * the entries the broker emits must have exactly those fields, no more and no fewer (across
 * the outcomes).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { LineCapture } from '../helpers/capture';
import { exchangeForm, post } from '../helpers/http';
import { clientPolicy } from '../clients/client-fixture';
import { AUTH_EVENT_NAMES } from '../../shared/audit/auth-events';

function documentedFields(event = 'token_exchange'): Set<string> {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'audit.md'), 'utf8');
  const table = new RegExp(`<!-- schema:${event} -->([\\s\\S]*?)<!-- /schema -->`).exec(doc)?.[1];
  if (!table) throw new Error(`docs/audit.md lacks the ${event} schema table`);
  return new Set([...table.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1] ?? ''));
}

/** Dotted paths of an entry, stopping at documented leaves (objects such as claims) and arrays. */
function paths(value: unknown, documented: Set<string>, prefix = ''): string[] {
  if (prefix && (documented.has(prefix) || Array.isArray(value) || typeof value !== 'object' || value === null)) return [prefix];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => paths(child, documented, prefix ? `${prefix}.${key}` : key));
}

let stack: DevStack;
let apiKey: string;
let reporterSecret: string;
const lines = new LineCapture();
beforeAll(async () => {
  const policy = await clientPolicy();
  apiKey = policy.creds.apiKey;
  reporterSecret = policy.creds.reporterSecret;
  // One rule more: scope_request intersect, so an entry shows requested and issued scopes apart.
  const withIntersect = (urls: { issuer: string; broker: string }) => policy.text(urls).replace('\nclients:\n', `
  - id: intersect
    issuer: "${urls.issuer}"
    condition: claims.sub == 'intersect'
    grant: { service_account: reader@token-broker-dev.iam.gserviceaccount.com, scopes: [https://www.googleapis.com/auth/cloud-platform], scope_request: intersect }
clients:
`);
  stack = await startDevStack({ policyText: withIntersect, auditTransport: lines });
  await stack.broker;
});
afterAll(() => stack.close());

it('emits exactly the documented fields', async () => {
  const documented = documentedFields();
  expect(documented.size).toBeGreaterThan(30);
  const claims = { sub: 'repo:acme/app', aud: stack.url, repository: 'acme/app', ref: 'refs/heads/main' };
  const traced = { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'schema-test', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
  await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign(claims)), traced); // issued
  await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign({ ...claims, repository: 'acme/other' })), traced); // denied, verified principal
  await post(stack.tokenUrl, '{}', { ...traced, 'content-type': 'application/json' }); // rejected
  stack.google.faults.failNext({ status: 403, count: Infinity, match: 'generateAccessToken' });
  await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign({ ...claims, sub: 'other' })), traced); // upstream failure with detail
  stack.google.faults.clear();
  await post(stack.tokenUrl, { grant_type: 'client_credentials' }, { ...traced, 'x-goog-api-key': apiKey }); // issued to a client
  const boundary = { accessBoundaryRules: [{ availableResource: '//storage.googleapis.com/projects/_/buckets/acme-app', availablePermissions: ['inRole:roles/storage.objectViewer'] }] };
  await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign(claims), { options: JSON.stringify({ accessBoundary: boundary }) }), traced); // issued, downscoped
  await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign(claims), { requested_token_type: 'urn:ietf:params:oauth:token-type:id_token', resource: 'https://demo-service.example.run.app' }), traced); // an ID token
  await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign({ ...claims, sub: 'intersect' }), { audience: 'intersect', scope: 'openid https://www.googleapis.com/auth/cloud-platform' }), traced); // fewer scopes than asked
  await stack.audit.flush();

  const entries = lines.entries().filter((e) => e.event === 'token_exchange');
  expect(entries.map((e) => e.outcome)).toEqual(['issued', 'denied', 'rejected', 'upstream_failure', 'issued', 'issued', 'issued', 'issued']);
  expect(entries.at(-1)?.grant).toMatchObject({ scopes: ['https://www.googleapis.com/auth/cloud-platform'], requestedScopes: ['https://www.googleapis.com/auth/cloud-platform', 'openid'] });
  const emitted = new Set(entries.flatMap((entry) => paths(entry, documented)));
  expect([...emitted].filter((path) => !documented.has(path)).sort()).toEqual([]);
  expect([...documented].filter((path) => !emitted.has(path)).sort()).toEqual([]);
});

it('emits exactly the documented introspection fields', async () => {
  // The payload's own table, plus the envelope the text says it shares with token_exchange.
  const envelope = [...documentedFields()].filter((path) => /^(severity|httpRequest\.|logging\.googleapis\.com\/|timestamp|logName)/.test(path));
  const documented = new Set([...documentedFields('token_introspection'), ...envelope]);
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const introspectUrl = `${stack.url}/v1/introspect`;
  const issued = await post(stack.tokenUrl, { grant_type: 'client_credentials' }, { ...form, 'x-goog-api-key': apiKey });
  await post(introspectUrl, { token: String(issued.body.access_token) }, { ...form, 'x-goog-api-key': apiKey }); // active
  await post(introspectUrl, { token: 'ya29.unknown', client_id: 'reporter', client_secret: reporterSecret }, form); // inactive
  await post(introspectUrl, { token: 'ya29.unknown' }, form); // denied: no client authentication
  await post(introspectUrl, {}, { ...form, 'x-goog-api-key': apiKey }); // rejected: no token
  await stack.audit.flush();

  const entries = lines.entries().filter((e) => e.event === 'token_introspection');
  expect(entries.map((e) => [e.outcome, e.active])).toEqual([['answered', true], ['answered', false], ['denied', undefined], ['rejected', undefined]]);
  const emitted = new Set(entries.flatMap((entry) => paths(entry, documented)));
  // Not emitted here: error.detail (a store outage, test/introspection) and the 429/503 outcomes.
  const notExercised = ['error.detail', 'logging.googleapis.com/trace', 'logging.googleapis.com/spanId', 'logging.googleapis.com/trace_sampled'];
  expect([...emitted].filter((path) => !documented.has(path)).sort()).toEqual([]);
  expect([...documented].filter((path) => !emitted.has(path) && !notExercised.includes(path)).sort()).toEqual([]);
});

it('documents every auth event the broker can emit', () => {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'audit.md'), 'utf8');
  for (const name of AUTH_EVENT_NAMES) expect(doc).toContain(`| \`${name}\` |`);
});
