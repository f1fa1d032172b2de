/** Deadlines and cancellation: AbortSignal plumbing shared by the token request and the cache. */
import { BrokerAbortError } from './errors';

/**
 * `promise`, or the signal's reason as soon as it aborts: a fetch (or subject-token function)
 * that ignores its signal cannot hold a caller past a deadline.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Throws BrokerAbortError when the caller's signal has aborted. */
export function throwIfCallerAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new BrokerAbortError({ cause: signal.reason });
}

/** One attempt's signal: aborted by the caller's signal, or with a TimeoutError after `timeoutMs` (0: never). */
export function attemptSignal(caller: AbortSignal | undefined, timeoutMs: number): { signal: AbortSignal; timedOut: () => boolean; dispose: () => void } {
  const controller = new AbortController();
  let timedOut = false;
  // setTimeout, not AbortSignal.timeout: test clocks (jest's fake timers) control it.
  const timer =
    timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true;
          controller.abort(new DOMException(`the attempt timed out after ${timeoutMs} ms`, 'TimeoutError'));
        }, timeoutMs)
      : undefined;
  const onCallerAbort = () => controller.abort(caller?.reason);
  if (caller?.aborted) onCallerAbort();
  else caller?.addEventListener('abort', onCallerAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose: () => {
      if (timer !== undefined) clearTimeout(timer);
      caller?.removeEventListener('abort', onCallerAbort);
    },
  };
}
