/**
 * The checks on a compact JWS before any cryptography: a size cap, JWE refused, three
 * canonical base64url parts (one string form per token), a header that is strict UTF-8 JSON
 * with a string `alg`, no repeated member names; a JWT payload that is a UTF-8 JSON object;
 * and the `typ` values of other kinds of JWT refused as identity tokens. Tokens are built
 * byte by byte; nothing is signed, because nothing here verifies.
 */
import { checkClaimsSetText, checkCompactJws, isCanonicalBase64url, refuseForeignTokenType } from '../../shared/identity/compact-jws';
import { b64url } from '../helpers/forge';
import { refusal } from '../helpers/rejection';

const MAX = 16 * 1024;
const HEADER = { alg: 'RS256', typ: 'JWT', kid: 'k1' };
const PAYLOAD = { iss: 'https://issuer.example', sub: 'alice', aud: 'broker', iat: 1_900_000_000, exp: 1_900_000_300 };
const SIGNATURE = b64url(Buffer.alloc(256, 7));

/** A compact JWS from raw header and payload bytes (text or Buffer) and a signature segment. */
function jws(header: string | Buffer | object = HEADER, payload: string | Buffer | object = PAYLOAD, signature = SIGNATURE): string {
  const bytes = (part: string | Buffer | object) => (typeof part === 'string' || Buffer.isBuffer(part) ? part : JSON.stringify(part));
  return `${b64url(bytes(header))}.${b64url(bytes(payload))}.${signature}`;
}

const malformed = (message: string | RegExp) => ({ code: 'invalid_grant', status: 400, reason: 'malformed_token', message: expect.stringMatching(message) });

describe('checkCompactJws: what passes', () => {
  it('returns the unverified protected header of a well-formed token', () => {
    expect(checkCompactJws(jws(), MAX)).toEqual(HEADER);
    expect(checkCompactJws(jws({ alg: 'ES256' }), MAX)).toEqual({ alg: 'ES256' });
  });

  it('accepts a token of exactly the size cap', () => {
    const token = jws();
    expect(() => checkCompactJws(token, token.length)).not.toThrow();
  });
});

