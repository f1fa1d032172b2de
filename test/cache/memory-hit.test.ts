import { TokenCache, type Mint } from '../../shared/cache/token-cache';
import type { CachedToken } from '../../shared/cache/token-timing';
import { createMemoryIssuedTokenStore, type Issuance } from '../../shared/introspection/issued-tokens';
import { BudgetExceeded, withinBudget } from '../../shared/resilience/time-budget';

const metadata = { principalHash: 'p', ruleId: 'r', policyVersion: 'v' };

function cacheAt(clock: { now: number }) {
  return new TokenCache({ instanceId: 'i', maxMemoryEntries: 10, minRemainingMs: 60_000, leaseMs: 1000, leaseWaitMs: 100, leasePollMs: 10, storeBackoffMs: 1000, now: () => clock.now });
}

describe('TokenCache.memoryHit: the synchronous L1 answer of a cache hit', () => {
  const token = (mintedAtMs: number, lifetimeMs: number): CachedToken => ({ accessToken: `t-${mintedAtMs}`, mintedAtMs, expiresAtMs: mintedAtMs + lifetimeMs });

  it('is undefined for a key it does not hold, and asks nothing of the caller', () => {
    const clock = { now: 1_000_000 };
    const forRefresh = jest.fn();
    expect(cacheAt(clock).memoryHit('absent', forRefresh)).toBeUndefined();
    expect(forRefresh).not.toHaveBeenCalled();
  });

  it('serves a fresh token without computing what a refresh would need', async () => {
    const clock = { now: 1_000_000 };
    const cache = cacheAt(clock);
    const minted = token(clock.now, 3_600_000);
    await cache.obtain('k', metadata, async () => minted);
    const forRefresh = jest.fn();
    expect(cache.memoryHit('k', forRefresh)).toEqual({ token: minted, outcome: 'hit', refreshStarted: false });
    expect(forRefresh).not.toHaveBeenCalled();
  });

  it('serves a token due for refresh and refreshes it in the background with what forRefresh gives', async () => {
    const clock = { now: 1_000_000 };
    const cache = cacheAt(clock);
    const first = token(clock.now, 3_600_000);
    await cache.obtain('k', metadata, async () => first);
    clock.now = first.expiresAtMs - 120_000; // past its refresh point, still servable (minRemainingMs is 60 s)
    const second = token(clock.now, 3_600_000);
    const mint = jest.fn<ReturnType<Mint>, Parameters<Mint>>(async () => second);
    const hit = cache.memoryHit('k', () => ({ metadata, mint }));
    expect(hit).toMatchObject({ token: first, outcome: 'hit', refreshStarted: true });
    for (let i = 0; i < 50 && cache.memoryHit('k', () => ({ metadata, mint }))?.token !== second; i++) await new Promise((r) => setImmediate(r));
    expect(mint).toHaveBeenCalledTimes(1);
    expect(mint).toHaveBeenCalledWith('refresh');
    expect(cache.memoryHit('k', () => ({ metadata, mint }))?.token).toBe(second);
  });

  it('does not serve an expired token: it drops it and answers undefined, so obtain mints', async () => {
    const clock = { now: 1_000_000 };
    const cache = cacheAt(clock);
    const old = token(clock.now, 120_000);
    await cache.obtain('k', metadata, async () => old);
    clock.now = old.expiresAtMs + 1;
    expect(cache.memoryHit('k', () => ({ metadata, mint: async () => old }))).toBeUndefined();
    const fresh = token(clock.now, 3_600_000);
    expect((await cache.obtain('k', metadata, async () => fresh)).token).toBe(fresh);
  });
});

describe('memory issued-token store: a repeated issuance changes nothing', () => {
  const issuance: Issuance = { tokenSha256: 'sha', tokenType: 'Bearer', scopes: ['s1', 's2'], issuer: 'iss', subject: 'sub', username: 'u', ruleId: 'r', issuedAtMs: 1, expiresAtMs: 2, clientId: 'c1' };

  it('keeps the same entry for the same token, facts and client', async () => {
    const store = createMemoryIssuedTokenStore();
    store.remember(issuance);
    const first = await store.find('sha');
    store.remember({ ...issuance, scopes: ['s1', 's2'] });
    store.remember({ ...issuance, clientId: undefined });
    expect(await store.find('sha')).toBe(first);
  });

  it('adds a new client, and takes changed facts', async () => {
    const store = createMemoryIssuedTokenStore();
    store.remember(issuance);
    store.remember({ ...issuance, clientId: 'c2' });
    expect((await store.find('sha'))?.clientIds).toEqual(['c1', 'c2']);
    store.remember({ ...issuance, clientId: 'c2', username: 'renamed' });
    expect(await store.find('sha')).toMatchObject({ username: 'renamed', clientIds: ['c1', 'c2'] });
    store.remember({ ...issuance, scopes: ['s1'] });
    expect((await store.find('sha'))?.scopes).toEqual(['s1']);
  });
});

describe('withinBudget: the abort reason of its signal', () => {
  it('is the BudgetExceeded error when the budget runs out, and no DOMException is built when the work settles', async () => {
    let timedOut: AbortSignal | undefined;
    await expect(withinBudget(5, 'slow work', (signal) => { timedOut = signal; return new Promise(() => undefined); })).rejects.toBeInstanceOf(BudgetExceeded);
    expect(timedOut?.reason).toBeInstanceOf(BudgetExceeded);

    let settled: AbortSignal | undefined;
    await expect(withinBudget(1000, 'quick work', async (signal) => { settled = signal; return 7; })).resolves.toBe(7);
    expect(settled?.aborted).toBe(true);
    expect(settled?.reason).toBeInstanceOf(Error);
    expect(settled?.reason).not.toBeInstanceOf(DOMException);
  });
});
