/** Stored secret hashes: format, strict parsing, verification, and the success cache. */
import {
  DEFAULT_SCRYPT_PARAMS,
  hashSecret,
  parseSecretHash,
  scryptMemoryBytes,
  SecretVerifier,
  verifySecret,
  type ParsedHash,
} from '../../shared/identity/secret-hash';

// The module object itself (an `import * as` would be a copy that a spy cannot reach).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeCrypto = require('node:crypto') as typeof import('node:crypto');

/** Cheapest accepted parameters, to keep the suite quick. */
const FAST = { ln: 14, r: 8, p: 1 };
const SECRET = 'tbs_Zm9vYmFyYmF6cXV4LXRoaXMtaXMtYS10ZXN0LXNlY3JldA';

const b64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');
const SALT = b64(Buffer.alloc(16, 7));
const KEY = b64(Buffer.alloc(32, 9));
const valid = (params = 'ln=15,r=8,p=1', salt = SALT, key = KEY) => `$scrypt$${params}$${salt}$${key}`;

let fastHash: string;
beforeAll(async () => {
  fastHash = await hashSecret(SECRET, FAST);
});
afterEach(() => jest.restoreAllMocks());

describe('hashSecret', () => {
  it('produces $scrypt$ln=15,r=8,p=1$<16-byte salt>$<32-byte key> by default, in unpadded base64', async () => {
    const encoded = await hashSecret(SECRET);
    expect(encoded).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(DEFAULT_SCRYPT_PARAMS).toEqual({ ln: 15, r: 8, p: 1 });
    const parsed = parseSecretHash(encoded);
    expect(parsed.salt).toHaveLength(16);
    expect(parsed.hash).toHaveLength(32);
    expect(parsed.encoded).toBe(encoded);
    expect(await verifySecret(SECRET, parsed)).toBe(true);
  });

  it('salts every hash afresh', async () => {
    const again = await hashSecret(SECRET, FAST);
    expect(again).not.toBe(fastHash);
    expect(parseSecretHash(again).salt.equals(parseSecretHash(fastHash).salt)).toBe(false);
  });

  it('passes an explicit maxmem: the defaults need just over Node\'s 32 MiB default', () => {
    expect(scryptMemoryBytes(DEFAULT_SCRYPT_PARAMS)).toBeGreaterThan(32 * 1024 * 1024);
    expect(scryptMemoryBytes({ ln: 15, r: 8, p: 1 })).toBe(128 * 8 * (32768 + 2) + 128 * 8);
  });

  it('refuses an empty secret and parameters it would refuse to parse', async () => {
    await expect(hashSecret('')).rejects.toThrow(new TypeError('secret must be a non-empty string'));
    await expect(hashSecret(SECRET, { ln: 13, r: 8, p: 1 })).rejects.toThrow(RangeError);
    await expect(hashSecret(SECRET, { ln: 13, r: 8, p: 1 })).rejects.toThrow('ln=13 is too weak (minimum ln=14)');
    await expect(hashSecret(SECRET, { ln: 21, r: 8, p: 1 })).rejects.toThrow('ln=21 exceeds the maximum ln=20');
    await expect(hashSecret(SECRET, { ln: 14.5, r: 8, p: 1 })).rejects.toThrow('ln must be an integer');
  });
});

