/**
 * The deployed entry point (functions/index.ts) as Cloud Functions loads it: configuration
 * from the environment, production mode by default, and a broker that fails closed.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answer as parse, exchangeForm, post, type Answer } from '../helpers/http';
import { captureProcessOutput } from '../helpers/capture';
import type { AuditLog } from '../../shared/audit/audit-log';

/** Production defaults: the Firestore cache with a KMS-wrapped key (neither is reached by these requests). */
const SAVED = { ...process.env, GOOGLE_CLOUD_PROJECT: 'acme-prod', BROKER_CACHE_KMS_KEY: 'projects/acme-prod/locations/global/keyRings/broker/cryptoKeys/cache' };
afterEach(() => {
  process.env = { ...SAVED };
});
/**
 * Every loaded copy of functions/index.ts, closed at the end: the framework's function registry
 * is process-wide, so a later copy's requests may reach an earlier copy's broker, whose
 * Firestore listeners (the deny-list's) must not outlive the suite.
 */
const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(closers.map((close) => close()));
});

const policy = (issuer: string) => `
version: 1
issuers:
  - issuer: "${issuer}"
    audiences: ["https://broker.example.com"]
    jwks: { keys: [{ kty: EC, crv: P-256, x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] }
    algorithms: [ES256]
rules:
  - id: ci
    issuer: "${issuer}"
    condition: "true"
    grant:
      service_account: ci@acme-prod.iam.gserviceaccount.com
      scopes: [https://www.googleapis.com/auth/cloud-platform]
`;

/**
 * A fresh module registry for the next copy of functions/index.ts. Not jest.isolateModules: the
 * entry module loads the broker (shared/load-broker) on the first request, and jest resolves
 * that require in the registry current at the time, so the entry must live in the main one, or
 * the broker would get its own copy of shared/errors and the edge would not recognise its errors.
 */
function freshRegistry(): void {
  jest.resetModules();
}

/** Loads functions/index.ts in a fresh module registry with `env` (undefined: unset) and sends one request (a POST of `body`, or a GET of `path`). */
async function requestWith(env: Record<string, string | undefined>, body: Record<string, string> | { get: string }): Promise<Answer> {
  process.env = { ...SAVED };
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  let server: Server | undefined;
  let audit: AuditLog | undefined;
  let closeBroker: (() => Promise<void>) | undefined;
  freshRegistry();
  ({ audit, closeBroker } = require('../../functions/index') as typeof import('../../functions/index'));
  const { getTestServer } = require('@google-cloud/functions-framework/testing') as typeof import('@google-cloud/functions-framework/testing');
  server = getTestServer('broker');
  if (!server) throw new Error('broker function not registered');
  const listening = server;
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  try {
    const base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
    const answer = 'get' in body ? await parse(await fetch(`${base}${body.get}`)) : await post(`${base}/token`, body);
    await audit?.flush(); // entries are written synchronously; flush() stays the contract
    return answer;
  } finally {
    listening.closeAllConnections();
    await new Promise<void>((resolve) => listening.close(() => resolve()));
    if (closeBroker) closers.push(closeBroker);
  }
}

async function policyFile(text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'prod-')), 'policy.yaml');
  await writeFile(file, text);
  return file;
}

it('serves the token endpoint in production mode from BROKER_POLICY_FILE, auditing to stdout', async () => {
  const file = await policyFile(policy('https://issuer.example.com'));
  const { result: res, output } = await captureProcessOutput(() => requestWith({ BROKER_POLICY_FILE: file }, exchangeForm('a.b.c')));
  expect(res.status).toBe(400);
  expect(res.body.error).toBe('invalid_grant');
  const entries = output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(entries.find((e) => e.event === 'policy_loaded')).toMatchObject({ source: file, logName: 'projects/acme-prod/logs/token-broker-audit' });
  expect(entries.find((e) => e.event === 'token_exchange')).toMatchObject({
    outcome: 'denied', severity: 'WARNING', error: { code: 'invalid_grant', reason: 'malformed_token' }, requestId: res.headers.get('x-request-id'),
  });
});

it('without GOOGLE_CLOUD_PROJECT (npm run serve), entries carry no logName rather than a placeholder', async () => {
  const file = await policyFile(policy('https://issuer.example.com'));
  const { result: res, output } = await captureProcessOutput(() =>
    requestWith({ BROKER_POLICY_FILE: file, GOOGLE_CLOUD_PROJECT: undefined, GCLOUD_PROJECT: undefined }, exchangeForm('a.b.c')),
  );
  expect(res.body.error).toBe('invalid_grant');
  expect(output).not.toContain('{{');
  const entries = output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
  const audited = entries.filter((e) => e.event === 'policy_loaded' || e.event === 'token_exchange');
  expect(audited.map((e) => e.event)).toEqual(['policy_loaded', 'token_exchange']);
  for (const entry of audited) expect(entry).not.toHaveProperty('logName');
});

