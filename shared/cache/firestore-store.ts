/**
 * The shared (L2) token cache in Firestore. One document per cache key (the key's hex hash
 * is the document id), holding only:
 *   v, keyName, wrappedKey, iv, ciphertext   the token, envelope-encrypted, AAD = cache key
 *   mintedAt, expireAt                       timestamps; `expireAt` drives Firestore's TTL policy
 *   principal, ruleId, policyVersion         a hash of issuer+subject, and which rule/policy
 *                                            (what `purge` queries: the operator's deny-list)
 *   leaseHolder, leaseUntil                  the cross-instance mint lease
 *
 * The lease is a compare-and-set on the document (create-if-absent, or update with a
 * `lastUpdateTime` precondition) rather than a transaction: the server SDK's transactions
 * lock what they read, and a few instances contending for one new key took 3.6 s to sort
 * themselves out on the emulator, against milliseconds for preconditioned writes.
 * Freshness decisions use the timestamps inside the ciphertext, never the clear ones, so an
 * edited `expireAt` cannot keep a token in service.
 *
 * Every operation has a time budget, encryption included (a write may wrap a new data key
 * with Cloud KMS; a read may unwrap one); past it, or on any failure, the call fails with
 * StoreUnavailable and the broker mints directly.
 */
import type { DocumentReference, Firestore, Timestamp } from '@google-cloud/firestore';
import { DEFAULTS } from '../config/defaults';
import { BudgetExceeded, withinBudget } from '../resilience/time-budget';
import { warmUpFirestore } from '../state/firestore';
import { DecryptError, type EnvelopeCipher, type Sealed } from './envelope';
import type { CachedToken } from './token-timing';
import { checkPurgeFilter, StoreUnavailable, type EntryMetadata, type LeaseResult, type StoredRead, type TokenStore } from './token-store';

export interface StoreBudgets {
  readMs: number;
  transactionMs: number;
  writeMs: number;
}

/** Reads and compare-and-set writes before a contended lease gives up (and the broker mints). */
const MAX_LEASE_ATTEMPTS = DEFAULTS.cacheLeaseAttempts;
/** gRPC codes of a lost compare-and-set: ALREADY_EXISTS, FAILED_PRECONDITION, ABORTED. */
const CONFLICT_CODES = new Set([6, 9, 10]);

function isConflict(err: unknown): boolean {
  return typeof err === 'object' && err !== null && CONFLICT_CODES.has((err as { code?: unknown }).code as number);
}

interface EntryDocument {
  v: 1;
  keyName: string;
  wrappedKey: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  mintedAt: Timestamp;
  expireAt: Timestamp;
  principal: string;
  ruleId: string;
  policyVersion: string;
  leaseHolder: string | null;
  leaseUntil: Timestamp | null;
}

export interface FirestoreStoreOptions {
  firestore: Firestore;
  collection: string;
  cipher: EnvelopeCipher;
  budgets: StoreBudgets;
  now?: () => number;
  /** Time budget of one `purge` (all its pages); default DEFAULTS.cachePurgeBudgetMs. */
  purgeBudgetMs?: number;
}

/** Documents deleted per batch by `purge` (Firestore's limit of writes in one batch). */
const PURGE_PAGE = 500;
/** The stored field each purge filter field queries (`principalHash` is stored as `principal`). */
const PURGE_FIELDS = { principalHash: 'principal', ruleId: 'ruleId', policyVersion: 'policyVersion' } as const;

