/**
 * Fault injection on the broker's state dependencies, through the real HTTP endpoint:
 * Firestore (token cache, rate limiter, replay store) stopped, resetting, slow or stalled,
 * and Cloud KMS (the cache's key wrapping) failing in every way its emulator can.
 *
 * What the broker owes its callers (docs/cache.md "Degradation", docs/clients.md "Shared
 * state in Firestore"):
 *   - the token cache degrades: exchanges are answered by minting directly, within the
 *     cache's budgets, with a `cache_*` audit event, and the cache is used again once the
 *     dependency is back and the back-off has passed;
 *   - the rate limiter fails open per instance, still bounded by the same limits;
 *   - the replay store fails closed: 503 temporarily_unavailable with Retry-After, no token.
 * Every answer carries `Cache-Control: no-store` and yields exactly one `token_exchange`
 * audit entry.
 *
 * Firestore is the suite's emulator, reached through a loopback TCP proxy that injects the
 * faults, down to taking it away altogether (the emulator itself is never stopped). Instances
 * of one deployment share the emulator, the project, the cache key and the policy file.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Firestore } from '@google-cloud/firestore';
import { startDevStack } from '../../dev/dev-stack';
import type { DemoIssuer } from '../../dev/demo-issuer';
import type { GoogleEmulator } from '../../dev/google-emulator';
import { kmsClientOptionsFor, startKmsEmulator, type KmsEmulator } from '../../dev/kms-emulator';
import type { AuditLog } from '../../shared/audit/audit-log';
import type { CacheWiring } from '../../shared/cache/create-token-cache';
import { EnvelopeCipher } from '../../shared/cache/envelope';
import { createFirestoreStore } from '../../shared/cache/firestore-store';
import { kmsKeyWrapper } from '../../shared/cache/kms-key-wrapper';
import { DEFAULTS } from '../../shared/config/defaults';
import { sha256Fingerprint } from '../../shared/fingerprint';
import { REPLAY_CLAIM_BUDGET_MS } from '../../shared/identity/replay-store';
import { GRANT_TYPE_JWT_BEARER } from '../../shared/oauth-uris';
import { captureProcessOutput, LineCapture } from '../helpers/capture';
import { exchangeForm, FORM, post, type Answer } from '../helpers/http';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { assertion, basic, clientPolicy, type ClientCredentialsSet } from '../clients/client-fixture';

/**
 * What an answer may take beyond the dependency budget it waited for: subject-token
 * verification, a mint from the loopback IAM emulator and the HTTP round trip (measured
 * 10–60 ms here), with headroom for a loaded 2-core machine. Without budgets the same
 * requests would wait for the Firestore SDK's retries (tens of seconds) or the request
 * deadline (DEFAULTS.requestDeadlineMs).
 */
const ALLOWANCE_MS = 500;
/** First request after Firestore fails: one read budget, then a mint. */
const DEGRADED_BOUND_MS = DEFAULTS.cacheReadBudgetMs + ALLOWANCE_MS;
/** First request after Cloud KMS fails while sealing: read and lease answered, one write budget, a mint. */
const SEAL_FAILURE_BOUND_MS = DEFAULTS.cacheWriteBudgetMs + ALLOWANCE_MS;
/** Audience every test token carries (listed for the demo issuer in test/http/policy-fixture.ts). */
const AUDIENCE = 'https://broker.example.test';
const CACHE_EVENTS = ['cache_decrypt_failed', 'cache_store_unavailable', 'cache_lease_timeout', 'cache_refresh_failed'];

/** The suite's emulator (host:port on 127.0.0.1). */
let emulatorHost: string;
let firestoreProxy: TcpProxy;
let fixture: { text: (urls: { issuer: string; broker: string }) => string; creds: ClientCredentialsSet };
/** The brokers' clock: tests travel past back-offs and key lifetimes instead of sleeping. */
let offset = 0;
const now = () => Date.now() + offset;
const nowSeconds = () => Math.floor(now() / 1000);

/** One broker instance, its audit trail, and how to reach it. */
interface Instance {
  readonly tokenUrl: string;
  readonly issuer: DemoIssuer;
  readonly google: GoogleEmulator;
  readonly policyFile: string;
  readonly lines: LineCapture;
  readonly log: AuditLog;
  close(): Promise<void>;
}

