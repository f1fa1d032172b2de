/**
 * BrokerError: a refusal with its catalogue code (error-catalogue.ts), its reason
 * (refusal-reasons.ts) and what is exposed versus logged; and the one serializer of what a
 * caller sees. Where RFC 8693 leaves a choice we answer as Google STS does (an unacceptable
 * `subject_token` is `invalid_grant`, not `invalid_request`), so Google's client
 * libraries behave the same against the broker as against STS.
 *
 * `description` is what the caller sees; `detail` is for operators' logs only and
 * never leaves the process. Neither ever holds a token, assertion, key or secret.
 */

import { ERROR_CATALOGUE, wireErrorCode, type CatalogueCode } from './error-catalogue';
import type { ReasonFor, RefusalReason } from './refusal-reasons';

export { ERROR_CATALOGUE, wireErrorCode, type CatalogueCode };

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
