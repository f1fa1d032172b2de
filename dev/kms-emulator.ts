/**
 * Loopback emulator of the Cloud KMS REST API (v1), just the two calls the token broker's
 * cache makes: `Encrypt` and `Decrypt` of a symmetric (GOOGLE_SYMMETRIC_ENCRYPTION) key.
 *
 * FOR TESTS AND LOCAL DEV MODE ONLY. It binds 127.0.0.1, speaks plain HTTP, keeps its keys
 * in memory (a random AES-256 key per crypto key, generated at start-up, gone at close) and
 * trusts a fixed list of bearer tokens. Never point production code at it.
 *
 * What it emulates (wire format checked against the `google.cloud.kms.v1` protos and HTTP
 * rules shipped in @google-cloud/kms 5.6.0, and against what google-gax 5's REST transport
 * actually sends):
 *
 *  - `POST /v1/{name=projects/*\/locations/*\/keyRings/*\/cryptoKeys/**}:encrypt` — `name` is a
 *    CryptoKey, or its CryptoKeyVersion `.../cryptoKeyVersions/1` (every key here has exactly
 *    one version, the primary). Body (proto3 JSON, `body: "*"`, the name is only in the URL):
 *    `plaintext` and `additionalAuthenticatedData` as base64 strings, `plaintextCrc32c` and
 *    `additionalAuthenticatedDataCrc32c` as `google.protobuf.Int64Value`, i.e. the bare int64
 *    which proto3 JSON writes as a decimal string (numbers are accepted too, as Google's parser
 *    does). Response: `{ name: "<key>/cryptoKeyVersions/1", ciphertext, ciphertextCrc32c,
 *    verifiedPlaintextCrc32c, verifiedAdditionalAuthenticatedDataCrc32c, protectionLevel }`;
 *    a `verified*` flag is `true` only when the request carried that checksum (and it matched).
 *  - `POST /v1/{name=projects/*\/locations/*\/keyRings/*\/cryptoKeys/*}:decrypt` (a CryptoKey
 *    only, as the HTTP rule says). Body: `ciphertext`, `additionalAuthenticatedData`,
 *    `ciphertextCrc32c`, `additionalAuthenticatedDataCrc32c`. Response: `{ plaintext,
 *    plaintextCrc32c, usedPrimary: true, protectionLevel }`.
 *  - proto3 JSON output rules: fields holding their default value (`false`, empty) are omitted;
 *    `protectionLevel` is the enum name `"SOFTWARE"`, or the number `1` when the request asks
 *    for `$alt=json;enum-encoding=int` (google-gax's REST transport always does).
 *  - Request checksums are verified as KMS does: a mismatch is 400 INVALID_ARGUMENT "The
 *    checksum in field plaintext_crc32c did not match the data in field plaintext." (etc.).
 *  - Errors are google.rpc.Status JSON, `{"error":{"code","message","status","details"?}}`:
 *    unknown key → 404 NOT_FOUND "CryptoKey <name> not found."; wrong AAD, another key's or a
 *    tampered ciphertext → 400 INVALID_ARGUMENT "Decryption failed: the ciphertext is
 *    invalid."; no bearer → 401 UNAUTHENTICATED (ErrorInfo CREDENTIALS_MISSING); a bearer not
 *    in `callerTokens` → 401 UNAUTHENTICATED (ACCESS_TOKEN_TYPE_UNSUPPORTED); malformed JSON,
 *    unknown fields or bad base64 → 400 INVALID_ARGUMENT "Invalid JSON payload received. ...".
 *  - Fault injection: `failNext(status, count)` answers the next requests with that HTTP status
 *    and its canonical google.rpc status (503 → UNAVAILABLE, which gax retries);
 *    `corruptNext(kind, count)` damages the next successful responses so integrity checks can
 *    be tested; `stallNext(count)` never answers (until the client gives up or `close()`).
 *    Faults apply before authentication, like a failing front end.
 *  - Every request is recorded in `requests` (raw body, parsed JSON, lower-cased headers).
 *
 * Ciphertext format (the emulator's own; real KMS ciphertext is opaque too, so nothing may
 * depend on it): `"E1"` (2 bytes) ‖ IV (12 random bytes) ‖ AES-256-GCM(key of the CryptoKey,
 * IV, AAD = the request's additionalAuthenticatedData)(plaintext) ‖ GCM tag (16 bytes).
 *
 * What it does NOT emulate:
 *  - IAM (`cloudkms.cryptoKeyVersions.useToEncrypt/useToDecrypt`): any listed token may use
 *    any key. No key states (disabled/destroyed versions), rotation, several versions,
 *    asymmetric/MAC/raw keys, HSM/EKM protection levels, Autokey, key or key-ring admin calls.
 *  - The gRPC transport (the production default of @google-cloud/kms); only REST.
 *  - Quotas, regional endpoints, universe domains, mTLS, VPC-SC, CMEK org policies.
 *  - Exact wording of most 400 messages other than those quoted above; size limits are the
 *    documented 64 KiB for plaintext and AAD.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { OAuth2Client } from 'google-auth-library';
import { crc32c } from '../shared/cache/crc32c';
import {
  canonicalStatusFor,
  closeServer,
  jsonReply,
  listen,
  notFoundPage,
  rpcError,
  writeReply,
  type Reply,
} from './google-emulator';

export interface KmsEmulatorOptions {
  /** CryptoKey names that exist: projects/P/locations/L/keyRings/R/cryptoKeys/K. */
  keys: string[];
  /** Bearer tokens accepted from callers. */
  callerTokens: string[];
  /** Port on 127.0.0.1 (default: any free port). */
  port?: number;
}

