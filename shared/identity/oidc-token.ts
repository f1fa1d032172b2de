/**
 * Verifies an external OIDC token (GitHub Actions, GitLab CI, Kubernetes, Firebase, any
 * OIDC issuer) presented as an RFC 8693 `subject_token`, and returns the Principal.
 *
 * Verification options here are for identity tokens only; client assertions (RFC 7523) get
 * their own, mutually exclusive set (RFC 8725 §3.12).
 */
import { decodeJwt, errors as joseErrors, jwtVerify } from 'jose';
import { DEFAULTS } from '../config/defaults';
import { BrokerError, invalidGrant, temporarilyUnavailable, toBrokerError } from '../errors';
import { sha256Fingerprint } from '../fingerprint';
import type { Deadline } from '../resilience/deadline';
import { KeyFetchError } from './bounded-fetch';
import { toClaims } from './claims';
import { checkClaimsSetText, checkCompactJws, refuseForeignTokenType } from './compact-jws';
import type { Principal } from './principal';
import type { TrustedIssuer } from './trusted-issuer';

export interface VerifyOptions {
  /** Clock for tests; defaults to now. */
  currentDate?: Date;
  maxTokenBytes?: number;
  /** The request's deadline: waiting for the issuer's keys ends there. */
  deadline?: Deadline;
}

export async function verifyOidcToken(
  token: string,
  issuers: ReadonlyMap<string, TrustedIssuer>,
  options: VerifyOptions = {},
): Promise<Principal> {
  const header = checkCompactJws(token, options.maxTokenBytes ?? DEFAULTS.maxTokenBytes);
  checkClaimsSetText(token);
  refuseForeignTokenType(header);
  const issuer = selectIssuer(token, issuers);
  if (!issuer.algorithms.includes(header.alg as string)) {
    throw invalidGrant('token algorithm is not accepted for this issuer', 'algorithm_not_allowed');
  }
  const payload = await verifySignatureAndTimes(token, issuer, options.currentDate, options.deadline);
  const { claims, registered } = toClaims(payload);
  checkAuthorizedParty(claims.azp, registered.aud, issuer);
  if (registered.exp - registered.iat > issuer.maxTokenValiditySeconds) {
    throw invalidGrant('token validity period is longer than the issuer allows', 'token_validity_too_long');
  }
  if (issuer.requireAuthTime) checkAuthTime(claims.auth_time, options.currentDate, issuer.clockToleranceSeconds);
  return {
    kind: 'oidc',
    issuer: issuer.issuer,
    subject: registered.sub,
    claims,
    credentialSha256: sha256Fingerprint(token),
    expiresAt: registered.exp,
  };
}

/**
 * OIDC Core §2 `azp`, the party the token was issued to. A token with several audiences was
 * issued to one of them, and only `azp` says which: it must be present and one of the issuer's
 * authorized parties. A token with one audience and an `azp` (a Google ID token names the web
 * client there) must name an authorized party too; without an `azp` it is the audience's.
 */
function checkAuthorizedParty(azp: unknown, aud: string | readonly string[], issuer: TrustedIssuer): void {
  const severalAudiences = Array.isArray(aud) && aud.length > 1;
  if (azp === undefined && !severalAudiences) return;
  if (azp === undefined) throw invalidGrant('token has several audiences but no "azp" claim', 'authorized_party_mismatch');
  if (typeof azp !== 'string') throw invalidGrant('token "azp" claim is invalid', 'invalid_claim_type');
  if (!issuer.authorizedParties.includes(azp)) {
    throw invalidGrant('token was issued to a party (azp) the broker does not accept', 'authorized_party_mismatch');
  }
}

/** Firebase ID tokens: `auth_time` (when the user signed in) must be a NumericDate in the past. */
function checkAuthTime(authTime: unknown, currentDate: Date | undefined, toleranceSeconds: number): void {
  const now = Math.floor((currentDate?.getTime() ?? Date.now()) / 1000);
  if (typeof authTime !== 'number' || !Number.isSafeInteger(authTime) || authTime <= 0) {
    throw invalidGrant('token lacks a valid "auth_time" claim', 'missing_claim');
  }
  if (authTime > now + toleranceSeconds) throw invalidGrant('token "auth_time" is in the future', 'issued_in_future');
}

