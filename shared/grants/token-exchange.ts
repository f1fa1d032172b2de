/**
 * RFC 8693 token exchange, as Google STS accepts it: `subject_token` is an external JWT or
 * OIDC ID token; the result is a Google OAuth 2.0 access token.
 */
import { SCOPE_TOKEN } from '../policy/schema';
import { DEFAULTS } from '../config/defaults';
import { invalidRequest } from '../errors';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT } from '../oauth-uris';
import type { GrantTypeDefinition, TokenParams } from './token-request';

export interface TokenExchangeRequest {
  readonly grantType: typeof GRANT_TYPE_TOKEN_EXCHANGE;
  readonly subjectToken: string;
  readonly subjectTokenType: string;
  readonly audience?: string;
  /** Undefined when the caller sent no `scope`. */
  readonly scopes?: readonly string[];
  readonly lifetimeSeconds?: number;
}

const SUBJECT_TOKEN_TYPES = [TOKEN_TYPE_JWT, TOKEN_TYPE_ID_TOKEN];

/** Keys the broker reads from the JSON `options` parameter; `userProject` is accepted for STS compatibility and ignored. */
const OPTION_KEYS = new Set(['lifetimeSeconds', 'userProject']);

export const tokenExchange: GrantTypeDefinition<TokenExchangeRequest> = {
  grantType: GRANT_TYPE_TOKEN_EXCHANGE,
  parameters: ['grant_type', 'subject_token', 'subject_token_type', 'audience', 'scope', 'requested_token_type', 'options', 'resource', 'actor_token', 'actor_token_type'],
  parse(params: TokenParams): TokenExchangeRequest {
    const subjectToken = required(params, 'subject_token');
    const subjectTokenType = required(params, 'subject_token_type');
    if (!SUBJECT_TOKEN_TYPES.includes(subjectTokenType)) {
      throw invalidRequest('subject_token_type must be urn:ietf:params:oauth:token-type:jwt or :id_token', 'unsupported_subject_token_type');
    }
    const requested = params.get('requested_token_type');
    if (requested !== undefined && requested !== TOKEN_TYPE_ACCESS_TOKEN) {
      throw invalidRequest('requested_token_type must be urn:ietf:params:oauth:token-type:access_token', 'unsupported_requested_token_type');
    }
    if (params.has('actor_token') || params.has('actor_token_type')) {
      throw invalidRequest('delegation with actor_token is not supported', 'actor_token_unsupported');
    }
    if (params.has('resource')) throw invalidRequest('the resource parameter is not supported; use audience', 'resource_unsupported');
    return {
      grantType: GRANT_TYPE_TOKEN_EXCHANGE,
      subjectToken,
      subjectTokenType,
      audience: optional(params, 'audience'),
      scopes: parseScope(params.get('scope')),
      lifetimeSeconds: parseOptions(params.get('options')),
    };
  },
};

function required(params: TokenParams, name: string): string {
  const value = params.get(name);
  if (value === undefined || value === '') throw invalidRequest(`missing required parameter ${name}`, 'missing_parameter');
  return value;
}

function optional(params: TokenParams, name: string): string | undefined {
  const value = params.get(name);
  if (value === '') throw invalidRequest(`parameter ${name} must not be empty`, 'empty_parameter');
  return value;
}

/** RFC 6749 §3.3: space-delimited scope tokens. */
export function parseScope(scope: string | undefined): readonly string[] | undefined {
  if (scope === undefined) return undefined;
  const scopes = scope.split(' ').filter((s) => s !== '');
  if (scopes.length === 0) throw invalidRequest('scope must not be empty', 'empty_parameter');
  if (scopes.length > DEFAULTS.maxScopes) throw invalidRequest(`at most ${DEFAULTS.maxScopes} scopes may be requested`, 'too_many_scopes');
  if (!scopes.every((s) => SCOPE_TOKEN.test(s))) throw invalidRequest('scope contains invalid characters', 'malformed_scope');
  return scopes;
}

/** The JSON `options` parameter (as Google STS has): `{"lifetimeSeconds": 600}`. */
function parseOptions(options: string | undefined): number | undefined {
  if (options === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(options);
  } catch {
    throw invalidRequest('options must be a JSON object', 'malformed_options');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalidRequest('options must be a JSON object', 'malformed_options');
  }
  const record = parsed as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !OPTION_KEYS.has(key));
  if (unknown.length > 0) throw invalidRequest('options contains unsupported keys', 'unsupported_options');
  const lifetime = record.lifetimeSeconds;
  if (lifetime === undefined) return undefined;
  if (typeof lifetime !== 'number' || !Number.isSafeInteger(lifetime) || lifetime <= 0) {
    throw invalidRequest('options.lifetimeSeconds must be a positive integer', 'malformed_options');
  }
  return lifetime;
}
