/**
 * The one way the broker bounds how long it waits for something: a time budget, never longer
 * than the request's deadline when there is one. Past it the caller gets `BudgetExceeded`
 * (each caller turns that into its own vocabulary: a store outage, a fail-closed replay check,
 * a 503), the work's signal is aborted so it issues no further calls, and the work, which may
 * still settle later, is tracked in `background` until it does (so `close()` can wait for it).
 */

export class BudgetExceeded extends Error {
  constructor(readonly what: string, readonly ms: number) {
    super(`${what} exceeded ${Math.round(ms)} ms`);
    this.name = 'BudgetExceeded';
  }
}

export interface BudgetOptions {
  /** The request's deadline (a `Deadline`): the budget never reaches past it. */
  deadline?: { remainingMs(): number };
  /** Work abandoned at its budget stays here until it settles. */
  background?: Set<Promise<unknown>>;
}

export async function withinBudget<T>(ms: number, what: string, operation: (signal: AbortSignal) => Promise<T>, options: BudgetOptions = {}): Promise<T> {
  const budgetMs = Math.min(ms, options.deadline?.remainingMs() ?? Infinity);
  const abort = new AbortController();
  const work = Promise.resolve().then(() => operation(abort.signal));
  if (options.background) {
    const { background } = options;
    const tracked: Promise<unknown> = work.catch(() => undefined).finally(() => background.delete(tracked));
    background.add(tracked);
  } else {
    work.catch(() => undefined); // settling after the budget is nobody's business
  }
  let timer: NodeJS.Timeout | undefined;
  let exceeded: BudgetExceeded | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject((exceeded = new BudgetExceeded(what, budgetMs))), Math.max(0, budgetMs));
  });
  try {
    return await Promise.race([work, expiry]);
  } finally {
    // Settled or abandoned: the work issues no further calls. The reason is given, so no
    // DOMException (and its stack trace) is built on every call.
    abort.abort(exceeded ?? SETTLED);
    clearTimeout(timer);
  }
}

/** The abort reason of a budget whose work settled in time. */
const SETTLED: Error = Object.freeze(new Error('the budgeted work has settled'));
