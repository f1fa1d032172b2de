/**
 * OAuth 2.0 token introspection (RFC 7662) of the tokens this broker issued:
 *   1. the client authenticates as at the token endpoint (any method it accepts there); a
 *      request without client authentication is `401 invalid_client` (§2.1 requires it);
 *   2. its introspection calls are limited per client (a public client's per caller address:
 *      everyone shares gcloud's id);
 *   3. the token's SHA-256 is looked up in the record written at issuance (issued-tokens.ts),
 *      for every request, whatever the token looks like;
 *   4. a live token handed to this client (or any token, for a client with
 *      `introspection: any`) is `active: true` with what the record says; anything else is
 *      only `{active: false}`: unknown, expired, and another client's tokens are answered
 *      alike, after the same lookup, so the answer says nothing of whether the token exists.
 * Free of HTTP types; the record is filled in as the steps run (one audit entry per call).
 */
import { DEFAULTS } from '../config/defaults';
import { BrokerError, invalidRequest } from '../errors';
import { sha256Fingerprint } from '../fingerprint';
import { authenticateClient, type ClientAuthContext, type ClientCredentials, type OnClientIdentified } from '../identity/client-authentication';
import type { Principal } from '../identity/principal';
import type { RateLimiter } from '../limits/rate-limiter';
import type { CompiledPolicy } from '../policy/compiled-policy';
import type { Deadline } from '../resilience/deadline';
import type { TokenParams } from '../token-params';
import type { IssuedToken, IssuedTokenStore } from './issued-tokens';

/** Parameters introspection reads (RFC 7662 §2.1, and client authentication's). */
export const INTROSPECTION_PARAMETERS = ['token', 'token_type_hint', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type'] as const;

/** Why a token is (in)active: recorded in the audit entry, never answered. */
export type IntrospectionOutcome = 'active' | 'unknown' | 'expired' | 'other_client';

/** What one introspection call did; fingerprints only. */
export interface IntrospectionRecord {
  client?: { id: string; authMethod: string; apiKeyId?: string };
  tokenSha256?: string;
  outcome?: IntrospectionOutcome;
  /** The rule that granted an active token. */
  ruleId?: string;
}

/** RFC 7662 §2.2: `{active: false}` alone, or the active token's facts. */
export type IntrospectionResponse =
  | { active: false }
  | {
      active: true;
      scope?: string;
      client_id?: string;
      username: string;
      token_type: string;
      exp: number;
      iat: number;
      sub: string;
      /** The broker (the token's issuer, RFC 7662 §2.2), when its URL is configured. */
      iss?: string;
      /** Extension: the issuer `sub` belongs to (an OIDC issuer, or the broker's client namespace). */
      subject_issuer: string;
    };

export interface IntrospectionContext {
  policy: Pick<CompiledPolicy, 'clients'>;
  clientAuth?: ClientAuthContext;
  issued: IssuedTokenStore;
  limiter?: RateLimiter;
  issuerUrl?: string;
  now: () => number;
}

const INACTIVE = Object.freeze({ active: false as const });

export async function introspect(
  params: TokenParams,
  credentials: ClientCredentials,
  ctx: IntrospectionContext,
  record: IntrospectionRecord,
  deadline: Deadline,
): Promise<IntrospectionResponse> {
  const token = params.get('token');
  if (token === undefined || token === '') throw invalidRequest('missing required parameter token', 'missing_parameter');
  record.tokenSha256 = sha256Fingerprint(token);

  const identified: OnClientIdentified = ({ id, authMethod, apiKeyId }) => {
    record.client ??= apiKeyId === undefined ? { id, authMethod } : { id, authMethod, apiKeyId };
  };
  const client = ctx.clientAuth && await authenticateClient(params, credentials, ctx.clientAuth, deadline, identified);
  if (!client) {
    throw new BrokerError('invalid_client', 'token introspection requires client authentication', {
      reason: 'client_auth_required',
      challenge: 'Basic realm="token-broker", charset="UTF-8"',
    });
  }
  await admit(client, credentials, ctx, deadline);

  const entry = await lookUp(record.tokenSha256, ctx, deadline);
  const mayIntrospectAny = client.claims.auth_method !== 'public' && ctx.policy.clients.get(client.subject)?.introspection === 'any';
  record.outcome = !entry ? 'unknown'
    : entry.expiresAtMs <= ctx.now() ? 'expired'
    : mayIntrospectAny || entry.clientIds.includes(client.subject) ? 'active'
    : 'other_client';
  if (record.outcome !== 'active' || !entry) return INACTIVE;
  record.ruleId = entry.ruleId;
  const clientId = entry.clientIds.includes(client.subject) ? client.subject : entry.clientIds[0];
  return {
    active: true,
    ...(entry.scopes ? { scope: entry.scopes.join(' ') } : {}),
    ...(clientId === undefined ? {} : { client_id: clientId }),
    username: entry.username,
    token_type: entry.tokenType,
    exp: Math.floor(entry.expiresAtMs / 1000),
    iat: Math.floor(entry.issuedAtMs / 1000),
    sub: entry.subject,
    ...(ctx.issuerUrl === undefined ? {} : { iss: ctx.issuerUrl }),
    subject_issuer: entry.issuer,
  };
}

/** The client's introspection budget: its own `requests_per_minute`, else the default; a public client's per address. */
async function admit(client: Principal, credentials: ClientCredentials, ctx: IntrospectionContext, deadline: Deadline): Promise<void> {
  if (!ctx.limiter) return;
  const isPublic = client.claims.auth_method === 'public';
  const perMinute = (isPublic ? undefined : ctx.policy.clients.get(client.subject)?.limits?.requestsPerMinute) ?? DEFAULTS.introspectionRequestsPerMinute;
  const subject = isPublic ? `${client.subject}\u0000${credentials.remoteIp ?? ''}` : client.subject;
  const admission = await ctx.limiter.admit(`introspect:${client.subject}`, subject, { requestsPerMinute: perMinute }, deadline);
  if (!admission.allowed) {
    throw new BrokerError('slow_down', 'rate limit reached (requests per minute)', {
      reason: 'limit_requests_per_minute',
      retryAfterSeconds: admission.retryAfterSeconds,
      detail: `introspect:${client.subject}`,
    });
  }
}

/** The issued-token record, or a 503 when it cannot be read: "inactive" would be a guess. */
async function lookUp(tokenSha256: string, ctx: IntrospectionContext, deadline: Deadline): Promise<IssuedToken | undefined> {
  try {
    return await ctx.issued.find(tokenSha256, deadline);
  } catch (err) {
    throw new BrokerError('temporarily_unavailable', 'the broker cannot look tokens up right now; retry later', {
      reason: 'issued_tokens_unavailable',
      retryAfterSeconds: DEFAULTS.introspectionRetryAfterSeconds,
      detail: err instanceof Error ? err.message : String(err),
      cause: err,
    });
  }
}
