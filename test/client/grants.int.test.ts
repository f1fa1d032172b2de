/**
 * The client's service-client grants against the dev stack with a policy of registered clients
 * (test/clients/client-fixture.ts): the jwt-bearer grant and private_key_jwt signed with the
 * `signer` client's key (inline JWK, ES256), client_secret_post and client_secret_basic with
 * the `reporter` client's secret. The broker checks each assertion (aud = its issuer URL,
 * single-use jti) and records the auth method in its audit line.
 */
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { BrokerError, BrokerTokenClient, type BrokerCredential } from '../../client/src/index';
import { clientPolicy, CLIENT_SA, type ClientCredentialsSet } from '../clients/client-fixture';
import { LineCapture } from '../helpers/capture';

const SCOPE = 'https://www.googleapis.com/auth/devstorage.read_only';

let stack: DevStack;
let creds: ClientCredentialsSet;
const audit = new LineCapture();

beforeAll(async () => {
  const policy = await clientPolicy();
  creds = policy.creds;
  stack = await startDevStack({ policyText: policy.text, auditTransport: audit });
  await stack.broker;
});
afterAll(async () => {
  await stack?.close();
});
beforeEach(() => audit.clear());

async function issued(): Promise<Array<Record<string, any>>> {
  await stack.audit.flush();
  return audit.entries().filter((e) => e.event === 'token_exchange');
}

const client = (credential: BrokerCredential) => new BrokerTokenClient({ brokerUrl: stack.url, issuerUrl: stack.issuerUrl, credential, scope: SCOPE });

it('jwt_bearer: the assertion is the grant; a fresh one (new jti) for every request', async () => {
  const tokens = client({ kind: 'jwt_bearer', clientId: 'signer', privateKey: creds.signerKey, algorithm: 'ES256', keyId: 'signer-1' });
  const first = await tokens.getToken();
  expect(first.accessToken).toEqual(expect.any(String));
  expect(first.scopes).toEqual([SCOPE]);
  expect(stack.google.lookup(first.accessToken)).toMatchObject({ serviceAccount: CLIENT_SA });
  // A second broker request signs anew: a replayed jti would be refused (assertion_replayed).
  const second = await tokens.getToken({ forceRefresh: true });
  expect(second.accessToken).toEqual(expect.any(String));
  const entries = await issued();
  expect(entries).toHaveLength(2);
  for (const entry of entries) expect(entry).toMatchObject({ outcome: 'issued', policy: { ruleId: 'clients-read' }, principal: { claims: { auth_method: 'jwt_bearer', client_id: 'signer' } } });
});

it('jwt_bearer signed with a key the client does not have: 400 invalid_grant, not retried', async () => {
  const tokens = client({ kind: 'jwt_bearer', clientId: 'signer', privateKey: creds.otherKey, algorithm: 'ES256', keyId: 'signer-1' });
  const error = await tokens.getAccessToken().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(BrokerError);
  expect(error).toMatchObject({ status: 400, error: 'invalid_grant', attempts: 1 });
});

it('private_key_jwt with the same key: client authentication for client_credentials', async () => {
  await client({ kind: 'private_key_jwt', clientId: 'signer', privateKey: creds.signerKey, algorithm: 'ES256', keyId: 'signer-1' }).getAccessToken();
  expect(await issued()).toEqual([expect.objectContaining({ outcome: 'issued', principal: expect.objectContaining({ claims: expect.objectContaining({ auth_method: 'private_key_jwt' }) }) })]);
});

it.each(['client_secret_post', 'client_secret_basic'] as const)('%s', async (authMethod) => {
  await client({ kind: 'client_secret', clientId: 'reporter', clientSecret: creds.reporterSecret, authMethod }).getAccessToken();
  expect(await issued()).toEqual([expect.objectContaining({ outcome: 'issued', principal: expect.objectContaining({ claims: expect.objectContaining({ auth_method: authMethod, client_id: 'reporter' }) }) })]);
});

it('client_secret_post with a wrong secret: 401 invalid_client', async () => {
  await expect(client({ kind: 'client_secret', clientId: 'reporter', clientSecret: creds.limitedSecret, authMethod: 'client_secret_post' }).getAccessToken()).rejects.toMatchObject({ status: 401, error: 'invalid_client' });
});
