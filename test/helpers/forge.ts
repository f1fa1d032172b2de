/**
 * Builds compact JWS byte by byte, so tests can present tokens no well-behaved library
 * would produce: raw JSON text (`1e400`, duplicate keys), `alg: none`, HMAC keyed with the
 * issuer's public key, tampered signatures.
 */
import { createHmac, createSign, KeyObject } from 'node:crypto';
import type { CryptoKey } from 'jose';

export const b64url = (input: string | Buffer) => Buffer.from(input).toString('base64url');
const json = (value: string | object) => (typeof value === 'string' ? value : JSON.stringify(value));

export type Signer =
  | { kind: 'rs256'; key: CryptoKey }
  | { kind: 'hs256'; secret: string | Buffer }
  | { kind: 'none' }
  | { kind: 'garbage' };

export function forgeJws(header: string | object, payload: string | object, signer: Signer): string {
  const input = `${b64url(json(header))}.${b64url(json(payload))}`;
  return `${input}.${signature(input, signer)}`;
}

function signature(input: string, signer: Signer): string {
  switch (signer.kind) {
    case 'rs256':
      return createSign('RSA-SHA256').update(input).sign(KeyObject.from(signer.key)).toString('base64url');
    case 'hs256':
      return createHmac('sha256', signer.secret).update(input).digest('base64url');
    case 'none':
      return '';
    case 'garbage':
      return b64url('not a signature at all, but base64url all the same');
  }
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);
