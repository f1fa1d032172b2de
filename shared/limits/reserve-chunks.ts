/**
 * One reservation: the chunks of every counter of a request that needs or wants units. The
 * first attempt is ONE compare-and-set commit of their documents (a batched write with a
 * precondition per document is atomic and one round trip), blind against what this instance
 * last wrote (or a create, if it never wrote). A conflict there does not say which document
 * lost, and a two-document commit loses if either does, so it is never retried as a whole:
 * one batched read fetches every document of the commit (riders too: their next blind write
 * then starts from the fresh document), and each counter the request NEEDS is then retried
 * on its own, concurrently, with single-document writes: a compare-and-set against the fresh
 * read (with one other writer it usually wins), and if it loses, or if Firestore is slow enough
 * now that losing it would leave no time for the rest:
 *   far from its limit (the count read plus the chunk at most half the limit), the chunk is
 *     ADDED with an atomic increment, which no other writer can make lose, and a read of the
 *     document afterwards confirms it: a count still within the limit proves that every unit
 *     kept so far, these included, is within it (a count beyond it gives the chunk back and
 *     goes on as below);
 *   near its limit, compare-and-set against a fresh read, with jittered retries until
 *     `giveUpAt`.
 * The reasons are in rate-limiter.ts's module comment (CONTENTION).
 */
import type { DocumentReference, DocumentSnapshot, Firestore, Timestamp } from '@google-cloud/firestore';
import { DEFAULTS } from '../config/defaults';
import { unitsToAsk } from './chunk-policy';

/** gRPC codes of a lost compare-and-set: ALREADY_EXISTS, FAILED_PRECONDITION, ABORTED. */
const CONFLICT_CODES = new Set([6, 9, 10]);
/** gRPC NOT_FOUND: an increment's `exists` precondition failed (the document is gone): take the compare-and-set path. */
const NOT_FOUND = 5;
/** A lost compare-and-set is followed by an increment while the fresh count plus the chunk is at most this share of the limit. */
export const ADD_BELOW_SHARE = 0.5;

/** A counter's document as of a write or read by this instance. */
export interface Seen {
  readonly count: number;
  readonly updateTime: Timestamp;
}

/** One counter in a reservation. */
export interface ChunkRequest {
  readonly ref: DocumentReference;
  readonly limit: number;
  readonly windowEnd: number;
  /** The request cannot be admitted without units of this counter: it holds none. */
  readonly needed: boolean;
  /** Units this instance holds now. */
  readonly held: number;
  /** What the holding is to be brought up to (chunk-policy.ts). */
  readonly chunk: number;
  /** The document as of this instance's last write, if any: the first attempt needs no read. */
  readonly seen: Seen | undefined;
}

export interface Grant {
  /** Index into the requests. */
  readonly index: number;
  readonly granted: number;
  /** The document's count after the write (or as read after an increment), and its update time. */
  readonly seen: Seen;
}

/**
 * What a reservation did, per counter (indexes into the requests). Every counter is in at most
 * one of `grants`, `full` and `contended`; a counter in none was left alone (a rider after a
 * conflict, or one that needed no units).
 */
export interface ChunkOutcome {
  grants: Grant[];
  /** Found fully reserved: nothing written. */
  full: number[];
  /** Needed, and lost every compare-and-set until `giveUpAt`. */
  contended: number[];
  /** Saw another instance's write on the way (a lost write, or a rider whose document had changed). */
  conflicted: number[];
  /** Fresh reads of counters that were not written (riders after a conflict): their next blind write starts from these. */
  refreshed: { index: number; seen: Seen | undefined }[];
  /** Commits tried, all counters together. */
  attempts: number;
}

export interface ReserveIo {
  /** Runs one Firestore call, counting it (and refusing to once the reservation is abandoned). */
  call<T>(operation: () => Promise<T>): Promise<T>;
  /** Epoch ms after which a lost compare-and-set is not retried. */
  readonly giveUpAt: number;
  onConflict(): void;
  /** A counter's document as first created (its fields are documented with the limiter). */
  newDocument(count: number, limit: number, windowEnd: number): Record<string, unknown>;
  /** The field value that adds `n` to a count atomically (FieldValue.increment). */
  increment(n: number): unknown;
}

