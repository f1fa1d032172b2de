/**
 * User sign-in for web apps, the broker as a token-mediating backend (OAuth 2.0 for
 * Browser-Based Applications): the browser holds an opaque session cookie, never a refresh
 * token or client secret.
 *
 *   login        app + return_to → a pending login (PKCE verifier, state, nonce; server-side,
 *                single use) and the provider's authorization URL
 *   callback     the provider's redirect → state checked, code exchanged with the verifier and
 *                client secret, ID token verified, the app's condition evaluated → a session
 *                in the vault (refresh token encrypted) and the return_to URL
 *   sessionToken the session's access token: from the vault while it has more than the
 *                margin left, else refreshed (once per session and instance at a time); a
 *                provider `invalid_grant` ends the session (401 login_required)
 *   logout       revokes the refresh token at the provider, deletes the session
 *
 * Free of HTTP types: cookies are the HTTP layer's; this module gets and returns their values.
 * Every refusal is a BrokerError whose reason the audit entry records.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type * as OpenIdClient from 'openid-client';
import { DEFAULTS } from '../config/defaults';
import { BrokerError, invalidRequest } from '../errors';
import type { RateLimiter } from '../limits/rate-limiter';
import type { CompiledWebApp } from '../policy/web-apps';
import { Deadline } from '../resilience/deadline';
import { SingleFlight } from '../cache/singleflight';
import type { LoginAttemptStore } from './login-attempts';
import { ProviderFailure, type ProviderClient, type ProviderTokens } from './provider';
import { sessionHandle, VaultUnavailable, type SessionRecord, type SessionVault } from './session-vault';
import { lazyModule } from '../lazy-module';

/** openid-client (and the parts of jose it uses) loads on the first sign-in: only policies with web apps need it. */
const oidc = lazyModule(() => require('openid-client') as typeof OpenIdClient);

/** What one sign-in request did, for its audit entry. Never a token, code or session id. */
export interface SignInRecord {
  appId?: string;
  subject?: string;
  email?: string;
  /** SHA-256 of the session id: the vault's document id and the operator's handle. */
  sessionHandle?: string;
  scopes?: readonly string[];
  /** session-token: served from the vault, or refreshed at the provider first. */
  token?: 'vault' | 'refreshed' | 'served_stale';
  /** Something that went wrong but did not fail the request (a revocation the provider refused). */
  warning?: string;
}

export interface SignInDependencies {
  webApps: ReadonlyMap<string, CompiledWebApp>;
  provider: ProviderClient;
  vault: SessionVault;
  attempts: LoginAttemptStore;
  limiter?: RateLimiter;
  requestDeadlineMs?: number;
  /** Refresh a user's access token when less than this is left (default DEFAULTS.sessionRefreshMarginSeconds). */
  refreshMarginSeconds?: number;
  now?: () => number;
}

export interface LoginStarted {
  /** The provider's authorization URL (302 Location). */
  readonly location: string;
  /** The pre-login cookie's value, and how long it lives. */
  readonly attemptId: string;
  readonly maxAgeSeconds: number;
}

export interface SessionStarted {
  readonly appId: string;
  /** The session cookie's value (never stored: the vault keys by its SHA-256). */
  readonly sessionId: string;
  readonly maxAgeSeconds: number;
  /** Where the browser goes next: one of the app's post_login_redirects. */
  readonly returnTo: string;
}

