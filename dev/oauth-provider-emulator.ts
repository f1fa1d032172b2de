/**
 * Loopback emulator of Google's OAuth 2.0 / OpenID Connect provider, the
 * upstream of the broker's user sign-in (authorization code + PKCE, the broker
 * being the confidential client).
 *
 * FOR TESTS AND LOCAL DEV MODE ONLY. It binds 127.0.0.1, keeps everything in
 * memory, signs ID tokens with an RSA key generated at start-up, and lets
 * anyone "sign in" as any demo user with one click. Never point production
 * code at it (production configuration refuses plain-HTTP loopback issuers).
 *
 * What it emulates (wire formats after Google's public documentation for
 * accounts.google.com / oauth2.googleapis.com and what google-auth-library
 * 10.9.1's `OAuth2Client` sends and expects):
 *
 *  - `GET /.well-known/openid-configuration`: discovery. `issuer` is the
 *    emulator's base URL (http://127.0.0.1:PORT), NOT https://accounts.google.com,
 *    so a client must be configured with the emulator as its issuer.
 *  - `GET /o/oauth2/v2/auth`: the authorization endpoint, `response_type=code`
 *    only. An unknown `client_id` or a `redirect_uri` not registered exactly
 *    (string equality) is an HTML error page, status 400, never a redirect, as
 *    Google does. After that, request errors are redirects to the client with
 *    `error=` (`unsupported_response_type`, `invalid_scope`, `invalid_request`)
 *    and `state`. A valid request answers a consent page: one
 *    `<form method="post" action="/o/oauth2/v2/auth/consent">` per demo user,
 *    whose button is `<button type="submit" name="user" value="SUB"
 *    id="continue-N" data-user="SUB">Continue as EMAIL</button>`, plus a
 *    "Cancel" form (`data-action="cancel"`) that redirects with
 *    `error=access_denied`. The request waits server-side under an opaque id
 *    (hidden field `auth_request`, single use, 10 minutes). `login_hint`
 *    (email or sub) lists that user first.
 *  - `POST /o/oauth2/v2/auth/consent` → 302 to `redirect_uri` with `code`,
 *    `state` (echoed exactly, omitted when the request had none) and `scope`.
 *    Like Google it sends no `iss` parameter (RFC 9207); like Google it
 *    expands `email` / `profile` into the userinfo scope URLs.
 *  - `POST /token` (form-encoded), client authentication by
 *    `client_secret_post` or HTTP Basic (RFC 6749 §2.3.1; the secret compared
 *    in constant time). Unknown client → 401 `invalid_client` "The OAuth client
 *    was not found."; wrong or missing secret → 401 `invalid_client`
 *    "Unauthorized". Repeated parameters → `invalid_request`.
 *    - `authorization_code`: single-use code (Google-shaped `4/0…`, default
 *      60 s). A second use is `invalid_grant` "Bad Request" and revokes every
 *      token issued from that code (RFC 6749 §4.1.2). An unknown or expired
 *      code, or one issued to another client → `invalid_grant` "Bad Request";
 *      a different `redirect_uri` → `redirect_uri_mismatch` "Bad Request" (what
 *      Google answers; RFC 6749 would say `invalid_grant`). PKCE (RFC 7636,
 *      `plain` and `S256`; `plain` when the method is omitted): missing
 *      verifier → `invalid_grant` "Missing code verifier.", wrong one →
 *      "Invalid code verifier.". A failed check does not consume the code.
 *      Answer `{access_token, expires_in, scope, token_type: "Bearer",
 *      id_token, refresh_token}`, `Cache-Control: no-store`. `id_token` only
 *      when `openid` was granted; `refresh_token` only when
 *      `access_type=offline` was requested AND (this is the first consent of
 *      this user to this client since start-up or since its grant was revoked,
 *      OR `prompt` included `consent`) — Google's rule.
 *    - `refresh_token`: a new access token (and an ID token without `nonce`
 *      when `openid` was granted). No new refresh token unless the
 *      `refreshTokenRotation` option is on; then every refresh returns a new
 *      one and the old one dies, and presenting a dead one again revokes the
 *      whole family (RFC 9700 §4.14.2). Unknown, revoked or rotated-out token
 *      → 400 `invalid_grant` "Token has been expired or revoked."; a refresh
 *      token of another client → 400 `unauthorized_client` "Unauthorized".
 *    Access tokens are opaque `ya29.…` strings; refresh tokens `1//…`.
 *  - ID tokens: RS256 JWT, `kid` in the JWKS; claims `iss`, `azp` and `aud`
 *    (the client id), `sub`, `at_hash`, `iat`, `exp`, `nonce` (code exchange
 *    only, when the request had one), `hd` (when the user has one), `email` and
 *    `email_verified` (with the `email` scope), `name` (with `profile`), as
 *    Google does.
 *  - `POST /revoke` with `token` as form field or query parameter
 *    (google-auth-library sends the query) → 200 `{}`. Revoking a refresh token
 *    revokes it, its rotation family and every access token minted from them;
 *    revoking an access token also revokes the refresh token it came with
 *    (Google documents this). Unknown or already dead token → 400
 *    `{"error":"invalid_token","error_description":"Token expired or revoked"}`.
 *    Revocation also forgets the user's consent to that client (the next
 *    offline request gets a refresh token again).
 *  - `GET /oauth2/v3/certs` (JWKS) and `GET /oauth2/v1/certs` (kid → SPKI PEM,
 *    what `OAuth2Client.verifyIdToken` downloads).
 *  - `GET|POST /oauth2/v3/tokeninfo` (also `/tokeninfo`) for access tokens it
 *    issued, given as `access_token` query/form field or `Authorization:
 *    Bearer`: `{azp, aud, sub, scope, exp, expires_in, email, email_verified,
 *    access_type}` with string values, email only with the email scope; a
 *    dead or unknown token → 400 `invalid_token` "Invalid Value".
 *  - `GET /v1/userinfo` (Google serves it on openidconnect.googleapis.com)
 *    with a Bearer access token.
 *  - Fault injection from code (`emulator.faults`): the next N requests to an
 *    endpoint answer a status (429/500/503…, optional Retry-After) or are held
 *    T ms first.
 *
 * What it does NOT emulate (know this before trusting a green test):
 *  - Real Google accounts, passwords, 2-step verification, account chooser,
 *    session cookies: "signing in" is one click on a demo user, every time
 *    (`prompt=none` is treated like any other prompt: the page is shown).
 *  - Consent persistence across restarts, granular consent (the user cannot
 *    untick scopes), incremental authorization (`include_granted_scopes` is
 *    ignored), OAuth app verification / testing-mode limits, the 100
 *    refresh-token-per-user limit, refresh-token expiry
 *    (`refresh_token_expires_in`) and reauth (RAPT) policies.
 *  - Public clients (native / SPA without a secret), other grant types (device,
 *    JWT bearer, token exchange), the implicit and hybrid flows, response modes
 *    other than query, PAR, `claims`/`request` parameters, `hd`/`login_hint`
 *    restrictions, `authuser` in the redirect.
 *  - Scope validation beyond: `openid`, `email`, `profile` and any
 *    `https://www.googleapis.com/auth/…` URL are accepted, anything else is
 *    `invalid_scope`. Narrowing `scope` on refresh is ignored.
 *  - Exact wording of messages not quoted above; exact bodies of injected 5xx
 *    (RFC 6749 codes `server_error` / `temporarily_unavailable` and Google's
 *    `rate_limit_exceeded` for 429 are used); the HTML of Google's pages.
 *  - Assumptions where no authoritative source was found, chosen to fail
 *    closed: a `code_verifier` sent for a code issued without a challenge is
 *    refused (PKCE downgrade, RFC 9700 §2.1.1); a failed check at the token
 *    endpoint leaves the code usable; revoking one refresh token does not
 *    revoke the user's other refresh tokens for the same client (Google may
 *    revoke the whole grant); `unauthorized_client` is sent with status 400.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash, createPublicKey, randomBytes, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { closeServer, jsonReply, listen, notFoundPage, writeReply, type Reply } from './google-emulator';

// ─────────────────────────────────────────────────────────────────────────────
// Public API
// ─────────────────────────────────────────────────────────────────────────────

export interface OAuthClient {
  clientId: string;
  clientSecret: string;
  /** Absolute URLs; the authorization request's `redirect_uri` must equal one exactly. */
  redirectUris: string[];
}

