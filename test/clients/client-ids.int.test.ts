/**
 * Client ids that merely start with "http" are client ids: the policy schema and client
 * authentication decide it in one place (shared/identity/client-id.ts). Before, `http-gateway`
 * passed the schema and was refused at authentication.
 */
import { exportJWK, generateKeyPair } from 'jose';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { generateClientSecret } from '../../shared/identity/credential-format';
import { hashSecret } from '../../shared/identity/secret-hash';
import { LineCapture } from '../helpers/capture';
import { FORM, post } from '../helpers/http';
import { assertion, basic, CLIENT_SA } from './client-fixture';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const secret = generateClientSecret();
let signer: Awaited<ReturnType<typeof generateKeyPair>>;
let stack: DevStack;

beforeAll(async () => {
  signer = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(signer.publicKey)), kid: 'signer-1' };
  const hash = await hashSecret(secret);
  stack = await startDevStack({
    auditTransport: new LineCapture(),
    policyText: () => `
version: 1
clients:
  - id: http-gateway
    secrets: [{ hash: "${hash}" }]
    jwks: { keys: [${JSON.stringify(jwk)}] }
    algorithms: [ES256]
  - id: https.signer
    jwks: { keys: [${JSON.stringify(jwk)}] }
    algorithms: [ES256]
rules:
  - id: gateways
    clients: [http-gateway, https.signer]
    condition: "true"
    grant: { service_account: ${CLIENT_SA}, scopes: [https://www.googleapis.com/auth/devstorage.read_only] }
`,
  });
  await stack.broker;
});
afterAll(() => stack?.close());

it('a client registered as http-gateway authenticates with its secret (HTTP Basic)', async () => {
  const res = await post(stack.tokenUrl, { grant_type: 'client_credentials' }, { ...FORM, authorization: basic('http-gateway', secret) });
  expect({ status: res.status, token: typeof res.body.access_token }).toEqual({ status: 200, token: 'string' });
});

it('and with client_secret_post', async () => {
  const res = await post(stack.tokenUrl, { grant_type: 'client_credentials', client_id: 'http-gateway', client_secret: secret });
  expect(res.status).toBe(200);
});

it('http-gateway authenticates with a private_key_jwt assertion too (refused before: its id starts with "http")', async () => {
  const jwt = await assertion(signer.privateKey, 'http-gateway', stack.issuerUrl);
  const res = await post(stack.tokenUrl, { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: jwt });
  expect({ status: res.status, error: res.body.error }).toEqual({ status: 200, error: undefined });
});

it('a client registered as https.signer authenticates with a private_key_jwt assertion', async () => {
  const jwt = await assertion(signer.privateKey, 'https.signer', stack.issuerUrl);
  const res = await post(stack.tokenUrl, { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: jwt });
  expect(res.status).toBe(200);
});

it('a wrong secret for http-gateway is still 401 invalid_client', async () => {
  const res = await post(stack.tokenUrl, { grant_type: 'client_credentials' }, { ...FORM, authorization: basic('http-gateway', generateClientSecret()) });
  expect({ status: res.status, error: res.body.error }).toEqual({ status: 401, error: 'invalid_client' });
});
