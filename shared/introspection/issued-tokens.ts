/**
 * The record of issued tokens that token introspection (RFC 7662) reads: one entry per token,
 * keyed by the token's SHA-256 (the token itself is never stored), written when the token is
 * handed out and kept until it expires. Introspection never decrypts the token cache: the
 * cache is keyed by principal, not by token, and holds tokens; this holds facts about them.
 *
 * An entry lists the clients the token was handed to (a cached token can reach several
 * clients of the same principal); a client may only learn about tokens handed to it.
 *
 * Two implementations: in memory (development, a single instance) and in Firestore (every
 * instance, written behind a memory front; a TTL policy on `expireAt` deletes expired
 * entries). Both are best effort on the write side: a token whose record could not be written
 * is inactive to introspection on other instances, which fails closed.
 */
import { LRUCache } from 'lru-cache';
import type { Firestore, Timestamp } from '@google-cloud/firestore';
import { DEFAULTS } from '../config/defaults';
import type { Deadline } from '../resilience/deadline';
import { withinBudget } from '../resilience/time-budget';

/** What introspection can say about a token the broker issued. */
export interface IssuedToken {
  /** SHA-256 of the token, base64url (as audit entries name it). */
  readonly tokenSha256: string;
  /** RFC 7662 `token_type`: `Bearer` for access tokens, `N_A` for others. */
  readonly tokenType: string;
  /** The scopes issued, when the token carries scopes. */
  readonly scopes?: readonly string[];
  readonly issuer: string;
  readonly subject: string;
  /** The readable account name (`username`). */
  readonly username: string;
  readonly ruleId: string;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
  /** The clients the token was handed to (empty: only to callers without client authentication). */
  readonly clientIds: readonly string[];
}

/** One handing-out of a token: the token's facts and the client it went to, if any. */
export type Issuance = Omit<IssuedToken, 'clientIds'> & { readonly clientId?: string };

export interface IssuedTokenStore {
  /**
   * Records that the token was handed to `issuance.clientId`: at once in this instance, and
   * elsewhere when a background write lands. Never waits and never throws for the store.
   */
  remember(issuance: Issuance): void;
  /** The token's entry, expired or not (the caller decides), or undefined. Throws when the store did not answer. */
  find(tokenSha256: string, deadline?: Deadline): Promise<IssuedToken | undefined>;
  /** Waits for the background writes started so far. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Issued tokens in this instance's memory, bounded (the least recently written go first). */
export function createMemoryIssuedTokenStore(options: { maxEntries?: number } = {}): IssuedTokenStore {
  const entries = new LRUCache<string, IssuedToken>({ max: options.maxEntries ?? DEFAULTS.issuedTokensMemoryEntries });
  return {
    remember(issuance) {
      const existing = entries.get(issuance.tokenSha256);
      // A cache hit hands the same token to the same caller again: nothing to record.
      if (existing && sameIssuance(existing, issuance)) return;
      entries.set(issuance.tokenSha256, merge(existing, issuance));
    },
    async find(tokenSha256) {
      return entries.get(tokenSha256);
    },
    async flush() {},
    async close() {
      entries.clear();
    },
  };
}

/** Hex of the SHA-256: a document id cannot be `__…__`, which a base64url digest could be. */
export function documentId(tokenSha256: string): string {
  return Buffer.from(tokenSha256, 'base64url').toString('hex');
}

/** Whether recording `issuance` would leave `existing` as it is. */
function sameIssuance(existing: IssuedToken, issuance: Issuance): boolean {
  return (issuance.clientId === undefined || existing.clientIds.includes(issuance.clientId))
    && existing.subject === issuance.subject && existing.issuer === issuance.issuer && existing.ruleId === issuance.ruleId
    && existing.username === issuance.username && existing.tokenType === issuance.tokenType
    && existing.issuedAtMs === issuance.issuedAtMs && existing.expiresAtMs === issuance.expiresAtMs
    && sameScopes(existing.scopes, issuance.scopes);
}

function sameScopes(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.length === b.length && a.every((scope, i) => scope === b[i]));
}

function merge(existing: IssuedToken | undefined, issuance: Issuance): IssuedToken {
  const { clientId, ...facts } = issuance;
  const clientIds = new Set(existing?.clientIds ?? []);
  if (clientId !== undefined) clientIds.add(clientId);
  return Object.freeze({ ...facts, clientIds: Object.freeze([...clientIds]) });
}

interface IssuedTokenDocument {
  tokenType: string;
  scopes?: string[];
  iss: string;
  sub: string;
  username: string;
  ruleId: string;
  iat: number;
  exp: number;
  clients: string[];
  /** The Firestore TTL policy's field: the token's expiry. */
  expireAt: Timestamp;
}

export interface FirestoreIssuedTokenStoreOptions {
  /** Shared client; shared/state/firestore.ts owns and closes it. */
  firestore: Firestore;
  collection?: string;
  now?: () => number;
  /** Time budgets of one write and one read. */
  writeBudgetMs?: number;
  readBudgetMs?: number;
  /** How long writes are skipped after one failed (this instance still remembers its tokens). */
  backoffMs?: number;
  /** A background write that failed or exceeded its budget (the audit trail's `issued_token_unrecorded`). */
  onWriteFailed?: (tokenSha256: string, detail: string) => void;
}

