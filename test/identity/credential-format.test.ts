/** Formats of the credentials the broker issues: client secrets and API keys. */
import {
  API_KEY_PATTERN,
  CLIENT_SECRET_PATTERN,
  generateApiKey,
  generateClientSecret,
  isClientSecretFormat,
  parseApiKey,
} from '../../shared/identity/credential-format';

describe('client secrets', () => {
  it('are tbs_ + 32 random bytes as base64url', () => {
    const secrets = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const secret = generateClientSecret();
      expect(secret).toMatch(/^tbs_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(secret.slice(4), 'base64url')).toHaveLength(32);
      expect(secret).toMatch(CLIENT_SECRET_PATTERN);
      expect(isClientSecretFormat(secret)).toBe(true);
      secrets.add(secret);
    }
    expect(secrets.size).toBe(200);
  });

  it('have a shape check that refuses anything else', () => {
    const secret = generateClientSecret();
    const bad: unknown[] = [
      '', secret.slice(0, -1), `${secret}A`, `tbk_${secret.slice(4)}`, `TBS_${secret.slice(4)}`, `${secret.slice(0, -1)}B`,
      ` ${secret.slice(1)}`, `${secret.slice(0, -1)}=`, `${secret.slice(0, -1)}+`, undefined, null, 42, { secret },
    ];
    for (const value of bad) expect(isClientSecretFormat(value)).toBe(false);
  });
});

describe('API keys', () => {
  it('are tbk_<12 lowercase base32 id>_<32 random bytes as base64url>, and parse back', () => {
    const ids = new Set<string>();
    const idChars = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const { key, id } = generateApiKey();
      expect(id).toMatch(/^[a-z2-7]{12}$/);
      expect(key.startsWith(`tbk_${id}_`)).toBe(true);
      expect(key).toHaveLength(60);
      expect(key).toMatch(API_KEY_PATTERN);
      const parsed = parseApiKey(key);
      expect(parsed).toEqual({ id, secret: key.slice(17) });
      expect(Buffer.from(parsed?.secret ?? '', 'base64url')).toHaveLength(32);
      ids.add(id);
      for (const c of id) idChars.add(c);
    }
    expect(ids.size).toBe(1000);
    expect(idChars.size).toBe(32); // the whole base32 alphabet turns up
  });

  it('parse even when the secret part holds _ and - (the id has a fixed length)', () => {
    const id = 'abcdefgh2345';
    const secret = `_-${'A'.repeat(39)}_E`;
    expect(parseApiKey(`tbk_${id}_${secret}`)).toEqual({ id, secret });
  });

  const { key, id } = generateApiKey();
  const secret = key.slice(17);
  const malformed: Array<[string, string]> = [
    ['empty', ''],
    ['the client-secret prefix', `tbs_${id}_${secret}`],
    ['an upper-case prefix', `TBK_${id}_${secret}`],
    ['a dash after the prefix', `tbk-${id}_${secret}`],
    ['no prefix', `${id}_${secret}`],
    ['a short key', key.slice(0, -1)],
    ['a long key', `${key}A`],
    ['a far too long key', `${key}${'A'.repeat(1_000_000)}`],
    ['a short id', `tbk_${id.slice(1)}_${secret}`],
    ['a long id (short secret)', `tbk_${id}a_${secret.slice(1)}`],
    ['an upper-case id', `tbk_${id.toUpperCase()}_${secret}`],
    ['a non-base32 digit in the id', `tbk_${id.slice(0, -1)}1_${secret}`],
    ['0 in the id', `tbk_0${id.slice(1)}_${secret}`],
    ['8 in the id', `tbk_${id.slice(0, -1)}8_${secret}`],
    ['an underscore in the id', `tbk_${id.slice(0, 5)}_${id.slice(6)}_${secret}`],
    ['a doubled underscore after the prefix', `tbk__${id}_${secret.slice(1)}`],
    ['a trailing underscore', `${key}_`],
    ['an underscore instead of the secret\'s last character', `${key.slice(0, -1)}_`],
    ['a missing separator', `tbk_${id}${secret}`],
    ['a dash as separator', `tbk_${id}-${secret}`],
    ['+ in the secret', `tbk_${id}_+${secret.slice(1)}`],
    ['/ in the secret', `tbk_${id}_/${secret.slice(1)}`],
    ['padding', `tbk_${id}_${secret.slice(0, -1)}=`],
    ['a space', `tbk_${id}_ ${secret.slice(1)}`],
    ['a dot', `tbk_${id}_.${secret.slice(1)}`],
    ['a non-ASCII character', `tbk_${id}_é${secret.slice(1)}`],
    ['a trailing newline', `${key.slice(0, -1)}\n`],
    ['a leading space', ` ${key.slice(1)}`],
    ['stray bits in the last character', `${key.slice(0, -1)}B`],
  ];
  it.each(malformed)('refuse %s', (_name, value) => {
    expect(parseApiKey(value)).toBeUndefined();
  });

  it('never throw, whatever they are given', () => {
    for (const value of [undefined, null, 0, 60, {}, [], Symbol('k'), { length: 60 }, new String(key)]) {
      expect(parseApiKey(value as unknown as string)).toBeUndefined();
    }
  });

  it('treat an underscore right after the separator as part of the secret (it can be one)', () => {
    // `tbk_<id>__<42 chars>` is a well-formed key whose secret begins with `_`; it simply
    // will not verify. Only its shape is checked here.
    expect(parseApiKey(`tbk_${id}__${secret.slice(1)}`)).toEqual({ id, secret: `_${secret.slice(1)}` });
  });
});
