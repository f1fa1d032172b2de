/**
 * What a failed IAM Credentials call means. Each attempt's failure is an UpstreamFailure,
 * which the retry loop and the circuit breaker read; only the final outcome is translated
 * into the caller's vocabulary:
 *  - retryable (429, 408, 5xx, a reset connection, a timeout, an unusable 200) →
 *    `temporarily_unavailable` with `Retry-After` (the upstream's own, when it sent one);
 *  - anything else means the deployment is misconfigured (the broker may not impersonate the
 *    target, the account does not exist) → `server_error`, whose detail goes to the operator.
 */
import { DEFAULTS } from '../config/defaults';
import { BrokerError, temporarilyUnavailable } from '../errors';
import { CircuitOpenError } from '../resilience/circuit-breaker';

export type UpstreamFailureReason = 'upstream_unavailable' | 'upstream_timeout' | 'upstream_malformed' | 'upstream_refused';

export class UpstreamFailure extends Error {
  constructor(
    readonly reason: UpstreamFailureReason,
    readonly detail: string,
    readonly options: { status?: number; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UpstreamFailure';
  }

  get retryable(): boolean {
    return this.reason !== 'upstream_refused';
  }
}

/** Classifies a rejected gaxios call (a GaxiosError carrying a google.rpc error body). */
export function describeUpstreamFailure(err: unknown, operation: string, timedOut: boolean): UpstreamFailure {
  if (err instanceof UpstreamFailure) return err;
  const response = responseOf(err);
  const message = err instanceof Error ? err.message : String(err);
  if (timedOut) return new UpstreamFailure('upstream_timeout', `${operation}: no answer in time`, { cause: err });
  if (!response) return new UpstreamFailure('upstream_unavailable', `${operation}: ${message.slice(0, DEFAULTS.dependencyMessageChars)}`, { cause: err });
  const rpc = (response.data as { error?: { status?: unknown; message?: unknown } } | undefined)?.error;
  const rpcStatus = typeof rpc?.status === 'string' ? rpc.status : '';
  const rpcMessage = typeof rpc?.message === 'string' ? rpc.message.slice(0, DEFAULTS.dependencyMessageChars) : message.slice(0, DEFAULTS.dependencyMessageChars);
  const detail = `${operation}: HTTP ${response.status} ${rpcStatus} ${rpcMessage}`.replace(/\s+/g, ' ').trim();
  const retryable = response.status === 429 || response.status === 408 || response.status >= 500;
  return new UpstreamFailure(retryable ? 'upstream_unavailable' : 'upstream_refused', detail, {
    status: response.status,
    retryAfterSeconds: retryable ? retryAfter(response.headers) : undefined,
    cause: err,
  });
}

/** The caller's error for the final failure of a mint, after `attempts` attempts. */
export function callerError(err: unknown, attempts: number, operation = 'generateAccessToken'): BrokerError {
  if (err instanceof BrokerError) return err;
  const tried = `after ${attempts} attempt(s)`;
  if (err instanceof CircuitOpenError) {
    return temporarilyUnavailable(
      'Google IAM is temporarily unavailable',
      Math.max(1, Math.ceil(err.retryAfterMs / 1000)),
      'upstream_circuit_open',
      `${operation} not attempted: the circuit is open (${tried})`,
    );
  }
  const failure = err instanceof UpstreamFailure ? err : describeUpstreamFailure(err, operation, false);
  if (failure.reason === 'upstream_refused') {
    return new BrokerError('server_error', 'the broker could not obtain a token for the granted service account', {
      reason: failure.reason,
      detail: `${failure.detail} (${tried})`,
      cause: failure,
    });
  }
  return temporarilyUnavailable(
    'Google IAM is temporarily unavailable',
    failure.options.retryAfterSeconds ?? DEFAULTS.upstreamRetryAfterSeconds,
    failure.reason,
    `${failure.detail} (${tried})`,
  );
}

function responseOf(err: unknown): { status: number; data?: unknown; headers?: unknown } | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const response = (err as { response?: { status?: unknown; data?: unknown; headers?: unknown } }).response;
  return response && typeof response.status === 'number' ? (response as { status: number }) : undefined;
}

/** `Retry-After` in seconds (delta form only), bounded to something sane. */
function retryAfter(headers: unknown): number | undefined {
  let value: unknown;
  if (headers instanceof Headers) value = headers.get('retry-after');
  else if (typeof headers === 'object' && headers !== null) value = (headers as Record<string, unknown>)['retry-after'];
  const seconds = typeof value === 'string' && /^\d{1,5}$/.test(value) ? Number(value) : undefined;
  return seconds === undefined ? undefined : Math.min(Math.max(seconds, 1), DEFAULTS.upstreamRetryAfterSecondsCeiling);
}
