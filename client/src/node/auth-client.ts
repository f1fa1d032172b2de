/**
 * BrokerAuthClient: a google-auth-library AuthClient whose tokens come from the broker, for
 * Google's Node libraries: `new GoogleGenAI({ vertexai: true, …, googleAuthOptions: { authClient } })`,
 * `new GoogleAuth({ authClient })`, or `authClient.request(…)` / `authClient.fetch(…)` directly.
 *
 * Caching, refresh ahead of expiry, singleflight and retries are BrokerTokenClient's; this
 * class only speaks AuthClient (google-auth-library 10).
 */
import { AuthClient, type gaxios } from 'google-auth-library';
import type { BrokerToken } from '../lib/options';
import { BrokerTokenClient as BaseBrokerTokenClient } from '../lib/token-client';
import { BrokerTokenClient } from './token-client';
import type { NodeBrokerClientOptions } from './file-source';

/** google-auth-library's AuthClient options (quotaProjectId, transporterOptions, forceRefreshOnFailure, …). */
export type AuthClientOptions = NonNullable<ConstructorParameters<typeof AuthClient>[0]>;

export class BrokerAuthClient extends AuthClient {
  /** Where the tokens come from (shared when a BrokerTokenClient was passed in). */
  readonly tokens: BaseBrokerTokenClient;

  /**
   * @param source broker options, or a BrokerTokenClient to share its cache
   * @param authClientOptions AuthClient options (quotaProjectId, transporterOptions, forceRefreshOnFailure, …)
   */
  constructor(source: NodeBrokerClientOptions | BaseBrokerTokenClient, authClientOptions: AuthClientOptions = {}) {
    super(authClientOptions);
    this.tokens = source instanceof BaseBrokerTokenClient ? source : new BrokerTokenClient(source);
  }

  /** The current token; a new one from the broker when needed. */
  async getAccessToken(): Promise<{ token: string; res: null }> {
    const token = await this.#token();
    return { token: token.accessToken, res: null };
  }

  /** `authorization: Bearer …`, and `x-goog-user-project` when a quota project is set. */
  async getRequestHeaders(_url?: string | URL): Promise<Headers> {
    const token = await this.#token();
    return this.addSharedMetadataHeaders(new Headers({ authorization: `Bearer ${token.accessToken}` }));
  }

  /**
   * A gaxios request with the token. On 401 (and 403, with `forceRefreshOnFailure`), once,
   * a new token and the request again, unless its body is a stream that cannot be resent.
   */
  async request<T>(options: gaxios.GaxiosOptions): Promise<gaxios.GaxiosResponse<T>> {
    return this.#send<T>(options, false);
  }

  async #send<T>(options: gaxios.GaxiosOptions, retried: boolean): Promise<gaxios.GaxiosResponse<T>> {
    const headers = new Headers(options.headers as HeadersInit | undefined);
    // The request's signal covers getting the token too (BrokerAbortError when it aborts).
    const token = await this.#token(options.signal as AbortSignal | undefined);
    this.addUserProjectAndAuthHeaders(headers, this.addSharedMetadataHeaders(new Headers({ authorization: `Bearer ${token.accessToken}` })));
    try {
      return await this.transporter.request<T>({ ...options, headers });
    } catch (error) {
      const status = (error as { response?: { status?: number } }).response?.status;
      const authFailure = status === 401 || (status === 403 && this.forceRefreshOnFailure);
      if (retried || !authFailure || isStream(options.data)) throw error;
      this.tokens.invalidate();
      return this.#send<T>(options, true);
    }
  }

  /** The token from the broker, mirrored into `credentials` and announced as google-auth-library's clients do. */
  async #token(signal?: AbortSignal): Promise<BrokerToken> {
    const token = await this.tokens.getToken({ signal });
    if (this.credentials.access_token !== token.accessToken) {
      this.credentials = { access_token: token.accessToken, expiry_date: token.expiresAt, token_type: 'Bearer', ...(token.scopes.length ? { scope: token.scopes.join(' ') } : {}) };
      this.emit('tokens', this.credentials);
    }
    return token;
  }
}

function isStream(data: unknown): boolean {
  return typeof data === 'object' && data !== null && typeof (data as { pipe?: unknown }).pipe === 'function';
}
