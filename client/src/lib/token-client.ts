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
 *
 * A caller's `signal` ends that caller's wait with BrokerAbortError. The shared broker request
 * is aborted (and not retried) only once every caller waiting for it has aborted; a caller
 * without a signal, or a background refresh, keeps it going.
 */
import { throwIfCallerAborted } from './abort';
import { MIN_REFRESH_MARGIN_MS, REFRESH_MARGIN_SHARE } from './defaults';
import { BrokerAbortError } from './errors';
import type { BrokerClientOptions, BrokerToken, RequestOptions } from './options';
import { requestToken } from './request-token';
import { resolveSettings, type Settings } from './settings';

/** A token with less than this left is not handed out: it could expire on its way to Google. */
const EXPIRY_SKEW_MS = 10_000;

interface CachedToken {
  token: BrokerToken;
  refreshAt: number;
}

/** The broker request in flight, and how many callers that could still abort it wait for it. */
interface Inflight {
  promise: Promise<BrokerToken>;
  controller: AbortController;
  /** Callers with a signal not yet aborted; Infinity once one without a signal waits. */
  abortable: number;
}

export class BrokerTokenClient {
  readonly #settings: Settings;
  #cached: CachedToken | undefined;
  #inflight: Inflight | undefined;
  /** Bumped by invalidate(): an answer to an older request is not cached. */
  #generation = 0;

  /** Throws TypeError for options that cannot work (no credential, a plain-http broker URL, …). */
  constructor(options: BrokerClientOptions) {
    this.#settings = resolveSettings(options);
  }

  /**
   * A token: the cached one while fresh, else one from the broker. Rejects with a
   * BrokerClientError (BrokerAbortError when `signal` aborts).
   */
  async getToken(options: RequestOptions & { forceRefresh?: boolean } = {}): Promise<BrokerToken> {
    const { signal } = options;
    throwIfCallerAborted(signal);
    if (!this.#settings.cacheable) return requestToken(this.#settings, signal);
    const cached = this.#cached;
    const now = this.#settings.clock.now();
    if (cached && !options.forceRefresh) {
      if (now < cached.refreshAt) return cached.token;
      if (now < cached.token.expiresAt - EXPIRY_SKEW_MS) {
        this.#refresh(undefined).catch((error: unknown) => this.#settings.onBackgroundRefreshError(error));
        return cached.token;
      }
    }
    return this.#refresh(signal);
  }

  /** The access token alone. */
  async getAccessToken(options: RequestOptions = {}): Promise<string> {
    return (await this.getToken({ signal: options.signal })).accessToken;
  }

  /**
   * `fetch` with `Authorization: Bearer <token>` added (replacing any Authorization header).
   * The request's signal (`init.signal`, else the Request's) covers getting the token too.
   */
  async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined) ?? undefined;
    const token = await this.getAccessToken({ signal });
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
  #refresh(signal: AbortSignal | undefined): Promise<BrokerToken> {
    let inflight = this.#inflight;
    if (!inflight) {
      const generation = this.#generation;
      const controller = new AbortController();
      const promise = requestToken(this.#settings, controller.signal)
        .then((token) => {
          if (generation === this.#generation) this.#cached = { token, refreshAt: this.#refreshAt(token) };
          return token;
        })
        .finally(() => {
          if (this.#inflight === current) this.#inflight = undefined;
        });
      const current: Inflight = { promise, controller, abortable: 0 };
      this.#inflight = inflight = current;
    }
    return this.#wait(inflight, signal);
  }

  /** The shared request's answer for one caller; its abort ends its own wait, and the request once nobody waits. */
  #wait(inflight: Inflight, signal: AbortSignal | undefined): Promise<BrokerToken> {
    if (!signal) {
      inflight.abortable = Infinity;
      return inflight.promise;
    }
    inflight.abortable++;
    return new Promise<BrokerToken>((resolve, reject) => {
      const onAbort = () => {
        reject(new BrokerAbortError({ cause: signal.reason }));
        if (--inflight.abortable === 0) {
          if (this.#inflight === inflight) this.#inflight = undefined;
          inflight.controller.abort(signal.reason);
        }
      };
      signal.addEventListener('abort', onAbort, { once: true });
      inflight.promise.then(
        (token) => {
          signal.removeEventListener('abort', onAbort);
          resolve(token);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  #refreshAt(token: BrokerToken): number {
    const lifetime = token.expiresAt - this.#settings.clock.now();
    const margin = this.#settings.refreshMarginMs ?? Math.max(MIN_REFRESH_MARGIN_MS, REFRESH_MARGIN_SHARE * lifetime);
    return token.expiresAt - margin;
  }
}
