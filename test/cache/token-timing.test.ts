import { freshness, minRemainingMs, refreshAtMs, servableUntilMs, type CachedToken } from '../../shared/cache/token-timing';

const MIN = 300_000;
const token = (lifetimeS: number): CachedToken => ({ accessToken: 'x', mintedAtMs: 0, expiresAtMs: lifetimeS * 1000 });

it('keeps the configured minimum for long tokens and half the lifetime for short ones', () => {
  expect(minRemainingMs(token(3600), MIN)).toBe(300_000);
  expect(minRemainingMs(token(120), MIN)).toBe(60_000);
});

it('places refresh-ahead a quarter of the servable span before it ends', () => {
  const t = token(3600);
  expect(servableUntilMs(t, MIN)).toBe(3_300_000);
  expect(refreshAtMs(t, MIN)).toBe(3_300_000 - 825_000);
});

it.each([
  [0, 'fresh'], [2_474_999, 'fresh'], [2_475_000, 'refresh-ahead'], [3_299_999, 'refresh-ahead'], [3_300_000, 'unusable'], [3_700_000, 'unusable'],
])('at %i ms a one-hour token is %s', (now, state) => {
  expect(freshness(token(3600), now, MIN)).toBe(state);
});

it('never serves a token with less than the minimum remaining life', () => {
  for (const lifetime of [60, 120, 600, 900, 3600]) {
    const t = token(lifetime);
    for (let now = 0; now <= lifetime * 1000; now += 1000) {
      if (freshness(t, now, MIN) !== 'unusable') expect(t.expiresAtMs - now).toBeGreaterThan(minRemainingMs(t, MIN));
    }
  }
});

describe('edges', () => {
  const at = (mintedAtMs: number, expiresAtMs: number): CachedToken => ({ accessToken: 'x', mintedAtMs, expiresAtMs });

  it('never serves a token that expires as it is minted, or before', () => {
    expect(freshness(at(0, 0), 0, MIN)).toBe('unusable');
    expect(freshness(at(0, -1000), 0, MIN)).toBe('unusable');
  });

  it('with a configured minimum of 0, serves until the last millisecond and refreshes in the last quarter', () => {
    const t = token(3600);
    expect(servableUntilMs(t, 0)).toBe(3_600_000);
    expect(refreshAtMs(t, 0)).toBe(2_700_000);
    expect([2_699_999, 2_700_000, 3_599_999, 3_600_000].map((now) => freshness(t, now, 0))).toEqual(['fresh', 'refresh-ahead', 'refresh-ahead', 'unusable']);
  });

  it('judges a token by its own timestamps, wherever its lifetime starts', () => {
    const later = at(1_000_000_000_000, 1_000_000_000_000 + 3_600_000);
    expect(servableUntilMs(later, MIN)).toBe(1_000_000_000_000 + 3_300_000);
    expect(freshness(later, 1_000_000_000_000 + 2_474_999, MIN)).toBe('fresh');
    expect(freshness(later, 1_000_000_000_000 + 2_475_000, MIN)).toBe('refresh-ahead');
  });

  it('only moves forward: fresh, then refresh-ahead, then unusable', () => {
    const order = { fresh: 0, 'refresh-ahead': 1, unusable: 2 };
    for (const lifetime of [1, 2, 59, 60, 61, 599, 600, 601, 3599, 3600, 43_200]) {
      const t = token(lifetime);
      let last = 0;
      for (let now = -1000; now <= lifetime * 1000 + 1000; now += Math.max(1, Math.floor(lifetime * 10))) {
        const state = order[freshness(t, now, MIN)];
        expect(state).toBeGreaterThanOrEqual(last);
        last = state;
      }
      expect(last).toBe(2);
    }
  });
});
