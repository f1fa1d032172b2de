/**
 * The deny-list against the real Cloud Firestore emulator: an entry written through one client
 * (as `admin deny add` does) reaches another client's snapshot through the real-time listener
 * (the time is measured), and through polling when there is no listener; a purge removes
 * the matching tokens from the shared (L2) cache and the memory (L1) of a TokenCache.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { FirestoreClients } from '../helpers/firestore';
import { principalHash } from '../../shared/cache/cache-key';
import { EnvelopeCipher } from '../../shared/cache/envelope';
import { createFirestoreStore } from '../../shared/cache/firestore-store';
import { localKeyWrapper } from '../../shared/cache/key-wrapper';
import { TokenCache } from '../../shared/cache/token-cache';
import type { CachedToken } from '../../shared/cache/token-timing';
import type { DenyFacts } from '../../shared/operator/deny-facts';
import { denyEntryId, type DenyEntry } from '../../shared/operator/deny-entry';
import { createFirestoreDenyList, type DenyChange, type DenyList } from '../../shared/operator/deny-list';
import { addDenyEntry, denyCollection, DenyListFull, listDenyEntries, removeDenyEntry } from '../../shared/operator/deny-store';

const clients = new FirestoreClients();
let projectId: string;
const lists: DenyList[] = [];
beforeEach(() => {
  projectId = `demo-deny-${randomUUID().slice(0, 8)}`;
});
afterEach(async () => {
  await Promise.all(lists.splice(0).map((list) => list.close()));
});
afterAll(() => clients.terminateAll());

const firestore = (): Firestore => clients.open(projectId);

const FACTS: DenyFacts = {
  issuer: 'https://issuer.example', subject: 'alice', claims: { repository: 'acme/app' },
  ruleId: 'deploy', serviceAccount: 'sa@p.iam.gserviceaccount.com', policyVersion: 'f'.repeat(64),
};

function entry(fields: Partial<DenyEntry> = {}): DenyEntry {
  const selector = { kind: 'subject' as const, issuer: FACTS.issuer, subject: FACTS.subject };
  return { ...selector, id: denyEntryId(selector), reason: 'incident 7', createdAtMs: Date.now(), ...fields } as DenyEntry;
}

async function until(check: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - started;
}

it('an entry reaches another instance through the listener within a second or two (measured), and its removal too', async () => {
  const changes: DenyChange[] = [];
  const list = createFirestoreDenyList({ firestore: firestore(), onChange: (change) => changes.push(change) });
  lists.push(list);
  expect(await list.ready(10_000)).toBe(true);
  expect(list.match(FACTS)).toBeUndefined();

  const collection = denyCollection(firestore());
  const started = Date.now();
  const { entry: added } = await addDenyEntry(collection, entry());
  const propagationMs = await until(() => list.match(FACTS) !== undefined, 10_000);
  const totalMs = Date.now() - started;
  process.stdout.write(`deny-list listener propagation: ${propagationMs} ms after the write returned (${totalMs} ms from the write's start)\n`);
  expect(totalMs).toBeLessThan(5_000);
  expect(list.match(FACTS)).toEqual({ id: added.id, reason: 'incident 7' });
  expect(changes).toEqual([{ added: [added], removed: [] }]);

  expect(await removeDenyEntry(collection, added.id)).toEqual(added);
  await until(() => list.match(FACTS) === undefined, 10_000);
  expect(changes[1]).toEqual({ added: [], removed: [added] });
  expect(await removeDenyEntry(collection, added.id)).toBeUndefined();
});

it('the first snapshot holds the entries already there (no change reported for them), and expired ones do not match', async () => {
  const collection = denyCollection(firestore());
  await addDenyEntry(collection, entry({ reason: 'expired', createdAtMs: Date.now() - 60_000, expiresAtMs: Date.now() - 1000 }));
  const changes: DenyChange[] = [];
  const list = createFirestoreDenyList({ firestore: firestore(), onChange: (change) => changes.push(change) });
  lists.push(list);
  expect(await list.ready(10_000)).toBe(true);
  expect(list.entries()).toHaveLength(1);
  expect(list.match(FACTS)).toBeUndefined();
  // Replacing the entry (same selector) with a live one: refused again, reported as added.
  await addDenyEntry(collection, entry({ reason: 'again', expiresAtMs: Date.now() + 60_000 }));
  await until(() => list.match(FACTS) !== undefined, 10_000);
  expect(changes.map((c) => c.added.map((e) => e.reason))).toEqual([['again']]);
});

it('polls when there is no listener', async () => {
  const list = createFirestoreDenyList({ firestore: firestore(), pollOnly: true, pollMs: 200 });
  lists.push(list);
  expect(await list.ready(10_000)).toBe(true);
  await addDenyEntry(denyCollection(firestore()), entry());
  const ms = await until(() => list.match(FACTS) !== undefined, 5_000);
  expect(ms).toBeLessThan(2_000);
});

it('skips documents that are not entries, and the collection is bounded', async () => {
  const collection = denyCollection(firestore());
  await collection.doc('hand-written').set({ kind: 'subject', issuer: FACTS.issuer, reason: 'no subject' });
  const events: unknown[] = [];
  const list = createFirestoreDenyList({ firestore: firestore(), maxEntries: 2, onEvent: (event) => events.push(event) });
  lists.push(list);
  expect(await list.ready(10_000)).toBe(true);
  expect(list.entries()).toEqual([]);
  expect(events).toContainEqual({ type: 'malformed', ids: ['hand-written'] });
  await addDenyEntry(collection, entry({ kind: 'rule', value: 'a' } as Partial<DenyEntry>), 2);
  await expect(addDenyEntry(collection, entry({ kind: 'rule', value: 'b' } as Partial<DenyEntry>), 2)).rejects.toThrow(DenyListFull);
  expect((await listDenyEntries(collection)).malformed).toEqual(['hand-written']);
});

it('purge removes the matching tokens from L2 and L1, and leaves the others', async () => {
  const client = firestore();
  const cipher = new EnvelopeCipher(localKeyWrapper(randomBytes(32)));
  const store = createFirestoreStore({ firestore: client, collection: 'token-broker-cache', cipher, budgets: { readMs: 5000, transactionMs: 5000, writeMs: 5000 } });
  const cache = new TokenCache({ store, instanceId: 'a', maxMemoryEntries: 100, minRemainingMs: 60_000, leaseMs: 5000, leaseWaitMs: 1000, leasePollMs: 50, storeBackoffMs: 1000 });
  const other = new TokenCache({ store, instanceId: 'b', maxMemoryEntries: 100, minRemainingMs: 60_000, leaseMs: 5000, leaseWaitMs: 1000, leasePollMs: 50, storeBackoffMs: 1000 });
  let mints = 0;
  const mint = async (): Promise<CachedToken> => ({ accessToken: `t${++mints}`, mintedAtMs: Date.now(), expiresAtMs: Date.now() + 3600_000 });
  const alice = { principalHash: principalHash(FACTS.issuer, 'alice'), ruleId: 'deploy', policyVersion: 'v1' };
  const bob = { principalHash: principalHash(FACTS.issuer, 'bob'), ruleId: 'deploy', policyVersion: 'v1' };
  const keys = { alice: [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')], bob: randomBytes(32).toString('hex') };
  for (const key of keys.alice) expect((await cache.obtain(key, alice, mint)).outcome).toBe('miss');
  expect((await cache.obtain(keys.bob, bob, mint)).outcome).toBe('miss');
  expect((await other.obtain(keys.alice[0] ?? '', alice, mint)).outcome).toBe('hit-shared');

  expect(await cache.purge({ principalHash: alice.principalHash })).toEqual({ memory: 2, shared: 2 });
  expect((await store.read(keys.alice[0] ?? '')).kind).toBe('absent');
  expect((await store.read(keys.bob)).kind).toBe('token');
  expect((await cache.obtain(keys.bob, bob, mint)).outcome).toBe('hit');
  expect((await cache.obtain(keys.alice[1] ?? '', alice, mint)).outcome).toBe('miss'); // not served from L1 nor L2
  // The other instance's memory is its own to purge (each instance purges when its snapshot sees the entry).
  expect(await other.purge({ principalHash: alice.principalHash })).toEqual({ memory: 1, shared: 1 });
  expect(await store.purge({ ruleId: 'deploy', policyVersion: 'v1' })).toBe(1);
  await expect(store.purge({})).rejects.toThrow(TypeError);
});
