/**
 * Which cached tokens a deny entry makes unservable, in the cache's own metadata
 * (EntryMetadata: principalHash, ruleId, policyVersion):
 *   subject          → principalHash(issuer, subject)
 *   rule             → ruleId
 *   policy_version   → policyVersion
 * Claims, clients, API keys and service accounts are not recorded with cache entries: nothing
 * is purged for them. Their requests are refused all the same, cached or not, because the
 * deny check runs before the cache.
 */
import { principalHash } from '../cache/cache-key';
import type { PurgeFilter } from '../cache/token-store';
import type { DenySelector } from './deny-entry';

export function purgeFilterOf(selector: DenySelector): PurgeFilter | undefined {
  switch (selector.kind) {
    case 'subject': return { principalHash: principalHash(selector.issuer, selector.subject) };
    case 'rule': return { ruleId: selector.value };
    case 'policy_version': return { policyVersion: selector.value };
    default: return undefined;
  }
}
