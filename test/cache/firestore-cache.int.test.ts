/**
 * The token cache against the real Cloud Firestore emulator: several TokenCache instances,
 * each with its own Firestore client, stand for several broker instances sharing one
 * database. Mints are counted at the source.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { FirestoreClients, firestoreOutage } from '../helpers/firestore';
import { EnvelopeCipher } from '../../shared/cache/envelope';
import { createFirestoreStore } from '../../shared/cache/firestore-store';
import { localKeyWrapper } from '../../shared/cache/key-wrapper';
import { TokenCache, type CacheEvent, type TokenCacheOptions } from '../../shared/cache/token-cache';
import type { CachedToken } from '../../shared/cache/token-timing';
import type { TokenStore } from '../../shared/cache/token-store';

const COLLECTION = 'token-broker-cache';
const META = { principalHash: 'p'.repeat(64), ruleId: 'rule', policyVersion: 'v'.repeat(64) };
const KEY = () => randomBytes(32).toString('hex');

let projectId: string;
let kek: Buffer;
let offset = 0;
const now = () => Date.now() + offset;

beforeEach(() => {
  projectId = `demo-cache-${randomUUID().slice(0, 8)}`;
  kek = randomBytes(32);
  offset = 0;
});
afterAll(() => firestoreClients.terminateAll());

const firestoreClients = new FirestoreClients();
const firestore = (host?: string): Firestore => firestoreClients.open(projectId, host);

interface Instance { cache: TokenCache; store: TokenStore; events: CacheEvent[] }

function instance(overrides: Partial<TokenCacheOptions> = {}, client = firestore()): Instance {
  const events: CacheEvent[] = [];
  const store = createFirestoreStore({
    firestore: client,
    collection: COLLECTION,
    cipher: new EnvelopeCipher(localKeyWrapper(kek)),
    budgets: { readMs: 2000, transactionMs: 3000, writeMs: 2000 },
    now,
  });
  const cache = new TokenCache({
    store, instanceId: randomUUID(), maxMemoryEntries: 100, minRemainingMs: 300_000,
    leaseMs: 5000, leaseWaitMs: 3000, leasePollMs: 25, storeBackoffMs: 10_000, now,
    onEvent: (e) => events.push(e), ...overrides,
  });
  return { cache, store, events };
}

/** A mint source that counts its calls and takes `latencyMs`. */
function minter(latencyMs = 0, lifetimeMs = 3600_000) {
  const state = { count: 0, issued: [] as string[] };
  const mint = async (): Promise<CachedToken> => {
    state.count++;
    await new Promise((r) => setTimeout(r, latencyMs));
    const accessToken = `ya29.${randomBytes(24).toString('base64url')}`;
    state.issued.push(accessToken);
    return { accessToken, mintedAtMs: now(), expiresAtMs: now() + lifetimeMs };
  };
  return { mint, state };
}

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

it('serves a token minted by one instance to another from Firestore', async () => {
  const a = instance();
  const b = instance();
  const { mint, state } = minter();
  const key = KEY();
  const first = await a.cache.obtain(key, META, mint);
  expect(first.outcome).toBe('miss');
  const second = await b.cache.obtain(key, META, mint);
  expect(second.outcome).toBe('hit-shared');
  expect(second.token).toEqual(first.token);
  expect((await b.cache.obtain(key, META, mint)).outcome).toBe('hit');
  expect(state.count).toBe(1);
});

