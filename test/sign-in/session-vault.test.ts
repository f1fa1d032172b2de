/**
 * The memory session vault and the memory login-attempt store, on an injected clock: what a
 * session holds, compare-and-set updates, expiry, the operators' list and revoke, the bound,
 * and single-use login attempts. The Firestore implementations are tested against the
 * emulator in session-vault.int.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createMemorySessionVault, sessionHandle, VaultConflict, type SessionRecord } from '../../shared/sign-in/session-vault';
import { createMemoryLoginAttemptStore, type LoginAttempt } from '../../shared/sign-in/login-attempts';

const T0 = 1_700_000_000_000;
const newId = () => randomBytes(32).toString('base64url');

function session(overrides: Partial<Omit<SessionRecord, 'generation'>> = {}): Omit<SessionRecord, 'generation'> {
  return {
    appId: 'app-a',
    issuer: 'https://accounts.google.com',
    subject: 'user-1',
    email: 'user@example.com',
    scopes: ['openid', 'email'],
    createdAtMs: T0,
    expiresAtMs: T0 + 3_600_000,
    refreshToken: 'rt-1',
    refreshExpiresAtMs: T0 + 7_200_000,
    accessToken: { token: 'at-1', expiresAtMs: T0 + 600_000, scope: 'openid email' },
    ...overrides,
  };
}

describe('sessionHandle', () => {
  it('is the SHA-256 hex of the session id', () => {
    const id = newId();
    expect(sessionHandle(id)).toBe(createHash('sha256').update(id).digest('hex'));
    expect(sessionHandle(id)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('memory session vault', () => {
  let now: number;
  const clock = () => now;
  beforeEach(() => {
    now = T0;
  });

  it('stores a session at generation 0 and reads it back; an unknown id reads as absent', async () => {
    const vault = createMemorySessionVault({ now: clock });
    const id = newId();
    await vault.create(id, session());
    expect(await vault.read(id)).toEqual({ ...session(), generation: 0 });
    expect(await vault.read(newId())).toBeUndefined();
  });

  it('keeps its own copy: changing the caller\'s record or the returned one changes nothing stored', async () => {
    const vault = createMemorySessionVault({ now: clock });
    const id = newId();
    const scopes = ['openid'];
    await vault.create(id, session({ scopes }));
    scopes.push('admin');
    const read = await vault.read(id);
    expect(read?.scopes).toEqual(['openid']);
    expect(Object.isFrozen(read)).toBe(true);
    expect(() => (read!.scopes as string[]).push('admin')).toThrow(TypeError);
  });

  it('refuses a second create under the same id (VaultConflict), keeping the first', async () => {
    const vault = createMemorySessionVault({ now: clock });
    const id = newId();
    await vault.create(id, session());
    await expect(vault.create(id, session({ subject: 'intruder' }))).rejects.toBeInstanceOf(VaultConflict);
    expect((await vault.read(id))?.subject).toBe('user-1');
  });

  it.each([0, 1, -1, true, false, null, [], [randomBytes(32).toString('base64url')], '', '__proto__', 'short', 'x'.repeat(42), `${'a'.repeat(42)}=`, 'é'.repeat(43)])(
    'refuses to create under a malformed session id %p, and reads it as absent',
    async (bad) => {
      const vault = createMemorySessionVault({ now: clock });
      await expect(vault.create(bad as string, session())).rejects.toBeInstanceOf(TypeError);
      expect(await vault.read(bad as string)).toBeUndefined();
      expect(await vault.update(bad as string, 0, {})).toBe(false);
    },
  );

  it.each<[string, Partial<Omit<SessionRecord, 'generation'>>]>([
    ['no subject', { subject: '' }],
    ['no app', { appId: undefined as unknown as string }],
    ['scopes not strings', { scopes: [1] as unknown as string[] }],
    ['ends before it starts', { expiresAtMs: T0 }],
    ['fractional milliseconds', { createdAtMs: T0 + 0.5 }],
    ['empty refresh token', { refreshToken: '' }],
    ['access token without expiry', { accessToken: { token: 't', scope: '' } as unknown as SessionRecord['accessToken'] }],
  ])('refuses a malformed record: %s', async (_name, overrides) => {
    const vault = createMemorySessionVault({ now: clock });
    await expect(vault.create(newId(), session(overrides))).rejects.toBeInstanceOf(TypeError);
  });

  it('updates by compare-and-set on generation: the stale generation loses, the winner bumps it', async () => {
    const vault = createMemorySessionVault({ now: clock });
    const id = newId();
    await vault.create(id, session());
    now += 1000;
    const access = { token: 'at-2', expiresAtMs: now + 600_000, scope: 'openid' };
    expect(await vault.update(id, 0, { refreshToken: 'rt-2', accessToken: access })).toBe(true);
    expect(await vault.update(id, 0, { refreshToken: 'rt-stale' })).toBe(false);
    const read = await vault.read(id);
    expect(read).toEqual({ ...session(), refreshToken: 'rt-2', accessToken: access, generation: 1 });
    expect(await vault.update(id, 1, { accessToken: undefined })).toBe(true);
    const cleared = await vault.read(id);
    expect(cleared?.generation).toBe(2);
    expect(cleared).not.toHaveProperty('accessToken');
    expect(cleared?.refreshToken).toBe('rt-2'); // absent from changes: kept
    expect((await vault.list({ subject: 'user-1' }))[0]?.lastRefreshAtMs).toBe(T0 + 1000);
    expect(await vault.update(newId(), 0, { refreshToken: 'x' })).toBe(false);
    await expect(vault.update(id, -1, {})).rejects.toBeInstanceOf(TypeError);
  });

  it('treats a session past expiresAtMs as absent (read, update, list), to the millisecond', async () => {
    const vault = createMemorySessionVault({ now: clock });
    const id = newId();
    await vault.create(id, session());
    now = T0 + 3_600_000 - 1;
    expect(await vault.read(id)).toBeDefined();
    expect(await vault.list({ subject: 'user-1' })).toHaveLength(1);
    now += 1;
    expect(await vault.read(id)).toBeUndefined();
    expect(await vault.update(id, 0, { refreshToken: 'rt-2' })).toBe(false);
    expect(await vault.list({ subject: 'user-1' })).toEqual([]);
  });

  it('deletes one session (logout), and deleting again or an unknown id is harmless', async () => {
    const vault = createMemorySessionVault({ now: clock });
    const [a, b] = [newId(), newId()];
    await vault.create(a, session());
    await vault.create(b, session());
    await vault.delete(a);
    await vault.delete(a);
    await vault.delete('not-a-session');
    expect(await vault.read(a)).toBeUndefined();
    expect(await vault.read(b)).toBeDefined();
  });

  it('lists summaries by subject, app and handle, without tokens, up to a limit', async () => {
    const vault = createMemorySessionVault({ now: clock });
    const [a, b, c] = [newId(), newId(), newId()];
    await vault.create(a, session());
    await vault.create(b, session({ appId: 'app-b', email: undefined }));
    await vault.create(c, session({ subject: 'user-2' }));

    const bySubject = await vault.list({ subject: 'user-1' });
    expect(bySubject.map((s) => s.handle).sort()).toEqual([sessionHandle(a), sessionHandle(b)].sort());
    expect(bySubject.find((s) => s.handle === sessionHandle(a))).toEqual({
      handle: sessionHandle(a), appId: 'app-a', issuer: 'https://accounts.google.com', subject: 'user-1', email: 'user@example.com',
      scopes: ['openid', 'email'], createdAtMs: T0, expiresAtMs: T0 + 3_600_000,
    });
    expect(JSON.stringify(bySubject)).not.toMatch(/rt-1|at-1/);
    expect((await vault.list({ subject: 'user-1', appId: 'app-b' })).map((s) => s.handle)).toEqual([sessionHandle(b)]);
    expect((await vault.list({ appId: 'app-a' })).map((s) => s.handle).sort()).toEqual([sessionHandle(a), sessionHandle(c)].sort());
    expect((await vault.list({ handle: sessionHandle(c) })).map((s) => s.subject)).toEqual(['user-2']);
    expect(await vault.list({ handle: sessionHandle(c), subject: 'user-1' })).toEqual([]);
    expect(await vault.list({ subject: 'user-1' }, 1)).toHaveLength(1);
    await expect(vault.list({})).rejects.toBeInstanceOf(TypeError);
    await expect(vault.list({ subject: 'user-1' }, 0)).rejects.toBeInstanceOf(TypeError);
  });

  it('revokes by handle or by subject (optionally of one app), returning the refresh tokens', async () => {
    const vault = createMemorySessionVault({ now: clock });
    const [a, b, c, d] = [newId(), newId(), newId(), newId()];
    await vault.create(a, session({ refreshToken: 'rt-a' }));
    await vault.create(b, session({ appId: 'app-b', refreshToken: 'rt-b' }));
    await vault.create(c, session({ subject: 'user-2', refreshToken: 'rt-c' }));
    await vault.create(d, session({ subject: 'user-2', refreshToken: undefined }));

    const one = await vault.revoke({ handle: sessionHandle(c) });
    expect(one).toEqual([expect.objectContaining({ handle: sessionHandle(c), subject: 'user-2', refreshToken: 'rt-c' })]);
    expect(await vault.read(c)).toBeUndefined();
    expect(await vault.read(d)).toBeDefined();

    const ofApp = await vault.revoke({ subject: 'user-1', appId: 'app-b' });
    expect(ofApp.map((s) => s.refreshToken)).toEqual(['rt-b']);
    expect(await vault.read(a)).toBeDefined();

    now = T0 + 3_600_000; // expired sessions are revoked too: their refresh tokens may still be valid upstream
    const all = await vault.revoke({ subject: 'user-1' });
    expect(all.map((s) => s.refreshToken)).toEqual(['rt-a']);
    const noToken = await vault.revoke({ subject: 'user-2' });
    expect(noToken).toHaveLength(1);
    expect(noToken[0]).not.toHaveProperty('refreshToken');
    expect(await vault.revoke({ subject: 'user-1' })).toEqual([]);
    await expect(vault.revoke({ appId: 'app-a' })).rejects.toBeInstanceOf(TypeError);
  });

  it('is bounded: past maxEntries the least recently used session is forgotten', async () => {
    const vault = createMemorySessionVault({ now: clock, maxEntries: 2 });
    const [a, b, c] = [newId(), newId(), newId()];
    await vault.create(a, session());
    await vault.create(b, session());
    expect(await vault.read(a)).toBeDefined(); // a is now more recent than b
    await vault.create(c, session());
    expect(await vault.read(b)).toBeUndefined();
    expect(await vault.read(a)).toBeDefined();
    expect(await vault.read(c)).toBeDefined();
    expect(() => createMemorySessionVault({ maxEntries: 0 })).toThrow(TypeError);
  });
});

describe('memory login attempts', () => {
  const attempt = (overrides: Partial<LoginAttempt> = {}): LoginAttempt => ({
    appId: 'app-a', state: 'st', nonce: 'nn', codeVerifier: 'cv'.repeat(22), returnTo: '/home', createdAtMs: T0, expiresAtMs: T0 + 600_000, ...overrides,
  });

  it('gives an attempt once: the second take finds nothing', async () => {
    const store = createMemoryLoginAttemptStore({ now: () => T0 });
    const id = newId();
    await store.put(id, attempt());
    expect(await store.take(id)).toEqual(attempt());
    expect(await store.take(id)).toBeUndefined();
    expect(await store.take(newId())).toBeUndefined();
  });

  it('gives nothing for an expired attempt, and consumes it', async () => {
    let now = T0;
    const store = createMemoryLoginAttemptStore({ now: () => now });
    const [id, other] = [newId(), newId()];
    await store.put(id, attempt());
    await store.put(other, attempt());
    now = T0 + 600_000 - 1;
    expect(await store.take(other)).toBeDefined();
    now = T0 + 600_000;
    expect(await store.take(id)).toBeUndefined();
    now = T0; // even were the clock to go back, it is gone
    expect(await store.take(id)).toBeUndefined();
  });

  it('refuses a reused id and malformed attempts', async () => {
    const store = createMemoryLoginAttemptStore();
    const id = newId();
    await store.put(id, attempt({ expiresAtMs: Date.now() + 60_000 }));
    await expect(store.put(id, attempt())).rejects.toBeInstanceOf(VaultConflict);
    await expect(store.put('short', attempt())).rejects.toBeInstanceOf(TypeError);
    await expect(store.put(newId(), attempt({ codeVerifier: '' }))).rejects.toBeInstanceOf(TypeError);
    await expect(store.put(newId(), attempt({ expiresAtMs: T0 - 1 }))).rejects.toBeInstanceOf(TypeError);
    expect((await store.take(id))?.codeVerifier).toBe('cv'.repeat(22));
  });
});