export interface KmsRecordedRequest {
  method: string;
  /** Path without the query, as received (percent-encoding kept). */
  path: string;
  /** Decoded query parameters. */
  query: Record<string, string>;
  /** 'encrypt' / 'decrypt' when the path routed to one of them. */
  rpc?: 'encrypt' | 'decrypt';
  /** Lower-cased header names. */
  headers: Record<string, string>;
  /** Raw body text. */
  body: string;
  /** The body parsed as JSON, when it was JSON. */
  json?: unknown;
}

/**
 * How `corruptNext` damages a successful response:
 *  - `checksum`: flips a bit of the returned ciphertext (encrypt) or plaintext (decrypt)
 *    after its checksum was computed — corruption in transit;
 *  - `unverified`: encrypt omits `verifiedPlaintextCrc32c` / `verifiedAdditionalAuthenticated
 *    DataCrc32c` (as if the checksums never reached the server); decrypt omits `plaintextCrc32c`;
 *  - `name`: encrypt reports a version of another key (decrypt responses have no name: unchanged).
 */
export type KmsCorruption = 'checksum' | 'unverified' | 'name';

export interface KmsEmulator {
  /** Base URL, http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  readonly requests: KmsRecordedRequest[];
  /** Answer the next `count` requests (default 1, or Infinity) with an HTTP error status. */
  failNext(status: number, count?: number): void;
  /** Damage the next `count` successful responses (default 1). */
  corruptNext(kind?: KmsCorruption, count?: number): void;
  /** Never answer the next `count` requests (default 1). */
  stallNext(count?: number): void;
  /** Disarm all faults. */
  clearFaults(): void;
  close(): Promise<void>;
}


/** `EncryptResponse` in proto3 JSON. */
export interface EncryptResponseWire {
  name: string;
  ciphertext: string;
  ciphertextCrc32c: string;
  verifiedPlaintextCrc32c?: true;
  verifiedAdditionalAuthenticatedDataCrc32c?: true;
  protectionLevel: 'SOFTWARE' | 1;
}

/** `DecryptResponse` in proto3 JSON. */
export interface DecryptResponseWire {
  plaintext?: string;
  plaintextCrc32c?: string;
  usedPrimary: true;
  protectionLevel: 'SOFTWARE' | 1;
}

type FaultAction = { kind: 'fail'; status: number } | { kind: 'stall' };

interface Rule<T> {
  action: T;
  remaining: number;
}

