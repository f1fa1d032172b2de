/**
 * The Firestore session vault and login-attempt store against the real emulator: what a
 * document holds (ciphertext only for tokens), AAD binding (moved or edited documents do not
 * open, and are deleted), expireAt, compare-and-set and single use across two clients, the
 * operators' list and revoke, and VaultUnavailable within budget when Firestore is gone.
 * The memory implementations are tested in session-vault.test.ts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { DocumentData, Firestore } from '@google-cloud/firestore';
import { FirestoreClients, firestoreOutage } from '../helpers/firestore';
import { EnvelopeCipher } from '../../shared/cache/envelope';
import { localKeyWrapper } from '../../shared/cache/key-wrapper';
import { warmUpFirestore } from '../../shared/state/firestore';
import {
  createFirestoreSessionVault, sessionHandle, VaultUnavailable, type SessionRecord, type SessionVault, type VaultEvent,
} from '../../shared/sign-in/session-vault';
import { createFirestoreLoginAttemptStore, loginAttemptDocumentId, type LoginAttempt } from '../../shared/sign-in/login-attempts';

const SESSIONS = 'token-broker-sessions';
const LOGINS = 'token-broker-logins';
const BUDGET_MS = 5000;

let projectId: string;
let kek: Buffer;
beforeEach(() => {
  projectId = `demo-vault-${randomUUID().slice(0, 8)}`;
  kek = randomBytes(32);
});
afterAll(() => firestoreClients.terminateAll());

const firestoreClients = new FirestoreClients();
/** A warmed client (a cold client's first call takes ~900 ms, past a store budget). */
async function firestore(): Promise<Firestore> {
  const client = firestoreClients.open(projectId);
  expect(await warmUpFirestore(client, 10_000)).toBe(true);
  return client;
}

const cipher = () => new EnvelopeCipher(localKeyWrapper(kek));
const newId = () => randomBytes(32).toString('base64url');
const secret = (prefix: string) => `${prefix}.${randomBytes(24).toString('base64url')}`;

function vault(client: Firestore, events: VaultEvent[] = []): SessionVault {
  return createFirestoreSessionVault({ firestore: client, cipher: cipher(), budgetMs: BUDGET_MS, onEvent: (e) => events.push(e) });
}

function session(overrides: Partial<Omit<SessionRecord, 'generation'>> = {}): Omit<SessionRecord, 'generation'> {
  const now = Date.now();
  return {
    appId: 'app-a',
    issuer: 'https://accounts.google.com',
    subject: 'user-1',
    email: 'user@example.com',
    scopes: ['openid', 'email'],
    createdAtMs: now,
    expiresAtMs: now + 3_600_000,
    refreshToken: secret('1//rt'),
    refreshExpiresAtMs: now + 86_400_000,
    accessToken: { token: secret('ya29'), expiresAtMs: now + 3_600_000, scope: 'openid email' },
    ...overrides,
  };
}

