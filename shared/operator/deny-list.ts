/**
 * The operator's deny-list (kill switch): entries that refuse matching requests with 403
 * `access_denied`, reason `denied_by_operator`, before any limit is spent or any token served,
 * cached or not (the broker core calls `match`: shared/broker.ts, checkDenyList).
 *
 * `match` is synchronous and reads this instance's in-memory snapshot only. Two snapshots:
 *
 * - Firestore (every instance of a deployment): the collection `token-broker-deny`
 *   (deny-store.ts) is followed with a real-time listener (`onSnapshot`), so an entry added
 *   by `admin deny add` reaches every instance within about a second. If the listener fails,
 *   the instance re-reads the collection every DEFAULTS.denyPollMs (3 s) instead, keeping the
 *   last snapshot it has while reads fail (a known entry is never forgotten because Firestore
 *   is down). At most DEFAULTS.denyMaxEntries entries are held; more is reported.
 * - memory (development without Firestore, tests): entries added in-process.
 *
 * `onChange` hears of entries that appear (or change) after the first snapshot, and of those
 * that go: the composition root purges the tokens cached for what an added entry denies.
 */
import type { CollectionReference, Firestore, QueryDocumentSnapshot } from '@google-cloud/firestore';
import { DEFAULTS } from '../config/defaults';
import { withinBudget } from '../resilience/time-budget';
import type { DenyChecker, DenyFacts, DenyMatch } from './deny-facts';
import { checkEntry, denyEntryId, type DenyEntry, type DenySelector } from './deny-entry';
import { DenyIndex } from './deny-index';
import { denyCollection, entryFromDocument } from './deny-store';

export interface DenyChange {
  /** New entries, and entries whose reason or expiry changed. */
  readonly added: readonly DenyEntry[];
  readonly removed: readonly DenyEntry[];
}

export type DenyListEvent =
  | { type: 'listener_failed'; detail: string }
  | { type: 'poll_failed'; detail: string }
  | { type: 'truncated'; max: number }
  | { type: 'malformed'; ids: string[] };

export interface DenyList extends DenyChecker {
  match(facts: DenyFacts): DenyMatch | undefined;
  /** The entries of this instance's snapshot, expired ones included. */
  entries(): readonly DenyEntry[];
  /** Resolves true once the first snapshot is in, false if it is not within `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface DenyListOptions {
  now?: () => number;
  onChange?: (change: DenyChange) => void;
  onEvent?: (event: DenyListEvent) => void;
}

// ---------------------------------------------------------------------------------------------
// memory
// ---------------------------------------------------------------------------------------------

export interface MemoryDenyList extends DenyList {
  /** Adds (or replaces, same selector) an entry; its id is derived from the selector. */
  add(entry: DenySelector & { reason: string; expiresAtMs?: number; createdBy?: string; createdAtMs?: number }): DenyEntry;
  /** Removes entry `id`; false when there was none. */
  remove(id: string): boolean;
}

