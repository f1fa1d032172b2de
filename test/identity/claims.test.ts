/**
 * Claims as policy sees them: a verified payload copied into a frozen, prototype-free tree,
 * with the registered claims type-checked (jose checks only that `exp`, `iat` and `nbf` are
 * numbers). Every refusal is `invalid_grant` with a reason; a `"__proto__"` claim stays an
 * ordinary key.
 */
import { DEFAULTS } from '../../shared/config/defaults';
import { toClaims } from '../../shared/identity/claims';
import { refusal } from '../helpers/rejection';

const refusalOf = (payload: unknown) => refusal(() => toClaims(payload));

const NOW = 1_900_000_000;
const valid = (): Record<string, unknown> => ({
  iss: 'https://token.actions.githubusercontent.com',
  sub: 'repo:acme/app:ref:refs/heads/main',
  aud: 'https://broker.example.com',
  iat: NOW,
  exp: NOW + 300,
  repository: 'acme/app',
});


describe('the claim tree', () => {
  it('copies every claim, and returns the registered ones typed', () => {
    const { claims, registered } = toClaims({ ...valid(), nbf: NOW, jti: 'id-1', groups: ['a', 'b'], nested: { deep: [1, { x: null }] } });
    expect(JSON.parse(JSON.stringify(claims))).toEqual({ ...valid(), nbf: NOW, jti: 'id-1', groups: ['a', 'b'], nested: { deep: [1, { x: null }] } });
    expect(registered).toEqual({ iss: valid().iss, sub: valid().sub, aud: valid().aud, iat: NOW, exp: NOW + 300, nbf: NOW, jti: 'id-1' });
  });

  it('is frozen and prototype-free all the way down, and independent of the payload', () => {
    const payload = { ...valid(), nested: { list: [{ a: 1 }] } };
    const { claims } = toClaims(payload);
    const nested = claims.nested as { list: Array<{ a: number }> };
    for (const node of [claims, nested, nested.list, nested.list[0]]) expect(Object.isFrozen(node)).toBe(true);
    for (const node of [claims, nested, nested.list[0]]) expect(Object.getPrototypeOf(node)).toBeNull();
    payload.nested.list[0]!.a = 2;
    expect(nested.list[0]?.a).toBe(1);
  });

  it.each(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'])('keeps a %j claim an ordinary own key', (name) => {
    const payload = JSON.parse(`{"${name}": {"polluted": true}, "iss": "https://i.example", "sub": "s", "aud": "a", "iat": ${NOW}, "exp": ${NOW + 60}}`);
    const { claims } = toClaims(payload);
    expect(Object.getPrototypeOf(claims)).toBeNull();
    expect(Object.keys(claims)).toContain(name);
    expect(JSON.stringify((claims as Record<string, unknown>)[name])).toBe('{"polluted":true}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((claims as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('accepts an audience list', () => {
    expect(toClaims({ ...valid(), aud: ['https://broker.example.com', 'other'] }).registered.aud).toEqual(['https://broker.example.com', 'other']);
  });

  it('accepts a subject and a jti of exactly the maximum length', () => {
    const long = 'x'.repeat(DEFAULTS.maxIdClaimLength);
    expect(toClaims({ ...valid(), sub: long, jti: long }).registered.sub).toBe(long);
  });
});