const KEY_NAME = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/;
const ENCRYPT_PATH = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/:]+(?:\/[^/:]+)*):encrypt$/;
const DECRYPT_PATH = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/:]+):decrypt$/;
const VERSION_SUFFIX = /^(.*)\/cryptoKeyVersions\/([^/]+)$/;
const PRIMARY_VERSION = '1';
const MAGIC = Buffer.from('E1');
const IV_BYTES = 12;
const TAG_BYTES = 16;
const MAX_DATA_BYTES = 64 * 1024;
const SERVICE = 'cloudkms.googleapis.com';
const AUTH_HELP = 'See https://developers.google.com/identity/sign-in/web/devconsole-project.';
const WWW_AUTHENTICATE = 'Bearer realm="https://accounts.google.com/"';

const ENCRYPT_FIELDS = ['name', 'plaintext', 'additionalAuthenticatedData', 'plaintextCrc32c', 'additionalAuthenticatedDataCrc32c'];
const DECRYPT_FIELDS = ['name', 'ciphertext', 'additionalAuthenticatedData', 'ciphertextCrc32c', 'additionalAuthenticatedDataCrc32c'];


/**
 * Options for `new KeyManagementServiceClient(options)` (@google-cloud/kms 5, google-gax 5)
 * that reach this emulator with the REST transport over plain HTTP, authenticated with a
 * static bearer token, without touching the network:
 *  - `fallback: true` selects gax's REST transport (`'rest'` works too: any truthy value);
 *  - `apiEndpoint` + `port` + `protocol: 'http'` build `http://127.0.0.1:PORT/v1/...`;
 *  - `authClient`: an OAuth2Client holding only an access token. With `authClient` present
 *    gax skips GoogleAuth (no ADC lookup, no metadata-server probe). Without `expiry_date`
 *    the token never counts as expiring, so no refresh is ever attempted.
 *    `fetchImplementation: fetch` makes gaxios use Node's fetch instead of importing
 *    node-fetch (an ES module: under jest that needs --experimental-vm-modules).
 */
export function kmsClientOptionsFor(emulatorUrl: string, accessToken: string): Record<string, unknown> {
  const url = new URL(emulatorUrl);
  const authClient = new OAuth2Client({ transporterOptions: { fetchImplementation: fetch } });
  authClient.setCredentials({ access_token: accessToken });
  return { fallback: true, apiEndpoint: url.hostname, port: Number(url.port), protocol: url.protocol.replace(/:$/, ''), authClient };
}

