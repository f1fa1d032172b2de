/**
 * Fault injection on an issuer's key host through the real endpoint. The policy names a
 * loopback key host that relays the demo issuer's JWKS, or goes down, stalls, resets or
 * serves garbage on command. The broker's clock travels (startDevStack `now`), so the 10-min
 * cache age, the 30-s cooldown and the 6-h staleness bound are crossed without waiting.
 * Required: keys fetched earlier keep working through an outage for a bounded window and no
 * longer; a rotated key set is picked up; a dead host is asked once per cooldown, not once
 * per request; callers get 503 + Retry-After when no usable key is at hand; exactly one
 * `token_exchange` entry per request.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { DEFAULTS } from '../../shared/config/defaults';
import { LineCapture } from '../helpers/capture';
import { forgeJws } from '../helpers/forge';
import { exchangeForm, post, type Answer } from '../helpers/http';
import { testPolicy } from '../http/policy-fixture';

type Mode = 'up' | 'down' | 'garbage' | 'not-a-key-set' | 'slow' | 'reset';

/** A loopback key host: relays the issuer's JWKS when up, misbehaves on command. */
async function startKeyHost() {
  let mode: Mode = 'up';
  let upstream = '';
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    switch (mode) {
      case 'down': return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"unavailable"}');
      case 'garbage': return void res.writeHead(200, { 'content-type': 'application/json' }).end('<html>maintenance</html>');
      case 'not-a-key-set': return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":"none"}');
      case 'reset': return void req.socket.destroy();
      case 'slow': return void setTimeout(() => res.destroyed || res.writeHead(503).end(), 4_000);
      case 'up':
        return void fetch(upstream).then(async (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    relayTo: (url: string) => void (upstream = url),
    set: (next: Mode) => void (mode = next),
    hits: () => hits,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

const KEY_TIMEOUT_MS = 800;
const MINUTE = 60_000;
let offsetMs = 0;
const now = () => Date.now() + offsetMs;
const travel = (ms: number) => void (offsetMs += ms);

let keyHost: Awaited<ReturnType<typeof startKeyHost>>;
let stack: DevStack;
const lines = new LineCapture();
let requests = 0;

beforeAll(async () => {
  keyHost = await startKeyHost();
  stack = await startDevStack({
    env: { BROKER_CACHE: 'none' },
    auditTransport: lines,
    now,
    resilience: { keys: { timeoutMs: KEY_TIMEOUT_MS } },
    policyText: (urls) => testPolicy(urls).replace('    algorithms: [RS256]\n', `    algorithms: [RS256]\n    jwks_uri: "${keyHost.url}"\n`),
  });
  keyHost.relayTo(stack.issuer.jwksUri);
  await stack.broker;
});

afterAll(async () => {
  await stack.audit.flush();
  expect(lines.entries().filter((e) => e.event === 'token_exchange')).toHaveLength(requests);
  await stack.close();
  await keyHost.close();
});

const claims = () => {
  const iat = Math.floor(now() / 1000);
  return { sub: 'repo:acme/app', aud: stack.url, repository: 'acme/app', ref: 'refs/heads/main', iat, exp: iat + 300 };
};

async function exchange(token?: string): Promise<Answer & { elapsedMs: number }> {
  requests++;
  const started = Date.now();
  const answer = await post(stack.tokenUrl, exchangeForm(token ?? (await stack.issuer.sign(claims()))));
  return { ...answer, elapsedMs: Date.now() - started };
}

/** Waits until background refetches have settled (the key host has answered or timed out). */
const settle = () => new Promise((resolve) => setTimeout(resolve, KEY_TIMEOUT_MS + 100));

async function events(name: string) {
  await stack.audit.flush();
  return lines.entries().filter((e) => e.event === name);
}

function expectKeysUnavailable(answer: Answer) {
  expect(answer.status).toBe(503);
  expect(answer.body).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
  expect(answer.headers.get('retry-after')).toBe(String(DEFAULTS.jwksRetryAfterSeconds));
  expect(answer.headers.get('cache-control')).toBe('no-store');
}

describe('an issuer key host in trouble (tests run in order, on one broker)', () => {
  let fetchedAt = 0;

  it('fetches the keys once while they are fresh', async () => {
    expect((await exchange()).status).toBe(200);
    fetchedAt = offsetMs;
    expect((await exchange()).status).toBe(200);
    expect(keyHost.hits()).toBe(1);
  });

  it('host down past the cache age: the keys in hand keep verifying, the refetch happens in the background and is audited', async () => {
    keyHost.set('down');
    travel(DEFAULTS.jwksCacheMaxAgeMs + MINUTE);
    const answer = await exchange();
    expect(answer.status).toBe(200);
    await settle();
    expect(keyHost.hits()).toBe(2);
    expect((await events('jwks_fetch_failed')).at(-1)).toMatchObject({ url: keyHost.url, detail: expect.stringMatching(/HTTP 503; keeping keys fetched \d+ s ago \(trusted up to 21600 s\)/) });
  });

  it('does not hammer the dead host: 20 more requests in the cooldown cause no fetch', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => exchange()));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    await settle();
    expect(keyHost.hits()).toBe(2);
  });

  it.each([
    ['garbage instead of JSON', 'garbage' as const, /did not answer JSON/],
    ['JSON that is not a key set', 'not-a-key-set' as const, /did not answer a JWK set/],
    ['a reset connection', 'reset' as const, /failed/],
    ['a host slower than the fetch timeout', 'slow' as const, /failed/],
  ])('%s: the answer does not wait for it, and the earlier keys serve', async (_name, mode, detail) => {
    keyHost.set(mode);
    travel(DEFAULTS.jwksCooldownMs + 1_000);
    const before = keyHost.hits();
    const answer = await exchange();
    expect(answer.status).toBe(200);
    expect(answer.elapsedMs).toBeLessThan(KEY_TIMEOUT_MS);
    await settle();
    expect(keyHost.hits()).toBe(before + 1);
    expect((await events('jwks_fetch_failed')).at(-1)).toMatchObject({ detail: expect.stringMatching(detail) });
  });

  it('past the staleness bound the old keys are trusted no longer: 503 + Retry-After, one fetch per cooldown', async () => {
    keyHost.set('down');
    offsetMs = fetchedAt + DEFAULTS.jwksMaxStaleMs + MINUTE;
    const before = keyHost.hits();
    expectKeysUnavailable(await exchange());
    for (let i = 0; i < 5; i++) expectKeysUnavailable(await exchange());
    expect(keyHost.hits()).toBe(before + 1);
  });

  it('once the host is back (after the cooldown) tokens verify again with fresh keys', async () => {
    keyHost.set('up');
    travel(DEFAULTS.jwksCooldownMs + 1_000);
    expect((await exchange()).status).toBe(200);
    fetchedAt = offsetMs;
  });

  it('a rotated key set: a token under the new key is accepted, one under the withdrawn key refused', async () => {
    const old = stack.issuer.signingKey();
    await stack.issuer.rotateKey();
    travel(DEFAULTS.jwksCooldownMs + 1_000);
    expect((await exchange()).status).toBe(200);
    expect((await events('jwks_keys_changed')).at(-1)).toMatchObject({ added: [stack.issuer.signingKey().kid], removed: [old.kid] });
    const withdrawn = forgeJws({ alg: 'RS256', typ: 'JWT', kid: old.kid }, { iss: stack.issuer.issuer, ...claims() }, { kind: 'rs256', key: old.privateKey });
    const refused = await exchange(withdrawn);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_grant');
    expect((await events('token_exchange')).at(-1)).toMatchObject({ error: { reason: 'unknown_key' } });
  });

  it('a token under a key not yet seen while the host is down: "retry later", not "invalid token"', async () => {
    await stack.issuer.rotateKey();
    keyHost.set('down');
    travel(DEFAULTS.jwksCooldownMs + 1_000);
    expectKeysUnavailable(await exchange());
    // within the cooldown: still a retryable answer, and the host is not asked again
    const before = keyHost.hits();
    expectKeysUnavailable(await exchange());
    expect(keyHost.hits()).toBe(before);
    keyHost.set('up');
    travel(DEFAULTS.jwksCooldownMs + 1_000);
    expect((await exchange()).status).toBe(200);
  });
});

