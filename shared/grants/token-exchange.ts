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
    return async ({ policy, client, record, deadline, now, maxTokenBytes }) => {
      record.subjectTokenType = subjectTokenType;
      record.subjectTokenSha256 = sha256Fingerprint(subjectToken);
      const principal = await verifyOidcToken(subjectToken, policy.issuers, { currentDate: new Date(now()), maxTokenBytes, deadline });
      return { principal, client, ...request };
    };
  },
};

