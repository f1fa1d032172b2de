/**
 * Nothing secret is ever printed: a representative run of requests (issued, every class of
 * refusal, upstream failures, key outages, cache on) while everything the process writes
 * to stdout and stderr is captured, then searched for every token, assertion and key used,
 * in clear, base64 and base64url form.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { DEV_SOURCE_TOKEN, startDevStack, type DevStack } from '../../dev/dev-stack';
import { b64url, forgeJws, nowSeconds } from '../helpers/forge';
import { captureProcessOutput } from '../helpers/capture';
import { closedPort } from '../helpers/net';
import { exchangeForm, post } from '../helpers/http';
import { GENERATIVE_LANGUAGE, STORAGE_READ, testPolicy } from '../http/policy-fixture';


it('prints no token, assertion, credential or key in any form', async () => {
  const secrets: string[] = [DEV_SOURCE_TOKEN];
  const cacheKey = randomBytes(32).toString('base64');
  secrets.push(cacheKey);
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const requestIds: string[] = [];
  const track = <T extends { headers: Headers }>(res: T): T => {
    requestIds.push(res.headers.get('x-request-id') ?? 'missing');
    return res;
  };

  const { output } = await captureProcessOutput(async () => {
    const stacks: DevStack[] = [];
    try {
      for (const env of [{ BROKER_CACHE: 'none' }, { BROKER_CACHE: 'firestore', BROKER_CACHE_LOCAL_KEY: cacheKey, BROKER_FIRESTORE_PROJECT: `demo-${randomUUID().slice(0, 8)}` }]) {
        const stack = await startDevStack({
          env,
          auditTransport: process.stdout,
          policyText: (urls) => testPolicy(urls, `  - issuer: "${dead}"\n    audiences: ["${urls.broker}"]\n    jwks_uri: "${dead}/jwks"\n`),
        });
        stacks.push(stack);
        await stack.broker;
        const privateJwk = await crypto.subtle.exportKey('jwk', stack.issuer.signingKey().privateKey);
        secrets.push(String(privateJwk.d), String(privateJwk.p), String(privateJwk.q));
        const sign = async (extra: Record<string, unknown> = {}) => {
          const token = await stack.issuer.sign({ sub: 'repo:acme/app:ref:refs/heads/main', aud: stack.url, repository: 'acme/app', ref: 'refs/heads/main', ...extra });
          secrets.push(token);
          return token;
        };
        const send = async (body: Record<string, string>, headers?: Record<string, string>) => {
          const res = track(await post(stack.tokenUrl, body, headers));
          if (typeof res.body.access_token === 'string') secrets.push(res.body.access_token);
          return res;
        };
        const key = stack.issuer.signingKey();
        const header = { alg: 'RS256', kid: key.kid };
        const forged = (payload: object) => {
          const token = forgeJws(header, { iss: stack.issuer.issuer, iat: nowSeconds(), exp: nowSeconds() + 300, aud: stack.url, sub: 's', ...payload }, { kind: 'rs256', key: key.privateKey });
          secrets.push(token);
          return token;
        };

        await send(exchangeForm(await sign()));
        await send(exchangeForm(await sign()));
        await send(exchangeForm(await sign(), { scope: GENERATIVE_LANGUAGE }));
        await send(exchangeForm(await sign({ repository: 'acme/other' })));
        await send(exchangeForm(await sign(), { scope: STORAGE_READ }));
        await send(exchangeForm(await sign(), { audience: 'nope' }));
        await send(exchangeForm(await sign({ exp: nowSeconds() - 600, iat: nowSeconds() - 900 })));
        await send(exchangeForm(await sign({ aud: 'https://elsewhere.example' })));
        await send(exchangeForm(forged({ iss: 'https://untrusted.example' })));
        await send(exchangeForm(forged({ iss: dead })));
        await send(exchangeForm(`${(await sign()).slice(0, -4)}AAAA`));
        await send(exchangeForm(forgeJws({ alg: 'none' }, { sub: 'x' }, { kind: 'none' })));
        await send(exchangeForm(forgeJws({ alg: 'HS256', kid: key.kid }, { iss: stack.issuer.issuer, sub: 'x' }, { kind: 'hs256', secret: JSON.stringify(key.publicJwk) })));
        await send(exchangeForm(`${b64url('{"alg":"RSA-OAEP"}')}.a.b.c.d`));
        const dup = new URLSearchParams(exchangeForm(await sign())).toString();
        track(await post(stack.tokenUrl, `${dup}&subject_token=${encodeURIComponent(await sign())}`));
        track(await post(stack.tokenUrl, JSON.stringify(exchangeForm(await sign())), { 'content-type': 'application/json' }));
        track(await fetch(`${stack.tokenUrl}?subject_token=${await sign()}`));
        stack.google.faults.failNext({ status: 503, count: Infinity, match: 'generateAccessToken' });
        await send(exchangeForm(await sign({ sub: 'fresh-principal-1' })));
        stack.google.faults.failNext({ status: 403, count: Infinity, match: 'generateAccessToken' });
        await send(exchangeForm(await sign({ sub: 'fresh-principal-2' })));
        stack.google.faults.clear();
        await stack.audit.flush();
      }
    } finally {
      await Promise.all(stacks.map((s) => s.close()));
    }
  });

  // The capture really saw the audit trail: exactly one exchange entry per request.
  const exchangeEntries = output.split('\n').filter((line) => line.includes('"event":"token_exchange"'));
  expect(requestIds).toHaveLength(38);
  expect(exchangeEntries).toHaveLength(requestIds.length);
  for (const id of requestIds) expect(exchangeEntries.filter((line) => line.includes(`"requestId":"${id}"`))).toHaveLength(1);
  const needles = secrets.filter((s) => s.length >= 8).flatMap((secret) => {
    const forms = [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('base64url')];
    const signature = secret.split('.')[2];
    return signature && signature.length >= 16 ? [...forms, signature] : forms;
  });
  expect(needles.length).toBeGreaterThan(50);
  for (const needle of needles) {
    if (output.includes(needle)) throw new Error(`a secret (${needle.length} chars, starting ${needle.slice(0, 6)}…) appears in the output`);
  }
}, 120_000);
