/**
 * Loopback emulator of the Google APIs the token broker calls.
 *
 * FOR TESTS AND LOCAL DEV MODE ONLY. It binds 127.0.0.1, keeps everything in
 * memory, signs with a key generated at start-up and trusts whatever its
 * options say. Never point production code at it.
 *
 * What it emulates (wire formats checked against google-auth-library 10.9.1's
 * `Impersonated`, `StsCredentials`, `DownscopedClient` and `OAuth2Client`, and
 * against Google's public REST references):
 *
 *  - IAM Credentials v1 `POST /v1/projects/-/serviceAccounts/{email|uniqueId}:generateAccessToken`
 *    and `:generateIdToken` (the name may be percent-encoded). JSON request,
 *    proto3-JSON response (`accessToken` / `expireTime` as RFC 3339 UTC with
 *    whole seconds and `Z`; `token`). Errors are google.rpc.Status JSON
 *    (`{"error":{"code","message","status","details"}}`) with the messages and
 *    `google.rpc.ErrorInfo` reasons the real service is known to send for
 *    401 (CREDENTIALS_MISSING / ACCESS_TOKEN_TYPE_UNSUPPORTED), 403
 *    (IAM_PERMISSION_DENIED, "Permission 'iam.serviceAccounts.getAccessToken'
 *    denied on resource (or it may not exist).") and 404 ("Not found; Gaia id
 *    not found for email ..."). Unknown JSON fields are rejected the way
 *    Google's JSON transcoder does ("Invalid JSON payload received. Unknown
 *    name ...").
 *    Only registered service accounts exist: those of the `serviceAccounts`
 *    option plus any added later with `addServiceAccounts` (development mode
 *    adds every account its loaded policy names). Any other account, as
 *    target or delegate, is the 404 above.
 *  - STS v1 `POST /v1/token`, only the Credential Access Boundary flavour:
 *    an access token this emulator issued, exchanged for a downscoped one.
 *    Form-encoded (what google-auth-library sends) or JSON (camelCase, per
 *    the REST reference). OAuth 2.0 error bodies `{"error","error_description"}`
 *    with HTTP 400, as Google STS answers.
 *  - `GET|POST /tokeninfo` (also `/oauth2/v3/tokeninfo`) for `access_token`
 *    or `id_token` given as query, form field, or `Authorization: Bearer`
 *    header (the latter is what `OAuth2Client.getTokenInfo` sends). Values are
 *    strings, as Google returns them.
 *  - `GET /oauth2/v3/certs` (JWKS) and `GET /oauth2/v1/certs` (kid → PEM) for
 *    the ID-token signing key.
 *  - Gemini API v1alpha `POST /v1alpha/auth_tokens` (Live API ephemeral
 *    tokens; the body @google/genai 2.32's `authTokens.create` sends). The
 *    API key is `x-goog-api-key` (or `?key=`): missing → 403
 *    PERMISSION_DENIED "Method doesn't allow unregistered callers …", not one
 *    of the `geminiApiKeys` → 400 INVALID_ARGUMENT "API key not valid …"
 *    (ErrorInfo API_KEY_INVALID), as the real API answers. Unknown fields are
 *    refused like the JSON transcoder does, at the top level and inside
 *    `bidiGenerateContentSetup` and its `generationConfig`; `uses` must be a
 *    non-negative integer (0 = unlimited, as Google documents; default 1);
 *    `expireTime` / `newSessionExpireTime` must be RFC 3339, in the future and
 *    less than 20 hours ahead (defaults 30 min / 60 s); the setup's `model`
 *    must be `models/…`. The answer is `{name: "auth_tokens/…"}` only (the
 *    other fields are input only). Each token and the configuration it locked
 *    is recorded (`authTokens()`).
 *  - Secret Manager v1 `GET /v1/projects/{p}/secrets/{s}/versions/{v}:access`
 *    (`v` a number or `latest`), authenticated like IAM Credentials (the
 *    `callerTokens`). Answers `{name, payload: {data: base64, dataCrc32c:
 *    "<int64 as string>"}}` with the project as a 12-digit number in `name`,
 *    as Google does; an unknown secret or version is 404 NOT_FOUND with
 *    Google's wording. Secrets come from the `secrets` option and `setSecret`.
 *  - Fault injection (latency, canned error statuses with Retry-After,
 *    malformed bodies, connection resets), from code or over HTTP at
 *    `/__emulator/faults`.
 *
 * What it does NOT emulate (know this before trusting a green test):
 *  - Real IAM policy. Who may impersonate whom is the `canImpersonate` /
 *    `canDelegate` callbacks; there are no roles, conditions, deny policies,
 *    org policies (so lifetimes above 3600s are always refused) or
 *    propagation delays.
 *  - Caller authentication beyond a fixed list of bearer tokens: tokens this
 *    emulator mints are not accepted as IAM Credentials callers.
 *  - The exact text of most 400 messages. Status code, `status` and body
 *    shape match the real API; message wording for lifetime / scope /
 *    delegate / STS validation is the emulator's own.
 *  - The order in which the real service runs its checks is approximated as:
 *    authentication → request syntax → resource name → existence → permission.
 *  - Quotas, rate limits, regional endpoints, universe domains, mTLS, VPC-SC,
 *    `signBlob`/`signJwt`, workload identity federation (external subject
 *    tokens, `audience`), and enforcement of the access boundary itself (no
 *    Cloud Storage here).
 *  - For auth_tokens: the token's use (no Live API WebSocket here), `uses`
 *    counting, field-mask semantics (the mask is recorded, not applied),
 *    validation of values inside the setup (models, voices, tools), API key
 *    restrictions, and the exact wording of its 400 messages.
 *  - For Secret Manager: IAM on secrets (any caller token may read any
 *    secret), disabled or destroyed versions, aliases, regional secrets,
 *    CMEK, and every method other than AccessSecretVersion.
 *  - `/oauth2/v1/certs` serves SPKI public keys, not X.509 certificates;
 *    google-auth-library's verifier accepts either.
 *  - Assumptions where no authoritative source was found, chosen to fail
 *    closed: a downscoped token cannot be downscoped again; the STS subject
 *    token must carry the cloud-platform scope (the client libraries document
 *    this requirement); tokeninfo reports `sub`/`email`/`email_verified` only
 *    when the token carries the `userinfo.email` (or `email`/`openid`) scope;
 *    `useEmailAzp` (sent by google-auth-library's `fetchIdToken`, undocumented
 *    in the REST reference) puts the email in the ID token's `azp`; a project
 *    id instead of `-` in the resource name is refused, as the reference says.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createHash,
  generateKeyPairSync,
  randomBytes,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { crc32c } from '../shared/cache/crc32c';

// ─────────────────────────────────────────────────────────────────────────────
// Public API
// ─────────────────────────────────────────────────────────────────────────────

export interface GoogleEmulatorOptions {
  /** Service accounts that exist at start-up (more with `addServiceAccounts`); anything else → 404 NOT_FOUND. */
  serviceAccounts: readonly string[];
  /** Bearer tokens accepted as the caller's (the broker's own) credentials on IAM Credentials; missing/other → 401 UNAUTHENTICATED. */
  callerTokens: string[];
  /**
   * Which caller may impersonate which SA (used for both generateAccessToken
   * and generateIdToken, and for the first hop of a delegation chain); default:
   * every caller token may impersonate every listed SA. A denied pair → 403
   * PERMISSION_DENIED like iam.serviceAccounts.getAccessToken denied.
   */
  canImpersonate?: (callerToken: string, serviceAccount: string) => boolean;
  /**
   * Emulator extension: for a delegation chain `delegates: [A, B]` → target T,
   * whether A may act for B and B for T. Default: allowed.
   */
  canDelegate?: (fromServiceAccount: string, toServiceAccount: string) => boolean;
  /** Gemini API keys `auth_tokens.create` accepts in `x-goog-api-key` (or `?key=`); default none. */
  geminiApiKeys?: string[];
  /** Secrets Secret Manager holds: `projects/P/secrets/S` → its value (version 1, also `latest`). More with `setSecret`. */
  secrets?: Record<string, string>;
  port?: number; // default 0 (ephemeral)
  now?: () => number; // ms clock, default Date.now
}

export interface GoogleEmulator {
  readonly url: string; // e.g. http://127.0.0.1:PORT
  readonly faults: FaultSwitches;
  /** Every request received, including `/__emulator` control calls. */
  readonly requests: RecordedRequest[];
  /** What the emulator issued for this access token (expired ones included: compare `expiresAt` with `now()`). */
  lookup(accessToken: string): IssuedToken | undefined;
  /** The emulator's clock (the `now` option), in ms. */
  now(): number;
  /**
   * Makes these service accounts exist (case-insensitive; ones that already exist are kept as
   * they are). They can then be impersonated, as target or delegate, subject to `canImpersonate`
   * and `canDelegate` like those of the `serviceAccounts` option.
   */
  addServiceAccounts(emails: readonly string[]): void;
  /** The service accounts that exist (lower-cased emails), in the order they were registered. */
  serviceAccounts(): string[];
  /** Every ephemeral token `auth_tokens.create` issued, oldest first, with the configuration it locked. */
  authTokens(): IssuedAuthToken[];
  /** Adds a version holding `value` to the secret `projects/P/secrets/S` (creating it); `undefined` deletes the secret. */
  setSecret(name: string, value: string | undefined): void;
  close(): Promise<void>;
}