/** Instances of one deployment share a Firestore project, a cache key and a policy. */
interface Deployment {
  readonly project: string;
  readonly localKey: string;
  policyFile?: string;
  issuer?: DemoIssuer;
}

/** Instances and servers a test started, closed after it. */
const open: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  emulatorHost = process.env.FIRESTORE_EMULATOR_HOST as string;
  fixture = await clientPolicy();
  firestoreProxy = await startTcpProxy({ port: Number(emulatorHost.split(':')[1]) });
}, 30_000);

beforeEach(async () => {
  offset = 0;
  await firestoreProxy.healthy();
});

afterEach(async () => {
  // Firestore reachable again first, so the clients' pending retries settle and they shut down cleanly.
  await firestoreProxy.healthy();
  await Promise.all(open.splice(0).map((instance) => instance.close()));
});

afterAll(async () => {
  await firestoreProxy?.close();
});

function newDeployment(): Deployment {
  return { project: `demo-faults-${randomUUID().slice(0, 8)}`, localKey: randomBytes(32).toString('base64') };
}

/**
 * A broker (the real function, via startDevStack) whose Firestore client talks to `host`. By
 * default its cache seals with a local key; `kms` gives it a cache store of its own instead.
 */
async function brokerVia(host: string, deployment: Deployment, kms?: { env: Record<string, string>; cache: CacheWiring; close(): Promise<void> }): Promise<Instance> {
  const lines = new LineCapture();
  const shared = process.env.FIRESTORE_EMULATOR_HOST;
  process.env.FIRESTORE_EMULATOR_HOST = host; // read by the Firestore client the broker creates while it loads
  try {
    const stack = await startDevStack({
      env: { BROKER_CACHE: 'firestore', BROKER_FIRESTORE_PROJECT: deployment.project, ...(kms?.env ?? { BROKER_CACHE_LOCAL_KEY: deployment.localKey }) },
      ...(deployment.policyFile ? { policyFile: deployment.policyFile } : { policyText: fixture.text }),
      auditTransport: lines,
      now,
      cache: kms?.cache,
    });
    const close = async () => {
      await stack.close();
      await kms?.close();
    };
    const instance: Instance = { tokenUrl: stack.tokenUrl, issuer: stack.issuer, google: stack.google, policyFile: stack.policyFile, lines, log: stack.audit, close };
    open.push(instance);
    await stack.broker;
    deployment.policyFile ??= stack.policyFile;
    deployment.issuer ??= stack.issuer;
    return instance;
  } finally {
    process.env.FIRESTORE_EMULATOR_HOST = shared;
  }
}

/** A token exchange form for `sub`, signed by the deployment's demo issuer on the brokers' clock. */
async function exchangeFor(deployment: Deployment, sub: string): Promise<Record<string, string>> {
  const iat = nowSeconds();
  const token = await (deployment.issuer as DemoIssuer).sign({ sub, aud: AUDIENCE, repository: 'acme/app', ref: 'refs/heads/main', iat, exp: iat + 300 });
  return exchangeForm(token);
}

interface Sent extends Answer {
  /** Wall-clock time to the answer, in ms. */
  readonly ms: number;
  /** The request's one `token_exchange` entry. */
  readonly entry: Record<string, any>;
  /** Other audit entries written meanwhile (upstream_mint, cache_*, limits_*). */
  readonly events: Array<Record<string, any>>;
}

/**
 * One request, and what it left in the audit trail: exactly one `token_exchange` entry, with
 * the request id the caller got. Every token-endpoint answer carries Cache-Control: no-store.
 */
async function send(instance: Instance, body: Record<string, string>, headers: Record<string, string> = FORM): Promise<Sent> {
  const before = instance.lines.lines.length;
  const started = performance.now();
  const res = await post(instance.tokenUrl, body, headers);
  const ms = performance.now() - started;
  await instance.log.flush();
  const fresh = instance.lines.entries().slice(before);
  const exchanges = fresh.filter((e) => e.event === 'token_exchange');
  expect(exchanges).toHaveLength(1);
  expect(exchanges[0]?.requestId).toBe(res.headers.get('x-request-id'));
  expect(res.headers.get('cache-control')).toBe('no-store');
  return { ...res, ms, entry: exchanges[0] as Record<string, any>, events: fresh.filter((e) => e.event !== 'token_exchange' && e.event !== undefined) };
}

