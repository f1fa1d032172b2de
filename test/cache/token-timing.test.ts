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