describe('verifySecret', () => {
  it('accepts the right secret and refuses wrong ones without throwing', async () => {
    const parsed = parseSecretHash(fastHash);
    expect(await verifySecret(SECRET, parsed)).toBe(true);
    for (const wrong of ['', SECRET.slice(0, -1), `${SECRET}x`, SECRET.toUpperCase(), ' '.repeat(10_000), '\u0000', 'é'.repeat(50)]) {
      await expect(verifySecret(wrong, parsed)).resolves.toBe(false);
    }
  });

  it('round-trips non-ASCII secrets as UTF-8', async () => {
    const secret = 'pässwörd-秘密-🔑-long-enough';
    const parsed = parseSecretHash(await hashSecret(secret, FAST));
    expect(await verifySecret(secret, parsed)).toBe(true);
    expect(await verifySecret(secret.normalize('NFD'), parsed)).toBe(false);
  });

  it('refuses a hash whose digest was tampered with', async () => {
    const fields = fastHash.split('$');
    const digest = Buffer.from(fields[4] ?? '', 'base64');
    digest[0] = (digest[0] ?? 0) ^ 1;
    const tampered = [...fields.slice(0, 4), b64(digest)].join('$');
    expect(await verifySecret(SECRET, parseSecretHash(tampered))).toBe(false);
  });

  it('compares with crypto.timingSafeEqual, for right and wrong secrets alike', async () => {
    const spy = jest.spyOn(nodeCrypto, 'timingSafeEqual');
    const parsed = parseSecretHash(fastHash);
    expect(await verifySecret(SECRET, parsed)).toBe(true);
    expect(await verifySecret('wrong', parsed)).toBe(false);
    expect(spy).toHaveBeenCalledTimes(2);
    for (const [derived, stored] of spy.mock.calls) {
      expect((derived as Buffer).length).toBe(32);
      expect(stored).toBe(parsed.hash);
    }
    expect(spy.mock.results.map((r) => r.value)).toEqual([true, false]);
  });

  it('takes comparable time for a wrong secret as for the right one (loose)', async () => {
    const parsed = parseSecretHash(fastHash);
    const median = async (secret: string) => {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await verifySecret(secret, parsed);
        times.push(performance.now() - started);
      }
      return times.sort((a, b) => a - b)[1] ?? 0;
    };
    const right = await median(SECRET);
    const wrong = await median('not-the-secret');
    // Both are a full scrypt: no early exit for a wrong secret. Generous bounds, not a timing test.
    expect(wrong).toBeGreaterThan(right / 4);
    expect(right).toBeGreaterThan(wrong / 4);
  });
});