export interface DemoUser {
  /** Stable subject identifier (Google's are 21-digit numbers). */
  sub: string;
  email: string;
  name: string;
  /** Google Workspace domain; put in the ID token's `hd` claim. */
  hd?: string;
  /** Default true. */
  emailVerified?: boolean;
}

export interface OAuthProviderEmulatorOptions {
  port?: number; // default 0 (ephemeral)
  clients: OAuthClient[];
  /** Who can "sign in"; default DEFAULT_DEMO_USERS. */
  users?: DemoUser[];
  /** Access-token lifetime (`expires_in`), default 3600. */
  accessTokenSeconds?: number;
  /** ID-token lifetime, default 3600. */
  idTokenSeconds?: number;
  /** Authorization-code lifetime, default 60. */
  codeSeconds?: number;
  /** Default false, like Google: the refresh token stays the same. True: each refresh returns a new one, the old one dies. */
  refreshTokenRotation?: boolean;
  /** ms clock, default Date.now. Drives code/token expiry and the ID token's iat/exp. */
  now?: () => number;
}

export interface OAuthProviderEmulator {
  /** Base URL and OIDC issuer, e.g. http://127.0.0.1:PORT. */
  readonly url: string;
  readonly issuer: string;
  readonly faults: OAuthFaultSwitches;
  /** Every request received, oldest first: names only, never values. */
  readonly requests: RecordedOAuthRequest[];
  addClient(client: OAuthClient): void;
  addUser(user: DemoUser): void;
  /** A snapshot of everything issued and its state (values included: tests need them). */
  issued(): IssuedSnapshot;
  /** Simulates the user removing the app upstream for one refresh token; false if unknown or already dead. */
  revokeRefreshToken(refreshToken: string): boolean;
  /** Simulates the user removing every app (or just `clientId`): revokes all their live refresh and access tokens; returns how many. */
  revokeAllFor(sub: string, clientId?: string): number;
  /** The emulator's clock, in ms. */
  now(): number;
  /** Stops listening, drops connections (held requests included). Idempotent. */
  close(): Promise<void>;
}

export type OAuthEndpointName = 'authorize' | 'consent' | 'token' | 'revoke' | 'tokeninfo' | 'userinfo';

export const OAUTH_ENDPOINT_NAMES: readonly OAuthEndpointName[] = ['authorize', 'consent', 'token', 'revoke', 'tokeninfo', 'userinfo'];

export interface OAuthFaultSwitches {
  /**
   * The next `count` (default 1; Infinity = until cleared) requests to `match` (default: any emulated endpoint
   * above; discovery and certs are never faulted) answer `status` with an OAuth error body, and Retry-After when given.
   */
  failNext(opts: { status: number; count?: number; retryAfterSeconds?: number; match?: OAuthEndpointName }): void;
  /** The next `count` matching requests are held `ms` before being answered normally (a slow or hung upstream). */
  delayNext(opts: { ms: number; count?: number; match?: OAuthEndpointName }): void;
  clear(): void;
}

export interface RecordedOAuthRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  endpoint?: OAuthEndpointName;
  /** Names of query parameters and form fields, in order (values are never recorded). */
  queryNames: string[];
  formNames: string[];
  /** Scheme of the Authorization header, if any ('Basic', 'Bearer'). */
  authScheme?: string;
  /** Status answered (undefined while in flight or if the socket was destroyed). */
  status?: number;
}

export type CodeState = 'unused' | 'used' | 'expired';
export type TokenState = 'active' | 'expired' | 'revoked';
export type RefreshTokenState = 'active' | 'rotated' | 'revoked';

export interface IssuedSnapshot {
  codes: Array<{
    code: string;
    clientId: string;
    sub: string;
    scope: string;
    redirectUri: string;
    codeChallengeMethod?: 'plain' | 'S256';
    nonce?: string;
    offline: boolean;
    expiresAt: number;
    state: CodeState;
  }>;
  accessTokens: Array<{ token: string; clientId: string; sub: string; scope: string; expiresAt: number; grant: 'authorization_code' | 'refresh_token'; state: TokenState }>;
  refreshTokens: Array<{ token: string; clientId: string; sub: string; scope: string; issuedAt: number; state: RefreshTokenState }>;
}

export const DEFAULT_DEMO_USERS: readonly DemoUser[] = [
  { sub: '100000000000000000001', email: 'alice@example.com', name: 'Alice Example', hd: 'example.com' },
  { sub: '100000000000000000002', email: 'bob@example.org', name: 'Bob Example' },
];

/** Named defaults (seconds). */
export const DEFAULTS = {
  accessTokenSeconds: 3600,
  idTokenSeconds: 3600,
  codeSeconds: 60,
  /** How long a consent page stays usable. */
  pendingRequestSeconds: 600,
  /** Largest request body read. */
  maxBodyBytes: 64 * 1024,
} as const;

export const AUTHORIZE_PATH = '/o/oauth2/v2/auth';
export const CONSENT_PATH = '/o/oauth2/v2/auth/consent';

// ─────────────────────────────────────────────────────────────────────────────
// Wire types
// ─────────────────────────────────────────────────────────────────────────────

export interface TokenResponseWire {
  access_token: string;
  expires_in: number;
  scope: string;
  token_type: 'Bearer';
  id_token?: string;
  refresh_token?: string;
}

export interface OAuthErrorWire {
  error: string;
  error_description: string;
}

export interface IdTokenClaimsWire {
  iss: string;
  azp: string;
  aud: string;
  sub: string;
  at_hash: string;
  iat: number;
  exp: number;
  nonce?: string;
  hd?: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
}

// ─────────────────────────────────────────────────────────────────────────────
// The error catalogue: every OAuth error this emulator answers, defined once
// ─────────────────────────────────────────────────────────────────────────────

interface OAuthError {
  status: number;
  error: string;
  description: string;
}