/** 200 with a token, audited as issued with this cache outcome and the token's fingerprint. */
function expectIssued(sent: Sent, cache: string | string[]): void {
  expect({ status: sent.status, error: sent.body.error }).toEqual({ status: 200, error: undefined });
  expect(sent.body).toEqual(expect.objectContaining({ access_token: expect.any(String), token_type: 'Bearer', expires_in: expect.any(Number) }));
  expect(sent.entry).toMatchObject({ outcome: 'issued', tokenSha256: sha256Fingerprint(String(sent.body.access_token)) });
  expect([cache].flat()).toContain(sent.entry.cache?.outcome);
}

/** An RFC 6749 §5.2 error body and no token. */
function expectError(sent: Sent, status: number, error: string): void {
  expect(sent.status).toBe(status);
  expect(sent.body).toEqual({ error, error_description: expect.any(String) });
  expect(sent.text).not.toMatch(/access_token/);
  expect(sent.entry.error).toMatchObject({ code: error, status });
  expect(sent.entry.tokenSha256).toBeUndefined();
}

const eventsNamed = (sent: Sent, ...names: string[]) => sent.events.filter((e) => names.includes(e.event));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Once a dependency is back: travels past the back-off and exchanges for new subjects until
 * one is served through the shared cache again (`miss`: looked up, leased, minted, stored).
 * The Firestore client may first need to reconnect (gRPC backs off its own reconnects), so a
 * few attempts may still degrade; none may fail.
 */
async function untilCacheServes(instance: Instance, deployment: Deployment, limitMs = 10_000): Promise<{ sent: Sent; sub: string }> {
  const deadline = Date.now() + limitMs;
  for (let attempt = 0; ; attempt++) {
    offset += DEFAULTS.cacheStoreBackoffMs;
    const sub = `recovered-${attempt}`;
    const sent = await send(instance, await exchangeFor(deployment, sub));
    expectIssued(sent, ['miss', 'degraded']);
    if (sent.entry.cache.outcome === 'miss') {
      expect(eventsNamed(sent, ...CACHE_EVENTS)).toEqual([]);
      return { sent, sub };
    }
    if (Date.now() > deadline) throw new Error(`the shared cache was not used again within ${limitMs} ms of the dependency's return`);
    await sleep(200);
  }
}

describe('token cache: Firestore unavailable or slow', () => {
  interface FirestoreFault {
    name: string;
    inject(): Promise<void> | void;
    heal(): Promise<void> | void;
    /** What the first failing operation reports. */
    detail: RegExp;
  }

  const faults: FirestoreFault[] = [
    {
      name: 'Firestore gone (connections reset, nothing listening)',
      inject: () => firestoreProxy.down(),
      heal: () => firestoreProxy.healthy(),
      detail: /^Firestore read (exceeded|failed)/,
    },
    { name: 'connections reset', inject: () => firestoreProxy.reset(), heal: () => firestoreProxy.healthy(), detail: /^Firestore read (exceeded|failed)/ },
    {
      name: `latency of twice the read budget (${2 * DEFAULTS.cacheReadBudgetMs} ms per chunk)`,
      inject: () => firestoreProxy.healthy(2 * DEFAULTS.cacheReadBudgetMs),
      heal: () => firestoreProxy.healthy(),
      detail: new RegExp(`^Firestore read exceeded ${DEFAULTS.cacheReadBudgetMs} ms`),
    },
    { name: 'a stall (connections accepted, nothing forwarded)', inject: () => firestoreProxy.stall(), heal: () => firestoreProxy.healthy(), detail: new RegExp(`^Firestore read exceeded ${DEFAULTS.cacheReadBudgetMs} ms`) },
  ];

  it.each(faults)('$name: exchanges mint directly within the read budget, audited, then the cache serves again after the back-off', async (fault) => {
    const deployment = newDeployment();
    const a = await brokerVia(firestoreProxy.host, deployment);
    expectIssued(await send(a, await exchangeFor(deployment, 'before')), 'miss');

    await fault.inject();
    // The first request pays one read budget, mints, and reports the outage once.
    const first = await send(a, await exchangeFor(deployment, 'during-1'));
    expectIssued(first, 'degraded');
    expect(first.ms).toBeLessThan(DEGRADED_BOUND_MS);
    expect(eventsNamed(first, ...CACHE_EVENTS)).toEqual([
      expect.objectContaining({ event: 'cache_store_unavailable', severity: 'WARNING', cacheKey: expect.stringMatching(/^[0-9a-f]{64}$/), detail: expect.stringMatching(fault.detail) }),
    ]);
    expect(eventsNamed(first, 'upstream_mint')).toEqual([expect.objectContaining({ outcome: 'success', trigger: 'request' })]);
    // Within the back-off Firestore is not asked at all: no budget paid, nothing more to report.
    const second = await send(a, await exchangeFor(deployment, 'during-2'));
    expectIssued(second, 'degraded');
    expect(second.ms).toBeLessThan(DEFAULTS.cacheReadBudgetMs);
    expect(eventsNamed(second, ...CACHE_EVENTS)).toEqual([]);
    // What this instance holds in memory is still served.
    expectIssued(await send(a, await exchangeFor(deployment, 'before')), 'hit');

    await fault.heal();
    const backingOff = await send(a, await exchangeFor(deployment, 'healed-early'));
    expectIssued(backingOff, 'degraded');
    expect(backingOff.ms).toBeLessThan(DEFAULTS.cacheReadBudgetMs);

    const { sent: recovered, sub } = await untilCacheServes(a, deployment);
    // Stored for the deployment: another instance is served that very token from Firestore.
    const b = await brokerVia(emulatorHost, deployment);
    const shared = await send(b, await exchangeFor(deployment, sub));
    expectIssued(shared, 'hit-shared');
    expect(shared.body.access_token).toBe(recovered.body.access_token);
  }, 30_000);
});

