/**
 * The error codes the token endpoint can answer with, defined once, with their HTTP status and
 * a summary (RFC 6749 §5.2 / RFC 8693 §2.2.2, plus `access_denied`, `temporarily_unavailable`
 * and `server_error`, whose meaning RFC 6749 §4.1.2.1 defines). BrokerError (errors.ts) and
 * the refusal reasons (refusal-reasons.ts) both build on it.
 */

export const ERROR_CATALOGUE = {
  invalid_request: { status: 400, summary: 'The request is missing a parameter, repeats one, or is otherwise malformed.' },
  invalid_client: { status: 401, summary: 'Client authentication failed.' },
  invalid_grant: { status: 400, summary: 'The subject token or assertion is invalid, expired, or not from a trusted issuer.' },
  unauthorized_client: { status: 400, summary: 'The client may not use this grant type.' },
  unsupported_grant_type: { status: 400, summary: 'The grant type is not supported by the broker.' },
  invalid_scope: { status: 400, summary: 'A requested scope is malformed or outside what the policy allows.' },
  invalid_target: { status: 400, summary: 'The requested audience is unknown to the broker, or more than one audience was requested.' },
  access_denied: { status: 403, summary: 'The caller is authenticated but no policy rule grants it a token (or an API key restriction refuses it).' },
  slow_down: { status: 429, summary: 'The principal exceeded a rate limit or daily token budget; retry after the indicated delay.' },
  method_not_allowed: { status: 405, summary: 'Only POST is accepted on the token endpoint.' },
  request_too_large: { status: 413, summary: 'The request body exceeds the size limit.' },
  login_required: { status: 401, summary: 'The user session is missing, expired or ended (OpenID Connect): sign in again.' },
  temporarily_unavailable: { status: 503, summary: 'A dependency (issuer JWKS, Google IAM) is unavailable; retry after the indicated delay.' },
  server_error: { status: 500, summary: 'An unexpected condition prevented the broker from answering.' },
} as const;

export type CatalogueCode = keyof typeof ERROR_CATALOGUE;

/**
 * The `error` value on the wire. Two catalogue entries exist only to carry a distinct HTTP
 * status; on the wire they are RFC 6749's `invalid_request`.
 */
export function wireErrorCode(code: CatalogueCode): string {
  return code === 'method_not_allowed' || code === 'request_too_large' ? 'invalid_request' : code;
}
