/**
 * The Firestore replay store for client-assertion `jti`s against the real emulator:
 * create-if-absent across instances, what the documents hold, and failing closed when Firestore
 * is gone. The memory store is tested in replay-store.test.ts.
 */
import { rejection } from '../helpers/rejection';
import { randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { FirestoreClients, firestoreOutage } from '../helpers/firestore';
import { createFirestoreReplayStore, replayDocumentId, type ReplayStore } from '../../shared/identity/replay-store';

const COLLECTION = 'token-broker-replay';
let projectId: string;

beforeEach(() => {
  projectId = `demo-replay-${randomUUID().slice(0, 8)}`;
});
afterAll(() => firestoreClients.terminateAll());

const firestoreClients = new FirestoreClients();
const firestore = (host?: string): Firestore => firestoreClients.open(projectId, host);

const key = () => `client-a\u0000${randomUUID()}`;

describe('Firestore store', () => {
  it('lets exactly one of 50 concurrent claims of one key, over two clients, succeed', async () => {
    const [one, two] = [firestore(), firestore()];
    // 25 stores per client: each has its own memory front, so all 50 claims reach Firestore.
    const stores = Array.from({ length: 50 }, (_, i) => createFirestoreReplayStore({ firestore: i % 2 ? one : two, budgetMs: 10_000 }));
    const k = key();
    const results = await Promise.all(stores.map((store) => store.claim(k, Date.now() + 60_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
    // And once more for a second key, all claims from one store per client (memory front short-circuits the rest).
    const [a, b] = [createFirestoreReplayStore({ firestore: one }), createFirestoreReplayStore({ firestore: two })];
    const k2 = key();
    const again = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).claim(k2, Date.now() + 60_000)));
    expect(again.filter(Boolean)).toHaveLength(1);
  }, 30_000);

  it('stores only a hashed id and expireAt, and refuses a key it has seen without asking Firestore', async () => {
    const client = firestore();
    const store = createFirestoreReplayStore({ firestore: client });
    const jti = `jti-${randomUUID()}`;
    const k = `client-secret-name\u0000${jti}`;
    const expiresAtMs = Date.now() + 120_000;
    expect(await store.claim(k, expiresAtMs)).toBe(true);

    const documents = await client.collection(COLLECTION).get();
    expect(documents.size).toBe(1);
    const [doc] = documents.docs;
    expect(doc?.id).toBe(replayDocumentId(k));
    expect(doc?.id).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.keys(doc?.data() ?? {})).toEqual(['expireAt']);
    expect(doc?.get('expireAt').toMillis()).toBe(expiresAtMs);
    const raw = JSON.stringify({ id: doc?.id, data: doc?.data() });
    expect(raw).not.toContain(jti);
    expect(raw).not.toContain('client-secret-name');

    // Another instance: Firestore says it exists.
    expect(await createFirestoreReplayStore({ firestore: firestore() }).claim(k, expiresAtMs)).toBe(false);
    // This instance: refused from memory even once the document is gone.
    await doc?.ref.delete();
    expect(await store.claim(k, expiresAtMs)).toBe(false);
  });

  it('bounds its memory front by evicting the oldest mark, which Firestore still refuses', async () => {
    const store = createFirestoreReplayStore({ firestore: firestore(), maxMemoryEntries: 2 });
    const keys = [key(), key(), key()];
    for (const k of keys) expect(await store.claim(k, Date.now() + 60_000)).toBe(true);
    for (const k of keys) expect(await store.claim(k, Date.now() + 60_000)).toBe(false);
  });

  it('takes over a document whose mark has expired (TTL deletion lags), once', async () => {
    const client = firestore();
    const k = key();
    expect(await createFirestoreReplayStore({ firestore: client }).claim(k, Date.now() - 1000)).toBe(true);
    const later = [createFirestoreReplayStore({ firestore: client }), createFirestoreReplayStore({ firestore: firestore() })];
    const results = await Promise.all(later.map((store) => store.claim(k, Date.now() + 60_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await createFirestoreReplayStore({ firestore: client }).claim(k, Date.now() + 60_000)).toBe(false);
  });

  it('fails closed (503, Retry-After 5) when Firestore is unavailable', async () => {
    const outage = await firestoreOutage();
    const client = firestore(outage.host);
    try {
      await client.collection(COLLECTION).doc('warm-up').get(); // a cold client's first call exceeds the budget
      const store: ReplayStore = createFirestoreReplayStore({ firestore: client, budgetMs: 500 });
      const seen = key();
      expect(await store.claim(seen, Date.now() + 60_000)).toBe(true);
      await outage.cut();

      const started = Date.now();
      const err = await rejection(store.claim(key(), Date.now() + 60_000));
      expect(Date.now() - started).toBeLessThan(2000);
      expect({ code: err.code, status: err.status, reason: err.reason, retryAfter: err.retryAfterSeconds }).toEqual({
        code: 'temporarily_unavailable', status: 503, reason: 'replay_store_unavailable', retryAfter: 5,
      });
      expect(err.description).not.toMatch(/client-a|firestore/i);
      // A key this instance has already marked is still refused, from memory.
      expect(await store.claim(seen, Date.now() + 60_000)).toBe(false);
    } finally {
      await outage.end(() => client.terminate());
    }
  });
});
