/**
 * The token cache: an in-memory LRU per instance (L1) in front of a shared store (L2,
 * Firestore), with singleflight inside an instance and a lease across instances, so each key
 * is minted upstream once per refresh window.
 *
 *   obtain(key)
 *     L1 fresh                     → hit
 *     L1 in refresh-ahead          → hit, and one background refresh
 *     otherwise, once per key in this instance (singleflight):
 *       L2 usable                  → hit (shared)
 *       lease acquired             → mint, store in L2 and L1 → miss
 *       lease held by another      → wait for its token (polling L2) → waited;
 *                                    not delivered in time → mint ourselves
 *       L2 failing or too slow     → mint directly → degraded (L2 skipped for a while)
 * A token is never served with less than its minimum remaining life (see token-timing.ts).
 *
 *   purge(filter)                  drops the matching entries (by their metadata) from L1,
 *                                  then from L2: the operator's deny-list, so a denied
 *                                  principal's token is never served from either again.
 */
import type { Deadline } from '../resilience/deadline';
import { LRUCache } from 'lru-cache';
import { SingleFlight } from './singleflight';
import { freshness, type CachedToken } from './token-timing';
import { checkPurgeFilter, matchesPurge, StoreUnavailable, type EntryMetadata, type PurgeFilter, type TokenStore } from './token-store';

export type CacheOutcome =
  | 'hit' // from this instance's memory
  | 'hit-shared' // from the shared store
  | 'waited' // another instance minted it while we waited
  | 'miss' // minted now
  | 'degraded'; // minted now because the shared store failed or was too slow

/** Things worth an audit line that happen inside the cache. */
export type CacheEvent =
  | { type: 'decrypt_failed'; key: string; reason: string }
  | { type: 'store_unavailable'; key: string; detail: string }
  | { type: 'lease_timeout'; key: string }
  | { type: 'refreshed'; key: string; latencyMs: number }
  | { type: 'refresh_failed'; key: string; detail: string };

export interface CacheResult {
  readonly token: CachedToken;
  readonly outcome: CacheOutcome;
  /** This request started a background refresh-ahead. */
  readonly refreshStarted: boolean;
}

/** Mints a token upstream; `trigger` says whether a request waits for it or it refreshes ahead. */
export type Mint = (trigger: 'request' | 'refresh') => Promise<CachedToken>;

export interface TokenCacheOptions {
  /** Shared store; absent means memory only (development mode). */
  store?: TokenStore;
  /** Identifies this instance as a lease holder. */
  instanceId: string;
  maxMemoryEntries: number;
  /** Never serve a token with less remaining life than this (or half its lifetime). */
  minRemainingMs: number;
  /** How long a lease protects a mint in progress. */
  leaseMs: number;
  /** How long to wait for another instance's mint before minting ourselves. */
  leaseWaitMs: number;
  leasePollMs: number;
  /** After a store failure, skip the store for this long. */
  storeBackoffMs: number;
  now?: () => number;
  onEvent?: (event: CacheEvent) => void;
}

/** What `purge` removed: entries of this instance's memory, and of the shared store (absent: none, or it failed). */
export interface PurgeResult {
  readonly memory: number;
  readonly shared?: number;
  /** Why the shared store could not be purged (StoreUnavailable's message). */
  readonly sharedError?: string;
}

/** An L1 entry: the token and what it was minted for (what `purge` matches). */
interface Remembered {
  readonly token: CachedToken;
  readonly metadata: EntryMetadata;
}

export class TokenCache {
  private readonly memory: LRUCache<string, Remembered>;
  private readonly fills = new SingleFlight<{ token: CachedToken; outcome: CacheOutcome }>();
  private readonly refreshes = new SingleFlight<void>();
  private readonly now: () => number;
  private storeDownUntil = 0;
  /** Work that outlives the request that started it (refreshes, lease releases). */
  private readonly background = new Set<Promise<unknown>>();

  constructor(private readonly options: TokenCacheOptions) {
    this.memory = new LRUCache({ max: options.maxMemoryEntries });
    this.now = options.now ?? Date.now;
  }

  /**
   * Connects to the shared store ahead of the first request. A failure is reported and backs
   * the store off like any other, so the first requests mint directly instead of waiting.
   */
  async warmUp(timeoutMs: number): Promise<boolean> {
    if (!this.options.store) return true;
    try {
      await this.options.store.warmUp(timeoutMs);
      return true;
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err;
      this.storeFailed('warm-up', err);
      return false;
    }
  }

