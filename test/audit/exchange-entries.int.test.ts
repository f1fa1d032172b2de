/**
 * One audit entry per token-endpoint request, for every outcome class, through the real
 * broker over HTTP and @google-cloud/logging's LogSync.
 */
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { LineCapture } from '../helpers/capture';
import { answer, exchangeForm, post } from '../helpers/http';
import { GENERATIVE_LANGUAGE, STORAGE_READ, testPolicy } from '../http/policy-fixture';

const lines = new LineCapture();
let stack: DevStack;

beforeAll(async () => {
  stack = await startDevStack({ env: { BROKER_CACHE: 'none' }, policyText: testPolicy, auditTransport: lines });
  await stack.broker;
  await stack.audit.flush();
});
afterAll(() => stack.close());
beforeEach(() => lines.clear());
afterEach(() => stack.google.faults.clear());

const claims = (extra: Record<string, unknown> = {}) => ({ sub: 'repo:acme/app:ref:refs/heads/main', aud: stack.url, repository: 'acme/app', ref: 'refs/heads/main', ...extra });

/** The exchange entries written since the last clear (there must be exactly one). */
function onlyExchangeEntry(): Record<string, unknown> {
  const entries = lines.entries().filter((e) => e.event === 'token_exchange');
  expect(entries).toHaveLength(1);
  return entries[0] ?? {};
}

it('issued: INFO with principal, audit claims, rule, grant, fingerprints and httpRequest', async () => {
  const subject = await stack.issuer.sign(claims());
  const res = await post(stack.tokenUrl, exchangeForm(subject), { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'ci-runner/1.0' });
  expect(res.status).toBe(200);
  const entry = onlyExchangeEntry();
  expect(entry).toMatchObject({
    severity: 'INFO',
    event: 'token_exchange',
    outcome: 'issued',
    requestId: res.headers.get('x-request-id'),
    grantType: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
    principal: { issuer: stack.issuer.issuer, subject: 'repo:acme/app:ref:refs/heads/main', claims: { repository: 'acme/app', ref: 'refs/heads/main' } },
    policy: { ruleId: 'main-branch', trace: [{ rule: 'main-branch', outcome: 'matched' }] },
    grant: { serviceAccount: 'gemini-caller@token-broker-dev.iam.gserviceaccount.com', lifetimeSeconds: 900 },
    cache: { outcome: 'none', refreshStarted: false },
    logName: 'projects/token-broker-dev/logs/token-broker-audit',
    httpRequest: { requestMethod: 'POST', requestUrl: '/token', status: 200, userAgent: 'ci-runner/1.0' },
    'logging.googleapis.com/labels': { request_id: res.headers.get('x-request-id') },
  });
  expect((entry.policy as { version: string }).version).toMatch(/^[0-9a-f]{64}$/);
  expect(entry.subjectTokenSha256).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(entry.tokenSha256).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect((entry.httpRequest as { latency: string }).latency).toMatch(/^\d+\.\d{3}s$/);
  expect((entry.httpRequest as { remoteIp: string }).remoteIp).toMatch(/127\.0\.0\.1/);
});

it('records an upstream_mint entry beside the exchange entry', async () => {
  const res = await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign(claims())));
  const mint = lines.entries().find((e) => e.event === 'upstream_mint');
  expect(mint).toMatchObject({ severity: 'INFO', trigger: 'request', outcome: 'success', serviceAccount: 'gemini-caller@token-broker-dev.iam.gserviceaccount.com' });
  expect(mint?.tokenSha256).toBe(onlyExchangeEntry().tokenSha256);
  expect(mint?.tokenSha256).not.toBe(res.body.access_token);
});

const refusals: Array<[string, () => Promise<Response | Awaited<ReturnType<typeof post>>>, number, string, string, string]> = [
  ['GET', async () => fetch(stack.tokenUrl), 405, 'rejected', 'NOTICE', 'method_not_allowed'],
  ['wrong content type', async () => post(stack.tokenUrl, '{}', { 'content-type': 'application/json' }), 400, 'rejected', 'NOTICE', 'wrong_content_type'],
  ['unsupported grant type', async () => post(stack.tokenUrl, { grant_type: 'password' }), 400, 'rejected', 'NOTICE', 'unsupported_grant_type'],
  ['expired token', async () => post(stack.tokenUrl, exchangeForm(await stack.issuer.sign(claims({ iat: Math.floor(Date.now() / 1000) - 900, exp: Math.floor(Date.now() / 1000) - 300 })))), 400, 'denied', 'WARNING', 'token_expired'],
  ['no rule matches', async () => post(stack.tokenUrl, exchangeForm(await stack.issuer.sign(claims({ repository: 'acme/other' })))), 403, 'denied', 'WARNING', 'no_rule_matched'],
  ['scope outside the rule', async () => post(stack.tokenUrl, exchangeForm(await stack.issuer.sign(claims()), { scope: `${GENERATIVE_LANGUAGE} ${STORAGE_READ}` })), 400, 'denied', 'WARNING', 'scope_not_allowed'],
  ['unknown audience', async () => post(stack.tokenUrl, exchangeForm(await stack.issuer.sign(claims()), { audience: 'nope' })), 400, 'denied', 'WARNING', 'unknown_audience'],
];