/** What the emulated Gemini API recorded for one ephemeral token. */
export interface IssuedAuthToken {
  name: string;
  uses: number;
  /** RFC 3339, as the emulator normalised it. */
  expireTime: string;
  newSessionExpireTime: string;
  /** `bidiGenerateContentSetup` as received: the locked model and configuration. */
  setup?: Record<string, unknown>;
  fieldMask?: string;
}

export interface IssuedToken {
  kind: 'impersonated' | 'sts-downscoped';
  serviceAccount: string;
  scopes: string[];
  expiresAt: number /*ms*/;
  delegates: string[];
  accessBoundary?: unknown;
}

export interface RecordedRequest {
  method: string;
  /** Raw request target as received, query string included. */
  path: string;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Raw body, UTF-8 decoded. */
  body: string;
  /** Which emulated endpoint the request was routed to, if any. */
  endpoint?: EndpointName;
}

export type EndpointName = 'generateAccessToken' | 'generateIdToken' | 'sts' | 'tokeninfo' | 'gemini' | 'authTokens' | 'secretAccess';

export interface FaultSwitches {
  /**
   * Added latency in ms for every matching request (until cleared; 0 removes it). No `match` = every
   * emulated endpoint; a global and an endpoint latency add up. The certs and `/__emulator` routes are never delayed.
   */
  setLatency(ms: number, match?: EndpointName): void;
  /** The next `count` matching requests (oldest armed fault first) fail with this HTTP status (google.rpc body with the canonical status for the code: 429 RESOURCE_EXHAUSTED, 500 INTERNAL, 503 UNAVAILABLE, 403 PERMISSION_DENIED, ...), optional Retry-After header. count = Infinity for "until cleared". */
  failNext(opts: { status: number; count?: number; retryAfterSeconds?: number; match?: EndpointName }): void;
  /** The next `count` matching requests get a malformed body ("<html>..." with 200) or have their socket destroyed mid-response. */
  corruptNext(opts: { mode: 'malformed-json' | 'reset'; count?: number; match?: EndpointName }): void;
  clear(): void;
}

export const ENDPOINT_NAMES: readonly EndpointName[] = [
  'generateAccessToken',
  'generateIdToken',
  'sts',
  'tokeninfo',
  'gemini',
  'authTokens',
  'secretAccess',
];

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
export const STS_GRANT_TYPE_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const STS_TOKEN_TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

// ─────────────────────────────────────────────────────────────────────────────
// Wire types: exactly what crosses HTTP
// ─────────────────────────────────────────────────────────────────────────────

/** google.rpc.Code names as they appear in `error.status`. */
export type RpcStatus =
  | 'INVALID_ARGUMENT'
  | 'FAILED_PRECONDITION'
  | 'OUT_OF_RANGE'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'ABORTED'
  | 'ALREADY_EXISTS'
  | 'RESOURCE_EXHAUSTED'
  | 'CANCELLED'
  | 'DATA_LOSS'
  | 'UNKNOWN'
  | 'INTERNAL'
  | 'UNIMPLEMENTED'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED';

/** `type.googleapis.com/google.rpc.ErrorInfo`. */
export interface ErrorInfoWire {
  '@type': 'type.googleapis.com/google.rpc.ErrorInfo';
  reason: string;
  domain: string;
  metadata?: Record<string, string>;
}

/** `type.googleapis.com/google.rpc.BadRequest`. */
export interface BadRequestWire {
  '@type': 'type.googleapis.com/google.rpc.BadRequest';
  fieldViolations: { field?: string; description: string }[];
}

export type RpcErrorDetailWire = ErrorInfoWire | BadRequestWire;

/** google.rpc.Status as Google's HTTP/JSON front end renders it (AIP-193). */
export interface RpcErrorWire {
  error: { code: number; message: string; status: RpcStatus; details?: RpcErrorDetailWire[] };
}

/** IAM Credentials `GenerateAccessTokenRequest` (the name is in the URL). */
export interface GenerateAccessTokenRequestWire {
  delegates?: string[];
  scope: string[];
  /** google.protobuf.Duration in JSON form, e.g. "3600s". */
  lifetime?: string;
}

export interface GenerateAccessTokenResponseWire {
  accessToken: string;
  /** RFC 3339, UTC, whole seconds, e.g. "2026-11-25T18:00:00Z". */
  expireTime: string;
}

export interface GenerateIdTokenRequestWire {
  audience: string;
  includeEmail?: boolean;
  delegates?: string[];
  /** Sent by google-auth-library's `Impersonated.fetchIdToken`; not in the REST reference. */
  useEmailAzp?: boolean;
}

export interface GenerateIdTokenResponseWire {
  token: string;
}

/** STS `ExchangeTokenResponse` for a CAB exchange (snake_case on the wire). */
export interface StsTokenResponseWire {
  access_token: string;
  issued_token_type: typeof STS_TOKEN_TYPE_ACCESS_TOKEN;
  token_type: 'Bearer';
  expires_in: number;
}

/** RFC 6749 §5.2 error body, used by STS and tokeninfo. */
export interface OAuthErrorWire {
  error: string;
  error_description: string;
}

/** Credential Access Boundary, the JSON carried in STS's `options` parameter. */
export interface CredentialAccessBoundaryWire {
  accessBoundary: { accessBoundaryRules: AccessBoundaryRuleWire[] };
}

export interface AccessBoundaryRuleWire {
  availableResource: string;
  availablePermissions: string[];
  availabilityCondition?: { expression: string; title?: string; description?: string };
}

/** tokeninfo for an access token: every value is a string. */
export interface AccessTokenInfoWire {
  azp: string;
  aud: string;
  sub?: string;
  scope: string;
  exp: string;
  expires_in: string;
  email?: string;
  email_verified?: 'true';
  access_type: 'online';
}

/** Claims of the ID tokens minted by generateIdToken. */
export interface IdTokenClaimsWire {
  iss: 'https://accounts.google.com';
  azp: string;
  aud: string;
  sub: string;
  email?: string;
  email_verified?: true;
  iat: number;
  exp: number;
}

export interface JwkWire {
  kty: 'RSA';
  alg: 'RS256';
  use: 'sig';
  kid: string;
  n: string;
  e: string;
}

/** Body of `POST /__emulator/faults`: any combination of the three keys. */
export interface FaultControlRequestWire {
  setLatency?: { ms: number; match?: EndpointName };
  /** `count` may be the string "Infinity" (JSON has no Infinity). */
  failNext?: { status: number; count?: number | 'Infinity'; retryAfterSeconds?: number; match?: EndpointName };
  corruptNext?: { mode: 'malformed-json' | 'reset'; count?: number | 'Infinity'; match?: EndpointName };
}

// ─────────────────────────────────────────────────────────────────────────────
// Internal types
// ─────────────────────────────────────────────────────────────────────────────

interface ServiceAccount {
  readonly email: string;
  /** 21-digit numeric id, stable for an email (what Google calls the unique id / oauth2 client id). */
  readonly uniqueId: string;
}

/** A response about to be written. @internal */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  text: string;
}

interface RequestContext {
  readonly method: string;
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body: string;
}

interface Route {
  readonly methods: readonly string[];
  readonly match: (pathname: string) => RegExpExecArray | null;
  readonly endpoint?: EndpointName;
  readonly handle: (ctx: RequestContext, params: RegExpExecArray) => Reply;
}

interface EmulatorState {
  readonly now: () => number;
  /** Registered accounts; `addServiceAccounts` adds to both maps. */
  readonly accountsByEmail: Map<string, ServiceAccount>;
  readonly accountsByUniqueId: Map<string, ServiceAccount>;
  readonly callerTokens: ReadonlySet<string>;
  readonly canImpersonate: (callerToken: string, serviceAccount: string) => boolean;
  readonly canDelegate: (from: string, to: string) => boolean;
  readonly tokens: Map<string, IssuedToken>;
  readonly signer: IdTokenSigner;
  readonly faults: FaultEngine;
  readonly requests: RecordedRequest[];
  readonly geminiApiKeys: ReadonlySet<string>;
  /** `projects/P/secrets/S` → its versions' values, version n at index n − 1. */
  readonly secrets: Map<string, string[]>;
  readonly authTokens: IssuedAuthToken[];
}

/** Which IAM Credentials method a request is for. */
type IamMethod = 'generateAccessToken' | 'generateIdToken';

/** Outcome of a validation step: a value, or the error reply to send. */
type Checked<T> = { ok: true; value: T } | { ok: false; reply: Reply };

