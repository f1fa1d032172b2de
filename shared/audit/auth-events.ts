/**
 * The audit entries other than the per-request one: what happened upstream, at issuers'
 * key endpoints, to the policy and inside the cache. Each is its own entry, with an `event`
 * name from this closed set.
 */
import type { CacheEvent } from '../cache/token-cache';
import { DEFAULTS } from '../config/defaults';
import type { KeySourceEvent } from '../identity/key-source';
import type { AuditSeverity } from './audit-log';
import type { AuditSink } from './audit-sink';
import { capString } from './sanitize';

export type AuthEvent =
  | { event: 'upstream_mint'; trigger: 'request' | 'refresh'; outcome: 'success' | 'failure'; serviceAccount: string; scopes: readonly string[]; lifetimeSeconds: number; latencyMs: number; attempts?: number; error?: string; tokenSha256?: string }
  | { event: 'upstream_circuit'; upstream: string; state: 'open' | 'half_open' | 'closed'; failures: number; openSeconds?: number }
  | { event: 'jwks_fetch_failed'; issuer: string; url: string; detail: string }
  | { event: 'jwks_keys_changed'; issuer: string; url: string; added: string[]; removed: string[] }
  | { event: 'jwks_key_rejected'; issuer: string; url: string; kid?: string; reason: string }
  | { event: 'jwks_key_unusual'; issuer: string; url: string; kid?: string; warning: string }
  | { event: 'policy_loaded'; source: string; policyVersion: string; rules: number; issuers: number }
  | { event: 'policy_load_failed'; detail: string }
  | { event: 'cache_decrypt_failed'; cacheKey: string; reason: string }
  | { event: 'cache_store_unavailable'; cacheKey: string; detail: string }
  | { event: 'cache_lease_timeout'; cacheKey: string }
  | { event: 'cache_refresh_failed'; cacheKey: string; detail: string }
  | { event: 'limits_store_unavailable'; detail: string }
  | { event: 'deny_list_changed'; added: string[]; removed: string[] }
  | { event: 'deny_cache_purged'; denyId: string; kind: string; memoryEntries: number; sharedEntries?: number; error?: string }
  | { event: 'deny_list_degraded'; detail: string }
  | { event: 'deny_list_truncated'; max: number }
  | { event: 'issued_token_unrecorded'; tokenSha256: string; detail: string }
  | { event: 'shadow_match' | 'shadow_refusal'; ruleId: string; outcome: string; detail?: string; principal: { issuer: string; subject: string }; wouldGrant: { serviceAccount: string; scopes: readonly string[] }; decidedBy: string | null; policyVersion: string };

export const AUTH_EVENT_NAMES = [
  'upstream_mint', 'upstream_circuit', 'jwks_fetch_failed', 'jwks_keys_changed', 'jwks_key_rejected', 'jwks_key_unusual', 'policy_loaded', 'policy_load_failed',
  'cache_decrypt_failed', 'cache_store_unavailable', 'cache_lease_timeout', 'cache_refresh_failed', 'limits_store_unavailable',
  'deny_list_changed', 'deny_cache_purged', 'deny_list_degraded', 'deny_list_truncated',
  'issued_token_unrecorded', 'shadow_match', 'shadow_refusal',
] as const;

function severityOf(event: AuthEvent): AuditSeverity {
  switch (event.event) {
    case 'upstream_mint': return event.outcome === 'success' ? 'INFO' : 'ERROR';
    case 'upstream_circuit': return event.state === 'open' ? 'ERROR' : 'NOTICE';
    case 'policy_loaded': return 'NOTICE';
    case 'deny_list_changed': return 'NOTICE';
    case 'deny_cache_purged': return event.error === undefined ? 'NOTICE' : 'WARNING';
    case 'deny_list_truncated': return 'ERROR';
    case 'jwks_keys_changed': case 'jwks_key_unusual': return 'NOTICE';
    case 'shadow_match': case 'shadow_refusal': return 'INFO';
    case 'jwks_key_rejected': return 'ERROR';
    case 'cache_lease_timeout': return 'NOTICE';
    case 'policy_load_failed': case 'cache_refresh_failed': return 'ERROR';
    default: return 'WARNING';
  }
}

export function recordAuthEvent(sink: AuditSink | undefined, event: AuthEvent): void {
  if (!sink) return;
  const payload: Record<string, unknown> = { ...event };
  for (const field of ['detail', 'error', 'reason', 'warning', 'kid'] as const) {
    if (typeof payload[field] === 'string') payload[field] = capString(payload[field] as string, DEFAULTS.auditDetailChars);
  }
  sink.write(severityOf(event), payload);
}

/** A key source's observation in audit vocabulary. */
export function keyAuthEvent(issuer: string, event: KeySourceEvent): AuthEvent {
  switch (event.type) {
    case 'fetch_failed': return { event: 'jwks_fetch_failed', issuer, url: event.url, detail: event.detail };
    case 'keys_changed': return { event: 'jwks_keys_changed', issuer, url: event.url, added: event.added, removed: event.removed };
    case 'key_rejected': return { event: 'jwks_key_rejected', issuer, url: event.url, kid: event.kid, reason: event.reason };
    case 'key_unusual': return { event: 'jwks_key_unusual', issuer, url: event.url, kid: event.kid, warning: event.warning };
  }
}

/** Cache events in audit vocabulary (refreshes are audited as upstream mints instead). */
export function cacheAuthEvent(event: CacheEvent): AuthEvent | undefined {
  switch (event.type) {
    case 'decrypt_failed': return { event: 'cache_decrypt_failed', cacheKey: event.key, reason: event.reason };
    case 'store_unavailable': return { event: 'cache_store_unavailable', cacheKey: event.key, detail: event.detail };
    case 'lease_timeout': return { event: 'cache_lease_timeout', cacheKey: event.key };
    case 'refresh_failed': return { event: 'cache_refresh_failed', cacheKey: event.key, detail: event.detail };
    case 'refreshed': return undefined;
  }
}