describe('rate limiter: Firestore unavailable', () => {
  it('fails open per instance, bounded by the same limit: 3 admitted, then 429 slow_down, audited limits_store_unavailable', async () => {
    const deployment = newDeployment();
    const a = await brokerVia(firestoreProxy.host, deployment);
    // Fixed UTC-minute windows: put the brokers' clock 1 s into a fresh minute.
    offset += 60_000 - (now() % 60_000) + 1000;

    const auth = { ...FORM, authorization: basic('limited', fixture.creds.limitedSecret) };
    // What the same burst costs with Firestore up, from a client without limits: secret
    // hashing (two scrypt at a time), the cache, a mint.
    const reporter = { ...FORM, authorization: basic('reporter', fixture.creds.reporterSecret) };
    const baselineStarted = performance.now();
    const baseline = await Promise.all(Array.from({ length: 6 }, () => post(a.tokenUrl, { grant_type: 'client_credentials' }, reporter)));
    const baselineMs = performance.now() - baselineStarted;
    expect(baseline.map((res) => res.status)).toEqual([200, 200, 200, 200, 200, 200]);

    await firestoreProxy.reset();
    const before = a.lines.lines.length;
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 6 }, () => post(a.tokenUrl, { grant_type: 'client_credentials' }, auth)));
    const ms = performance.now() - started;
    await a.log.flush();
    const fresh = a.lines.entries().slice(before);

    const ok = answers.filter((res) => res.status === 200);
    const limited = answers.filter((res) => res.status === 429);
    expect(ok).toHaveLength(3);
    expect(limited).toHaveLength(3);
    // The outage adds one reservation budget and one cache read budget at most.
    expect(ms).toBeLessThan(baselineMs + DEFAULTS.limitsReserveBudgetMs + DEFAULTS.cacheReadBudgetMs + ALLOWANCE_MS);
    for (const res of answers) {
      expect(res.headers.get('cache-control')).toBe('no-store');
      const entries = fresh.filter((e) => e.event === 'token_exchange' && e.requestId === res.headers.get('x-request-id'));
      expect(entries).toHaveLength(1);
      if (res.status === 200) {
        expect(entries[0]).toMatchObject({ outcome: 'issued', client: { id: 'limited' }, tokenSha256: sha256Fingerprint(String(res.body.access_token)) });
      } else {
        expect(res.body).toEqual({ error: 'slow_down', error_description: expect.any(String) });
        const retryAfter = Number(res.headers.get('retry-after'));
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(60);
        expect(entries[0]).toMatchObject({ outcome: 'limited', severity: 'WARNING', error: { code: 'slow_down', reason: 'limit_requests_per_minute', status: 429, detail: 'rule:limited' } });
      }
    }
    expect(fresh.filter((e) => e.event === 'token_exchange')).toHaveLength(6);
    expect(fresh.filter((e) => e.event === 'limits_store_unavailable')).toEqual([
      expect.objectContaining({ severity: 'WARNING', detail: expect.stringMatching(/quota reservation (exceeded|failed)/) }),
    ]);

    // Still refused one at a time, from this instance's own count, without asking Firestore.
    const again = await send(a, { grant_type: 'client_credentials' }, auth);
    expectError(again, 429, 'slow_down');
    expect(again.ms).toBeLessThan(DEFAULTS.limitsReserveBudgetMs);
    // The next minute admits again (the per-instance count has its window too).
    offset += 60_000;
    expectIssued(await send(a, { grant_type: 'client_credentials' }, auth), ['hit', 'degraded']);
  }, 30_000);
});