export const OAUTH_ERRORS = {
  clientNotFound: { status: 401, error: 'invalid_client', description: 'The OAuth client was not found.' },
  clientUnauthorized: { status: 401, error: 'invalid_client', description: 'Unauthorized' },
  badCode: { status: 400, error: 'invalid_grant', description: 'Bad Request' },
  redirectUriMismatch: { status: 400, error: 'redirect_uri_mismatch', description: 'Bad Request' },
  missingCodeVerifier: { status: 400, error: 'invalid_grant', description: 'Missing code verifier.' },
  invalidCodeVerifier: { status: 400, error: 'invalid_grant', description: 'Invalid code verifier.' },
  refreshTokenDead: { status: 400, error: 'invalid_grant', description: 'Token has been expired or revoked.' },
  refreshTokenOtherClient: { status: 400, error: 'unauthorized_client', description: 'Unauthorized' },
  revokeUnknown: { status: 400, error: 'invalid_token', description: 'Token expired or revoked' },
  tokenInfoInvalid: { status: 400, error: 'invalid_token', description: 'Invalid Value' },
  userInfoInvalid: { status: 401, error: 'invalid_request', description: 'Invalid Credentials' },
  unsupportedContentType: { status: 400, error: 'invalid_request', description: 'Content-Type must be application/x-www-form-urlencoded' },
  bodyTooLarge: { status: 413, error: 'invalid_request', description: 'Request body too large' },
} as const satisfies Record<string, OAuthError>;

function missingParameter(name: string): OAuthError {
  return { status: 400, error: 'invalid_request', description: `Missing required parameter: ${name}` };
}

function duplicateParameter(name: string): OAuthError {
  return { status: 400, error: 'invalid_request', description: `Parameter included more than once: ${name}` };
}

function unsupportedGrantType(grantType: string): OAuthError {
  return { status: 400, error: 'unsupported_grant_type', description: `Invalid grant_type: ${grantType}` };
}

/** Injected failures: RFC 6749 codes, Google's for 429. */
function injectedError(status: number): OAuthError {
  if (status === 429) return { status, error: 'rate_limit_exceeded', description: 'Rate Limit Exceeded' };
  if (status === 503) return { status, error: 'temporarily_unavailable', description: 'Service Unavailable' };
  if (status >= 500) return { status, error: 'server_error', description: 'Backend Error' };
  return { status, error: 'invalid_request', description: 'Injected fault' };
}

const NO_STORE = { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate', pragma: 'no-cache' };

function errorReply(err: OAuthError, headers: Record<string, string> = {}): Reply {
  const body: OAuthErrorWire = { error: err.error, error_description: err.description };
  return jsonReply(err.status, body, { ...NO_STORE, ...headers });
}

// ─────────────────────────────────────────────────────────────────────────────
// Internal state
// ─────────────────────────────────────────────────────────────────────────────

interface PendingAuthRequest {
  id: string;
  clientId: string;
  redirectUri: string;
  scopes: string[];
  /** The `scope` echoed in the redirect (requested + expansions). */
  redirectScope: string;
  state?: string;
  nonce?: string;
  codeChallenge?: string;
  codeChallengeMethod?: 'plain' | 'S256';
  offline: boolean;
  promptConsent: boolean;
  expiresAt: number;
}

interface CodeRecord {
  code: string;
  clientId: string;
  sub: string;
  scopes: string[];
  redirectUri: string;
  nonce?: string;
  codeChallenge?: string;
  codeChallengeMethod?: 'plain' | 'S256';
  offline: boolean;
  /** Decided at consent time (Google's first-consent rule). */
  issueRefreshToken: boolean;
  expiresAt: number;
  used: boolean;
  /** Tokens minted from this code, revoked if the code is replayed. */
  accessTokens: string[];
  refreshToken?: string;
}

interface AccessTokenRecord {
  token: string;
  clientId: string;
  sub: string;
  scopes: string[];
  expiresAt: number;
  grant: 'authorization_code' | 'refresh_token';
  revoked: boolean;
  /** Refresh-token family it belongs to (revoking the family revokes it). */
  family?: RefreshFamily;
}

/** A refresh token and its rotated successors: one grant. */
interface RefreshFamily {
  clientId: string;
  sub: string;
  scopes: string[];
  tokens: RefreshTokenRecord[];
  accessTokens: AccessTokenRecord[];
}

interface RefreshTokenRecord {
  token: string;
  issuedAt: number;
  state: RefreshTokenState;
  family: RefreshFamily;
}

interface Signer {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicPem: string;
}

interface State {
  readonly now: () => number;
  readonly lifetimes: { accessTokenSeconds: number; idTokenSeconds: number; codeSeconds: number };
  readonly rotation: boolean;
  readonly clients: Map<string, OAuthClient>;
  readonly users: Map<string, DemoUser>;
  readonly pending: Map<string, PendingAuthRequest>;
  readonly codes: Map<string, CodeRecord>;
  readonly accessTokens: Map<string, AccessTokenRecord>;
  readonly refreshTokens: Map<string, RefreshTokenRecord>;
  /** `clientId\nsub` pairs the user has consented to (Google's "first consent" rule). */
  readonly consents: Set<string>;
  readonly signer: Signer;
  readonly faults: FaultEngine;
  readonly requests: RecordedOAuthRequest[];
  issuer: string;
}

interface Ctx {
  method: string;
  url: URL;
  headers: IncomingMessage['headers'];
  /** Parsed form body (empty when none or not form-encoded). */
  form: URLSearchParams;
  formError?: OAuthError;
}

// ─────────────────────────────────────────────────────────────────────────────
// Entry point
// ─────────────────────────────────────────────────────────────────────────────

/** Starts the emulator on 127.0.0.1 and resolves once it is listening. Misconfiguration throws TypeError. */
export async function startOAuthProviderEmulator(options: OAuthProviderEmulatorOptions): Promise<OAuthProviderEmulator> {
  const state = await createState(options);
  const stopping = new AbortController();
  const server = createServer((req, res) => {
    void serve(state, stopping.signal, req, res);
  });
  const url = await listen(server, options.port ?? 0);
  state.issuer = url;
  let closing: Promise<void> | undefined;
  return {
    url,
    issuer: url,
    faults: state.faults,
    requests: state.requests,
    addClient: (client) => registerClient(state.clients, client),
    addUser: (user) => registerUser(state.users, user),
    issued: () => snapshot(state),
    revokeRefreshToken: (token) => {
      const record = state.refreshTokens.get(token);
      if (!record || record.state !== 'active') return false;
      revokeFamily(state, record.family);
      return true;
    },
    revokeAllFor: (sub, clientId) => revokeAllFor(state, sub, clientId),
    now: state.now,
    close: () => {
      stopping.abort(); // releases requests held by delayNext
      closing ??= closeServer(server);
      return closing;
    },
  };
}

async function createState(options: OAuthProviderEmulatorOptions): Promise<State> {
  const lifetimes = {
    accessTokenSeconds: positiveSeconds(options.accessTokenSeconds, DEFAULTS.accessTokenSeconds, 'accessTokenSeconds'),
    idTokenSeconds: positiveSeconds(options.idTokenSeconds, DEFAULTS.idTokenSeconds, 'idTokenSeconds'),
    codeSeconds: positiveSeconds(options.codeSeconds, DEFAULTS.codeSeconds, 'codeSeconds'),
  };
  if (!Array.isArray(options.clients)) throw new TypeError('clients must be an array');
  // Validate the configuration before the (slow) key generation.
  const clients = new Map<string, OAuthClient>();
  for (const client of options.clients) registerClient(clients, client);
  const users = new Map<string, DemoUser>();
  for (const user of options.users ?? DEFAULT_DEMO_USERS) registerUser(users, user);
  return {
    now: options.now ?? Date.now,
    lifetimes,
    rotation: options.refreshTokenRotation ?? false,
    clients,
    users,
    pending: new Map(),
    codes: new Map(),
    accessTokens: new Map(),
    refreshTokens: new Map(),
    consents: new Set(),
    signer: await createSigner(),
    faults: new FaultEngine(),
    requests: [],
    issuer: '',
  };
}

function positiveSeconds(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw new TypeError(`${name} must be a whole number of seconds > 0, got ${String(value)}`);
  return value;
}

function registerClient(clients: Map<string, OAuthClient>, client: OAuthClient): void {
  const { clientId, clientSecret, redirectUris } = client;
  if (typeof clientId !== 'string' || clientId === '') throw new TypeError('clientId must be a non-empty string');
  if (typeof clientSecret !== 'string' || clientSecret === '') throw new TypeError(`client ${clientId}: clientSecret must be a non-empty string`);
  if (clients.has(clientId)) throw new TypeError(`client ${clientId} is already registered`);
  if (!Array.isArray(redirectUris) || redirectUris.length === 0) throw new TypeError(`client ${clientId}: redirectUris must list at least one URL`);
  for (const uri of redirectUris) {
    if (typeof uri !== 'string' || !URL.canParse(uri) || new URL(uri).hash !== '') {
      throw new TypeError(`client ${clientId}: redirect URI ${String(uri)} must be an absolute URL without fragment`);
    }
  }
  clients.set(clientId, { clientId, clientSecret, redirectUris: [...redirectUris] });
}

function registerUser(users: Map<string, DemoUser>, user: DemoUser): void {
  if (typeof user.sub !== 'string' || user.sub === '') throw new TypeError('user sub must be a non-empty string');
  if (typeof user.email !== 'string' || !user.email.includes('@')) throw new TypeError(`user ${user.sub}: email must be an email address`);
  if (users.has(user.sub)) throw new TypeError(`user ${user.sub} is already registered`);
  users.set(user.sub, { ...user });
}

async function createSigner(): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  const publicPem = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
  return { kid, privateKey, publicJwk: { ...jwk, kid, alg: 'RS256', use: 'sig' }, publicPem };
}

