/**
 * Hashes of client secrets and broker API keys, as the policy stores them: scrypt
 * (RFC 7914) in a PHC-style string,
 *
 *     $scrypt$ln=15,r=8,p=1$<salt, unpadded base64>$<32-byte key, unpadded base64>
 *
 * where N = 2^ln. The policy never holds a secret, only this string; verification recomputes
 * the key from the presented secret and compares in constant time.
 *
 * Parameters are checked both ways when a policy is loaded: too weak (ln < 14, r < 8) is
 * refused, and so is anything so costly that a single verification would be a denial of
 * service (ln > 20, r > 16, p > 4). Error messages never repeat the string they reject: an
 * operator who pastes a secret where its hash belongs must not see it echoed into a log.
 */
import { LRUCache } from 'lru-cache';
import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { DEFAULTS } from '../config/defaults';

export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  ln: number;
  /** Block size. */
  r: number;
  /** Parallelism. */
  p: number;
}

/** A validated secret hash, ready for {@link verifySecret}. */
export interface ParsedHash extends Readonly<ScryptParams> {
  readonly algorithm: 'scrypt';
  readonly salt: Buffer;
  /** The stored derived key (always {@link KEY_BYTES} long). */
  readonly hash: Buffer;
  /** The canonical encoded form (what the policy holds). */
  readonly encoded: string;
}

/** What {@link hashSecret} uses unless told otherwise: N = 32768, r = 8, p = 1 (32 MiB). */
export const DEFAULT_SCRYPT_PARAMS: Readonly<ScryptParams> = Object.freeze({ ...DEFAULTS.scrypt });

/** Accepted parameter ranges: below the minimum is weak, above the maximum a DoS risk. */
export const SCRYPT_LIMITS = DEFAULTS.scryptLimits;

export const SALT_BYTES = DEFAULTS.scryptSaltBytes;
/** The derived key's length: part of the hash format (every stored hash has it), not a tunable. */
export const KEY_BYTES = 32;
const MAX_SALT_BYTES = DEFAULTS.scryptMaxSaltBytes;
const MAX_ENCODED_LENGTH = DEFAULTS.secretHashMaxLength;
const FORMAT = '$scrypt$ln=<cost>,r=<block size>,p=<parallelism>$<salt>$<hash>';

/** Other hash schemes' identifiers: named in an error (anything else might be a pasted secret). */
const KNOWN_ALGORITHMS = new Set(['argon2id', 'argon2i', 'argon2d', 'bcrypt', 'pbkdf2', 'pbkdf2-sha256', 'pbkdf2-sha512', '2a', '2b', '2y', '1', '5', '6', '7', 'y', 'gy']);
/** Unpadded standard base64 (the PHC string format's alphabet). */
const B64 = /^[A-Za-z0-9+/]+$/;
/** A decimal without sign or leading zeros, at most two digits. */
const PARAMS = /^ln=([1-9][0-9]?),r=([1-9][0-9]?),p=([1-9][0-9]?)$/;

function invalid(message: string): TypeError {
  return new TypeError(`invalid secret hash: ${message}`);
}

/** Decodes unpadded base64, refusing any non-canonical spelling (padding, stray bits). */
function decodeB64(text: string, what: string): Buffer {
  if (!B64.test(text)) throw invalid(`the ${what} must be unpadded base64 (A-Z a-z 0-9 + /)`);
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64').replace(/=+$/, '') !== text) {
    throw invalid(`the ${what} is not canonical base64 (a length of 4n+1 characters, or non-zero trailing bits)`);
  }
  return bytes;
}

