/**
 * Known public clients: gcloud sends its installed-app client id and published secret as HTTP
 * Basic with a token exchange. The broker decides such a request on the subject token alone,
 * as without client authentication; rules see `client.auth_method == 'public'`; the id never
 * becomes a principal of its own; a wrong secret, an unknown id and registered clients behave
 * as before.
 */
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { generateClientSecret } from '../../shared/identity/credential-format';
import { hashSecret } from '../../shared/identity/secret-hash';
import { GCLOUD_CLIENT } from '../../shared/policy/schema';
import { LineCapture } from '../helpers/capture';
import { exchangeForm, FORM, post } from '../helpers/http';
import { basic } from './client-fixture';

const SA = 'reader@token-broker-dev.iam.gserviceaccount.com';
const CLOUD = 'https://www.googleapis.com/auth/cloud-platform';
const secret = generateClientSecret();
const audit = new LineCapture();
let stack: DevStack;

beforeAll(async () => {
  const hash = await hashSecret(secret);
  stack = await startDevStack({
    auditTransport: audit,
    policyText: ({ issuer, broker }) => `
version: 1
public_clients: [gcloud, { id: other-cli }]
issuers:
  - issuer: "${issuer}"
    audiences: ["${broker}"]
clients:
  - id: service
    secrets: [{ hash: "${hash}" }]
rules:
  - id: no-public
    issuer: "${issuer}"
    condition: claims.sub == 'strict' && (!has(client.auth_method) || client.auth_method != 'public')
    grant: { service_account: ${SA}, scopes: [${CLOUD}] }
  - id: anyone
    issuer: "${issuer}"
    condition: claims.sub == 'workload'
    grant: { service_account: ${SA}, scopes: [${CLOUD}] }
  - id: service
    clients: [service]
    condition: "true"
    grant: { service_account: ${SA}, scopes: [${CLOUD}] }
`,
  });
  await stack.broker;
});
afterAll(() => stack?.close());

const exchange = async (sub: string, authorization?: string) =>
  post(stack.tokenUrl, exchangeForm(await stack.issuer.sign({ sub, aud: stack.issuerUrl })), authorization ? { ...FORM, authorization } : FORM);

async function lastEntry(): Promise<Record<string, unknown>> {
  await stack.audit.flush();
  return audit.entries().filter((e) => e.event === 'token_exchange').at(-1) ?? {};
}

it("gcloud's id with its published secret exchanges a token, and the audit entry names it as public", async () => {
  const res = await exchange('workload', basic(GCLOUD_CLIENT.id, GCLOUD_CLIENT.publishedSecret));
  expect(res.status).toBe(200);
  expect((await lastEntry()).client).toEqual({ id: GCLOUD_CLIENT.id, authMethod: 'public' });
});

it('a public client declared without a secret is accepted with none', async () => {
  expect((await exchange('workload', basic('other-cli', ''))).status).toBe(200);
});

it('a rule can refuse public clients (client.auth_method)', async () => {
  const res = await exchange('strict', basic(GCLOUD_CLIENT.id, GCLOUD_CLIENT.publishedSecret));
  expect({ status: res.status, error: res.body.error }).toEqual({ status: 403, error: 'access_denied' });
  expect((await exchange('strict')).status).toBe(200); // the same token without the public client
});

it('the public id with another secret is 401 invalid_client', async () => {
  const res = await exchange('workload', basic(GCLOUD_CLIENT.id, 'not-the-published-secret'));
  expect({ status: res.status, error: res.body.error }).toEqual({ status: 401, error: 'invalid_client' });
});

it('the public id cannot obtain tokens of its own (client_credentials); no rule may even name it', async () => {
  const res = await post(stack.tokenUrl, { grant_type: 'client_credentials' }, { ...FORM, authorization: basic(GCLOUD_CLIENT.id, GCLOUD_CLIENT.publishedSecret) });
  expect({ status: res.status, error: res.body.error }).toEqual({ status: 401, error: 'invalid_client' });
  expect((await lastEntry()).error).toMatchObject({ reason: 'public_client_not_allowed' });
});

it('a registered client with a wrong secret, and an unknown id, stay 401 invalid_client', async () => {
  for (const authorization of [basic('service', generateClientSecret()), basic('nobody', 'x')]) {
    const res = await exchange('workload', authorization);
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 401, error: 'invalid_client' });
  }
  expect((await exchange('workload', basic('service', secret))).status).toBe(200);
});