// ─────────────────────────────────────────────────────────────────────────────
// HTTP plumbing
// ─────────────────────────────────────────────────────────────────────────────

interface Route {
  method: 'GET' | 'POST' | 'GET|POST';
  path: string;
  endpoint?: OAuthEndpointName;
  handle: (state: State, ctx: Ctx) => Reply | Promise<Reply>;
}

const ROUTES: readonly Route[] = [
  { method: 'GET', path: '/.well-known/openid-configuration', handle: handleDiscovery },
  { method: 'GET', path: AUTHORIZE_PATH, endpoint: 'authorize', handle: handleAuthorize },
  { method: 'POST', path: CONSENT_PATH, endpoint: 'consent', handle: handleConsent },
  { method: 'POST', path: '/token', endpoint: 'token', handle: handleToken },
  { method: 'POST', path: '/revoke', endpoint: 'revoke', handle: handleRevoke },
  { method: 'GET', path: '/oauth2/v3/certs', handle: (state) => jsonReply(200, { keys: [state.signer.publicJwk] }) },
  { method: 'GET', path: '/oauth2/v1/certs', handle: (state) => jsonReply(200, { [state.signer.kid]: state.signer.publicPem }) },
  { method: 'GET|POST', path: '/oauth2/v3/tokeninfo', endpoint: 'tokeninfo', handle: handleTokenInfo },
  { method: 'GET|POST', path: '/tokeninfo', endpoint: 'tokeninfo', handle: handleTokenInfo },
  { method: 'GET', path: '/v1/userinfo', endpoint: 'userinfo', handle: handleUserInfo },
];

/** One request: read, record (names only), route, apply faults, answer. Never lets an error escape. */
async function serve(state: State, stopping: AbortSignal, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const record: RecordedOAuthRequest = { method: req.method ?? 'GET', path: '/', queryNames: [], formNames: [] };
  try {
    const ctx = await readRequest(req);
    const route = ROUTES.find((r) => r.path === ctx.url.pathname && r.method.split('|').includes(ctx.method));
    Object.assign(record, describe(ctx, route?.endpoint));
    state.requests.push(record);
    const reply = route ? await answer(state, stopping, route, ctx) : notFoundPage(ctx.url.pathname);
    if (reply === undefined) return; // shutting down mid-delay
    record.status = reply.status;
    writeReply(res, reply);
  } catch (err) {
    record.status = 500;
    if (!res.headersSent) writeReply(res, errorReply({ status: 500, error: 'server_error', description: `Emulator bug: ${String(err)}` }));
  }
}

async function answer(state: State, stopping: AbortSignal, route: Route, ctx: Ctx): Promise<Reply | undefined> {
  if (route.endpoint) {
    const fault = state.faults.take(route.endpoint);
    if (fault?.kind === 'delay') {
      try {
        await sleep(fault.ms, undefined, { signal: stopping });
      } catch {
        return undefined;
      }
    }
    if (fault?.kind === 'fail') {
      const headers: Record<string, string> = fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) };
      return errorReply(injectedError(fault.status), headers);
    }
  }
  return route.handle(state, ctx);
}

function describe(ctx: Ctx, endpoint?: OAuthEndpointName): Partial<RecordedOAuthRequest> {
  const scheme = /^(\S+)\s/.exec(String(ctx.headers.authorization ?? ''))?.[1];
  return {
    method: ctx.method,
    path: ctx.url.pathname,
    queryNames: [...ctx.url.searchParams.keys()],
    formNames: [...ctx.form.keys()],
    ...(endpoint ? { endpoint } : {}),
    ...(scheme ? { authScheme: scheme } : {}),
  };
}

async function readRequest(req: IncomingMessage): Promise<Ctx> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > DEFAULTS.maxBodyBytes) tooLarge = true;
    else chunks.push(chunk);
  }
  const ctx: Ctx = {
    method: req.method ?? 'GET',
    url: new URL(req.url ?? '/', 'http://127.0.0.1'),
    headers: req.headers,
    form: new URLSearchParams(),
  };
  if (tooLarge) ctx.formError = OAUTH_ERRORS.bodyTooLarge;
  else if (size > 0) {
    const type = String(req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type === 'application/x-www-form-urlencoded') ctx.form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    else ctx.formError = OAUTH_ERRORS.unsupportedContentType;
  }
  return ctx;
}

