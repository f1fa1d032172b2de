/**
 * The broker as the confidential OAuth client of a web app's sign-in provider (Google, or any
 * OpenID Connect provider), through openid-client: discovery, the authorization URL (PKCE S256,
 * state, nonce), the code exchange with every OpenID Connect check on the ID token (signature
 * by the provider's JWKS, `iss`, `aud`, `azp`, `nonce`, times), the refresh-token grant and
 * revocation (RFC 7009). The client secret comes from Secret Manager and is kept in memory only.
 *
 * Failures become ProviderFailure with a kind the flow acts on: `revoked` (the provider said
 * `invalid_grant`: the session is over), `refused` (any other OAuth error: a deployment or
 * request fault), `unavailable` (429, 5xx, timeouts, network errors: retried with capped
 * exponential backoff and full jitter, then 503).
 */
import type * as OpenIdClient from 'openid-client';
import { DEFAULTS } from '../config/defaults';
import type { Deadline } from '../resilience/deadline';
import { RetriesExhausted, withRetries, type FailureClass } from '../resilience/retry';
import type { CompiledWebApp } from '../policy/web-apps';
import { lazyModule } from '../lazy-module';

/** openid-client loads on first use: only policies with web apps need it. */
const oidc = lazyModule(() => require('openid-client') as typeof OpenIdClient);

export type ProviderFailureKind = 'revoked' | 'refused' | 'unavailable' | 'id_token_invalid';

export class ProviderFailure extends Error {
  constructor(readonly kind: ProviderFailureKind, message: string, readonly retryAfterMs?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProviderFailure';
  }
}

/** What a code exchange or a refresh yields. */
export interface ProviderTokens {
  readonly accessToken: string;
  readonly expiresAtMs: number;
  readonly scope: string;
  readonly refreshToken?: string;
}

export interface SignedInUser extends ProviderTokens {
  /** The verified ID token's claims. */
  readonly claims: Readonly<Record<string, unknown>>;
}

export interface AuthorizationRequest {
  readonly state: string;
  readonly nonce: string;
  readonly codeChallenge: string;
}

export interface ProviderClient {
  authorizationUrl(app: CompiledWebApp, request: AuthorizationRequest, deadline: Deadline): Promise<URL>;
  /** Exchanges the code of `callbackUrl` (the request the provider redirected) and verifies the ID token. */
  exchangeCode(app: CompiledWebApp, callbackUrl: URL, checks: { state: string; nonce: string; codeVerifier: string }, deadline: Deadline): Promise<SignedInUser>;
  refresh(app: CompiledWebApp, refreshToken: string, deadline: Deadline): Promise<ProviderTokens>;
  revoke(app: CompiledWebApp, token: string, deadline: Deadline): Promise<void>;
}

export interface ProviderClientOptions {
  /** The app's client secret (Secret Manager, cached). */
  clientSecret: (app: CompiledWebApp, deadline: Deadline) => Promise<string>;
  /** Development mode: plain-http loopback providers. */
  allowInsecureLoopback: boolean;
  now?: () => number;
  /** Tests pin the jitter. */
  random?: () => number;
}

const RETRY = { maxAttempts: DEFAULTS.sessionRefreshAttempts, baseDelayMs: 200, maxDelayMs: 2000, minAttemptMs: 250 };

