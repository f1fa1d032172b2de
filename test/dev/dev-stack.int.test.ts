/**
 * The development stack as a developer meets it, over loopback HTTP: the issuer URL it runs
 * under (BROKER_ISSUER_URL or its loopback URL) and the service accounts its Google emulator
 * mints for (the built-in ones and every one the loaded policy names).
 */
import { randomUUID } from 'node:crypto';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { DEV_SERVICE_ACCOUNTS, startDevStack, type DevStack } from '../../dev/dev-stack';
import { exchangeForm, post, type Answer } from '../helpers/http';

const CUSTOM_SA = 'custom-sa@token-broker-dev.iam.gserviceaccount.com';
const CUSTOM_HOP = 'custom-hop@token-broker-dev.iam.gserviceaccount.com';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const CLIENT_CREDENTIALS = { grant_type: 'client_credentials' };
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

const stacks: DevStack[] = [];
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((stack) => stack.close()));
});

async function start(options: Parameters<typeof startDevStack>[0] = {}): Promise<DevStack> {
  const stack = await startDevStack(options);
  stacks.push(stack);
  await stack.broker;
  return stack;
}

/** A caller token from the demo issuer, fetched as the printed curl command does. */
async function demoToken(stack: DevStack, query = ''): Promise<string> {
  const res = await fetch(`${stack.issuer.issuer}/token${query}`);
  expect(res.status).toBe(200);
  return res.text();
}

async function metadata(stack: DevStack): Promise<Record<string, unknown>> {
  const res = await fetch(`${stack.url}/.well-known/oauth-authorization-server`);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

function expectIssued(stack: DevStack, res: Answer, serviceAccount: string): void {
  expect({ status: res.status, body: res.body }).toMatchObject({ status: 200, body: { token_type: 'Bearer' } });
  expect(stack.google.lookup(String(res.body.access_token))?.serviceAccount).toBe(serviceAccount);
}

describe('service accounts the Google emulator mints for', () => {
  const customPolicy = (urls: { issuer: string; broker: string }) => `
version: 1
issuers:
  - issuer: "${urls.issuer}"
    audiences: ["${urls.broker}"]
    algorithms: [RS256]
rules:
  - id: custom
    issuer: "${urls.issuer}"
    condition: claims.repository == 'acme/demo'
    grant:
      service_account: ${CUSTOM_SA}
      scopes: [${CLOUD_PLATFORM}]
  - id: custom-delegated
    issuer: "${urls.issuer}"
    condition: claims.repository == 'acme/delegated'
    grant:
      service_account: ${DEV_SERVICE_ACCOUNTS[1]}
      delegates: [${CUSTOM_HOP}]
      scopes: [${CLOUD_PLATFORM}]
`;

  it('a rule granting an account that is not built in: a real exchange returns 200 and the emulator minted for it', async () => {
    const stack = await start({ policyText: customPolicy });
    const res = await post(stack.tokenUrl, exchangeForm(await demoToken(stack)));
    expectIssued(stack, res, CUSTOM_SA);
    const mint = stack.google.requests.filter((r) => r.endpoint === 'generateAccessToken').at(-1);
    expect(mint?.path).toBe(`/v1/projects/-/serviceAccounts/${CUSTOM_SA}:generateAccessToken`);
  });

  it('a delegate the policy names exists too', async () => {
    const stack = await start({ policyText: customPolicy });
    const res = await post(stack.tokenUrl, exchangeForm(await demoToken(stack, '?repository=acme/delegated')));
    expectIssued(stack, res, DEV_SERVICE_ACCOUNTS[1] ?? '');
    expect(stack.google.lookup(String(res.body.access_token))?.delegates).toEqual([CUSTOM_HOP]);
  });

  it('lists the built-in accounts, then the policy\'s, once each', async () => {
    const stack = await start({ policyText: customPolicy });
    expect(stack.google.serviceAccounts()).toEqual([...DEV_SERVICE_ACCOUNTS, CUSTOM_SA, CUSTOM_HOP]);
    const plain = await start();
    expect(plain.google.serviceAccounts()).toEqual(DEV_SERVICE_ACCOUNTS);
  });

  it('an account the policy does not name still does not exist: the emulator answers 404 NOT_FOUND', async () => {
    const stack = await start({ policyText: customPolicy });
    const ghost = 'ghost@token-broker-dev.iam.gserviceaccount.com';
    const res = await fetch(`${stack.google.url}/v1/projects/-/serviceAccounts/${ghost}:generateAccessToken`, {
      method: 'POST',
      headers: { authorization: 'Bearer dev-broker-source-token', 'content-type': 'application/json' },
      body: JSON.stringify({ scope: [CLOUD_PLATFORM] }),
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 404, message: `Not found; Gaia id not found for email ${ghost}`, status: 'NOT_FOUND' } });
  });
});

