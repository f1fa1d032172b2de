/**
 * The one audit entry written for every introspection call, whatever its outcome: which
 * client asked, the token's SHA-256 (never the token), and whether (and why not) it was active.
 */
import { DEFAULTS } from '../config/defaults';
import { wireErrorCode, type BrokerError } from '../errors';
import type { IntrospectionRecord } from '../introspection/introspect';
import type { AuditMetadata, AuditSeverity } from './audit-log';
import { dropUndefined, exchangeOutcome, httpMetadata, type HttpFacts } from './exchange-entry';
import { capString } from './sanitize';

export const INTROSPECTION_EVENT = 'token_introspection';

export function introspectionAuditEntry(
  record: IntrospectionRecord,
  error: BrokerError | undefined,
  http: HttpFacts,
): { severity: AuditSeverity; payload: Record<string, unknown>; metadata: AuditMetadata } {
  const outcome = error ? exchangeOutcome(error) : 'answered';
  const payload: Record<string, unknown> = {
    event: INTROSPECTION_EVENT,
    outcome,
    requestId: http.requestId,
    error: error && { code: wireErrorCode(error.code), reason: error.reason, status: http.status, detail: error.detail && capString(error.detail, DEFAULTS.auditDetailChars) },
    client: record.client && { id: capString(record.client.id), authMethod: record.client.authMethod, apiKeyId: record.client.apiKeyId },
    tokenSha256: record.tokenSha256,
    active: record.outcome === undefined ? undefined : record.outcome === 'active',
    inactiveBecause: record.outcome === undefined || record.outcome === 'active' ? undefined : record.outcome,
    ruleId: record.ruleId,
    latencyMs: http.latencyMs,
  };
  const severity: AuditSeverity = !error ? 'INFO' : outcome === 'rejected' ? 'NOTICE' : outcome === 'denied' || outcome === 'limited' ? 'WARNING' : 'ERROR';
  return { severity, payload: dropUndefined(payload), metadata: httpMetadata(http) };
}