describe('replay store: Firestore unavailable', () => {
  it('fails closed: 503 temporarily_unavailable with Retry-After, one audit entry, no token minted', async () => {
    const deployment = newDeployment();
    const a = await brokerVia(firestoreProxy.host, deployment);
    const fresh = () => assertion(fixture.creds.signerKey, 'signer', a.tokenUrl, { iat: nowSeconds(), exp: nowSeconds() + 120 });
    expectIssued(await send(a, { grant_type: GRANT_TYPE_JWT_BEARER, assertion: await fresh() }), 'miss');

    await firestoreProxy.reset();
    const mintsBefore = a.google.requests.filter((r) => r.endpoint === 'generateAccessToken').length;
    const requests: Array<[string, () => Promise<Record<string, string>>]> = [
      ['jwt-bearer grant', async () => ({ grant_type: GRANT_TYPE_JWT_BEARER, assertion: await fresh() })],
      ['private_key_jwt client authentication', async () => ({
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await fresh(),
      })],
    ];
    for (const [, form] of requests) {
      const sent = await send(a, await form());
      expectError(sent, 503, 'temporarily_unavailable');
      expect(sent.headers.get('retry-after')).toBe('5');
      expect(sent.entry).toMatchObject({ outcome: 'upstream_failure', severity: 'ERROR', error: { reason: 'replay_store_unavailable' } });
      expect(sent.ms).toBeLessThan(REPLAY_CLAIM_BUDGET_MS + ALLOWANCE_MS);
      expect(eventsNamed(sent, 'upstream_mint', ...CACHE_EVENTS)).toEqual([]);
    }
    expect(a.google.requests.filter((r) => r.endpoint === 'generateAccessToken')).toHaveLength(mintsBefore);

    // Back: fresh assertions are accepted again (after the client reconnects).
    await firestoreProxy.healthy();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const sent = await send(a, { grant_type: GRANT_TYPE_JWT_BEARER, assertion: await fresh() });
      if (sent.status === 200) {
        expectIssued(sent, ['hit', 'miss', 'degraded']);
        break;
      }
      expectError(sent, 503, 'temporarily_unavailable');
      if (Date.now() > deadline) throw new Error('assertions were still refused 10 s after Firestore returned');
      await sleep(200);
    }
  }, 30_000);
});