  /** Waits for background work, then releases the store's client. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.background]);
    await this.options.store?.close();
  }

  /**
   * Drops every entry whose metadata matches `filter` (every field given; at least one) from
   * this instance's memory, then from the shared store. A store failure is reported in the
   * result (and audited like any other), never thrown: the memory purge stands.
   * A mint already in flight for a matching key may still land in the cache after this;
   * the deny-list's check, which runs before the cache, keeps refusing it meanwhile.
   */
  async purge(filter: PurgeFilter): Promise<PurgeResult> {
    const checked = checkPurgeFilter(filter);
    let memory = 0;
    for (const [key, entry] of [...this.memory.entries()]) {
      if (!matchesPurge(entry.metadata, checked)) continue;
      this.memory.delete(key);
      memory++;
    }
    if (!this.options.store) return { memory };
    try {
      return { memory, shared: await this.options.store.purge(checked) };
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err;
      this.emit({ type: 'store_unavailable', key: 'purge', detail: err.message });
      return { memory, sharedError: err.message };
    }
  }

  private inBackground(work: Promise<unknown>): void {
    const tracked = work.catch(() => undefined).finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }

  /**
   * The token for `key`. A request waits for it no longer than its `deadline`: filling a key is
   * shared by every request waiting on it (and bounded by the store's own budgets), so the
   * deadline ends the wait, not the work.
   */
  async obtain(key: string, metadata: EntryMetadata, mint: Mint, deadline?: Deadline): Promise<CacheResult> {
    return this.memoryHit(key, () => ({ metadata, mint })) ?? this.obtainFilled(key, metadata, mint, deadline);
  }

  /**
   * The token for `key` from this instance's memory (L1), synchronously, or undefined when it
   * is not there (or no longer servable): `obtain` then fills it. A token due for refresh is
   * served and refreshed in the background, as `obtain` does, with what `forRefresh` gives
   * (asked for only then: a plain hit computes nothing more).
   */
  memoryHit(key: string, forRefresh: () => { metadata: EntryMetadata; mint: Mint }): CacheResult | undefined {
    const cached = this.memory.get(key)?.token;
    if (!cached) return undefined;
    const state = freshness(cached, this.now(), this.options.minRemainingMs);
    if (state === 'fresh') return { token: cached, outcome: 'hit', refreshStarted: false };
    if (state === 'refresh-ahead') {
      const { metadata, mint } = forRefresh();
      return { token: cached, outcome: 'hit', refreshStarted: this.refreshInBackground(key, metadata, mint) };
    }
    this.memory.delete(key);
    return undefined;
  }

  private async obtainFilled(key: string, metadata: EntryMetadata, mint: Mint, deadline?: Deadline): Promise<CacheResult> {
    const filled = this.fills.run(key, () => this.fill(key, metadata, mint, deadline));
    const { token, outcome } = await (deadline ? deadline.race(filled) : filled);
    return { token, outcome, refreshStarted: false };
  }

  /** Fills L1 for a key: from the shared store, from another instance's mint, or by minting. */
  private async fill(key: string, metadata: EntryMetadata, mint: Mint, deadline?: Deadline): Promise<{ token: CachedToken; outcome: CacheOutcome }> {
    const store = this.availableStore();
    if (!store) return { token: this.remember(key, metadata, await mint('request')), outcome: store === null ? 'degraded' : 'miss' };
    try {
      const stored = await store.read(key);
      if (stored.kind === 'token' && this.servable(stored.token)) {
        if (freshness(stored.token, this.now(), this.options.minRemainingMs) === 'refresh-ahead') this.refreshInBackground(key, metadata, mint);
        return { token: this.remember(key, metadata, stored.token), outcome: 'hit-shared' };
      }
      if (stored.kind === 'undecryptable') this.emit({ type: 'decrypt_failed', key, reason: stored.reason });
      return await this.mintUnderLease(store, key, metadata, mint, (token) => this.servable(token), deadline);
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err;
      this.storeFailed(key, err);
      return { token: this.remember(key, metadata, await mint('request')), outcome: 'degraded' };
    }
  }

