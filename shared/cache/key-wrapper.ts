/**
 * Wraps and unwraps data-encryption keys (DEKs). Production wraps with Cloud KMS; development
 * and tests with a local key-encryption key (KEK) held in memory.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export interface KeyWrapper {
  /** Identifies the wrapping key; stored with each document so a key change is detected. */
  readonly keyName: string;
  wrap(dek: Buffer): Promise<Buffer>;
  unwrap(wrapped: Buffer): Promise<Buffer>;
}

/** Binds wrapped DEKs to their purpose. */
export const DEK_AAD = Buffer.from('token-broker/cache-dek/v1');

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** AES-256-GCM with a local 32-byte KEK. Development and tests only. */
export function localKeyWrapper(kek: Buffer): KeyWrapper {
  if (kek.length !== 32) throw new TypeError('the local cache key must be 32 bytes');
  const keyName = `local:${createHash('sha256').update(kek).digest('hex').slice(0, 16)}`;
  return {
    keyName,
    async wrap(dek) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', kek, iv).setAAD(DEK_AAD);
      const body = Buffer.concat([cipher.update(dek), cipher.final()]);
      return Buffer.concat([iv, body, cipher.getAuthTag()]);
    },
    async unwrap(wrapped) {
      const iv = wrapped.subarray(0, IV_BYTES);
      const tag = wrapped.subarray(wrapped.length - TAG_BYTES);
      const body = wrapped.subarray(IV_BYTES, wrapped.length - TAG_BYTES);
      const decipher = createDecipheriv('aes-256-gcm', kek, iv).setAAD(DEK_AAD).setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]);
    },
  };
}