/** Reads the unverified `iss` only to pick a configured issuer; never to build a URL. */
function selectIssuer(token: string, issuers: ReadonlyMap<string, TrustedIssuer>): TrustedIssuer {
  let iss: unknown;
  try {
    iss = decodeJwt(token).iss;
  } catch {
    throw invalidGrant('token payload is not valid base64url JSON', 'malformed_token');
  }
  if (typeof iss !== 'string') throw invalidGrant('token has no issuer', 'untrusted_issuer');
  const issuer = issuers.get(iss);
  if (!issuer) throw invalidGrant('token issuer is not trusted', 'untrusted_issuer');
  return issuer;
}

async function verifySignatureAndTimes(token: string, issuer: TrustedIssuer, currentDate?: Date, deadline?: Deadline): Promise<unknown> {
  try {
    const { payload } = await jwtVerify(token, (header, jws) => issuer.keys(header, jws, deadline), {
      issuer: [issuer.issuer, ...issuer.aliases],
      audience: [...issuer.audiences],
      algorithms: [...issuer.algorithms],
      clockTolerance: issuer.clockToleranceSeconds,
      maxTokenAge: issuer.maxTokenAgeSeconds,
      requiredClaims: ['exp', 'iat', 'sub'],
      currentDate,
    });
    return payload;
  } catch (err) {
    throw verificationError(err, issuer.issuer);
  }
}

/** Translates jose's and the key fetcher's errors into the caller's vocabulary. */
export function verificationError(err: unknown, issuer: string): BrokerError {
  if (err instanceof BrokerError) return err;
  if (isKeyOutage(err)) {
    return temporarilyUnavailable(
      'the token issuer\'s signing keys are temporarily unavailable',
      DEFAULTS.jwksRetryAfterSeconds,
      'issuer_keys_unavailable',
      `${issuer}: ${err instanceof Error ? err.message : 'unknown error'}`,
    );
  }
  if (err instanceof joseErrors.JWTExpired) {
    return err.claim === 'iat'
      ? invalidGrant('token was issued too long ago', 'token_too_old')
      : invalidGrant('token expired', 'token_expired');
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) return claimError(err);
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return invalidGrant('token signature verification failed', 'bad_signature');
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return invalidGrant('no signing key of the issuer matches the token', 'unknown_key');
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) {
    return invalidGrant('token algorithm is not accepted for this issuer', 'algorithm_not_allowed');
  }
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid || err instanceof joseErrors.JOSENotSupported) {
    return invalidGrant('token is malformed or uses an unsupported feature', 'malformed_token', err.message);
  }
  if (isKeyUseFailure(err)) {
    return invalidGrant('the issuer key for this token cannot be used', 'key_unusable', `${issuer}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return toBrokerError(err);
}

/**
 * What the platform throws while importing or using a key (a `TypeError` about its size or
 * usages, a WebCrypto `DOMException`), once outages and jose's own errors are ruled out. Key
 * acceptance keeps such keys out; should one get through, the token is refused, not answered
 * with a 500.
 */
function isKeyUseFailure(err: unknown): boolean {
  return err instanceof TypeError || (typeof DOMException !== 'undefined' && err instanceof DOMException);
}

function claimError(err: InstanceType<typeof joseErrors.JWTClaimValidationFailed>): BrokerError {
  if (err.reason === 'missing') return invalidGrant(`token lacks the required "${err.claim}" claim`, 'missing_claim');
  // jose's "invalid": a time claim that is not a number (`"iat": "1700000000"`, `null`, `[…]`),
  // a type error, not a statement about time.
  if (err.reason === 'invalid') return invalidGrant(`token "${err.claim}" claim is invalid`, 'invalid_claim_type');
  switch (err.claim) {
    case 'aud': return invalidGrant('token audience is not accepted', 'audience_mismatch');
    case 'iss': return invalidGrant('token issuer is not trusted', 'untrusted_issuer');
    case 'nbf': return invalidGrant('token is not yet valid', 'token_not_yet_valid');
    case 'iat': return invalidGrant('token issue time is in the future', 'issued_in_future');
    default: return invalidGrant(`token "${err.claim}" claim is invalid`, 'invalid_claim_type');
  }
}

/** Failures to obtain keys: ours (KeyFetchError), jose's timeout, a non-200 or non-JSON JWKS. */
function isKeyOutage(err: unknown): boolean {
  return (
    err instanceof KeyFetchError ||
    err instanceof joseErrors.JWKSTimeout ||
    err instanceof joseErrors.JWKSInvalid ||
    (err instanceof joseErrors.JOSEError && err.code === 'ERR_JOSE_GENERIC')
  );
}
