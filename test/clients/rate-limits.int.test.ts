/**
 * Per-principal limits across instances: two brokers sharing one Firestore (the real
 * emulator) enforce one rule limit of 3 requests per minute for a client, together.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { LineCapture } from '../helpers/capture';
import { FORM, post } from '../helpers/http';
import { basic, clientPolicy } from './client-fixture';

const stacks: DevStack[] = [];
afterAll(() => Promise.all(stacks.map((s) => s.close())));

it('admits exactly the limit across two instances, then 429 slow_down with a truthful Retry-After, audited', async () => {
  const { text, creds } = await clientPolicy();
  const lines = new LineCapture();
  let offsetMs = 0;
  const now = () => Date.now() + offsetMs;
  const env = { BROKER_CACHE: 'firestore', BROKER_CACHE_LOCAL_KEY: randomBytes(32).toString('base64'), BROKER_FIRESTORE_PROJECT: `demo-${randomUUID().slice(0, 8)}` };
  for (let i = 0; i < 2; i++) {
    const stack = await startDevStack({ env, policyText: text, auditTransport: lines, now });
    stacks.push(stack);
    await stack.broker;
  }
  const auth = { ...FORM, authorization: basic('limited', creds.limitedSecret) };
  // Fixed UTC-minute windows: start well inside one so the burst cannot straddle two.
  if (new Date().getUTCSeconds() >= 50) await new Promise((r) => setTimeout(r, (61 - new Date().getUTCSeconds()) * 1000));
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => post(stacks[i % 2]?.tokenUrl ?? '', { grant_type: 'client_credentials' }, auth)));
  expect(answers.filter((a) => a.status === 200)).toHaveLength(3);
  const limited = answers.filter((a) => a.status === 429);
  expect(limited).toHaveLength(7);
  const secondsLeftInMinute = 60 - new Date().getUTCSeconds();
  for (const res of limited) {
    expect(res.body.error).toBe('slow_down');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(Math.max(secondsLeftInMinute + 1, 2));
  }
  for (const stack of stacks) await stack.audit.flush();
  const outcomes = lines.entries().filter((e) => e.event === 'token_exchange').map((e) => e.outcome);
  expect(outcomes.filter((o) => o === 'limited')).toHaveLength(7);
  expect(lines.entries().find((e) => e.outcome === 'limited')).toMatchObject({
    severity: 'WARNING', error: { code: 'slow_down', reason: 'limit_requests_per_minute', status: 429 }, client: { id: 'limited' },
  });
  // Retry-After is honoured: once it has passed, the client is admitted again, on either instance.
  offsetMs = Number(limited[0]?.headers.get('retry-after')) * 1000;
  expect((await post(stacks[1]?.tokenUrl ?? '', { grant_type: 'client_credentials' }, auth)).status).toBe(200);
  // Another client is not affected by this client's limit.
  expect((await post(stacks[0]?.tokenUrl ?? '', { grant_type: 'client_credentials' }, { ...FORM, authorization: basic('reporter', creds.reporterSecret) })).status).toBe(200);
}, 60_000);
