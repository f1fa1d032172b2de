/**
 * Limits that mean what they say, over HTTP against the development composition: a refusal by
 * one limit spends nothing of another, `tokens_per_day` counts cached and minted tokens alike,
 * and a request that ends without a token (an upstream failure) gives its daily unit back.
 */
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { generateClientSecret } from '../../shared/identity/credential-format';
import { hashSecret } from '../../shared/identity/secret-hash';
import { LineCapture } from '../helpers/capture';
import { exchangeForm, FORM, post } from '../helpers/http';
import { basic } from '../clients/client-fixture';

const SA = 'reader@token-broker-dev.iam.gserviceaccount.com';
const secrets = { a: generateClientSecret(), b: generateClientSecret() };

function policy(hashes: { a: string; b: string }) {
  return ({ issuer, broker }: { issuer: string; broker: string }) => `
version: 1
issuers:
  - issuer: "${issuer}"
    audiences: ["${broker}"]
clients:
  - id: client-a
    secrets: [{ hash: "${hashes.a}" }]
    limits: { tokens_per_day: 2 }
  - id: client-b
    secrets: [{ hash: "${hashes.b}" }]
rules:
  - id: daily
    issuer: "${issuer}"
    condition: "true"
    limits: { tokens_per_day: 3 }
    grant: { service_account: ${SA}, scopes: [https://www.googleapis.com/auth/cloud-platform] }
`;
}

let hashes: { a: string; b: string };
beforeAll(async () => {
  hashes = { a: await hashSecret(secrets.a), b: await hashSecret(secrets.b) };
});

async function exchange(stack: DevStack, sub: string, client?: 'a' | 'b'): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = exchangeForm(await stack.issuer.sign({ sub, aud: stack.issuerUrl }));
  return post(stack.tokenUrl, form, client ? { ...FORM, authorization: basic(`client-${client}`, secrets[client]) } : FORM);
}

describe('with the token cache', () => {
  let stack: DevStack;
  beforeAll(async () => {
    stack = await startDevStack({ auditTransport: new LineCapture(), policyText: policy(hashes) });
    await stack.broker;
  });
  afterAll(() => stack?.close());

  it('a cache hit spends a daily unit exactly as a mint does', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await exchange(stack, 'cache-user')).status);
    expect(statuses).toEqual([200, 200, 200, 429]); // one mint, two cache hits, then the budget of 3 is spent
  });

  it("a refusal by the client's limit gives back the unit the rule's limit had taken", async () => {
    const viaA = [];
    for (let i = 0; i < 3; i += 1) viaA.push(await exchange(stack, 'alice', 'a'));
    expect(viaA.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(String(viaA[2]?.body.error_description)).toContain('tokens per day');
    // alice's rule budget (3) has one unit left: the third request's was given back.
    expect((await exchange(stack, 'alice', 'b')).status).toBe(200);
    expect((await exchange(stack, 'alice', 'b')).status).toBe(429);
  });
});

describe('without a cache', () => {
  let stack: DevStack;
  beforeAll(async () => {
    stack = await startDevStack({ auditTransport: new LineCapture(), policyText: policy(hashes), env: { BROKER_CACHE: 'none' } });
    await stack.broker;
  });
  afterAll(() => stack?.close());

  it('a request that fails upstream gives its daily unit back', async () => {
    expect((await exchange(stack, 'bob')).status).toBe(200);
    stack.google.faults.failNext({ status: 403, count: 2, match: 'generateAccessToken' });
    expect((await exchange(stack, 'bob')).status).toBe(500);
    expect((await exchange(stack, 'bob')).status).toBe(500);
    stack.google.faults.clear();
    expect((await exchange(stack, 'bob')).status).toBe(200);
    expect((await exchange(stack, 'bob')).status).toBe(200);
    expect((await exchange(stack, 'bob')).status).toBe(429); // 3 tokens answered, the two failures spent nothing
  });
});