// ─────────────────────────────────────────────────────────────────────────────
// Entry point
// ─────────────────────────────────────────────────────────────────────────────

/** Starts the emulator on 127.0.0.1 and resolves once it is listening. */
export async function startGoogleEmulator(opts: GoogleEmulatorOptions): Promise<GoogleEmulator> {
  const state = createState(opts);
  const routes = googleRoutes(state);
  const server = createServer((req, res) => {
    void serve(state, routes, req, res);
  });
  const url = await listen(server, opts.port ?? 0);
  return {
    url,
    faults: state.faults,
    requests: state.requests,
    lookup: (accessToken) => copyToken(state.tokens.get(accessToken)),
    now: state.now,
    addServiceAccounts: (emails) => registerServiceAccounts(state, emails),
    serviceAccounts: () => [...state.accountsByEmail.keys()],
    authTokens: () => state.authTokens.map((token) => structuredClone(token)),
    setSecret: (name, value) => {
      if (value === undefined) state.secrets.delete(name);
      else state.secrets.set(name, [...(state.secrets.get(name) ?? []), value]);
    },
    close: () => closeServer(server),
  };
}

function createState(opts: GoogleEmulatorOptions): EmulatorState {
  const state: EmulatorState = {
    now: opts.now ?? Date.now,
    accountsByEmail: new Map(),
    accountsByUniqueId: new Map(),
    callerTokens: new Set(opts.callerTokens),
    canImpersonate: opts.canImpersonate ?? (() => true),
    canDelegate: opts.canDelegate ?? (() => true),
    tokens: new Map(),
    signer: createIdTokenSigner(),
    faults: new FaultEngine(),
    requests: [],
    geminiApiKeys: new Set(opts.geminiApiKeys ?? []),
    secrets: new Map(Object.entries(opts.secrets ?? {}).map(([name, value]) => [name, [value]])),
    authTokens: [],
  };
  registerServiceAccounts(state, opts.serviceAccounts);
  return state;
}

function registerServiceAccounts(state: EmulatorState, emails: readonly string[]): void {
  for (const raw of emails) {
    const email = raw.toLowerCase();
    if (state.accountsByEmail.has(email)) continue;
    const account: ServiceAccount = { email, uniqueId: uniqueIdFor(email) };
    state.accountsByEmail.set(email, account);
    state.accountsByUniqueId.set(account.uniqueId, account);
  }
}

function copyToken(token: IssuedToken | undefined): IssuedToken | undefined {
  return token && { ...token, scopes: [...token.scopes], delegates: [...token.delegates] };
}

/** A stable, numeric-looking 21-digit id for an email, like a GCP service account's unique id. */
export function uniqueIdFor(email: string): string {
  const digest = createHash('sha256').update(email.toLowerCase()).digest('hex');
  const digits = (BigInt(`0x${digest}`) % 10n ** 20n).toString().padStart(20, '0');
  return `1${digits}`;
}

// ─────────────────────────────────────────────────────────────────────────────
// HTTP plumbing (also used by gemini-emulator.ts)
// ─────────────────────────────────────────────────────────────────────────────

function googleRoutes(state: EmulatorState): Route[] {
  return [
    {
      methods: ['POST'],
      match: (p) => /^\/v1\/(.+):(generateAccessToken)$/.exec(p),
      endpoint: 'generateAccessToken',
      handle: (ctx, m) => handleGenerateAccessToken(state, ctx, m[1] ?? ''),
    },
    {
      methods: ['POST'],
      match: (p) => /^\/v1\/(.+):(generateIdToken)$/.exec(p),
      endpoint: 'generateIdToken',
      handle: (ctx, m) => handleGenerateIdToken(state, ctx, m[1] ?? ''),
    },
    { methods: ['POST'], match: (p) => /^\/v1\/token$/.exec(p), endpoint: 'sts', handle: (ctx) => handleSts(state, ctx) },
    { methods: ['POST'], match: (p) => /^\/v1alpha\/auth_tokens$/.exec(p), endpoint: 'authTokens', handle: (ctx) => handleCreateAuthToken(state, ctx) },
    {
      methods: ['GET'],
      match: (p) => /^\/v1\/projects\/([^/]+)\/secrets\/([^/]+)\/versions\/([^/:]+):access$/.exec(p),
      endpoint: 'secretAccess',
      handle: (ctx, m) => handleAccessSecret(state, ctx, m[1] ?? '', m[2] ?? '', m[3] ?? ''),
    },
    {
      methods: ['GET', 'POST'],
      match: (p) => /^(?:\/oauth2\/v3)?\/tokeninfo$/.exec(p),
      endpoint: 'tokeninfo',
      handle: (ctx) => handleTokenInfo(state, ctx),
    },
    { methods: ['GET'], match: (p) => /^\/oauth2\/v3\/certs$/.exec(p), handle: () => handleJwks(state) },
    { methods: ['GET'], match: (p) => /^\/oauth2\/v1\/certs$/.exec(p), handle: () => handlePemCerts(state) },
    {
      methods: ['GET', 'POST', 'DELETE'],
      match: (p) => /^\/__emulator\/faults$/.exec(p),
      handle: (ctx) => handleFaultControl(state.faults, ctx),
    },
  ];
}

/** One request: record it, route it, apply faults, answer. */
async function serve(state: EmulatorState, routes: Route[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const ctx = await readRequest(req);
    const found = findRoute(routes, ctx);
    state.requests.push(recordOf(req, ctx, found?.route.endpoint));
    if (!found) return writeReply(res, notFoundPage(ctx.url.pathname));
    const endpoint = found.route.endpoint;
    if (endpoint && (await applyFaults(state.faults, endpoint, res))) return;
    writeReply(res, found.route.handle(ctx, found.params));
  } catch (err) {
    writeReply(res, rpcError(500, 'INTERNAL', `Emulator bug: ${String(err)}`));
  }
}

function findRoute(routes: Route[], ctx: RequestContext): { route: Route; params: RegExpExecArray } | undefined {
  for (const route of routes) {
    const params = route.match(ctx.url.pathname);
    if (params && route.methods.includes(ctx.method)) return { route, params };
  }
  return undefined;
}

/** Reads the whole body and normalises headers. @internal */
export async function readRequest(req: IncomingMessage): Promise<RequestContext> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return {
    method: req.method ?? 'GET',
    url: new URL(req.url ?? '/', 'http://127.0.0.1'),
    headers,
    body: Buffer.concat(chunks).toString('utf8'),
  };
}

/** @internal */
export function recordOf(req: IncomingMessage, ctx: RequestContext, endpoint?: EndpointName): RecordedRequest {
  const record: RecordedRequest = { method: ctx.method, path: req.url ?? '/', headers: ctx.headers, body: ctx.body };
  if (endpoint) record.endpoint = endpoint;
  return record;
}

/** @internal */
export function writeReply(res: ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, { ...reply.headers, 'content-length': Buffer.byteLength(reply.text) });
  res.end(reply.text);
}

/** Google pretty-prints its JSON with two spaces. @internal */
export function jsonReply(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=UTF-8', ...headers },
    text: `${JSON.stringify(body, null, 2)}\n`,
  };
}

/** A google.rpc.Status error reply. @internal */
export function rpcError(
  code: number,
  status: RpcStatus,
  message: string,
  details?: RpcErrorDetailWire[],
  headers: Record<string, string> = {},
): Reply {
  const body: RpcErrorWire = { error: { code, message, status } };
  if (details && details.length > 0) body.error.details = details;
  return jsonReply(code, body, headers);
}

function oauthError(error: string, description: string, status = 400): Reply {
  const body: OAuthErrorWire = { error, error_description: description };
  return jsonReply(status, body);
}

/** What Google's front end serves for a path or method it does not route. @internal */
export function notFoundPage(pathname: string): Reply {
  return {
    status: 404,
    headers: { 'content-type': 'text/html; charset=UTF-8' },
    text:
      '<!DOCTYPE html>\n<html lang=en><meta charset=utf-8><title>Error 404 (Not Found)!!1</title>' +
      `<p><b>404.</b> <ins>That’s an error.</ins><p>The requested URL <code>${escapeHtml(pathname)}</code> ` +
      'was not found on this server. <ins>That’s all we know.</ins>\n',
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Listens on 127.0.0.1 and returns the base URL. @internal */
export function listen(server: Server, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const { port: bound } = server.address() as AddressInfo;
      resolve(`http://127.0.0.1:${bound}`);
    });
  });
}

/** Stops accepting, drops keep-alive connections, resolves when closed. @internal */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}

// ─────────────────────────────────────────────────────────────────────────────
// JSON helpers
// ─────────────────────────────────────────────────────────────────────────────

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

// ─────────────────────────────────────────────────────────────────────────────
// google.rpc error builders for IAM Credentials
// ─────────────────────────────────────────────────────────────────────────────