describe('token cache: Cloud KMS failing', () => {
  const KMS_KEY = 'projects/token-broker-dev/locations/global/keyRings/token-cache/cryptoKeys/cache-dek';
  const kmsCaller = `kms-caller-${randomBytes(12).toString('base64url')}`;
  let kms: KmsEmulator;
  let kmsProxy: TcpProxy;

  beforeAll(async () => {
    kms = await startKmsEmulator({ keys: [KMS_KEY], callerTokens: [kmsCaller] });
    kmsProxy = await startTcpProxy({ port: kms.port });
  });
  afterAll(async () => {
    await kmsProxy?.close();
    await kms?.close();
  });

  /**
   * The broker with BROKER_CACHE_KMS_KEY, its KMS client pointed at the emulator (through the
   * proxy). The configuration has no KMS endpoint setting, so the test hands the broker the
   * cache's store, assembled from the production parts with the production budgets.
   */
  async function kmsBroker(deployment: Deployment): Promise<Instance> {
    const shared = process.env.FIRESTORE_EMULATOR_HOST;
    process.env.FIRESTORE_EMULATOR_HOST = emulatorHost;
    const firestore = new Firestore({ projectId: deployment.project });
    process.env.FIRESTORE_EMULATOR_HOST = shared;
    const store = createFirestoreStore({
      firestore,
      collection: DEFAULTS.cacheCollection,
      cipher: new EnvelopeCipher(
        kmsKeyWrapper({ keyName: KMS_KEY, clientOptions: kmsClientOptionsFor(`http://${kmsProxy.host}`, kmsCaller) }),
        { dekLifetimeMs: DEFAULTS.cacheDekLifetimeMs, now },
      ),
      budgets: { readMs: DEFAULTS.cacheReadBudgetMs, transactionMs: DEFAULTS.cacheTransactionBudgetMs, writeMs: DEFAULTS.cacheWriteBudgetMs },
      now,
    });
    return brokerVia(emulatorHost, deployment, {
      env: { BROKER_CACHE_KMS_KEY: KMS_KEY },
      cache: { overrides: { store } },
      close: () => firestore.terminate(),
    });
  }

  interface KmsFault {
    name: string;
    arm(): void;
    /** What a failed wrap (encrypt) reports in `cache_store_unavailable`. */
    wrapDetail: RegExp;
    /** The audit event a failed unwrap (decrypt) of another instance's entry yields, and its text. */
    unwrap: { event: string; text: RegExp };
  }

  const faults: KmsFault[] = [
    {
      name: 'HTTP 503 UNAVAILABLE',
      arm: () => kms.failNext(503, Infinity),
      wrapDetail: /Cloud KMS encrypt with .* failed: UNAVAILABLE/,
      unwrap: { event: 'cache_decrypt_failed', text: /could not be unwrapped: Cloud KMS decrypt with .* failed: UNAVAILABLE/ },
    },
    {
      name: 'HTTP 500 INTERNAL',
      arm: () => kms.failNext(500, Infinity),
      wrapDetail: /Cloud KMS encrypt with .* failed: INTERNAL/,
      unwrap: { event: 'cache_decrypt_failed', text: /could not be unwrapped: Cloud KMS decrypt with .* failed: INTERNAL/ },
    },
    {
      name: 'connections reset',
      arm: () => kmsProxy.reset(),
      wrapDetail: /Cloud KMS encrypt with .* failed: UNAVAILABLE/,
      unwrap: { event: 'cache_decrypt_failed', text: /could not be unwrapped: Cloud KMS decrypt with .* failed: UNAVAILABLE/ },
    },
    {
      name: `answers slower than the write budget (${DEFAULTS.cacheWriteBudgetMs} ms per chunk)`,
      arm: () => kmsProxy.healthy(DEFAULTS.cacheWriteBudgetMs),
      wrapDetail: new RegExp(`^Firestore write exceeded ${DEFAULTS.cacheWriteBudgetMs} ms$`),
      unwrap: { event: 'cache_store_unavailable', text: new RegExp(`^Firestore read exceeded ${DEFAULTS.cacheReadBudgetMs} ms$`) },
    },
    {
      name: 'responses corrupted in transit (checksum mismatch)',
      arm: () => kms.corruptNext('checksum', 1000),
      wrapDetail: /integrity check failed: the ciphertext does not match its checksum/,
      unwrap: { event: 'cache_decrypt_failed', text: /integrity check failed: the plaintext does not match its checksum/ },
    },
  ];

  const heal = () => {
    kms.clearFaults();
    kmsProxy.healthy();
  };

  it.each(faults)('$name: exchanges are still answered by minting, audited, and the cache serves again once KMS is back', async (fault) => {
    heal();
    const secrets = [kmsCaller];
    const { output } = await captureProcessOutput(async () => {
      const deployment = newDeployment();
      const [a, b] = [await kmsBroker(deployment), await kmsBroker(deployment)];
      const exchange = async (instance: Instance, sub: string) => {
        const sent = await send(instance, await exchangeFor(deployment, sub));
        if (typeof sent.body.access_token === 'string') secrets.push(sent.body.access_token);
        return sent;
      };
      expectIssued(await exchange(a, 'before'), 'miss'); // A wraps its data key and stores the entry
      expectIssued(await exchange(b, 'before'), 'hit-shared'); // B unwraps it

      // Sealing: A needs a new data key (the old one's lifetime is over), and KMS fails.
      offset += DEFAULTS.cacheDekLifetimeMs;
      fault.arm();
      const sealed = await exchange(a, 'seal-1');
      expectIssued(sealed, 'miss');
      expect(sealed.ms).toBeLessThan(SEAL_FAILURE_BOUND_MS);
      expect(eventsNamed(sealed, ...CACHE_EVENTS)).toEqual([
        expect.objectContaining({ event: 'cache_store_unavailable', severity: 'WARNING', detail: expect.stringMatching(fault.wrapDetail) }),
      ]);
      // The store is backed off: neither Firestore nor KMS is asked again for every request.
      const backedOff = await exchange(a, 'seal-2');
      expectIssued(backedOff, 'degraded');
      expect(backedOff.ms).toBeLessThan(DEFAULTS.cacheReadBudgetMs);
      expect(eventsNamed(backedOff, ...CACHE_EVENTS)).toEqual([]);
      // The failed write gave its lease back: B is not kept waiting for a token that will not come.
      // B then does what A did: a read, a lease (possibly contended by A's release), a mint and a
      // seal that fails within one write budget. A wait for A's lease would show as
      // cache_lease_timeout; the time bound only catches a hang, so it is B's own budgets.
      const waiter = await exchange(b, 'seal-1');
      expectIssued(waiter, ['miss', 'degraded']);
      expect(eventsNamed(waiter, 'cache_lease_timeout')).toEqual([]);
      expect(waiter.ms).toBeLessThan(DEFAULTS.cacheReadBudgetMs + DEFAULTS.cacheTransactionBudgetMs + DEFAULTS.cacheWriteBudgetMs + 2 * ALLOWANCE_MS);

      // Opening: A stores an entry under a data key B has never seen; then KMS fails for B.
      heal();
      offset += DEFAULTS.cacheStoreBackoffMs;
      expectIssued(await exchange(a, 'open-1'), 'miss');
      fault.arm();
      const opened = await exchange(b, 'open-1');
      expectIssued(opened, ['miss', 'degraded']);
      expect(opened.ms).toBeLessThan(SEAL_FAILURE_BOUND_MS);
      expect(eventsNamed(opened, fault.unwrap.event)).toEqual([
        expect.objectContaining({ severity: 'WARNING', [fault.unwrap.event === 'cache_decrypt_failed' ? 'reason' : 'detail']: expect.stringMatching(fault.unwrap.text) }),
      ]);

      // Recovery: A stores, B opens, through KMS again. A call still under way when the fault
      // cleared (the slow case) is shared by later callers until it answers, so this may take
      // a few attempts; none may fail.
      heal();
      const deadline = Date.now() + 10_000;
      for (let attempt = 0; ; attempt++) {
        offset += DEFAULTS.cacheStoreBackoffMs;
        const stored = await exchange(a, `after-${attempt}`);
        expectIssued(stored, ['miss', 'degraded']);
        const served = await exchange(b, `after-${attempt}`);
        expectIssued(served, ['hit-shared', 'miss', 'degraded']);
        if (stored.entry.cache.outcome === 'miss' && served.entry.cache.outcome === 'hit-shared') {
          expect([...eventsNamed(stored, ...CACHE_EVENTS), ...eventsNamed(served, ...CACHE_EVENTS)]).toEqual([]);
          expect(served.body.access_token).toBe(stored.body.access_token);
          break;
        }
        if (Date.now() > deadline) throw new Error('the shared cache was not used again within 10 s of KMS recovering');
        await sleep(200);
      }
      for (const instance of [a, b]) await instance.log.flush();
      // Every audit line, for the scan below.
      process.stdout.write(`${a.lines.lines.join('\n')}\n${b.lines.lines.join('\n')}\n`);
    });

    // No token and no key material in anything printed or audited: the data keys are the
    // plaintexts KMS was asked to encrypt.
    for (const request of kms.requests) {
      const plaintext = (request.json as { plaintext?: unknown } | undefined)?.plaintext;
      if (request.rpc === 'encrypt' && typeof plaintext === 'string') secrets.push(plaintext);
    }
    expect(secrets.length).toBeGreaterThan(8);
    for (const secret of secrets) {
      const forms = [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('base64url')];
      if (/^[A-Za-z0-9+/]+=*$/.test(secret)) {
        const bytes = Buffer.from(secret, 'base64');
        forms.push(bytes.toString('base64url'), bytes.toString('hex'));
      }
      for (const form of forms) expect(output).not.toContain(form);
    }
  }, 30_000);
});