/** RFC 6749 §3.1: parameters must not be repeated. Returns the first repeated name. */
function repeatedParameter(params: URLSearchParams): string | undefined {
  const seen = new Set<string>();
  for (const name of params.keys()) {
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

function htmlPage(status: number, title: string, body: string, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: {
      'content-type': 'text/html; charset=UTF-8',
      'x-frame-options': 'DENY',
      'cache-control': 'no-store',
      ...headers,
    },
    text: `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n<body>\n${body}\n</body></html>\n`,
  };
}

/** Google's "Access blocked" page for errors it will not redirect (bad client or redirect URI). */
function authErrorPage(error: string, description: string): Reply {
  return htmlPage(
    400,
    `Error 400: ${error}`,
    `<h1>Access blocked: this app’s request is invalid</h1>\n<p id="error" data-error="${escapeHtml(error)}">Error 400: ${escapeHtml(error)}</p>\n<p id="error-description">${escapeHtml(description)}</p>`,
  );
}

function redirect(location: string): Reply {
  return { status: 302, headers: { location, 'cache-control': 'no-store', 'content-type': 'text/html; charset=UTF-8' }, text: '' };
}

function redirectWith(redirectUri: string, params: Record<string, string | undefined>): Reply {
  const target = new URL(redirectUri);
  for (const [name, value] of Object.entries(params)) if (value !== undefined) target.searchParams.append(name, value);
  return redirect(target.toString());
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function opaque(prefix: string, bytes = 32): string {
  return `${prefix}${randomBytes(bytes).toString('base64url')}`;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Constant-time string comparison (digests first, so lengths do not leak). */
function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

// ─────────────────────────────────────────────────────────────────────────────
// Discovery
// ─────────────────────────────────────────────────────────────────────────────

export const SUPPORTED_SCOPES = ['openid', 'email', 'profile'] as const;

function handleDiscovery(state: State): Reply {
  const base = state.issuer;
  return jsonReply(200, {
    issuer: base,
    authorization_endpoint: `${base}${AUTHORIZE_PATH}`,
    token_endpoint: `${base}/token`,
    userinfo_endpoint: `${base}/v1/userinfo`,
    revocation_endpoint: `${base}/revoke`,
    jwks_uri: `${base}/oauth2/v3/certs`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: [...SUPPORTED_SCOPES],
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    claims_supported: ['aud', 'email', 'email_verified', 'exp', 'hd', 'iat', 'iss', 'name', 'nonce', 'sub', 'azp', 'at_hash'],
    code_challenge_methods_supported: ['plain', 'S256'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
  });
}

// ─────────────────────────────────────────────────────────────────────────────
// Authorization endpoint: validate → remember → consent page
// ─────────────────────────────────────────────────────────────────────────────

const USERINFO_EMAIL = 'https://www.googleapis.com/auth/userinfo.email';
const USERINFO_PROFILE = 'https://www.googleapis.com/auth/userinfo.profile';
const PKCE_VALUE = /^[A-Za-z0-9\-._~]{43,128}$/;

function handleAuthorize(state: State, ctx: Ctx): Reply {
  const params = ctx.url.searchParams;
  // 1. Client and redirect URI: errors here are pages, never redirects.
  const repeated = repeatedParameter(params);
  if (repeated !== undefined) return authErrorPage('invalid_request', `Parameter included more than once: ${repeated}`);
  const clientId = params.get('client_id');
  if (!clientId) return authErrorPage('invalid_request', 'Missing required parameter: client_id');
  const client = state.clients.get(clientId);
  if (!client) return authErrorPage('invalid_client', 'The OAuth client was not found.');
  const redirectUri = params.get('redirect_uri');
  if (!redirectUri) return authErrorPage('invalid_request', 'Missing required parameter: redirect_uri');
  if (!client.redirectUris.includes(redirectUri)) {
    return authErrorPage('redirect_uri_mismatch', `The redirect URI in the request, ${redirectUri}, does not match the ones authorized for the OAuth client.`);
  }
  // 2. Everything else is reported to the client by redirect.
  const stateParam = params.get('state') ?? undefined;
  const fail = (error: string, description: string): Reply => redirectWith(redirectUri, { error, error_description: description, state: stateParam });
  const responseType = params.get('response_type');
  if (!responseType) return fail('invalid_request', 'Missing required parameter: response_type');
  if (responseType !== 'code') return fail('unsupported_response_type', `Unsupported response_type: ${responseType}`);
  const requested = (params.get('scope') ?? '').split(' ').filter((s) => s !== '');
  if (requested.length === 0) return fail('invalid_request', 'Missing required parameter: scope');
  const badScope = requested.find((s) => !isKnownScope(s));
  if (badScope !== undefined) return fail('invalid_scope', `Some requested scopes were invalid. {invalid=[${badScope}]}`);
  const pkce = checkCodeChallenge(params);
  if (!pkce.ok) return fail('invalid_request', pkce.description);
  const accessType = params.get('access_type') ?? 'online';
  if (accessType !== 'online' && accessType !== 'offline') return fail('invalid_request', `Invalid access_type: ${accessType}`);
  const prompts = (params.get('prompt') ?? '').split(' ').filter((p) => p !== '');
  // 3. Remember the request server-side; the page carries only its id.
  const pending: PendingAuthRequest = {
    id: opaque('', 24),
    clientId,
    redirectUri,
    scopes: normaliseScopes(requested),
    redirectScope: redirectScope(requested),
    offline: accessType === 'offline',
    promptConsent: prompts.includes('consent'),
    expiresAt: state.now() + DEFAULTS.pendingRequestSeconds * 1000,
    ...(stateParam !== undefined ? { state: stateParam } : {}),
    ...(params.has('nonce') ? { nonce: params.get('nonce') ?? '' } : {}),
    ...pkce.value,
  };
  dropExpiredPending(state);
  state.pending.set(pending.id, pending);
  return consentPage(state, pending, client, params.get('login_hint') ?? undefined);
}

function isKnownScope(scope: string): boolean {
  return (SUPPORTED_SCOPES as readonly string[]).includes(scope) || /^https:\/\/www\.googleapis\.com\/auth\/[A-Za-z0-9._\-/]+$/.test(scope);
}

/** Scopes as the token endpoint reports them: `email`/`profile` become their URLs, de-duplicated. */
function normaliseScopes(requested: string[]): string[] {
  const mapped = requested.map((s) => (s === 'email' ? USERINFO_EMAIL : s === 'profile' ? USERINFO_PROFILE : s));
  return [...new Set(mapped)];
}

/** What Google echoes in the redirect: the request's scopes plus the expanded URLs. */
function redirectScope(requested: string[]): string {
  const extra = normaliseScopes(requested).filter((s) => !requested.includes(s));
  return [...new Set([...requested, ...extra])].join(' ');
}

function checkCodeChallenge(
  params: URLSearchParams,
): { ok: true; value: { codeChallenge?: string; codeChallengeMethod?: 'plain' | 'S256' } } | { ok: false; description: string } {
  const challenge = params.get('code_challenge');
  const method = params.get('code_challenge_method');
  if (challenge === null) {
    return method === null ? { ok: true, value: {} } : { ok: false, description: 'Missing required parameter: code_challenge' };
  }
  const resolved = method ?? 'plain';
  if (resolved !== 'plain' && resolved !== 'S256') return { ok: false, description: `Invalid code_challenge_method: ${resolved}` };
  if (!PKCE_VALUE.test(challenge)) return { ok: false, description: 'Invalid code_challenge.' };
  return { ok: true, value: { codeChallenge: challenge, codeChallengeMethod: resolved } };
}

function dropExpiredPending(state: State): void {
  const now = state.now();
  for (const [id, pending] of state.pending) if (pending.expiresAt <= now) state.pending.delete(id);
}

function consentPage(state: State, pending: PendingAuthRequest, client: OAuthClient, loginHint?: string): Reply {
  const users = [...state.users.values()];
  const hinted = users.findIndex((u) => u.email === loginHint || u.sub === loginHint);
  if (hinted > 0) users.unshift(...users.splice(hinted, 1));
  const hidden = `<input type="hidden" name="auth_request" value="${escapeHtml(pending.id)}">`;
  const userForms = users.map(
    (user, i) =>
      `<form method="post" action="${CONSENT_PATH}">${hidden}` +
      `<button type="submit" name="user" value="${escapeHtml(user.sub)}" id="continue-${i}" data-user="${escapeHtml(user.sub)}" data-email="${escapeHtml(user.email)}">` +
      `Continue as ${escapeHtml(user.email)}</button></form>`,
  );
  const cancel =
    `<form method="post" action="${CONSENT_PATH}">${hidden}` +
    `<button type="submit" name="cancel" value="1" id="cancel" data-action="cancel">Cancel</button></form>`;
  const scopes = pending.scopes.map((s) => `<li>${escapeHtml(s)}</li>`).join('');
  return htmlPage(
    200,
    'Sign in – OAuth provider emulator',
    `<h1>Choose an account</h1>\n<p>to continue to <b id="client">${escapeHtml(client.clientId)}</b> (emulator: no password, any demo user).</p>\n` +
      `<ul id="scopes">${scopes}</ul>\n${userForms.join('\n')}\n${cancel}`,
  );
}

// ─────────────────────────────────────────────────────────────────────────────
// Consent: the user's click → code
// ─────────────────────────────────────────────────────────────────────────────

function handleConsent(state: State, ctx: Ctx): Reply {
  if (ctx.formError) return authErrorPage('invalid_request', ctx.formError.description);
  const id = ctx.form.get('auth_request');
  const pending = id === null ? undefined : state.pending.get(id);
  if (!pending || pending.expiresAt <= state.now()) {
    return authErrorPage('invalid_request', 'This sign-in request is unknown, was already used, or has expired. Start again.');
  }
  state.pending.delete(pending.id); // single use
  if (ctx.form.has('cancel')) {
    return redirectWith(pending.redirectUri, { error: 'access_denied', state: pending.state });
  }
  const user = state.users.get(ctx.form.get('user') ?? '');
  if (!user) return authErrorPage('invalid_request', 'Unknown user.');
  const consentKey = `${pending.clientId}\n${user.sub}`;
  const firstConsent = !state.consents.has(consentKey);
  state.consents.add(consentKey);
  const code: CodeRecord = {
    code: opaque('4/0', 48),
    clientId: pending.clientId,
    sub: user.sub,
    scopes: pending.scopes,
    redirectUri: pending.redirectUri,
    offline: pending.offline,
    issueRefreshToken: pending.offline && (firstConsent || pending.promptConsent),
    expiresAt: state.now() + state.lifetimes.codeSeconds * 1000,
    used: false,
    accessTokens: [],
    ...(pending.nonce !== undefined ? { nonce: pending.nonce } : {}),
    ...(pending.codeChallenge !== undefined ? { codeChallenge: pending.codeChallenge, codeChallengeMethod: pending.codeChallengeMethod } : {}),
  };
  state.codes.set(code.code, code);
  // Google does not send `iss` (RFC 9207) here.
  return redirectWith(pending.redirectUri, { code: code.code, state: pending.state, scope: pending.redirectScope });
}

// ─────────────────────────────────────────────────────────────────────────────
// Token endpoint: parse → authenticate client → grant
// ─────────────────────────────────────────────────────────────────────────────

async function handleToken(state: State, ctx: Ctx): Promise<Reply> {
  if (ctx.formError) return errorReply(ctx.formError);
  const form = ctx.form;
  const repeated = repeatedParameter(form);
  if (repeated !== undefined) return errorReply(duplicateParameter(repeated));
  const client = authenticateClient(state, ctx);
  if ('status' in client) return errorReply(client);
  const grantType = form.get('grant_type');
  if (!grantType) return errorReply(missingParameter('grant_type'));
  if (grantType === 'authorization_code') return authorizationCodeGrant(state, client, form);
  if (grantType === 'refresh_token') return refreshTokenGrant(state, client, form);
  return errorReply(unsupportedGrantType(grantType));
}

/** client_secret_basic or client_secret_post (not both). */
function authenticateClient(state: State, ctx: Ctx): OAuthClient | OAuthError {
  const basic = parseBasic(ctx.headers.authorization);
  const postedId = ctx.form.get('client_id');
  const postedSecret = ctx.form.get('client_secret');
  if (basic === 'malformed') return OAUTH_ERRORS.clientUnauthorized;
  if (basic && postedSecret !== null) {
    return { status: 400, error: 'invalid_request', description: 'Only one client authentication method may be used.' };
  }
  if (basic && postedId !== null && postedId !== basic.id) return OAUTH_ERRORS.clientUnauthorized;
  const clientId = basic?.id ?? postedId;
  if (!clientId) return OAUTH_ERRORS.clientNotFound;
  const client = state.clients.get(clientId);
  if (!client) return OAUTH_ERRORS.clientNotFound;
  const secret = basic?.secret ?? postedSecret;
  if (secret === null || !safeEqual(secret, client.clientSecret)) return OAUTH_ERRORS.clientUnauthorized;
  return client;
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined by ':' and base64-encoded. */
function parseBasic(header: string | undefined): { id: string; secret: string } | 'malformed' | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return /^Basic\b/i.test(header) ? 'malformed' : undefined;
  const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  try {
    const unform = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));
    return { id: unform(decoded.slice(0, colon)), secret: unform(decoded.slice(colon + 1)) };
  } catch {
    return 'malformed';
  }
}

async function authorizationCodeGrant(state: State, client: OAuthClient, form: URLSearchParams): Promise<Reply> {
  for (const name of ['code', 'redirect_uri']) if (!form.get(name)) return errorReply(missingParameter(name));
  const code = state.codes.get(form.get('code') ?? '');
  if (!code) return errorReply(OAUTH_ERRORS.badCode);
  if (code.used) {
    revokeIssuedFromCode(state, code);
    return errorReply(OAUTH_ERRORS.badCode);
  }
  if (code.expiresAt <= state.now()) return errorReply(OAUTH_ERRORS.badCode);
  if (code.clientId !== client.clientId) return errorReply(OAUTH_ERRORS.badCode);
  if (code.redirectUri !== form.get('redirect_uri')) return errorReply(OAUTH_ERRORS.redirectUriMismatch);
  const pkceError = checkCodeVerifier(code, form.get('code_verifier'));
  if (pkceError) return errorReply(pkceError);
  code.used = true;
  const user = requireUser(state, code.sub);
  const access = mintAccessToken(state, client.clientId, user.sub, code.scopes, 'authorization_code');
  code.accessTokens.push(access.token);
  const body: TokenResponseWire = {
    access_token: access.token,
    expires_in: state.lifetimes.accessTokenSeconds,
    scope: code.scopes.join(' '),
    token_type: 'Bearer',
  };
  if (code.scopes.includes('openid')) body.id_token = await mintIdToken(state, client.clientId, user, code.scopes, access.token, code.nonce);
  if (code.issueRefreshToken) {
    const family: RefreshFamily = { clientId: client.clientId, sub: user.sub, scopes: code.scopes, tokens: [], accessTokens: [] };
    adopt(family, access);
    const refresh = mintRefreshToken(state, family);
    code.refreshToken = refresh.token;
    body.refresh_token = refresh.token;
  }
  return jsonReply(200, body, NO_STORE);
}

function checkCodeVerifier(code: CodeRecord, verifier: string | null): OAuthError | undefined {
  if (code.codeChallenge === undefined) return verifier === null ? undefined : OAUTH_ERRORS.invalidCodeVerifier;
  if (verifier === null || verifier === '') return OAUTH_ERRORS.missingCodeVerifier;
  if (!PKCE_VALUE.test(verifier)) return OAUTH_ERRORS.invalidCodeVerifier;
  const derived = code.codeChallengeMethod === 'S256' ? sha256(verifier).toString('base64url') : verifier;
  return safeEqual(derived, code.codeChallenge) ? undefined : OAUTH_ERRORS.invalidCodeVerifier;
}

async function refreshTokenGrant(state: State, client: OAuthClient, form: URLSearchParams): Promise<Reply> {
  const presented = form.get('refresh_token');
  if (!presented) return errorReply(missingParameter('refresh_token'));
  const record = state.refreshTokens.get(presented);
  if (!record) return errorReply(OAUTH_ERRORS.refreshTokenDead);
  const family = record.family;
  if (family.clientId !== client.clientId) return errorReply(OAUTH_ERRORS.refreshTokenOtherClient);
  if (record.state === 'rotated') {
    // A rotated-out token came back: someone holds a copy. Kill the grant (RFC 9700 §4.14.2).
    revokeFamily(state, family);
    return errorReply(OAUTH_ERRORS.refreshTokenDead);
  }
  if (record.state !== 'active') return errorReply(OAUTH_ERRORS.refreshTokenDead);
  const user = requireUser(state, family.sub);
  const access = mintAccessToken(state, client.clientId, user.sub, family.scopes, 'refresh_token');
  adopt(family, access);
  const body: TokenResponseWire = {
    access_token: access.token,
    expires_in: state.lifetimes.accessTokenSeconds,
    scope: family.scopes.join(' '),
    token_type: 'Bearer',
  };
  if (family.scopes.includes('openid')) body.id_token = await mintIdToken(state, client.clientId, user, family.scopes, access.token);
  if (state.rotation) {
    record.state = 'rotated';
    body.refresh_token = mintRefreshToken(state, family).token;
  }
  return jsonReply(200, body, NO_STORE);
}

function requireUser(state: State, sub: string): DemoUser {
  const user = state.users.get(sub);
  if (!user) throw new Error(`user ${sub} vanished`);
  return user;
}

function mintAccessToken(state: State, clientId: string, sub: string, scopes: string[], grant: AccessTokenRecord['grant']): AccessTokenRecord {
  const record: AccessTokenRecord = {
    token: opaque('ya29.', 96),
    clientId,
    sub,
    scopes,
    expiresAt: state.now() + state.lifetimes.accessTokenSeconds * 1000,
    grant,
    revoked: false,
  };
  state.accessTokens.set(record.token, record);
  return record;
}

function adopt(family: RefreshFamily, access: AccessTokenRecord): void {
  access.family = family;
  family.accessTokens.push(access);
}

function mintRefreshToken(state: State, family: RefreshFamily): RefreshTokenRecord {
  const record: RefreshTokenRecord = { token: opaque('1//0', 72), issuedAt: state.now(), state: 'active', family };
  family.tokens.push(record);
  state.refreshTokens.set(record.token, record);
  return record;
}

async function mintIdToken(state: State, clientId: string, user: DemoUser, scopes: string[], accessToken: string, nonce?: string): Promise<string> {
  const iat = Math.floor(state.now() / 1000);
  const claims: IdTokenClaimsWire = {
    iss: state.issuer,
    azp: clientId,
    aud: clientId,
    sub: user.sub,
    at_hash: sha256(accessToken).subarray(0, 16).toString('base64url'),
    iat,
    exp: iat + state.lifetimes.idTokenSeconds,
    ...(nonce !== undefined ? { nonce } : {}),
    ...(user.hd !== undefined ? { hd: user.hd } : {}),
    ...(scopes.includes(USERINFO_EMAIL) ? { email: user.email, email_verified: user.emailVerified ?? true } : {}),
    ...(scopes.includes(USERINFO_PROFILE) ? { name: user.name } : {}),
  };
  return new SignJWT({ ...claims }).setProtectedHeader({ alg: 'RS256', kid: state.signer.kid, typ: 'JWT' }).sign(state.signer.privateKey);
}

// ─────────────────────────────────────────────────────────────────────────────
// Revocation
// ─────────────────────────────────────────────────────────────────────────────

function handleRevoke(state: State, ctx: Ctx): Reply {
  if (ctx.formError) return errorReply(ctx.formError);
  const token = ctx.form.get('token') ?? ctx.url.searchParams.get('token');
  if (!token) return errorReply(missingParameter('token'));
  const now = state.now();
  const refresh = state.refreshTokens.get(token);
  if (refresh) {
    if (refresh.state !== 'active') return errorReply(OAUTH_ERRORS.revokeUnknown);
    revokeFamily(state, refresh.family);
    return jsonReply(200, {});
  }
  const access = state.accessTokens.get(token);
  if (!access || access.revoked || access.expiresAt <= now) return errorReply(OAUTH_ERRORS.revokeUnknown);
  // Google: revoking an access token also revokes the refresh token it belongs to.
  if (access.family) revokeFamily(state, access.family);
  else revokeAccess(state, access);
  return jsonReply(200, {});
}

function revokeAccess(state: State, access: AccessTokenRecord): void {
  access.revoked = true;
  state.consents.delete(`${access.clientId}\n${access.sub}`);
}

/** Counts what it kills. Forgets the consent, as removing a grant does. */
function revokeFamily(state: State, family: RefreshFamily): number {
  let count = 0;
  for (const refresh of family.tokens) {
    if (refresh.state === 'active') count += 1;
    refresh.state = 'revoked';
  }
  for (const access of family.accessTokens) {
    if (!access.revoked) count += 1;
    access.revoked = true;
  }
  state.consents.delete(`${family.clientId}\n${family.sub}`);
  return count;
}

function revokeIssuedFromCode(state: State, code: CodeRecord): void {
  for (const token of code.accessTokens) {
    const access = state.accessTokens.get(token);
    if (access) access.revoked = true;
  }
  const refresh = code.refreshToken === undefined ? undefined : state.refreshTokens.get(code.refreshToken);
  if (refresh) revokeFamily(state, refresh.family);
}

function revokeAllFor(state: State, sub: string, clientId?: string): number {
  let count = 0;
  const families = new Set<RefreshFamily>();
  for (const refresh of state.refreshTokens.values()) {
    if (refresh.family.sub === sub && (clientId === undefined || refresh.family.clientId === clientId)) families.add(refresh.family);
  }
  for (const family of families) count += revokeFamily(state, family);
  const now = state.now();
  for (const access of state.accessTokens.values()) {
    if (access.sub !== sub || (clientId !== undefined && access.clientId !== clientId) || access.revoked) continue;
    if (access.expiresAt > now) count += 1;
    revokeAccess(state, access);
  }
  for (const key of [...state.consents]) {
    const [client, user] = key.split('\n');
    if (user === sub && (clientId === undefined || client === clientId)) state.consents.delete(key);
  }
  return count;
}

// ─────────────────────────────────────────────────────────────────────────────
// tokeninfo and userinfo
// ─────────────────────────────────────────────────────────────────────────────

function liveAccessToken(state: State, token: string | undefined): AccessTokenRecord | undefined {
  const record = token === undefined ? undefined : state.accessTokens.get(token);
  return record && !record.revoked && record.expiresAt > state.now() ? record : undefined;
}

function bearer(ctx: Ctx): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(String(ctx.headers.authorization ?? ''))?.[1];
}

function handleTokenInfo(state: State, ctx: Ctx): Reply {
  const presented = ctx.url.searchParams.get('access_token') ?? ctx.form.get('access_token') ?? bearer(ctx);
  if (presented === undefined) return errorReply({ status: 400, error: 'invalid_request', description: 'Either access_token, id_token, or token_handle required' });
  const token = liveAccessToken(state, presented);
  if (!token) return errorReply(OAUTH_ERRORS.tokenInfoInvalid);
  const user = requireUser(state, token.sub);
  const withEmail = token.scopes.includes(USERINFO_EMAIL);
  return jsonReply(200, {
    azp: token.clientId,
    aud: token.clientId,
    sub: token.sub,
    scope: token.scopes.join(' '),
    exp: String(Math.floor(token.expiresAt / 1000)),
    expires_in: String(Math.max(0, Math.floor((token.expiresAt - state.now()) / 1000))),
    ...(withEmail ? { email: user.email, email_verified: String(user.emailVerified ?? true) } : {}),
    access_type: token.family ? 'offline' : 'online',
  });
}

function handleUserInfo(state: State, ctx: Ctx): Reply {
  const token = liveAccessToken(state, bearer(ctx));
  if (!token) return errorReply(OAUTH_ERRORS.userInfoInvalid, { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' });
  const user = requireUser(state, token.sub);
  return jsonReply(200, {
    sub: user.sub,
    ...(token.scopes.includes(USERINFO_PROFILE) ? { name: user.name } : {}),
    ...(token.scopes.includes(USERINFO_EMAIL) ? { email: user.email, email_verified: user.emailVerified ?? true } : {}),
    ...(user.hd !== undefined ? { hd: user.hd } : {}),
  });
}

// ─────────────────────────────────────────────────────────────────────────────
// Introspection
// ─────────────────────────────────────────────────────────────────────────────

function snapshot(state: State): IssuedSnapshot {
  const now = state.now();
  return {
    codes: [...state.codes.values()].map((c) => ({
      code: c.code,
      clientId: c.clientId,
      sub: c.sub,
      scope: c.scopes.join(' '),
      redirectUri: c.redirectUri,
      ...(c.codeChallengeMethod ? { codeChallengeMethod: c.codeChallengeMethod } : {}),
      ...(c.nonce !== undefined ? { nonce: c.nonce } : {}),
      offline: c.offline,
      expiresAt: c.expiresAt,
      state: c.used ? 'used' : c.expiresAt <= now ? 'expired' : 'unused',
    })),
    accessTokens: [...state.accessTokens.values()].map((a) => ({
      token: a.token,
      clientId: a.clientId,
      sub: a.sub,
      scope: a.scopes.join(' '),
      expiresAt: a.expiresAt,
      grant: a.grant,
      state: a.revoked ? 'revoked' : a.expiresAt <= now ? 'expired' : 'active',
    })),
    refreshTokens: [...state.refreshTokens.values()].map((r) => ({
      token: r.token,
      clientId: r.family.clientId,
      sub: r.family.sub,
      scope: r.family.scopes.join(' '),
      issuedAt: r.issuedAt,
      state: r.state,
    })),
  };
}

// ─────────────────────────────────────────────────────────────────────────────
// Fault injection
// ─────────────────────────────────────────────────────────────────────────────

type FaultAction = { kind: 'fail'; status: number; retryAfterSeconds?: number } | { kind: 'delay'; ms: number };

interface FaultRule {
  action: FaultAction;
  match?: OAuthEndpointName;
  remaining: number;
}

class FaultEngine implements OAuthFaultSwitches {
  private rules: FaultRule[] = [];

  failNext(opts: { status: number; count?: number; retryAfterSeconds?: number; match?: OAuthEndpointName }): void {
    if (!Number.isInteger(opts.status) || opts.status < 400 || opts.status > 599) {
      throw new RangeError(`status must be an HTTP error status (400-599), got ${opts.status}`);
    }
    const { retryAfterSeconds } = opts;
    if (retryAfterSeconds !== undefined && (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0)) {
      throw new RangeError(`retryAfterSeconds must be a whole number >= 0, got ${retryAfterSeconds}`);
    }
    this.add({ kind: 'fail', status: opts.status, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) }, opts.count, opts.match);
  }

  delayNext(opts: { ms: number; count?: number; match?: OAuthEndpointName }): void {
    if (!Number.isFinite(opts.ms) || opts.ms < 0) throw new RangeError(`ms must be a finite number >= 0, got ${opts.ms}`);
    this.add({ kind: 'delay', ms: opts.ms }, opts.count, opts.match);
  }

  clear(): void {
    this.rules = [];
  }

  /** Consumes and returns the oldest armed fault matching `endpoint`. */
  take(endpoint: OAuthEndpointName): FaultAction | undefined {
    const rule = this.rules.find((r) => r.match === undefined || r.match === endpoint);
    if (!rule) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.rules = this.rules.filter((r) => r !== rule);
    return rule.action;
  }

  private add(action: FaultAction, count: number | undefined, match: OAuthEndpointName | undefined): void {
    const remaining = count ?? 1;
    if (!(remaining === Infinity || (Number.isInteger(remaining) && remaining >= 1))) {
      throw new RangeError(`count must be a whole number >= 1 or Infinity, got ${remaining}`);
    }
    if (match !== undefined && !OAUTH_ENDPOINT_NAMES.includes(match)) {
      throw new RangeError(`match must be one of ${OAUTH_ENDPOINT_NAMES.join(', ')}, got ${String(match)}`);
    }
    this.rules.push(match === undefined ? { action, remaining } : { action, match, remaining });
  }
}
