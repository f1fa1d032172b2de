/**
 * BrokerTokenClient: tokens from the broker, cached in memory and refreshed ahead of expiry,
 * with concurrent callers sharing one broker request.
 *
 *   fresh      now < expiresAt − margin           the cached token, no request
 *   refreshing margin reached, ≥ EXPIRY_SKEW left  the cached token; one refresh starts in the background
 *   expired    less than EXPIRY_SKEW left          callers wait for the refresh (one request for all)
 *
 * The margin is `refreshMarginSeconds`, by default the larger of 60 s and 10 % of the token's
 * lifetime.
 */
import { MIN_REFRESH_MARGIN_MS, REFRESH_MARGIN_SHARE } from './defaults';
import type { BrokerClientOptions, BrokerToken } from './options';
import { requestToken } from './request-token';
import { resolveSettings, type Settings } from './settings';

/** A token with less than this left is not handed out: it could expire on its way to Google. */
const EXPIRY_SKEW_MS = 10_000;

interface CachedToken {
  token: BrokerToken;
  refreshAt: number;
}

export class BrokerTokenClient {
  readonly #settings: Settings;
  #cached: CachedToken | undefined;
  #inflight: Promise<BrokerToken> | undefined;
  /** Bumped by invalidate(): an answer to an older request is not cached. */
  #generation = 0;

  /** Throws TypeError for options that cannot work (no credential, a plain-http broker URL, …). */
  constructor(options: BrokerClientOptions) {
    this.#settings = resolveSettings(options);
  }

  /** A token: the cached one while fresh, else one from the broker. Rejects with a BrokerClientError. */
  async getToken(options: { forceRefresh?: boolean } = {}): Promise<BrokerToken> {
    if (!this.#settings.cacheable) return requestToken(this.#settings);
    const cached = this.#cached;
    const now = this.#settings.clock.now();
    if (cached && !options.forceRefresh) {
      if (now < cached.refreshAt) return cached.token;
      if (now < cached.token.expiresAt - EXPIRY_SKEW_MS) {
        this.#refresh().catch((error: unknown) => this.#settings.onBackgroundRefreshError(error));
        return cached.token;
      }
    }
    return this.#refresh();
  }

  /** The access token alone. */
  async getAccessToken(): Promise<string> {
    return (await this.getToken()).accessToken;
  }

  /** `fetch` with `Authorization: Bearer <token>` added (replacing any Authorization header). */
  async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const token = await this.getAccessToken();
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    headers.set('authorization', `Bearer ${token}`);
    return this.#settings.fetch(input, { ...init, headers });
  }

  /** Forgets the cached token: the next call asks the broker. */
  invalidate(): void {
    this.#cached = undefined;
    this.#inflight = undefined;
    this.#generation++;
  }

  /** One broker request at a time; everyone asking meanwhile gets its answer. */
  #refresh(): Promise<BrokerToken> {
    if (this.#inflight) return this.#inflight;
    const generation = this.#generation;
    const inflight = requestToken(this.#settings)
      .then((token) => {
        if (generation === this.#generation) this.#cached = { token, refreshAt: this.#refreshAt(token) };
        return token;
      })
      .finally(() => {
        if (this.#inflight === inflight) this.#inflight = undefined;
      });
    this.#inflight = inflight;
    return inflight;
  }

  #refreshAt(token: BrokerToken): number {
    const lifetime = token.expiresAt - this.#settings.clock.now();
    const margin = this.#settings.refreshMarginMs ?? Math.max(MIN_REFRESH_MARGIN_MS, REFRESH_MARGIN_SHARE * lifetime);
    return token.expiresAt - margin;
  }
}
