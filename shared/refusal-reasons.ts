/**
 * Every `reason` a BrokerError can carry, defined once: the stable machine word the audit
 * trail records as `error.reason` (docs/audit.md renders this table; a test keeps the two
 * equal). `codes` are the catalogue codes (shared/errors.ts) a reason is raised with, and the
 * compiler holds each throwing site to them: `new BrokerError(code, …, { reason })` accepts
 * only a reason listed for `code`.
 *
 * A reason has several codes only where the same check answers in several places:
 *  - the JWT checks subject tokens and client assertions share (size, shape, signature,
 *    times, claim types) are `invalid_grant`; an assertion used for client authentication
 *    recasts them as `invalid_client` (RFC 7523 §3.2), the jwt-bearer grant keeps
 *    `invalid_grant` (§3.1), and `token_too_large`, `invalid_request` for a subject token,
 *    follows the same rule for an assertion;
 *  - the assertion checks of their own follow that rule too;
 *  - `client_id_mismatch` and `no_clients` are also raised by client authentication itself.
 */
import type { CatalogueCode } from './error-catalogue';

/** Shared JWT checks and assertion checks: the jwt-bearer grant, or client authentication. */
const GRANT_OR_CLIENT = ['invalid_grant', 'invalid_client'] as const;

export const REFUSAL_REASONS = {
  // The HTTP edge (functions/).
  not_found: { codes: ['invalid_request'], meaning: 'the path is not a broker endpoint (answered 404; no audit entry)' },
  method_not_allowed: { codes: ['method_not_allowed'], meaning: 'the token or introspection endpoint got something other than POST, or the metadata endpoint something other than GET or HEAD' },
  origin_not_allowed: { codes: ['access_denied'], meaning: "a browser request (or preflight) from an origin the policy's `cors` does not list" },
  preflight_method_not_allowed: { codes: ['access_denied'], meaning: 'a CORS preflight for a method other than POST (preflights get no audit entry)' },
  wrong_content_type: { codes: ['invalid_request'], meaning: 'the body is not `application/x-www-form-urlencoded`' },
  content_encoding: { codes: ['invalid_request'], meaning: 'a `Content-Encoding` other than identity' },
  malformed_body: { codes: ['invalid_request'], meaning: 'the body cannot be read, is not printable ASCII, or has an empty or over-long parameter name' },
  body_too_large: { codes: ['request_too_large'], meaning: 'the body is over the body cap' },
  too_many_parameters: { codes: ['invalid_request'], meaning: 'more parameters than the broker reads' },
  parameter_too_large: { codes: ['invalid_request'], meaning: 'a parameter other than a token is over its size cap' },
  duplicate_parameter: { codes: ['invalid_request'], meaning: 'a parameter other than `audience` is repeated' },
  multiple_audiences: { codes: ['invalid_target'], meaning: '`audience` is repeated' },
  credential_in_query: { codes: ['invalid_request'], meaning: 'a credential parameter in the query string' },
  malformed_authorization: { codes: ['invalid_request'], meaning: 'an `Authorization` header that is not well-formed Basic' },

  // The grant's parameters.
  missing_parameter: { codes: ['invalid_request'], meaning: 'a required parameter is absent or empty' },
  unsupported_grant_type: { codes: ['unsupported_grant_type'], meaning: 'a `grant_type` the broker does not serve' },
  unsupported_subject_token_type: { codes: ['invalid_request'], meaning: '`subject_token_type` is neither `jwt` nor `id_token`' },
  unsupported_requested_token_type: { codes: ['invalid_request'], meaning: '`requested_token_type` is not `access_token`' },
  actor_token_unsupported: { codes: ['invalid_request'], meaning: 'an `actor_token` (delegation) was sent' },
  resource_unsupported: { codes: ['invalid_request'], meaning: 'a `resource` parameter was sent (use `audience`)' },
  malformed_scope: { codes: ['invalid_scope'], meaning: '`scope` has characters outside RFC 6749 §3.3, or names no scope' },
  too_many_scopes: { codes: ['invalid_scope'], meaning: '`scope` names more scopes than the broker accepts' },
  duplicate_scope: { codes: ['invalid_scope'], meaning: '`scope` names a scope twice' },
  malformed_options: { codes: ['invalid_request'], meaning: '`options` is not a JSON object, its `lifetimeSeconds` not a positive integer, or its `accessBoundary` not an access boundary' },
  unsupported_options: { codes: ['invalid_request'], meaning: '`options` has keys other than `lifetimeSeconds` and `userProject`' },
  lifetime_too_short: { codes: ['invalid_request'], meaning: 'the requested lifetime is below the minimum' },

  // The JWT checks shared by subject tokens and client assertions.
  token_too_large: { codes: ['invalid_request', ...GRANT_OR_CLIENT], meaning: 'the token or assertion is over the token cap' },
  jwe_not_accepted: { codes: GRANT_OR_CLIENT, meaning: 'an encrypted token (JWE)' },
  malformed_token: { codes: GRANT_OR_CLIENT, meaning: 'not a canonical compact JWS with a JSON header and payload, or a feature jose refuses' },
  duplicate_json_key: { codes: GRANT_OR_CLIENT, meaning: 'the header or payload repeats a JSON member name' },
  wrong_token_type: { codes: GRANT_OR_CLIENT, meaning: 'a `typ` of another kind of JWT (RFC 8725 §3.11), or an assertion `typ` other than JWT' },
  untrusted_issuer: { codes: GRANT_OR_CLIENT, meaning: "the token's `iss` is no issuer the policy trusts" },
  algorithm_not_allowed: { codes: GRANT_OR_CLIENT, meaning: "the `alg` is not in the issuer's (or client's) allowlist" },
  bad_signature: { codes: GRANT_OR_CLIENT, meaning: 'the signature does not verify' },
  unknown_key: { codes: GRANT_OR_CLIENT, meaning: 'no key of the issuer (or client) matches the token, even after a refetch' },
  key_rejected: { codes: GRANT_OR_CLIENT, meaning: 'the `kid` names a key that key acceptance refused as unsafe' },
  key_unusable: { codes: GRANT_OR_CLIENT, meaning: 'the platform could not use the matched key' },
  missing_claim: { codes: GRANT_OR_CLIENT, meaning: 'a required claim (`exp`, `iat`, `sub`, …; `auth_time` for Firebase) is absent' },
  invalid_claim_type: { codes: GRANT_OR_CLIENT, meaning: 'a claim has the wrong type or value (a float date, `sub: 123`, `exp` before `iat`, …)' },
  too_many_claims: { codes: GRANT_OR_CLIENT, meaning: 'the claims are too many or nested too deeply' },
  audience_mismatch: { codes: GRANT_OR_CLIENT, meaning: 'the `aud` is not one the issuer (or, for an assertion, the broker) accepts' },
  token_expired: { codes: GRANT_OR_CLIENT, meaning: '`exp` has passed (beyond the clock tolerance)' },
  token_not_yet_valid: { codes: GRANT_OR_CLIENT, meaning: '`nbf` is in the future' },
  issued_in_future: { codes: GRANT_OR_CLIENT, meaning: '`iat` (or `auth_time`) is in the future' },
  token_too_old: { codes: GRANT_OR_CLIENT, meaning: "`iat` is older than the issuer's maximum token age (or the client's assertion lifetime)" },
  authorized_party_mismatch: { codes: ['invalid_grant'], meaning: "several audiences without an `azp`, or an `azp` the issuer's `authorized_parties` do not list" },
  token_validity_too_long: { codes: ['invalid_grant'], meaning: "`exp − iat` is longer than the issuer's maximum validity" },

  // Client authentication.
  multiple_client_auth: { codes: ['invalid_request'], meaning: 'more than one client authentication method in one request' },
  client_id_mismatch: { codes: ['invalid_request', ...GRANT_OR_CLIENT], meaning: "`client_id` names another client than the credential (or the assertion's `iss`)" },
  client_auth_required: { codes: ['invalid_client'], meaning: '`client_credentials`, or token introspection, without client authentication' },
  no_clients: { codes: ['invalid_client', 'invalid_grant'], meaning: 'a client credential or assertion, but the policy registers no clients' },
  bad_client_secret: { codes: ['invalid_client'], meaning: 'unknown client or wrong secret' },
  bad_api_key: { codes: ['invalid_client'], meaning: 'an API key that is malformed, unknown or wrong' },
  api_key_expired: { codes: ['invalid_client'], meaning: "the API key's `expires` has passed" },
  api_key_ip_not_allowed: { codes: ['access_denied'], meaning: "the caller's address is outside the key's `allowed_ip_ranges`" },
  api_key_origin_not_allowed: { codes: ['access_denied'], meaning: "the request's origin is not in the key's `allowed_origins`" },
  unsupported_client_assertion_type: { codes: ['invalid_request'], meaning: '`client_assertion_type` is not the jwt-bearer URN' },

  // RFC 7523 assertions.
  unknown_client: { codes: GRANT_OR_CLIENT, meaning: "the assertion's `iss` is no registered client" },
  subject_mismatch: { codes: GRANT_OR_CLIENT, meaning: "the assertion's `sub` differs from its `iss`" },
  assertion_lifetime_too_long: { codes: GRANT_OR_CLIENT, meaning: "the assertion's `exp − iat` is over the client's maximum" },
  invalid_jti: { codes: GRANT_OR_CLIENT, meaning: "the assertion's `jti` is missing, not a string, or too long" },
  assertion_replayed: { codes: GRANT_OR_CLIENT, meaning: "the assertion's `jti` was used before" },
  subject_token_replayed: { codes: ['invalid_grant'], meaning: "an issuer with `replay: one_time`: this subject token (its `jti`, else its SHA-256) was exchanged before" },
  client_mismatch: { codes: ['invalid_grant'], meaning: 'the jwt-bearer assertion is for another client than the authenticated one' },
  replay_store_unavailable: { codes: ['temporarily_unavailable'], meaning: 'the replay store cannot record the `jti` (fails closed)' },
  issued_tokens_unavailable: { codes: ['temporarily_unavailable'], meaning: 'token introspection cannot read the record of issued tokens (no guess of `active: false`)' },
  replay_store_full: { codes: ['temporarily_unavailable'], meaning: 'the in-memory replay store holds as many live marks as it may' },

  // The policy.
  unknown_audience: { codes: ['invalid_target'], meaning: '`audience` names no rule id or service account' },
  denied_by_operator: { codes: ['access_denied'], meaning: "an entry of the operator's deny-list matches the request (subject, claim, client, API key, rule, service account or policy version); `error.detail` names the entry" },
  no_rule_matched: { codes: ['access_denied'], meaning: 'no rule grants this principal a token (default deny)' },
  scope_not_allowed: { codes: ['invalid_scope'], meaning: "a requested scope is not among the matched rule's scopes" },
  boundary_value_refused: { codes: ['invalid_grant'], meaning: "a claim an access-boundary placeholder names is missing, not a string, or does not match the placeholder's pattern" },
  id_token_audience_not_allowed: { codes: ['invalid_target'], meaning: "an ID token was asked for a `resource` the matched rule's `id_token_audiences` does not list (or the rule issues none)" },
  gemini_ephemeral_not_allowed: { codes: ['invalid_target'], meaning: 'a Gemini ephemeral token was asked for and the matched rule has no `gemini_ephemeral`' },
  public_client_not_allowed: { codes: ['invalid_client'], meaning: 'a public client (one whose published secret proves nothing, e.g. gcloud) asked for tokens of its own with client_credentials' },
  boundary_not_within_rule: { codes: ['invalid_target'], meaning: "the access boundary in `options` is not within the matched rule's boundary (another resource, more permissions, another condition)" },

  // Rate limits.
  limit_requests_per_minute: { codes: ['slow_down'], meaning: "the rule's or client's `requests_per_minute` is used up" },
  limit_tokens_per_day: { codes: ['slow_down'], meaning: "the rule's or client's `tokens_per_day` is used up" },

  // Dependencies.
  issuer_keys_unavailable: { codes: ['temporarily_unavailable'], meaning: "the issuer's discovery document or JWKS cannot be fetched, and no usable keys are held" },
  upstream_unavailable: { codes: ['temporarily_unavailable'], meaning: 'IAM Credentials answered 429, 408 or 5xx, or could not be reached' },
  upstream_timeout: { codes: ['temporarily_unavailable'], meaning: 'IAM Credentials did not answer within the attempt timeout' },
  upstream_malformed: { codes: ['temporarily_unavailable'], meaning: 'IAM Credentials answered 200 without a usable token' },
  upstream_circuit_open: { codes: ['temporarily_unavailable'], meaning: 'the circuit breaker is open: IAM Credentials was not called' },
  upstream_refused: { codes: ['server_error'], meaning: 'IAM Credentials refused to mint (permission, unknown account): a deployment fault' },
  gemini_key_not_configured: { codes: ['server_error'], meaning: 'a Gemini ephemeral token was asked for and BROKER_GEMINI_API_KEY_SECRET is not set' },
  secret_unavailable: { codes: ['temporarily_unavailable'], meaning: 'Secret Manager answered 429, 408 or 5xx, timed out, could not be reached, or sent an unusable payload' },
  secret_refused: { codes: ['server_error'], meaning: 'Secret Manager refused to give the Gemini API key (permission, unknown secret or version): a deployment fault' },
  gemini_unavailable: { codes: ['temporarily_unavailable'], meaning: 'the Gemini API (auth_tokens) answered 429, 408 or 5xx, timed out, could not be reached, or sent no token' },
  gemini_refused: { codes: ['server_error'], meaning: 'the Gemini API refused to create an ephemeral token (key, model, configuration): a deployment fault' },
  deadline_exceeded: { codes: ['temporarily_unavailable'], meaning: 'the request deadline passed' },

  // Anything else.
  unknown_app: { codes: ['invalid_request'], meaning: 'user sign-in: `app` names no web app of the policy' },
  return_to_not_allowed: { codes: ['invalid_request'], meaning: "user sign-in: `return_to` is not exactly one of the app's `post_login_redirects`" },
  login_state_missing: { codes: ['invalid_request'], meaning: 'user sign-in: a callback without the pre-login cookie, or for a login that is unknown, already used or expired' },
  state_mismatch: { codes: ['invalid_request'], meaning: "user sign-in: the callback's `state` is not this browser's login's" },
  sign_in_not_completed: { codes: ['access_denied'], meaning: 'user sign-in: the provider sent the user back with an error (cancelled, refused consent)' },
  code_exchange_refused: { codes: ['invalid_grant'], meaning: 'user sign-in: the provider refused the authorization code (reused, expired, wrong verifier or redirect)' },
  id_token_invalid: { codes: ['invalid_grant'], meaning: "user sign-in: the provider's ID token failed a check (signature, `iss`, `aud`, `azp`, `nonce`, times) or was missing" },
  sign_in_condition_not_met: { codes: ['access_denied'], meaning: "user sign-in: the app's `condition` is false for this account (its tokens were revoked, not kept)" },
  csrf_header_missing: { codes: ['access_denied'], meaning: 'user sign-in: a session request without the `X-Token-Broker-CSRF` header' },
  session_missing: { codes: ['login_required'], meaning: 'user sign-in: no session cookie, or the session is unknown, expired, ended or of another app' },
  refresh_token_revoked: { codes: ['login_required'], meaning: 'user sign-in: the provider refused the refresh token (`invalid_grant`: revoked or expired); the session was ended' },
  refresh_token_expired: { codes: ['login_required'], meaning: "user sign-in: the app's `refresh_token_lifetime_seconds` since sign-in has passed and the access token is due; the session was ended" },
  refresh_token_missing: { codes: ['login_required'], meaning: 'user sign-in: the access token expired and the provider gave no refresh token; the session was ended' },
  session_store_unavailable: { codes: ['temporarily_unavailable'], meaning: 'user sign-in: the session vault (Firestore, KMS) cannot be reached' },
  provider_unavailable: { codes: ['temporarily_unavailable'], meaning: 'user sign-in: the provider answered 429 or 5xx, timed out or could not be reached, after retries' },
  provider_refused: { codes: ['server_error'], meaning: "user sign-in: the provider refused the broker's client (client id or secret, discovery): a deployment fault" },

  internal_error: { codes: ['server_error'], meaning: 'a refused configuration or an unexpected failure; `error.detail` says which' },
} as const satisfies Record<string, { readonly codes: readonly CatalogueCode[]; readonly meaning: string }>;

export type RefusalReason = keyof typeof REFUSAL_REASONS;

type CodesOf<R extends RefusalReason> = (typeof REFUSAL_REASONS)[R]['codes'][number];

/** The reasons listed for `C`; for a union of codes, the reasons listed for every one of them. */
export type ReasonFor<C extends CatalogueCode> = { [R in RefusalReason]: [C] extends [CodesOf<R>] ? R : never }[RefusalReason];

/** Whether the table lists `code` for `reason`. */
export function isReasonFor(reason: RefusalReason, code: CatalogueCode): boolean {
  return (REFUSAL_REASONS[reason].codes as readonly CatalogueCode[]).includes(code);
}
