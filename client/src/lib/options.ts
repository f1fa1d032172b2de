/**
 * The client's options and what it hands back (camelCase API types; the broker's snake_case
 * wire types stay in request-token.ts).
 */
import type { CryptoKey, JWK, KeyObject } from 'jose';
import type { BrokerClientError } from './errors';

/**
 * Where a subject token comes from. Read again for every broker request, so a rotating token
 * (a projected Kubernetes token, a CI job's token) just works.
 *   - a string: the token itself;
 *   - `{ url }`: fetched with GET (e.g. a metadata endpoint), `headers` added; with
 *     `jsonField`, the token is that top-level member of a JSON answer, else the whole text;
 *   - a function: called each time.
 * The Node entry also takes `{ file }`.
 */
export type SubjectTokenSource =
  | string
  | { url: string; headers?: Record<string, string>; jsonField?: string }
  | (() => string | Promise<string>);

/** RFC 8693 token exchange: the caller's OIDC token (a CI job's, a pod's, a signed-in user's ID token). */
export interface SubjectTokenCredential<Source = SubjectTokenSource> {
  kind: 'subject_token';
  subjectToken: Source;
  /** `urn:ietf:params:oauth:token-type:jwt` (default) or `…:id_token`; the broker treats them alike. */
  subjectTokenType?: string;
}

/**
 * `client_credentials` with a client secret: HTTP Basic (`client_secret_basic`, the default) or
 * `client_id` and `client_secret` in the form body (`client_secret_post`). Never in a page or an
 * app shipped to users.
 */
export interface ClientSecretCredential {
  kind: 'client_secret';
  clientId: string;
  clientSecret: string;
  /** How the secret is sent (default `client_secret_basic`). */
  authMethod?: 'client_secret_basic' | 'client_secret_post';
}

/** What signs an RFC 7523 assertion: the client's id and private key. */
export interface AssertionSigner {
  clientId: string;
  /** A private key: a CryptoKey, a Node KeyObject, a private JWK, or PKCS#8 PEM text. */
  privateKey: CryptoKey | KeyObject | JWK | string;
  /** The signing algorithm, one of the client's `algorithms` in the policy (e.g. ES256, RS256, EdDSA). */
  algorithm: string;
  /** The key's `kid`; needed once the client has two keys of the same type. */
  keyId?: string;
  /** Assertion lifetime, 10–3600 s (default 60). */
  assertionLifetimeSeconds?: number;
}

/**
 * `client_credentials` with a client assertion (`private_key_jwt`, RFC 7523 §2.2) signed here
 * with jose: a new `jti` and a short lifetime for every request, `aud` the broker's issuer URL.
 */
export interface PrivateKeyJwtCredential extends AssertionSigner {
  kind: 'private_key_jwt';
}

/**
 * The jwt-bearer grant (RFC 7523 §2.1, `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`
 * with `assertion`): the same assertion as `private_key_jwt` (iss = sub = the client id, `aud`
 * the broker's issuer URL, a new `jti` for every request), presented as the grant itself.
 */
export interface JwtBearerCredential extends AssertionSigner {
  kind: 'jwt_bearer';
}

/** `client_credentials` with a broker API key in the `x-goog-api-key` header. */
export interface ApiKeyCredential {
  kind: 'api_key';
  apiKey: string;
}

/**
 * The browser session of the broker's user sign-in: `POST /v1/session/token?app=ID` with the
 * session cookie (`credentials: 'include'`) and `X-Token-Broker-CSRF: 1`. From a page of one
 * of the app's origins.
 */
export interface SessionCredential {
  kind: 'session';
  /** The `web_apps[].id` of the policy. */
  app: string;
}

export type BrokerCredential = SubjectTokenCredential | ClientSecretCredential | PrivateKeyJwtCredential | JwtBearerCredential | ApiKeyCredential | SessionCredential;

export interface RetryOptions {
  /** Attempts in all, the first included (default 4; 1 turns retries off). */
  maxAttempts?: number;
  /** Backoff base (default 250 ms): retry n waits a random time below min(maxDelayMs, baseDelayMs · 2^(n−1)). */
  baseDelayMs?: number;
  /** Backoff cap (default 8 s). */
  maxDelayMs?: number;
  /** The longest `Retry-After` waited for (default 60 s); a longer one surfaces the error at once. */
  maxRetryAfterMs?: number;
}

/** Time, for tests: `now()` in epoch milliseconds and `sleep(ms)`. Default: Date.now and setTimeout. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface BrokerClientOptions<Credential = BrokerCredential> {
  /** The broker's base URL, e.g. `https://broker.example.com`: https, or http to a loopback address (development). */
  brokerUrl: string;
  /**
   * The broker's issuer URL (`BROKER_ISSUER_URL`), the `aud` of client assertions. Default:
   * `brokerUrl`. Set it when you reach the broker under another URL than its issuer's.
   */
  issuerUrl?: string;
  credential: Credential;
  /** `audience`: a rule id, a rule's service account, or the broker's URL. */
  audience?: string;
  /** Scopes to ask for (a subset of the rule's); default: all of the rule's. */
  scope?: string | readonly string[];
  /** Token exchange only: `…:access_token` (default), `…:id_token` (with `resource`), or the broker's Gemini ephemeral type (never cached). */
  requestedTokenType?: string;
  /** Token exchange only: the audience of an ID token. */
  resource?: string;
  /** Ask for a shorter token (`options={"lifetimeSeconds": N}`), at least 60. */
  lifetimeSeconds?: number;
  /** Refresh this many seconds before expiry. Default: the larger of 60 s and 10 % of the token's lifetime. */
  refreshMarginSeconds?: number;
  retry?: RetryOptions;
  /**
   * Each attempt (subject token read, broker request, answer) is given up after this many
   * milliseconds (default 10 000; 0: no limit) and retried like a network error.
   */
  timeoutMs?: number;
  /** The fetch to use (default the global one). */
  fetch?: typeof fetch;
  clock?: Clock;
  /** Random numbers in [0, 1) for backoff jitter (default Math.random). */
  random?: () => number;
  /** Called when a refresh started ahead of expiry fails; the cached token is used until it expires. */
  onBackgroundRefreshError?: (error: unknown) => void;
}

/** Per call: a caller's `signal` ends the call with a BrokerAbortError, and nothing is retried after it. */
export interface RequestOptions {
  signal?: AbortSignal;
}

/** A token from the broker. */
export interface BrokerToken {
  /** The access token (or ID token, or Gemini ephemeral token name). */
  accessToken: string;
  /** `Bearer`, or `N_A` for ID tokens and Gemini ephemeral tokens. */
  tokenType: string;
  /** The broker's `issued_token_type`, when it sent one (the session endpoint does not). */
  issuedTokenType: string | undefined;
  /** When it expires, epoch milliseconds (counted from when the request was sent). */
  expiresAt: number;
  /** Its scopes, when the broker named them. */
  scopes: string[];
}

export type { BrokerClientError };