describe('checkCompactJws: refusals', () => {
  it('refuses a token one byte over the cap as invalid_request (token_too_large), before parsing it', () => {
    const token = jws();
    expect(refusal(() => checkCompactJws(token, token.length - 1))).toEqual({
      code: 'invalid_request', status: 400, reason: 'token_too_large', message: `token exceeds ${token.length - 1} bytes`,
    });
    expect(refusal(() => checkCompactJws('x'.repeat(MAX + 1), MAX)).reason).toBe('token_too_large');
  });

  it.each([
    ['five parts', `${jws()}.${b64url('iv')}.${b64url('tag')}`],
    ['five empty parts', '....'],
    ['a JWE header with a direct key', `${b64url('{"alg":"dir","enc":"A256GCM"}')}..${b64url('iv')}.${b64url('ct')}.${b64url('tag')}`],
  ])('refuses an encrypted token (JWE): %s', (_, token) => {
    expect(refusal(() => checkCompactJws(token, MAX))).toEqual({
      code: 'invalid_grant', status: 400, reason: 'jwe_not_accepted', message: 'encrypted tokens (JWE) are not accepted',
    });
  });

  it.each([
    ['an empty string', ''],
    ['two parts', jws().split('.').slice(0, 2).join('.')],
    ['four parts', `${jws()}.${b64url('x')}`],
    ['an empty signature (alg none)', `${jws().split('.').slice(0, 2).join('.')}.`],
    ['an empty header', `.${jws().split('.').slice(1).join('.')}`],
    ['base64 padding', `${jws()}==`],
    ['standard base64 characters', jws().replace(/.$/, '+')],
    ['a slash', jws().replace(/.$/, '/')],
    ['a space inside', jws().replace('.', ' .')],
    ['a newline at the end', `${jws()}\n`],
    ['JSON serialization', JSON.stringify({ protected: b64url(JSON.stringify(HEADER)), payload: b64url(JSON.stringify(PAYLOAD)), signature: SIGNATURE })],
    ['non-ASCII lookalikes', jws().replace('e', '\u0435')],
  ])('refuses %s as not a compact JWS (malformed_token)', (_, token) => {
    expect(refusal(() => checkCompactJws(token, MAX))).toEqual(malformed(/^token is not a compact JWS with three base64url parts$/));
  });

  it('refuses a part whose last character has unused bits set: one token, one string form', () => {
    // b64url of one zero byte is "AA"; "AB" decodes to the same byte.
    const [header, payload] = jws().split('.');
    expect(refusal(() => checkCompactJws(`${header}.${payload}.AB`, MAX))).toEqual(malformed(/^token is not in canonical base64url$/));
    expect(() => checkCompactJws(`${header}.${payload}.AA`, MAX)).not.toThrow();
  });

  it.each([
    ['not JSON', 'alg: RS256'],
    ['a JSON array', '["RS256"]'],
    ['a JSON string', '"RS256"'],
    ['JSON null', 'null'],
  ])('refuses a header that is %s', (_, header) => {
    expect(refusal(() => checkCompactJws(jws(header), MAX))).toEqual(malformed(/^token header is not valid base64url JSON$|^token header has no algorithm$/));
  });

  it.each([
    ['no alg', { typ: 'JWT' }],
    ['a numeric alg', { alg: 256 }],
    ['a null alg', { alg: null }],
    ['an array alg', { alg: ['RS256'] }],
    ['an object alg', { alg: { name: 'RS256' } }],
  ])('refuses a header with %s', (_, header) => {
    expect(refusal(() => checkCompactJws(jws(header), MAX))).toEqual(malformed(/^token header has no algorithm$/));
  });

  it.each([
    ['invalid UTF-8', Buffer.concat([Buffer.from('{"alg":"RS256","x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])],
    ['a byte order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(HEADER))])],
    ['UTF-16', Buffer.from(JSON.stringify(HEADER), 'utf16le')],
  ])('refuses a header in %s', (_, header) => {
    expect(refusal(() => checkCompactJws(jws(header), MAX))).toMatchObject({ code: 'invalid_grant', reason: 'malformed_token' });
  });

  it.each([
    ['header', jws('{"alg":"RS256","alg":"none"}')],
    ['header, nested', jws('{"alg":"RS256","jwk":{"kty":"RSA","kty":"EC"}}')],
    ['payload', jws(HEADER, '{"sub":"alice","sub":"admin"}')],
    ['payload, escaped', jws(HEADER, '{"sub":"alice","s\\u0075b":"admin"}')],
  ])('refuses a repeated member name in the %s (duplicate_json_key)', (_, token) => {
    expect(refusal(() => checkCompactJws(token, MAX))).toEqual({
      code: 'invalid_grant', status: 400, reason: 'duplicate_json_key', message: 'token repeats a JSON member name',
    });
  });

  it('accepts the same name in different objects', () => {
    expect(() => checkCompactJws(jws(HEADER, '{"a":{"sub":1},"sub":"alice"}'), MAX)).not.toThrow();
  });

  it.each([['a number', 1], ['null', null], ['an array', ['JWT']], ['an object', { v: 'JWT' }], ['true', true]])('refuses a typ that is %s', (_, typ) => {
    expect(refusal(() => checkCompactJws(jws({ alg: 'RS256', typ }), MAX))).toEqual(malformed(/^token header "typ" is not a string$/));
  });
});

describe('checkClaimsSetText', () => {
  it('accepts a JSON object payload', () => {
    expect(() => checkClaimsSetText(jws())).not.toThrow();
    expect(() => checkClaimsSetText(jws(HEADER, {}))).not.toThrow();
  });

  it.each([
    ['an array', '[]'],
    ['a string', '"claims"'],
    ['a number', '1'],
    ['null', 'null'],
  ])('refuses a payload that is %s', (_, payload) => {
    expect(refusal(() => checkClaimsSetText(jws(HEADER, payload)))).toEqual(malformed(/^token payload is not a JSON object$/));
  });

  it.each([
    ['invalid UTF-8', Buffer.concat([Buffer.from('{"sub":"'), Buffer.from([0xff]), Buffer.from('"}')])],
    ['a byte order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(PAYLOAD))])],
    ['UTF-16', Buffer.from(JSON.stringify(PAYLOAD), 'utf16le')],
    ['not JSON', 'sub=alice'],
    ['an empty payload', ''],
  ])('refuses a payload in %s', (_, payload) => {
    expect(refusal(() => checkClaimsSetText(jws(HEADER, payload)))).toEqual(malformed(/^token payload is not UTF-8 JSON$/));
  });
});

describe('isCanonicalBase64url', () => {
  it.each([
    ['', false],
    ['A', false], // a length of 1 mod 4 encodes no whole byte
    ['AA', true],
    ['AB', false],
    ['AAA', true],
    ['AAB', false],
    ['AAAA', true],
    ['AAAAA', false],
    ['_-8', true],
    ['AA==', false],
    ['AA+/', false],
  ])('%j is canonical: %p', (segment, canonical) => {
    expect(isCanonicalBase64url(segment)).toBe(canonical);
  });

  it('holds for the encoding of every 0–3 byte value of a sample', () => {
    for (let i = 0; i < 4096; i++) {
      const bytes = Buffer.from([i & 0xff, i >> 8, (i * 31) & 0xff]).subarray(0, (i % 3) + 1);
      expect(isCanonicalBase64url(bytes.toString('base64url'))).toBe(true);
    }
  });
});

describe('refuseForeignTokenType', () => {
  it.each([undefined, 'JWT', 'jwt', 'application/jwt', 'application/JWT'])('lets typ %p through', (typ) => {
    expect(() => refuseForeignTokenType({ alg: 'RS256', typ })).not.toThrow();
  });

  it.each([
    ['at+jwt', 'at+jwt'],
    ['AT+JWT', 'at+jwt'],
    ['application/at+jwt', 'at+jwt'],
    ['Application/AT+JWT', 'at+jwt'],
    ['logout+jwt', 'logout+jwt'],
    ['dpop+jwt', 'dpop+jwt'],
    ['secevent+jwt', 'secevent+jwt'],
    ['token-introspection+jwt', 'token-introspection+jwt'],
    ['client-authentication+jwt', 'client-authentication+jwt'],
  ])('refuses typ %j as a subject token (wrong_token_type)', (typ, normalised) => {
    expect(refusal(() => refuseForeignTokenType({ alg: 'RS256', typ }))).toEqual({
      code: 'invalid_grant', status: 400, reason: 'wrong_token_type', message: `tokens of type "${normalised}" are not accepted as subject tokens`,
    });
  });
});