export function createMemoryDenyList(options: DenyListOptions & { maxEntries?: number } = {}): MemoryDenyList {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? DEFAULTS.denyMaxEntries;
  const byId = new Map<string, DenyEntry>();
  let index = new DenyIndex([]);
  const reindex = () => (index = new DenyIndex([...byId.values()]));
  return {
    match: (facts) => index.match(facts, now()),
    entries: () => index.entries,
    ready: async () => true,
    async close() {},
    add(input) {
      const entry = checkEntry({ ...input, id: denyEntryId(input), createdAtMs: input.createdAtMs ?? now() } as DenyEntry);
      if (!byId.has(entry.id) && byId.size >= maxEntries) throw new RangeError(`the deny-list holds ${maxEntries} entries, its maximum`);
      byId.set(entry.id, entry);
      reindex();
      notify(options, { added: [entry], removed: [] });
      return entry;
    },
    remove(id) {
      const entry = byId.get(id);
      if (!entry) return false;
      byId.delete(id);
      reindex();
      notify(options, { added: [], removed: [entry] });
      return true;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Firestore
// ---------------------------------------------------------------------------------------------

export interface FirestoreDenyListOptions extends DenyListOptions {
  firestore: Firestore;
  /** Default DEFAULTS.denyCollection. */
  collection?: string;
  /** Default DEFAULTS.denyPollMs. */
  pollMs?: number;
  /** Default DEFAULTS.denyMaxEntries. */
  maxEntries?: number;
  /** Tests: start polling at once, as if the listener had failed. */
  pollOnly?: boolean;
}

export function createFirestoreDenyList(options: FirestoreDenyListOptions): DenyList {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? DEFAULTS.denyMaxEntries;
  const pollMs = options.pollMs ?? DEFAULTS.denyPollMs;
  const collection: CollectionReference = denyCollection(options.firestore, options.collection);
  const query = collection.limit(maxEntries + 1);

  let index: DenyIndex | undefined;
  let closed = false;
  let unsubscribe: (() => void) | undefined;
  let poller: NodeJS.Timeout | undefined;
  let markReady: () => void = () => undefined;
  const first = new Promise<void>((resolve) => (markReady = resolve));

  const apply = (docs: readonly QueryDocumentSnapshot[]) => {
    if (closed) return;
    if (docs.length > maxEntries) emit(options, { type: 'truncated', max: maxEntries });
    const entries: DenyEntry[] = [];
    const malformed: string[] = [];
    for (const doc of docs.slice(0, maxEntries)) {
      const entry = entryFromDocument(doc);
      if (entry) entries.push(entry);
      else malformed.push(doc.id);
    }
    if (malformed.length > 0) emit(options, { type: 'malformed', ids: malformed.slice(0, 20) });
    const previous = index;
    index = new DenyIndex(entries);
    if (previous) notify(options, diff(previous.entries, entries));
    else markReady();
  };

  const poll = async () => {
    try {
      const snapshot = await withinBudget(DEFAULTS.denyReadBudgetMs, 'Firestore deny-list read', () => query.get());
      apply(snapshot.docs);
    } catch (err) {
      emit(options, { type: 'poll_failed', detail: messageOf(err) });
    }
  };

  const startPolling = () => {
    if (poller || closed) return;
    poller = setInterval(() => void poll(), pollMs);
    poller.unref();
    void poll();
  };

  if (options.pollOnly) {
    startPolling();
  } else {
    unsubscribe = query.onSnapshot(
      (snapshot) => apply(snapshot.docs),
      (err) => {
        // The listener is over; the SDK retries transient faults itself, so this is lasting.
        unsubscribe = undefined;
        if (closed) return;
        emit(options, { type: 'listener_failed', detail: messageOf(err) });
        startPolling();
      },
    );
  }

  return {
    match: (facts) => index?.match(facts, now()),
    entries: () => index?.entries ?? [],
    async ready(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
      try {
        return await Promise.race([first.then(() => true), late]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      closed = true;
      unsubscribe?.();
      if (poller) clearInterval(poller);
    },
  };
}

/** What appeared or changed, and what went, from one snapshot to the next. */
function diff(before: readonly DenyEntry[], after: readonly DenyEntry[]): DenyChange {
  const old = new Map(before.map((entry) => [entry.id, entry]));
  const added = after.filter((entry) => {
    const was = old.get(entry.id);
    old.delete(entry.id);
    return !was || JSON.stringify(was) !== JSON.stringify(entry);
  });
  return { added, removed: [...old.values()] };
}

function notify(options: DenyListOptions, change: DenyChange): void {
  if (change.added.length === 0 && change.removed.length === 0) return;
  try {
    options.onChange?.(change);
  } catch {
    // an observer must never break the snapshot
  }
}

function emit(options: DenyListOptions, event: DenyListEvent): void {
  try {
    options.onEvent?.(event);
  } catch {
    // an observer must never break the snapshot
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
