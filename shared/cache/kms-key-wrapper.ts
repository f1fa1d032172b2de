/**
 * Wraps data-encryption keys with a Cloud KMS symmetric key (Encrypt / Decrypt), with the
 * end-to-end CRC32C integrity checks Google recommends
 * (https://cloud.google.com/kms/docs/data-integrity-guidelines):
 *  - request: `plaintextCrc32c` / `ciphertextCrc32c` and `additionalAuthenticatedDataCrc32c`;
 *  - encrypt response: `verifiedPlaintextCrc32c`, `verifiedAdditionalAuthenticatedDataCrc32c`,
 *    `ciphertextCrc32c` = crc32c(ciphertext), and `name` is a version of the requested key;
 *  - decrypt response: `plaintextCrc32c` = crc32c(plaintext).
 * A failed check is thrown (code DATA_LOSS); the caller may simply try again.
 *
 * @google-cloud/kms (and google-gax, gRPC, protobufjs under it) takes ~300 ms to load, so it is
 * imported on first use, not at cold start; `DEK_AAD` binds every wrapped key to its purpose.
 *
 * Errors are `KmsError`s whose message names the operation, the key and the google.rpc status,
 * and never carries key material: the client's own error is NOT attached as `cause`, because
 * a GaxiosError's `config.body` holds the request — the plaintext DEK, base64-encoded.
 *
 * Deadline: `timeoutMs` is passed to gax as the call `timeout` (the gRPC transport turns it
 * into a per-attempt deadline and the total retry budget) and is also enforced here, because
 * gax's REST transport (`fallback`) ignores per-attempt deadlines and would wait forever on
 * a server that never answers.
 */
import type { KeyManagementServiceClient } from '@google-cloud/kms';
import { DEFAULTS } from '../config/defaults';
import { isCryptoKeyName } from '../config/kms-key-name';
import { crc32c } from './crc32c';
import { DEK_AAD, type KeyWrapper } from './key-wrapper';

/** google.protobuf.Int64Value as the client hands it over: number, decimal string or Long. */
export interface Int64ValueLike {
  value?: number | string | { toString(): string } | null;
}

type BytesLike = Uint8Array | string;

export interface KmsEncryptRequest {
  name: string;
  plaintext: Buffer;
  additionalAuthenticatedData: Buffer;
  plaintextCrc32c: { value: number };
  additionalAuthenticatedDataCrc32c: { value: number };
}

export interface KmsEncryptResponse {
  name?: string | null;
  ciphertext?: BytesLike | null;
  ciphertextCrc32c?: Int64ValueLike | null;
  verifiedPlaintextCrc32c?: boolean | null;
  verifiedAdditionalAuthenticatedDataCrc32c?: boolean | null;
}

export interface KmsDecryptRequest {
  name: string;
  ciphertext: Buffer;
  additionalAuthenticatedData: Buffer;
  ciphertextCrc32c: { value: number };
  additionalAuthenticatedDataCrc32c: { value: number };
}

export interface KmsDecryptResponse {
  plaintext?: BytesLike | null;
  plaintextCrc32c?: Int64ValueLike | null;
}

/** gax call options this module uses. */
export interface KmsCallOptions {
  timeout?: number;
}

/** The part of `KeyManagementServiceClient` this module calls (the real client satisfies it). */
export interface KmsClientLike {
  encrypt(request: KmsEncryptRequest, options?: KmsCallOptions): Promise<readonly [KmsEncryptResponse, ...unknown[]]>;
  decrypt(request: KmsDecryptRequest, options?: KmsCallOptions): Promise<readonly [KmsDecryptResponse, ...unknown[]]>;
}

export interface KmsKeyWrapperOptions {
  /** projects/P/locations/L/keyRings/R/cryptoKeys/K (a CryptoKey, not a version). */
  keyName: string;
  /** A ready client (tests, or a shared instance); otherwise one is created on first use. */
  client?: KmsClientLike;
  /** Options for `new KeyManagementServiceClient(...)` (ignored when `client` is given). */
  clientOptions?: Record<string, unknown>;
  /** Deadline per wrap/unwrap, in milliseconds (default 5000). */
  timeoutMs?: number;
}

/** A Cloud KMS call that failed or whose response failed an integrity check. */
export class KmsError extends Error {
  /** google.rpc status name (NOT_FOUND, INVALID_ARGUMENT, UNAVAILABLE, DEADLINE_EXCEEDED, DATA_LOSS, ...) when known. */
  declare readonly code?: string;
  /** HTTP status, when the REST transport reported one. */
  declare readonly httpStatus?: number;

  constructor(message: string, details: { code?: string; httpStatus?: number } = {}) {
    super(message);
    this.name = 'KmsError';
    if (details.code !== undefined) this.code = details.code;
    if (details.httpStatus !== undefined) this.httpStatus = details.httpStatus;
  }
}

