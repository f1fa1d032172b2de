import { crc32c } from '../../shared/cache/crc32c';

describe('crc32c (Castagnoli)', () => {
  test.each([
    ['empty', Buffer.alloc(0), 0x00000000],
    ['"123456789" (the CRC catalogue check value)', Buffer.from('123456789'), 0xe3069283],
    ['"a"', Buffer.from('a'), 0xc1d04330],
    ['32 zero bytes (RFC 3720 B.4)', Buffer.alloc(32, 0x00), 0x8a9136aa],
    ['32 0xFF bytes (RFC 3720 B.4)', Buffer.alloc(32, 0xff), 0x62a8ab43],
    ['32 incrementing bytes (RFC 3720 B.4)', Buffer.from(Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e],
    ['32 decrementing bytes (RFC 3720 B.4)', Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c],
  ])('%s', (_name, input, expected) => {
    expect(crc32c(input)).toBe(expected);
  });

  test('returns an unsigned 32-bit integer and accepts any Uint8Array view', () => {
    const backing = Buffer.from('xx123456789yy');
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 2, 9);
    expect(crc32c(view)).toBe(0xe3069283);
    for (let i = 0; i < 50; i++) {
      const value = crc32c(Buffer.from(`sample-${i}`));
      expect(Number.isInteger(value) && value >= 0 && value <= 0xffffffff).toBe(true);
    }
  });

  test('differs from CRC-32 (IEEE): "123456789" is not 0xCBF43926', () => {
    expect(crc32c(Buffer.from('123456789'))).not.toBe(0xcbf43926);
  });
});