it('stores no token bytes, no principal and nothing but the documented fields', async () => {
  const a = instance();
  const { mint, state } = minter();
  const key = KEY();
  await a.cache.obtain(key, META, mint);
  const snapshot = await firestore().collection(COLLECTION).doc(key).get();
  const data = snapshot.data() ?? {};
  expect(Object.keys(data).sort()).toEqual(
    ['ciphertext', 'expireAt', 'iv', 'keyName', 'leaseHolder', 'leaseUntil', 'mintedAt', 'policyVersion', 'principal', 'ruleId', 'v', 'wrappedKey'].sort(),
  );
  const token = state.issued[0] ?? '';
  const secret = token.slice('ya29.'.length);
  const everyForm = Object.values(data).flatMap((value) =>
    Buffer.isBuffer(value) ? [value.toString('latin1'), value.toString('base64'), value.toString('base64url'), value.toString('hex')] : [JSON.stringify(value)],
  );
  for (const form of everyForm) {
    expect(form).not.toContain(secret);
    expect(form).not.toContain(Buffer.from(token).toString('base64'));
  }
  expect(data.expireAt.toMillis()).toBeGreaterThan(now() + 3500_000);
});

it('treats a tampered document as a miss, reports it, and overwrites it', async () => {
  const a = instance();
  const { mint, state } = minter();
  const key = KEY();
  await a.cache.obtain(key, META, mint);
  const ref = firestore().collection(COLLECTION).doc(key);
  const ciphertext = Buffer.from((await ref.get()).data()?.ciphertext as Buffer);
  ciphertext[3] = (ciphertext[3] ?? 0) ^ 0xff;
  await ref.update({ ciphertext });

  const b = instance();
  const result = await b.cache.obtain(key, META, mint);
  expect(result.outcome).toBe('miss');
  expect(state.count).toBe(2);
  expect(b.events).toContainEqual(expect.objectContaining({ type: 'decrypt_failed', key }));
  const c = instance();
  expect((await c.cache.obtain(key, META, mint)).outcome).toBe('hit-shared');
});

it('refuses a document copied under another cache key', async () => {
  const a = instance();
  const { mint } = minter();
  const [key1, key2] = [KEY(), KEY()];
  await a.cache.obtain(key1, META, mint);
  const collection = firestore().collection(COLLECTION);
  await collection.doc(key2).set((await collection.doc(key1).get()).data() ?? {});
  const b = instance();
  expect(await b.store.read(key2)).toEqual({ kind: 'undecryptable', reason: expect.stringMatching(/authentication failed/) });
});

it('refuses a document sealed under another key-encryption key', async () => {
  const a = instance();
  const { mint } = minter();
  const key = KEY();
  await a.cache.obtain(key, META, mint);
  kek = randomBytes(32);
  const b = instance();
  expect(await b.store.read(key)).toEqual({ kind: 'undecryptable', reason: expect.stringMatching(/another key/) });
});

it('decides freshness from the encrypted timestamps, not the clear expireAt', async () => {
  const a = instance();
  const { mint, state } = minter(0, 600_000);
  const key = KEY();
  await a.cache.obtain(key, META, mint);
  const { Timestamp } = await import('@google-cloud/firestore');
  await firestore().collection(COLLECTION).doc(key).update({ expireAt: Timestamp.fromMillis(now() + 365 * 86400_000) });
  offset = 400_000; // past the servable window of a 10-minute token
  const b = instance();
  expect((await b.cache.obtain(key, META, mint)).outcome).toBe('miss');
  expect(state.count).toBe(2);
});

it('mints exactly once for 4 instances × 50 concurrent requests', async () => {
  const instances = Array.from({ length: 4 }, () => instance());
  const { mint, state } = minter(100);
  const key = KEY();
  const results = await Promise.all(instances.flatMap((i) => Array.from({ length: 50 }, () => i.cache.obtain(key, META, mint))));
  expect(state.count).toBe(1);
  expect(new Set(results.map((r) => r.token.accessToken)).size).toBe(1);
  const outcomes = results.map((r) => r.outcome);
  expect(outcomes.filter((o) => o === 'miss')).toHaveLength(50); // the lease holder's 50 callers share its one mint
  expect(outcomes.every((o) => ['miss', 'waited', 'hit-shared'].includes(o))).toBe(true);
});

