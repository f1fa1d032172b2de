/**
 * Pending logins between /v1/login and /v1/callback: the PKCE code verifier, `state`, `nonce`
 * and where to send the user back. Each is taken once: `take` reads and deletes, so a callback
 * replayed (on this instance or another) finds nothing.
 *
 * Two implementations, with the same semantics:
 * - the memory store: one instance only; attempts stay in this process's memory, unencrypted,
 *   bounded (least recently stored first out);
 * - the Firestore store: one document per attempt, id = SHA-256 hex of the attempt id (never
 *   stored), holding in clear only `appId`, `createdAt` and `expireAt` (the TTL policy's field);
 *   everything else is envelope-encrypted with the AAD context `login-attempt/v1:<document id>`,
 *   so sealed fields copied to another document do not open. `take` reads, decrypts, then
 *   deletes with a precondition on the update time it read: of concurrent takes, across any
 *   number of instances, exactly one gets the attempt.
 *
 * Every Firestore call runs within a time budget (KMS included, never past the deadline);
 * failure throws VaultUnavailable. Expiry is decided on the sealed `expiresAtMs`, not on the
 * clear `expireAt`.
 */
import { LRUCache } from 'lru-cache';
import type { DocumentSnapshot, Timestamp } from '@google-cloud/firestore';
import { DEFAULTS } from '../config/defaults';
import { DecryptError, type EnvelopeCipher } from '../cache/envelope';
import type { Deadline } from '../resilience/deadline';
import {
  ALREADY_EXISTS, budgetRunner, grpcCode, isConflict, isTampered, readSealed, reporter, sealedFields, sha256Hex,
  VaultConflict, type SealedFields,
  type SealedStoreOptions,
} from './sealed-store';

export interface LoginAttempt {
  appId: string;
  state: string;
  nonce: string;
  codeVerifier: string;
  returnTo: string;
  createdAtMs: number;
  expiresAtMs: number;
}

export interface LoginAttemptStore {
  /** Stores a pending login. Throws TypeError on a malformed attempt, VaultConflict when the id is in use. */
  put(attemptId: string, attempt: LoginAttempt, deadline?: Deadline): Promise<void>;
  /**
   * Reads AND deletes (single use): a second take of the same id returns undefined, also across
   * instances. Undefined when absent, expired or undecryptable (then deleted and reported).
   * Throws VaultUnavailable when the store or KMS cannot answer (the attempt is then kept).
   */
  take(attemptId: string, deadline?: Deadline): Promise<LoginAttempt | undefined>;
  close(): Promise<void>;
}

/** The Firestore document id of an attempt id. */
export function loginAttemptDocumentId(attemptId: string): string {
  return sha256Hex(attemptId);
}

export function createMemoryLoginAttemptStore(options: { now?: () => number; maxEntries?: number } = {}): LoginAttemptStore {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? DEFAULTS.sessionMemoryEntries;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxEntries must be a positive integer');
  const attempts = new LRUCache<string, LoginAttempt>({ max: maxEntries });
  return {
    async put(attemptId, attempt) {
      checkAttempt(attemptId, attempt);
      if (attempts.has(attemptId)) throw new VaultConflict('a login attempt with this id already exists');
      attempts.set(attemptId, copyAttempt(attempt));
    },
    async take(attemptId) {
      if (typeof attemptId !== 'string' || attemptId === '') return undefined;
      const attempt = attempts.get(attemptId);
      attempts.delete(attemptId);
      return attempt && attempt.expiresAtMs > now() ? copyAttempt(attempt) : undefined;
    },
    async close() {
      attempts.clear();
    },
  };
}

export type FirestoreLoginAttemptStoreOptions = SealedStoreOptions;

interface AttemptDocument extends SealedFields {
  v: 1;
  appId: string;
  createdAt: Timestamp;
  expireAt: Timestamp;
}

