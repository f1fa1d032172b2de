/**
 * How verification failures reach the caller: every failure to import or use a key is a
 * defined refusal (`400 invalid_grant`, reason `key_unusable`), never a 500; key outages stay
 * retryable 503s; jose's own errors keep their reasons.
 */
import { errors as joseErrors } from 'jose';
import { KeyFetchError } from '../../shared/identity/bounded-fetch';
import { verificationError } from '../../shared/identity/oidc-token';

const ISSUER = 'https://issuer.example.test';

it.each([
  ['a modulus jose will not use', new TypeError('RS256 requires key modulusLength to be 2048 bits or larger')],
  ['a CryptoKey of the wrong algorithm', new TypeError('CryptoKey does not support this operation')],
  ['a WebCrypto import failure', new DOMException('Invalid keyData', 'DataError')],
])('%s → 400 invalid_grant key_unusable, the detail for operators only', (_name, error) => {
  const refused = verificationError(error, ISSUER);
  expect({ code: refused.code, status: refused.status, reason: refused.reason }).toEqual({ code: 'invalid_grant', status: 400, reason: 'key_unusable' });
  expect(refused.description).toBe('the issuer key for this token cannot be used');
  expect(refused.detail).toContain(ISSUER);
  expect(refused.description).not.toContain(error.message);
});

it('keeps a key outage a retryable 503', () => {
  const refused = verificationError(new KeyFetchError('fetching https://issuer.example.test/jwks failed'), ISSUER);
  expect({ code: refused.code, status: refused.status, reason: refused.reason, retry: refused.retryAfterSeconds }).toEqual({
    code: 'temporarily_unavailable', status: 503, reason: 'issuer_keys_unavailable', retry: 30,
  });
});

it('keeps jose\'s own refusals', () => {
  expect(verificationError(new joseErrors.JWSSignatureVerificationFailed(), ISSUER).reason).toBe('bad_signature');
  expect(verificationError(new joseErrors.JWKSNoMatchingKey(), ISSUER).reason).toBe('unknown_key');
});

it('leaves anything else an internal error (a 500 whose message stays in the process)', () => {
  const refused = verificationError(new RangeError('a bug of ours'), ISSUER);
  expect({ code: refused.code, status: refused.status, reason: refused.reason }).toEqual({ code: 'server_error', status: 500, reason: 'internal_error' });
  expect(refused.description).not.toContain('a bug of ours');
});
