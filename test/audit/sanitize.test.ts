/**
 * Caller-supplied values on their way into an audit entry: capped in length, encoded as JSON
 * when they are not strings, and picked only from a token's own listed claims, into a
 * prototype-free object.
 */
import { auditClaimValue, capString, pickAuditClaims } from '../../shared/audit/sanitize';
import { DEFAULTS } from '../../shared/config/defaults';
import { toClaims } from '../../shared/identity/claims';

const MAX = DEFAULTS.auditStringChars;

describe('capString', () => {
  it('keeps a string of up to the cap and ends a longer one in "…" at exactly the cap', () => {
    expect(capString('a'.repeat(MAX))).toBe('a'.repeat(MAX));
    expect(capString('a'.repeat(MAX + 1))).toBe(`${'a'.repeat(MAX - 1)}…`);
    expect(capString('a'.repeat(100 * MAX))).toHaveLength(MAX);
    expect(capString('abcdef', 4)).toBe('abc…');
    expect(capString('', 4)).toBe('');
  });
});

describe('auditClaimValue', () => {
  it.each([
    ['a string, as it is', 'acme/app', 'acme/app'],
    ['a string with a newline and quotes, as it is (the entry is JSON-encoded as a whole)', 'a"\nb', 'a"\nb'],
    ['a number', 42, '42'],
    ['a boolean', false, 'false'],
    ['null', null, 'null'],
    ['undefined', undefined, 'null'],
    ['an array', ['a', 1], '["a",1]'],
    ['an object', { org: 'acme', n: [1] }, '{"org":"acme","n":[1]}'],
  ])('encodes %s', (_, value, text) => {
    expect(auditClaimValue(value)).toBe(text);
  });

  it('caps every form', () => {
    expect(auditClaimValue('x'.repeat(10 * MAX))).toHaveLength(MAX);
    expect(auditClaimValue(Array(10 * MAX).fill(1))).toHaveLength(MAX);
    expect(auditClaimValue({ k: 'x'.repeat(10 * MAX) })).toMatch(/^\{"k":"x+…$/);
  });
});

describe('pickAuditClaims', () => {
  const claims = toClaims(JSON.parse(
    '{"iss":"https://i.example","sub":"s","aud":"a","iat":1900000000,"exp":1900000300,"repository":"acme/app","__proto__":{"polluted":true},"run":7}',
  )).claims;

  it('picks the listed claims the token has, and nothing else', () => {
    const picked = pickAuditClaims(claims, ['repository', 'run', 'missing']);
    expect({ ...picked }).toEqual({ repository: 'acme/app', run: '7' });
    expect(Object.getPrototypeOf(picked)).toBeNull();
  });

  it('never picks inherited names, and keeps a "__proto__" claim an ordinary key', () => {
    const fromPlainObject = pickAuditClaims({ repository: 'acme/app' }, ['toString', 'constructor', 'hasOwnProperty', 'repository']);
    expect(Object.keys(fromPlainObject)).toEqual(['repository']);
    const picked = pickAuditClaims(claims, ['__proto__']);
    expect(Object.keys(picked)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(picked)).toBeNull();
    expect(picked.__proto__).toBe('{"polluted":true}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it(`picks at most ${DEFAULTS.auditClaims} names, the first listed`, () => {
    const many = Object.fromEntries(Array.from({ length: 3 * DEFAULTS.auditClaims }, (_, i) => [`c${i}`, i]));
    const names = Object.keys(many);
    expect(Object.keys(pickAuditClaims(many, names))).toEqual(names.slice(0, DEFAULTS.auditClaims));
  });
});