const DEFAULT_TIMEOUT_MS = DEFAULTS.kmsTimeoutMs;
const AAD_CRC32C = crc32c(DEK_AAD);
const MAX_SERVER_MESSAGE = DEFAULTS.dependencyMessageChars;

const GRPC_CODE_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

const HTTP_TO_RPC: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export function kmsKeyWrapper(options: KmsKeyWrapperOptions): KeyWrapper {
  const { keyName } = options;
  if (typeof keyName !== 'string' || !isCryptoKeyName(keyName)) {
    throw new TypeError(
      `invalid Cloud KMS key name ${JSON.stringify(String(keyName).slice(0, 200))}: expected projects/P/locations/L/keyRings/R/cryptoKeys/K`,
    );
  }
  if (options.client && options.clientOptions) throw new TypeError('pass either client or clientOptions, not both');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError(`timeoutMs must be a positive number, got ${timeoutMs}`);

  let clientPromise: Promise<KmsClientLike> | undefined = options.client ? Promise.resolve(options.client) : undefined;
  const getClient = (): Promise<KmsClientLike> => {
    clientPromise ??= createClient(options.clientOptions ?? {}).catch((err: unknown) => {
      clientPromise = undefined; // let the next call try again
      throw new KmsError(`Cloud KMS client could not be created: ${errorText(err)}`);
    });
    return clientPromise;
  };

  /** Runs one RPC under the deadline and turns every failure into a clean KmsError. */
  async function call<T>(op: 'encrypt' | 'decrypt', secrets: Uint8Array[], rpc: (client: KmsClientLike) => Promise<T>): Promise<T> {
    const client = await getClient();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new KmsError(`Cloud KMS ${op} with ${keyName} failed: DEADLINE_EXCEEDED: no answer within ${timeoutMs} ms`, { code: 'DEADLINE_EXCEEDED' })),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([rpc(client), deadline]);
    } catch (err) {
      if (err instanceof KmsError) throw err;
      throw toKmsError(op, keyName, err, secrets);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    keyName,

    async wrap(dek) {
      const [response] = await call('encrypt', [dek], (client) =>
        client.encrypt(
          {
            name: keyName,
            plaintext: dek,
            additionalAuthenticatedData: DEK_AAD,
            plaintextCrc32c: { value: crc32c(dek) },
            additionalAuthenticatedDataCrc32c: { value: AAD_CRC32C },
          },
          { timeout: timeoutMs },
        ),
      );
      const fail = (what: string): never => {
        throw new KmsError(`Cloud KMS encrypt with ${keyName}: integrity check failed: ${what}`, { code: 'DATA_LOSS' });
      };
      if (response.verifiedPlaintextCrc32c !== true) fail('the server did not verify the plaintext checksum');
      if (response.verifiedAdditionalAuthenticatedDataCrc32c !== true) fail('the server did not verify the additional authenticated data checksum');
      const versionName = response.name ?? '';
      if (!versionName.startsWith(`${keyName}/cryptoKeyVersions/`)) {
        fail(`the response names another key (${JSON.stringify(versionName.slice(0, MAX_SERVER_MESSAGE))})`);
      }
      const ciphertext = toBuffer(response.ciphertext);
      if (!ciphertext || ciphertext.length === 0) return fail('the response has no ciphertext');
      const checksum = int64(response.ciphertextCrc32c);
      if (checksum === undefined) fail('the response has no ciphertext checksum');
      if (checksum !== crc32c(ciphertext)) fail('the ciphertext does not match its checksum');
      return ciphertext;
    },

    async unwrap(wrapped) {
      const [response] = await call('decrypt', [wrapped], (client) =>
        client.decrypt(
          {
            name: keyName,
            ciphertext: wrapped,
            additionalAuthenticatedData: DEK_AAD,
            ciphertextCrc32c: { value: crc32c(wrapped) },
            additionalAuthenticatedDataCrc32c: { value: AAD_CRC32C },
          },
          { timeout: timeoutMs },
        ),
      );
      const fail = (what: string): never => {
        throw new KmsError(`Cloud KMS decrypt with ${keyName}: integrity check failed: ${what}`, { code: 'DATA_LOSS' });
      };
      const plaintext = toBuffer(response.plaintext) ?? Buffer.alloc(0);
      const checksum = int64(response.plaintextCrc32c);
      if (checksum === undefined) fail('the response has no plaintext checksum');
      if (checksum !== crc32c(plaintext)) fail('the plaintext does not match its checksum');
      if (plaintext.length === 0) fail('the response has no plaintext');
      return plaintext;
    },
  };
}

/** Loads @google-cloud/kms (on first use only) and creates a client. */
async function createClient(clientOptions: Record<string, unknown>): Promise<KmsClientLike> {
  const kms = await import('@google-cloud/kms');
  type Options = ConstructorParameters<typeof KeyManagementServiceClient>[0];
  const client: KeyManagementServiceClient = new kms.KeyManagementServiceClient(clientOptions as Options);
  // Set up auth and the stub now, where a failure (no credentials, say) is caught. Left to the
  // first call, the generated client runs `this.initialize().catch((err) => { throw err; })`,
  // an unhandled rejection that takes the process down, and keeps the rejected stub for good.
  try {
    await client.initialize();
  } catch (err) {
    void client.close().catch(() => undefined);
    throw err;
  }
  return client;
}

