/**
 * Envelope encryption of cached tokens: AES-256-GCM under a data-encryption key (DEK), the
 * DEK wrapped by a KeyWrapper (Cloud KMS in production). The AAD binds each ciphertext to
 * its cache key, so a document copied or moved to another key fails to decrypt.
 *
 * One DEK serves many documents for a while (rotated every `dekLifetimeMs`), so KMS is called
 * once per DEK and instance, not once per token; unwrapped DEKs are kept in a bounded map.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { KeyWrapper } from './key-wrapper';
import { KmsError } from './kms-key-wrapper';
import { LRUCache } from 'lru-cache';
import { DEFAULTS } from '../config/defaults';

export interface Sealed {
  readonly keyName: string;
  readonly wrappedKey: Buffer;
  readonly iv: Buffer;
  /** Ciphertext followed by the 16-byte GCM tag. */
  readonly ciphertext: Buffer;
}

/** A sealed value that could not be opened: wrong key, tampered, moved, or unwrapping failed. */
export class DecryptError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DecryptError';
  }
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
const AAD_PREFIX = 'token-broker/cache-entry/v1:';

export interface EnvelopeOptions {
  /** How long one DEK is used for new documents (default one hour). */
  dekLifetimeMs?: number;
  now?: () => number;
}

export class EnvelopeCipher {
  private current?: Promise<{ dek: Buffer; wrapped: Buffer; createdAt: number }>;
  private readonly unwrapped = new LRUCache<string, Promise<Buffer>>({ max: DEFAULTS.cacheUnwrappedKeys });
  private readonly dekLifetimeMs: number;
  private readonly now: () => number;

  constructor(private readonly wrapper: KeyWrapper, options: EnvelopeOptions = {}) {
    this.dekLifetimeMs = options.dekLifetimeMs ?? DEFAULTS.cacheDekLifetimeMs;
    this.now = options.now ?? Date.now;
  }

  async seal(plaintext: Buffer, context: string): Promise<Sealed> {
    const { dek, wrapped } = await this.currentDek();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', dek, iv).setAAD(aad(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return { keyName: this.wrapper.keyName, wrappedKey: wrapped, iv, ciphertext };
  }

  async open(sealed: Sealed, context: string): Promise<Buffer> {
    if (sealed.keyName !== this.wrapper.keyName) throw new DecryptError(`sealed under another key (${sealed.keyName})`);
    if (sealed.iv.length !== IV_BYTES || sealed.ciphertext.length < TAG_BYTES) throw new DecryptError('malformed sealed value');
    const dek = await this.dekFor(sealed.wrappedKey);
    try {
      const tag = sealed.ciphertext.subarray(sealed.ciphertext.length - TAG_BYTES);
      const body = sealed.ciphertext.subarray(0, sealed.ciphertext.length - TAG_BYTES);
      const decipher = createDecipheriv('aes-256-gcm', dek, sealed.iv).setAAD(aad(context)).setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]);
    } catch (cause) {
      throw new DecryptError('authentication failed (tampered, or bound to another cache key)', { cause });
    }
  }

  private currentDek(): Promise<{ dek: Buffer; wrapped: Buffer; createdAt: number }> {
    const now = this.now();
    const current = this.current;
    if (current) {
      return current.then((entry) => (now - entry.createdAt < this.dekLifetimeMs ? entry : this.rotate(now)));
    }
    return this.rotate(now);
  }

  private rotate(now: number): Promise<{ dek: Buffer; wrapped: Buffer; createdAt: number }> {
    const dek = randomBytes(32);
    const next = this.wrapper.wrap(dek).then((wrapped) => {
      this.unwrapped.set(fingerprint(wrapped), Promise.resolve(dek));
      return { dek, wrapped, createdAt: now };
    });
    this.current = next;
    next.catch(() => {
      if (this.current === next) this.current = undefined;
    });
    return next;
  }

  private dekFor(wrapped: Buffer): Promise<Buffer> {
    const id = fingerprint(wrapped);
    let dek = this.unwrapped.get(id);
    if (!dek) {
      dek = this.wrapper.unwrap(wrapped).catch((cause: unknown) => {
        this.unwrapped.delete(id);
        // A KmsError's message names the status (UNAVAILABLE, INVALID_ARGUMENT, DATA_LOSS, ...)
        // and never key material, so operators can tell an outage from a tampered key.
        const why = cause instanceof KmsError ? `: ${cause.message}` : '';
        throw new DecryptError(`the data key could not be unwrapped${why}`, { cause });
      });
      this.unwrapped.set(id, dek);
    }
    return dek;
  }
}

function aad(context: string): Buffer {
  return Buffer.from(AAD_PREFIX + context);
}

function fingerprint(wrapped: Buffer): string {
  return createHash('sha256').update(wrapped).digest('hex');
}
