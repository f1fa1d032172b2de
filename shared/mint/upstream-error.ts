/**
 * Translates a failed Google API call (a GaxiosError carrying a google.rpc error body) into
 * the caller's vocabulary. Retryable failures (429, 5xx, timeouts, network errors) become
 * `temporarily_unavailable` with `Retry-After`; anything else means the deployment is
 * misconfigured (the broker may not impersonate the target, the account does not exist) and
 * is a `server_error` whose detail goes to the operator only.
 */
import { DEFAULTS } from '../config/defaults';
import { BrokerError, temporarilyUnavailable } from '../errors';

interface UpstreamFailure {
  status?: number;
  rpcStatus?: string;
  rpcMessage?: string;
  retryAfterSeconds?: number;
}

export function upstreamError(err: unknown, operation: string): BrokerError {
  if (err instanceof BrokerError) return err;
  const failure = describe(err);
  const detail = `${operation}: HTTP ${failure.status ?? 'none'} ${failure.rpcStatus ?? ''} ${failure.rpcMessage ?? (err instanceof Error ? err.message : '')}`.trim();
  if (failure.status === undefined || failure.status === 429 || failure.status === 408 || failure.status >= 500) {
    return temporarilyUnavailable(
      'Google IAM is temporarily unavailable',
      failure.retryAfterSeconds ?? DEFAULTS.upstreamRetryAfterSeconds,
      'upstream_unavailable',
      detail,
    );
  }
  return new BrokerError('server_error', 'the broker could not obtain a token for the granted service account', {
    reason: 'upstream_refused',
    detail,
    cause: err,
  });
}

function describe(err: unknown): UpstreamFailure {
  if (typeof err !== 'object' || err === null) return {};
  const response = (err as { response?: { status?: unknown; data?: unknown; headers?: unknown } }).response;
  if (!response || typeof response.status !== 'number') return {};
  const rpc = (response.data as { error?: { status?: unknown; message?: unknown } } | undefined)?.error;
  return {
    status: response.status,
    rpcStatus: typeof rpc?.status === 'string' ? rpc.status : undefined,
    rpcMessage: typeof rpc?.message === 'string' ? rpc.message.slice(0, 300) : undefined,
    retryAfterSeconds: retryAfter(response.headers),
  };
}

/** `Retry-After` in seconds (delta form only), bounded to something sane. */
function retryAfter(headers: unknown): number | undefined {
  let value: unknown;
  if (headers instanceof Headers) value = headers.get('retry-after');
  else if (typeof headers === 'object' && headers !== null) value = (headers as Record<string, unknown>)['retry-after'];
  const seconds = typeof value === 'string' && /^\d{1,5}$/.test(value) ? Number(value) : undefined;
  return seconds === undefined ? undefined : Math.min(Math.max(seconds, 1), 300);
}
