/**
 * Single-use records for RFC 7523 client assertions (RFC 7523 §3 item 7: the `jti` lets the
 * authorization server make sure an assertion is not replayed).
 *
 * `claim(key, expiresAtMs)` marks `key` as used until `expiresAtMs` and says whether this call
 * was the first to do so. Two implementations:
 *
 * - the memory store: one instance only (development, tests, a single-instance deployment);
 * - the Firestore store: shared by every broker instance. One document per key, whose id is
 *   the SHA-256 hex of the key (the client id and `jti` never appear in clear), holding only
 *   `expireAt` (the Firestore TTL policy's field). Marking is Firestore's create-if-absent:
 *   of any number of concurrent claims, across any number of instances, exactly one
 *   succeeds. A memory store in front refuses keys this instance has already seen without a
 *   round trip.
 *
 * Both FAIL CLOSED. When the shared store cannot be reached within its budget, `claim`
 * throws `temporarily_unavailable` (503) instead of answering `true`: accepting an assertion
 * we could not mark as used would let anyone holding a copy of it (a log line, a proxy, a
 * compromised client host) replay it on every other instance until it expires. A short
 * outage of client-assertion authentication is the lesser harm. (A claim that timed out may
 * still land in Firestore later; a client retrying the *same* assertion is then refused as a
 * replay. Clients should build a fresh assertion — new `jti` — for every request, as
 * RFC 7523 intends.)
 */
import { LRUCache } from 'lru-cache';
import { createHash } from 'node:crypto';
import type { Firestore, Timestamp } from '@google-cloud/firestore';
import type { Deadline } from '../resilience/deadline';
import { withinBudget } from '../resilience/time-budget';
import { BrokerError } from '../errors';
import { DEFAULTS } from '../config/defaults';

export interface ReplayStore {
  /**
   * Marks `key` as used until `expiresAtMs` (epoch ms). True when this call marked it; false
   * when it was already marked and that mark has not expired. Throws a BrokerError
   * (`temporarily_unavailable`) when it cannot tell.
   */
  claim(key: string, expiresAtMs: number, deadline?: Deadline): Promise<boolean>;
  /** Forgets this instance's marks; the Firestore client belongs to shared/state/firestore.ts. */
  close(): Promise<void>;
}

/** Default bound of a memory store: ~10k live assertions (a few MiB at most). */
const DEFAULT_MAX_ENTRIES = DEFAULTS.replayMemoryEntries;
const DEFAULT_COLLECTION = DEFAULTS.replayCollection;
/** A create-if-absent is one round trip; this leaves room for a slow one, not for an outage. */
export const REPLAY_CLAIM_BUDGET_MS = DEFAULTS.replayClaimBudgetMs;
/** `Retry-After` when the shared store is unavailable. */
const UNAVAILABLE_RETRY_AFTER_SECONDS = DEFAULTS.replayRetryAfterSeconds;
/** gRPC codes: ALREADY_EXISTS (create of an existing document), FAILED_PRECONDITION, ABORTED. */
const ALREADY_EXISTS = 6;
const CONFLICT_CODES = new Set([ALREADY_EXISTS, 9, 10]);

export function replayStoreUnavailable(detail: string, cause?: unknown): BrokerError {
  return new BrokerError('temporarily_unavailable', 'the broker cannot record the assertion as used right now; retry with a new assertion', {
    retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS,
    reason: 'replay_store_unavailable',
    detail,
    cause,
  });
}

/**
 * Live marks in memory, bounded. `full` decides what happens when every slot holds a live
 * mark: the standalone store refuses (forgetting a live mark would reopen its replay
 * window); the cache in front of Firestore evicts the oldest (Firestore still remembers it).
 */
class MemoryMarks {
  /** Key → the instant its mark expires. */
  private readonly marks: LRUCache<string, number>;

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number,
    private readonly full: 'refuse' | 'evict',
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxEntries must be a positive integer');
    this.marks = new LRUCache({ max: maxEntries });
  }

  get size(): number {
    return this.marks.size;
  }

  /** Whether `key` holds a live mark (an expired one is dropped on the way). */
  isMarked(key: string): boolean {
    const until = this.marks.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.marks.delete(key);
    return false;
  }

  /** Marks `key` unless it holds a live mark; true when marked by this call. */
  claim(key: string, expiresAtMs: number): boolean {
    if (this.isMarked(key)) return false;
    this.makeRoom();
    this.mark(key, expiresAtMs);
    return true;
  }

  /** Records a mark made elsewhere (Firestore). */
  remember(key: string, expiresAtMs: number): void {
    this.marks.delete(key);
    this.makeRoom();
    this.mark(key, expiresAtMs);
  }

  forget(key: string): void {
    this.marks.delete(key);
  }

  clear(): void {
    this.marks.clear();
  }

  private mark(key: string, expiresAtMs: number): void {
    this.marks.set(key, expiresAtMs);
  }

  /** Expired marks go first; then `evict` lets the least recently used live mark go, `refuse` refuses. */
  private makeRoom(): void {
    if (this.marks.size < this.maxEntries) return;
    const now = this.now();
    for (const [key, until] of [...this.marks.entries()]) if (until <= now) this.marks.delete(key);
    if (this.marks.size < this.maxEntries || this.full === 'evict') return;
    const soonest = Math.min(...this.marks.values());
    throw new BrokerError('temporarily_unavailable', 'the broker is handling too many client assertions right now; retry later', {
      retryAfterSeconds: Math.max(1, Math.ceil((soonest - now) / 1000)),
      reason: 'replay_store_full',
      detail: `memory replay store holds ${this.maxEntries} live marks`,
    });
  }
}

