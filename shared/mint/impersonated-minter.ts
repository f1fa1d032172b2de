/**
 * Mints access tokens with IAM Credentials `generateAccessToken`, authenticated by
 * google-auth-library: Application Default Credentials in production; in development and
 * tests a fixed bearer token accepted by the loopback emulator.
 *
 * The call is the one google-auth-library's `Impersonated` client makes (same URL, body and
 * response), sent through the source client's `request` with gaxios' own retries off:
 * `Impersonated` always retries three times with an unjittered backoff that ignores
 * `Retry-After`, which under this module's retries would multiply attempts. Instead, each
 * mint gets bounded retries with full jitter (shared/resilience/retry.ts) inside the
 * request's deadline, and every attempt passes a circuit breaker, so a dead IAM endpoint is
 * not hammered (docs/decisions.md).
 */
import type { AuthClient } from 'google-auth-library';
import { DEFAULTS } from '../config/defaults';
import type { SourceCredentials } from '../config/environment';
import type { CircuitTransition } from '../resilience/circuit-breaker';
import { Deadline } from '../resilience/deadline';
import type { AccessBoundaryWire } from '../policy/access-boundary';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN } from '../oauth-uris';
import type { IdTokenRequest, Minter, MintedToken, MintRequest } from './minter';
import { createResilientCall, ResilientCallFailed, upstreamResilience, type UpstreamResilience } from './resilient-call';
import { callerError, UpstreamFailure } from './upstream-error';

export interface ImpersonatedMinterOptions {
  /** IAM Credentials base URL, e.g. https://iamcredentials.googleapis.com. */
  endpoint: string;
  /** Google STS base URL (default DEFAULTS.stsEndpoint), for access boundaries. */
  stsEndpoint?: string;
  source: SourceCredentials;
  resilience?: Partial<UpstreamResilience>;
  /** Circuit state changes, for the audit trail. */
  onCircuitTransition?: (transition: CircuitTransition) => void;
}


export function createImpersonatedMinter(options: ImpersonatedMinterOptions): Minter {
  const call = createResilientCall(upstreamResilience(options.resilience), options.onCircuitTransition);
  let sourceClient: Promise<AuthClient> | undefined;
  const source = () => (sourceClient ??= createSourceClient(options.source));
  const baseUrl = options.endpoint.replace(/\/+$/, '');

  const stsUrl = `${(options.stsEndpoint ?? DEFAULTS.stsEndpoint).replace(/\/+$/, '')}/v1/token`;

  /** IAM Credentials generateAccessToken, authenticated as the broker itself. */
  async function generateAccessToken(request: MintRequest, signal: AbortSignal): Promise<MintedToken> {
    const client = await source();
    const { data } = await client.request<unknown>({
      url: `${baseUrl}/v1/projects/-/serviceAccounts/${request.serviceAccount}:generateAccessToken`,
      method: 'POST',
      data: {
        delegates: request.delegates.map((email) => `projects/-/serviceAccounts/${email}`),
        scope: [...request.scopes],
        lifetime: `${request.lifetimeSeconds}s`,
      },
      retry: false,
      signal,
    });
    return parseGenerateAccessToken(data);
  }

  /** IAM Credentials generateIdToken (with the account's email in the token, as Cloud Run expects). */
  async function generateIdToken(request: IdTokenRequest, signal: AbortSignal): Promise<MintedToken> {
    const client = await source();
    const { data } = await client.request<unknown>({
      url: `${baseUrl}/v1/projects/-/serviceAccounts/${request.serviceAccount}:generateIdToken`,
      method: 'POST',
      data: { delegates: request.delegates.map((email) => `projects/-/serviceAccounts/${email}`), audience: request.audience, includeEmail: true },
      retry: false,
      signal,
    });
    return parseGenerateIdToken(data);
  }

  /**
   * STS token exchange with an access boundary (what google-auth-library's DownscopedClient
   * sends, which cannot be pointed at another endpoint). The subject token authenticates the
   * call, so it goes through the library's bare transport, without the broker's credentials.
   */
  async function exchangeAtSts(token: MintedToken, boundary: AccessBoundaryWire, signal: AbortSignal): Promise<MintedToken> {
    const client = await source();
    const { data } = await client.transporter.request<unknown>({
      url: stsUrl,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      data: new URLSearchParams({
        grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
        requested_token_type: TOKEN_TYPE_ACCESS_TOKEN,
        subject_token_type: TOKEN_TYPE_ACCESS_TOKEN,
        subject_token: token.accessToken,
        options: JSON.stringify({ accessBoundary: boundary }),
      }).toString(),
      retry: false,
      signal,
    });
    return { accessToken: parseStsToken(data), expiresAtMs: token.expiresAtMs };
  }

  /** One upstream operation with the minter's retries, breaker and per-attempt timeout, inside the deadline. */
  async function resilient(operation: string, run: (signal: AbortSignal) => Promise<MintedToken>, deadline: Deadline): Promise<MintedToken> {
    try {
      const { value, attempts } = await call(operation, run, deadline);
      return { ...value, attempts };
    } catch (err) {
      if (err instanceof ResilientCallFailed) throw callerError(err.failure, err.attempts, operation);
      throw callerError(err, 1, operation);
    }
  }

  return {
    mintAccessToken: (request, deadline = new Deadline(DEFAULTS.requestDeadlineMs)) =>
      resilient('generateAccessToken', (signal) => generateAccessToken(request, signal), deadline),
    mintIdToken: (request, deadline = new Deadline(DEFAULTS.requestDeadlineMs)) =>
      resilient('generateIdToken', (signal) => generateIdToken(request, signal), deadline),
    downscope: (token, boundary, deadline = new Deadline(DEFAULTS.requestDeadlineMs)) =>
      resilient('sts token exchange', (signal) => exchangeAtSts(token, boundary, signal), deadline),
  };
}

