/**
 * Shadow rules over HTTP: a rule in `mode: shadow` is evaluated and audited (shadow_match or
 * shadow_refusal, with what it would have granted) but never grants; the enforcing rule after
 * it still decides, and a request no enforcing rule grants is still denied.
 */
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { LineCapture } from '../helpers/capture';
import { exchangeForm, post } from '../helpers/http';

const READER = 'reader@token-broker-dev.iam.gserviceaccount.com';
const GEMINI = 'gemini-caller@token-broker-dev.iam.gserviceaccount.com';
const CLOUD = 'https://www.googleapis.com/auth/cloud-platform';
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
rules:
  - id: stricter
    mode: shadow
    issuer: "${issuer}"
    condition: claims.repository == 'acme/app' && claims.ref == 'refs/heads/main'
    grant: { service_account: ${GEMINI}, scopes: [${CLOUD}] }
  - id: current
    issuer: "${issuer}"
    condition: claims.repository == 'acme/app'
    grant: { service_account: ${READER}, scopes: [${CLOUD}] }
`,
  });
  await stack.broker;
});
afterAll(() => stack?.close());

async function exchange(claims: Record<string, unknown>) {
  const res = await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign({ sub: 'repo:acme/app', aud: stack.issuerUrl, ...claims })));
  await stack.audit.flush();
  const entries = audit.entries();
  return { res, exchange: entries.filter((e) => e.event === 'token_exchange').at(-1) ?? {}, shadow: entries.filter((e) => String(e.event).startsWith('shadow_')).at(-1) ?? {} };
}

it('a shadow match is audited with what it would have granted; the enforcing rule decides', async () => {
  const { res, exchange: entry, shadow } = await exchange({ repository: 'acme/app', ref: 'refs/heads/main' });
  expect(res.status).toBe(200);
  expect(stack.google.lookup(String(res.body.access_token))).toMatchObject({ serviceAccount: READER });
  expect(entry).toMatchObject({ policy: { ruleId: 'current' }, grant: { serviceAccount: READER } });
  expect((entry.policy as { trace: unknown[] }).trace).toEqual([
    { rule: 'stricter', outcome: 'matched', mode: 'shadow' },
    { rule: 'current', outcome: 'matched' },
  ]);
  expect(shadow).toMatchObject({ event: 'shadow_match', ruleId: 'stricter', decidedBy: 'current', wouldGrant: { serviceAccount: GEMINI, scopes: [CLOUD] }, principal: { subject: 'repo:acme/app' } });
});

it('a shadow refusal is audited too, and changes nothing', async () => {
  const { res, shadow } = await exchange({ repository: 'acme/app', ref: 'refs/heads/feature' });
  expect(res.status).toBe(200);
  expect(shadow).toMatchObject({ event: 'shadow_refusal', ruleId: 'stricter', outcome: 'condition_false', decidedBy: 'current' });
});

it('when no enforcing rule grants, the request is denied although the shadow rule would have matched', async () => {
  const { res } = await exchange({ repository: 'acme/other', ref: 'refs/heads/main' });
  expect(res.status).toBe(403);
  await stack.audit.flush();
  const denied = audit.entries().filter((e) => e.event === 'token_exchange').at(-1);
  expect(denied).toMatchObject({ outcome: 'denied', error: { reason: 'no_rule_matched' } });
  const shadows = audit.entries().filter((e) => e.event === 'shadow_refusal' && e.decidedBy === null);
  expect(shadows.length).toBeGreaterThan(0);
});