describe('the issuer URL', () => {
  it('without BROKER_ISSUER_URL: the loopback URL is the issuer, the demo tokens\' aud and an accepted audience', async () => {
    const stack = await start();
    expect(stack.issuerUrl).toBe(stack.url);
    expect(await metadata(stack)).toMatchObject({ issuer: stack.url, token_endpoint: `${stack.url}/token` });
    const token = await demoToken(stack);
    expect(decodeJwt(token).aud).toBe(stack.url);
    expectIssued(stack, await post(stack.tokenUrl, exchangeForm(token, { audience: `${stack.url}/token` })), DEV_SERVICE_ACCOUNTS[0] ?? '');
  });

  it('BROKER_ISSUER_URL=https://broker.example.test/ is honoured as in production: metadata issuer, aud of demo tokens, accepted audience', async () => {
    const stack = await start({ env: { BROKER_ISSUER_URL: 'https://broker.example.test/' } });
    expect(stack.issuerUrl).toBe('https://broker.example.test');
    expect(await metadata(stack)).toMatchObject({ issuer: 'https://broker.example.test', token_endpoint: 'https://broker.example.test/token' });
    const token = await demoToken(stack);
    expect(decodeJwt(token).aud).toBe('https://broker.example.test');
    expectIssued(stack, await post(stack.tokenUrl, exchangeForm(token)), DEV_SERVICE_ACCOUNTS[0] ?? '');
    expectIssued(stack, await post(stack.tokenUrl, exchangeForm(token, { audience: 'https://broker.example.test/v1/token' })), DEV_SERVICE_ACCOUNTS[0] ?? '');
    // The loopback URL is no longer one of the broker's names.
    const loopbackAud = await post(stack.tokenUrl, exchangeForm(await demoToken(stack, `?aud=${encodeURIComponent(stack.url)}`)));
    expect({ status: loopbackAud.status, error: loopbackAud.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
    const loopbackAudience = await post(stack.tokenUrl, exchangeForm(token, { audience: stack.url }));
    expect({ status: loopbackAudience.status, error: loopbackAudience.body.error }).toEqual({ status: 400, error: 'invalid_target' });
  });

  it('BROKER_ISSUER_URL names another loopback URL: accepted over plain http and honoured', async () => {
    const stack = await start({ env: { BROKER_ISSUER_URL: 'http://127.0.0.1:9/' } });
    expect(stack.issuerUrl).toBe('http://127.0.0.1:9');
    expect(await metadata(stack)).toMatchObject({ issuer: 'http://127.0.0.1:9' });
    const token = await demoToken(stack);
    expect(decodeJwt(token).aud).toBe('http://127.0.0.1:9');
    expectIssued(stack, await post(stack.tokenUrl, exchangeForm(token)), DEV_SERVICE_ACCOUNTS[0] ?? '');
  });

  it('is the aud client assertions (RFC 7523) must carry', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1' };
    const stack = await start({
      env: { BROKER_ISSUER_URL: 'https://broker.example.test' },
      policyText: (urls) => `
version: 1
issuers:
  - issuer: "${urls.issuer}"
    audiences: ["${urls.broker}"]
    algorithms: [RS256]
rules:
  - id: signer
    clients: [signer]
    condition: "true"
    grant:
      service_account: ${CUSTOM_SA}
      scopes: [${CLOUD_PLATFORM}]
clients:
  - id: signer
    jwks: { keys: [${JSON.stringify(jwk)}] }
    algorithms: [ES256]
`,
    });
    const withAud = async (aud: string) => post(stack.tokenUrl, {
      ...CLIENT_CREDENTIALS,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await clientAssertion(privateKey, aud),
    });
    expectIssued(stack, await withAud('https://broker.example.test/token'), CUSTOM_SA);
    expectIssued(stack, await withAud('https://broker.example.test'), CUSTOM_SA);
    const loopback = await withAud(stack.tokenUrl);
    expect({ status: loopback.status, error: loopback.body.error }).toEqual({ status: 401, error: 'invalid_client' });
  });

  it('a plain-http URL to a non-loopback host is refused before anything starts', async () => {
    await expect(startDevStack({ env: { BROKER_ISSUER_URL: 'http://broker.example.test' } }))
      .rejects.toThrow(/BROKER_ISSUER_URL must be an https URL or, in development mode, a loopback http URL/);
    await expect(startDevStack({ env: { BROKER_ISSUER_URL: 'not a url' } })).rejects.toThrow(/BROKER_ISSUER_URL is not a URL/);
  });
});

function clientAssertion(key: CryptoKey, aud: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' })
    .setIssuer('signer')
    .setSubject('signer')
    .setAudience(aud)
    .setIssuedAt(now)
    .setExpirationTime(now + 120)
    .sign(key);
}