export function createFirestoreStore(options: FirestoreStoreOptions): TokenStore {
  const { firestore, cipher, budgets } = options;
  const now = options.now ?? Date.now;
  const collection = firestore.collection(options.collection);
  // Loaded with the client; its Timestamp class is needed to write timestamps.
  const { Timestamp: Ts } = require('@google-cloud/firestore') as typeof import('@google-cloud/firestore');

  const decode = async (key: string, data: Partial<EntryDocument> | undefined): Promise<StoredRead> => {
    if (!data || data.ciphertext === undefined) return { kind: 'absent' };
    try {
      return { kind: 'token', token: await openEntry(cipher, key, data) };
    } catch (err) {
      if (err instanceof DecryptError) return { kind: 'undecryptable', reason: err.message };
      throw err;
    }
  };

  return {
    async read(key) {
      return withBudget(budgets.readMs, 'read', async () => {
        const snapshot = await collection.doc(key).get();
        return decode(key, snapshot.data() as Partial<EntryDocument> | undefined);
      });
    },

    async claimLease(key, holder, leaseMs, usable) {
      return withBudget(budgets.transactionMs, 'lease', async (): Promise<LeaseResult> => {
        const ref: DocumentReference = collection.doc(key);
        for (let attempt = 0; attempt < MAX_LEASE_ATTEMPTS; attempt++) {
          const snapshot = await ref.get();
          const data = snapshot.data() as Partial<EntryDocument> | undefined;
          const stored = await decode(key, data);
          if (stored.kind === 'token' && usable(stored.token)) return { kind: 'token', token: stored.token };
          const until = data?.leaseUntil?.toMillis() ?? 0;
          if (data?.leaseHolder && data.leaseHolder !== holder && until > now()) return { kind: 'held', untilMs: until };
          const lease = { leaseHolder: holder, leaseUntil: Ts.fromMillis(now() + leaseMs) };
          try {
            // Compare-and-set: succeeds only if nobody wrote the document since we read it.
            if (snapshot.exists && snapshot.updateTime) await ref.update(lease, { lastUpdateTime: snapshot.updateTime });
            else await ref.create({ ...lease, expireAt: lease.leaseUntil }); // a holder that dies leaves nothing behind for long
            return { kind: 'acquired' };
          } catch (err) {
            if (!isConflict(err)) throw err;
          }
        }
        throw new StoreUnavailable(`lease on ${key} still contended after ${MAX_LEASE_ATTEMPTS} attempts`);
      });
    },

    async write(key, token, metadata) {
      // Sealing is inside the budget: it may wrap a new data key with Cloud KMS, and a KMS call
      // that fails or hangs must degrade like a Firestore one, not fail the request.
      await withBudget(budgets.writeMs, 'write', async () => {
        const sealed = await cipher.seal(Buffer.from(JSON.stringify(token)), key);
        await collection.doc(key).set(entryDocument(sealed, token, metadata, Ts));
      });
    },

    async purge(filter) {
      const checked = checkPurgeFilter(filter);
      return withBudget(options.purgeBudgetMs ?? DEFAULTS.cachePurgeBudgetMs, 'purge', async () => {
        // Equality filters only: Firestore serves them from its single-field indexes, no composite index needed.
        let query: import('@google-cloud/firestore').Query = collection;
        for (const [field, stored] of Object.entries(PURGE_FIELDS)) {
          const value = checked[field as keyof typeof PURGE_FIELDS];
          if (value !== undefined) query = query.where(stored, '==', value);
        }
        let purged = 0;
        for (;;) {
          const page = await query.select().limit(PURGE_PAGE).get();
          if (page.empty) return purged;
          const batch = firestore.batch();
          for (const doc of page.docs) batch.delete(doc.ref);
          await batch.commit();
          purged += page.size;
        }
      });
    },

    async close() {
      // The Firestore client belongs to shared/state/firestore.ts (shared with the replay store
      // and the rate limiter), which terminates it.
    },

    async warmUp(timeoutMs) {
      if (!(await warmUpFirestore(firestore, timeoutMs))) throw new StoreUnavailable(`Firestore warm-up exceeded ${timeoutMs} ms or failed`);
    },

    async release(key, holder) {
      await withBudget(budgets.transactionMs, 'lease release', async () => {
        const ref = collection.doc(key);
        const snapshot = await ref.get();
        const data = snapshot.data() as Partial<EntryDocument> | undefined;
        if (data?.leaseHolder !== holder || !snapshot.updateTime) return;
        await ref.update({ leaseHolder: null, leaseUntil: null }, { lastUpdateTime: snapshot.updateTime }).catch((err: unknown) => {
          if (!isConflict(err)) throw err; // someone else has moved on: nothing of ours to release
        });
      });
    },
  };
}

function entryDocument(sealed: Sealed, token: CachedToken, metadata: EntryMetadata, Ts: typeof Timestamp): EntryDocument {
  return {
    v: 1,
    keyName: sealed.keyName,
    wrappedKey: sealed.wrappedKey,
    iv: sealed.iv,
    ciphertext: sealed.ciphertext,
    mintedAt: Ts.fromMillis(token.mintedAtMs),
    expireAt: Ts.fromMillis(token.expiresAtMs),
    principal: metadata.principalHash,
    ruleId: metadata.ruleId,
    policyVersion: metadata.policyVersion,
    leaseHolder: null,
    leaseUntil: null,
  };
}

async function openEntry(cipher: EnvelopeCipher, key: string, data: Partial<EntryDocument>): Promise<CachedToken> {
  if (data.v !== 1 || !data.keyName || !isBytes(data.wrappedKey) || !isBytes(data.iv) || !isBytes(data.ciphertext)) {
    throw new DecryptError('not a version-1 cache entry');
  }
  const plaintext = await cipher.open({ keyName: data.keyName, wrappedKey: data.wrappedKey, iv: data.iv, ciphertext: data.ciphertext }, key);
  const token = JSON.parse(plaintext.toString('utf8')) as Partial<CachedToken>;
  if (typeof token.accessToken !== 'string' || typeof token.expiresAtMs !== 'number' || typeof token.mintedAtMs !== 'number') {
    throw new DecryptError('cache entry has an unexpected shape');
  }
  return { accessToken: token.accessToken, mintedAtMs: token.mintedAtMs, expiresAtMs: token.expiresAtMs };
}

function isBytes(value: unknown): value is Buffer {
  return Buffer.isBuffer(value);
}

/** Runs a store operation within its budget; any failure becomes StoreUnavailable. */
async function withBudget<T>(ms: number, what: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await withinBudget(ms, `Firestore ${what}`, operation);
  } catch (err) {
    if (err instanceof StoreUnavailable) throw err;
    throw new StoreUnavailable(err instanceof BudgetExceeded ? err.message : `Firestore ${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