it('fails closed when production configuration refuses the policy (a plain-HTTP demo issuer)', async () => {
  const file = await policyFile(policy('http://127.0.0.1:8081'));
  const { result: res, output } = await captureProcessOutput(() => requestWith({ BROKER_POLICY_FILE: file }, exchangeForm('a.b.c')));
  expect(res.status).toBe(500);
  expect(res.body).toEqual({ error: 'server_error', error_description: 'The broker could not process the request.' });
  const entries = output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(entries.find((e) => e.event === 'policy_load_failed')).toMatchObject({ severity: 'ERROR', detail: expect.stringMatching(/issuers\[0\]\.issuer: loopback/) });
  expect(entries.filter((e) => e.event === 'token_exchange')).toEqual([
    expect.objectContaining({ outcome: 'error', severity: 'ERROR', error: expect.objectContaining({ code: 'server_error', reason: 'internal_error', status: 500 }) }),
  ]);
});

it('fails closed when the development source token is set in production', async () => {
  const file = await policyFile(policy('https://issuer.example.com'));
  const { result: res } = await captureProcessOutput(() => requestWith({ BROKER_POLICY_FILE: file, BROKER_DEV_SOURCE_TOKEN: 'x' }, exchangeForm('a.b.c')));
  expect(res.status).toBe(500);
  expect(res.text).not.toMatch(/BROKER_DEV_SOURCE_TOKEN/);
});

it('retries a failed load after the back-off, picking up a fixed policy', async () => {
  const file = await policyFile(policy('http://127.0.0.1:8081'));
  process.env = { ...SAVED, BROKER_POLICY_FILE: file };
  let server: Server | undefined;
  freshRegistry();
  closers.push((require('../../functions/index') as typeof import('../../functions/index')).closeBroker);
  server = (require('@google-cloud/functions-framework/testing') as typeof import('@google-cloud/functions-framework/testing')).getTestServer('broker');
  const listening = server as Server;
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(listening.address() as AddressInfo).port}/token`;
  const now = jest.spyOn(Date, 'now');
  try {
    await captureProcessOutput(async () => {
      expect((await post(url, exchangeForm('a.b.c'))).status).toBe(500);
      await writeFile(file, policy('https://issuer.example.com'));
      expect((await post(url, exchangeForm('a.b.c'))).status).toBe(500); // still within the back-off
      now.mockReturnValue(Date.now() + 31_000);
      expect((await post(url, exchangeForm('a.b.c'))).body.error).toBe('invalid_grant');
    });
  } finally {
    now.mockRestore();
    listening.closeAllConnections();
    await new Promise<void>((resolve) => listening.close(() => resolve()));
  }
});

describe('BROKER_ISSUER_URL as people paste it (with a trailing slash)', () => {
  const ed25519Policy = (issuer: string) => `${policy(issuer)}
clients:
  - id: ed-signer
    jwks: { keys: [{ kty: OKP, crv: Ed25519, x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }] }
    algorithms: [EdDSA, ES256]
`;

  it('gives metadata whose issuer and token_endpoint have one slash, and lists the policy\'s assertion algorithms (EdDSA)', async () => {
    const file = await policyFile(ed25519Policy('https://issuer.example.com'));
    const { result: res } = await captureProcessOutput(() => requestWith(
      { BROKER_POLICY_FILE: file, BROKER_ISSUER_URL: 'https://broker.example.com/' },
      { get: '/.well-known/oauth-authorization-server' },
    ));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      issuer: 'https://broker.example.com',
      token_endpoint: 'https://broker.example.com/token',
      token_endpoint_auth_signing_alg_values_supported: ['ES256', 'EdDSA'],
    });
  });

  it('advertises the default assertion algorithms when no client registers keys', async () => {
    const file = await policyFile(policy('https://issuer.example.com'));
    const { result: res } = await captureProcessOutput(() => requestWith({ BROKER_POLICY_FILE: file }, { get: '/.well-known/oauth-authorization-server' }));
    expect(res.body.token_endpoint_auth_signing_alg_values_supported).toEqual(['RS256', 'ES256']);
  });
});

it('refuses, as docs/clients.md says, a policy that needs shared state when production has no Firestore', async () => {
  const limited = policy('https://issuer.example.com').replace('  - id: ci\n', '  - id: ci\n    limits: { requests_per_minute: 10 }\n');
  const file = await policyFile(limited);
  const { result: res, output } = await captureProcessOutput(() => requestWith({ BROKER_POLICY_FILE: file, BROKER_CACHE: 'memory' }, exchangeForm('a.b.c')));
  expect({ status: res.status, error: res.body.error }).toEqual({ status: 500, error: 'server_error' });
  const entries = output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(entries.find((e) => e.event === 'policy_load_failed')).toMatchObject({
    detail: expect.stringContaining('single-use assertions, rate limits and user sessions need state shared by every instance: use BROKER_CACHE=firestore'),
  });
});
