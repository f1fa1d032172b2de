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
import { CircuitBreaker, CircuitOpenError, type CircuitBreakerSettings, type CircuitTransition } from '../resilience/circuit-breaker';
import { Deadline } from '../resilience/deadline';
import { RetriesExhausted, withRetries, type RetryPolicy } from '../resilience/retry';
import type { Minter, MintedToken, MintRequest } from './minter';
import { callerError, describeUpstreamFailure, UpstreamFailure } from './upstream-error';

/** How hard the minter tries; every field defaults from DEFAULTS. */
export interface UpstreamResilience {
  /** Longest single call. */
  attemptTimeoutMs: number;
  retry: RetryPolicy;
  breaker: CircuitBreakerSettings;
  /** Jitter source, uniform in [0, 1). */
  random: () => number;
}

export interface ImpersonatedMinterOptions {
  /** IAM Credentials base URL, e.g. https://iamcredentials.googleapis.com. */
  endpoint: string;
  source: SourceCredentials;
  resilience?: Partial<UpstreamResilience>;
  /** Circuit state changes, for the audit trail. */
  onCircuitTransition?: (transition: CircuitTransition) => void;
}

export function upstreamResilience(overrides: Partial<UpstreamResilience> = {}): UpstreamResilience {
  return {
    attemptTimeoutMs: DEFAULTS.upstreamTimeoutMs,
    retry: DEFAULTS.upstreamRetry,
    breaker: DEFAULTS.upstreamBreaker,
    random: Math.random,
    ...overrides,
  };
}

export function createImpersonatedMinter(options: ImpersonatedMinterOptions): Minter {
  const settings = upstreamResilience(options.resilience);
  let sourceClient: Promise<AuthClient> | undefined;
  const source = () => (sourceClient ??= createSourceClient(options.source));
  const breaker = new CircuitBreaker({
    settings: settings.breaker,
    counts: (err) => err instanceof UpstreamFailure && err.retryable,
    onTransition: options.onCircuitTransition,
  });
  const baseUrl = options.endpoint.replace(/\/+$/, '');

  async function callOnce(request: MintRequest, timeoutMs: number): Promise<MintedToken> {
    const client = await source();
    const url = `${baseUrl}/v1/projects/-/serviceAccounts/${request.serviceAccount}:generateAccessToken`;
    const signal = AbortSignal.timeout(timeoutMs);
    let data: unknown;
    try {
      ({ data } = await raceSignal(client.request<unknown>({
        url,
        method: 'POST',
        data: {
          delegates: request.delegates.map((email) => `projects/-/serviceAccounts/${email}`),
          scope: [...request.scopes],
          lifetime: `${request.lifetimeSeconds}s`,
        },
        retry: false,
        signal,
      }), signal));
    } catch (err) {
      throw describeUpstreamFailure(err, 'generateAccessToken', signal.aborted);
    }
    return parseGenerateAccessToken(data);
  }

  return {
    async mintAccessToken(request: MintRequest, deadline = new Deadline(DEFAULTS.requestDeadlineMs)): Promise<MintedToken> {
      try {
        const { value, attempts } = await withRetries(
          () => breaker.run(() => callOnce(request, Math.max(1, Math.floor(Math.min(settings.attemptTimeoutMs, deadline.remainingMs()))))),
          {
            policy: settings.retry,
            deadline,
            random: settings.random,
            classify: (err) => ({
              retryable: err instanceof UpstreamFailure && err.retryable,
              retryAfterMs: err instanceof UpstreamFailure && err.options.retryAfterSeconds !== undefined ? err.options.retryAfterSeconds * 1000 : undefined,
            }),
          },
        );
        return { ...value, attempts };
      } catch (err) {
        if (err instanceof RetriesExhausted) throw callerError(err.lastError, err.attempts);
        throw callerError(err, err instanceof CircuitOpenError ? 0 : 1);
      }
    },
  };
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

/** Rejects when `signal` aborts, even if the transport does not notice it. */
function raceSignal<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

async function createSourceClient(source: SourceCredentials): Promise<AuthClient> {
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