  /** Takes the lease and mints, or waits for the holder's token. */
  private async mintUnderLease(
    store: TokenStore, key: string, metadata: EntryMetadata, mint: Mint, usable: (token: CachedToken) => boolean, deadline?: Deadline,
  ): Promise<{ token: CachedToken; outcome: CacheOutcome }> {
    const lease = await store.claimLease(key, this.options.instanceId, this.options.leaseMs, usable);
    if (lease.kind === 'token') return { token: this.remember(key, metadata, lease.token), outcome: 'hit-shared' };
    if (lease.kind === 'held') {
      const delivered = await this.waitForHolder(store, key, usable, deadline);
      if (delivered) return { token: this.remember(key, metadata, delivered), outcome: 'waited' };
      this.emit({ type: 'lease_timeout', key });
      return { token: await this.mintAndStore(store, key, metadata, () => mint('request'), false), outcome: 'miss' };
    }
    return { token: await this.mintAndStore(store, key, metadata, () => mint('request'), true), outcome: 'miss' };
  }

  private async mintAndStore(
    store: TokenStore, key: string, metadata: EntryMetadata, mint: () => Promise<CachedToken>, holdsLease: boolean,
  ): Promise<CachedToken> {
    let token: CachedToken;
    try {
      token = await mint();
    } catch (err) {
      if (holdsLease) this.inBackground(store.release(key, this.options.instanceId));
      throw err;
    }
    this.remember(key, metadata, token);
    try {
      await store.write(key, token, metadata);
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err;
      this.storeFailed(key, err);
      // The entry was not stored (Firestore, or Cloud KMS sealing it, failed): free the lease,
      // so other instances mint at once instead of waiting for a token that will not come.
      if (holdsLease) this.inBackground(store.release(key, this.options.instanceId));
    }
    return token;
  }

  /** Polls for the lease holder's token for at most leaseWaitMs, and never past half the request's remaining time (the other half is for minting ourselves). */
  private async waitForHolder(store: TokenStore, key: string, usable: (token: CachedToken) => boolean, deadline?: Deadline): Promise<CachedToken | undefined> {
    const waitMs = Math.min(this.options.leaseWaitMs, (deadline?.remainingMs() ?? Infinity) / 2);
    const until = this.now() + waitMs;
    while (this.now() < until) {
      await sleep(this.options.leasePollMs);
      const stored = await store.read(key);
      if (stored.kind === 'token' && usable(stored.token)) return stored.token;
    }
    return undefined;
  }

  /**
   * Refresh-ahead: one refresh per key and instance, off the request path. Another instance's
   * newer token is adopted instead of minting; a refresh already leased elsewhere is left to it.
   */
  private refreshInBackground(key: string, metadata: EntryMetadata, mint: Mint): boolean {
    if (this.refreshes.has(key)) return false;
    const started = this.now();
    const refresh = this.refreshes
      .run(key, async () => {
        const fresh = (token: CachedToken) => freshness(token, this.now(), this.options.minRemainingMs) === 'fresh';
        const store = this.availableStore();
        if (!store) {
          this.remember(key, metadata, await mint('refresh'));
        } else {
          try {
            const stored = await store.read(key);
            if (stored.kind === 'token' && fresh(stored.token)) {
              this.remember(key, metadata, stored.token);
              return;
            }
            const lease = await store.claimLease(key, this.options.instanceId, this.options.leaseMs, fresh);
            if (lease.kind === 'token') this.remember(key, metadata, lease.token);
            if (lease.kind === 'acquired') await this.mintAndStore(store, key, metadata, () => mint('refresh'), true);
            if (lease.kind !== 'acquired') return;
          } catch (err) {
            if (!(err instanceof StoreUnavailable)) throw err;
            this.storeFailed(key, err);
            this.remember(key, metadata, await mint('refresh'));
          }
        }
        this.emit({ type: 'refreshed', key, latencyMs: this.now() - started });
      })
      .catch((err: unknown) => this.emit({ type: 'refresh_failed', key, detail: err instanceof Error ? err.message : String(err) }));
    this.inBackground(refresh);
    return true;
  }

  /** The store, undefined when there is none, or null while it is backed off after a failure. */
  private availableStore(): TokenStore | undefined | null {
    if (!this.options.store) return undefined;
    return this.now() < this.storeDownUntil ? null : this.options.store;
  }

  private storeFailed(key: string, err: StoreUnavailable): void {
    this.storeDownUntil = this.now() + this.options.storeBackoffMs;
    this.emit({ type: 'store_unavailable', key, detail: err.message });
  }

  private servable(token: CachedToken): boolean {
    return freshness(token, this.now(), this.options.minRemainingMs) !== 'unusable';
  }

  private remember(key: string, metadata: EntryMetadata, token: CachedToken): CachedToken {
    this.memory.set(key, { token, metadata });
    return token;
  }

  private emit(event: CacheEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // an observer must never break token issuance
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