export function createProviderClient(options: ProviderClientOptions): ProviderClient {
  const now = options.now ?? Date.now;
  /** One discovered configuration per app (keyed by the app object: a policy reload starts afresh). */
  const configurations = new WeakMap<CompiledWebApp, Promise<OpenIdClient.Configuration>>();

  function configuration(app: CompiledWebApp, deadline: Deadline): Promise<OpenIdClient.Configuration> {
    let pending = configurations.get(app);
    if (!pending) {
      pending = (async () => {
        const secret = await options.clientSecret(app, deadline);
        const config = await oidc.discovery(new URL(app.issuer), app.clientId, { client_secret: secret }, oidc.ClientSecretPost(secret), {
          timeout: timeoutSeconds(deadline),
          ...(options.allowInsecureLoopback ? { execute: [oidc.allowInsecureRequests] } : {}),
        });
        config.timeout = DEFAULTS.providerTimeoutMs / 1000;
        // OpenID Connect lets a client skip the ID token's signature when it came straight from
        // the token endpoint over TLS; the broker checks it against the provider's JWKS anyway.
        oidc.enableNonRepudiationChecks(config);
        return config;
      })();
      configurations.set(app, pending);
      pending.catch(() => configurations.delete(app)); // a failed discovery is tried again next time
    }
    return pending;
  }

  /** One provider call with retries of what is retryable, inside the request's deadline. */
  async function call<T>(what: string, deadline: Deadline, attempt: () => Promise<T>): Promise<T> {
    try {
      return (await withRetries(attempt, { policy: RETRY, deadline, classify, random: options.random })).value;
    } catch (err) {
      throw asFailure(what, err instanceof RetriesExhausted ? err.lastError : err);
    }
  }

  function tokens(response: OpenIdClient.TokenEndpointResponse, fallbackScope: string): ProviderTokens {
    const expiresIn = typeof response.expires_in === 'number' ? response.expires_in : 3600;
    return {
      accessToken: response.access_token,
      expiresAtMs: now() + expiresIn * 1000,
      scope: typeof response.scope === 'string' ? response.scope : fallbackScope,
      ...(typeof response.refresh_token === 'string' ? { refreshToken: response.refresh_token } : {}),
    };
  }

  return {
    async authorizationUrl(app, request, deadline) {
      const config = await call('discovery', deadline, () => configuration(app, deadline));
      return oidc.buildAuthorizationUrl(config, {
        response_type: 'code',
        redirect_uri: app.redirectUri,
        scope: app.scopes.join(' '),
        state: request.state,
        nonce: request.nonce,
        code_challenge: request.codeChallenge,
        code_challenge_method: 'S256',
        // Google issues a refresh token only for offline access (other providers ignore the
        // parameter and want the `offline_access` scope), and again only after consent.
        access_type: 'offline',
        ...(app.prompt === undefined ? {} : { prompt: app.prompt }),
      });
    },

    async exchangeCode(app, callbackUrl, checks, deadline) {
      const config = await call('discovery', deadline, () => configuration(app, deadline));
      // Not retried: an authorization code is single use.
      let response: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        response = await oidc.authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          idTokenExpected: true,
        }, { redirect_uri: app.redirectUri });
      } catch (err) {
        throw asFailure('code exchange', err);
      }
      const claims = response.claims();
      if (!claims) throw new ProviderFailure('id_token_invalid', 'the provider returned no ID token');
      return { ...tokens(response, app.scopes.join(' ')), claims: { ...claims } };
    },

    async refresh(app, refreshToken, deadline) {
      const config = await call('discovery', deadline, () => configuration(app, deadline));
      const response = await call('refresh', deadline, () => oidc.refreshTokenGrant(config, refreshToken));
      return tokens(response, app.scopes.join(' '));
    },

    async revoke(app, token, deadline) {
      const config = await call('discovery', deadline, () => configuration(app, deadline));
      await call('revocation', deadline, () => oidc.tokenRevocation(config, token));
    },
  };
}

/** openid-client takes whole seconds (at least one). */
function timeoutSeconds(deadline: Deadline): number {
  return Math.max(1, Math.floor(Math.min(DEFAULTS.providerTimeoutMs, deadline.remainingMs()) / 1000));
}

/** 429, 5xx, timeouts and network failures are worth another attempt; OAuth errors are not. */
function classify(err: unknown): FailureClass {
  const status = httpStatus(err);
  if (status !== undefined) return { retryable: status === 429 || status >= 500 };
  if (err instanceof oidc.ResponseBodyError || err instanceof oidc.AuthorizationResponseError) return { retryable: false };
  const name = err instanceof Error ? err.name : '';
  return { retryable: name === 'TypeError' || name === 'AbortError' || name === 'TimeoutError' || /fetch failed|ECONN|socket/i.test(String((err as Error)?.message)) };
}

function httpStatus(err: unknown): number | undefined {
  if (err instanceof oidc.ResponseBodyError) return err.status;
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  if (typeof Response !== 'undefined' && cause instanceof Response) return cause.status;
  return undefined;
}

function asFailure(what: string, err: unknown): ProviderFailure {
  if (err instanceof ProviderFailure) return err;
  if (err instanceof oidc.ResponseBodyError) {
    if (err.error === 'invalid_grant') return new ProviderFailure('revoked', `${what}: the provider answered invalid_grant`, undefined, { cause: err });
    const kind = err.status === 429 || err.status >= 500 ? 'unavailable' : 'refused';
    return new ProviderFailure(kind, `${what}: the provider answered ${err.status} ${err.error}`, undefined, { cause: err });
  }
  if (err instanceof oidc.AuthorizationResponseError) return new ProviderFailure('refused', `${what}: ${err.error}`, undefined, { cause: err });
  const status = httpStatus(err);
  if (status !== undefined) {
    return new ProviderFailure(status === 429 || status >= 500 ? 'unavailable' : 'refused', `${what}: the provider answered HTTP ${status}`, undefined, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  if (classify(err).retryable) return new ProviderFailure('unavailable', `${what}: ${message}`, undefined, { cause: err });
  // openid-client's own checks of the answer: nonce, state, iss, aud, azp, signature, PKCE.
  return new ProviderFailure('id_token_invalid', `${what}: ${message}`, undefined, { cause: err });
}