describe('refused payloads', () => {
  it.each([
    ['null', null],
    ['an array', [valid()]],
    ['a string', JSON.stringify(valid())],
    ['a number', 1],
    ['true', true],
  ])('refuses %s as a payload (malformed_token)', (_, payload) => {
    expect(refusalOf(payload)).toEqual({ code: 'invalid_grant', status: 400, reason: 'malformed_token', message: 'token payload is not a JSON object' });
  });

  const hostile: Array<[string, Record<string, unknown>, string]> = [
    ['no iss', { iss: undefined }, '"iss"'],
    ['an empty iss', { iss: '' }, '"iss"'],
    ['a numeric iss', { iss: 1 }, '"iss"'],
    ['no sub', { sub: undefined }, '"sub"'],
    ['a numeric sub', { sub: 123 }, '"sub"'],
    ['an empty sub', { sub: '' }, '"sub"'],
    ['a sub one character too long', { sub: 'x'.repeat(DEFAULTS.maxIdClaimLength + 1) }, '"sub"'],
    ['an array sub', { sub: ['a'] }, '"sub"'],
    ['no aud', { aud: undefined }, '"aud"'],
    ['an empty aud', { aud: '' }, '"aud"'],
    ['an empty aud list', { aud: [] }, '"aud"'],
    ['a numeric aud element', { aud: [123] }, '"aud"'],
    ['an empty aud element', { aud: ['https://broker.example.com', ''] }, '"aud"'],
    ['a nested aud list', { aud: [['https://broker.example.com']] }, '"aud"'],
    ['no exp', { exp: undefined }, '"exp"'],
    ['a fractional exp', { exp: NOW + 0.5 }, '"exp"'],
    ['a string exp', { exp: String(NOW + 300) }, '"exp"'],
    ['a zero exp', { exp: 0 }, '"exp"'],
    ['a negative exp', { exp: -1 }, '"exp"'],
    ['an exp beyond 2^53', { exp: 2 ** 60 }, '"exp"'],
    ['no iat', { iat: undefined }, '"iat"'],
    ['a boolean iat', { iat: true }, '"iat"'],
    ['a fractional nbf', { nbf: NOW + 0.1 }, '"nbf"'],
    ['a null nbf', { nbf: null }, '"nbf"'],
    ['a numeric jti', { jti: 7 }, '"jti"'],
    ['a jti one character too long', { jti: 'x'.repeat(DEFAULTS.maxIdClaimLength + 1) }, '"jti"'],
  ];

  it.each(hostile)('refuses %s (invalid_claim_type, naming the claim)', (_, change, claim) => {
    const payload = { ...valid(), ...change };
    for (const [key, value] of Object.entries(change)) if (value === undefined) delete payload[key];
    expect(refusalOf(payload)).toEqual({ code: 'invalid_grant', status: 400, reason: 'invalid_claim_type', message: `${claim} has an invalid type or value` });
  });

  it.each([
    ['1e400 (Infinity after JSON parsing)', JSON.parse('{"exp": 1e400}').exp],
    ['-1e400', JSON.parse('{"x": -1e400}').x],
    ['NaN', Number.NaN],
  ])('refuses a non-finite number anywhere: %s', (_, number) => {
    expect(refusalOf({ ...valid(), exp: number })).toMatchObject({ reason: 'invalid_claim_type', message: 'token has a non-finite number' });
    expect(refusalOf({ ...valid(), custom: { deep: [number] } })).toMatchObject({ reason: 'invalid_claim_type', message: 'token has a non-finite number' });
  });

  it.each([
    ['undefined', undefined],
    ['a function', () => 1],
    ['a bigint', BigInt(1)],
    ['a symbol', Symbol('s')],
  ])('refuses a value JSON cannot hold: %s', (_, value) => {
    expect(refusalOf({ ...valid(), custom: value })).toMatchObject({ reason: 'invalid_claim_type', message: 'token payload holds a non-JSON value' });
  });
});

describe('bounds', () => {
  const nested = (depth: number): unknown => (depth === 0 ? 'leaf' : { d: nested(depth - 1) });

  it(`accepts nesting below ${DEFAULTS.maxClaimDepth} levels and refuses it at that depth (too_many_claims)`, () => {
    expect(() => toClaims({ ...valid(), custom: nested(DEFAULTS.maxClaimDepth - 1) })).not.toThrow();
    expect(refusalOf({ ...valid(), custom: nested(DEFAULTS.maxClaimDepth) })).toMatchObject({ reason: 'too_many_claims', message: 'token claims are nested too deeply' });
    expect(refusalOf({ ...valid(), custom: JSON.parse('['.repeat(100) + ']'.repeat(100)) })).toMatchObject({ reason: 'too_many_claims' });
  });

  it(`counts every node, and refuses more than ${DEFAULTS.maxClaimNodes} (too_many_claims)`, () => {
    const fits = DEFAULTS.maxClaimNodes - Object.keys(valid()).length - 2; // the root, `custom` and its elements
    expect(() => toClaims({ ...valid(), custom: Array(fits).fill(0) })).not.toThrow();
    expect(refusalOf({ ...valid(), custom: Array(fits + 1).fill(0) })).toMatchObject({ reason: 'too_many_claims', message: 'token has too many claims' });
    const wide = Object.fromEntries(Array.from({ length: DEFAULTS.maxClaimNodes }, (_, i) => [`c${i}`, i]));
    expect(refusalOf({ ...valid(), ...wide })).toMatchObject({ reason: 'too_many_claims' });
  });
});
