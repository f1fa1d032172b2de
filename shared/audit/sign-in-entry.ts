/**
 * The one audit entry written for every user sign-in request (login, callback, session token,
 * logout), whatever its outcome: the app, the user's `sub` and email, the session's handle
 * (the SHA-256 of its id, which operators revoke by), the scopes, how a token was served, and
 * the refusal's reason. Never a token, code, state, verifier or session id.
 */
import { DEFAULTS } from '../config/defaults';
import { wireErrorCode, type BrokerError } from '../errors';
import type { SignInRecord } from '../sign-in/sign-in';
import type { AuditMetadata, AuditSeverity } from './audit-log';
import { dropUndefined, exchangeOutcome, httpMetadata, type HttpFacts } from './exchange-entry';
import { capString } from './sanitize';

export const SIGN_IN_EVENT = 'user_session';

export type SignInAction = 'login' | 'callback' | 'token' | 'logout';

export function signInAuditEntry(
  action: SignInAction,
  record: SignInRecord,
  error: BrokerError | undefined,
  http: HttpFacts,
): { severity: AuditSeverity; payload: Record<string, unknown>; metadata: AuditMetadata } {
  const outcome = error ? (error.code === 'login_required' ? 'denied' : exchangeOutcome(error)) : 'ok';
  const payload: Record<string, unknown> = {
    event: SIGN_IN_EVENT,
    action,
    outcome,
    requestId: http.requestId,
    error: error && { code: wireErrorCode(error.code), reason: error.reason, status: http.status, detail: error.detail && capString(error.detail, DEFAULTS.auditDetailChars) },
    app: record.appId,
    user: record.subject === undefined ? undefined : dropUndefined({ subject: capString(record.subject), email: record.email && capString(record.email) }),
    sessionHandle: record.sessionHandle,
    scopes: record.scopes,
    token: record.token,
    warning: record.warning && capString(record.warning, DEFAULTS.auditDetailChars),
    latencyMs: http.latencyMs,
  };
  const severity: AuditSeverity = !error ? (record.warning ? 'WARNING' : 'INFO')
    : outcome === 'rejected' ? 'NOTICE' : outcome === 'denied' || outcome === 'limited' ? 'WARNING' : 'ERROR';
  return { severity, payload: dropUndefined(payload), metadata: httpMetadata(http) };
}