export async function startKmsEmulator(opts: KmsEmulatorOptions): Promise<KmsEmulator> {
  const keys = new Map<string, Buffer>();
  for (const name of opts.keys) {
    if (!KEY_NAME.test(name)) throw new TypeError(`not a CryptoKey name: ${name}`);
    keys.set(name, randomBytes(32));
  }
  const callerTokens = new Set(opts.callerTokens);
  const requests: KmsRecordedRequest[] = [];
  let faults: Rule<FaultAction>[] = [];
  let corruptions: Rule<KmsCorruption>[] = [];
  const stalled = new Set<ServerResponse>();

  const take = <T>(rules: Rule<T>[]): { action: T | undefined; rest: Rule<T>[] } => {
    const rule = rules[0];
    if (!rule) return { action: undefined, rest: rules };
    rule.remaining -= 1;
    return { action: rule.action, rest: rule.remaining <= 0 ? rules.slice(1) : rules };
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) writeReply(res, rpcError(500, 'INTERNAL', `emulator error: ${String(err)}`));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
    const record: KmsRecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body,
    };
    const json = tryParseJson(body);
    if (json.ok) record.json = json.value;
    requests.push(record);

    const decodedPath = safeDecodePath(url.pathname);
    const encryptMatch = decodedPath === undefined ? null : ENCRYPT_PATH.exec(decodedPath);
    const decryptMatch = decodedPath === undefined ? null : DECRYPT_PATH.exec(decodedPath);
    const match = encryptMatch ?? decryptMatch;
    if (record.method !== 'POST' || !match?.[1]) {
      writeReply(res, notFoundPage(url.pathname));
      return;
    }
    const rpc = encryptMatch ? 'encrypt' : 'decrypt';
    record.rpc = rpc;

    const fault = take(faults);
    faults = fault.rest;
    if (fault.action?.kind === 'stall') {
      stalled.add(res);
      res.once('close', () => stalled.delete(res));
      return;
    }
    if (fault.action?.kind === 'fail') {
      const canonical = canonicalStatusFor(fault.action.status);
      writeReply(res, rpcError(fault.action.status, canonical.status, canonical.message));
      return;
    }

    const method = `google.cloud.kms.v1.KeyManagementService.${rpc === 'encrypt' ? 'Encrypt' : 'Decrypt'}`;
    const token = /^Bearer\s+(\S+)\s*$/i.exec(headers['authorization'] ?? '')?.[1];
    if (token === undefined) {
      writeReply(res, unauthenticated(method, 'CREDENTIALS_MISSING'));
      return;
    }
    if (!callerTokens.has(token)) {
      writeReply(res, unauthenticated(method, 'ACCESS_TOKEN_TYPE_UNSUPPORTED'));
      return;
    }

    if (!json.ok || !isRecord(json.value)) {
      writeReply(res, invalidJson(body.trim() === '' ? 'Expected a JSON object.' : 'Syntax error in JSON body.'));
      return;
    }
    const enumsAsInt = /(^|;)enum-encoding=int(;|$)/.test(url.searchParams.get('$alt') ?? '');
    const reply =
      rpc === 'encrypt'
        ? encrypt(match[1], json.value, enumsAsInt)
        : decrypt(match[1], json.value, enumsAsInt);
    writeReply(res, reply);
  }

  function encrypt(name: string, body: Record<string, unknown>, enumsAsInt: boolean): Reply {
    const fields = parseFields(body, ENCRYPT_FIELDS, ['plaintext', 'additionalAuthenticatedData'], ['plaintextCrc32c', 'additionalAuthenticatedDataCrc32c']);
    if ('reply' in fields) return fields.reply;
    if (body['name'] !== undefined && body['name'] !== name) return invalidArgument('name', 'The name in the body does not match the name in the URL.');
    const version = VERSION_SUFFIX.exec(name);
    const keyName = version?.[1] ?? name;
    const key = keys.get(keyName);
    if (!key) return rpcError(404, 'NOT_FOUND', `CryptoKey ${keyName} not found.`);
    if (version && version[2] !== PRIMARY_VERSION) return rpcError(404, 'NOT_FOUND', `CryptoKeyVersion ${name} not found.`);

    const plaintext = fields.bytes['plaintext'] ?? Buffer.alloc(0);
    const aad = fields.bytes['additionalAuthenticatedData'] ?? Buffer.alloc(0);
    if (plaintext.length === 0) return invalidArgument('plaintext', 'Plaintext is required.');
    if (plaintext.length > MAX_DATA_BYTES) return invalidArgument('plaintext', `Plaintext must be at most ${MAX_DATA_BYTES} bytes.`);
    if (aad.length > MAX_DATA_BYTES) return invalidArgument('additional_authenticated_data', `Additional authenticated data must be at most ${MAX_DATA_BYTES} bytes.`);
    const plaintextCrc = fields.crcs['plaintextCrc32c'];
    const aadCrc = fields.crcs['additionalAuthenticatedDataCrc32c'];
    if (plaintextCrc !== undefined && plaintextCrc !== crc32c(plaintext)) return checksumMismatch('plaintext_crc32c', 'plaintext');
    if (aadCrc !== undefined && aadCrc !== crc32c(aad)) return checksumMismatch('additional_authenticated_data_crc32c', 'additional_authenticated_data');

    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(aad);
    const ciphertext = Buffer.concat([MAGIC, iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    const response: EncryptResponseWire = {
      name: `${keyName}/cryptoKeyVersions/${PRIMARY_VERSION}`,
      ciphertext: ciphertext.toString('base64'),
      ciphertextCrc32c: String(crc32c(ciphertext)),
      protectionLevel: enumsAsInt ? 1 : 'SOFTWARE',
    };
    if (plaintextCrc !== undefined) response.verifiedPlaintextCrc32c = true;
    if (aadCrc !== undefined) response.verifiedAdditionalAuthenticatedDataCrc32c = true;

    const corruption = take(corruptions);
    corruptions = corruption.rest;
    if (corruption.action === 'checksum') response.ciphertext = flipBit(ciphertext).toString('base64');
    if (corruption.action === 'unverified') {
      delete response.verifiedPlaintextCrc32c;
      delete response.verifiedAdditionalAuthenticatedDataCrc32c;
    }
    if (corruption.action === 'name') response.name = `${keyName}-other/cryptoKeyVersions/${PRIMARY_VERSION}`;
    return jsonReply(200, response);
  }

  function decrypt(name: string, body: Record<string, unknown>, enumsAsInt: boolean): Reply {
    const fields = parseFields(body, DECRYPT_FIELDS, ['ciphertext', 'additionalAuthenticatedData'], ['ciphertextCrc32c', 'additionalAuthenticatedDataCrc32c']);
    if ('reply' in fields) return fields.reply;
    if (body['name'] !== undefined && body['name'] !== name) return invalidArgument('name', 'The name in the body does not match the name in the URL.');
    const key = keys.get(name);
    if (!key) return rpcError(404, 'NOT_FOUND', `CryptoKey ${name} not found.`);

    const ciphertext = fields.bytes['ciphertext'] ?? Buffer.alloc(0);
    const aad = fields.bytes['additionalAuthenticatedData'] ?? Buffer.alloc(0);
    if (ciphertext.length === 0) return invalidArgument('ciphertext', 'Ciphertext is required.');
    if (aad.length > MAX_DATA_BYTES) return invalidArgument('additional_authenticated_data', `Additional authenticated data must be at most ${MAX_DATA_BYTES} bytes.`);
    const ciphertextCrc = fields.crcs['ciphertextCrc32c'];
    const aadCrc = fields.crcs['additionalAuthenticatedDataCrc32c'];
    if (ciphertextCrc !== undefined && ciphertextCrc !== crc32c(ciphertext)) return checksumMismatch('ciphertext_crc32c', 'ciphertext');
    if (aadCrc !== undefined && aadCrc !== crc32c(aad)) return checksumMismatch('additional_authenticated_data_crc32c', 'additional_authenticated_data');

    const plaintext = openCiphertext(key, ciphertext, aad);
    if (!plaintext) return invalidArgument(undefined, 'Decryption failed: the ciphertext is invalid.');
    const response: DecryptResponseWire = {
      plaintextCrc32c: String(crc32c(plaintext)),
      usedPrimary: true,
      protectionLevel: enumsAsInt ? 1 : 'SOFTWARE',
    };
    if (plaintext.length > 0) response.plaintext = plaintext.toString('base64');

    const corruption = take(corruptions);
    corruptions = corruption.rest;
    if (corruption.action === 'checksum') response.plaintext = flipBit(plaintext).toString('base64');
    if (corruption.action === 'unverified') delete response.plaintextCrc32c;
    return jsonReply(200, response);
  }

  const url = await listen(server, opts.port ?? 0);
  return {
    url,
    port: Number(new URL(url).port),
    requests,
    failNext(status, count = 1) {
      if (!Number.isInteger(status) || status < 400 || status > 599) throw new RangeError(`status must be 400-599, got ${status}`);
      checkCount(count);
      faults.push({ action: { kind: 'fail', status }, remaining: count });
    },
    corruptNext(kind = 'checksum', count = 1) {
      if (kind !== 'checksum' && kind !== 'unverified' && kind !== 'name') throw new RangeError(`unknown corruption ${String(kind)}`);
      checkCount(count);
      corruptions.push({ action: kind, remaining: count });
    },
    stallNext(count = 1) {
      checkCount(count);
      faults.push({ action: { kind: 'stall' }, remaining: count });
    },
    clearFaults() {
      faults = [];
      corruptions = [];
    },
    async close() {
      for (const res of stalled) res.destroy();
      stalled.clear();
      await closeServer(server);
    },
  };
}

// ─────────────────────────────────────────────────────────────────────────────
// Request parsing (proto3 JSON)
// ─────────────────────────────────────────────────────────────────────────────

type Parsed = { bytes: Record<string, Buffer>; crcs: Record<string, number> } | { reply: Reply };

/** Checks field names and decodes `bytes` (base64) and `Int64Value` (decimal string or number) fields. */
function parseFields(body: Record<string, unknown>, allowed: string[], byteFields: string[], crcFields: string[]): Parsed {
  const bytes: Record<string, Buffer> = {};
  const crcs: Record<string, number> = {};
  for (const [field, value] of Object.entries(body)) {
    if (!allowed.includes(field)) return { reply: invalidJson(`Unknown name "${field}": Cannot find field.`) };
    if (value === null) continue;
    if (byteFields.includes(field)) {
      const decoded = decodeBase64(value);
      if (!decoded) return { reply: invalidJson(`Invalid value at '${snake(field)}' (TYPE_BYTES), Base64 decoding failed for ${JSON.stringify(value)}`) };
      bytes[field] = decoded;
    } else if (crcFields.includes(field)) {
      const parsed = parseInt64(value);
      if (parsed === undefined) return { reply: invalidJson(`Invalid value at '${snake(field)}' (TYPE_INT64), ${JSON.stringify(value)}`) };
      crcs[field] = parsed;
    } else if (typeof value !== 'string') {
      return { reply: invalidJson(`Invalid value at '${snake(field)}' (TYPE_STRING), ${JSON.stringify(value)}`) };
    }
  }
  return { bytes, crcs };
}

/** proto3 JSON bytes: standard or URL-safe base64, padding optional. */
function decodeBase64(value: unknown): Buffer | undefined {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) return undefined;
  const unpadded = value.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) return undefined;
  return Buffer.from(unpadded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** proto3 JSON int64: a decimal string or a JSON number holding an integer. */
function parseInt64(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value !== 'string' || !/^-?\d+$/.test(value)) return undefined;
  const parsed = Number(value);
  return Number.isSafeInteger(parsed) ? parsed : undefined;
}

