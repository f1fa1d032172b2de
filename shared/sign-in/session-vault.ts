/**
 * The session vault of user sign-in: what the broker keeps, server-side, for a signed-in user
 * of a web app — above all the provider's refresh token — under an opaque session id that the
 * browser holds in a cookie.
 *
 * The session id is never stored: records are kept under its SHA-256 hex (`sessionHandle`),
 * which is also what operators see. Two implementations, with the same semantics:
 *
 * - the memory vault: one instance only (development, tests). Records, tokens included, stay in
 *   this process's memory unencrypted (nothing is written anywhere). It is bounded: past
 *   `maxEntries` the least recently used session is forgotten (that user signs in again).
 * - the Firestore vault: shared by every instance. One document per session, id = handle:
 *     v, appId, issuer, subject, email, scopes,       in clear, so operators can list sessions
 *     createdAt, expireAt, generation, lastRefreshAt  without KMS (`expireAt` drives the TTL policy)
 *     keyName, wrappedKey, iv, ciphertext             the rest, envelope-encrypted (EnvelopeCipher)
 *   The ciphertext holds the refresh and access tokens and a copy of the clear facts; its AAD
 *   context is `session-vault/v1:<handle>:<subject>`, so a sealed value copied to another
 *   handle or another subject does not open, and a clear fact edited in place (a later
 *   `expireAt`, more scopes) no longer matches its sealed copy. Either way the record is
 *   treated as absent, deleted, and reported through `onEvent` (`decrypt_failed`). The context
 *   is distinct from every token-cache context (hex cache keys), so the cache's cipher may be
 *   shared.
 *
 * `update` is a compare-and-set on `generation`: a read, then a write preconditioned on the
 * document's update time; of concurrent updates from any number of instances, exactly one
 * lands. Every call runs within a time budget (Firestore and KMS included, never past the
 * request's deadline); when the store or KMS does not answer in time, or fails, the call
 * throws `VaultUnavailable` (the flow answers 503). A KMS failure is never taken for
 * tampering: only a value KMS rejects as invalid, or one that fails authentication, is.
 */
import { LRUCache } from 'lru-cache';
import type { CollectionReference, DocumentSnapshot, Query, Timestamp } from '@google-cloud/firestore';
import { DEFAULTS } from '../config/defaults';
import {
  ALREADY_EXISTS, budgetRunner, grpcCode, isConflict, isTampered, readSealed, reporter, sealedFields, sha256Hex,
  VaultConflict, VaultUnavailable, type SealedFields,
  type SealedStoreOptions,
} from './sealed-store';

export { VaultConflict, VaultUnavailable, type VaultEvent } from './sealed-store';
import { DecryptError, type EnvelopeCipher, type Sealed } from '../cache/envelope';
import type { Deadline } from '../resilience/deadline';

export interface SessionRecord {
  readonly appId: string;
  /** The provider's issuer. */
  readonly issuer: string;
  /** The user's `sub` at that issuer. */
  readonly subject: string;
  readonly email?: string;
  readonly scopes: readonly string[];
  readonly createdAtMs: number;
  /** The session's end (absolute, epoch ms). */
  readonly expiresAtMs: number;
  /** Plaintext only in memory; sealed at rest. */
  readonly refreshToken?: string;
  readonly refreshExpiresAtMs?: number;
  /** Sealed at rest too. */
  readonly accessToken?: { readonly token: string; readonly expiresAtMs: number; readonly scope: string };
  /** 0 at creation, bumped by every update (compare-and-set). */
  readonly generation: number;
}

export interface SessionSummary {
  handle: string;
  appId: string;
  issuer: string;
  subject: string;
  email?: string;
  scopes: string[];
  createdAtMs: number;
  expiresAtMs: number;
  lastRefreshAtMs?: number;
}

export type SessionChanges = Partial<Pick<SessionRecord, 'refreshToken' | 'accessToken' | 'refreshExpiresAtMs'>>;

