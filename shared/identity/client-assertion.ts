/**
 * Verifies RFC 7523 JWT client assertions: the `assertion` of the jwt-bearer grant
 * (§2.1, §3.1 → errors are `invalid_grant`) and `client_assertion` client authentication
 * (§2.2, §3.2 → errors are `invalid_client`, 401).
 *
 * Mutually exclusive with identity-token verification (RFC 8725 §3.12): the option set here
 * is separate from `oidc-token.ts`'s, and the two kinds of JWT are told apart by their
 * issuer. An assertion's `iss` is a client id, which is never a URL (`isValidClientId`,
 * shared/identity/client-id.ts); a subject token's `iss` is an OIDC issuer, which is. So an
 * identity token is never taken for an assertion (its `iss` names no client) and an
 * assertion never for an identity token (its `iss` names no trusted issuer; and its `typ`
 * `client-authentication+jwt`, when set, is refused there outright).
 *
 * Order matters: every check that can refuse runs first; the single-use mark (`jti`) is
 * taken last, so an assertion that fails anything else neither consumes its `jti` nor
 * occupies the replay store (garbage cannot fill it).
 */
import { decodeJwt, errors as joseErrors, jwtVerify, type JWTVerifyGetKey, type ProtectedHeaderParameters } from 'jose';
import { DEFAULTS } from '../config/defaults';
import { BrokerError } from '../errors';
import type { ReasonFor } from '../refusal-reasons';
import { sha256Fingerprint } from '../fingerprint';
import { toClaims, type Claims } from './claims';
import { checkClaimsSetText, checkCompactJws } from './compact-jws';
import { verificationError } from './oidc-token';
import type { Deadline } from '../resilience/deadline';
import { replayStoreUnavailable, type ReplayStore } from './replay-store';
import { isSigningAlgorithm } from './signing-algorithms';
import { isValidClientId } from './client-id';

export interface RegisteredClient {
  /** client_id; the assertion's `iss` and `sub` must both equal it. */
  readonly id: string;
  /** From inline JWKS or a JWKS URL (public keys only). */
  readonly keys: JWTVerifyGetKey;
  /** Asymmetric only. */
  readonly algorithms: readonly string[];
  /** Ceiling on `exp − iat` (default 300). */
  readonly maxAssertionLifetimeSeconds: number;
}

export interface AssertionCheck {
  clients: ReadonlyMap<string, RegisteredClient>;
  /** Exactly these values are accepted as `aud` (the broker's issuer URL and token URLs). */
  audiences: readonly string[];
  replay: ReplayStore;
  /** Error code for failures: 'invalid_grant' for the jwt-bearer grant (RFC 7523 §2.1, §3.1), 'invalid_client' (401) for client authentication (§2.2, §3.2). */
  errorCode: 'invalid_grant' | 'invalid_client';
  /** When client_id was also sent, the assertion must be for that client. */
  expectedClientId?: string;
  /**
   * Told the client's id once the signature has verified with that client's key: the refusals
   * after that point (times, audience, lifetime, `jti`, replay) are refusals of a known client.
   */
  onSignatureVerified?: (clientId: string) => void;
  /** The request's deadline: the single-use check waits no longer. */
  deadline?: Deadline;
  currentDate?: Date;
  /** Default 30. */
  clockToleranceSeconds?: number;
  /** Default DEFAULTS.maxTokenBytes. */
  maxAssertionBytes?: number;
}

export interface VerifiedAssertion {
  clientId: string;
  jti: string;
  /** The assertion's `exp` (seconds since the epoch). */
  expiresAt: number;
  /** SHA-256 of the assertion (base64url): the only form of it that may be logged. */
  assertionSha256: string;
  claims: Claims;
}

/** `typ` values an assertion may carry (RFC 7523 has none; rfc7523bis names the second). */
const ASSERTION_TYPES = new Set(['jwt', 'client-authentication+jwt']);

