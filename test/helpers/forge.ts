/**
 * Builds compact JWS byte by byte, so tests can present tokens no well-behaved library
 * would produce: raw JSON text (`1e400`, duplicate keys), `alg: none`, HMAC keyed with the
 * issuer's public key, tampered signatures.
 */
import { createHmac, createPublicKey, createSign, KeyObject, sign as cryptoSign } from 'node:crypto';
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

// ─── Raw signers for hostile tokens (added for test/security/jwt-attacks.int.test.ts) ───

/** Signs the JWS signing input (ASCII `header.payload`) and returns the raw signature bytes. */
export type RawSigner = (signingInput: string) => Buffer;

/** A compact JWS from a header and payload (objects, raw JSON text, or raw bytes) and a raw signer. */
export function forgeJwsWith(header: string | object | Buffer, payload: string | object | Buffer, sign: RawSigner): string {
  const input = `${segment(header)}.${segment(payload)}`;
  return `${input}.${sign(input).toString('base64url')}`;
}

const segment = (part: string | object | Buffer) => (Buffer.isBuffer(part) ? part.toString('base64url') : b64url(json(part)));

const HMAC_HASH = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' } as const;
export type HmacAlgorithm = keyof typeof HMAC_HASH;

/** HMAC with any secret: the classic "HS256 keyed with the public key" forgery, for each HS size. */
export function hmacSigner(alg: HmacAlgorithm, secret: string | Buffer): RawSigner {
  return (input) => createHmac(HMAC_HASH[alg], secret).update(input).digest();
}

/** RSASSA-PKCS1-v1_5 with SHA-256 (RS256), from a jose CryptoKey or a KeyObject. */
export function rs256Signer(key: CryptoKey | KeyObject): RawSigner {
  const privateKey = key instanceof KeyObject ? key : KeyObject.from(key);
  return (input) => cryptoSign('sha256', Buffer.from(input), privateKey);
}

/** ECDSA P-256 with SHA-256 (ES256), JOSE form: r ‖ s, 32 bytes each (RFC 7518 §3.4). */
export function es256Signer(key: CryptoKey | KeyObject): RawSigner {
  const privateKey = key instanceof KeyObject ? key : KeyObject.from(key);
  return (input) => cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
}

/** A fixed signature, whatever the input (all-zero, truncated, hand-built r ‖ s). */
export const constantSigner = (signature: Buffer): RawSigner => () => signature;

/** The order n of the P-256 group. */
export const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** An ECDSA signature in JOSE form from integers r and s, each big-endian in `size` bytes (truncated to the low bytes if larger). */
export function ecdsaSignature(r: bigint, s: bigint, size = 32): Buffer {
  return Buffer.concat([fixedBytes(r, size), fixedBytes(s, size)]);
}

/** r and s of a JOSE-form ECDSA signature. */
export function ecdsaParts(signature: Buffer): { r: bigint; s: bigint } {
  const half = signature.length / 2;
  return { r: BigInt(`0x${signature.subarray(0, half).toString('hex')}`), s: BigInt(`0x${signature.subarray(half).toString('hex')}`) };
}

function fixedBytes(value: bigint, size: number): Buffer {
  const hex = value.toString(16).padStart(size * 2, '0');
  return Buffer.from(hex.slice(hex.length - size * 2), 'hex');
}

/**
 * Every common serialisation of a public key, as an attacker would try them as an HMAC
 * secret: PEM and DER (SPKI, and PKCS#1 for RSA), the JWK as JSON, the raw modulus or point.
 */
/** (A private key stands for its public half.) */
export function publicKeyEncodings(key: CryptoKey | KeyObject, jwkExtras: Record<string, unknown> = {}): Record<string, string | Buffer> {
  const given = key instanceof KeyObject ? key : KeyObject.from(key);
  const publicKey = given.type === 'public' ? given : createPublicKey(given);
  const jwk = publicKey.export({ format: 'jwk' });
  const spkiPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const encodings: Record<string, string | Buffer> = {
    'PEM SPKI': spkiPem,
    'PEM SPKI without the final newline': spkiPem.trimEnd(),
    'DER SPKI': publicKey.export({ type: 'spki', format: 'der' }),
    'JWK JSON': JSON.stringify(jwk),
    'JWK JSON as published (kid, alg, use)': JSON.stringify({ ...jwk, ...jwkExtras }),
  };
  if (jwk.kty === 'RSA') {
    encodings['PEM PKCS#1'] = publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    encodings['DER PKCS#1'] = publicKey.export({ type: 'pkcs1', format: 'der' });
    encodings['modulus bytes'] = Buffer.from(String(jwk.n), 'base64url');
    encodings['modulus as base64url text'] = String(jwk.n);
  } else {
    const x = Buffer.from(String(jwk.x), 'base64url');
    const y = Buffer.from(String(jwk.y), 'base64url');
    encodings['uncompressed point'] = Buffer.concat([Buffer.from([4]), x, y]);
    encodings['compressed point'] = Buffer.concat([Buffer.from([2 + (y[y.length - 1]! & 1)]), x]);
    encodings['x coordinate'] = x;
  }
  return encodings;
}

/**
 * A self-signed X.509 v3 certificate (DER) for `x5c` headers, signed with sha256WithRSAEncryption
 * or ecdsa-with-SHA256 according to the key: an attacker's own "certificate chain".
 */
export function selfSignedCertificate(privateKey: CryptoKey | KeyObject, publicKey: CryptoKey | KeyObject, commonName: string): Buffer {
  const priv = privateKey instanceof KeyObject ? privateKey : KeyObject.from(privateKey);
  const pub = publicKey instanceof KeyObject ? publicKey : KeyObject.from(publicKey);
  const rsa = pub.asymmetricKeyType === 'rsa';
  const algorithm = rsa ? der(0x30, oid('1.2.840.113549.1.1.11'), der(0x05)) : der(0x30, oid('1.2.840.10045.4.3.2'));
  const name = der(0x30, der(0x31, der(0x30, oid('2.5.4.3'), der(0x0c, Buffer.from(commonName)))));
  const time = (date: Date) => der(0x17, Buffer.from(`${date.toISOString().slice(2, 19).replace(/[-:T]/g, '')}Z`));
  const tbs = der(
    0x30,
    der(0xa0, der(0x02, Buffer.from([2]))),
    der(0x02, Buffer.from([0x01, 0x23, 0x45, 0x67])),
    algorithm,
    name,
    der(0x30, time(new Date(Date.now() - 3600_000)), time(new Date(Date.now() + 365 * 86400_000))),
    name,
    pub.export({ type: 'spki', format: 'der' }),
  );
  const signature = cryptoSign('sha256', tbs, priv);
  return der(0x30, tbs, algorithm, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
}

function der(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const octets: number[] = [];
  for (let rest = body.length; rest > 0; rest >>>= 8) octets.unshift(rest & 0xff);
  const length = body.length < 0x80 ? Buffer.from([body.length]) : Buffer.from([0x80 | octets.length, ...octets]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let value = arc >>> 7; value > 0; value >>>= 7) chunk.unshift((value & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}