const IAM_SERVICE = 'iamcredentials.googleapis.com';
const AUTH_HELP = 'See https://developers.google.com/identity/sign-in/web/devconsole-project.';
const WWW_AUTHENTICATE = 'Bearer realm="https://accounts.google.com/"';

/** The 401s Google's front end sends for a missing or unusable bearer token. @internal */
export function unauthenticated(
  service: string,
  method: string,
  reason: 'CREDENTIALS_MISSING' | 'ACCESS_TOKEN_TYPE_UNSUPPORTED' | 'ACCESS_TOKEN_EXPIRED',
): Reply {
  const missing = reason === 'CREDENTIALS_MISSING';
  const message = missing
    ? `Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. ${AUTH_HELP}`
    : `Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. ${AUTH_HELP}`;
  const challenge = missing ? WWW_AUTHENTICATE : `${WWW_AUTHENTICATE}, error="invalid_token"`;
  return rpcError(
    401,
    'UNAUTHENTICATED',
    message,
    [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'googleapis.com', metadata: { service, method } }],
    { 'www-authenticate': challenge },
  );
}

function iamRpcMethod(method: IamMethod): string {
  return method === 'generateAccessToken'
    ? 'google.iam.credentials.v1.IAMCredentials.GenerateAccessToken'
    : 'google.iam.credentials.v1.IAMCredentials.GenerateIdToken';
}

function permissionDenied(permission: string): Reply {
  return rpcError(403, 'PERMISSION_DENIED', `Permission '${permission}' denied on resource (or it may not exist).`, [
    {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: 'IAM_PERMISSION_DENIED',
      domain: 'iam.googleapis.com',
      metadata: { permission },
    },
  ]);
}

function gaiaNotFound(id: string): Reply {
  return rpcError(404, 'NOT_FOUND', `Not found; Gaia id not found for email ${id}`);
}

function invalidArgument(field: string | undefined, description: string, message = description): Reply {
  const violation = field === undefined ? { description } : { field, description };
  return rpcError(400, 'INVALID_ARGUMENT', message, [
    { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [violation] },
  ]);
}

/** What Google's JSON transcoder says about a body it cannot map onto the proto. */
function invalidJsonPayload(detail: string): Reply {
  const description = `Invalid JSON payload received. ${detail}`;
  return invalidArgument(undefined, description);
}

function invalidValue(field: string, protoType: string, value: unknown): Reply {
  const description = `Invalid value at '${field}' (${protoType}), ${JSON.stringify(value)}`;
  return invalidArgument(field, description, description);
}

// ─────────────────────────────────────────────────────────────────────────────
// IAM Credentials: shared steps
// ─────────────────────────────────────────────────────────────────────────────

/** The caller's bearer token, if it is one of `callerTokens`. */
function authenticateCaller(state: EmulatorState, ctx: RequestContext, method: IamMethod): Checked<string> {
  const token = bearerToken(ctx.headers);
  if (token === undefined) return { ok: false, reply: unauthenticated(IAM_SERVICE, iamRpcMethod(method), 'CREDENTIALS_MISSING') };
  if (!state.callerTokens.has(token)) {
    return { ok: false, reply: unauthenticated(IAM_SERVICE, iamRpcMethod(method), 'ACCESS_TOKEN_TYPE_UNSUPPORTED') };
  }
  return { ok: true, value: token };
}

/** `Authorization: Bearer <token>` → token. @internal */
export function bearerToken(headers: Record<string, string>): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(headers['authorization'] ?? '');
  return match?.[1];
}

/** Parses the JSON body into a record and rejects fields the method does not define. */
function parseRequestBody(body: string, allowed: readonly string[]): Checked<Record<string, unknown>> {
  if (body.trim() === '') return { ok: true, value: {} };
  const parsed = parseJson(body);
  if (!parsed.ok) return { ok: false, reply: invalidJsonPayload('Unexpected token.') };
  if (!isRecord(parsed.value)) return { ok: false, reply: invalidJsonPayload('Expected an object at the top level.') };
  const unknown = Object.keys(parsed.value).find((key) => !allowed.includes(key));
  if (unknown !== undefined) {
    return { ok: false, reply: invalidJsonPayload(`Unknown name ${JSON.stringify(unknown)}: Cannot find field.`) };
  }
  return { ok: true, value: parsed.value };
}

/**
 * Resolves `projects/-/serviceAccounts/{email|uniqueId}` (percent-decoded) to
 * an existing account. The reference requires the `-` wildcard.
 */