export interface SessionToken {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

/** A browser request to a session endpoint: what CSRF protection looks at. */
export interface BrowserContext {
  /** The `Origin` header. */
  readonly origin?: string;
  /** Whether the request carried the custom header (a cross-origin page cannot send it without a preflight). */
  readonly csrfHeader: boolean;
}

export interface SignIn {
  login(appId: string | undefined, returnTo: string | undefined, record: SignInRecord): Promise<LoginStarted>;
  callback(callbackUrl: URL, attemptId: string | undefined, record: SignInRecord): Promise<SessionStarted>;
  sessionToken(appId: string | undefined, sessionId: string | undefined, browser: BrowserContext, record: SignInRecord): Promise<SessionToken>;
  logout(appId: string | undefined, sessionId: string | undefined, browser: BrowserContext, record: SignInRecord): Promise<void>;
}

/** The header a page sends with every session request (value `1`). */
export const CSRF_HEADER = 'x-token-broker-csrf';

export function createSignIn(deps: SignInDependencies): SignIn {
  const now = deps.now ?? Date.now;
  const refreshes = new SingleFlight<SessionRecord>();
  const marginMs = (deps.refreshMarginSeconds ?? DEFAULTS.sessionRefreshMarginSeconds) * 1000;
  const deadline = () => new Deadline(deps.requestDeadlineMs ?? DEFAULTS.requestDeadlineMs);

  function appFor(appId: string | undefined, record: SignInRecord): CompiledWebApp {
    if (appId === undefined || appId === '') throw invalidRequest('missing required parameter app', 'missing_parameter');
    const app = deps.webApps.get(appId);
    if (!app) throw invalidRequest('no such web app', 'unknown_app');
    record.appId = app.id;
    return app;
  }

  /** CSRF: the page's origin is one of the app's, and it sent the custom header. */
  function checkBrowser(app: CompiledWebApp, browser: BrowserContext): void {
    if (browser.origin === undefined || !app.origins.has(browser.origin)) {
      throw new BrokerError('access_denied', 'requests from this origin are not allowed', { reason: 'origin_not_allowed' });
    }
    if (!browser.csrfHeader) {
      throw new BrokerError('access_denied', `the request lacks the ${CSRF_HEADER} header`, { reason: 'csrf_header_missing' });
    }
  }

  async function vaultCall<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof VaultUnavailable) {
        throw new BrokerError('temporarily_unavailable', 'sessions cannot be reached right now; retry later', {
          reason: 'session_store_unavailable', retryAfterSeconds: DEFAULTS.replayRetryAfterSeconds, detail: err.message, cause: err,
        });
      }
      throw err;
    }
  }

  async function session(app: CompiledWebApp, sessionId: string | undefined, record: SignInRecord, within: Deadline): Promise<SessionRecord> {
    if (sessionId === undefined || sessionId === '') throw loginRequired('no session: sign in first', 'session_missing');
    record.sessionHandle = sessionHandle(sessionId);
    const found = await vaultCall(() => deps.vault.read(sessionId, within));
    if (!found || found.appId !== app.id) throw loginRequired('the session has ended: please sign in again', 'session_missing');
    record.subject = found.subject;
    record.email = found.email;
    record.scopes = found.scopes;
    return found;
  }

  async function refresh(app: CompiledWebApp, sessionId: string, current: SessionRecord, record: SignInRecord, within: Deadline): Promise<SessionRecord> {
    if (!current.refreshToken) throw await endSession(sessionId, 'the session cannot be renewed: please sign in again', 'refresh_token_missing', within);
    if (current.refreshExpiresAtMs !== undefined && current.refreshExpiresAtMs <= now()) {
      throw await endSession(sessionId, 'the sign-in is too old to renew: please sign in again', 'refresh_token_expired', within);
    }
    let tokens: ProviderTokens;
    try {
      tokens = await deps.provider.refresh(app, current.refreshToken, within);
    } catch (err) {
      if (err instanceof ProviderFailure && err.kind === 'revoked') {
        throw await endSession(sessionId, 'the sign-in was revoked or has expired: please sign in again', 'refresh_token_revoked', within);
      }
      throw providerError(err);
    }
    const changes = {
      accessToken: { token: tokens.accessToken, expiresAtMs: tokens.expiresAtMs, scope: tokens.scope },
      ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
    };
    if (await vaultCall(() => deps.vault.update(sessionId, current.generation, changes, within))) {
      record.token = 'refreshed';
      return { ...current, ...changes, generation: current.generation + 1 };
    }
    // Another instance refreshed first: serve what it stored.
    const latest = await vaultCall(() => deps.vault.read(sessionId, within));
    if (!latest?.accessToken) throw loginRequired('the session has ended: please sign in again', 'session_missing');
    record.token = 'refreshed';
    return latest;
  }

  async function endSession(sessionId: string, description: string, reason: 'refresh_token_revoked' | 'refresh_token_missing' | 'refresh_token_expired', within: Deadline): Promise<BrokerError> {
    await vaultCall(() => deps.vault.delete(sessionId, within));
    return loginRequired(description, reason);
  }

  return {
    async login(appId, returnTo, record) {
      const app = appFor(appId, record);
      const target = returnTo ?? [...app.postLoginRedirects][0] ?? '';
      if (!app.postLoginRedirects.has(target)) throw invalidRequest('return_to is not one of the app\'s post_login_redirects', 'return_to_not_allowed');
      const within = deadline();
      const attemptId = randomToken();
      const codeVerifier = oidc.randomPKCECodeVerifier();
      const attempt = {
        appId: app.id,
        state: oidc.randomState(),
        nonce: oidc.randomNonce(),
        codeVerifier,
        returnTo: target,
        createdAtMs: now(),
        expiresAtMs: now() + DEFAULTS.loginAttemptTtlSeconds * 1000,
      };
      const url = await within.race(deps.provider.authorizationUrl(app, {
        state: attempt.state, nonce: attempt.nonce, codeChallenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      }, within).catch((err: unknown) => { throw providerError(err); }));
      await vaultCall(() => deps.attempts.put(attemptId, attempt, within));
      return { location: url.href, attemptId, maxAgeSeconds: DEFAULTS.loginAttemptTtlSeconds };
    },

    async callback(callbackUrl, attemptId, record) {
      if (attemptId === undefined || attemptId === '') throw invalidRequest('no login in progress in this browser (the pre-login cookie is missing)', 'login_state_missing');
      const within = deadline();
      // Taken (deleted) before anything else: a callback is good for one try.
      const attempt = await vaultCall(() => deps.attempts.take(attemptId, within));
      if (!attempt || attempt.expiresAtMs <= now()) throw invalidRequest('no login in progress in this browser, or it took too long', 'login_state_missing');
      const app = appFor(attempt.appId, record);
      const state = callbackUrl.searchParams.get('state') ?? '';
      if (!sameString(state, attempt.state)) throw invalidRequest('the state does not match this browser\'s login', 'state_mismatch');
      const providerError = callbackUrl.searchParams.get('error');
      if (providerError !== null) {
        throw new BrokerError('access_denied', 'the sign-in was not completed at the provider', { reason: 'sign_in_not_completed', detail: providerError.slice(0, 64) });
      }
      let user;
      try {
        user = await deps.provider.exchangeCode(app, callbackUrl, { state: attempt.state, nonce: attempt.nonce, codeVerifier: attempt.codeVerifier }, within);
      } catch (err) {
        throw codeExchangeError(err);
      }
      const subject = typeof user.claims.sub === 'string' ? user.claims.sub : '';
      record.subject = subject;
      record.email = typeof user.claims.email === 'string' ? user.claims.email : undefined;
      record.scopes = user.scope.split(' ').filter(Boolean);
      if (app.condition && !app.condition.evaluate(user.claims).matched) {
        // Not kept, so not left valid at the provider either.
        await deps.provider.revoke(app, user.refreshToken ?? user.accessToken, within).catch(() => { record.warning = 'revocation failed'; });
        throw new BrokerError('access_denied', 'this account may not sign in to this app', { reason: 'sign_in_condition_not_met' });
      }
      const sessionId = randomToken();
      record.sessionHandle = sessionHandle(sessionId);
      await vaultCall(() => deps.vault.create(sessionId, {
        appId: app.id,
        issuer: app.issuer,
        subject,
        ...(record.email ? { email: record.email } : {}),
        scopes: record.scopes ?? [],
        createdAtMs: now(),
        expiresAtMs: now() + app.sessionLifetimeSeconds * 1000,
        ...(user.refreshToken ? { refreshToken: user.refreshToken, refreshExpiresAtMs: now() + app.refreshTokenLifetimeSeconds * 1000 } : {}),
        accessToken: { token: user.accessToken, expiresAtMs: user.expiresAtMs, scope: user.scope },
      }, within));
      return { appId: app.id, sessionId, maxAgeSeconds: app.sessionLifetimeSeconds, returnTo: attempt.returnTo };
    },

    async sessionToken(appId, sessionId, browser, record) {
      const app = appFor(appId, record);
      checkBrowser(app, browser);
      const within = deadline();
      let current = await session(app, sessionId, record, within);
      if (deps.limiter) {
        const admission = await deps.limiter.admit(`session:${app.id}`, `${current.issuer}\u0000${current.subject}`, { requestsPerMinute: app.requestsPerMinute }, within);
        if (!admission.allowed) {
          throw new BrokerError('slow_down', 'rate limit reached (requests per minute)', { reason: 'limit_requests_per_minute', retryAfterSeconds: admission.retryAfterSeconds, detail: `session:${app.id}` });
        }
      }
      const token = current.accessToken;
      const remainingMs = token ? token.expiresAtMs - now() : 0;
      if (!token || remainingMs <= marginMs) {
        const id = sessionId as string;
        try {
          current = await within.race(refreshes.run(record.sessionHandle ?? id, () => refresh(app, id, current, record, within)));
          record.token ??= 'refreshed';
        } catch (err) {
          // The provider is away but the token still has a while: serve it, say so.
          if (token && remainingMs > DEFAULTS.sessionStaleFloorSeconds * 1000 && err instanceof BrokerError && err.code === 'temporarily_unavailable') {
            record.token = 'served_stale';
            record.warning = err.detail ?? err.description;
          } else {
            throw err;
          }
        }
      } else {
        record.token = 'vault';
      }
      const served = current.accessToken ?? token;
      if (!served) throw loginRequired('the session has ended: please sign in again', 'session_missing');
      return { access_token: served.token, token_type: 'Bearer', expires_in: Math.max(0, Math.floor((served.expiresAtMs - now()) / 1000)), scope: served.scope };
    },

    async logout(appId, sessionId, browser, record) {
      const app = appFor(appId, record);
      checkBrowser(app, browser);
      if (sessionId === undefined || sessionId === '') return; // nothing to end; the cookie is cleared all the same
      const within = deadline();
      record.sessionHandle = sessionHandle(sessionId);
      const found = await vaultCall(() => deps.vault.read(sessionId, within));
      if (found && found.appId === app.id) {
        record.subject = found.subject;
        const token = found.refreshToken ?? found.accessToken?.token;
        if (token) await deps.provider.revoke(app, token, within).catch((err: unknown) => { record.warning = `revocation failed: ${err instanceof Error ? err.message : String(err)}`; });
      }
      await vaultCall(() => deps.vault.delete(sessionId, within));
    },
  };
}

