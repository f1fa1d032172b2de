/** Counts in this process only: development mode, tests, a single-instance deployment. */
import { DEFAULTS } from '../config/defaults';
import { ALLOWED, CounterTable, countersFor, refusal } from './counters';
import type { MemoryRateLimiterOptions, RateLimiter } from './types';

export function createMemoryRateLimiter(options: MemoryRateLimiterOptions = {}): RateLimiter {
  const now = options.now ?? Date.now;
  const table = new CounterTable<{ readonly windowEnd: number; used: number }>(options.maxCounters ?? DEFAULTS.limitsMemoryCounters);
  return {
    async admit(scope, subject, limits) {
      const t = now();
      const counters = countersFor(scope, subject, limits, t);
      const states = counters.map((c) => table.obtain(c.key, t, () => ({ windowEnd: c.windowEnd, used: 0 })));
      const exhausted = counters.filter((c, i) => (states[i]?.used ?? 0) >= c.limit);
      if (exhausted.length > 0) return refusal(exhausted, t);
      for (const state of states) state.used++;
      return ALLOWED;
    },
    refund(scope, subject, limits) {
      const t = now();
      for (const counter of countersFor(scope, subject, limits, t)) {
        const state = table.obtain(counter.key, t, () => ({ windowEnd: counter.windowEnd, used: 0 }));
        if (state.used > 0) state.used--;
      }
    },
    async close() {},
  };
}