export interface SessionVault {
  /**
   * Stores a new session under `sessionId` (the cookie's value: 32 random bytes, base64url).
   * Throws TypeError on a malformed id or record, VaultConflict when the id is already in use.
   */
  create(sessionId: string, record: Omit<SessionRecord, 'generation'>, deadline?: Deadline): Promise<void>;
  /**
   * The session, decrypted; undefined when absent, past `expiresAtMs`, or `sessionId` is not a
   * well-formed session id. A record that fails to decrypt (tampered, moved, AAD mismatch) is
   * undefined too, deleted, and reported through `onEvent`. Throws VaultUnavailable when the
   * store or KMS cannot answer.
   */
  read(sessionId: string, deadline?: Deadline): Promise<SessionRecord | undefined>;
  /**
   * Replaces the fields present in `changes` (a field present as `undefined` is removed) if the
   * stored generation is `expectedGeneration`: true when it did (generation + 1, lastRefreshAt
   * = now), false when someone else updated first or the session is gone (absent, expired,
   * undecryptable: read again to tell).
   */
  update(sessionId: string, expectedGeneration: number, changes: SessionChanges, deadline?: Deadline): Promise<boolean>;
  /** Deletes one session (logout); nothing to do when it is absent. */
  delete(sessionId: string, deadline?: Deadline): Promise<void>;
  /**
   * Operators: live sessions matching every given field (at least one), without decrypting
   * anything; at most `limit` (default 100), in no particular order.
   */
  list(filter: { subject?: string; appId?: string; handle?: string }, limit?: number): Promise<SessionSummary[]>;
  /**
   * Operators: deletes the session `handle`, or every session of `subject` (of `appId` only,
   * when given) — expired ones included — and returns what it deleted, each with its refresh
   * token when it could be decrypted (for upstream revocation; absent for a tampered record).
   * A record updated while being revoked is read again, so the token returned is the last one.
   * Throws VaultUnavailable, having deleted nothing of the batch at hand, when the store or KMS
   * cannot answer.
   */
  revoke(filter: { handle?: string; subject?: string; appId?: string }): Promise<Array<SessionSummary & { refreshToken?: string }>>;
  /** Waits for abandoned work to settle; the Firestore client belongs to shared/state/firestore.ts. */
  close(): Promise<void>;
}

/** SHA-256 hex of the session id: the document id and the operator's handle. */
export function sessionHandle(sessionId: string): string {
  return sha256Hex(sessionId);
}

const DEFAULT_LIST_LIMIT = 100;
const MAX_LIST_LIMIT = 1000;
/** Sessions revoked per batch (Firestore's limit of writes in one batch). */
const REVOKE_BATCH = 500;
/** Batches that lost a race with an update, in a row, before revoke gives up. */
const REVOKE_ATTEMPTS = 3;
/** 32 random bytes in base64url are 43 characters; a cookie value that is not one is never looked up. */
const SESSION_ID = /^[A-Za-z0-9_-]{43,128}$/;
const HANDLE = /^[0-9a-f]{64}$/;

// ---------------------------------------------------------------------------------------------
// Memory vault
// ---------------------------------------------------------------------------------------------

interface MemoryEntry {
  record: SessionRecord;
  lastRefreshAtMs?: number;
}

/**
 * Sessions in this process's memory, unencrypted (they never leave the process), bounded to
 * `maxEntries` (least recently used first out). One instance only.
 */
