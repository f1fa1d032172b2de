/**
 * When a cached token may be served and when it should be refreshed.
 *
 *   mintedAt ─────────── refreshAt ────────── servableUntil ──── minRemaining ──── expiresAt
 *            served from cache   served, and a        not served (a new token is minted)
 *                                background refresh
 *                                starts
 *
 * minRemaining = min(configured minimum, half the token's lifetime), so a caller never gets a
 * token about to expire, and short tokens are still cacheable. refreshAt sits 25% of the
 * servable span before servableUntil, so refreshes finish before anyone has to wait.
 */
import { DEFAULTS } from '../config/defaults';

export interface CachedToken {
  readonly accessToken: string;
  readonly mintedAtMs: number;
  readonly expiresAtMs: number;
}

export type Freshness = 'fresh' | 'refresh-ahead' | 'unusable';

/** Share of the servable span that is spent in refresh-ahead. */
const REFRESH_AHEAD_SHARE = DEFAULTS.cacheRefreshAheadShare;

export function minRemainingMs(token: CachedToken, configuredMinMs: number): number {
  return Math.min(configuredMinMs, (token.expiresAtMs - token.mintedAtMs) / 2);
}

export function servableUntilMs(token: CachedToken, configuredMinMs: number): number {
  return token.expiresAtMs - minRemainingMs(token, configuredMinMs);
}

export function refreshAtMs(token: CachedToken, configuredMinMs: number): number {
  const until = servableUntilMs(token, configuredMinMs);
  return until - REFRESH_AHEAD_SHARE * Math.max(0, until - token.mintedAtMs);
}

export function freshness(token: CachedToken, nowMs: number, configuredMinMs: number): Freshness {
  if (nowMs >= servableUntilMs(token, configuredMinMs)) return 'unusable';
  return nowMs >= refreshAtMs(token, configuredMinMs) ? 'refresh-ahead' : 'fresh';
}
