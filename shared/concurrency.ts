/**
 * Runs at most `max` calls of `fn` at once; the rest wait in order. The broker wraps scrypt
 * with it: scrypt runs on libuv's small shared thread pool (4 threads by default), and a burst
 * of wrong secrets must not starve the file and DNS work that shares that pool.
 */
export function limitConcurrency<A extends unknown[], R>(fn: (...args: A) => Promise<R>, max: number): (...args: A) => Promise<R> {
  let running = 0;
  const waiting: Array<() => void> = [];
  const release = () => {
    running--;
    waiting.shift()?.();
  };
  return async (...args: A) => {
    if (running >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await fn(...args);
    } finally {
      release();
    }
  };
}
