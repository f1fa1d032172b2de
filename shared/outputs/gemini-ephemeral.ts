/**
 * The Gemini Live API ephemeral-token output (`requested_token_type`
 * urn:x-token-broker:token-type:gemini-ephemeral): `POST {endpoint}/v1alpha/auth_tokens` with
 * the broker's Gemini API key in `x-goog-api-key`, the body @google/genai 2.x's
 * `authTokens.create` sends (shared/policy/gemini-ephemeral.ts renders it from the rule), and
 * the answer's `name` (`auth_tokens/…`) as the token. The call goes through the source
 * client's bare transport, so the broker's OAuth credentials are never attached: the API key
 * alone authenticates it. The key comes from Secret Manager (shared/mint/secret-manager.ts)
 * and stays in memory.
 *
 * Never cached across requests: each token has a limited number of `uses`, so two callers (or
 * two requests of one caller) sharing one would spend each other's sessions.
 *
 * Failures: no key configured → 500 server_error (`gemini_key_not_configured`), at the first
 * request that needs it (the broker still starts, since most deployments issue no ephemeral
 * tokens); Secret Manager 5xx/429/timeouts → 503 (`secret_unavailable`), 4xx → 500
 * (`secret_refused`); Gemini 5xx/429/timeouts → 503 with Retry-After (`gemini_unavailable`),
 * 4xx → 500 with Google's message in the audit detail (`gemini_refused`).
 */
import type { AuthClient } from 'google-auth-library';
import { DEFAULTS } from '../config/defaults';
import type { GeminiConfig } from '../config/environment';
import { BrokerError, temporarilyUnavailable } from '../errors';
import type { MintedToken } from '../mint/minter';
import { createResilientCall, ResilientCallFailed, upstreamResilience, type UpstreamResilience } from '../mint/resilient-call';
import { createSecretValueSource, type SecretValueSource } from '../mint/secret-manager';
import { UpstreamFailure } from '../mint/upstream-error';
import { renderAuthTokenRequest, type GeminiEphemeralSpec } from '../policy/gemini-ephemeral';
import { CircuitOpenError } from '../resilience/circuit-breaker';
import type { Deadline } from '../resilience/deadline';
import { TOKEN_TYPE_GEMINI_EPHEMERAL } from '../oauth-uris';
import type { TokenOutput } from './output';

export interface GeminiEphemeralIssuer {
  create(spec: GeminiEphemeralSpec, deadline: Deadline): Promise<MintedToken>;
}

export interface GeminiEphemeralIssuerOptions {
  config: GeminiConfig;
  /** The broker's authenticated source client (the minter's). */
  source: () => Promise<AuthClient>;
  now?: () => number;
  resilience?: Partial<UpstreamResilience>;
}

export function createGeminiEphemeralIssuer(options: GeminiEphemeralIssuerOptions): GeminiEphemeralIssuer {
  const now = options.now ?? Date.now;
  const { config } = options;
  const url = `${config.endpoint.replace(/\/+$/, '')}/v1alpha/auth_tokens`;
  const settings = upstreamResilience(options.resilience);
  const call = createResilientCall(settings);
  const apiKey: SecretValueSource | undefined = config.apiKeySecret === undefined
    ? undefined
    : createSecretValueSource({ endpoint: config.secretManagerEndpoint, name: config.apiKeySecret, source: options.source, now, resilience: options.resilience });

  return {
    async create(spec, deadline) {
      if (!apiKey) {
        throw new BrokerError('server_error', 'the broker is not configured to issue Gemini ephemeral tokens', {
          reason: 'gemini_key_not_configured',
          detail: 'BROKER_GEMINI_API_KEY_SECRET is not set',
        });
      }
      const key = await apiKey.value(deadline);
      const body = renderAuthTokenRequest(spec, now());
      const client = await options.source();
      try {
        const { value: name, attempts } = await call('gemini auth_tokens.create', async (signal) => {
          const { data } = await client.transporter.request<unknown>({
            url,
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-goog-api-key': key },
            data: JSON.stringify(body),
            retry: false,
            signal,
          });
          return parseAuthToken(data);
        }, deadline);
        return { accessToken: name, expiresAtMs: Date.parse(body.expireTime), attempts };
      } catch (err) {
        const failure = err instanceof ResilientCallFailed ? err.failure : undefined;
        // A refused key may have been rotated: read it again next time.
        if (failure instanceof UpstreamFailure && !failure.retryable) apiKey.forget();
        throw geminiError(err);
      }
    },
  };
}

/** `{name: "auth_tokens/…"}`, or an UpstreamFailure. */
function parseAuthToken(data: unknown): string {
  const name = typeof data === 'object' && data !== null ? (data as { name?: unknown }).name : undefined;
  if (typeof name !== 'string' || !/^auth_tokens\/\S{1,1024}$/.test(name)) {
    throw new UpstreamFailure('upstream_malformed', 'gemini auth_tokens.create: HTTP 200 without a usable name');
  }
  return name;
}

function geminiError(err: unknown): BrokerError {
  if (err instanceof BrokerError) return err;
  if (!(err instanceof ResilientCallFailed)) {
    return new BrokerError('server_error', 'the broker could not create a Gemini ephemeral token', { reason: 'gemini_refused', detail: 'gemini auth_tokens.create: unexpected failure' });
  }
  const tried = `after ${err.attempts} attempt(s)`;
  const { failure } = err;
  if (failure instanceof CircuitOpenError) {
    return temporarilyUnavailable('the Gemini API is temporarily unavailable', Math.max(1, Math.ceil(failure.retryAfterMs / 1000)), 'gemini_unavailable', `gemini auth_tokens.create not attempted: the circuit is open (${tried})`);
  }
  if (!failure.retryable) {
    return new BrokerError('server_error', 'the broker could not create a Gemini ephemeral token', { reason: 'gemini_refused', detail: `${failure.detail} (${tried})` });
  }
  return temporarilyUnavailable('the Gemini API is temporarily unavailable', failure.options.retryAfterSeconds ?? DEFAULTS.upstreamRetryAfterSeconds, 'gemini_unavailable', `${failure.detail} (${tried})`);
}

/** Never cached: each token has a limited number of `uses`, and sharing one would let requests spend each other's sessions. */
export const geminiEphemeralOutput: TokenOutput = {
  issuedTokenType: TOKEN_TYPE_GEMINI_EPHEMERAL,
  tokenType: 'N_A',
  listsScopes: false,
  cacheable: false,
  obtain(grant, { gemini }, deadline) {
    if (!gemini) throw new BrokerError('server_error', 'the broker is not configured to issue Gemini ephemeral tokens', { reason: 'gemini_key_not_configured', detail: 'no Gemini issuer wired' });
    if (!grant.geminiEphemeral) throw new TypeError('a Gemini ephemeral grant carries its spec');
    return gemini.create(grant.geminiEphemeral, deadline);
  },
};
