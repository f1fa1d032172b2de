/**
 * RFC 8693 token exchange, as Google STS accepts it: `subject_token` is an external JWT or
 * OIDC ID token; the result is a Google OAuth 2.0 access token.
 */
import { invalidRequest } from '../errors';
import { sha256Fingerprint } from '../fingerprint';
import { CLIENT_AUTH_PARAMETERS } from '../identity/client-authentication';
import { verifyOidcToken } from '../identity/oidc-token';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_GEMINI_EPHEMERAL, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT } from '../oauth-uris';
import { optional, parseOptions, parseScope, required } from './common';
import type { GrantType } from './token-request';
import type { Principal } from '../identity/principal';
import type { TrustedIssuer } from '../identity/trusted-issuer';
import { memoFor } from '../identity/verified-token-memo';
import type { ReplayStore } from '../identity/replay-store';
import type { Deadline } from '../resilience/deadline';
import { BrokerError } from '../errors';

/** The subject token's principal, verified now (and remembered for later requests with the same token). */
async function verifySubjectToken(
  token: string, tokenSha256: string, issuers: ReadonlyMap<string, TrustedIssuer>, nowMs: number, maxTokenBytes: number | undefined, deadline: Deadline,
): Promise<Principal> {
  const principal = await verifyOidcToken(token, issuers, { currentDate: new Date(nowMs), maxTokenBytes, deadline });
  const issuer = issuers.get(principal.issuer);
  if (issuer) memoFor(issuers).remember(tokenSha256, principal, issuer, nowMs);
  return principal;
}

/**
 * An issuer with `replay: one_time`: the subject token (its `jti`, else its SHA-256) is marked
 * used in the replay store until it expires, across instances; a second exchange of it is
 * refused before any rule, limit or cache is consulted, so no cached token is served to it
 * either. The store fails closed (503) when it cannot tell.
 */
async function useOnce(principal: Principal, toleranceSeconds: number, tokenSha256: string, replay: ReplayStore | undefined, deadline: Deadline): Promise<void> {
  if (!replay) throw new BrokerError('server_error', 'one-time subject tokens need the replay store', { reason: 'internal_error', detail: 'no replay store wired' });
  const jti = principal.claims.jti;
  const id = typeof jti === 'string' && jti !== '' && jti.length <= 256 ? `jti:${jti}` : `sha256:${tokenSha256}`;
  const expiresAtMs = ((principal.expiresAt ?? Math.floor(Date.now() / 1000)) + toleranceSeconds) * 1000;
  if (!(await replay.claim(`subject\u0000${principal.issuer}\u0000${id}`, expiresAtMs, deadline))) {
    throw new BrokerError('invalid_grant', 'this subject token has already been exchanged', { reason: 'subject_token_replayed' });
  }
}

const SUBJECT_TOKEN_TYPES = [TOKEN_TYPE_JWT, TOKEN_TYPE_ID_TOKEN];

export const tokenExchange: GrantType = {
  grantType: GRANT_TYPE_TOKEN_EXCHANGE,
  parameters: [
    'grant_type', 'subject_token', 'subject_token_type', 'audience', 'scope', 'requested_token_type', 'options', 'resource',
    'actor_token', 'actor_token_type', ...CLIENT_AUTH_PARAMETERS,
  ],
  parse(params) {
    const subjectToken = required(params, 'subject_token');
    const subjectTokenType = required(params, 'subject_token_type');
    if (!SUBJECT_TOKEN_TYPES.includes(subjectTokenType)) {
      throw invalidRequest('subject_token_type must be urn:ietf:params:oauth:token-type:jwt or :id_token', 'unsupported_subject_token_type');
    }
    const requested = optional(params, 'requested_token_type') ?? TOKEN_TYPE_ACCESS_TOKEN;
    if (requested !== TOKEN_TYPE_ACCESS_TOKEN && requested !== TOKEN_TYPE_ID_TOKEN && requested !== TOKEN_TYPE_GEMINI_EPHEMERAL) {
      throw invalidRequest(`requested_token_type must be urn:ietf:params:oauth:token-type:access_token or :id_token, or ${TOKEN_TYPE_GEMINI_EPHEMERAL}`, 'unsupported_requested_token_type');
    }
    if (optional(params, 'actor_token') !== undefined || optional(params, 'actor_token_type') !== undefined) {
      throw invalidRequest('delegation with actor_token is not supported', 'actor_token_unsupported');
    }
    const resource = optional(params, 'resource');
    if (requested !== TOKEN_TYPE_ID_TOKEN && resource !== undefined) throw invalidRequest('the resource parameter is for ID tokens; use audience', 'resource_unsupported');
    if (requested === TOKEN_TYPE_ID_TOKEN && resource === undefined) throw invalidRequest('an ID token needs resource: the URL of the service it is for', 'missing_parameter');
    const request = {
      audience: optional(params, 'audience'),
      scopes: parseScope(optional(params, 'scope')),
      ...parseOptions(params.get('options')),
      ...(requested === TOKEN_TYPE_ID_TOKEN ? { idTokenAudience: resource } : {}),
      ...(requested === TOKEN_TYPE_GEMINI_EPHEMERAL ? { geminiEphemeral: true } : {}),
    };
    return ({ policy, client, clientAuth, record, deadline, now, maxTokenBytes }) => {
      record.subjectTokenType = subjectTokenType;
      const tokenSha256 = (record.subjectTokenSha256 = sha256Fingerprint(subjectToken));
      const nowMs = now();
      const outcome = (principal: Principal) => {
        const issuer = policy.issuers.get(principal.issuer);
        if (!issuer?.oneTime) return { principal, client, ...request };
        return useOnce(principal, issuer.clockToleranceSeconds, tokenSha256, clientAuth?.replay, deadline).then(() => ({ principal, client, ...request }));
      };
      // A token verified by an earlier request is answered without waiting for anything.
      const remembered = memoFor(policy.issuers).get(tokenSha256, nowMs);
      if (remembered) return outcome(remembered);
      return verifySubjectToken(subjectToken, tokenSha256, policy.issuers, nowMs, maxTokenBytes, deadline).then(outcome);
    };
  },
};

