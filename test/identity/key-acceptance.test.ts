/**
 * Key acceptance: every class of weak, malformed or hostile JWK is refused with its reason,
 * sound keys of every supported type are accepted as clean copies, and a property test over
 * generated keys shows that nothing acceptance lets through is weak.
 */
import { createPublicKey, generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import fc from 'fast-check';
import { acceptJwk, acceptKeySet, type KeyAcceptanceRules } from '../../shared/identity/key-acceptance';
import { SIGNING_ALGORITHM_NAMES } from '../../shared/identity/signing-algorithms';

const ALL: KeyAcceptanceRules = { algorithms: SIGNING_ALGORITHM_NAMES };
const RS256: KeyAcceptanceRules = { algorithms: ['RS256'] };

const publicJwk = (key: ReturnType<typeof generateKeyPairSync>['publicKey']): Record<string, unknown> => key.export({ format: 'jwk' }) as Record<string, unknown>;
const rsa2048 = publicJwk(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
const rsa1024 = publicJwk(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
const rsa4096 = publicJwk(generateKeyPairSync('rsa', { modulusLength: 4096 }).publicKey);
const rsa2048e3 = publicJwk(generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).publicKey);
const p256 = publicJwk(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
const p384 = publicJwk(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey);
const p521 = publicJwk(generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey);
const secp256k1 = publicJwk(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey);
const ed25519 = publicJwk(generateKeyPairSync('ed25519').publicKey);
const x25519 = publicJwk(generateKeyPairSync('x25519').publicKey);
const ed448 = publicJwk(generateKeyPairSync('ed448').publicKey);
const rsaPrivate = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as Record<string, unknown>;

const b64 = (bytes: Buffer) => bytes.toString('base64url');
const int = (value: bigint) => b64(Buffer.from(value.toString(16).padStart(value.toString(16).length + (value.toString(16).length % 2), '0'), 'hex'));
const flipLastBit = (value: string) => { const bytes = Buffer.from(value, 'base64url'); bytes[bytes.length - 1]! ^= 1; return b64(bytes); };

describe('accepted keys', () => {
  it.each([
    ['RSA 2048', rsa2048, RS256],
    ['RSA 4096', rsa4096, RS256],
    ['RSA with alg, use and key_ops', { ...rsa2048, alg: 'RS256', use: 'sig', key_ops: ['verify'], kid: 'k1' }, RS256],
    ['RSA for PS256', { ...rsa2048, alg: 'PS256' }, { algorithms: ['PS256'] }],
    ['EC P-256', p256, { algorithms: ['ES256'] }],
    ['EC P-384', p384, { algorithms: ['ES384'] }],
    ['EC P-521', p521, { algorithms: ['ES512'] }],
    ['Ed25519 (EdDSA)', ed25519, { algorithms: ['EdDSA'] }],
    ['Ed25519 (Ed25519)', { ...ed25519, alg: 'Ed25519' }, { algorithms: ['Ed25519'] }],
  ] as const)('%s', (_name, jwk, rules) => {
    const verdict = acceptJwk(jwk, rules);
    expect(verdict).toMatchObject({ accepted: true });
    if (verdict.accepted) {
      expect(verdict.warning).toBeUndefined();
      for (const [member, value] of Object.entries(verdict.jwk)) expect(value).toEqual((jwk as Record<string, unknown>)[member]);
    }
  });

  it('keeps only the members verification reads', () => {
    const verdict = acceptJwk({ ...rsa2048, kid: 'k', x5u: 'https://attacker.example/x', x5c: ['AAAA'], extra: { nested: true } }, RS256);
    expect(verdict.accepted && Object.keys(verdict.jwk).sort()).toEqual(['e', 'kid', 'kty', 'n']);
  });

  it('accepts an RSA exponent other than 65537 with a warning', () => {
    expect(acceptJwk(rsa2048e3, RS256)).toMatchObject({ accepted: true, warning: 'RSA public exponent 3 is unusual (65537 expected)' });
  });

  it('lets a policy raise the RSA floor, never lower it', () => {
    expect(acceptJwk(rsa2048, { algorithms: ['RS256'], minRsaBits: 3072 })).toEqual({ accepted: false, reason: 'RSA modulus of 2048 bits is too short (at least 3072 bits)' });
    expect(acceptJwk(rsa4096, { algorithms: ['RS256'], minRsaBits: 3072 })).toMatchObject({ accepted: true });
    expect(acceptJwk(rsa1024, { algorithms: ['RS256'], minRsaBits: 1024 })).toEqual({ accepted: false, reason: 'RSA modulus of 1024 bits is too short (at least 2048 bits)' });
  });
});

describe('refused keys', () => {
  const n = rsa2048.n as string;
  it.each<[string, unknown, KeyAcceptanceRules, string | RegExp]>([
    ['RSA e = 1 (signatures anyone can compute)', { ...rsa2048, e: 'AQ' }, RS256, 'RSA public exponent 1 is not allowed (at least 3; 65537 expected)'],
    ['RSA e = 2 (even)', { ...rsa2048, e: 'Ag' }, RS256, /RSA public exponent 2 is not allowed/],
    ['RSA e = 65536 (even)', { ...rsa2048, e: int(65536n) }, RS256, 'RSA public exponent 65536 is not allowed: it must be odd'],
    ['RSA e wider than 64 bits', { ...rsa2048, e: int((1n << 80n) + 1n) }, RS256, 'RSA public exponent is wider than 64 bits'],
    ['RSA 1024-bit modulus', rsa1024, RS256, 'RSA modulus of 1024 bits is too short (at least 2048 bits)'],
    ['RSA even modulus', { ...rsa2048, n: flipLastBit(n) }, RS256, 'RSA modulus is even'],
    ['RSA modulus with a leading zero octet', { ...rsa2048, n: b64(Buffer.concat([Buffer.from([0]), Buffer.from(n, 'base64url')])) }, RS256, 'RSA "n" must not start with a zero octet'],
    ['RSA modulus zero-padded to look bigger', { ...rsa1024, n: b64(Buffer.concat([Buffer.alloc(128), Buffer.from(rsa1024.n as string, 'base64url')])) }, RS256, 'RSA "n" must not start with a zero octet'],
    ['RSA modulus over 16384 bits', { ...rsa2048, n: b64(Buffer.alloc(2049, 0xff)) }, RS256, 'RSA modulus of 16392 bits is too long (at most 16384 bits)'],
    ['RSA n not base64url', { ...rsa2048, n: `${n}==` }, RS256, 'RSA "n" must be a non-empty canonical base64url string'],
    ['RSA n a number', { ...rsa2048, n: 12345 }, RS256, 'RSA "n" must be a non-empty canonical base64url string'],
    ['RSA e missing', { kty: 'RSA', n }, RS256, 'RSA "e" must be a non-empty canonical base64url string'],
    ['RSA private key (d, p, q, ...)', rsaPrivate, RS256, 'private key members (d, p, q, dp, dq, qi) are not allowed: publish the public key only'],
    ['EC private key (d)', { ...p256, d: b64(Buffer.alloc(32, 1)) }, { algorithms: ['ES256'] }, 'private key members (d) are not allowed: publish the public key only'],
    ['symmetric key', { kty: 'oct', k: b64(Buffer.alloc(32, 7)) }, ALL, 'symmetric keys (kty "oct") are not allowed: an HMAC key is a shared secret'],
    ['unknown kty', { kty: 'DSA' }, ALL, 'key type "DSA" is not supported (RSA, EC or OKP)'],
    ['kty missing', { n, e: 'AQAB' }, ALL, 'key type (missing) is not supported (RSA, EC or OKP)'],
    ['not an object', 'RSA', ALL, 'a key must be a JSON object'],
    ['an array', [rsa2048], ALL, 'a key must be a JSON object'],
    ['null', null, ALL, 'a key must be a JSON object'],
    ['use enc', { ...rsa2048, use: 'enc' }, RS256, 'use "enc" does not allow signature verification (use "sig")'],
    ['key_ops without verify', { ...rsa2048, key_ops: ['encrypt', 'wrapKey'] }, RS256, 'key_ops must be a list of strings that includes "verify"'],
    ['key_ops not a list', { ...rsa2048, key_ops: 'verify' }, RS256, 'key_ops must be a list of strings that includes "verify"'],
    ['alg contradicting kty', { ...rsa2048, alg: 'ES256' }, ALL, 'alg "ES256" contradicts the key (RSA; "ES256" needs EC P-256)'],
    ['alg contradicting the curve', { ...p384, alg: 'ES256' }, ALL, 'alg "ES256" contradicts the key (EC P-384; "ES256" needs EC P-256)'],
    ['alg outside the allowlist', { ...rsa2048, alg: 'RS512' }, RS256, 'alg "RS512" is not among the accepted algorithms (RS256)'],
    ['HMAC alg on a key', { ...rsa2048, alg: 'HS256' }, ALL, 'alg "HS256" is not a supported signature algorithm'],
    ['alg none', { ...rsa2048, alg: 'none' }, ALL, 'alg "none" is not a supported signature algorithm'],
    ['a key no allowed algorithm uses', p256, RS256, 'no accepted algorithm (RS256) uses EC P-256 keys'],
    ['EC curve not in the allowlist', p384, { algorithms: ['ES256'] }, 'no accepted algorithm (ES256) uses EC P-384 keys'],
    ['EC secp256k1', secp256k1, ALL, 'no accepted algorithm (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519) uses EC secp256k1 keys'],
    ['EC point off the curve', { ...p256, y: flipLastBit(p256.y as string) }, { algorithms: ['ES256'] }, 'EC point is not on its curve'],
    ['EC point at zero', { ...p256, x: b64(Buffer.alloc(32)), y: b64(Buffer.alloc(32)) }, { algorithms: ['ES256'] }, 'EC point is not on its curve'],
    ['EC x too short', { ...p256, x: b64(Buffer.from(p256.x as string, 'base64url').subarray(1)) }, { algorithms: ['ES256'] }, 'EC P-256 "x" must be 32 bytes, not 31'],
    ['EC without y (compressed form)', { kty: 'EC', crv: 'P-256', x: p256.x }, { algorithms: ['ES256'] }, 'EC P-256 "y" must be a canonical base64url string'],
    ['OKP X25519 (key agreement)', x25519, ALL, 'no accepted algorithm (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519) uses OKP X25519 keys'],
    ['OKP Ed448', { ...ed448 }, { algorithms: ['EdDSA'] }, 'no accepted algorithm (EdDSA) uses OKP Ed448 keys'],
    ['Ed25519 x of 31 bytes', { ...ed25519, x: b64(Buffer.alloc(31, 9)) }, { algorithms: ['EdDSA'] }, 'Ed25519 "x" must be 32 bytes, not 31'],
    ['Ed25519 with a y member', { ...ed25519, y: ed25519.x }, { algorithms: ['EdDSA'] }, 'Ed25519 keys have no "y" member'],
    ['kid not a string', { ...rsa2048, kid: 7 }, RS256, 'kid must be a string of 1 to 256 characters'],
    ['kid empty', { ...rsa2048, kid: '' }, RS256, 'kid must be a string of 1 to 256 characters'],
    ['kid too long', { ...rsa2048, kid: 'k'.repeat(257) }, RS256, 'kid must be a string of 1 to 256 characters'],
  ])('%s', (_name, jwk, rules, reason) => {
    const verdict = acceptJwk(jwk, rules);
    expect(verdict.accepted).toBe(false);
    if (!verdict.accepted) expect(verdict.reason).toEqual(typeof reason === 'string' ? reason : expect.stringMatching(reason));
  });

  it('never throws, whatever the input', () => {
    for (const hostile of [0, 1, -1, true, false, null, [], '', '__proto__', { __proto__: { kty: 'RSA' } }, JSON.parse('{"__proto__":{"kty":"RSA"}}'), Object.create(null)]) {
      expect(acceptJwk(hostile, ALL)).toMatchObject({ accepted: false });
    }
  });
});

describe('key sets', () => {
  it('keeps the sound keys and reports each refused one with its index and kid', () => {
    const verdict = acceptKeySet({ keys: [{ ...rsa2048, kid: 'good' }, { ...rsa2048, e: 'AQ', kid: 'e1' }, { ...rsa1024, kid: 'short' }] }, RS256);
    expect(verdict.keys.map((k) => k.kid)).toEqual(['good']);
    expect(verdict.rejected).toEqual([
      { index: 1, kid: 'e1', reason: 'RSA public exponent 1 is not allowed (at least 3; 65537 expected)' },
      { index: 2, kid: 'short', reason: 'RSA modulus of 1024 bits is too short (at least 2048 bits)' },
    ]);
  });

  it('refuses every key of a kid that names more than one key', () => {
    const verdict = acceptKeySet({ keys: [{ ...rsa2048, kid: 'dup' }, { ...rsa4096, kid: 'dup' }, { ...rsa4096, kid: 'other' }] }, RS256);
    expect(verdict.keys.map((k) => k.kid)).toEqual(['other']);
    expect(verdict.rejected.map((r) => r.reason)).toEqual(['kid "dup" names more than one key in the set', 'kid "dup" names more than one key in the set']);
  });

  it('reports warnings of accepted keys', () => {
    expect(acceptKeySet({ keys: [{ ...rsa2048e3, kid: 'e3' }] }, RS256).warnings).toEqual([{ index: 0, kid: 'e3', warning: 'RSA public exponent 3 is unusual (65537 expected)' }]);
  });

  it.each([[{}], [{ keys: 'x' }], [null], [[rsa2048]], [{ keys: Array.from({ length: 101 }, () => rsa2048) }]])('throws on a document that is not a bounded JWK set: %#', (value) => {
    expect(() => acceptKeySet(value, RS256)).toThrow(TypeError);
  });
});

describe('property: nothing weak is ever accepted', () => {
  /** Independent of the code under test: what a usable verification key is, read off Node's own key object. */
  function isSound(jwk: Record<string, unknown>, rules: KeyAcceptanceRules): boolean {
    let key;
    try {
      key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } catch {
      return false;
    }
    if (key.type !== 'public') return false;
    const details = key.asymmetricKeyDetails ?? {};
    if (key.asymmetricKeyType === 'rsa') {
      const e = details.publicExponent ?? 0n;
      return (details.modulusLength ?? 0) >= 2048 && e >= 3n && e % 2n === 1n && rules.algorithms.some((a) => /^(RS|PS)/.test(a));
    }
    if (key.asymmetricKeyType === 'ec') {
      const curve = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }[details.namedCurve ?? ''];
      return curve !== undefined && rules.algorithms.includes(curve);
    }
    if (key.asymmetricKeyType === 'ed25519') return rules.algorithms.some((a) => a === 'EdDSA' || a === 'Ed25519');
    return false;
  }

  const base = [rsa2048, rsa1024, rsa2048e3, p256, p384, p521, secp256k1, ed25519, x25519, ed448, rsaPrivate];
  const hostileValue = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom<unknown>('AQ', 'Ag', 'Aw', 'AQAB', '', 'AA', 'oct', 'sig', 'enc', 'RSA', 'EC', 'OKP', 'P-256', 'P-384', 'Ed25519', 'X25519',
        'ES256', 'ES384', 'RS256', 'PS256', 'EdDSA', 'HS256', 'none', ['verify'], ['sign'], 0, 1, -1, true, null, [], {}, '__proto__'),
    },
    { weight: 2, arbitrary: fc.bigInt({ min: 1n, max: 1n << 20n }).map(int) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 300 }).map((bytes) => b64(Buffer.from(bytes))) },
    { weight: 1, arbitrary: fc.bigInt({ min: 1n, max: 1n << 70n }).map(int) },
  );
  const member = fc.constantFrom('kty', 'n', 'e', 'crv', 'x', 'y', 'd', 'k', 'alg', 'use', 'key_ops', 'kid');
  type Edit = (jwk: Record<string, unknown>) => void;
  const truncate = (name: string, bytes: number): Edit => (jwk) => { if (typeof jwk[name] === 'string') jwk[name] = b64(Buffer.from(jwk[name] as string, 'base64url').subarray(0, bytes)); };
  const flip = (name: string): Edit => (jwk) => { if (typeof jwk[name] === 'string' && jwk[name] !== '') jwk[name] = flipLastBit(jwk[name] as string); };
  /** Mutations aimed at each weakness, so the generator reaches them often. */
  const targeted = fc.oneof(
    fc.bigInt({ min: 0n, max: 70_000n }).map((e): Edit => (jwk) => { jwk.e = e === 0n ? 'AA' : int(e); }),
    fc.integer({ min: 1, max: 300 }).map((bytes) => truncate('n', bytes)),
    fc.constantFrom('n', 'x', 'y').map(flip),
    fc.constantFrom('P-256', 'P-384', 'P-521', 'secp256k1', 'Ed25519', 'X25519', 'Ed448').map((crv): Edit => (jwk) => { jwk.crv = crv; }),
    fc.constantFrom('RSA', 'EC', 'OKP', 'oct').map((kty): Edit => (jwk) => { jwk.kty = kty; }),
  );
  const randomEdit = fc.tuple(member, fc.option(hostileValue, { nil: undefined, freq: 6 })).map(([name, value]): Edit => (jwk) => {
    if (value === undefined) delete jwk[name];
    else jwk[name] = value;
  });
  const mutatedKey = fc.tuple(fc.constantFrom(...base), fc.array(fc.oneof({ weight: 3, arbitrary: targeted }, { weight: 2, arbitrary: randomEdit }), { maxLength: 3 }))
    .map(([jwk, edits]) => {
      const out: Record<string, unknown> = { ...jwk };
      for (const edit of edits) edit(out);
      return out;
    });
  const rules = fc.subarray([...SIGNING_ALGORITHM_NAMES], { minLength: 1 }).map((algorithms): KeyAcceptanceRules => ({ algorithms }));

  it('an accepted key is a sound public key some allowed algorithm can use, with no private member', () => {
    fc.assert(
      fc.property(mutatedKey, rules, (jwk, keyRules) => {
        const verdict = acceptJwk(jwk, keyRules);
        if (!verdict.accepted) return true;
        const copy = verdict.jwk as unknown as Record<string, unknown>;
        return isSound(copy, keyRules) && ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].every((m) => !(m in copy))
          && (copy.alg === undefined || keyRules.algorithms.includes(copy.alg as string));
      }),
      { numRuns: 5000 },
    );
  });

  it('a sound, unmodified public key is accepted whenever an allowed algorithm fits it', () => {
    const sound = [rsa2048, p256, p384, p521, ed25519];
    fc.assert(
      fc.property(fc.constantFrom(...sound), rules, (jwk, keyRules) => acceptJwk(jwk, keyRules).accepted === isSound(jwk, keyRules)),
      { numRuns: 300 },
    );
  });
});