function resolveServiceAccountName(state: EmulatorState, rawName: string, field: string): Checked<ServiceAccount> {
  const segments = rawName.split('/').map(safeDecode);
  const [projects, project, collection, id] = segments;
  if (segments.length !== 4 || projects !== 'projects' || collection !== 'serviceAccounts' || !id) {
    return { ok: false, reply: invalidArgument(field, `Invalid resource name "${segments.join('/')}": expected projects/-/serviceAccounts/{ACCOUNT_EMAIL_OR_UNIQUEID}.`) };
  }
  if (project !== '-') {
    return { ok: false, reply: invalidArgument(field, `Invalid resource name "${segments.join('/')}": the project must be the "-" wildcard.`) };
  }
  const account = state.accountsByEmail.get(id.toLowerCase()) ?? state.accountsByUniqueId.get(id);
  return account ? { ok: true, value: account } : { ok: false, reply: gaiaNotFound(id) };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** `delegates` must be a list of `projects/-/serviceAccounts/...` names of existing accounts. */
function resolveDelegates(state: EmulatorState, value: unknown): Checked<ServiceAccount[]> {
  if (value === undefined) return { ok: true, value: [] };
  if (!isStringArray(value)) return { ok: false, reply: invalidValue('delegates', 'TYPE_STRING', value) };
  const accounts: ServiceAccount[] = [];
  for (const name of value) {
    const resolved = resolveServiceAccountName(state, name, 'delegates');
    if (!resolved.ok) return resolved;
    accounts.push(resolved.value);
  }
  return { ok: true, value: accounts };
}

/**
 * The caller must be allowed on the first hop, every delegate on the next,
 * the last on the target. The final hop's permission depends on the method;
 * intermediate hops need `iam.serviceAccounts.implicitDelegation`.
 */
function authorizeChain(
  state: EmulatorState,
  callerToken: string,
  delegates: ServiceAccount[],
  target: ServiceAccount,
  method: IamMethod,
): Reply | undefined {
  const finalPermission =
    method === 'generateAccessToken' ? 'iam.serviceAccounts.getAccessToken' : 'iam.serviceAccounts.getOpenIdToken';
  const chain = [...delegates, target];
  const first = chain[0] ?? target;
  if (!state.canImpersonate(callerToken, first.email)) {
    return permissionDenied(chain.length > 1 ? 'iam.serviceAccounts.implicitDelegation' : finalPermission);
  }
  for (let i = 1; i < chain.length; i++) {
    const from = chain[i - 1];
    const to = chain[i];
    if (from && to && !state.canDelegate(from.email, to.email)) {
      return permissionDenied(i === chain.length - 1 ? finalPermission : 'iam.serviceAccounts.implicitDelegation');
    }
  }
  return undefined;
}

// ─────────────────────────────────────────────────────────────────────────────
// IAM Credentials: generateAccessToken
// ─────────────────────────────────────────────────────────────────────────────

const DEFAULT_LIFETIME_SECONDS = 3600;
/** Without the iam.allowServiceAccountCredentialLifetimeExtension org policy. */
const MAX_LIFETIME_SECONDS = 3600;

function handleGenerateAccessToken(state: EmulatorState, ctx: RequestContext, rawName: string): Reply {
  const caller = authenticateCaller(state, ctx, 'generateAccessToken');
  if (!caller.ok) return caller.reply;
  const body = parseRequestBody(ctx.body, ['delegates', 'scope', 'lifetime']);
  if (!body.ok) return body.reply;
  const scopes = checkScopes(body.value['scope']);
  if (!scopes.ok) return scopes.reply;
  const lifetime = checkLifetime(body.value['lifetime']);
  if (!lifetime.ok) return lifetime.reply;
  const target = resolveServiceAccountName(state, rawName, 'name');
  if (!target.ok) return target.reply;
  const delegates = resolveDelegates(state, body.value['delegates']);
  if (!delegates.ok) return delegates.reply;
  const denied = authorizeChain(state, caller.value, delegates.value, target.value, 'generateAccessToken');
  if (denied) return denied;

  const expiresAt = wholeSeconds(state.now() + lifetime.value * 1000);
  const accessToken = mintAccessToken(state, {
    kind: 'impersonated',
    serviceAccount: target.value.email,
    scopes: scopes.value,
    expiresAt,
    delegates: delegates.value.map((sa) => sa.email),
  });
  const response: GenerateAccessTokenResponseWire = { accessToken, expireTime: rfc3339(expiresAt) };
  return jsonReply(200, response);
}

function checkScopes(value: unknown): Checked<string[]> {
  if (value !== undefined && !isStringArray(value)) return { ok: false, reply: invalidValue('scope', 'TYPE_STRING', value) };
  const scopes = (value ?? []).filter((s) => s.trim() !== '');
  if (scopes.length === 0) {
    return { ok: false, reply: invalidArgument('scope', 'At least one scope is required.', 'Request contains an invalid argument.') };
  }
  return { ok: true, value: scopes };
}

/** google.protobuf.Duration JSON ("3600s", "1.5s") in [1s, 3600s]; default 3600s. */
function checkLifetime(value: unknown): Checked<number> {
  if (value === undefined) return { ok: true, value: DEFAULT_LIFETIME_SECONDS };
  const match = typeof value === 'string' ? /^(-?\d+)(?:\.(\d{1,9}))?s$/.exec(value) : null;
  if (!match) return { ok: false, reply: invalidValue('lifetime', 'type.googleapis.com/google.protobuf.Duration', value) };
  const seconds = Number(`${match[1] ?? '0'}.${match[2] ?? '0'}`);
  if (seconds < 1 || seconds > MAX_LIFETIME_SECONDS) {
    const description =
      `The lifetime must be between 1s and ${MAX_LIFETIME_SECONDS}s; got ${String(value)}. ` +
      'Longer lifetimes need the constraints/iam.allowServiceAccountCredentialLifetimeExtension organization policy.';
    return { ok: false, reply: invalidArgument('lifetime', description, 'Request contains an invalid argument.') };
  }
  return { ok: true, value: seconds };
}

function mintAccessToken(state: EmulatorState, token: IssuedToken): string {
  const value = `ya29.${randomBytes(48).toString('base64url')}`;
  state.tokens.set(value, token);
  return value;
}

function wholeSeconds(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

/** "2026-11-25T18:00:00Z": RFC 3339, UTC, no fractional seconds. */
function rfc3339(ms: number): string {
  return new Date(wholeSeconds(ms)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// ─────────────────────────────────────────────────────────────────────────────
// IAM Credentials: generateIdToken
// ─────────────────────────────────────────────────────────────────────────────

const ID_TOKEN_LIFETIME_SECONDS = 3600;

function handleGenerateIdToken(state: EmulatorState, ctx: RequestContext, rawName: string): Reply {
  const caller = authenticateCaller(state, ctx, 'generateIdToken');
  if (!caller.ok) return caller.reply;
  const body = parseRequestBody(ctx.body, ['delegates', 'audience', 'includeEmail', 'useEmailAzp']);
  if (!body.ok) return body.reply;
  const request = checkIdTokenRequest(body.value);
  if (!request.ok) return request.reply;
  const target = resolveServiceAccountName(state, rawName, 'name');
  if (!target.ok) return target.reply;
  const delegates = resolveDelegates(state, body.value['delegates']);
  if (!delegates.ok) return delegates.reply;
  const denied = authorizeChain(state, caller.value, delegates.value, target.value, 'generateIdToken');
  if (denied) return denied;

  const iat = Math.floor(state.now() / 1000);
  const { audience, includeEmail, useEmailAzp } = request.value;
  const claims: IdTokenClaimsWire = {
    iss: 'https://accounts.google.com',
    azp: useEmailAzp ? target.value.email : target.value.uniqueId,
    aud: audience,
    sub: target.value.uniqueId,
    ...(includeEmail ? { email: target.value.email, email_verified: true as const } : {}),
    iat,
    exp: iat + ID_TOKEN_LIFETIME_SECONDS,
  };
  const response: GenerateIdTokenResponseWire = { token: state.signer.sign(claims) };
  return jsonReply(200, response);
}

function checkIdTokenRequest(
  body: Record<string, unknown>,
): Checked<{ audience: string; includeEmail: boolean; useEmailAzp: boolean }> {
  const { audience, includeEmail, useEmailAzp } = body;
  if (audience !== undefined && typeof audience !== 'string') {
    return { ok: false, reply: invalidValue('audience', 'TYPE_STRING', audience) };
  }
  if (!audience) {
    return { ok: false, reply: invalidArgument('audience', 'The audience is required.', 'Request contains an invalid argument.') };
  }
  if (includeEmail !== undefined && typeof includeEmail !== 'boolean') {
    return { ok: false, reply: invalidValue('include_email', 'TYPE_BOOL', includeEmail) };
  }
  if (useEmailAzp !== undefined && typeof useEmailAzp !== 'boolean') {
    return { ok: false, reply: invalidValue('use_email_azp', 'TYPE_BOOL', useEmailAzp) };
  }
  return { ok: true, value: { audience, includeEmail: includeEmail ?? false, useEmailAzp: useEmailAzp ?? false } };
}

// ─────────────────────────────────────────────────────────────────────────────
// ID token signing key and certificate endpoints
// ─────────────────────────────────────────────────────────────────────────────

interface IdTokenSigner {
  readonly kid: string;
  readonly jwk: JwkWire;
  readonly publicKeyPem: string;
  sign(claims: IdTokenClaimsWire): string;
  /** The claims of a token this signer produced, or undefined if the signature does not verify. */
  verify(token: string): Record<string, unknown> | undefined;
}

function createIdTokenSigner(): IdTokenSigner {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const kid = createHash('sha1').update(publicKeyPem).digest('hex');
  const exported = publicKey.export({ format: 'jwk' });
  const jwk: JwkWire = { kty: 'RSA', alg: 'RS256', use: 'sig', kid, n: exported.n ?? '', e: exported.e ?? '' };
  return {
    kid,
    jwk,
    publicKeyPem,
    sign: (claims) => signJwt(privateKey, kid, claims),
    verify: (token) => verifyJwt(publicKey, token),
  };
}

function base64UrlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function signJwt(privateKey: KeyObject, kid: string, claims: IdTokenClaimsWire): string {
  const signingInput = `${base64UrlJson({ alg: 'RS256', kid, typ: 'JWT' })}.${base64UrlJson(claims)}`;
  const signature = cryptoSign('sha256', Buffer.from(signingInput), privateKey).toString('base64url');
  return `${signingInput}.${signature}`;
}

function verifyJwt(publicKey: KeyObject, token: string): Record<string, unknown> | undefined {
  const [header, payload, signature] = token.split('.');
  if (header === undefined || payload === undefined || signature === undefined) return undefined;
  const valid = cryptoVerify('sha256', Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, 'base64url'));
  if (!valid) return undefined;
  const claims = parseJson(Buffer.from(payload, 'base64url').toString('utf8'));
  return claims.ok && isRecord(claims.value) ? claims.value : undefined;
}

const CERTS_CACHE_CONTROL = 'public, max-age=21600, must-revalidate, no-transform';

function handleJwks(state: EmulatorState): Reply {
  return jsonReply(200, { keys: [state.signer.jwk] }, { 'cache-control': CERTS_CACHE_CONTROL });
}

function handlePemCerts(state: EmulatorState): Reply {
  return jsonReply(200, { [state.signer.kid]: state.signer.publicKeyPem }, { 'cache-control': CERTS_CACHE_CONTROL });
}

// ─────────────────────────────────────────────────────────────────────────────
// STS: Credential Access Boundary token exchange
// ─────────────────────────────────────────────────────────────────────────────

const MAX_ACCESS_BOUNDARY_RULES = 10;
const STORAGE_BUCKET_RESOURCE = /^\/\/storage\.googleapis\.com\/projects\/_\/buckets\/[^/]+$/;

/** The STS parameters this emulator understands, in OAuth (snake_case) naming. */
interface StsParams {
  grant_type?: string;
  requested_token_type?: string;
  subject_token?: string;
  subject_token_type?: string;
  options?: string;
  audience?: string;
}

function handleSts(state: EmulatorState, ctx: RequestContext): Reply {
  const params = readStsParams(ctx);
  if (!params.ok) return params.reply;
  const request = checkStsRequest(params.value);
  if (!request.ok) return request.reply;
  const boundary = parseAccessBoundary(request.value.options);
  if (!boundary.ok) return boundary.reply;
  const subject = checkSubjectToken(state, request.value.subjectToken);
  if (!subject.ok) return subject.reply;

  const accessToken = mintAccessToken(state, {
    ...subject.value,
    kind: 'sts-downscoped',
    scopes: [...subject.value.scopes],
    delegates: [...subject.value.delegates],
    accessBoundary: boundary.value,
  });
  const response: StsTokenResponseWire = {
    access_token: accessToken,
    issued_token_type: STS_TOKEN_TYPE_ACCESS_TOKEN,
    token_type: 'Bearer',
    expires_in: Math.max(0, Math.floor((subject.value.expiresAt - state.now()) / 1000)),
  };
  return jsonReply(200, response);
}

/** Form-encoded (OAuth style) or JSON (REST reference, camelCase) request. */
function readStsParams(ctx: RequestContext): Checked<StsParams> {
  const contentType = ctx.headers['content-type'] ?? '';
  if (!contentType.includes('application/json')) {
    const form = new URLSearchParams(ctx.body);
    const get = (name: string): string | undefined => form.get(name) ?? undefined;
    return {
      ok: true,
      value: {
        grant_type: get('grant_type'),
        requested_token_type: get('requested_token_type'),
        subject_token: get('subject_token'),
        subject_token_type: get('subject_token_type'),
        options: get('options'),
        audience: get('audience'),
      },
    };
  }
  const parsed = parseJson(ctx.body);
  if (!parsed.ok || !isRecord(parsed.value)) return { ok: false, reply: oauthError('invalid_request', 'The request body is not valid JSON.') };
  const json = parsed.value;
  const get = (name: string): string | undefined => (typeof json[name] === 'string' ? (json[name] as string) : undefined);
  return {
    ok: true,
    value: {
      grant_type: get('grantType'),
      requested_token_type: get('requestedTokenType'),
      subject_token: get('subjectToken'),
      subject_token_type: get('subjectTokenType'),
      options: get('options'),
      audience: get('audience'),
    },
  };
}

function checkStsRequest(params: StsParams): Checked<{ subjectToken: string; options: string }> {
  const fail = (error: string, description: string): Checked<never> => ({ ok: false, reply: oauthError(error, description) });
  if (!params.grant_type) return fail('invalid_request', 'Missing required parameter: "grant_type".');
  if (params.grant_type !== STS_GRANT_TYPE_TOKEN_EXCHANGE) {
    return fail('unsupported_grant_type', `Invalid value for "grant_type": ${params.grant_type}. Expected ${STS_GRANT_TYPE_TOKEN_EXCHANGE}.`);
  }
  if (params.requested_token_type !== STS_TOKEN_TYPE_ACCESS_TOKEN) {
    return fail('invalid_request', `Invalid value for "requested_token_type". Expected ${STS_TOKEN_TYPE_ACCESS_TOKEN}.`);
  }
  if (params.subject_token_type !== STS_TOKEN_TYPE_ACCESS_TOKEN) {
    return fail(
      'invalid_request',
      `Invalid value for "subject_token_type". This emulator only supports ${STS_TOKEN_TYPE_ACCESS_TOKEN} (Credential Access Boundary downscoping).`,
    );
  }
  if (params.audience) {
    return fail('invalid_request', 'The "audience" parameter is for workload identity federation, which this emulator does not support.');
  }
  if (!params.subject_token) return fail('invalid_request', 'Missing required parameter: "subject_token".');
  if (!params.options) return fail('invalid_request', 'Missing required parameter: "options" (the Credential Access Boundary).');
  return { ok: true, value: { subjectToken: params.subject_token, options: params.options } };
}

/** Validates the CAB in `options`: 1..10 rules over Cloud Storage buckets, `inRole:` permissions. */
function parseAccessBoundary(options: string): Checked<CredentialAccessBoundaryWire> {
  const fail = (description: string): Checked<never> => ({
    ok: false,
    reply: oauthError('invalid_request', `Invalid value for "options": ${description}`),
  });
  const parsed = parseJson(options);
  if (!parsed.ok || !isRecord(parsed.value)) return fail('not a JSON object.');
  const accessBoundary = parsed.value['accessBoundary'];
  if (!isRecord(accessBoundary)) return fail('"accessBoundary" is required.');
  const rules = accessBoundary['accessBoundaryRules'];
  if (!Array.isArray(rules) || rules.length === 0) return fail('at least one access boundary rule is required.');
  if (rules.length > MAX_ACCESS_BOUNDARY_RULES) {
    return fail(`at most ${MAX_ACCESS_BOUNDARY_RULES} access boundary rules are allowed; got ${rules.length}.`);
  }
  const checked: AccessBoundaryRuleWire[] = [];
  for (const [index, rule] of rules.entries()) {
    const result = checkAccessBoundaryRule(rule, index);
    if (typeof result === 'string') return fail(result);
    checked.push(result);
  }
  return { ok: true, value: { accessBoundary: { accessBoundaryRules: checked } } };
}

/** A valid rule, or a description of what is wrong with it. */
function checkAccessBoundaryRule(rule: unknown, index: number): AccessBoundaryRuleWire | string {
  const where = `accessBoundaryRules[${index}]`;
  if (!isRecord(rule)) return `${where} must be an object.`;
  const { availableResource, availablePermissions, availabilityCondition } = rule;
  if (typeof availableResource !== 'string' || availableResource === '') return `${where}.availableResource is required.`;
  if (!STORAGE_BUCKET_RESOURCE.test(availableResource)) {
    return `${where}.availableResource must be a Cloud Storage bucket (//storage.googleapis.com/projects/_/buckets/BUCKET).`;
  }
  if (!isStringArray(availablePermissions) || availablePermissions.length === 0) {
    return `${where}.availablePermissions must list at least one permission.`;
  }
  if (!availablePermissions.every((p) => /^inRole:\S+$/.test(p))) return `${where}.availablePermissions entries must look like "inRole:ROLE".`;
  const out: AccessBoundaryRuleWire = { availableResource, availablePermissions: [...availablePermissions] };
  if (availabilityCondition === undefined) return out;
  if (!isRecord(availabilityCondition) || typeof availabilityCondition['expression'] !== 'string' || availabilityCondition['expression'] === '') {
    return `${where}.availabilityCondition.expression is required when a condition is given.`;
  }
  const { expression, title, description } = availabilityCondition;
  out.availabilityCondition = {
    expression,
    ...(typeof title === 'string' ? { title } : {}),
    ...(typeof description === 'string' ? { description } : {}),
  };
  return out;
}

/** The subject must be a live, non-downscoped token this emulator issued, carrying cloud-platform. */
function checkSubjectToken(state: EmulatorState, subjectToken: string): Checked<IssuedToken> {
  const fail = (description: string): Checked<never> => ({ ok: false, reply: oauthError('invalid_grant', description) });
  const token = state.tokens.get(subjectToken);
  if (!token) return fail('The subject token is invalid.');
  if (token.expiresAt <= state.now()) return fail('The subject token has expired.');
  if (token.kind === 'sts-downscoped') return fail('The subject token is already downscoped.');
  if (!token.scopes.includes(CLOUD_PLATFORM_SCOPE)) {
    return fail(`The subject token must carry the ${CLOUD_PLATFORM_SCOPE} scope.`);
  }
  return { ok: true, value: token };
}

// ─────────────────────────────────────────────────────────────────────────────
// Gemini API v1alpha auth_tokens.create (Live API ephemeral tokens)
// ─────────────────────────────────────────────────────────────────────────────

const GEMINI_SERVICE = 'generativelanguage.googleapis.com';
/** Google refuses expireTime / newSessionExpireTime 20 hours or more in the future. */
const AUTH_TOKEN_MAX_MS = 20 * 3600_000;
const AUTH_TOKEN_DEFAULT_EXPIRE_MS = 30 * 60_000;
const AUTH_TOKEN_DEFAULT_NEW_SESSION_MS = 60_000;
const AUTH_TOKEN_FIELDS = ['name', 'expireTime', 'newSessionExpireTime', 'uses', 'bidiGenerateContentSetup', 'fieldMask'];
const SETUP_FIELDS = [
  'model', 'generationConfig', 'systemInstruction', 'tools', 'realtimeInputConfig', 'sessionResumption', 'contextWindowCompression',
  'inputAudioTranscription', 'outputAudioTranscription', 'proactivity', 'safetySettings',
];
const GENERATION_CONFIG_FIELDS = [
  'candidateCount', 'maxOutputTokens', 'temperature', 'topP', 'topK', 'presencePenalty', 'frequencyPenalty', 'responseModalities',
  'speechConfig', 'mediaResolution', 'seed', 'thinkingConfig', 'enableAffectiveDialog', 'translationConfig',
];

/** The Gemini API's answers for a missing or unknown API key. */
function geminiKeyRefusal(missing: boolean): Reply {
  if (missing) {
    return rpcError(403, 'PERMISSION_DENIED', "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");
  }
  return rpcError(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
    { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: GEMINI_SERVICE } },
  ]);
}

/** Unknown names in a nested message, the way the JSON transcoder words them. */
function unknownNestedField(value: Record<string, unknown>, allowed: readonly string[], at: string): Reply | undefined {
  const unknown = Object.keys(value).find((key) => !allowed.includes(key));
  return unknown === undefined ? undefined : invalidJsonPayload(`Unknown name ${JSON.stringify(unknown)} at '${at}': Cannot find field.`);
}

/** An RFC 3339 time in (now, now + 20 h), or the default offset when absent. */
function checkAuthTokenTime(state: EmulatorState, value: unknown, field: string, defaultMs: number): Checked<number> {
  const now = state.now();
  if (value === undefined) return { ok: true, value: now + defaultMs };
  const ms = typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)$/.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) return { ok: false, reply: invalidValue(field, 'type.googleapis.com/google.protobuf.Timestamp', value) };
  if (ms <= now) return { ok: false, reply: invalidArgument(field, `${field} must be in the future.`) };
  if (ms - now >= AUTH_TOKEN_MAX_MS) return { ok: false, reply: invalidArgument(field, `${field} must be less than 20 hours in the future.`) };
  return { ok: true, value: ms };
}

