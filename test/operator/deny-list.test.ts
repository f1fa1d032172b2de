/**
 * The deny-list's matching and expiry, on the in-memory list with a frozen clock; the purge
 * targets an entry derives; the selectors it refuses.
 */
import { principalHash } from '../../shared/cache/cache-key';
import { TokenCache } from '../../shared/cache/token-cache';
import type { CachedToken } from '../../shared/cache/token-timing';
import type { DenyFacts } from '../../shared/operator/deny-facts';
import { checkSelector, denyEntryId, DenyEntryError, type DenySelector } from '../../shared/operator/deny-entry';
import { createMemoryDenyList, type DenyChange } from '../../shared/operator/deny-list';
import { purgeFilterOf } from '../../shared/operator/deny-purge';

const T0 = Date.parse('2026-12-01T00:00:00Z');
let clock = T0;
const now = () => clock;
beforeEach(() => {
  clock = T0;
});

const FACTS: DenyFacts = {
  issuer: 'https://token.actions.githubusercontent.com',
  subject: 'repo:acme/app:ref:refs/heads/main',
  claims: { sub: 'repo:acme/app:ref:refs/heads/main', repository: 'acme/app', repository_id: 123, teams: ['a', 'b'], nested: { repository: 'acme/evil' } },
  clientId: 'ci-runner',
  apiKeyId: 'key-1',
  ruleId: 'deploy-main',
  serviceAccount: 'deployer@acme.iam.gserviceaccount.com',
  policyVersion: 'a'.repeat(64),
};

describe('each kind matches its fact, and only it', () => {
  const cases: Array<[string, DenySelector, boolean]> = [
    ['subject', { kind: 'subject', issuer: FACTS.issuer, subject: FACTS.subject }, true],
    ['subject of another issuer', { kind: 'subject', issuer: 'https://other.example', subject: FACTS.subject }, false],
    ['claim', { kind: 'claim', claim: 'repository', value: 'acme/app' }, true],
    ['claim, other case', { kind: 'claim', claim: 'repository', value: 'ACME/app' }, false],
    ['claim, a number is not a string', { kind: 'claim', claim: 'repository_id', value: '123' }, false],
    ['claim, an array is not looked into', { kind: 'claim', claim: 'teams', value: 'a' }, false],
    ['claim, nested claims are not looked into', { kind: 'claim', claim: 'repository', value: 'acme/evil' }, false],
    ['claim, inherited properties are not claims', { kind: 'claim', claim: 'constructor', value: 'x' }, false],
    ['client', { kind: 'client', value: 'ci-runner' }, true],
    ['api key', { kind: 'api_key', value: 'key-1' }, true],
    ['rule', { kind: 'rule', value: 'deploy-main' }, true],
    ['service account', { kind: 'service_account', value: 'deployer@acme.iam.gserviceaccount.com' }, true],
    ['policy version', { kind: 'policy_version', value: 'a'.repeat(64) }, true],
    ['other policy version', { kind: 'policy_version', value: 'b'.repeat(64) }, false],
    ['a value of another kind', { kind: 'client', value: 'deploy-main' }, false],
  ];
  it.each(cases)('%s', (_name, selector, matches) => {
    const list = createMemoryDenyList({ now });
    const entry = list.add({ ...selector, reason: 'incident 42' });
    expect(list.match(FACTS)).toEqual(matches ? { id: entry.id, reason: 'incident 42' } : undefined);
  });

  it('a request without a client or API key never matches client or api_key entries', () => {
    const list = createMemoryDenyList({ now });
    list.add({ kind: 'client', value: 'ci-runner', reason: 'r' });
    list.add({ kind: 'api_key', value: 'key-1', reason: 'r' });
    expect(list.match({ ...FACTS, clientId: undefined, apiKeyId: undefined })).toBeUndefined();
  });
});

describe('expiry', () => {
  it('an entry refuses until its expiry, then no longer', () => {
    const list = createMemoryDenyList({ now });
    list.add({ kind: 'rule', value: 'deploy-main', reason: 'r', expiresAtMs: T0 + 60_000 });
    expect(list.match(FACTS)).toBeDefined();
    clock = T0 + 59_999;
    expect(list.match(FACTS)).toBeDefined();
    clock = T0 + 60_000;
    expect(list.match(FACTS)).toBeUndefined();
    expect(list.entries()).toHaveLength(1); // expired entries stay listed until removed
  });

  it('an expired entry does not hide a live one of another kind', () => {
    const list = createMemoryDenyList({ now });
    list.add({ kind: 'subject', issuer: FACTS.issuer, subject: FACTS.subject, reason: 'old', expiresAtMs: T0 + 1000 });
    const live = list.add({ kind: 'claim', claim: 'repository', value: 'acme/app', reason: 'new' });
    clock = T0 + 5000;
    expect(list.match(FACTS)).toEqual({ id: live.id, reason: 'new' });
  });

  it('refuses an expiry not after creation', () => {
    const list = createMemoryDenyList({ now });
    expect(() => list.add({ kind: 'rule', value: 'x', reason: 'r', expiresAtMs: T0 })).toThrow(DenyEntryError);
  });
});