function openCiphertext(key: Buffer, ciphertext: Buffer, aad: Buffer): Buffer | undefined {
  if (ciphertext.length < MAGIC.length + IV_BYTES + TAG_BYTES || !ciphertext.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const iv = ciphertext.subarray(MAGIC.length, MAGIC.length + IV_BYTES);
  const body = ciphertext.subarray(MAGIC.length + IV_BYTES, ciphertext.length - TAG_BYTES);
  const tag = ciphertext.subarray(ciphertext.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv).setAAD(aad).setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    return undefined;
  }
}

function flipBit(data: Buffer): Buffer {
  const copy = Buffer.from(data);
  if (copy.length > 0) copy[copy.length - 1] = (copy[copy.length - 1] ?? 0) ^ 0x01;
  return copy;
}

function snake(field: string): string {
  return field.replace(/[A-Z0-9]+/g, (m) => `_${m.toLowerCase()}`).replace(/_(\d)/g, '$1');
}

function safeDecodePath(pathname: string): string | undefined {
  try {
    return pathname
      .split('/')
      .map((segment) => decodeURIComponent(segment))
      .join('/');
  } catch {
    return undefined;
  }
}

function tryParseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkCount(count: number): void {
  if (!(count === Infinity || (Number.isInteger(count) && count >= 1))) {
    throw new RangeError(`count must be a whole number >= 1 or Infinity, got ${count}`);
  }
}