/**
 * A replay store in this process's memory. Expired marks are dropped lazily; when all
 * `maxEntries` marks are live, new claims are refused with `temporarily_unavailable`
 * (reason `replay_store_full`) rather than forgetting a live one.
 */
export function createMemoryReplayStore(options: { maxEntries?: number; now?: () => number } = {}): ReplayStore {
  const marks = new MemoryMarks(options.maxEntries ?? DEFAULT_MAX_ENTRIES, options.now ?? Date.now, 'refuse');
  return {
    async claim(key, expiresAtMs) {
      return marks.claim(key, expiresAtMs);
    },
    async close() {
      marks.clear();
    },
  };
}

export interface FirestoreReplayStoreOptions {
  /** The store terminates this client on `close()` (as the token cache's store does). */
  firestore: Firestore;
  collection?: string;
  /** Time budget of one claim; past it the claim fails closed. */
  budgetMs?: number;
  now?: () => number;
  /** Bound of the memory store in front (default 10 000). */
  maxMemoryEntries?: number;
}

interface ReplayDocument {
  expireAt: Timestamp;
}

/** The Firestore document id of a key: SHA-256 hex, so neither client id nor `jti` is stored. */
export function replayDocumentId(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function createFirestoreReplayStore(options: FirestoreReplayStoreOptions): ReplayStore {
  const { firestore } = options;
  const now = options.now ?? Date.now;
  const budgetMs = options.budgetMs ?? REPLAY_CLAIM_BUDGET_MS;
  const collection = firestore.collection(options.collection ?? DEFAULT_COLLECTION);
  const front = new MemoryMarks(options.maxMemoryEntries ?? DEFAULT_MAX_ENTRIES, now, 'evict');
  // Loaded with the client; its Timestamp class is needed to write timestamps.
  const { Timestamp: Ts } = require('@google-cloud/firestore') as typeof import('@google-cloud/firestore');

  /** Create-if-absent; a document left over from an expired mark (TTL deletion lags) is taken over. */
  const markInFirestore = async (key: string, expiresAtMs: number): Promise<boolean> => {
    const ref = collection.doc(replayDocumentId(key));
    const document: ReplayDocument = { expireAt: Ts.fromMillis(expiresAtMs) };
    try {
      await ref.create(document);
      return true;
    } catch (err) {
      if (errorCode(err) !== ALREADY_EXISTS) throw err;
    }
    const snapshot = await ref.get();
    const existing = snapshot.data() as Partial<ReplayDocument> | undefined;
    const until = existing?.expireAt?.toMillis();
    if (!snapshot.exists || !snapshot.updateTime) return false; // deleted meanwhile: someone else's doing, refuse
    if (until !== undefined && until > now()) return false;
    try {
      // Compare-and-set: only if nobody else took the expired mark over since we read it.
      await ref.update({ ...document }, { lastUpdateTime: snapshot.updateTime });
      return true;
    } catch (err) {
      if (CONFLICT_CODES.has(errorCode(err) ?? -1)) return false;
      throw err;
    }
  };

  return {
    async claim(key, expiresAtMs, deadline) {
      // Also refuses a second concurrent claim of a key in this instance before any round trip.
      if (!front.claim(key, expiresAtMs)) return false;
      let first: boolean;
      try {
        first = await withinBudget(budgetMs, 'Firestore replay claim', () => markInFirestore(key, expiresAtMs), { deadline });
      } catch (err) {
        front.forget(key); // nothing was accepted: a retry must not be mistaken for a replay here
        throw replayStoreUnavailable(`Firestore replay claim failed: ${err instanceof Error ? err.message : String(err)}`, err);
      }
      // Either way the key is now marked (by us or by another instance): keep it in front.
      return first;
    },
    async close() {
      front.clear();
    },
  };
}

function errorCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}