/**
 * Issued tokens in Firestore, shared by every instance, written behind: `remember` records the
 * token in this instance's memory at once and writes Firestore in the background, so issuing a
 * token never waits on Firestore (nor on its outage: after a failed write, writes are skipped
 * for a back-off period). A write adds the client to the document's `clients` (arrayUnion), so
 * two instances handing out the same cached token to two clients both land; each (token,
 * client) pair is written once per instance, so a cache hit for the same client costs nothing.
 *
 * `find` always reads Firestore, and this instance's memory alongside: the answer merges both,
 * and its timing is Firestore's whether or not this instance issued the token. Another instance
 * sees a token once its background write has landed (milliseconds); a read that fails throws.
 */
export function createFirestoreIssuedTokenStore(options: FirestoreIssuedTokenStoreOptions): IssuedTokenStore {
  const now = options.now ?? Date.now;
  const collection = options.firestore.collection(options.collection ?? DEFAULTS.issuedTokensCollection);
  const front = createMemoryIssuedTokenStore();
  const written = new LRUCache<string, true>({ max: DEFAULTS.issuedTokensMemoryEntries });
  /** Writes started and not yet settled (or abandoned at their budget). */
  const pending = new Set<Promise<unknown>>();
  /** Firestore calls abandoned at their budget, which may still settle: close() waits for them. */
  const background = new Set<Promise<unknown>>();
  const { FieldValue, Timestamp: Ts } = require('@google-cloud/firestore') as typeof import('@google-cloud/firestore');
  const writeBudgetMs = options.writeBudgetMs ?? DEFAULTS.issuedTokensWriteBudgetMs;
  const readBudgetMs = options.readBudgetMs ?? DEFAULTS.issuedTokensReadBudgetMs;
  const backoffMs = options.backoffMs ?? DEFAULTS.cacheStoreBackoffMs;
  let skipWritesUntil = -Infinity;

  async function write(issuance: Issuance, pair: string): Promise<void> {
    const document: Omit<IssuedTokenDocument, 'clients'> & { clients?: unknown } = {
      tokenType: issuance.tokenType,
      ...(issuance.scopes ? { scopes: [...issuance.scopes] } : {}),
      iss: issuance.issuer,
      sub: issuance.subject,
      username: issuance.username,
      ruleId: issuance.ruleId,
      iat: issuance.issuedAtMs,
      exp: issuance.expiresAtMs,
      // No client: the field is left as it is (merge), or absent on a new document.
      ...(issuance.clientId === undefined ? {} : { clients: FieldValue.arrayUnion(issuance.clientId) }),
      expireAt: Ts.fromMillis(issuance.expiresAtMs),
    };
    try {
      await withinBudget(writeBudgetMs, 'Firestore issued-token write', () => collection.doc(documentId(issuance.tokenSha256)).set(document, { merge: true }), { background });
      written.set(pair, true, { ttl: Math.max(1, issuance.expiresAtMs - now()) });
    } catch (err) {
      skipWritesUntil = now() + backoffMs;
      options.onWriteFailed?.(issuance.tokenSha256, err instanceof Error ? err.message : String(err));
    }
  }

  return {
    remember(issuance) {
      front.remember(issuance);
      const pair = `${issuance.tokenSha256}\u0000${issuance.clientId ?? ''}`;
      if (written.has(pair)) return;
      if (now() < skipWritesUntil) {
        options.onWriteFailed?.(issuance.tokenSha256, 'skipped: Firestore failed recently (back-off)');
        return;
      }
      written.set(pair, true, { ttl: Math.max(1, issuance.expiresAtMs - now()) }); // one write in flight per pair
      const started: Promise<void> = write(issuance, pair).finally(() => pending.delete(started));
      pending.add(started);
    },
    async find(tokenSha256, deadline) {
      const [local, snapshot] = await Promise.all([
        front.find(tokenSha256),
        withinBudget(readBudgetMs, 'Firestore issued-token read', () => collection.doc(documentId(tokenSha256)).get(), { deadline }),
      ]);
      const data = snapshot.data() as Partial<IssuedTokenDocument> | undefined;
      const shared = data && typeof data.exp === 'number' ? Object.freeze({
        tokenSha256,
        tokenType: String(data.tokenType),
        ...(Array.isArray(data.scopes) ? { scopes: Object.freeze(data.scopes.map(String)) } : {}),
        issuer: String(data.iss),
        subject: String(data.sub),
        username: String(data.username),
        ruleId: String(data.ruleId),
        issuedAtMs: Number(data.iat),
        expiresAtMs: data.exp,
        clientIds: Object.freeze(Array.isArray(data.clients) ? data.clients.map(String) : []),
      }) : undefined;
      if (!local || !shared) return shared ?? local;
      return Object.freeze({ ...shared, clientIds: Object.freeze([...new Set([...shared.clientIds, ...local.clientIds])]) });
    },
    async flush() {
      await Promise.allSettled([...pending]);
    },
    async close() {
      await Promise.allSettled([...pending, ...background]);
      written.clear();
      await front.close();
    },
  };
}
