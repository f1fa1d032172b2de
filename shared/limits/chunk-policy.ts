/**
 * How many units one instance reserves from one shared counter at a time: pure arithmetic,
 * no Firestore. The reasons are in rate-limiter.ts's module comment (CHUNKS).
 *
 *   opening     the first chunk of a window: chunkSize(limit) (a tenth of the limit, 1–20
 *               units, more for hot limits), or, when this instance drew on the counter in the
 *               window just before, the size it had reached then, but no more than it admitted then
 *   growth      each chunk the instance uses up within the window makes the next one twice as
 *               large, unless the reservation that took it lost a compare-and-set (it stays)
 *   caps        never more than a tenth of the limit (chunkCap), never more than what remains
 *   top-up      a counter that still holds units rides along in a reservation another counter of
 *               the same request needs, once it holds less than half its chunk, up to its chunk
 */
import { DEFAULTS } from '../config/defaults';

/** The most units one instance may hold of a counter: a tenth of the limit, at least 1. */
export function chunkCap(limit: number): number {
  return Math.max(1, Math.floor(limit / DEFAULTS.limitsChunkDivisor));
}

/**
 * The opening chunk: a tenth of the limit, at least 1, and at most DEFAULTS.limitsMaxChunk (20)
 * — or, for a limit so high that chunks of 20 would need more than one write a second to its
 * document (Firestore's sustained rate per document), enough units for one write a second at
 * the full rate: ⌈limit / window seconds⌉ (a hot counter of 100 000 a minute opens with 1 667).
 */
export function chunkSize(limit: number, windowSeconds = 60): number {
  const ceiling = Math.max(DEFAULTS.limitsMaxChunk, Math.ceil(limit / windowSeconds));
  return Math.min(ceiling, chunkCap(limit));
}

/** What this instance did with a counter in the window just before the current one. */
export interface PreviousWindow {
  /** Units it admitted in that window. */
  readonly used: number;
  /** The size of its last chunk there. */
  readonly chunk: number;
}

/**
 * The first chunk of a window. A busy instance keeps the size it reached in the window just
 * before, but never more than it admitted there: one that went quiet opens with what it used,
 * and the window after with chunkSize again.
 */
export function openingChunk(limit: number, windowSeconds: number, previous?: PreviousWindow): number {
  const base = chunkSize(limit, windowSeconds);
  if (!previous) return base;
  return Math.min(chunkCap(limit), Math.max(base, Math.min(previous.chunk, previous.used)));
}

/**
 * The chunk after one this instance used up within the window: DEFAULTS.limitsChunkGrowth
 * (2) times as large, at most chunkCap. A chunk taken through a lost compare-and-set does not
 * grow: another instance is drawing on the counter right now, and larger chunks here would
 * strand more of what it may need. It does not shrink either: that would make this instance
 * write more often to a document others are writing, and the loser of a compare-and-set is
 * more often the quieter instance.
 */
export function grownChunk(chunk: number, limit: number, contended: boolean): number {
  const cap = chunkCap(limit);
  return contended ? Math.min(chunk, cap) : Math.min(cap, chunk * DEFAULTS.limitsChunkGrowth);
}

/** Units to ask for: enough to bring what the instance holds up to `chunk`, never more than what remains of the limit. */
export function unitsToAsk(chunk: number, held: number, remaining: number): number {
  return Math.max(0, Math.min(chunk - held, remaining));
}

/** Whether a counter that still holds units should ride along in a reservation another counter needs: below half its chunk. */
export function wantsTopUp(chunk: number, held: number): boolean {
  return held * 2 < chunk;
}