describe('an issuer\'s own staleness bound (max_key_staleness_seconds)', () => {
  it('keys older than the issuer\'s bound stop verifying while the default bound would still accept them', async () => {
    const host = await startKeyHost();
    let offset = 0;
    const strict = await startDevStack({
      env: { BROKER_CACHE: 'none' },
      auditTransport: new LineCapture(),
      now: () => Date.now() + offset,
      policyText: (urls) => testPolicy(urls).replace('    algorithms: [RS256]\n', `    algorithms: [RS256]\n    jwks_uri: "${host.url}"\n    max_key_staleness_seconds: 1200\n`),
    });
    try {
      host.relayTo(strict.issuer.jwksUri);
      const token = async () => {
        const iat = Math.floor((Date.now() + offset) / 1000);
        return strict.issuer.sign({ sub: 's', aud: strict.url, repository: 'acme/app', iat, exp: iat + 300 });
      };
      expect((await post(strict.tokenUrl, exchangeForm(await token()))).status).toBe(200);
      host.set('down');
      offset = 15 * MINUTE; // past the cache age, within 1200 s: the keys in hand serve
      expect((await post(strict.tokenUrl, exchangeForm(await token()))).status).toBe(200);
      await settle();
      offset = 21 * MINUTE; // past 1200 s (the 6-h default would still serve)
      expectKeysUnavailable(await post(strict.tokenUrl, exchangeForm(await token())));
    } finally {
      await strict.close();
      await host.close();
    }
  });
});

describe('one deadline per request', () => {
  it('a key host slower than the request deadline: 503 at the deadline, not at the fetch timeout', async () => {
    const host = await startKeyHost();
    const capture = new LineCapture();
    const slow = await startDevStack({
      env: { BROKER_CACHE: 'none' },
      auditTransport: capture,
      resilience: { requestDeadlineMs: 500, keys: { timeoutMs: 10_000 } },
      policyText: (urls) => testPolicy(urls).replace('    algorithms: [RS256]\n', `    algorithms: [RS256]\n    jwks_uri: "${host.url}"\n`),
    });
    try {
      host.set('slow');
      const started = Date.now();
      const iat = Math.floor(Date.now() / 1000);
      const answer = await post(slow.tokenUrl, exchangeForm(await slow.issuer.sign({ sub: 's', aud: slow.url, repository: 'acme/app', iat, exp: iat + 300 })));
      const elapsed = Date.now() - started;
      expect(answer.status).toBe(503);
      expect(answer.body.error).toBe('temporarily_unavailable');
      expect(answer.headers.get('retry-after')).toBe(String(DEFAULTS.upstreamRetryAfterSeconds));
      expect(elapsed).toBeGreaterThanOrEqual(450);
      expect(elapsed).toBeLessThan(1_500);
      await slow.audit.flush();
      const entries = capture.entries().filter((e) => e.event === 'token_exchange');
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({ outcome: 'upstream_failure', error: { code: 'temporarily_unavailable', reason: 'deadline_exceeded' } });
    } finally {
      await slow.close();
      await host.close();
    }
  });
});