/** Throws if the parameters are outside {@link SCRYPT_LIMITS}; `make` builds the error. */
function checkParams(params: ScryptParams, make: (message: string) => Error): void {
  for (const name of ['ln', 'r', 'p'] as const) {
    const value = params[name];
    const { min, max } = SCRYPT_LIMITS[name];
    if (!Number.isSafeInteger(value)) throw make(`${name} must be an integer`);
    if (value < min) throw make(`${name}=${value} is too weak (minimum ${name}=${min})`);
    if (value > max) {
      throw make(`${name}=${value} exceeds the maximum ${name}=${max} (verification would cost enough to be a denial-of-service risk)`);
    }
  }
}

/**
 * Parses and validates a stored secret hash. Throws a TypeError whose message says exactly
 * what is wrong (never quoting the input): meant for policy load time.
 */
export function parseSecretHash(encoded: string): ParsedHash {
  if (typeof encoded !== 'string') throw invalid('must be a string');
  if (encoded.length > MAX_ENCODED_LENGTH) throw invalid(`longer than ${MAX_ENCODED_LENGTH} characters`);
  const fields = encoded.split('$');
  if (fields.length !== 5 || fields[0] !== '') {
    throw invalid(`must have the form ${FORMAT}`);
  }
  const [, algorithm = '', params = '', salt = '', hash = ''] = fields;
  if (algorithm !== 'scrypt') {
    const shown = KNOWN_ALGORITHMS.has(algorithm) ? ` "${algorithm}"` : '';
    throw invalid(`algorithm${shown} is not supported (only "scrypt")`);
  }
  const match = PARAMS.exec(params);
  if (!match) {
    throw invalid('parameters must be "ln=<n>,r=<n>,p=<n>", in that order, as decimal numbers without leading zeros');
  }
  const parsed: ScryptParams = { ln: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  checkParams(parsed, invalid);
  const saltBytes = decodeB64(salt, 'salt');
  if (saltBytes.length < SALT_BYTES || saltBytes.length > MAX_SALT_BYTES) {
    throw invalid(`the salt is ${saltBytes.length} bytes (must be ${SALT_BYTES} to ${MAX_SALT_BYTES})`);
  }
  const hashBytes = decodeB64(hash, 'hash');
  if (hashBytes.length !== KEY_BYTES) {
    throw invalid(`the hash is ${hashBytes.length} bytes (must be ${KEY_BYTES})`);
  }
  return Object.freeze({ algorithm: 'scrypt', ...parsed, salt: saltBytes, hash: hashBytes, encoded });
}

/**
 * Memory scrypt needs (OpenSSL's own accounting: 128·r·(N+2) for V plus 128·r·p for B).
 * Node's default `maxmem` (32 MiB) is just short of what ln=15, r=8 needs, so it is always
 * passed explicitly; the parameter caps bound it (ln=20, r=16 would need 2 GiB).
 */
export function scryptMemoryBytes({ ln, r, p }: ScryptParams): number {
  return 128 * r * (2 ** ln + 2) + 128 * r * p;
}

function deriveKey(secret: string, salt: Buffer, keyLength: number, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      secret,
      salt,
      keyLength,
      { N: 2 ** params.ln, r: params.r, p: params.p, maxmem: scryptMemoryBytes(params) },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

/** Hashes a secret with a fresh salt (DEFAULTS.scryptSaltBytes). Runs on the libuv thread pool (~0.1 s at the defaults). */
export async function hashSecret(secret: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<string> {
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('secret must be a non-empty string');
  checkParams(params, (message) => new RangeError(`scrypt parameters: ${message}`));
  const salt = randomBytes(SALT_BYTES);
  const key = await deriveKey(secret, salt, KEY_BYTES, params);
  const b64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`;
}

/**
 * Whether `secret` matches the hash: the key is recomputed and compared with
 * `timingSafeEqual` (the lengths are equal by construction). A wrong secret, of any length
 * or content, yields false; only a failure of scrypt itself (e.g. out of memory) rejects.
 */
export async function verifySecret(secret: string, parsed: ParsedHash): Promise<boolean> {
  if (typeof secret !== 'string') throw new TypeError('secret must be a string');
  const key = await deriveKey(secret, parsed.salt, parsed.hash.length, parsed);
  return timingSafeEqual(key, parsed.hash);
}

export interface SecretVerifierOptions {
  /** How long a success is remembered (default 5 minutes, from the scrypt verification; hits do not extend it). */
  ttlMs?: number;
  /** Most successes remembered; the least recently used goes first (default 1000). */
  maxEntries?: number;
  /** Clock in milliseconds (injectable for tests). */
  now?: () => number;
  /** The full verification (injectable for tests). */
  verify?: (secret: string, parsed: ParsedHash) => Promise<boolean>;
}

/**
 * Verification with a small memory of recent successes, so a busy client does not pay a
 * full scrypt on every request.
 *
 * Why successes only:
 * - A wrong secret always costs the full scrypt, so online guessing stays as slow as the
 *   hash makes it; only someone who already holds the right secret ever takes the fast path,
 *   so the fast path's timing tells a caller nothing they do not know.
 * - Only a valid secret can create an entry, so an attacker cannot fill the cache with
 *   junk to evict legitimate clients' entries (with a failure cache, every guess would).
 * - Nothing about wrong secrets (often typos of the right one) is kept in memory.
 *
 * Entries are keyed by HMAC-SHA256, under a random key made per verifier (per process),
 * of the hash string and the secret: neither the secret nor a fast unkeyed hash of it is
 * stored, and the hash string in the key means a secret removed from the policy (or
 * rotated) is never answered from the cache, because its hash is no longer looked up.
 *
 * Concurrent verifications of the same (hash, secret) share one scrypt computation, so a
 * burst from one client after a cold start costs one hash, not one per request; each
 * request still waits for that computation, so wrong secrets gain no speed from it.
 */
export class SecretVerifier {
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly fullVerify: (secret: string, parsed: ParsedHash) => Promise<boolean>;
  private readonly hmacKey = randomBytes(32);
  /** Remembered successes, by cache key, each until `ttlMs` after its verification started; least recently used forgotten first. */
  private readonly successes?: LRUCache<string, number>;
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(options: SecretVerifierOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULTS.secretCacheTtlMs;
    this.maxEntries = options.maxEntries ?? DEFAULTS.secretCacheEntries;
    this.now = options.now ?? Date.now;
    this.fullVerify = options.verify ?? verifySecret;
    if (!(this.ttlMs >= 0) || !Number.isSafeInteger(this.maxEntries) || this.maxEntries < 0) {
      throw new RangeError('SecretVerifier: ttlMs and maxEntries must be non-negative');
    }
    if (this.maxEntries > 0 && this.ttlMs > 0) this.successes = new LRUCache({ max: this.maxEntries });
  }

  /** Number of remembered successes (expired ones may still count until next touched). */
  get size(): number {
    return this.successes?.size ?? 0;
  }

  /** Forgets every remembered success (e.g. when the policy is reloaded). */
  clear(): void {
    this.successes?.clear();
  }

  async verify(secret: string, parsed: ParsedHash): Promise<boolean> {
    if (typeof secret !== 'string') throw new TypeError('secret must be a string');
    const key = this.cacheKey(secret, parsed.encoded);
    const expires = this.successes?.get(key); // a hit makes it the most recently used, without extending it
    if (expires !== undefined) {
      if (this.now() < expires) return true;
      this.successes?.delete(key);
    }
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const started = this.now();
    const verification = this.fullVerify(secret, parsed)
      .then((ok) => {
        if (ok) this.remember(key, started + this.ttlMs);
        return ok;
      })
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, verification);
    return verification;
  }

  private remember(key: string, expires: number): void {
    this.successes?.set(key, expires);
  }

  private cacheKey(secret: string, encoded: string): string {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(Buffer.byteLength(encoded, 'utf8'));
    return createHmac('sha256', this.hmacKey).update(length).update(encoded, 'utf8').update(secret, 'utf8').digest('base64');
  }
}