function handleCreateAuthToken(state: EmulatorState, ctx: RequestContext): Reply {
  const key = ctx.headers['x-goog-api-key'] ?? ctx.url.searchParams.get('key') ?? undefined;
  if (key === undefined || key === '') return geminiKeyRefusal(true);
  if (!state.geminiApiKeys.has(key)) return geminiKeyRefusal(false);
  const parsed = parseRequestBody(ctx.body, AUTH_TOKEN_FIELDS);
  if (!parsed.ok) return parsed.reply;
  const body = parsed.value;
  const uses = body['uses'] ?? 1;
  if (typeof uses !== 'number' || !Number.isInteger(uses)) return invalidValue('uses', 'TYPE_INT32', uses);
  if (uses < 0) return invalidArgument('uses', 'uses must not be negative.');
  const expire = checkAuthTokenTime(state, body['expireTime'], 'expire_time', AUTH_TOKEN_DEFAULT_EXPIRE_MS);
  if (!expire.ok) return expire.reply;
  const newSession = checkAuthTokenTime(state, body['newSessionExpireTime'], 'new_session_expire_time', AUTH_TOKEN_DEFAULT_NEW_SESSION_MS);
  if (!newSession.ok) return newSession.reply;
  const setup = body['bidiGenerateContentSetup'];
  if (setup !== undefined) {
    if (!isRecord(setup)) return invalidValue('bidi_generate_content_setup', 'type.googleapis.com/google.ai.generativelanguage.v1alpha.BidiGenerateContentSetup', setup);
    const unknown = unknownNestedField(setup, SETUP_FIELDS, 'bidi_generate_content_setup');
    if (unknown) return unknown;
    const generationConfig = setup['generationConfig'];
    if (generationConfig !== undefined) {
      if (!isRecord(generationConfig)) return invalidValue('bidi_generate_content_setup.generation_config', 'type.googleapis.com/google.ai.generativelanguage.v1alpha.GenerationConfig', generationConfig);
      const unknownConfig = unknownNestedField(generationConfig, GENERATION_CONFIG_FIELDS, 'bidi_generate_content_setup.generation_config');
      if (unknownConfig) return unknownConfig;
    }
    const model = setup['model'];
    if (typeof model !== 'string' || !/^models\/[a-z0-9][a-z0-9.-]*$/.test(model)) {
      return invalidArgument('bidi_generate_content_setup.model', `Invalid model name: ${JSON.stringify(model ?? '')}; expected models/{model}.`);
    }
  }
  const fieldMask = body['fieldMask'];
  if (fieldMask !== undefined && typeof fieldMask !== 'string') return invalidValue('field_mask', 'type.googleapis.com/google.protobuf.FieldMask', fieldMask);
  const name = `auth_tokens/${randomBytes(24).toString('base64url')}`;
  state.authTokens.push({
    name,
    uses,
    expireTime: rfc3339(expire.value),
    newSessionExpireTime: rfc3339(newSession.value),
    ...(isRecord(setup) ? { setup: structuredClone(setup) } : {}),
    ...(typeof fieldMask === 'string' ? { fieldMask } : {}),
  });
  // expireTime, newSessionExpireTime and uses are input only: the answer names the token.
  return jsonReply(200, { name });
}

