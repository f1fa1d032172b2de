/** The audit entries besides the per-request one: policy, issuer keys, cache, upstream. */
import { randomBytes, randomUUID } from 'node:crypto';
import { Firestore } from '@google-cloud/firestore';
import { startDevStack } from '../../dev/dev-stack';
import { AuditLog } from '../../shared/audit/audit-log';
import { loadBroker } from '../../shared/load-broker';
import { cacheKey } from '../../shared/cache/cache-key';
import { closedPort } from '../helpers/net';
import { LineCapture } from '../helpers/capture';
import { forgeJws, nowSeconds } from '../helpers/forge';
import { exchangeForm, post } from '../helpers/http';
import { testPolicy } from '../http/policy-fixture';


it('policy_loaded names version, rules and issuers; jwks events name the issuer and URL', async () => {
  const lines = new LineCapture();
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const stack = await startDevStack({
    env: { BROKER_CACHE: 'none' },
    auditTransport: lines,
    policyText: (urls) => testPolicy(urls, `  - issuer: "${dead}"\n    audiences: ["${urls.broker}"]\n    jwks_uri: "${dead}/jwks"\n`),
  });
  try {
    const broker = await stack.broker;
    await stack.audit.flush();
    expect(lines.entries().find((e) => e.event === 'policy_loaded')).toMatchObject({
      severity: 'NOTICE', policyVersion: broker.policy.version, rules: 2, issuers: 2, source: stack.policyFile,
    });

    const key = stack.issuer.signingKey();
    await post(stack.tokenUrl, exchangeForm(forgeJws({ alg: 'RS256', kid: key.kid }, { iss: dead, sub: 's', aud: stack.url, iat: nowSeconds(), exp: nowSeconds() + 60 }, { kind: 'rs256', key: key.privateKey })));
    expect(lines.entries().find((e) => e.event === 'jwks_fetch_failed')).toMatchObject({ severity: 'WARNING', issuer: dead, url: `${dead}/jwks` });

    const claims = { sub: 'w', aud: stack.url, repository: 'acme/app', ref: 'refs/heads/main' };
    await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign(claims)));
    const oldKid = stack.issuer.signingKey().kid;
    await stack.issuer.rotateKey();
    jest.spyOn(Date, 'now').mockReturnValue(Date.now() + 31_000); // past the JWKS refetch cooldown
    try {
      await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign({ ...claims, iat: nowSeconds(), exp: nowSeconds() + 300 })));
    } finally {
      jest.restoreAllMocks();
    }
    expect(lines.entries().find((e) => e.event === 'jwks_keys_changed')).toMatchObject({
      severity: 'NOTICE', issuer: stack.issuer.issuer, added: [stack.issuer.signingKey().kid], removed: [oldKid],
    });
  } finally {
    await stack.close();
  }
});

it('policy_load_failed carries the reason when the configuration or policy is refused', async () => {
  const lines = new LineCapture();
  const audit = new AuditLog({ projectId: 'acme-prod', transport: lines });
  await expect(loadBroker({ BROKER_POLICY_FILE: '/nonexistent.yaml', BROKER_CACHE: 'none' }, { audit })).rejects.toThrow();
  await expect(loadBroker({ BROKER_CACHE: 'none' }, { audit })).rejects.toThrow();
  await audit.flush();
  const failures = lines.entries().filter((e) => e.event === 'policy_load_failed');
  expect(failures).toEqual([
    expect.objectContaining({ severity: 'ERROR', detail: expect.stringMatching(/nonexistent\.yaml: \(file\): cannot read/) }),
    expect.objectContaining({ severity: 'ERROR', detail: expect.stringMatching(/BROKER_POLICY_FILE/) }),
  ]);
  expect(failures[0]?.logName).toBe('projects/acme-prod/logs/token-broker-audit');
});

it('cache_decrypt_failed when a cached document does not open', async () => {
  const lines = new LineCapture();
  const projectId = `demo-${randomUUID().slice(0, 8)}`;
  const env = { BROKER_CACHE: 'firestore', BROKER_CACHE_LOCAL_KEY: randomBytes(32).toString('base64'), BROKER_FIRESTORE_PROJECT: projectId };
  const stack = await startDevStack({ env, policyText: testPolicy, auditTransport: lines });
  const db = new Firestore({ projectId });
  try {
    const broker = await stack.broker;
    const claims = { sub: 'first', aud: stack.url, repository: 'acme/app', ref: 'refs/heads/main' };
    expect((await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign(claims)))).status).toBe(200);
    const [doc] = (await db.collection('token-broker-cache').get()).docs;
    // Move that document under the key another principal's request will look up.
    const rule = broker.policy.rules[0];
    const otherKey = cacheKey({
      issuer: stack.issuer.issuer, subject: 'second', ruleId: 'main-branch', policyVersion: broker.policy.version,
      serviceAccount: rule?.grant.serviceAccount ?? '', scopes: rule?.grant.scopes ?? [], delegates: [], lifetimeSeconds: 900,
    });
    await db.collection('token-broker-cache').doc(otherKey).set(doc?.data() ?? {});
    expect((await post(stack.tokenUrl, exchangeForm(await stack.issuer.sign({ ...claims, sub: 'second' })))).status).toBe(200);
    await stack.audit.flush();
    expect(lines.entries().find((e) => e.event === 'cache_decrypt_failed')).toMatchObject({
      severity: 'WARNING', cacheKey: otherKey, reason: expect.stringMatching(/authentication failed/),
    });
    const exchange = lines.entries().filter((e) => e.event === 'token_exchange').at(-1);
    expect(exchange?.cache).toEqual({ outcome: 'miss', refreshStarted: false });
  } finally {
    await db.terminate();
    await stack.close();
  }
});