/** Every encoding of `value` a careless store could leave in a document. */
function encodings(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  return [value, bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex'), value.slice(5)];
}

/** The document as JSON with every Buffer also as base64, base64url and hex, and as latin1 text. */
function everything(data: DocumentData): string {
  const parts: string[] = [JSON.stringify(data)];
  for (const value of Object.values(data)) {
    if (Buffer.isBuffer(value)) parts.push(value.toString('base64'), value.toString('base64url'), value.toString('hex'), value.toString('latin1'), value.toString('utf8'));
  }
  return parts.join('\n');
}

describe('Firestore session vault', () => {
  it('stores tokens as ciphertext only, the summary in clear, id = handle, expireAt = the session end', async () => {
    const client = await firestore();
    const v = vault(client);
    const id = newId();
    const record = session();
    await v.create(id, record);

    const snapshot = await client.collection(SESSIONS).doc(sessionHandle(id)).get();
    const data = snapshot.data()!;
    expect(Object.keys(data).sort()).toEqual(
      ['appId', 'ciphertext', 'createdAt', 'email', 'expireAt', 'generation', 'issuer', 'iv', 'keyName', 'lastRefreshAt', 'scopes', 'subject', 'v', 'wrappedKey'],
    );
    expect(data).toMatchObject({ v: 1, appId: 'app-a', issuer: 'https://accounts.google.com', subject: 'user-1', email: 'user@example.com', scopes: ['openid', 'email'], generation: 0, lastRefreshAt: null });
    for (const field of ['wrappedKey', 'iv', 'ciphertext']) expect(Buffer.isBuffer(data[field])).toBe(true);
    expect(data.expireAt.toMillis()).toBe(record.expiresAtMs);
    expect(data.createdAt.toMillis()).toBe(record.createdAtMs);

    const stored = everything({ id: snapshot.id, ...data });
    for (const token of [record.refreshToken!, record.accessToken!.token, id]) {
      for (const encoded of encodings(token)) expect(stored).not.toContain(encoded);
    }
    // And it does open: the same tokens come back.
    expect(await vault(await firestore()).read(id)).toEqual({ ...record, generation: 0 });
  });

  it('treats a sealed value moved to another handle as absent, deletes it, and reports it', async () => {
    const client = await firestore();
    const events: VaultEvent[] = [];
    const v = vault(client, events);
    const [victim, attacker] = [newId(), newId()];
    await v.create(victim, session());
    await v.create(attacker, session());
    const sealed = (await client.collection(SESSIONS).doc(sessionHandle(victim)).get()).data()!;
    // The attacker's own document, with the victim's sealed fields pasted in.
    await client.collection(SESSIONS).doc(sessionHandle(attacker)).update({ keyName: sealed.keyName, wrappedKey: sealed.wrappedKey, iv: sealed.iv, ciphertext: sealed.ciphertext });

    expect(await v.read(attacker)).toBeUndefined();
    expect((await client.collection(SESSIONS).doc(sessionHandle(attacker)).get()).exists).toBe(false);
    expect(events).toEqual([{ type: 'decrypt_failed', store: 'sessions', handle: sessionHandle(attacker), reason: expect.stringMatching(/authentication failed/), deleted: true }]);
    expect(await v.read(victim)).toBeDefined();
  });

  it.each<[string, (data: DocumentData, ts: typeof import('@google-cloud/firestore').Timestamp) => DocumentData]>([
    ['another subject', () => ({ subject: 'user-2' })],
    ['a later end', (data, Ts) => ({ expireAt: Ts.fromMillis(data.expireAt.toMillis() + 86_400_000) })],
    ['more scopes', (data) => ({ scopes: [...data.scopes, 'https://www.googleapis.com/auth/cloud-platform'] })],
    ['another app', () => ({ appId: 'app-b' })],
    ['a flipped ciphertext bit', (data) => ({ ciphertext: Buffer.from(data.ciphertext.map((b: number, i: number) => (i === 0 ? b ^ 1 : b))) })],
  ])('treats a document edited to %s as absent, and deletes it', async (_name, edit) => {
    const { Timestamp } = await import('@google-cloud/firestore');
    const client = await firestore();
    const events: VaultEvent[] = [];
    const v = vault(client, events);
    const id = newId();
    await v.create(id, session());
    const ref = client.collection(SESSIONS).doc(sessionHandle(id));
    await ref.update(edit((await ref.get()).data()!, Timestamp));

    expect(await v.read(id)).toBeUndefined();
    expect((await ref.get()).exists).toBe(false);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'decrypt_failed', handle: sessionHandle(id), deleted: true });
  });

  it('updates by compare-and-set: of two instances on two clients updating one generation, exactly one wins', async () => {
    const [a, b] = [vault(await firestore()), vault(await firestore())];
    const id = newId();
    await a.create(id, session());
    for (let round = 0; round < 5; round++) {
      const generation = (await a.read(id))!.generation;
      const tokens = [secret('rt-a'), secret('rt-b')];
      const results = await Promise.all([a.update(id, generation, { refreshToken: tokens[0] }), b.update(id, generation, { refreshToken: tokens[1] })]);
      expect(results.filter(Boolean)).toHaveLength(1);
      const after = await b.read(id);
      expect(after?.generation).toBe(generation + 1);
      expect(after?.refreshToken).toBe(tokens[results.indexOf(true)]);
    }
    expect(await a.update(id, 0, { refreshToken: 'stale' })).toBe(false);
    const summary = (await a.list({ handle: sessionHandle(id) }))[0];
    expect(summary?.lastRefreshAtMs).toBeGreaterThan(Date.now() - 60_000);
  }, 30_000);

  it('reads a session past its end as absent, and refuses to update it', async () => {
    let offset = 0;
    const client = await firestore();
    const v = createFirestoreSessionVault({ firestore: client, cipher: cipher(), budgetMs: BUDGET_MS, now: () => Date.now() + offset });
    const id = newId();
    await v.create(id, session());
    offset = 3_600_000 + 1000;
    expect(await v.read(id)).toBeUndefined();
    expect(await v.update(id, 0, { refreshToken: 'late' })).toBe(false);
    expect(await v.list({ handle: sessionHandle(id) })).toEqual([]);
  });

  it('lists and revokes for operators: by subject and app without KMS, with refresh tokens on revoke', async () => {
    const client = await firestore();
    const events: VaultEvent[] = [];
    const v = vault(client, events);
    const ids = [newId(), newId(), newId(), newId()];
    const records = [session(), session({ appId: 'app-b' }), session({ subject: 'user-2' }), session()];
    for (const [i, id] of ids.entries()) await v.create(id, records[i]!);

    // A vault whose cipher has another key lists all the same: listing decrypts nothing.
    const blind = createFirestoreSessionVault({ firestore: client, cipher: new EnvelopeCipher(localKeyWrapper(randomBytes(32))), budgetMs: BUDGET_MS });
    const listed = await blind.list({ subject: 'user-1' });
    expect(listed.map((s) => s.handle).sort()).toEqual([ids[0]!, ids[1]!, ids[3]!].map(sessionHandle).sort());
    expect(JSON.stringify(listed)).not.toContain(records[0]!.refreshToken);
    expect((await blind.list({ subject: 'user-1', appId: 'app-b' })).map((s) => s.handle)).toEqual([sessionHandle(ids[1]!)]);

    // The fourth session is tampered with: revoked all the same, without a token, and reported.
    await client.collection(SESSIONS).doc(sessionHandle(ids[3]!)).update({ email: 'evil@example.com' });
    const ofApp = await v.revoke({ subject: 'user-1', appId: 'app-b' });
    expect(ofApp).toEqual([expect.objectContaining({ handle: sessionHandle(ids[1]!), refreshToken: records[1]!.refreshToken })]);
    const rest = await v.revoke({ subject: 'user-1' });
    expect(rest.map((s) => [s.handle, s.refreshToken]).sort()).toEqual([[sessionHandle(ids[0]!), records[0]!.refreshToken], [sessionHandle(ids[3]!), undefined]].sort());
    expect(events.map((e) => [e.handle, e.deleted])).toEqual([[sessionHandle(ids[3]!), true]]);
    expect(await v.read(ids[0]!)).toBeUndefined();
    expect(await v.read(ids[2]!)).toBeDefined();
    expect((await v.revoke({ handle: sessionHandle(ids[2]!) })).map((s) => s.refreshToken)).toEqual([records[2]!.refreshToken]);
    expect((await client.collection(SESSIONS).get()).size).toBe(0);
  });

  it('deletes one session (logout) for every instance', async () => {
    const [a, b] = [vault(await firestore()), vault(await firestore())];
    const id = newId();
    await a.create(id, session());
    await b.delete(id);
    expect(await a.read(id)).toBeUndefined();
  });

  it('throws VaultUnavailable within its budget when Firestore is gone', async () => {
    const outage = await firestoreOutage();
    const client = firestoreClients.open(projectId, outage.host);
    const v = createFirestoreSessionVault({ firestore: client, cipher: cipher(), budgetMs: 500 });
    const logins = createFirestoreLoginAttemptStore({ firestore: client, cipher: cipher(), budgetMs: 500 });
    try {
      expect(await warmUpFirestore(client, 10_000)).toBe(true);
      const id = newId();
      await v.create(id, session());
      await outage.cut();

      for (const call of [() => v.read(id), () => v.update(id, 0, { refreshToken: 'x' }), () => v.create(newId(), session()), () => v.delete(id), () => logins.take(newId())]) {
        const started = Date.now();
        await expect(call()).rejects.toBeInstanceOf(VaultUnavailable);
        expect(Date.now() - started).toBeLessThan(1500);
      }
      // Never past the request's deadline either.
      const started = Date.now();
      await expect(v.read(id, { remainingMs: () => 100 } as never)).rejects.toBeInstanceOf(VaultUnavailable);
      expect(Date.now() - started).toBeLessThan(450);
    } finally {
      // Firestore back first: close() waits for the abandoned calls, which the SDK retries until it answers.
      await outage.end(async () => {
        await Promise.all([v.close(), logins.close()]);
        await client.terminate();
      });
    }
  }, 30_000);
});

