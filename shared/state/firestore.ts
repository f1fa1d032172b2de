/**
 * The one owner of the broker's Firestore client. The token cache, the assertion replay store
 * and the rate limiter (and what comes later) all use the client opened here; none of them
 * closes it. The composition root that opened it terminates it, once, after they have settled
 * their own work.
 */
import type { Firestore } from '@google-cloud/firestore';
import { withinBudget } from '../resilience/time-budget';

export interface FirestoreSettings {
  /** Default: the environment's project (GOOGLE_CLOUD_PROJECT, or the emulator's). */
  projectId?: string;
  databaseId?: string;
}

/** Read (never written) to open the connection; stores' document ids cannot collide with it. */
const WARM_UP_DOCUMENT = 'token-broker-state/warm-up';

export interface SharedFirestore {
  readonly client: Firestore;
  /**
   * Opens the connection ahead of the first request (a cold client's first call takes about
   * 900 ms on the emulator, past every store budget); false when it did not answer in time.
   */
  warmUp(timeoutMs: number): Promise<boolean>;
  /** Terminates the client; call once, after every store using it has closed. */
  close(): Promise<void>;
}

/**
 * A Firestore client for the configured project and database. The library (~350 ms to load)
 * loads here, lazily; `FIRESTORE_EMULATOR_HOST` points it at the emulator, as the library does.
 */
export async function openFirestore(settings: FirestoreSettings): Promise<SharedFirestore> {
  const { Firestore: FirestoreClient } = await import('@google-cloud/firestore');
  return sharedFirestore(new FirestoreClient({ projectId: settings.projectId, databaseId: settings.databaseId, ignoreUndefinedProperties: true }));
}

/** Wraps a client made elsewhere (tests, several simulated instances) in the same ownership rules. */
export function sharedFirestore(client: Firestore): SharedFirestore {
  let closed: Promise<void> | undefined;
  return {
    client,
    warmUp: (timeoutMs) => warmUpFirestore(client, timeoutMs),
    close() {
      closed ??= client.terminate();
      return closed;
    },
  };
}

/**
 * One read to open a client's connection, within `timeoutMs`; false when it failed or did not
 * answer in time. Concurrent and later calls for the same client share the first success.
 */
export async function warmUpFirestore(client: Firestore, timeoutMs: number): Promise<boolean> {
  if (warmed.has(client)) return true;
  try {
    await withinBudget(timeoutMs, 'Firestore warm-up', () => client.doc(WARM_UP_DOCUMENT).get());
    warmed.add(client);
    return true;
  } catch {
    return false;
  }
}

const warmed = new WeakSet<Firestore>();
