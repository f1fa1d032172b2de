/**
 * The error catalogue: every error the token endpoint can answer with, defined once.
 *
 * Each code is an RFC 6749 §5.2 / RFC 8693 §2.2.2 error code (plus `access_denied`,
 * `temporarily_unavailable` and `server_error`, whose meaning RFC 6749 §4.1.2.1 defines).
 * Where RFC 8693 leaves a choice we answer as Google STS does (an unacceptable
 * `subject_token` is `invalid_grant`, not `invalid_request`), so Google's client
 * libraries behave the same against the broker as against STS.
 *
 * `description` is what the caller sees; `detail` is for operators' logs only and
 * never leaves the process. Neither ever holds a token, assertion, key or secret.
 */

import type { ReasonFor, RefusalReason } from './refusal-reasons';

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

export interface BrokerErrorOptions<C extends CatalogueCode = CatalogueCode> {
  /** Operator-facing detail for logs; never sent to the caller. */
  detail?: string;
  /** Seconds the caller should wait before retrying (sent as `Retry-After`). */
  retryAfterSeconds?: number;
  /** The stable machine word for audit and metrics (`error.reason`): one REFUSAL_REASONS lists for the code. */
  reason: ReasonFor<C>;
  /** `WWW-Authenticate` challenge for 401 answers (RFC 6749 §5.2: Basic when Basic was tried). */
  challenge?: string;
  /** The methods the endpoint does accept, for a 405's `Allow` header (RFC 9110 §15.5.6). */
  allowedMethods?: readonly string[];
  cause?: unknown;
}

/**
 * A failure caused by the request or a dependency, answered with an RFC 6749 error body.
 * `C` only ties `reason` to `code` where the error is raised (shared/refusal-reasons.ts).
 */
export class BrokerError<C extends CatalogueCode = CatalogueCode> extends Error {
  readonly code: CatalogueCode;
  readonly description: string;
  readonly detail?: string;
  readonly retryAfterSeconds?: number;
  readonly reason: RefusalReason;
  readonly challenge?: string;
  readonly allowedMethods?: readonly string[];

  constructor(code: C, description: string, options: BrokerErrorOptions<NoInfer<C>>) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BrokerError';
    this.code = code;
    this.description = description;
    this.detail = options.detail;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.reason = options.reason;
    this.challenge = options.challenge;
    this.allowedMethods = options.allowedMethods;
  }

  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }
}

/** Shorthands for the codes the core raises most. */
export const invalidRequest = (description: string, reason: ReasonFor<'invalid_request'>) =>
  new BrokerError('invalid_request', description, { reason });
export const invalidGrant = (description: string, reason: ReasonFor<'invalid_grant'>, detail?: string) =>
  new BrokerError('invalid_grant', description, { reason, detail });
export const temporarilyUnavailable = (description: string, retryAfterSeconds: number, reason: ReasonFor<'temporarily_unavailable'>, detail?: string) =>
  new BrokerError('temporarily_unavailable', description, { retryAfterSeconds, reason, detail });

/** The RFC 6749 §5.2 body for an error. */
export interface OAuthErrorBody {
  error: string;
  error_description: string;
}

/**
 * Decides what the caller sees for any thrown value: a BrokerError is exposed as is;
 * anything else becomes a generic `server_error` whose message never leaves the process.
 */
export function toBrokerError(err: unknown): BrokerError {
  if (err instanceof BrokerError) return err;
  return new BrokerError('server_error', 'The broker could not process the request.', {
    reason: 'internal_error',
    detail: err instanceof Error ? `${err.name}: ${err.message}` : 'non-error thrown',
    cause: err,
  });
}

export function errorBody(err: BrokerError): OAuthErrorBody {
  return { error: wireErrorCode(err.code), error_description: wireDescription(err) };
}

/**
 * RFC 6749 §5.2: `error_description` "MUST NOT include characters outside the set %x20-21 /
 * %x23-5B / %x5D-7E", so no double quote, no backslash, nothing beyond printable ASCII.
 * Quotes become apostrophes; anything else outside the set becomes `?`.
 */
function wireDescription(err: BrokerError): string {
  const text = err.description.replaceAll('"', "'").replaceAll('\\', '/').replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '?');
  return text.trim() === '' ? ERROR_CATALOGUE[err.code].summary : text;
}

/**
 * Operator misconfiguration (bad policy, unsafe setting) — raised at start-up or policy load,
 * never answered to a caller as their fault.
 */
export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}