export async function reserveChunks(firestore: Firestore, requests: readonly ChunkRequest[], io: ReserveIo): Promise<ChunkOutcome> {
  const startedAt = Date.now();
  const outcome: ChunkOutcome = { grants: [], full: [], contended: [], conflicted: [], refreshed: [], attempts: 1 };
  const writes: { index: number; granted: number; count: number; seen: Seen | undefined }[] = [];
  requests.forEach((request, index) => {
    const count = request.seen?.count ?? 0;
    const remaining = request.limit - count;
    if (remaining <= 0) {
      outcome.full.push(index);
      return;
    }
    const granted = unitsToAsk(request.chunk, request.held, remaining);
    if (granted > 0) writes.push({ index, granted, count, seen: request.seen });
  });
  // A needed counter known to be full: the request cannot be admitted, so nothing is written.
  if (outcome.full.some((index) => (requests[index] as ChunkRequest).needed) || writes.length === 0) return outcome;
  const batch = firestore.batch();
  for (const { index, granted, count, seen } of writes) {
    const { ref, limit, windowEnd } = requests[index] as ChunkRequest;
    if (seen) batch.update(ref, { count: count + granted, limit }, { lastUpdateTime: seen.updateTime });
    else batch.create(ref, io.newDocument(granted, limit, windowEnd));
  }
  try {
    const results = await io.call(() => batch.commit());
    writes.forEach(({ index, granted, count }, i) => {
      const written = results[i];
      if (!written) throw new Error(`a commit of ${writes.length} writes returned ${results.length} results`);
      outcome.grants.push({ index, granted, seen: { count: count + granted, updateTime: written.writeTime } });
    });
    return outcome;
  } catch (err) {
    if (!isConflict(err)) throw err;
    io.onConflict();
  }

  // One read of every document of the lost commit; then each needed counter on its own.
  const snapshots = await io.call(() => firestore.getAll(...writes.map(({ index }) => (requests[index] as ChunkRequest).ref)));
  // The two calls so far (the commit, the read) tell how long one takes now.
  const roundTripMs = (Date.now() - startedAt) / 2;
  const retries: Promise<void>[] = [];
  writes.forEach(({ index, seen: before }, i) => {
    const request = requests[index] as ChunkRequest;
    const fresh = seenIn(snapshots[i]);
    if (!sameVersion(before, fresh)) outcome.conflicted.push(index);
    if (!request.needed) {
      outcome.refreshed.push({ index, seen: fresh });
      return;
    }
    if (!outcome.conflicted.includes(index)) outcome.conflicted.push(index); // its reservation lost a commit: it does not grow
    retries.push(retryOne(firestore, request, fresh, io, outcome, roundTripMs).then((result) => {
      if (result.kind === 'granted') outcome.grants.push({ index, granted: result.granted, seen: result.seen });
      else if (result.kind === 'full') outcome.full.push(index);
      else outcome.contended.push(index);
    }));
  });
  await Promise.all(retries);
  return outcome;
}

type OneOutcome = { kind: 'granted'; granted: number; seen: Seen } | { kind: 'full' } | { kind: 'contended' };

