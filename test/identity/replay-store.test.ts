/**
 * The memory replay store for client-assertion `jti`s: a mark refuses its key until it
 * expires, on an injected clock; the store is bounded and refuses (503) rather than forget a
 * live mark. The Firestore store is tested against the emulator in replay-store.int.test.ts.
 */
import { rejection } from '../helpers/rejection';
import { createMemoryReplayStore } from '../../shared/identity/replay-store';

describe('memory store', () => {
  it('refuses a live key and accepts it again once its mark has expired', async () => {
    let now = 1_000_000;
    const store = createMemoryReplayStore({ now: () => now });
    expect(await store.claim('k', now + 1000)).toBe(true);
    expect(await store.claim('k', now + 1000)).toBe(false);
    expect(await store.claim('other', now + 1000)).toBe(true);
    now += 999;
    expect(await store.claim('k', now + 1000)).toBe(false);
    now += 1;
    expect(await store.claim('k', now + 1000)).toBe(true);
    await store.close();
  });

  it('is bounded: drops expired marks for room, and refuses (503) rather than forget a live one', async () => {
    let now = 0;
    const store = createMemoryReplayStore({ maxEntries: 3, now: () => now });
    expect(await store.claim('a', 1000)).toBe(true);
    expect(await store.claim('b', 5000)).toBe(true);
    expect(await store.claim('c', 5000)).toBe(true);
    const full = await rejection(store.claim('d', 5000));
    expect({ code: full.code, status: full.status, reason: full.reason, retryAfter: full.retryAfterSeconds }).toEqual({
      code: 'temporarily_unavailable', status: 503, reason: 'replay_store_full', retryAfter: 1,
    });
    // The live marks are all still there.
    expect(await store.claim('a', 1000)).toBe(false);
    expect(await store.claim('b', 5000)).toBe(false);
    now = 1000; // 'a' expires: its slot is reused
    expect(await store.claim('d', 5000)).toBe(true);
    expect(await store.claim('b', 5000)).toBe(false);
    expect(await store.claim('c', 5000)).toBe(false);
    expect(await store.claim('d', 5000)).toBe(false);
    await rejection(store.claim('e', 6000));
  });
});