function loginRequired(description: string, reason: 'session_missing' | 'refresh_token_revoked' | 'refresh_token_missing' | 'refresh_token_expired'): BrokerError {
  return new BrokerError('login_required', description, { reason });
}

function providerError(err: unknown): BrokerError {
  if (err instanceof BrokerError) return err;
  if (err instanceof ProviderFailure && err.kind === 'unavailable') {
    return new BrokerError('temporarily_unavailable', 'the sign-in provider is unavailable; retry later', {
      reason: 'provider_unavailable', retryAfterSeconds: Math.max(1, Math.ceil((err.retryAfterMs ?? 5000) / 1000)), detail: err.message, cause: err,
    });
  }
  return new BrokerError('server_error', 'the sign-in provider refused the broker', { reason: 'provider_refused', detail: err instanceof Error ? err.message : String(err), cause: err });
}

function codeExchangeError(err: unknown): BrokerError {
  if (err instanceof ProviderFailure && err.kind === 'id_token_invalid') {
    return new BrokerError('invalid_grant', 'the sign-in could not be verified', { reason: 'id_token_invalid', detail: err.message, cause: err });
  }
  if (err instanceof ProviderFailure && (err.kind === 'revoked' || err.kind === 'refused')) {
    return new BrokerError('invalid_grant', 'the authorization code was not accepted', { reason: 'code_exchange_refused', detail: err.message, cause: err });
  }
  return providerError(err);
}

function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

function sameString(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}
