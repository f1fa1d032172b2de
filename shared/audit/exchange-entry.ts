/**
 * The one audit entry written for every token-endpoint request, whatever its outcome,
 * assembled from the request's ExchangeRecord at the end. It holds fingerprints, never tokens.
 */
import { canonicalJson } from '../canonical-json';
import { sha256Fingerprint } from '../fingerprint';
import { DEFAULTS } from '../config/defaults';
import type { BrokerError } from '../errors';
import { wireErrorCode } from '../errors';
import type { ExchangeRecord } from '../exchange-record';
import type { AuditMetadata, AuditSeverity } from './audit-log';
import { capString } from './sanitize';
import type { TraceContext } from './trace-context';

export const EXCHANGE_EVENT = 'token_exchange';

export type ExchangeOutcome = 'issued' | 'rejected' | 'denied' | 'limited' | 'upstream_failure' | 'error';

/** What the HTTP layer knows about the request, free of framework types. */
export interface HttpFacts {
  method: string;
  /** Path only: query strings never reach the log. */
  path: string;
  status: number;
  userAgent?: string;
  remoteIp?: string;
  latencyMs: number;
  requestId: string;
  trace?: TraceContext;
}

const REJECTED = new Set(['invalid_request', 'unsupported_grant_type', 'method_not_allowed', 'request_too_large']);
const DENIED = new Set(['invalid_grant', 'invalid_client', 'unauthorized_client', 'invalid_scope', 'invalid_target', 'access_denied']);

export function exchangeOutcome(error: BrokerError | undefined): ExchangeOutcome {
  if (!error) return 'issued';
  if (REJECTED.has(error.code)) return 'rejected';
  if (DENIED.has(error.code)) return 'denied';
  if (error.code === 'slow_down') return 'limited';
  if (error.code === 'temporarily_unavailable' || error.reason === 'upstream_refused') return 'upstream_failure';
  return 'error';
}

const SEVERITY: Record<ExchangeOutcome, AuditSeverity> = {
  issued: 'INFO',
  rejected: 'NOTICE',
  denied: 'WARNING',
  limited: 'WARNING',
  upstream_failure: 'ERROR',
  error: 'ERROR',
};

export function exchangeAuditEntry(
  record: ExchangeRecord,
  error: BrokerError | undefined,
  http: HttpFacts,
): { severity: AuditSeverity; payload: Record<string, unknown>; metadata: AuditMetadata } {
  const outcome = exchangeOutcome(error);
  const payload: Record<string, unknown> = {
    event: EXCHANGE_EVENT,
    outcome,
    requestId: http.requestId,
    error: error && { code: wireErrorCode(error.code), reason: error.reason, status: http.status, detail: error.detail && capString(error.detail, DEFAULTS.auditDetailChars) },
    grantType: record.grantType && capString(record.grantType),
    subjectTokenType: record.subjectTokenType,
    subjectTokenSha256: record.subjectTokenSha256,
    principal: record.principal && {
      issuer: capString(record.principal.issuer),
      subject: capString(record.principal.subject),
      claims: record.auditClaims,
    },
    client: record.client && { id: capString(record.client.id), authMethod: record.client.authMethod, apiKeyId: record.client.apiKeyId },
    policy: record.policyVersion && { version: record.policyVersion, ruleId: record.ruleId, trace: record.trace, ...(record.skippedRules ? { skipped: record.skippedRules } : {}) },
    grant: record.grant && {
      serviceAccount: record.grant.serviceAccount,
      scopes: record.grant.scopes,
      requestedScopes: record.grant.requestedScopes,
      lifetimeSeconds: record.grant.lifetimeSeconds,
      delegates: record.grant.delegates,
      idTokenAudience: record.grant.idTokenAudience,
      accessBoundary: record.grant.accessBoundary && {
        sha256: sha256Fingerprint(canonicalJson(record.grant.accessBoundary)),
        resources: record.grant.accessBoundary.accessBoundaryRules.map((rule) => capString(rule.availableResource)),
      },
    },
    cache: record.cache && { outcome: record.cache, refreshStarted: record.cacheRefreshStarted === true },
    tokenSha256: record.tokenSha256,
    latencyMs: http.latencyMs,
    tokenLatencyMs: record.tokenLatencyMs,
  };
  return {
    severity: SEVERITY[outcome],
    payload: dropUndefined(payload),
    metadata: httpMetadata(http),
  };
}

/** The Cloud Logging `httpRequest`, trace and request label of an endpoint's entry. */
export function httpMetadata(http: HttpFacts): AuditMetadata {
  return {
    httpRequest: {
      requestMethod: http.method,
      requestUrl: capString(http.path, DEFAULTS.auditPathChars),
      status: http.status,
      userAgent: http.userAgent === undefined ? undefined : capString(http.userAgent, DEFAULTS.auditUserAgentChars),
      remoteIp: http.remoteIp,
      latency: `${(http.latencyMs / 1000).toFixed(3)}s`,
    },
    trace: http.trace,
    labels: { request_id: http.requestId },
  };
}

export function dropUndefined(payload: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(payload).filter(([, value]) => value !== undefined && value !== ''));
}