export function createMemorySessionVault(options: { now?: () => number; maxEntries?: number } = {}): SessionVault {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? DEFAULTS.sessionMemoryEntries;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxEntries must be a positive integer');
  const sessions = new LRUCache<string, MemoryEntry>({ max: maxEntries });

  const live = (handle: string): MemoryEntry | undefined => {
    const entry = sessions.get(handle);
    if (entry && entry.record.expiresAtMs <= now()) return undefined;
    return entry;
  };
  const matching = (filter: SessionFilter): Array<[string, MemoryEntry]> =>
    [...sessions.entries()].filter(([handle, { record }]) => matches(filter, handle, record));

  return {
    async create(sessionId, record) {
      const handle = handleOf(sessionId, 'create');
      checkRecord(record);
      if (sessions.has(handle)) throw new VaultConflict('a session with this id already exists');
      sessions.set(handle, { record: freezeRecord({ ...record, generation: 0 }) });
    },
    async read(sessionId) {
      if (!isSessionId(sessionId)) return undefined;
      return live(sessionHandle(sessionId))?.record;
    },
    async update(sessionId, expectedGeneration, changes) {
      if (!isSessionId(sessionId)) return false;
      checkChanges(expectedGeneration, changes);
      const handle = sessionHandle(sessionId);
      const entry = live(handle);
      if (!entry || entry.record.generation !== expectedGeneration) return false;
      sessions.set(handle, { record: applyChanges(entry.record, changes), lastRefreshAtMs: now() });
      return true;
    },
    async delete(sessionId) {
      if (isSessionId(sessionId)) sessions.delete(sessionHandle(sessionId));
    },
    async list(filter, limit) {
      const max = checkList(filter, limit);
      return matching(filter)
        .filter(([, { record }]) => record.expiresAtMs > now())
        .slice(0, max)
        .map(([handle, entry]) => summaryOf(handle, entry.record, entry.lastRefreshAtMs));
    },
    async revoke(filter) {
      checkRevoke(filter);
      return matching(filter).map(([handle, entry]) => {
        sessions.delete(handle);
        return withRefreshToken(summaryOf(handle, entry.record, entry.lastRefreshAtMs), entry.record.refreshToken);
      });
    },
    async close() {
      sessions.clear();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Firestore vault
// ---------------------------------------------------------------------------------------------

export type FirestoreSessionVaultOptions = SealedStoreOptions;

interface SessionDocument extends SealedFields {
  v: 1;
  appId: string;
  issuer: string;
  subject: string;
  email?: string;
  scopes: string[];
  createdAt: Timestamp;
  /** The session's end; the Firestore TTL policy's field. */
  expireAt: Timestamp;
  generation: number;
  lastRefreshAt: Timestamp | null;
}

/** What the ciphertext holds: the secrets, and a copy of every clear fact but the subject (bound by the AAD). */
interface SealedSession {
  v: 1;
  appId: string;
  issuer: string;
  email?: string;
  scopes: string[];
  createdAtMs: number;
  expiresAtMs: number;
  generation: number;
  refreshToken?: string;
  refreshExpiresAtMs?: number;
  accessToken?: { token: string; expiresAtMs: number; scope: string };
}

export function createFirestoreSessionVault(options: FirestoreSessionVaultOptions): SessionVault {
  const { cipher } = options;
  const now = options.now ?? Date.now;
  const collection = options.firestore.collection(options.collection ?? DEFAULTS.sessionsCollection);
  const budget = budgetRunner(options.budgetMs ?? DEFAULTS.sessionStoreBudgetMs, 'session vault');
  const report = reporter('sessions', options.onEvent);
  // Loaded with the client; its Timestamp class is needed to write timestamps.
  const { Timestamp: Ts } = require('@google-cloud/firestore') as typeof import('@google-cloud/firestore');

  /** The stored record, or `undefined` when absent or undecryptable (then deleted and reported). */
  const load = async (snapshot: DocumentSnapshot): Promise<SessionRecord | undefined> => {
    const data = snapshot.data() as Partial<SessionDocument> | undefined;
    if (!data) return undefined;
    try {
      return await openSession(cipher, snapshot.id, data);
    } catch (err) {
      if (!isTampered(err)) throw err;
      const deleted = await deleteUnchanged(snapshot);
      report(snapshot.id, err, deleted);
      return undefined;
    }
  };

  /** One batch of revocation: decrypt everything first (a KMS outage deletes nothing), then delete it all at once, preconditioned. */
  const revokeBatch = async (snapshots: DocumentSnapshot[]): Promise<Array<SessionSummary & { refreshToken?: string }>> => {
    const tampered: Array<[string, Error]> = [];
    const revoked = await Promise.all(
      snapshots.map(async (snapshot) => {
        const summary = summaryOfDocument(snapshot);
        const data = snapshot.data() as Partial<SessionDocument>;
        try {
          return withRefreshToken(summary, (await openSession(cipher, snapshot.id, data)).refreshToken);
        } catch (err) {
          if (!isTampered(err)) throw err;
          tampered.push([snapshot.id, err]);
          return summary;
        }
      }),
    );
    const batch = options.firestore.batch();
    for (const snapshot of snapshots) batch.delete(snapshot.ref, { lastUpdateTime: snapshot.updateTime! });
    await batch.commit();
    for (const [handle, err] of tampered) report(handle, err, true);
    return revoked;
  };

  return {
    async create(sessionId, record, deadline) {
      const handle = handleOf(sessionId, 'create');
      checkRecord(record);
      await budget('create', deadline, async () => {
        const full = freezeRecord({ ...record, generation: 0 });
        const sealed = await sealSession(cipher, handle, full);
        try {
          await collection.doc(handle).create(sessionDocument(full, sealed, null, Ts));
        } catch (err) {
          if (grpcCode(err) === ALREADY_EXISTS) throw new VaultConflict('a session with this id already exists');
          throw err;
        }
      });
    },

    async read(sessionId, deadline) {
      if (!isSessionId(sessionId)) return undefined;
      return budget('read', deadline, async () => {
        const record = await load(await collection.doc(sessionHandle(sessionId)).get());
        return record && record.expiresAtMs > now() ? record : undefined;
      });
    },

    async update(sessionId, expectedGeneration, changes, deadline) {
      if (!isSessionId(sessionId)) return false;
      checkChanges(expectedGeneration, changes);
      return budget('update', deadline, async () => {
        const ref = collection.doc(sessionHandle(sessionId));
        const snapshot = await ref.get();
        // Someone else's update is visible without decrypting anything.
        if (!snapshot.exists || snapshot.get('generation') !== expectedGeneration) return false;
        const current = await load(snapshot);
        if (!current || current.generation !== expectedGeneration || current.expiresAtMs <= now()) return false;
        const next = applyChanges(current, changes);
        const sealed = await sealSession(cipher, ref.id, next);
        try {
          // Compare-and-set: only if nobody has written the document since we read it.
          await ref.update({ ...sealedFields(sealed), generation: next.generation, lastRefreshAt: Ts.fromMillis(now()) }, { lastUpdateTime: snapshot.updateTime! });
          return true;
        } catch (err) {
          if (isConflict(err)) return false;
          throw err;
        }
      });
    },

    async delete(sessionId, deadline) {
      if (!isSessionId(sessionId)) return;
      await budget('delete', deadline, () => collection.doc(sessionHandle(sessionId)).delete());
    },

    async list(filter, limit) {
      const max = checkList(filter, limit);
      return budget('list', undefined, async () => {
        const snapshots = await query(collection, filter, max);
        const at = now();
        return snapshots.map(summaryOfDocument).filter((summary) => summary.expiresAtMs > at);
      });
    },

    async revoke(filter) {
      checkRevoke(filter);
      const revoked: Array<SessionSummary & { refreshToken?: string }> = [];
      for (let lost = 0; ; ) {
        const batch = await budget('revoke', undefined, async () => {
          const snapshots = await query(collection, filter, REVOKE_BATCH);
          if (snapshots.length === 0) return [];
          try {
            return await revokeBatch(snapshots);
          } catch (err) {
            if (isConflict(err)) return undefined; // a session changed meanwhile: read this batch again
            throw err;
          }
        });
        if (batch === undefined) {
          if (++lost >= REVOKE_ATTEMPTS) throw new VaultUnavailable(`session vault revoke: sessions kept changing over ${REVOKE_ATTEMPTS} attempts`);
          continue;
        }
        if (batch.length === 0) return revoked;
        lost = 0;
        revoked.push(...batch);
        if (filter.handle !== undefined) return revoked;
      }
    },

    async close() {
      await budget.settled();
    },
  };
}

type SessionFilter = { subject?: string; appId?: string; handle?: string };

/** The documents matching every field of `filter` (equality on single-field indexes: no composite index needed). */
async function query(collection: CollectionReference, filter: SessionFilter, limit: number): Promise<DocumentSnapshot[]> {
  if (filter.handle !== undefined) {
    if (!HANDLE.test(filter.handle)) return [];
    const snapshot = await collection.doc(filter.handle).get();
    const data = snapshot.data() as Partial<SessionDocument> | undefined;
    return data && matches(filter, snapshot.id, { subject: String(data.subject), appId: String(data.appId) }) ? [snapshot] : [];
  }
  let q: Query = collection;
  if (filter.subject !== undefined) q = q.where('subject', '==', filter.subject);
  if (filter.appId !== undefined) q = q.where('appId', '==', filter.appId);
  return (await q.limit(limit).get()).docs;
}

/** Deletes a document unless it has been written since `snapshot`; whether it is gone. */
async function deleteUnchanged(snapshot: DocumentSnapshot): Promise<boolean> {
  try {
    await snapshot.ref.delete({ lastUpdateTime: snapshot.updateTime! });
    return true;
  } catch {
    return false; // rewritten meanwhile (then not ours to delete), or unreachable: absent either way
  }
}

function sessionContext(handle: string, subject: string): string {
  return `session-vault/v1:${handle}:${subject}`;
}

async function sealSession(cipher: EnvelopeCipher, handle: string, record: SessionRecord): Promise<Sealed> {
  const { subject, ...rest } = record;
  const sealed: SealedSession = { ...rest, v: 1, scopes: [...record.scopes] };
  return cipher.seal(Buffer.from(JSON.stringify(sealed), 'utf8'), sessionContext(handle, subject));
}

/** Opens a stored session; DecryptError when it does not open or its clear facts differ from the sealed copy. */
async function openSession(cipher: EnvelopeCipher, handle: string, data: Partial<SessionDocument>): Promise<SessionRecord> {
  if (data.v !== 1 || typeof data.subject !== 'string') throw new DecryptError('not a version-1 session');
  const plaintext = await cipher.open(readSealed(data), sessionContext(handle, data.subject));
  const sealed = JSON.parse(plaintext.toString('utf8')) as SealedSession;
  const clear = {
    appId: data.appId,
    issuer: data.issuer,
    email: data.email,
    scopes: data.scopes,
    createdAtMs: data.createdAt?.toMillis(),
    expiresAtMs: data.expireAt?.toMillis(),
    generation: data.generation,
  };
  const copy = { appId: sealed.appId, issuer: sealed.issuer, email: sealed.email, scopes: sealed.scopes, createdAtMs: sealed.createdAtMs, expiresAtMs: sealed.expiresAtMs, generation: sealed.generation };
  if (JSON.stringify(clear) !== JSON.stringify(copy)) throw new DecryptError('the clear fields differ from their sealed copy');
  const { v: _version, ...record } = sealed;
  return freezeRecord({ ...record, subject: data.subject });
}

function sessionDocument(record: SessionRecord, sealed: Sealed, lastRefreshAtMs: number | null, Ts: typeof Timestamp): SessionDocument {
  return {
    v: 1,
    appId: record.appId,
    issuer: record.issuer,
    subject: record.subject,
    ...(record.email === undefined ? {} : { email: record.email }),
    scopes: [...record.scopes],
    createdAt: Ts.fromMillis(record.createdAtMs),
    expireAt: Ts.fromMillis(record.expiresAtMs),
    generation: record.generation,
    lastRefreshAt: lastRefreshAtMs === null ? null : Ts.fromMillis(lastRefreshAtMs),
    ...sealedFields(sealed),
  };
}

function summaryOfDocument(snapshot: DocumentSnapshot): SessionSummary {
  const data = (snapshot.data() ?? {}) as Partial<SessionDocument>;
  return {
    handle: snapshot.id,
    appId: String(data.appId),
    issuer: String(data.issuer),
    subject: String(data.subject),
    ...(typeof data.email === 'string' ? { email: data.email } : {}),
    scopes: Array.isArray(data.scopes) ? data.scopes.map(String) : [],
    createdAtMs: data.createdAt?.toMillis() ?? 0,
    expiresAtMs: data.expireAt?.toMillis() ?? 0,
    ...(data.lastRefreshAt ? { lastRefreshAtMs: data.lastRefreshAt.toMillis() } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

function isSessionId(value: unknown): value is string {
  return typeof value === 'string' && SESSION_ID.test(value);
}

function handleOf(sessionId: string, what: string): string {
  if (!isSessionId(sessionId)) throw new TypeError(`${what}: the session id must be at least 32 random bytes, base64url`);
  return sessionHandle(sessionId);
}

function checkRecord(record: Omit<SessionRecord, 'generation'>): void {
  const text = (value: unknown) => typeof value === 'string' && value.length > 0;
  // Whole milliseconds: they go through Firestore Timestamps and must come back equal to their sealed copy.
  const instant = (value: unknown) => Number.isSafeInteger(value);
  if (!text(record.appId) || !text(record.issuer) || !text(record.subject)) throw new TypeError('a session needs appId, issuer and subject');
  if (record.email !== undefined && typeof record.email !== 'string') throw new TypeError('a session email must be a string');
  if (!Array.isArray(record.scopes) || !record.scopes.every((scope) => typeof scope === 'string')) throw new TypeError('a session needs scopes (strings)');
  if (!instant(record.createdAtMs) || !instant(record.expiresAtMs) || record.expiresAtMs <= record.createdAtMs) {
    throw new TypeError('a session needs createdAtMs before expiresAtMs');
  }
  checkSecrets(record);
}

function checkChanges(expectedGeneration: number, changes: SessionChanges): void {
  if (!Number.isSafeInteger(expectedGeneration) || expectedGeneration < 0) throw new TypeError('expectedGeneration must be a non-negative integer');
  checkSecrets(changes);
}

function checkSecrets(values: SessionChanges): void {
  if (values.refreshToken !== undefined && (typeof values.refreshToken !== 'string' || values.refreshToken === '')) throw new TypeError('a refresh token must be a non-empty string');
  if (values.refreshExpiresAtMs !== undefined && !Number.isFinite(values.refreshExpiresAtMs)) throw new TypeError('refreshExpiresAtMs must be a number');
  const access = values.accessToken;
  if (access !== undefined && (typeof access?.token !== 'string' || !Number.isFinite(access.expiresAtMs) || typeof access.scope !== 'string')) {
    throw new TypeError('an access token needs token, expiresAtMs and scope');
  }
}

const CHANGEABLE = ['refreshToken', 'accessToken', 'refreshExpiresAtMs'] as const;

function applyChanges(record: SessionRecord, changes: SessionChanges): SessionRecord {
  const next: Record<string, unknown> = { ...record, generation: record.generation + 1 };
  for (const field of CHANGEABLE) {
    if (!Object.prototype.hasOwnProperty.call(changes, field)) continue;
    if (changes[field] === undefined) delete next[field];
    else next[field] = changes[field];
  }
  return freezeRecord(next as unknown as SessionRecord);
}

/** A frozen copy holding only the record's fields (nothing a caller passed along by accident). */
function freezeRecord(record: SessionRecord): SessionRecord {
  const { appId, issuer, subject, email, scopes, createdAtMs, expiresAtMs, refreshToken, refreshExpiresAtMs, accessToken, generation } = record;
  return Object.freeze({
    appId,
    issuer,
    subject,
    ...(email === undefined ? {} : { email }),
    scopes: Object.freeze([...scopes]),
    createdAtMs,
    expiresAtMs,
    ...(refreshToken === undefined ? {} : { refreshToken }),
    ...(refreshExpiresAtMs === undefined ? {} : { refreshExpiresAtMs }),
    ...(accessToken === undefined ? {} : { accessToken: Object.freeze({ token: accessToken.token, expiresAtMs: accessToken.expiresAtMs, scope: accessToken.scope }) }),
    generation,
  });
}

function summaryOf(handle: string, record: SessionRecord, lastRefreshAtMs?: number): SessionSummary {
  return {
    handle,
    appId: record.appId,
    issuer: record.issuer,
    subject: record.subject,
    ...(record.email === undefined ? {} : { email: record.email }),
    scopes: [...record.scopes],
    createdAtMs: record.createdAtMs,
    expiresAtMs: record.expiresAtMs,
    ...(lastRefreshAtMs === undefined ? {} : { lastRefreshAtMs }),
  };
}

function withRefreshToken(summary: SessionSummary, refreshToken: string | undefined): SessionSummary & { refreshToken?: string } {
  return refreshToken === undefined ? summary : { ...summary, refreshToken };
}

function matches(filter: SessionFilter, handle: string, record: { subject: string; appId: string }): boolean {
  return (filter.handle === undefined || filter.handle === handle)
    && (filter.subject === undefined || filter.subject === record.subject)
    && (filter.appId === undefined || filter.appId === record.appId);
}

function checkList(filter: SessionFilter, limit = DEFAULT_LIST_LIMIT): number {
  if (filter.handle === undefined && filter.subject === undefined && filter.appId === undefined) throw new TypeError('list: name a handle, a subject or an app');
  checkFilterValues(filter);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) throw new TypeError(`list: limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  return limit;
}

function checkRevoke(filter: SessionFilter): void {
  if (filter.handle === undefined && filter.subject === undefined) throw new TypeError('revoke: name a handle or a subject');
  checkFilterValues(filter);
}

function checkFilterValues(filter: SessionFilter): void {
  for (const field of ['handle', 'subject', 'appId'] as const) {
    const value = filter[field];
    if (value !== undefined && (typeof value !== 'string' || value === '')) throw new TypeError(`${field} must be a non-empty string`);
  }
}