/** `{token}`, a JWT whose `exp` says when it expires, or an UpstreamFailure. */
function parseGenerateIdToken(data: unknown): MintedToken {
  const token = typeof data === 'object' && data !== null ? (data as Record<string, unknown>).token : undefined;
  let exp: unknown;
  try {
    exp = typeof token === 'string' ? (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown }).exp : undefined;
  } catch {
    exp = undefined;
  }
  if (typeof token !== 'string' || typeof exp !== 'number' || !Number.isFinite(exp)) {
    throw new UpstreamFailure('upstream_malformed', 'generateIdToken: HTTP 200 without a usable token');
  }
  return { accessToken: token, expiresAtMs: exp * 1000 };
}

/** The `access_token` of STS's RFC 8693 answer, or an UpstreamFailure. */
function parseStsToken(data: unknown): string {
  const accessToken = typeof data === 'object' && data !== null ? (data as Record<string, unknown>).access_token : undefined;
  if (typeof accessToken !== 'string' || accessToken.length === 0) {
    throw new UpstreamFailure('upstream_malformed', 'sts token exchange: HTTP 200 without a usable access_token');
  }
  return accessToken;
}

/** proto3 JSON `{accessToken, expireTime}` (RFC 3339), or an UpstreamFailure. */
function parseGenerateAccessToken(data: unknown): MintedToken {
  const body = typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
  const accessToken = body.accessToken;
  const expiresAtMs = typeof body.expireTime === 'string' ? Date.parse(body.expireTime) : NaN;
  if (typeof accessToken !== 'string' || accessToken.length === 0 || !Number.isFinite(expiresAtMs)) {
    throw new UpstreamFailure('upstream_malformed', 'generateAccessToken: HTTP 200 without a usable accessToken/expireTime');
  }
  return { accessToken, expiresAtMs };
}

export async function createSourceClient(source: SourceCredentials): Promise<AuthClient> {
  // google-auth-library is loaded on first mint, off the cold-start path.
  const { GoogleAuth, OAuth2Client } = await import('google-auth-library');
  // Node's own fetch: gaxios would otherwise load node-fetch on first use.
  const transporterOptions = { fetchImplementation: fetch };
  if (source.kind === 'static-token') {
    const client = new OAuth2Client({ transporterOptions });
    client.setCredentials({ access_token: source.accessToken, expiry_date: Number.MAX_SAFE_INTEGER });
    return client;
  }
  return new GoogleAuth({ scopes: [...DEFAULTS.sourceScopes], clientOptions: { transporterOptions } }).getClient();
}
