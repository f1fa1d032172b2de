/**
 * The cache key: a SHA-256 over everything that determines the minted token, so two requests
 * share a token only when they would have been granted exactly the same one.
 *
 *  - issuer + subject: tokens are never shared across principals;
 *  - rule id + policy version (content hash): a policy change never serves a token minted
 *    under the old policy;
 *  - target service account, sorted scopes, delegates, lifetime: the token's power and life
 *    (a caller asking for 10 minutes never receives a 60-minute token);
 *  - access boundary: a downscoped token is a different token;
 *  - ID token audience: an ID token for one service is no use to another.
 * The hash is the Firestore document id; the inputs themselves are never stored.
 */
import { canonicalJson } from '../canonical-json';
import { createHash } from 'node:crypto';

export interface CacheKeyParts {
  readonly issuer: string;
  readonly subject: string;
  readonly ruleId: string;
  readonly policyVersion: string;
  readonly serviceAccount: string;
  readonly scopes: readonly string[];
  readonly delegates: readonly string[];
  readonly lifetimeSeconds: number;
  readonly accessBoundary?: unknown;
  /** The audience of an ID token (absent for access tokens). */
  readonly idTokenAudience?: string;
}

const KEY_VERSION = 'token-broker/cache-key/v1';

export function cacheKey(parts: CacheKeyParts): string {
  const material = canonicalJson({
    v: KEY_VERSION,
    issuer: parts.issuer,
    subject: parts.subject,
    ruleId: parts.ruleId,
    policyVersion: parts.policyVersion,
    serviceAccount: parts.serviceAccount,
    scopes: [...new Set(parts.scopes)].sort(),
    delegates: [...parts.delegates],
    lifetimeSeconds: parts.lifetimeSeconds,
    accessBoundary: parts.accessBoundary ?? null,
    idTokenAudience: parts.idTokenAudience ?? null,
  });
  return createHash('sha256').update(material).digest('hex');
}

/** A hash of the principal alone, stored with a cache entry so operators can find a caller's entries. */
export function principalHash(issuer: string, subject: string): string {
  return createHash('sha256').update(canonicalJson({ v: KEY_VERSION, issuer, subject })).digest('hex');
}

/**
 * `cacheKey`, remembered per principal object: a subject token remembered as verified yields the
 * same principal object on every request, and a cache hit would otherwise build the canonical
 * JSON and hash it again each time. The remembered value is looked up by every other part of the
 * key, written out with separators no part can contain (NUL; scopes and delegates never hold
 * spaces); keys with an access boundary (an object) are not remembered. At most
 * `maxPerPrincipal` keys are kept per principal; the map goes with the principal object.
 */
export function createCacheKeyMemo(maxPerPrincipal = 16) {
  const byPrincipal = new WeakMap<object, Map<string, string>>();
  return (principal: object, parts: CacheKeyParts): string => {
    if (parts.accessBoundary !== undefined) return cacheKey(parts);
    const rest = [parts.ruleId, parts.policyVersion, parts.serviceAccount, parts.scopes.join(' '), parts.delegates.join(' '), String(parts.lifetimeSeconds), parts.idTokenAudience ?? '', parts.issuer, parts.subject].join('\u0000');
    let keys = byPrincipal.get(principal);
    const known = keys?.get(rest);
    if (known !== undefined) return known;
    const key = cacheKey(parts);
    if (!keys || keys.size >= maxPerPrincipal) byPrincipal.set(principal, (keys = new Map()));
    keys.set(rest, key);
    return key;
  };
}