export function createFirestoreLoginAttemptStore(options: FirestoreLoginAttemptStoreOptions): LoginAttemptStore {
  const { cipher } = options;
  const now = options.now ?? Date.now;
  const collection = options.firestore.collection(options.collection ?? DEFAULTS.loginAttemptsCollection);
  const budget = budgetRunner(options.budgetMs ?? DEFAULTS.sessionStoreBudgetMs, 'login attempts');
  const report = reporter('login-attempts', options.onEvent);
  const { Timestamp: Ts } = require('@google-cloud/firestore') as typeof import('@google-cloud/firestore');

  /** Deletes what `snapshot` read, unless someone has since; whether this call did. */
  const consume = async (snapshot: DocumentSnapshot): Promise<boolean> => {
    try {
      await snapshot.ref.delete({ lastUpdateTime: snapshot.updateTime! });
      return true;
    } catch (err) {
      if (isConflict(err) || grpcCode(err) === NOT_FOUND) return false; // taken by someone else
      throw err;
    }
  };

  return {
    async put(attemptId, attempt, deadline) {
      checkAttempt(attemptId, attempt);
      await budget('put', deadline, async () => {
        const id = loginAttemptDocumentId(attemptId);
        const sealed = await cipher.seal(Buffer.from(JSON.stringify(copyAttempt(attempt)), 'utf8'), attemptContext(id));
        const document: AttemptDocument = {
          v: 1,
          appId: attempt.appId,
          createdAt: Ts.fromMillis(attempt.createdAtMs),
          expireAt: Ts.fromMillis(attempt.expiresAtMs),
          ...sealedFields(sealed),
        };
        try {
          await collection.doc(id).create(document);
        } catch (err) {
          if (grpcCode(err) === ALREADY_EXISTS) throw new VaultConflict('a login attempt with this id already exists');
          throw err;
        }
      });
    },

    async take(attemptId, deadline) {
      if (typeof attemptId !== 'string' || attemptId === '') return undefined;
      return budget('take', deadline, async () => {
        const snapshot = await collection.doc(loginAttemptDocumentId(attemptId)).get();
        const data = snapshot.data() as Partial<AttemptDocument> | undefined;
        if (!data) return undefined;
        let attempt: LoginAttempt;
        try {
          // Decrypted before it is deleted: a KMS outage leaves the attempt for a retry.
          attempt = await openAttempt(cipher, snapshot.id, data);
        } catch (err) {
          if (!isTampered(err)) throw err;
          report(snapshot.id, err, await consume(snapshot).catch(() => false));
          return undefined;
        }
        if (!(await consume(snapshot))) return undefined;
        return attempt.expiresAtMs > now() ? attempt : undefined;
      });
    },

    async close() {
      await budget.settled();
    },
  };
}

/** gRPC NOT_FOUND: a precondition on a document that is gone. */
const NOT_FOUND = 5;

function attemptContext(documentId: string): string {
  return `login-attempt/v1:${documentId}`;
}

async function openAttempt(cipher: EnvelopeCipher, documentId: string, data: Partial<AttemptDocument>): Promise<LoginAttempt> {
  if (data.v !== 1) throw new DecryptError('not a version-1 login attempt');
  const plaintext = await cipher.open(readSealed(data), attemptContext(documentId));
  const attempt = JSON.parse(plaintext.toString('utf8')) as LoginAttempt;
  if (attempt.appId !== data.appId) throw new DecryptError('the clear appId differs from its sealed copy');
  return copyAttempt(attempt);
}

function checkAttempt(attemptId: string, attempt: LoginAttempt): void {
  if (typeof attemptId !== 'string' || attemptId.length < 16) throw new TypeError('a login attempt id must be a random string of at least 16 characters');
  for (const field of ['appId', 'state', 'nonce', 'codeVerifier', 'returnTo'] as const) {
    if (typeof attempt[field] !== 'string' || attempt[field] === '') throw new TypeError(`a login attempt needs ${field}`);
  }
  if (!Number.isSafeInteger(attempt.createdAtMs) || !Number.isSafeInteger(attempt.expiresAtMs) || attempt.expiresAtMs <= attempt.createdAtMs) {
    throw new TypeError('a login attempt needs createdAtMs before expiresAtMs (whole milliseconds)');
  }
}

/** Only the attempt's own fields. */
function copyAttempt(attempt: LoginAttempt): LoginAttempt {
  const { appId, state, nonce, codeVerifier, returnTo, createdAtMs, expiresAtMs } = attempt;
  return { appId, state, nonce, codeVerifier, returnTo, createdAtMs, expiresAtMs };
}