export async function verifyClientAssertion(assertion: string, check: AssertionCheck): Promise<VerifiedAssertion> {
  const fail = (description: string, reason: ReasonFor<AssertionCheck['errorCode']>, detail?: string): BrokerError =>
    new BrokerError(check.errorCode, description, { reason, detail });
  // The shared JWT checks' reasons list both codes (shared/refusal-reasons.ts; test/audit/refusal-reasons.test.ts drives them through here).
  const recode = (err: BrokerError): BrokerError =>
    err.code === 'invalid_grant' || err.code === 'invalid_request'
      ? new BrokerError(check.errorCode, err.description, { reason: err.reason as ReasonFor<AssertionCheck['errorCode']>, detail: err.detail, cause: err })
      : err;
  const tolerance = check.clockToleranceSeconds ?? DEFAULTS.clockToleranceSeconds;

  // 1. Shape, size and type, before anything else.
  const header = preCheck(assertion, check.maxAssertionBytes ?? DEFAULTS.maxTokenBytes, recode);
  if (header.typ !== undefined) {
    const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : undefined;
    if (typ === undefined || !ASSERTION_TYPES.has(typ)) {
      throw fail('assertion header "typ" must be "JWT" or "client-authentication+jwt"', 'wrong_token_type');
    }
  }

  // 2. The unverified `iss` only picks a registered client.
  const client = selectClient(assertion, check.clients, fail);
  if (check.expectedClientId !== undefined && check.expectedClientId !== client.id) {
    throw fail('the assertion was not issued by the client named in client_id', 'client_id_mismatch');
  }
  const alg = header.alg as string;
  if (!client.algorithms.includes(alg) || !isSigningAlgorithm(alg)) {
    throw fail('assertion algorithm is not accepted for this client', 'algorithm_not_allowed');
  }

  // 3. Signature and times (jose), then claim types.
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(assertion, client.keys, {
      issuer: client.id,
      algorithms: client.algorithms.filter(isSigningAlgorithm),
      clockTolerance: tolerance,
      // With maxTokenAge jose also refuses an `iat` in the future (beyond the tolerance).
      maxTokenAge: client.maxAssertionLifetimeSeconds,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti'],
      currentDate: check.currentDate,
    }));
  } catch (err) {
    if (signatureVerified(err)) check.onSignatureVerified?.(client.id);
    // Key outages become 503 temporarily_unavailable there; everything else a refusal.
    throw recode(verificationError(err, client.id));
  }
  check.onSignatureVerified?.(client.id);
  let verified: ReturnType<typeof toClaims>;
  try {
    verified = toClaims(payload);
  } catch (err) {
    throw err instanceof BrokerError ? recode(err) : err;
  }
  const { claims, registered } = verified;

  // 4. What RFC 7523 §3 asks of an assertion beyond a valid JWT.
  if (registered.sub !== client.id) throw fail('assertion "sub" must equal its "iss" (the client id)', 'subject_mismatch');
  if (!audienceAccepted(registered.aud, check.audiences)) throw fail('assertion audience is not accepted', 'audience_mismatch');
  if (registered.exp <= registered.iat) throw fail('assertion expires before it was issued', 'invalid_claim_type');
  if (registered.exp - registered.iat > client.maxAssertionLifetimeSeconds) {
    throw fail('assertion validity period is longer than allowed', 'assertion_lifetime_too_long');
  }
  const nowSeconds = Math.floor((check.currentDate ?? new Date()).getTime() / 1000);
  if (registered.iat > nowSeconds + tolerance) throw fail('assertion issue time is in the future', 'issued_in_future');
  const jti = registered.jti;
  if (typeof jti !== 'string' || jti.length < 1 || jti.length > DEFAULTS.maxAssertionJtiLength) {
    throw fail(`assertion "jti" must be a string of 1 to ${DEFAULTS.maxAssertionJtiLength} characters`, 'invalid_jti');
  }

  // 5. Single use — last, once everything else has passed.
  const replayUntilMs = (registered.exp + tolerance) * 1000;
  let first: boolean;
  try {
    first = await check.replay.claim(`${client.id}\u0000${jti}`, replayUntilMs, check.deadline);
  } catch (err) {
    throw err instanceof BrokerError ? err : replayStoreUnavailable(`replay store failed: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  if (!first) throw fail('assertion has already been used', 'assertion_replayed');

  return { clientId: client.id, jti, expiresAt: registered.exp, assertionSha256: sha256Fingerprint(assertion), claims };
}

/**
 * `aud` must be exactly one of the broker's own identifiers: a string, or an array of exactly
 * one element. Arrays of several values are refused even when one of them is ours: such an
 * assertion is, by construction, also valid at every other audience it lists, and any of
 * those recipients (or whoever compromises one) can present it to us as the client — and
 * our `jti` record cannot help, since it only stops a *second* use here and the impostor's
 * may well be the first. This is the "audience
 * injection" weakness of private_key_jwt that rfc7523bis closes by requiring `aud` to be the
 * authorization server's issuer identifier alone. Comparison is exact (no trailing-slash,
 * case or path normalisation), per RFC 8725 §3.9.
 */
function audienceAccepted(aud: string | readonly string[], audiences: readonly string[]): boolean {
  if (typeof aud === 'string') return audiences.includes(aud);
  return aud.length === 1 && audiences.includes(aud[0] as string);
}

/** jose checks the claims set (times, required claims) only after the signature has verified (jwt/verify.js). */
function signatureVerified(err: unknown): boolean {
  return err instanceof joseErrors.JWTExpired || err instanceof joseErrors.JWTClaimValidationFailed;
}

/** `checkCompactJws` (size, no JWE, canonical compact form, decodable header with an `alg`) and `checkClaimsSetText` (UTF-8 JSON claims), with their codes recast. */
function preCheck(assertion: string, maxBytes: number, recode: (err: BrokerError) => BrokerError): ProtectedHeaderParameters {
  try {
    const header = checkCompactJws(assertion, maxBytes);
    checkClaimsSetText(assertion);
    return header;
  } catch (err) {
    throw err instanceof BrokerError ? recode(err) : err;
  }
}

function selectClient(
  assertion: string,
  clients: ReadonlyMap<string, RegisteredClient>,
  fail: (description: string, reason: ReasonFor<AssertionCheck['errorCode']>, detail?: string) => BrokerError,
): RegisteredClient {
  let iss: unknown;
  try {
    iss = decodeJwt(assertion).iss;
  } catch {
    throw fail('assertion payload is not valid base64url JSON', 'malformed_token');
  }
  if (typeof iss !== 'string') throw fail('assertion has no issuer', 'unknown_client');
  // A URL-like `iss` is an identity token's, never a client's (RFC 8725 §3.12).
  if (!isValidClientId(iss)) throw fail('assertion issuer is not a registered client', 'unknown_client', 'iss is not a valid client id');
  const client = clients.get(iss);
  if (!client) throw fail('assertion issuer is not a registered client', 'unknown_client');
  if (client.id !== iss) throw fail('assertion issuer is not a registered client', 'unknown_client', 'registry entry id differs from its key');
  return client;
}