/** One counter after a lost commit, starting from a fresh read: an increment while far from the limit, else compare-and-set. */
async function retryOne(firestore: Firestore, request: ChunkRequest, fresh: Seen | undefined, io: ReserveIo, outcome: ChunkOutcome, roundTripMs: number): Promise<OneOutcome> {
  let seen = fresh;
  /**
   * Far from the limit, add rather than compare-and-set after a compare-and-set against a fresh
   * read lost; and at once, after the lost commit, when the time left until `giveUpAt` would
   * not cover that compare-and-set and the increment and read after it (three calls as long as
   * the two so far). A compare-and-set usually wins against one other writer and costs a round
   * trip less than adding; against several (four instances on a fresh key: one winner per
   * round of a read and a commit), rounds exhaust the budget, while an increment cannot lose.
   */
  let addNext = Date.now() + 3 * roundTripMs > io.giveUpAt;
  for (let round = 1; ; round++) {
    const count = seen?.count ?? 0;
    const remaining = request.limit - count;
    if (remaining <= 0) return { kind: 'full' };
    const granted = unitsToAsk(request.chunk, request.held, remaining);
    if (granted <= 0) return { kind: 'full' }; // cannot happen for a needed counter (it holds nothing); refuse rather than loop
    outcome.attempts++;
    const far = seen !== undefined && count + granted <= request.limit * ADD_BELOW_SHARE;
    if (far && addNext) {
      addNext = false;
      const added = await add(firestore, request, granted, io);
      if (added.kind === 'granted') return added;
      seen = added.kind === 'gone' ? undefined : added.seen; // gone: create it; else beyond the limit (given back) or a lost increment
      if (Date.now() >= io.giveUpAt) return { kind: 'contended' };
      continue;
    }
    const batch = firestore.batch();
    if (seen) batch.update(request.ref, { count: count + granted, limit: request.limit }, { lastUpdateTime: seen.updateTime });
    else batch.create(request.ref, io.newDocument(granted, request.limit, request.windowEnd));
    try {
      const [written] = await io.call(() => batch.commit());
      if (!written) throw new Error('a commit of 1 write returned no result');
      return { kind: 'granted', granted, seen: { count: count + granted, updateTime: written.writeTime } };
    } catch (err) {
      if (!isConflict(err)) throw err;
      io.onConflict();
    }
    if (far) {
      // Lost against a fresh read, far from the limit: others are writing right now. Add, at once:
      // the count a moment ago is fresh enough to judge "far", and the read back decides.
      addNext = true;
      continue;
    }
    if (Date.now() >= io.giveUpAt) return { kind: 'contended' };
    await sleep(Math.random() * Math.min(DEFAULTS.limitsConflictBackoffMs.max, DEFAULTS.limitsConflictBackoffMs.perAttempt * round));
    seen = await read(firestore, request, io);
  }
}

/**
 * Adds `granted` to the count (an increment, precondition: the document exists) and reads the
 * document back. The count read includes this increment and every write before it: within the
 * limit, everything kept so far is within it, these units included, and later writers see them.
 * Beyond it (others added at the same moment), the units are given back, and the caller decides
 * again on a fresh read.
 */
async function add(firestore: Firestore, request: ChunkRequest, granted: number, io: ReserveIo):
  Promise<{ kind: 'granted'; granted: number; seen: Seen } | { kind: 'retry'; seen: Seen | undefined } | { kind: 'gone' }> {
  try {
    await io.call(() => firestore.batch().update(request.ref, { count: io.increment(granted) }, { exists: true }).commit());
  } catch (err) {
    if (codeOf(err) === NOT_FOUND) return { kind: 'gone' };
    if (!isConflict(err)) throw err; // ABORTED: the increment was not applied
    io.onConflict();
    return { kind: 'retry', seen: await read(firestore, request, io) };
  }
  const after = await read(firestore, request, io);
  if (after && after.count <= request.limit) return { kind: 'granted', granted, seen: after };
  // Beyond the limit: give the units back (an increment too, so it cannot lose), then decide on a fresh read.
  await io.call(() => firestore.batch().update(request.ref, { count: io.increment(-granted) }, { exists: true }).commit());
  return { kind: 'retry', seen: await read(firestore, request, io) };
}

async function read(firestore: Firestore, request: ChunkRequest, io: ReserveIo): Promise<Seen | undefined> {
  const [snapshot] = await io.call(() => firestore.getAll(request.ref));
  return seenIn(snapshot);
}

function sameVersion(a: Seen | undefined, b: Seen | undefined): boolean {
  return a === undefined ? b === undefined : b !== undefined && a.updateTime.isEqual(b.updateTime);
}

function seenIn(snapshot: DocumentSnapshot | undefined): Seen | undefined {
  return snapshot?.exists && snapshot.updateTime ? { count: storedCount(snapshot.data()?.count), updateTime: snapshot.updateTime } : undefined;
}

function codeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

function isConflict(err: unknown): boolean {
  return CONFLICT_CODES.has(codeOf(err) as number);
}

/** A stored count that is not a non-negative integer (hand-edited?) counts as exhausted, beyond any limit: never admit on a count we cannot read. */
function storedCount(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : Number.MAX_SAFE_INTEGER;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