// ─────────────────────────────────────────────────────────────────────────────
// Secret Manager v1 AccessSecretVersion
// ─────────────────────────────────────────────────────────────────────────────

const SECRET_MANAGER_SERVICE = 'secretmanager.googleapis.com';
const ACCESS_SECRET_METHOD = 'google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion';

function handleAccessSecret(state: EmulatorState, ctx: RequestContext, project: string, secret: string, version: string): Reply {
  const token = bearerToken(ctx.headers);
  if (token === undefined) return unauthenticated(SECRET_MANAGER_SERVICE, ACCESS_SECRET_METHOD, 'CREDENTIALS_MISSING');
  if (!state.callerTokens.has(token)) return unauthenticated(SECRET_MANAGER_SERVICE, ACCESS_SECRET_METHOD, 'ACCESS_TOKEN_TYPE_UNSUPPORTED');
  const projectNumber = projectNumberFor(project);
  const versions = state.secrets.get(`projects/${project}/secrets/${secret}`);
  if (!versions || versions.length === 0) {
    return rpcError(404, 'NOT_FOUND', `Secret [projects/${projectNumber}/secrets/${secret}] not found or has no versions.`);
  }
  const number = version === 'latest' ? versions.length : /^[1-9]\d{0,18}$/.test(version) ? Number(version) : NaN;
  if (Number.isNaN(number)) return invalidArgument('name', `Invalid resource field value in the request.`);
  const value = versions[number - 1];
  if (value === undefined) return rpcError(404, 'NOT_FOUND', `Secret Version [projects/${projectNumber}/secrets/${secret}/versions/${number}] not found.`);
  const data = Buffer.from(value, 'utf8');
  return jsonReply(200, {
    name: `projects/${projectNumber}/secrets/${secret}/versions/${number}`,
    payload: { data: data.toString('base64'), dataCrc32c: String(crc32c(data)) },
  });
}

/** A stable 12-digit project number for a project id. */
function projectNumberFor(project: string): string {
  if (/^\d+$/.test(project)) return project;
  const digest = createHash('sha256').update(project).digest('hex');
  return String(10n ** 11n + (BigInt(`0x${digest}`) % (9n * 10n ** 11n)));
}

// ─────────────────────────────────────────────────────────────────────────────
// tokeninfo
// ─────────────────────────────────────────────────────────────────────────────

const EMAIL_SCOPES = ['https://www.googleapis.com/auth/userinfo.email', 'email', 'openid'];

function handleTokenInfo(state: EmulatorState, ctx: RequestContext): Reply {
  const form = ctx.method === 'POST' ? new URLSearchParams(ctx.body) : new URLSearchParams();
  const pick = (name: string): string | undefined => ctx.url.searchParams.get(name) ?? form.get(name) ?? undefined;
  const idToken = pick('id_token');
  if (idToken !== undefined) return idTokenInfo(state, idToken);
  const accessToken = pick('access_token') ?? bearerToken(ctx.headers);
  if (accessToken === undefined) return oauthError('invalid_request', 'Either access_token, id_token, or token_handle required');
  return accessTokenInfo(state, accessToken);
}

function invalidTokenValue(): Reply {
  return oauthError('invalid_token', 'Invalid Value');
}

function accessTokenInfo(state: EmulatorState, accessToken: string): Reply {
  const token = state.tokens.get(accessToken);
  const now = state.now();
  if (!token || token.expiresAt <= now) return invalidTokenValue();
  const account = state.accountsByEmail.get(token.serviceAccount);
  const uniqueId = account?.uniqueId ?? uniqueIdFor(token.serviceAccount);
  const withEmail = token.scopes.some((scope) => EMAIL_SCOPES.includes(scope));
  const info: AccessTokenInfoWire = {
    azp: uniqueId,
    aud: uniqueId,
    ...(withEmail ? { sub: uniqueId } : {}),
    scope: token.scopes.join(' '),
    exp: String(Math.floor(token.expiresAt / 1000)),
    expires_in: String(Math.max(0, Math.floor((token.expiresAt - now) / 1000))),
    ...(withEmail ? { email: token.serviceAccount, email_verified: 'true' as const } : {}),
    access_type: 'online',
  };
  return jsonReply(200, info);
}

/** Like Google: the verified claims, every value stringified, plus the header's alg/kid/typ. */
function idTokenInfo(state: EmulatorState, idToken: string): Reply {
  const claims = state.signer.verify(idToken);
  const exp = claims?.['exp'];
  if (!claims || typeof exp !== 'number' || exp * 1000 <= state.now()) return invalidTokenValue();
  const info: Record<string, string> = {};
  for (const [name, value] of Object.entries(claims)) info[name] = String(value);
  return jsonReply(200, { ...info, alg: 'RS256', kid: state.signer.kid, typ: 'JWT' });
}

// ─────────────────────────────────────────────────────────────────────────────
// Fault injection
// ─────────────────────────────────────────────────────────────────────────────

type FaultAction =
  | { kind: 'fail'; status: number; retryAfterSeconds?: number }
  | { kind: 'corrupt'; mode: 'malformed-json' | 'reset' };

interface OneShotRule {
  readonly action: FaultAction;
  readonly match?: EndpointName;
  remaining: number;
}

