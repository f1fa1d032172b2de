/**
 * A library loaded on its first use instead of with the importing module. Call sites keep
 * reading `lib.fn()`; the first property read loads it (synchronously, with `require`), so a
 * library only some configurations need stays off the cold start of the others.
 *
 *   import type * as Lib from 'lib';
 *   const lib = lazyModule(() => require('lib') as typeof Lib);
 */
export function lazyModule<T extends object>(load: () => T): T {
  let loaded: T | undefined;
  return new Proxy({} as T, {
    get: (_target, name) => Reflect.get((loaded ??= load()), name),
  });
}
