/**
 * What the session vault and the pending logins share: documents holding envelope-sealed
 * values, the failures their callers act on, time budgets, and Firestore's conflict codes.
 */
import { createHash } from 'node:crypto';
import { DecryptError, type Sealed } from '../cache/envelope';
import { KmsError } from '../cache/kms-key-wrapper';
import type { Firestore } from '@google-cloud/firestore';
import type { EnvelopeCipher } from '../cache/envelope';
import type { Deadline } from '../resilience/deadline';
import { BudgetExceeded, withinBudget } from '../resilience/time-budget';

/** A stored record that could not be opened; `deleted` says whether its removal landed. */
export interface VaultEvent {
  type: 'decrypt_failed';
  store: 'sessions' | 'login-attempts';
  /** The document id (a SHA-256 hex): never the session or attempt id. */
  handle: string;
  reason: string;
  deleted: boolean;
}

/** The store or KMS did not answer within the budget, or failed: the flow answers 503. */
export class VaultUnavailable extends Error {
  readonly code = 'vault_unavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VaultUnavailable';
  }
}

/** A create of an id that is already in use (a session id or login attempt id drawn twice). */
export class VaultConflict extends Error {
  readonly code = 'vault_conflict';
  constructor(message: string) {
    super(message);
    this.name = 'VaultConflict';
  }
}


/** The envelope's fields as a document stores them (Firestore Bytes come back as Buffers). */
export interface SealedFields {
  keyName: string;
  wrappedKey: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
}

export function sealedFields(sealed: Sealed): SealedFields {
  return { keyName: sealed.keyName, wrappedKey: sealed.wrappedKey, iv: sealed.iv, ciphertext: sealed.ciphertext };
}

export function readSealed(data: Partial<SealedFields>): Sealed {
  const { keyName, wrappedKey, iv, ciphertext } = data;
  if (typeof keyName !== 'string' || !Buffer.isBuffer(wrappedKey) || !Buffer.isBuffer(iv) || !Buffer.isBuffer(ciphertext)) {
    throw new DecryptError('the sealed fields are missing or malformed');
  }
  return { keyName, wrappedKey, iv, ciphertext };
}

/**
 * Whether a failure to open means the stored value is bad (tampered, moved, malformed), as
 * opposed to KMS not answering (UNAVAILABLE, DEADLINE_EXCEEDED, PERMISSION_DENIED, DATA_LOSS in
 * transit, ...). Only KMS's INVALID_ARGUMENT says the wrapped key itself is bad.
 */
export function isTampered(err: unknown): err is Error {
  if (err instanceof SyntaxError) return true; // a plaintext that is not our JSON
  if (!(err instanceof DecryptError)) return false;
  return !(err.cause instanceof KmsError) || err.cause.code === 'INVALID_ARGUMENT';
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Runs each call within the budget (and the deadline); every failure but a caller's mistake becomes VaultUnavailable. */
export function budgetRunner(budgetMs: number, store: string) {
  const background = new Set<Promise<unknown>>();
  const run = async <T>(what: string, deadline: Deadline | undefined, operation: () => Promise<T>): Promise<T> => {
    try {
      return await withinBudget(budgetMs, `${store} ${what}`, operation, { deadline, background });
    } catch (err) {
      if (err instanceof VaultUnavailable || err instanceof VaultConflict || err instanceof TypeError) throw err;
      const detail = err instanceof BudgetExceeded ? err.message : `${store} ${what} failed: ${err instanceof Error ? err.message : String(err)}`;
      throw new VaultUnavailable(detail, { cause: err });
    }
  };
  return Object.assign(run, {
    /** Abandoned work still in flight. */
    settled: async () => {
      await Promise.all([...background]);
    },
  });
}

export function reporter(store: VaultEvent['store'], onEvent?: (event: VaultEvent) => void) {
  return (handle: string, err: Error, deleted: boolean): void => {
    try {
      onEvent?.({ type: 'decrypt_failed', store, handle, reason: err.message, deleted });
    } catch {
      // an observer's failure is not the vault's
    }
  };
}

/** gRPC codes: ALREADY_EXISTS (create of an existing document), FAILED_PRECONDITION, ABORTED. */
export const ALREADY_EXISTS = 6;
const CONFLICT_CODES = new Set([ALREADY_EXISTS, 9, 10]);

export function grpcCode(err: unknown): number | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'number' ? code : undefined;
}

export function isConflict(err: unknown): boolean {
  return CONFLICT_CODES.has(grpcCode(err) ?? -1);
}

/** The options of a Firestore store of sealed documents (the session vault, the pending logins). */
export interface SealedStoreOptions {
  /** Shared client; shared/state/firestore.ts owns and terminates it. */
  firestore: Firestore;
  cipher: EnvelopeCipher;
  collection?: string;
  now?: () => number;
  /** Time budget of one call, Firestore and KMS included (default DEFAULTS.sessionStoreBudgetMs). */
  budgetMs?: number;
  onEvent?: (event: VaultEvent) => void;
}
