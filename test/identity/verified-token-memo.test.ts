/** The verified-token memo: never accepts where a fresh verification would refuse on time, forgets on key changes, bounded. */
import { VerifiedTokenMemo } from '../../shared/identity/verified-token-memo';
import type { Principal } from '../../shared/identity/principal';
import type { TrustedIssuer } from '../../shared/identity/trusted-issuer';

const T0 = 1_800_000_000_000;
let generation = 0;
const issuer = { maxTokenAgeSeconds: 3600, keyGeneration: () => generation } as unknown as TrustedIssuer;
const principal = (iat: number, exp: number): Principal => ({
  kind: 'oidc', issuer: 'https://issuer.example', subject: 's', claims: Object.freeze({ iat, exp }), credentialSha256: 'x', expiresAt: exp,
});

beforeEach(() => {
  generation = 0;
});

it('serves a remembered principal until the short maximum (60 s), then forgets it', () => {
  const memo = new VerifiedTokenMemo();
  const p = principal(T0 / 1000, T0 / 1000 + 3600);
  memo.remember('h', p, issuer, T0);
  expect(memo.get('h', T0 + 59_999)).toBe(p);
  expect(memo.get('h', T0 + 60_000)).toBeUndefined();
  expect(memo.get('other', T0)).toBeUndefined();
});

it("never past the token's exp, nor past iat + the issuer's maximum token age", () => {
  const memo = new VerifiedTokenMemo();
  memo.remember('exp', principal(T0 / 1000 - 10, T0 / 1000 + 5), issuer, T0);
  expect(memo.get('exp', T0 + 4_999)).toBeDefined();
  expect(memo.get('exp', T0 + 5_000)).toBeUndefined();
  memo.remember('age', principal(T0 / 1000 - 3590, T0 / 1000 + 3600), issuer, T0);
  expect(memo.get('age', T0 + 9_999)).toBeDefined();
  expect(memo.get('age', T0 + 10_000)).toBeUndefined();
  memo.remember('expired', principal(T0 / 1000 - 100, T0 / 1000 - 1), issuer, T0);
  expect(memo.get('expired', T0)).toBeUndefined();
});

it("forgets everything of an issuer whose keys changed", () => {
  const memo = new VerifiedTokenMemo();
  memo.remember('h', principal(T0 / 1000, T0 / 1000 + 3600), issuer, T0);
  expect(memo.get('h', T0 + 1)).toBeDefined();
  generation += 1;
  expect(memo.get('h', T0 + 2)).toBeUndefined();
});

it('is bounded: the least recently used goes first', () => {
  const memo = new VerifiedTokenMemo({ maxEntries: 2 });
  for (const h of ['a', 'b']) memo.remember(h, principal(T0 / 1000, T0 / 1000 + 3600), issuer, T0);
  memo.get('a', T0);
  memo.remember('c', principal(T0 / 1000, T0 / 1000 + 3600), issuer, T0);
  expect([memo.get('a', T0), memo.get('b', T0), memo.get('c', T0)].map(Boolean)).toEqual([true, false, true]);
});