describe('Firestore login attempts', () => {
  const attempt = (): LoginAttempt => {
    const now = Date.now();
    return {
      appId: 'app-a', state: secret('state'), nonce: secret('nonce'), codeVerifier: randomBytes(32).toString('base64url'), returnTo: '/after-login',
      createdAtMs: now, expiresAtMs: now + 600_000,
    };
  };

  it('keeps only appId, createdAt and expireAt in clear, and gives the attempt to one of two clients', async () => {
    const [one, two] = [await firestore(), await firestore()];
    const stores = [one, two].map((client) => createFirestoreLoginAttemptStore({ firestore: client, cipher: cipher(), budgetMs: BUDGET_MS }));
    for (let round = 0; round < 5; round++) {
      const id = newId();
      const pending = attempt();
      await stores[0]!.put(id, pending);
      if (round === 0) {
        const snapshot = await one.collection(LOGINS).doc(loginAttemptDocumentId(id)).get();
        const data = snapshot.data()!;
        expect(snapshot.id).toMatch(/^[0-9a-f]{64}$/);
        expect(Object.keys(data).sort()).toEqual(['appId', 'ciphertext', 'createdAt', 'expireAt', 'iv', 'keyName', 'v', 'wrappedKey']);
        expect(data.expireAt.toMillis()).toBe(pending.expiresAtMs);
        const stored = everything({ id: snapshot.id, ...data });
        for (const value of [pending.codeVerifier, pending.state, pending.nonce, pending.returnTo, id]) {
          for (const encoded of encodings(value)) expect(stored).not.toContain(encoded);
        }
      }
      const taken = await Promise.all([stores[0]!.take(id), stores[1]!.take(id), stores[1]!.take(id)]);
      expect(taken.filter(Boolean)).toEqual([pending]);
      expect(await stores[0]!.take(id)).toBeUndefined();
      expect((await one.collection(LOGINS).doc(loginAttemptDocumentId(id)).get()).exists).toBe(false);
    }
  }, 30_000);

  it('gives nothing for an expired attempt, or one moved to another id (and deletes both)', async () => {
    let offset = 0;
    const client = await firestore();
    const events: VaultEvent[] = [];
    const store = createFirestoreLoginAttemptStore({ firestore: client, cipher: cipher(), budgetMs: BUDGET_MS, now: () => Date.now() + offset, onEvent: (e) => events.push(e) });
    const [expired, victim, attacker] = [newId(), newId(), newId()];
    for (const id of [expired, victim, attacker]) await store.put(id, attempt());
    const ref = (id: string) => client.collection(LOGINS).doc(loginAttemptDocumentId(id));
    const sealed = (await ref(victim).get()).data()!;
    await ref(attacker).update({ wrappedKey: sealed.wrappedKey, iv: sealed.iv, ciphertext: sealed.ciphertext });

    expect(await store.take(attacker)).toBeUndefined();
    expect((await ref(attacker).get()).exists).toBe(false);
    expect(events).toEqual([expect.objectContaining({ store: 'login-attempts', handle: loginAttemptDocumentId(attacker), deleted: true })]);
    offset = 600_000;
    expect(await store.take(expired)).toBeUndefined();
    expect((await ref(expired).get()).exists).toBe(false);
  });
});