it('mints itself when the lease holder does not deliver in time', async () => {
  const b = instance({ leaseWaitMs: 300 });
  const key = KEY();
  expect(await b.store.claimLease(key, 'a-dead-instance', 60_000, () => true)).toEqual({ kind: 'acquired' });
  const { mint, state } = minter();
  const started = Date.now();
  const result = await b.cache.obtain(key, META, mint);
  expect(result.outcome).toBe('miss');
  expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  expect(state.count).toBe(1);
  expect(b.events).toContainEqual({ type: 'lease_timeout', key });
});

it('gives a lease-only document an expireAt, so Firestore TTL removes what a dead holder leaves', async () => {
  const a = instance();
  const key = KEY();
  await a.store.claimLease(key, 'a-dead-instance', 5000, () => true);
  const data = (await firestore().collection(COLLECTION).doc(key).get()).data();
  expect(data?.leaseHolder).toBe('a-dead-instance');
  expect(data?.expireAt.toMillis()).toBe(data?.leaseUntil.toMillis());
});

it('releases its lease when the mint fails, so others need not wait', async () => {
  const a = instance();
  const key = KEY();
  await expect(a.cache.obtain(key, META, async () => { throw new Error('upstream down'); })).rejects.toThrow('upstream down');
  await new Promise((r) => setTimeout(r, 50)); // let the fire-and-forget release land
  const b = instance({ leaseWaitMs: 60_000 });
  const { mint } = minter();
  const started = Date.now();
  expect((await b.cache.obtain(key, META, mint)).outcome).toBe('miss');
  expect(Date.now() - started).toBeLessThan(2000);
});

it('refreshes ahead in the background, once, and other instances adopt the new token', async () => {
  const a = instance();
  const b = instance();
  const { mint, state } = minter(50);
  const key = KEY();
  const first = await a.cache.obtain(key, META, mint);
  offset = 2_600_000; // a one-hour token is now in its refresh-ahead window
  const served = await Promise.all(Array.from({ length: 20 }, () => a.cache.obtain(key, META, mint)));
  expect(served.every((r) => r.token.accessToken === first.token.accessToken && r.outcome === 'hit')).toBe(true);
  expect(served.filter((r) => r.refreshStarted)).toHaveLength(1);
  await until(() => a.events.some((e) => e.type === 'refreshed'));
  expect(state.count).toBe(2);
  const fromB = await b.cache.obtain(key, META, mint);
  expect(fromB.token.accessToken).toBe(state.issued[1]);
  expect(fromB.outcome).toBe('hit-shared');
  expect((await a.cache.obtain(key, META, mint)).token.accessToken).toBe(state.issued[1]);
  expect(state.count).toBe(2);
});

it('keeps serving, by minting directly, when Firestore stops mid-run', async () => {
  const outage = await firestoreOutage();
  const client = firestore(outage.host);
  try {
    const a = instance({ storeBackoffMs: 60_000 }, client);
    const budgets = createFirestoreStore({ firestore: client, collection: COLLECTION, cipher: new EnvelopeCipher(localKeyWrapper(kek)), budgets: { readMs: 300, transactionMs: 300, writeMs: 300 }, now });
    const degradable = new TokenCache({
      store: budgets, instanceId: 'x', maxMemoryEntries: 10, minRemainingMs: 300_000, leaseMs: 5000, leaseWaitMs: 1000,
      leasePollMs: 25, storeBackoffMs: 60_000, now, onEvent: (e) => a.events.push(e),
    });
    expect(await degradable.warmUp(5000)).toBe(true);
    const { mint, state } = minter();
    expect((await degradable.obtain(KEY(), META, mint)).outcome).toBe('miss');
    await outage.cut();

    const down = await degradable.obtain(KEY(), META, mint);
    expect(down.outcome).toBe('degraded');
    expect(down.token.accessToken).toMatch(/^ya29\./);
    expect(a.events).toContainEqual(expect.objectContaining({ type: 'store_unavailable' }));
    const started = Date.now();
    expect((await degradable.obtain(KEY(), META, mint)).outcome).toBe('degraded'); // backed off: no budget spent
    expect(Date.now() - started).toBeLessThan(100);
    expect(state.count).toBe(3);
  } finally {
    await outage.end(() => client.terminate());
  }
});
