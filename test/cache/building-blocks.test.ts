/** The cache's small parts: the memory (L1) bound, singleflight sharing, cache key separation, envelope encryption. */
import { randomBytes } from 'node:crypto';
import { cacheKey, type CacheKeyParts } from '../../shared/cache/cache-key';
import { DecryptError, EnvelopeCipher } from '../../shared/cache/envelope';
import { localKeyWrapper } from '../../shared/cache/key-wrapper';
import { SingleFlight } from '../../shared/cache/singleflight';
import { TokenCache } from '../../shared/cache/token-cache';

describe('the memory (L1) cache', () => {
  it('forgets the least recently used token beyond its bound', async () => {
    const now = 1_000_000;
    const cache = new TokenCache({
      instanceId: 'i', maxMemoryEntries: 2, minRemainingMs: 0, leaseMs: 1, leaseWaitMs: 1, leasePollMs: 1, storeBackoffMs: 1, now: () => now,
    });
    const minted: string[] = [];
    const obtain = async (key: string) => (await cache.obtain(key, { principalHash: 'p', ruleId: 'r', policyVersion: 'v' }, async () => {
      minted.push(key);
      return { accessToken: `token-${key}`, mintedAtMs: now, expiresAtMs: now + 3600_000 };
    })).outcome;
    expect([await obtain('a'), await obtain('b'), await obtain('a'), await obtain('c')]).toEqual(['miss', 'miss', 'hit', 'miss']);
    // 'b' was the least recently used when 'c' came in.
    expect([await obtain('a'), await obtain('c'), await obtain('b')]).toEqual(['hit', 'hit', 'miss']);
    expect(minted).toEqual(['a', 'b', 'c', 'b']);
  });
});

describe('SingleFlight', () => {
  it('runs one execution for concurrent callers and shares its error too', async () => {
    const flight = new SingleFlight<number>();
    let runs = 0;
    const work = async () => { runs++; await new Promise((r) => setTimeout(r, 10)); return 7; };
    expect(await Promise.all(Array.from({ length: 50 }, () => flight.run('k', work)))).toEqual(Array(50).fill(7));
    expect(runs).toBe(1);
    const failing = Array.from({ length: 5 }, () => flight.run('k', async () => { runs++; throw new Error('boom'); }));
    for (const p of failing) await expect(p).rejects.toThrow('boom');
    expect(runs).toBe(2);
    expect(flight.has('k')).toBe(false);
  });
});

describe('cacheKey', () => {
  const base: CacheKeyParts = {
    issuer: 'https://issuer', subject: 'alice', ruleId: 'r', policyVersion: 'v1', serviceAccount: 'sa@p.iam.gserviceaccount.com',
    scopes: ['b', 'a'], delegates: [], lifetimeSeconds: 900,
  };
  it('ignores scope order and duplicates', () => {
    expect(cacheKey({ ...base, scopes: ['a', 'b', 'a'] })).toBe(cacheKey(base));
  });
  it.each<[string, Partial<CacheKeyParts>]>([
    ['issuer', { issuer: 'https://other' }], ['subject', { subject: 'bob' }], ['rule', { ruleId: 'r2' }],
    ['policy version', { policyVersion: 'v2' }], ['service account', { serviceAccount: 'x@p.iam.gserviceaccount.com' }],
    ['scopes', { scopes: ['a'] }], ['delegates', { delegates: ['d@p.iam.gserviceaccount.com'] }], ['lifetime', { lifetimeSeconds: 600 }],
    ['access boundary', { accessBoundary: { rules: [] } }],
    ['issuer/subject boundary', { issuer: 'https://issuera', subject: 'lice' }],
  ])('changes with the %s', (_name, change) => {
    expect(cacheKey({ ...base, ...change })).not.toBe(cacheKey(base));
  });
});

describe('EnvelopeCipher', () => {
  const cipher = () => new EnvelopeCipher(localKeyWrapper(randomBytes(32)));

  it('round-trips and never contains the plaintext', async () => {
    const c = cipher();
    const sealed = await c.seal(Buffer.from('ya29.secret-token'), 'key-1');
    expect(sealed.ciphertext.includes(Buffer.from('ya29'))).toBe(false);
    expect((await c.open(sealed, 'key-1')).toString()).toBe('ya29.secret-token');
  });

  it('refuses a value moved to another cache key (AAD binding)', async () => {
    const c = cipher();
    const sealed = await c.seal(Buffer.from('t'), 'key-1');
    await expect(c.open(sealed, 'key-2')).rejects.toBeInstanceOf(DecryptError);
  });

  it('refuses a tampered ciphertext, IV or wrapped key', async () => {
    const c = cipher();
    const sealed = await c.seal(Buffer.from('token'), 'k');
    const flip = (b: Buffer, i: number) => { const copy = Buffer.from(b); copy[i] = (copy[i] ?? 0) ^ 1; return copy; };
    await expect(c.open({ ...sealed, ciphertext: flip(sealed.ciphertext, 0) }, 'k')).rejects.toBeInstanceOf(DecryptError);
    await expect(c.open({ ...sealed, iv: flip(sealed.iv, 0) }, 'k')).rejects.toBeInstanceOf(DecryptError);
    await expect(c.open({ ...sealed, wrappedKey: flip(sealed.wrappedKey, 20) }, 'k')).rejects.toBeInstanceOf(DecryptError);
  });

  it('refuses values sealed under another key-encryption key', async () => {
    const sealed = await cipher().seal(Buffer.from('t'), 'k');
    await expect(cipher().open(sealed, 'k')).rejects.toBeInstanceOf(DecryptError);
  });

  it('wraps one data key per lifetime, not one per value', async () => {
    const wrapper = localKeyWrapper(randomBytes(32));
    let wraps = 0;
    let now = 0;
    const counting = { ...wrapper, wrap: (dek: Buffer) => { wraps++; return wrapper.wrap(dek); } };
    const c = new EnvelopeCipher(counting, { dekLifetimeMs: 1000, now: () => now });
    await Promise.all(Array.from({ length: 20 }, (_, i) => c.seal(Buffer.from(`t${i}`), 'k')));
    expect(wraps).toBe(1);
    now = 1500;
    const sealed = await c.seal(Buffer.from('later'), 'k');
    expect(wraps).toBe(2);
    expect((await c.open(sealed, 'k')).toString()).toBe('later');
  });
});
