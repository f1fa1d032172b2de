import { cacheKey, createCacheKeyMemo, type CacheKeyParts } from '../../shared/cache/cache-key';

const base: CacheKeyParts = {
  issuer: 'https://issuer.example', subject: 'repo:acme/app', ruleId: 'ci', policyVersion: 'v1',
  serviceAccount: 'sa@p.iam.gserviceaccount.com', scopes: ['https://www.googleapis.com/auth/cloud-platform'], delegates: [], lifetimeSeconds: 900,
};

describe('createCacheKeyMemo: cacheKey remembered per principal', () => {
  it('answers exactly what cacheKey answers, for every part that changes the key', () => {
    const memo = createCacheKeyMemo();
    const principal = {};
    const variants: CacheKeyParts[] = [
      base,
      { ...base, ruleId: 'other' },
      { ...base, policyVersion: 'v2' },
      { ...base, serviceAccount: 'other@p.iam.gserviceaccount.com' },
      { ...base, scopes: ['a', 'b'] },
      { ...base, scopes: ['a b'.split(' ')[0]!] },
      { ...base, delegates: ['d@p.iam.gserviceaccount.com'] },
      { ...base, lifetimeSeconds: 300 },
      { ...base, idTokenAudience: 'https://service.example' },
      { ...base, subject: 'repo:acme/other' },
      { ...base, issuer: 'https://other.example' },
    ];
    const keys = variants.map((parts) => memo(principal, parts));
    expect(keys).toEqual(variants.map((parts) => cacheKey(parts)));
    expect(new Set(keys).size).toBe(new Set(variants.map((p) => cacheKey(p))).size);
    // asked again, from memory: the same answers
    expect(variants.map((parts) => memo(principal, parts))).toEqual(keys);
  });

  it('gives another principal object with the same parts the same key (the memo is an optimisation only)', () => {
    const memo = createCacheKeyMemo();
    const first = memo({}, base);
    expect(memo({}, base)).toBe(first);
    expect(first).toBe(cacheKey(base));
  });

  it('does not remember keys with an access boundary, and keeps at most maxPerPrincipal keys', () => {
    const memo = createCacheKeyMemo(2);
    const principal = {};
    const withBoundary = { ...base, accessBoundary: { accessBoundaryRules: [{ availableResource: 'r', availablePermissions: ['inRole:roles/x'] }] } };
    expect(memo(principal, withBoundary)).toBe(cacheKey(withBoundary));
    const parts = [1, 2, 3].map((n) => ({ ...base, lifetimeSeconds: n * 100 }));
    for (const p of parts) expect(memo(principal, p)).toBe(cacheKey(p));
    for (const p of parts) expect(memo(principal, p)).toBe(cacheKey(p));
  });
});
