import type { CachedToken } from './token-timing';

/** What a shared (L2) store holds for a key, as far as this instance can read it. */
export type StoredRead =
  | { kind: 'absent' }
  | { kind: 'token'; token: CachedToken }
  /** A document exists but cannot be opened (tampered, moved, other key): treated as a miss. */
  | { kind: 'undecryptable'; reason: string };

export type LeaseResult =
  | { kind: 'acquired' }
  | { kind: 'held'; untilMs: number }
  /** Another instance has already stored a usable token: use it. */
  | { kind: 'token'; token: CachedToken };

export interface EntryMetadata {
  /** SHA-256 of issuer + subject: lets operators find a caller's entries without storing who. */
  readonly principalHash: string;
  readonly ruleId: string;
  readonly policyVersion: string;
}

/**
 * Which entries `purge` removes: those matching every field given (at least one). The
 * operator's deny-list purges a denied principal's, rule's or policy version's tokens.
 */
export interface PurgeFilter {
  readonly principalHash?: string;
  readonly ruleId?: string;
  readonly policyVersion?: string;
}

/** A filter purge can act on: at least one field, each a non-empty string. */
export function checkPurgeFilter(filter: PurgeFilter): PurgeFilter {
  const fields = Object.entries({ principalHash: filter.principalHash, ruleId: filter.ruleId, policyVersion: filter.policyVersion })
    .filter(([, value]) => value !== undefined);
  if (fields.length === 0) throw new TypeError('purge: give a principalHash, a ruleId or a policyVersion');
  for (const [name, value] of fields) if (typeof value !== 'string' || value === '') throw new TypeError(`purge: ${name} must be a non-empty string`);
  return Object.fromEntries(fields) as PurgeFilter;
}

/** Whether an entry's metadata matches every field of a (checked) filter. */
export function matchesPurge(metadata: EntryMetadata, filter: PurgeFilter): boolean {
  return (filter.principalHash === undefined || metadata.principalHash === filter.principalHash)
    && (filter.ruleId === undefined || metadata.ruleId === filter.ruleId)
    && (filter.policyVersion === undefined || metadata.policyVersion === filter.policyVersion);
}

/**
 * The shared cache layer used by every broker instance. Each operation has its own time budget;
 * it is work shared by every request waiting on a key, so no single request's deadline cuts it
 * short (each request stops *waiting* at its own deadline: TokenCache.obtain).
 */
export interface TokenStore {
  read(key: string): Promise<StoredRead>;
  /** In one transaction: return a usable stored token, report a live lease, or take the lease. */
  claimLease(key: string, holder: string, leaseMs: number, usable: (token: CachedToken) => boolean): Promise<LeaseResult>;
  /** Stores a token (encrypted) and clears any lease. */
  write(key: string, token: CachedToken, metadata: EntryMetadata): Promise<void>;
  /**
   * Deletes every stored token whose metadata matches `filter` (within its own budget), and
   * says how many. Lease-only documents hold no token and are left alone.
   */
  purge(filter: PurgeFilter): Promise<number>;
  /** Gives up a lease this holder took (after a failed mint), so others need not wait it out. */
  release(key: string, holder: string): Promise<void>;
  /**
   * Opens the connection before the first request needs it (a cold client's first call can
   * take most of a second, far beyond the per-operation budgets).
   */
  warmUp(timeoutMs: number): Promise<void>;
  /** Waits for this store's own work; the Firestore client belongs to shared/state/firestore.ts. */
  close(): Promise<void>;
}

/** The store could not answer within its budget or failed: callers degrade to minting. */
export class StoreUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailable';
  }
}