/** HTTP status → google.rpc status name and Google's stock message for it. */
const CANONICAL: Readonly<Record<number, { status: RpcStatus; message: string }>> = {
  400: { status: 'INVALID_ARGUMENT', message: 'Request contains an invalid argument.' },
  401: { status: 'UNAUTHENTICATED', message: `Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. ${AUTH_HELP}` },
  403: { status: 'PERMISSION_DENIED', message: 'The caller does not have permission' },
  404: { status: 'NOT_FOUND', message: 'Requested entity was not found.' },
  409: { status: 'ABORTED', message: 'The operation was aborted.' },
  412: { status: 'FAILED_PRECONDITION', message: 'Precondition check failed.' },
  429: { status: 'RESOURCE_EXHAUSTED', message: 'Resource has been exhausted (e.g. check quota).' },
  499: { status: 'CANCELLED', message: 'The operation was cancelled.' },
  500: { status: 'INTERNAL', message: 'Internal error encountered.' },
  501: { status: 'UNIMPLEMENTED', message: 'Operation is not implemented, or supported, or enabled.' },
  503: { status: 'UNAVAILABLE', message: 'The service is currently unavailable.' },
  504: { status: 'DEADLINE_EXCEEDED', message: 'Deadline expired before operation could complete.' },
};

/** google.rpc status for an HTTP status code (AIP-193 mapping; anything else is UNKNOWN). */
export function canonicalStatusFor(httpStatus: number): { status: RpcStatus; message: string } {
  return CANONICAL[httpStatus] ?? { status: 'UNKNOWN', message: 'Unknown error.' };
}

/** The `faults` object: switches for callers, plus `latencyFor`/`take` for the servers. */
class FaultEngine implements FaultSwitches {
  private readonly latency = new Map<EndpointName | '*', number>();
  private rules: OneShotRule[] = [];

  setLatency(ms: number, match?: EndpointName): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latency must be a finite number >= 0, got ${ms}`);
    checkMatch(match);
    if (ms === 0) this.latency.delete(match ?? '*');
    else this.latency.set(match ?? '*', ms);
  }

  failNext(opts: { status: number; count?: number; retryAfterSeconds?: number; match?: EndpointName }): void {
    if (!Number.isInteger(opts.status) || opts.status < 400 || opts.status > 599) {
      throw new RangeError(`status must be an HTTP error status (400-599), got ${opts.status}`);
    }
    const { retryAfterSeconds } = opts;
    if (retryAfterSeconds !== undefined && (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0)) {
      throw new RangeError(`retryAfterSeconds must be a whole number >= 0, got ${retryAfterSeconds}`);
    }
    const action: FaultAction =
      retryAfterSeconds === undefined ? { kind: 'fail', status: opts.status } : { kind: 'fail', status: opts.status, retryAfterSeconds };
    this.addRule(action, opts.count, opts.match);
  }

  corruptNext(opts: { mode: 'malformed-json' | 'reset'; count?: number; match?: EndpointName }): void {
    if (opts.mode !== 'malformed-json' && opts.mode !== 'reset') throw new RangeError(`unknown corruption mode ${String(opts.mode)}`);
    this.addRule({ kind: 'corrupt', mode: opts.mode }, opts.count, opts.match);
  }

  clear(): void {
    this.latency.clear();
    this.rules = [];
  }

  /** Total added latency for a request to `endpoint`. */
  latencyFor(endpoint: EndpointName): number {
    return (this.latency.get('*') ?? 0) + (this.latency.get(endpoint) ?? 0);
  }

  /** Consumes and returns the oldest one-shot fault that matches `endpoint`. */
  take(endpoint: EndpointName): FaultAction | undefined {
    const rule = this.rules.find((r) => r.match === undefined || r.match === endpoint);
    if (!rule) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.rules = this.rules.filter((r) => r !== rule);
    return rule.action;
  }

  /** JSON-friendly view of what is armed (Infinity as "Infinity"). */
  snapshot(): unknown {
    return {
      latency: Object.fromEntries(this.latency),
      pending: this.rules.map((r) => ({
        ...r.action,
        match: r.match ?? '*',
        remaining: Number.isFinite(r.remaining) ? r.remaining : 'Infinity',
      })),
    };
  }

  private addRule(action: FaultAction, count: number | undefined, match: EndpointName | undefined): void {
    const remaining = count ?? 1;
    if (!(remaining === Infinity || (Number.isInteger(remaining) && remaining >= 1))) {
      throw new RangeError(`count must be a whole number >= 1 or Infinity, got ${remaining}`);
    }
    checkMatch(match);
    this.rules.push(match === undefined ? { action, remaining } : { action, match, remaining });
  }
}

function checkMatch(match: unknown): void {
  if (match !== undefined && !ENDPOINT_NAMES.includes(match as EndpointName)) {
    throw new RangeError(`match must be one of ${ENDPOINT_NAMES.join(', ')}, got ${String(match)}`);
  }
}

/**
 * Applies the armed faults for one request: waits out the latency, then, if a
 * one-shot fault matches, writes it and returns true (the request is done).
 * `faults` must be the object a GoogleEmulator exposes. @internal
 */
export async function applyFaults(faults: FaultSwitches, endpoint: EndpointName, res: ServerResponse): Promise<boolean> {
  if (!(faults instanceof FaultEngine)) return false;
  const delay = faults.latencyFor(endpoint);
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  const action = faults.take(endpoint);
  if (!action) return false;
  if (action.kind === 'fail') writeReply(res, failureReply(action.status, action.retryAfterSeconds));
  else if (action.mode === 'malformed-json') writeReply(res, malformedReply());
  else resetMidResponse(res);
  return true;
}

function failureReply(httpStatus: number, retryAfterSeconds?: number): Reply {
  const { status, message } = canonicalStatusFor(httpStatus);
  const headers: Record<string, string> = retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) };
  return rpcError(httpStatus, status, message, undefined, headers);
}

/** 200 that claims to be JSON but is an HTML error page (what a broken proxy serves). */
function malformedReply(): Reply {
  return {
    status: 200,
    headers: { 'content-type': 'application/json; charset=UTF-8' },
    text: '<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>\n',
  };
}

/** Sends the status line, headers and half a body, then destroys the socket. */
function resetMidResponse(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8', 'content-length': '4096' });
  res.write('{\n  "accessToken": "ya29.trunc', () => {
    res.socket?.destroy();
  });
}

/** `/__emulator/faults`: GET shows, POST arms (FaultControlRequestWire), DELETE clears. */
function handleFaultControl(faults: FaultEngine, ctx: RequestContext): Reply {
  if (ctx.method === 'DELETE') faults.clear();
  if (ctx.method === 'POST') {
    const parsed = parseJson(ctx.body);
    if (!parsed.ok || !isRecord(parsed.value)) return rpcError(400, 'INVALID_ARGUMENT', 'Body must be a JSON object.');
    try {
      armFromWire(faults, parsed.value);
    } catch (err) {
      return rpcError(400, 'INVALID_ARGUMENT', err instanceof Error ? err.message : String(err));
    }
  }
  return jsonReply(200, faults.snapshot());
}

function armFromWire(faults: FaultEngine, body: Record<string, unknown>): void {
  const known = ['setLatency', 'failNext', 'corruptNext'];
  const unknown = Object.keys(body).find((key) => !known.includes(key));
  if (unknown !== undefined) throw new RangeError(`unknown key "${unknown}"; expected ${known.join(', ')}`);
  const { setLatency, failNext, corruptNext } = body;
  if (setLatency !== undefined) {
    const spec = requireRecord(setLatency, 'setLatency');
    faults.setLatency(requireNumber(spec['ms'], 'setLatency.ms'), optionalMatch(spec['match']));
  }
  if (failNext !== undefined) {
    const spec = requireRecord(failNext, 'failNext');
    const retryAfter = spec['retryAfterSeconds'];
    faults.failNext({
      status: requireNumber(spec['status'], 'failNext.status'),
      count: wireCount(spec['count']),
      ...(retryAfter === undefined ? {} : { retryAfterSeconds: requireNumber(retryAfter, 'failNext.retryAfterSeconds') }),
      ...matchField(spec['match']),
    });
  }
  if (corruptNext !== undefined) {
    const spec = requireRecord(corruptNext, 'corruptNext');
    const mode = spec['mode'];
    if (mode !== 'malformed-json' && mode !== 'reset') throw new RangeError('corruptNext.mode must be "malformed-json" or "reset"');
    faults.corruptNext({ mode, count: wireCount(spec['count']), ...matchField(spec['match']) });
  }
}

function requireRecord(value: unknown, name: string): Record<string, unknown> {
  if (!isRecord(value)) throw new RangeError(`${name} must be an object`);
  return value;
}

function requireNumber(value: unknown, name: string): number {
  if (typeof value !== 'number') throw new RangeError(`${name} must be a number`);
  return value;
}

function wireCount(value: unknown): number {
  if (value === undefined) return 1;
  if (value === 'Infinity') return Infinity;
  return requireNumber(value, 'count');
}

function optionalMatch(value: unknown): EndpointName | undefined {
  if (value === undefined) return undefined;
  checkMatch(value);
  return value as EndpointName;
}

function matchField(value: unknown): { match?: EndpointName } {
  const match = optionalMatch(value);
  return match === undefined ? {} : { match };
}