describe('entries', () => {
  it('the same selector replaces its entry (one id per selector)', () => {
    const list = createMemoryDenyList({ now });
    const first = list.add({ kind: 'client', value: 'ci-runner', reason: 'first' });
    const second = list.add({ kind: 'client', value: 'ci-runner', reason: 'second' });
    expect(second.id).toBe(first.id);
    expect(list.entries()).toHaveLength(1);
    expect(list.match(FACTS)?.reason).toBe('second');
    expect(denyEntryId({ kind: 'client', value: 'ci-runner' })).toMatch(/^[0-9a-f]{32}$/);
    expect(denyEntryId({ kind: 'rule', value: 'ci-runner' })).not.toBe(first.id);
  });

  it('remove ends the refusal', () => {
    const list = createMemoryDenyList({ now });
    const entry = list.add({ kind: 'rule', value: 'deploy-main', reason: 'r' });
    expect(list.remove(entry.id)).toBe(true);
    expect(list.remove(entry.id)).toBe(false);
    expect(list.match(FACTS)).toBeUndefined();
  });

  it('onChange hears of additions and removals', () => {
    const changes: DenyChange[] = [];
    const list = createMemoryDenyList({ now, onChange: (change) => changes.push(change) });
    const entry = list.add({ kind: 'rule', value: 'deploy-main', reason: 'r' });
    list.remove(entry.id);
    expect(changes).toEqual([{ added: [entry], removed: [] }, { added: [], removed: [entry] }]);
  });

  it('is bounded', () => {
    const list = createMemoryDenyList({ now, maxEntries: 2 });
    list.add({ kind: 'rule', value: 'a', reason: 'r' });
    list.add({ kind: 'rule', value: 'b', reason: 'r' });
    expect(() => list.add({ kind: 'rule', value: 'c', reason: 'r' })).toThrow(RangeError);
    expect(() => list.add({ kind: 'rule', value: 'a', reason: 'replaced' })).not.toThrow();
  });

  const hostile: unknown[] = [0, 1, -1, true, false, null, [], '', '\u0000', 'a\nb', 'x'.repeat(513), {}];
  it.each(hostile.map((value) => [JSON.stringify(value)?.slice(0, 20) ?? String(value), value]))('refuses the field value %s', (_name, value) => {
    for (const selector of [
      { kind: 'rule', value }, { kind: 'subject', issuer: value, subject: 's' }, { kind: 'subject', issuer: 'i', subject: value }, { kind: 'claim', claim: value, value: 'v' },
    ]) {
      expect(() => checkSelector(selector as DenySelector)).toThrow(DenyEntryError);
    }
    const list = createMemoryDenyList({ now });
    expect(() => list.add({ kind: 'rule', value: 'r', reason: value as string })).toThrow(DenyEntryError);
  });

  it.each(['__proto__', 'subjects', 'SUBJECT', '', 'claims'])('refuses the kind %s', (kind) => {
    expect(() => checkSelector({ kind, value: 'v' } as unknown as DenySelector)).toThrow(expect.objectContaining({ field: 'kind' }));
  });
});

describe('purge targets', () => {
  it('subject, rule and policy version map to cache metadata; the other kinds do not', () => {
    expect(purgeFilterOf({ kind: 'subject', issuer: 'i', subject: 's' })).toEqual({ principalHash: principalHash('i', 's') });
    expect(purgeFilterOf({ kind: 'rule', value: 'r' })).toEqual({ ruleId: 'r' });
    expect(purgeFilterOf({ kind: 'policy_version', value: 'v' })).toEqual({ policyVersion: 'v' });
    for (const kind of ['client', 'api_key', 'service_account'] as const) expect(purgeFilterOf({ kind, value: 'x' })).toBeUndefined();
    expect(purgeFilterOf({ kind: 'claim', claim: 'c', value: 'x' })).toBeUndefined();
  });

  it('TokenCache.purge drops the matching memory entries only, and needs a filter', async () => {
    const cache = new TokenCache({ instanceId: 'i', maxMemoryEntries: 10, minRemainingMs: 60_000, leaseMs: 1000, leaseWaitMs: 100, leasePollMs: 10, storeBackoffMs: 1000, now });
    let mints = 0;
    const mint = async (): Promise<CachedToken> => ({ accessToken: `t${++mints}`, mintedAtMs: now(), expiresAtMs: now() + 3600_000 });
    const alice = { principalHash: principalHash('i', 'alice'), ruleId: 'r1', policyVersion: 'v1' };
    const bob = { principalHash: principalHash('i', 'bob'), ruleId: 'r2', policyVersion: 'v1' };
    await cache.obtain('k-alice', alice, mint);
    await cache.obtain('k-bob', bob, mint);
    expect(await cache.purge({ principalHash: alice.principalHash })).toEqual({ memory: 1 });
    expect((await cache.obtain('k-alice', alice, mint)).outcome).toBe('miss');
    expect((await cache.obtain('k-bob', bob, mint)).outcome).toBe('hit');
    expect(await cache.purge({ ruleId: 'r2', policyVersion: 'v2' })).toEqual({ memory: 0 });
    expect(await cache.purge({ policyVersion: 'v1' })).toEqual({ memory: 2 });
    await expect(cache.purge({})).rejects.toThrow(TypeError);
  });
});