it.each(refusals)('%s: one entry, outcome and severity by class', async (_name, send, status, outcome, severity, reason) => {
  const res = await send();
  expect(res.status).toBe(status);
  const entry = onlyExchangeEntry();
  expect(entry).toMatchObject({ outcome, severity, error: { reason, status }, httpRequest: { status } });
  expect(entry.tokenSha256).toBeUndefined();
});

it('a denial records the rule trace and the subject-token fingerprint, not the token', async () => {
  const subject = await stack.issuer.sign(claims({ repository: 'acme/other' }));
  await post(stack.tokenUrl, exchangeForm(subject));
  const entry = onlyExchangeEntry();
  expect(entry.policy).toMatchObject({ trace: [{ rule: 'main-branch', outcome: 'condition_false' }, { rule: 'any-branch', outcome: 'condition_false' }] });
  expect(entry.subjectTokenSha256).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(JSON.stringify(entry)).not.toContain(subject.split('.')[2]);
});

it('upstream failure: ERROR, with the upstream mint failure as its own entry', async () => {
  stack.google.faults.failNext({ status: 503, count: Infinity, match: 'generateAccessToken' });
  const res = await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign(claims())));
  expect(res.status).toBe(503);
  expect(onlyExchangeEntry()).toMatchObject({ outcome: 'upstream_failure', severity: 'ERROR', error: { code: 'temporarily_unavailable', reason: 'upstream_unavailable' } });
  expect(lines.entries().filter((e) => e.event === 'upstream_mint')).toEqual([expect.objectContaining({ outcome: 'failure', severity: 'ERROR' })]);
});

it('IAM refusing to mint: upstream_failure, ERROR, detail for operators only', async () => {
  stack.google.faults.failNext({ status: 403, count: Infinity, match: 'generateAccessToken' });
  const res = await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign(claims())));
  expect(res.status).toBe(500);
  const entry = onlyExchangeEntry();
  expect(entry).toMatchObject({ outcome: 'upstream_failure', severity: 'ERROR', error: { code: 'server_error', reason: 'upstream_refused' } });
  expect((entry.error as { detail: string }).detail).toMatch(/PERMISSION_DENIED/);
  expect(res.text).not.toMatch(/PERMISSION_DENIED/);
});

it('propagates W3C traceparent and X-Cloud-Trace-Context', async () => {
  const subject = await stack.issuer.sign(claims());
  await post(stack.tokenUrl, exchangeForm(subject), { 'content-type': 'application/x-www-form-urlencoded', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
  expect(onlyExchangeEntry()).toMatchObject({
    'logging.googleapis.com/trace': 'projects/token-broker-dev/traces/4bf92f3577b34da6a3ce929d0e0e4736',
    'logging.googleapis.com/spanId': '00f067aa0ba902b7',
    'logging.googleapis.com/trace_sampled': true,
  });
  lines.clear();
  await post(stack.tokenUrl, exchangeForm(subject), { 'content-type': 'application/x-www-form-urlencoded', 'x-cloud-trace-context': '105445aa7843bc8bf206b12000100000/1;o=1' });
  expect(onlyExchangeEntry()).toMatchObject({
    'logging.googleapis.com/trace': 'projects/token-broker-dev/traces/105445aa7843bc8bf206b12000100000',
    'logging.googleapis.com/spanId': '0000000000000001',
    'logging.googleapis.com/trace_sampled': true,
  });
  lines.clear();
  await post(stack.tokenUrl, exchangeForm(subject), { 'content-type': 'application/x-www-form-urlencoded', traceparent: '00-zzzz-garbage-01' });
  expect(onlyExchangeEntry()['logging.googleapis.com/trace']).toBeUndefined();
});

it('encodes and caps caller-controlled values: one line per entry, no injection', async () => {
  const hostile = `line1\n{"severity":"INFO","event":"forged"}\n${'x'.repeat(5000)}`;
  await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign(claims({ run_note: { text: hostile }, sub: `me\n${'y'.repeat(900)}` }))), {
    'content-type': 'application/x-www-form-urlencoded',
    'user-agent': `agent "} {"event":"forged" ${'z'.repeat(1000)}`,
  });
  expect(lines.lines.every((line) => !line.includes('\n'))).toBe(true);
  expect(lines.entries().some((e) => e.event === 'forged')).toBe(false);
  const entry = onlyExchangeEntry();
  const principal = entry.principal as { subject: string; claims: Record<string, string> };
  expect(principal.subject.length).toBeLessThanOrEqual(256);
  expect(principal.claims.run_note?.length).toBeLessThanOrEqual(256);
  expect(principal.claims.run_note?.startsWith('{"text":"line1\\n')).toBe(true);
  expect((entry.httpRequest as { userAgent: string }).userAgent.length).toBeLessThanOrEqual(256);
});

it('does not record query strings', async () => {
  await answer(await fetch(`${stack.tokenUrl}?subject_token=should-not-be-logged`, { method: 'POST' }));
  const entry = onlyExchangeEntry();
  expect((entry.httpRequest as { requestUrl: string }).requestUrl).toBe('/token');
  expect(lines.lines.join('\n')).not.toContain('should-not-be-logged');
});
