/**
 * Reads one secret version from Secret Manager (`GET /v1/{name}:access`, the REST call the
 * `@google-cloud/secret-manager` client makes over gRPC) through the broker's own
 * google-auth-library source client, and keeps the value in memory only: fetched on first use,
 * read again after `ttlMs` (a rotated secret is picked up within it), fetched once for all
 * concurrent requests. The value is never logged, audited or written anywhere; `forget()`
 * drops it (the Gemini output calls it when Google refuses the key, so a rotation is picked up
 * at once). Why REST rather than the gRPC library: docs/decisions.md.
 */
import type { AuthClient } from 'google-auth-library';
import { crc32c } from '../cache/crc32c';
import { DEFAULTS } from '../config/defaults';
import { BrokerError, temporarilyUnavailable } from '../errors';
import { CircuitOpenError } from '../resilience/circuit-breaker';
import { Deadline } from '../resilience/deadline';
import { createResilientCall, ResilientCallFailed, upstreamResilience, type UpstreamResilience } from './resilient-call';
import { UpstreamFailure } from './upstream-error';

export interface SecretValueSource {
  /** The secret's value (surrounding whitespace trimmed), from memory or Secret Manager. */
  value(deadline: Deadline): Promise<string>;
  /** Drops the value held in memory: the next `value()` reads it again. */
  forget(): void;
}

export interface SecretValueSourceOptions {
  /** Secret Manager base URL, e.g. https://secretmanager.googleapis.com. */
  endpoint: string;
  /** projects/P/secrets/S/versions/V. */
  name: string;
  /** The broker's authenticated source client (the minter's). */
  source: () => Promise<AuthClient>;
  ttlMs?: number;
  now?: () => number;
  resilience?: Partial<UpstreamResilience>;
}

export function createSecretValueSource(options: SecretValueSourceOptions): SecretValueSource {
  const now = options.now ?? Date.now;
  const ttlMs = options.ttlMs ?? DEFAULTS.geminiApiKeyTtlMs;
  const url = `${options.endpoint.replace(/\/+$/, '')}/v1/${options.name}:access`;
  const call = createResilientCall(upstreamResilience(options.resilience));
  let held: { value: string; fetchedAtMs: number } | undefined;
  let inflight: Promise<string> | undefined;

  async function access(signal: AbortSignal): Promise<string> {
    const client = await options.source();
    const { data } = await client.request<unknown>({ url, method: 'GET', retry: false, signal });
    return parseAccessResponse(data);
  }

  /** Shared by every request waiting for the value: it keeps its own budget (docs/decisions.md, time limits). */
  function fetchOnce(): Promise<string> {
    inflight ??= call('secretmanager access', access, new Deadline(DEFAULTS.requestDeadlineMs))
      .then(({ value }) => {
        held = { value, fetchedAtMs: now() };
        return value;
      }, (err: unknown) => {
        throw secretError(err);
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  }

  return {
    async value(deadline) {
      if (held && now() - held.fetchedAtMs < ttlMs) return held.value;
      return deadline.race(fetchOnce());
    },
    forget() {
      held = undefined;
    },
  };
}

/** `{name, payload: {data: base64, dataCrc32c: "int64"}}`; a checksum mismatch or no data is a retryable failure. */
function parseAccessResponse(data: unknown): string {
  const payload = typeof data === 'object' && data !== null ? (data as { payload?: unknown }).payload : undefined;
  const encoded = typeof payload === 'object' && payload !== null ? (payload as { data?: unknown }).data : undefined;
  if (typeof encoded !== 'string') throw new UpstreamFailure('upstream_malformed', 'secretmanager access: HTTP 200 without payload.data');
  const bytes = Buffer.from(encoded, 'base64');
  const checksum = (payload as { dataCrc32c?: unknown }).dataCrc32c;
  if (checksum !== undefined && String(checksum) !== String(crc32c(bytes))) {
    throw new UpstreamFailure('upstream_malformed', 'secretmanager access: payload.dataCrc32c does not match the data');
  }
  const value = bytes.toString('utf8').trim();
  if (value === '') throw new UpstreamFailure('upstream_malformed', 'secretmanager access: the secret version is empty');
  return value;
}

function secretError(err: unknown): BrokerError {
  if (!(err instanceof ResilientCallFailed)) return err instanceof BrokerError ? err : new BrokerError('server_error', 'the broker could not read its Gemini API key', { reason: 'secret_refused', detail: 'secretmanager access: unexpected failure' });
  const tried = `after ${err.attempts} attempt(s)`;
  const { failure } = err;
  if (failure instanceof CircuitOpenError) {
    return temporarilyUnavailable('Secret Manager is temporarily unavailable', Math.max(1, Math.ceil(failure.retryAfterMs / 1000)), 'secret_unavailable', `secretmanager access not attempted: the circuit is open (${tried})`);
  }
  if (!failure.retryable) {
    return new BrokerError('server_error', 'the broker could not read its Gemini API key', { reason: 'secret_refused', detail: `${failure.detail} (${tried})` });
  }
  return temporarilyUnavailable('Secret Manager is temporarily unavailable', failure.options.retryAfterSeconds ?? DEFAULTS.upstreamRetryAfterSeconds, 'secret_unavailable', `${failure.detail} (${tried})`);
}