/** Bytes as the client returns them: a Buffer/Uint8Array, or base64 if so configured. */
function toBuffer(value: BytesLike | null | undefined): Buffer | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return Buffer.from(value, 'base64');
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** An Int64Value's value as a number, or undefined when absent or not an unsigned 32-bit integer. */
function int64(wrapper: Int64ValueLike | null | undefined): number | undefined {
  const value = wrapper?.value;
  if (value === null || value === undefined) return undefined;
  const text = typeof value === 'number' ? String(value) : value.toString();
  if (!/^\d{1,10}$/.test(text)) return undefined;
  const parsed = Number(text);
  return parsed <= 0xffffffff ? parsed : undefined;
}

interface ErrorFacts {
  message?: unknown;
  code?: unknown;
  status?: unknown;
  details?: unknown;
  cause?: unknown;
  response?: { status?: unknown; data?: unknown };
}

/**
 * A KmsError from whatever the client threw: a gax GoogleError (gRPC: numeric code, bare
 * message in `details`; REST-parsed: numeric code, message), a GaxiosError (google-gax 5 with
 * gaxios 7: `status`/`code` are the HTTP status and `message` is the response body, a
 * google.rpc.Status JSON), or a network/auth error. Only the status and the server's message
 * are kept, cut short and scrubbed of the request's key material.
 */
function toKmsError(op: string, keyName: string, err: unknown, secrets: Uint8Array[]): KmsError {
  const facts: ErrorFacts = typeof err === 'object' && err !== null ? (err as ErrorFacts) : { message: String(err) };
  const httpStatus = typeof facts.status === 'number' ? facts.status : typeof facts.response?.status === 'number' ? facts.response.status : undefined;
  let code: string | undefined;
  let text: string | undefined;

  if (httpStatus !== undefined) {
    const body = parseRpcStatus(facts.message) ?? parseRpcStatus(facts.response?.data);
    code = body?.status ?? HTTP_TO_RPC[httpStatus] ?? 'UNKNOWN';
    text = body?.message ?? `HTTP ${httpStatus}`;
  } else if (typeof facts.code === 'number' && Number.isInteger(facts.code) && facts.code >= 0 && facts.code <= 16) {
    code = GRPC_CODE_NAMES[facts.code];
    text = typeof facts.details === 'string' && facts.details !== '' ? facts.details : stripGrpcPrefix(String(facts.message ?? ''));
  } else {
    const systemCode = systemErrorCode(err);
    text = String(facts.message ?? 'unknown error') + (systemCode ? ` (${systemCode})` : '');
    if (systemCode === 'ECONNREFUSED' || systemCode === 'ECONNRESET' || systemCode === 'ENOTFOUND' || systemCode === 'ETIMEDOUT') code = 'UNAVAILABLE';
  }
  const safe = redact(text, secrets).replace(/\s+/g, ' ').trim().slice(0, MAX_SERVER_MESSAGE);
  return new KmsError(`Cloud KMS ${op} with ${keyName} failed: ${code ? `${code}: ` : ''}${safe}`, {
    ...(code !== undefined ? { code } : {}),
    ...(httpStatus !== undefined ? { httpStatus } : {}),
  });
}

function parseRpcStatus(body: unknown): { status?: string; message?: string } | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const parsed = JSON.parse(body) as unknown;
    const error = (Array.isArray(parsed) ? parsed[0] : parsed) as { error?: { status?: unknown; message?: unknown } } | undefined;
    if (!error?.error) return undefined;
    const result: { status?: string; message?: string } = {};
    if (typeof error.error.status === 'string') result.status = error.error.status;
    if (typeof error.error.message === 'string') result.message = error.error.message;
    return result;
  } catch {
    return undefined;
  }
}

/** "5 NOT_FOUND: CryptoKey ... not found." → "CryptoKey ... not found." */
function stripGrpcPrefix(message: string): string {
  return message.replace(/^\d+ [A-Z_]+: /, '');
}

function systemErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as ErrorFacts).cause, depth++) {
    const code = (e as ErrorFacts).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
  }
  return undefined;
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, MAX_SERVER_MESSAGE);
}

/** Removes any base64, base64url or hex rendering of the secrets from `text`. */
function redact(text: string, secrets: Uint8Array[]): string {
  let result = text;
  for (const secret of secrets) {
    const buffer = Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength);
    if (buffer.length === 0) continue;
    for (const form of [buffer.toString('base64'), buffer.toString('base64url'), buffer.toString('hex')]) {
      result = result.split(form).join('[redacted]');
      const unpadded = form.replace(/=+$/, '');
      if (unpadded !== form) result = result.split(unpadded).join('[redacted]');
    }
  }
  return result;
}
