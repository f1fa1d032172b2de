/**
 * The Firestore record of issued tokens, on the real emulator: shared by instances, the
 * clients a token went to accumulate, the document holds no token and has its TTL field, and
 * a lookup fails (rather than answering "unknown") when Firestore is away.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { sha256Fingerprint } from '../../shared/fingerprint';
import { createFirestoreIssuedTokenStore, documentId, type Issuance } from '../../shared/introspection/issued-tokens';
import { DEFAULTS } from '../../shared/config/defaults';
import { FirestoreClients, firestoreOutage } from '../helpers/firestore';

const clients = new FirestoreClients();
let projectId: string;
beforeEach(() => {
  projectId = `demo-issued-${randomUUID().slice(0, 8)}`;
});
afterAll(() => clients.terminateAll());
const firestore = (host?: string): Firestore => clients.open(projectId, host);
/** A client past its first call (a cold client's first call takes about 900 ms on the emulator, past the store's budget). */
async function warm(client: Firestore): Promise<Firestore> {
  await client.collection(DEFAULTS.issuedTokensCollection).doc('warm-up').get();
  return client;
}

function issuance(token: string, clientId?: string): Issuance {
  const now = Date.now();
  return {
    tokenSha256: sha256Fingerprint(token), tokenType: 'Bearer', scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    issuer: 'https://issuer.example', subject: 'repo:acme/app', username: 'acme/app', ruleId: 'ci',
    issuedAtMs: now, expiresAtMs: now + 600_000, clientId,
  };
}

it('two instances handing out one token to two clients: both clients are recorded; the document holds no token', async () => {
  const client = await warm(firestore());
  const [one, two] = [createFirestoreIssuedTokenStore({ firestore: client }), createFirestoreIssuedTokenStore({ firestore: await warm(firestore()) })];
  const token = `ya29.${randomBytes(48).toString('base64url')}`;
  await Promise.all([one.remember(issuance(token, 'gcloud')), two.remember(issuance(token, 'service'))]);
  await one.remember(issuance(token)); // a caller without client authentication adds no client
  await Promise.all([one.flush(), two.flush()]);
  // A third instance, which issued nothing, sees what both wrote.
  const entry = await createFirestoreIssuedTokenStore({ firestore: client }).find(sha256Fingerprint(token));
  expect(entry).toMatchObject({ username: 'acme/app', subject: 'repo:acme/app', ruleId: 'ci', tokenType: 'Bearer' });
  expect([...(entry?.clientIds ?? [])].sort()).toEqual(['gcloud', 'service']);

  const snapshot = await client.collection(DEFAULTS.issuedTokensCollection).doc(documentId(sha256Fingerprint(token))).get();
  const stored = JSON.stringify(snapshot.data());
  expect(stored).not.toContain(token);
  expect(stored).not.toContain(token.slice(5, 30));
  expect(snapshot.get('expireAt').toMillis()).toBe(entry?.expiresAtMs); // the TTL policy's field is the token's expiry
  expect(documentId(sha256Fingerprint(token))).toMatch(/^[0-9a-f]{64}$/);
  expect(await two.find(sha256Fingerprint('ya29.unknown'))).toBeUndefined();
});

it('an instance writes a (token, client) pair once: a cache hit for the same client costs no write', async () => {
  const client = await warm(firestore());
  const store = createFirestoreIssuedTokenStore({ firestore: client });
  const token = `ya29.${randomBytes(48).toString('base64url')}`;
  await store.remember(issuance(token, 'gcloud'));
  await store.flush();
  const ref = client.collection(DEFAULTS.issuedTokensCollection).doc(documentId(sha256Fingerprint(token)));
  const first = (await ref.get()).updateTime;
  await store.remember(issuance(token, 'gcloud'));
  await store.flush();
  expect((await ref.get()).updateTime?.isEqual(first!)).toBe(true);
  await store.remember(issuance(token, 'other'));
  await store.flush();
  expect((await ref.get()).updateTime?.isEqual(first!)).toBe(false);
});

it('Firestore away: issuing never waits on it (the write fails behind, reported, then backs off); a lookup fails within its budget', async () => {
  const outage = await firestoreOutage();
  const client = firestore(outage.host);
  try {
    await warm(client);
    const failures: string[] = [];
    const store = createFirestoreIssuedTokenStore({ firestore: client, readBudgetMs: 500, writeBudgetMs: 500, onWriteFailed: (_sha, detail) => failures.push(detail) });
    await outage.cut();
    const started = Date.now();
    await store.remember(issuance('ya29.any', 'gcloud'));
    expect(Date.now() - started).toBeLessThan(100); // answered without waiting on Firestore
    await expect(store.find(sha256Fingerprint('ya29.any'))).rejects.toThrow(/exceeded|unavailable|ECONNRE/i);
    expect(Date.now() - started).toBeLessThan(3000);
    await store.flush();
    expect(failures).toHaveLength(1);
    await store.remember(issuance('ya29.other', 'gcloud')); // within the back-off: not even tried
    expect(failures).toEqual([failures[0], 'skipped: Firestore failed recently (back-off)']);
  } finally {
    await outage.end(() => client.terminate());
  }
});