describe('parseSecretHash', () => {
  it('accepts the canonical form, at the parameter limits too', () => {
    expect(parseSecretHash(valid())).toMatchObject({ algorithm: 'scrypt', ln: 15, r: 8, p: 1 });
    expect(parseSecretHash(valid('ln=14,r=8,p=1'))).toMatchObject({ ln: 14 });
    expect(parseSecretHash(valid('ln=20,r=16,p=4'))).toMatchObject({ ln: 20, r: 16, p: 4 });
    expect(parseSecretHash(valid(undefined, b64(Buffer.alloc(48, 1))))).toMatchObject({ ln: 15 });
    expect(Object.isFrozen(parseSecretHash(valid()))).toBe(true);
  });

  const cases: Array<[string, string, string]> = [
    ['empty', '', 'must have the form $scrypt$ln=<cost>,r=<block size>,p=<parallelism>$<salt>$<hash>'],
    ['no leading $', valid().slice(1), 'must have the form'],
    ['a missing field', `$scrypt$ln=15,r=8,p=1$${SALT}`, 'must have the form'],
    ['an extra field', `${valid()}$extra`, 'must have the form'],
    ['a trailing $', `${valid()}$`, 'must have the form'],
    ['surrounding whitespace', ` ${valid()}`, 'must have the form'],
    ['another algorithm', valid().replace('scrypt', 'argon2id'), 'algorithm "argon2id" is not supported (only "scrypt")'],
    ['an upper-case algorithm', valid().replace('scrypt', 'SCRYPT'), 'algorithm is not supported (only "scrypt")'],
    ['parameters out of order', valid('r=8,ln=15,p=1'), 'parameters must be "ln=<n>,r=<n>,p=<n>", in that order'],
    ['a missing parameter', valid('ln=15,r=8'), 'parameters must be'],
    ['a leading zero', valid('ln=015,r=8,p=1'), 'parameters must be'],
    ['N instead of ln', valid('N=32768,r=8,p=1'), 'parameters must be'],
    ['a space in the parameters', valid('ln=15, r=8,p=1'), 'parameters must be'],
    ['a weak cost', valid('ln=13,r=8,p=1'), 'ln=13 is too weak (minimum ln=14)'],
    ['a weak block size', valid('ln=15,r=4,p=1'), 'r=4 is too weak (minimum r=8)'],
    ['a DoS cost', valid('ln=21,r=8,p=1'), 'ln=21 exceeds the maximum ln=20 (verification would cost enough to be a denial-of-service risk)'],
    ['a DoS block size', valid('ln=15,r=17,p=1'), 'r=17 exceeds the maximum r=16'],
    ['a DoS parallelism', valid('ln=15,r=8,p=5'), 'p=5 exceeds the maximum p=4'],
    ['a huge cost', valid('ln=99,r=8,p=1'), 'ln=99 exceeds the maximum ln=20'],
    ['padding in the salt', valid(undefined, `${SALT}==`), 'the salt must be unpadded base64 (A-Z a-z 0-9 + /)'],
    ['base64url in the salt', valid(undefined, `${SALT.slice(0, -1)}-`), 'the salt must be unpadded base64'],
    ['an empty salt', valid(undefined, ''), 'the salt must be unpadded base64'],
    ['a short salt', valid(undefined, b64(Buffer.alloc(15))), 'the salt is 15 bytes (must be 16 to 48)'],
    ['a long salt', valid(undefined, b64(Buffer.alloc(49))), 'the salt is 49 bytes (must be 16 to 48)'],
    ['stray bits in the salt', valid(undefined, `${SALT.slice(0, -1)}B`), 'the salt is not canonical base64'],
    ['a truncated hash', valid(undefined, undefined, KEY.slice(0, -4)), 'the hash is 29 bytes (must be 32)'],
    ['a lengthened hash', valid(undefined, undefined, b64(Buffer.alloc(33))), 'the hash is 33 bytes (must be 32)'],
    ['a 4n+1-character hash', valid(undefined, undefined, `${KEY}AA`.slice(0, 45)), 'the hash is not canonical base64'],
    ['stray bits in the hash', valid(undefined, undefined, `${KEY.slice(0, -1)}B`), 'the hash is not canonical base64'],
    ['padding in the hash', valid(undefined, undefined, `${KEY}=`), 'the hash must be unpadded base64'],
    ['a newline in the hash', `${valid()}\n`, 'the hash must be unpadded base64'],
    ['an overlong string', valid(undefined, undefined, 'A'.repeat(300)), 'longer than 256 characters'],
  ];
  it.each(cases)('refuses %s with a precise message', (_name, encoded, message) => {
    let error: unknown;
    try {
      parseSecretHash(encoded);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain(`invalid secret hash: ${message}`);
  });

  it('never quotes what it refuses (an operator may paste the secret itself)', () => {
    for (const input of [SECRET, `$scrypt$${SECRET}$x$y`, `$${SECRET}$ln=15,r=8,p=1$${SALT}$${KEY}`, valid(SECRET)]) {
      expect(() => parseSecretHash(input)).toThrow(TypeError);
      try {
        parseSecretHash(input);
      } catch (err) {
        expect((err as Error).message).not.toContain(SECRET);
        expect((err as Error).message).not.toContain(SECRET.slice(4, 20));
      }
    }
  });

  it('refuses non-strings with a TypeError', () => {
    expect(() => parseSecretHash(undefined as unknown as string)).toThrow(new TypeError('invalid secret hash: must be a string'));
  });
});

describe('SecretVerifier', () => {
  function counted() {
    const calls: string[] = [];
    const verify = jest.fn(async (secret: string, parsed: ParsedHash) => {
      calls.push(secret);
      return verifySecret(secret, parsed);
    });
    return { verify, calls };
  }

  it('runs scrypt once for repeated successes, every time for failures', async () => {
    const { verify } = counted();
    const verifier = new SecretVerifier({ verify });
    const parsed = parseSecretHash(fastHash);
    for (let i = 0; i < 5; i++) expect(await verifier.verify(SECRET, parsed)).toBe(true);
    expect(verify).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 5; i++) expect(await verifier.verify('wrong-secret', parsed)).toBe(false);
    expect(verify).toHaveBeenCalledTimes(6);
    expect(verifier.size).toBe(1);
  });

  it('uses the real scrypt by default, and a cached success skips it', async () => {
    const verifier = new SecretVerifier();
    const parsed = parseSecretHash(fastHash);
    const spy = jest.spyOn(nodeCrypto, 'scrypt');
    expect(await verifier.verify(SECRET, parsed)).toBe(true);
    expect(await verifier.verify(SECRET, parsed)).toBe(true);
    expect(await verifier.verify('wrong', parsed)).toBe(false);
    expect(await verifier.verify('wrong', parsed)).toBe(false);
    expect(spy).toHaveBeenCalledTimes(3);
  });

  it('forgets a success after the TTL (5 minutes by default), which hits do not extend', async () => {
    let now = 1_000_000;
    const { verify } = counted();
    const verifier = new SecretVerifier({ verify, now: () => now });
    const parsed = parseSecretHash(fastHash);
    await verifier.verify(SECRET, parsed);
    now += 299_999;
    await verifier.verify(SECRET, parsed);
    expect(verify).toHaveBeenCalledTimes(1);
    now += 1;
    await verifier.verify(SECRET, parsed);
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it('keys entries by hash string and secret', async () => {
    const { verify } = counted();
    const verifier = new SecretVerifier({ verify });
    const other = parseSecretHash(await hashSecret(SECRET, FAST));
    const parsed = parseSecretHash(fastHash);
    await verifier.verify(SECRET, parsed);
    expect(await verifier.verify(SECRET, other)).toBe(true);
    expect(verify).toHaveBeenCalledTimes(2);
    // A different hash the secret does not match is never answered from the cache.
    const foreign = parseSecretHash(await hashSecret('another-secret-entirely', FAST));
    expect(await verifier.verify(SECRET, foreign)).toBe(false);
  });

  it('is bounded, evicting the least recently used success', async () => {
    const verify = jest.fn(async () => true);
    const verifier = new SecretVerifier({ verify, maxEntries: 2 });
    const parsed = parseSecretHash(fastHash);
    await verifier.verify('a', parsed);
    await verifier.verify('b', parsed);
    await verifier.verify('a', parsed); // a is now the most recent
    await verifier.verify('c', parsed); // evicts b
    expect(verifier.size).toBe(2);
    expect(verify).toHaveBeenCalledTimes(3);
    await verifier.verify('a', parsed);
    expect(verify).toHaveBeenCalledTimes(3);
    await verifier.verify('b', parsed);
    expect(verify).toHaveBeenCalledTimes(4);
    expect(new SecretVerifier().size).toBe(0);
  });

  it('shares one computation between concurrent identical verifications', async () => {
    const { verify } = counted();
    const verifier = new SecretVerifier({ verify });
    const parsed = parseSecretHash(fastHash);
    expect(await Promise.all([1, 2, 3, 4].map(() => verifier.verify(SECRET, parsed)))).toEqual([true, true, true, true]);
    expect(verify).toHaveBeenCalledTimes(1);
    expect(await Promise.all([1, 2, 3].map(() => verifier.verify('wrong', parsed)))).toEqual([false, false, false]);
    expect(verify).toHaveBeenCalledTimes(2);
    expect(await verifier.verify('wrong', parsed)).toBe(false); // failures are not remembered
    expect(verify).toHaveBeenCalledTimes(3);
  });

  it('propagates a failure of scrypt itself, remembering nothing', async () => {
    const verify = jest.fn(async () => {
      throw new Error('out of memory');
    });
    const verifier = new SecretVerifier({ verify });
    await expect(verifier.verify(SECRET, parseSecretHash(fastHash))).rejects.toThrow('out of memory');
    expect(verifier.size).toBe(0);
  });

  it('stores neither the secret nor the hash string', async () => {
    const verifier = new SecretVerifier();
    const parsed = parseSecretHash(fastHash);
    await verifier.verify(SECRET, parsed);
    const state = JSON.stringify([...((verifier as unknown as { successes: Map<string, number> }).successes.keys())]);
    expect(state).not.toContain(SECRET);
    expect(state).not.toContain(fastHash.split('$')[4]);
    verifier.clear();
    expect(verifier.size).toBe(0);
  });
});
