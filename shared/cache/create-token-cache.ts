/** Builds the token cache a configuration asks for; heavy clients load lazily, here. */
import { randomUUID } from 'node:crypto';
import { DEFAULTS } from '../config/defaults';
import type { CacheConfig } from '../config/environment';
import { EnvelopeCipher } from './envelope';
import { createFirestoreStore } from './firestore-store';
import { localKeyWrapper, type KeyWrapper } from './key-wrapper';
import { kmsKeyWrapper } from './kms-key-wrapper';
import { TokenCache, type CacheEvent } from './token-cache';

export interface CacheWiring {
  /** The Firestore client (shared/state/firestore.ts; shared with the replay store and the limiter). Required by the firestore kind. */
  firestore?: import('@google-cloud/firestore').Firestore;
  onEvent?: (event: CacheEvent) => void;
  now?: () => number;
  /** The envelope cipher (one per instance: the session vault shares it); default one for the configured key. */
  cipher?: EnvelopeCipher;
  /** Overrides for tests (lease timing and the like). */
  overrides?: Partial<ConstructorParameters<typeof TokenCache>[0]>;
}

export async function createTokenCache(config: CacheConfig, wiring: CacheWiring = {}): Promise<TokenCache | undefined> {
  if (config.kind === 'none') return undefined;
  const common = {
    instanceId: randomUUID(),
    maxMemoryEntries: DEFAULTS.cacheMemoryEntries,
    minRemainingMs: config.minRemainingSeconds * 1000,
    leaseMs: DEFAULTS.cacheLeaseMs,
    leaseWaitMs: DEFAULTS.cacheLeaseWaitMs,
    leasePollMs: DEFAULTS.cacheLeasePollMs,
    storeBackoffMs: DEFAULTS.cacheStoreBackoffMs,
    now: wiring.now,
    onEvent: wiring.onEvent,
  };
  if (config.kind === 'memory') return new TokenCache({ ...common, ...wiring.overrides });

  const { firestore } = wiring;
  if (!firestore) throw new TypeError('the firestore cache needs the Firestore client of shared/state/firestore.ts');
  const cipher = wiring.cipher ?? new EnvelopeCipher(keyWrapperFor(config.keyWrapping), { dekLifetimeMs: DEFAULTS.cacheDekLifetimeMs, now: wiring.now });
  const store = createFirestoreStore({
    firestore,
    collection: config.collection,
    cipher,
    budgets: { readMs: DEFAULTS.cacheReadBudgetMs, transactionMs: DEFAULTS.cacheTransactionBudgetMs, writeMs: DEFAULTS.cacheWriteBudgetMs },
    now: wiring.now,
  });
  const cache = new TokenCache({ ...common, store, ...wiring.overrides });
  await cache.warmUp(DEFAULTS.cacheWarmUpMs);
  return cache;
}

export function keyWrapperFor(wrapping: Extract<CacheConfig, { kind: 'firestore' }>['keyWrapping']): KeyWrapper {
  // The KMS client itself is loaded on first wrap/unwrap, not here.
  return wrapping.kind === 'local' ? localKeyWrapper(wrapping.key) : kmsKeyWrapper({ keyName: wrapping.keyName });
}