// ─────────────────────────────────────────────────────────────────────────────
// Replies
// ─────────────────────────────────────────────────────────────────────────────

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function invalidArgument(field: string | undefined, description: string): Reply {
  const violation = field === undefined ? { description } : { field, description };
  return rpcError(400, 'INVALID_ARGUMENT', description, [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [violation] }]);
}

function invalidJson(detail: string): Reply {
  return invalidArgument(undefined, `Invalid JSON payload received. ${detail}`);
}

function checksumMismatch(checksumField: string, dataField: string): Reply {
  return rpcError(400, 'INVALID_ARGUMENT', `The checksum in field ${checksumField} did not match the data in field ${dataField}.`);
}

function unauthenticated(method: string, reason: 'CREDENTIALS_MISSING' | 'ACCESS_TOKEN_TYPE_UNSUPPORTED'): Reply {
  const missing = reason === 'CREDENTIALS_MISSING';
  const message = missing
    ? `Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. ${AUTH_HELP}`
    : `Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. ${AUTH_HELP}`;
  return rpcError(
    401,
    'UNAUTHENTICATED',
    message,
    [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'googleapis.com', metadata: { service: SERVICE, method } }],
    { 'www-authenticate': missing ? WWW_AUTHENTICATE : `${WWW_AUTHENTICATE}, error="invalid_token"` },
  );
}

