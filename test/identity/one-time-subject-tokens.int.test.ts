/**
 * One-time subject tokens (`replay: one_time` on the issuer): a token is exchanged once within
 * its lifetime, cache or not; a second use is invalid_grant subject_token_replayed; of two
 * concurrent uses exactly one succeeds. An issuer without the setting is unaffected.
 */
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { LineCapture } from '../helpers/capture';
import { exchangeForm, post } from '../helpers/http';

const audit = new LineCapture();
let stack: DevStack;

beforeAll(async () => {
  stack = await startDevStack({
    auditTransport: audit,
    policyText: ({ issuer, broker }) => `
version: 1
issuers:
  - issuer: "${issuer}"
    audiences: ["${broker}"]
    replay: one_time
rules:
  - id: once
    issuer: "${issuer}"
    condition: "true"
    grant: { service_account: reader@token-broker-dev.iam.gserviceaccount.com, scopes: [https://www.googleapis.com/auth/cloud-platform] }
`,
  });
  await stack.broker;
});
afterAll(() => stack?.close());

const use = (token: string) => post(stack.tokenUrl, exchangeForm(token));

it('the second use of a token is refused, even though its grant is cached', async () => {
  const token = await stack.issuer.sign({ sub: 'job-1', aud: stack.issuerUrl, jti: 'run-1' });
  expect((await use(token)).status).toBe(200);
  const again = await use(token);
  expect({ status: again.status, error: again.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
  await stack.audit.flush();
  expect(audit.entries().filter((e) => e.event === 'token_exchange').at(-1)).toMatchObject({ error: { reason: 'subject_token_replayed' } });
  // A new token of the same subject is fine (and served from the cache).
  expect((await use(await stack.issuer.sign({ sub: 'job-1', aud: stack.issuerUrl, jti: 'run-2' }))).status).toBe(200);
});

it('without a jti, the token itself (its SHA-256) is what may be used once', async () => {
  const token = await stack.issuer.sign({ sub: 'job-2', aud: stack.issuerUrl });
  expect((await use(token)).status).toBe(200);
  expect((await use(token)).status).toBe(400);
});

it('of two concurrent uses, exactly one succeeds', async () => {
  for (let round = 0; round < 5; round += 1) {
    const token = await stack.issuer.sign({ sub: `job-c${round}`, aud: stack.issuerUrl, jti: `c-${round}` });
    const statuses = (await Promise.all([use(token), use(token)])).map((r) => r.status).sort();
    expect(statuses).toEqual([200, 400]);
  }
});
