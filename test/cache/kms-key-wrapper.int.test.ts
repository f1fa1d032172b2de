/**
 * The KMS key wrapper against the REAL @google-cloud/kms client (REST transport) talking to
 * the loopback KMS emulator. Nothing leaves 127.0.0.1.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { kmsClientOptionsFor, startKmsEmulator, type KmsEmulator } from '../../dev/kms-emulator';
import { crc32c } from '../../shared/cache/crc32c';
import { DecryptError, EnvelopeCipher } from '../../shared/cache/envelope';
import { DEK_AAD, type KeyWrapper } from '../../shared/cache/key-wrapper';
import { KmsError, kmsKeyWrapper, type KmsClientLike } from '../../shared/cache/kms-key-wrapper';

const KEY_A = 'projects/broker-test/locations/global/keyRings/token-cache/cryptoKeys/dek-a';
const KEY_B = 'projects/broker-test/locations/global/keyRings/token-cache/cryptoKeys/dek-b';
const KEY_MISSING = 'projects/broker-test/locations/global/keyRings/token-cache/cryptoKeys/nope';
const TOKEN = 'kms-caller-token';
const ROOT = join(__dirname, '..', '..');

let emulator: KmsEmulator;

beforeAll(async () => {
  emulator = await startKmsEmulator({ keys: [KEY_A, KEY_B], callerTokens: [TOKEN] });
});

afterAll(async () => {
  await emulator.close();
});

beforeEach(() => {
  emulator.clearFaults();
  emulator.requests.length = 0;
});

function wrapperFor(keyName: string, extra: { timeoutMs?: number; token?: string } = {}): KeyWrapper {
  return kmsKeyWrapper({
    keyName,
    clientOptions: kmsClientOptionsFor(emulator.url, extra.token ?? TOKEN),
    ...(extra.timeoutMs !== undefined ? { timeoutMs: extra.timeoutMs } : {}),
  });
}

/** The rejection of `promise`, which must reject. */
async function rejectionOf(promise: Promise<unknown>): Promise<KmsError> {
  const outcome = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(KmsError);
  return outcome as KmsError;
}

/** Asserts that nothing reachable from the error renders the secret. */
function expectNoSecret(err: unknown, secret: Buffer): void {
  const rendered = `${String(err)}\n${inspect(err, { depth: 10, showHidden: true })}`;
  for (const form of [secret.toString('base64'), secret.toString('base64url'), secret.toString('hex')]) {
    expect(rendered).not.toContain(form);
  }
  expect((err as Error).cause).toBeUndefined();
}

const rpcRequests = (rpc: 'encrypt' | 'decrypt') => emulator.requests.filter((r) => r.rpc === rpc);

describe('kmsKeyWrapper with the real @google-cloud/kms client (REST) against the loopback emulator', () => {
  test('wraps and unwraps a DEK; the request bodies carry exactly the documented proto3-JSON fields', async () => {
    const wrapper = wrapperFor(KEY_A);
    expect(wrapper.keyName).toBe(KEY_A);
    const dek = randomBytes(32);

    const wrapped = await wrapper.wrap(dek);
    expect(wrapped.equals(dek)).toBe(false);
    expect(await wrapper.unwrap(wrapped)).toEqual(dek);

    const [encrypt] = rpcRequests('encrypt');
    expect(encrypt?.method).toBe('POST');
    expect(encrypt?.path).toBe(`/v1/${KEY_A}:encrypt`);
    expect(encrypt?.headers['authorization']).toBe(`Bearer ${TOKEN}`);
    expect(encrypt?.headers['content-type']).toBe('application/json');
    expect(encrypt?.query['$alt']).toBe('json;enum-encoding=int');
    // The name travels only in the URL (body: "*" minus path fields); int64 as decimal strings.
    expect(encrypt?.json).toEqual({
      plaintext: dek.toString('base64'),
      additionalAuthenticatedData: DEK_AAD.toString('base64'),
      plaintextCrc32c: String(crc32c(dek)),
      additionalAuthenticatedDataCrc32c: String(crc32c(DEK_AAD)),
    });

    const [decrypt] = rpcRequests('decrypt');
    expect(decrypt?.path).toBe(`/v1/${KEY_A}:decrypt`);
    expect(decrypt?.json).toEqual({
      ciphertext: wrapped.toString('base64'),
      additionalAuthenticatedData: DEK_AAD.toString('base64'),
      ciphertextCrc32c: String(crc32c(wrapped)),
      additionalAuthenticatedDataCrc32c: String(crc32c(DEK_AAD)),
    });
  });

  test('a DEK wrapped with one key does not unwrap with another', async () => {
    const dek = randomBytes(32);
    const wrapped = await wrapperFor(KEY_A).wrap(dek);
    const err = await rejectionOf(wrapperFor(KEY_B).unwrap(wrapped));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toBe(`Cloud KMS decrypt with ${KEY_B} failed: INVALID_ARGUMENT: Decryption failed: the ciphertext is invalid.`);
    expectNoSecret(err, dek);
  });

  test('a tampered wrapped DEK does not unwrap', async () => {
    const wrapper = wrapperFor(KEY_A);
    const dek = randomBytes(32);
    const wrapped = await wrapper.wrap(dek);
    const tampered = Buffer.from(wrapped);
    tampered[tampered.length - 20] = (tampered[tampered.length - 20] ?? 0) ^ 0x40;
    const err = await rejectionOf(wrapper.unwrap(tampered));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('Decryption failed: the ciphertext is invalid.');
    // The checksum we sent was of the tampered bytes, so the server got past its CRC check.
    expect(rpcRequests('decrypt')[0]?.json).toMatchObject({ ciphertextCrc32c: String(crc32c(tampered)) });
  });

  test('an unknown key is rejected with NOT_FOUND and a clear message', async () => {
    const dek = randomBytes(32);
    const err = await rejectionOf(wrapperFor(KEY_MISSING).wrap(dek));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.httpStatus).toBe(404);
    expect(err.message).toBe(`Cloud KMS encrypt with ${KEY_MISSING} failed: NOT_FOUND: CryptoKey ${KEY_MISSING} not found.`);
    expectNoSecret(err, dek);
  });

  test('an access token the service does not accept → UNAUTHENTICATED, nothing retried', async () => {
    const err = await rejectionOf(wrapperFor(KEY_A, { token: 'not-a-caller' }).wrap(randomBytes(32)));
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(err.httpStatus).toBe(401);
    expect(err.message).toContain('Request had invalid authentication credentials.');
    expect(rpcRequests('encrypt')).toHaveLength(1);
  });

  test('503 UNAVAILABLE rejects; gax 5.0.8 REST + gaxios 7 does NOT retry it (one request only)', async () => {
    // google-gax's retry config for Encrypt/Decrypt retries UNAVAILABLE and DEADLINE_EXCEEDED
    // (gRPC codes 14, 4). On the REST transport the error is a GaxiosError whose `code` is the
    // HTTP status (503), which is not in that list, so gax gives up at once
    // (googleapis/gax-nodejs#1803). If this starts failing with two requests, gax got fixed.
    const dek = randomBytes(32);
    emulator.failNext(503, 1);
    const err = await rejectionOf(wrapperFor(KEY_A).wrap(dek));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.httpStatus).toBe(503);
    expect(err.message).toBe(`Cloud KMS encrypt with ${KEY_A} failed: UNAVAILABLE: The service is currently unavailable.`);
    expect(rpcRequests('encrypt')).toHaveLength(1);
    expectNoSecret(err, dek);

    // The fault was one-shot: the next call goes through.
    await expect(wrapperFor(KEY_A).wrap(dek)).resolves.toBeInstanceOf(Buffer);
  });

  test('a server that never answers hits our deadline (the REST transport ignores gax timeouts)', async () => {
    emulator.stallNext(1);
    const started = Date.now();
    const err = await rejectionOf(wrapperFor(KEY_A, { timeoutMs: 300 }).wrap(randomBytes(32)));
    const elapsed = Date.now() - started;
    expect(err.code).toBe('DEADLINE_EXCEEDED');
    expect(err.message).toBe(`Cloud KMS encrypt with ${KEY_A} failed: DEADLINE_EXCEEDED: no answer within 300 ms`);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(3000);
  });

  describe('response integrity checks (corruptNext)', () => {
    test('encrypt: ciphertext corrupted in transit → ciphertextCrc32c mismatch', async () => {
      const dek = randomBytes(32);
      emulator.corruptNext('checksum');
      const err = await rejectionOf(wrapperFor(KEY_A).wrap(dek));
      expect(err.code).toBe('DATA_LOSS');
      expect(err.message).toBe(`Cloud KMS encrypt with ${KEY_A}: integrity check failed: the ciphertext does not match its checksum`);
      expectNoSecret(err, dek);
    });

    test('encrypt: the server did not verify the request checksums', async () => {
      emulator.corruptNext('unverified');
      const err = await rejectionOf(wrapperFor(KEY_A).wrap(randomBytes(32)));
      expect(err.code).toBe('DATA_LOSS');
      expect(err.message).toContain('the server did not verify the plaintext checksum');
    });

    test('encrypt: the response names a version of another key', async () => {
      emulator.corruptNext('name');
      const err = await rejectionOf(wrapperFor(KEY_A).wrap(randomBytes(32)));
      expect(err.code).toBe('DATA_LOSS');
      expect(err.message).toContain(`the response names another key ("${KEY_A}-other/cryptoKeyVersions/1")`);
    });

    test('decrypt: plaintext corrupted in transit → plaintextCrc32c mismatch', async () => {
      const wrapper = wrapperFor(KEY_A);
      const dek = randomBytes(32);
      const wrapped = await wrapper.wrap(dek);
      emulator.corruptNext('checksum');
      const err = await rejectionOf(wrapper.unwrap(wrapped));
      expect(err.code).toBe('DATA_LOSS');
      expect(err.message).toBe(`Cloud KMS decrypt with ${KEY_A}: integrity check failed: the plaintext does not match its checksum`);
      expectNoSecret(err, dek);
    });

    test('decrypt: a response without plaintextCrc32c is refused', async () => {
      const wrapper = wrapperFor(KEY_A);
      const wrapped = await wrapper.wrap(randomBytes(32));
      emulator.corruptNext('unverified');
      const err = await rejectionOf(wrapper.unwrap(wrapped));
      expect(err.message).toContain('the response has no plaintext checksum');
    });
  });

  test('errors never carry key material, even when the client error embeds the request', async () => {
    const dek = randomBytes(32);
    // What a GaxiosError from the REST transport looks like: `config.body` is the request.
    const leaky: KmsClientLike = {
      encrypt: () => {
        const body = JSON.stringify({ plaintext: dek.toString('base64') });
        const message = JSON.stringify({ error: { code: 400, status: 'INVALID_ARGUMENT', message: `bad plaintext ${dek.toString('base64')} / ${dek.toString('hex')}` } });
        return Promise.reject(Object.assign(new Error(message), { status: 400, code: 400, config: { body } }));
      },
      decrypt: () => Promise.reject(new Error('unused')),
    };
    const err = await rejectionOf(kmsKeyWrapper({ keyName: KEY_A, client: leaky }).wrap(dek));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toBe(`Cloud KMS encrypt with ${KEY_A} failed: INVALID_ARGUMENT: bad plaintext [redacted] / [redacted]`);
    expectNoSecret(err, dek);
  });

  test('gRPC-shaped GoogleErrors are mapped by their numeric code', async () => {
    const grpcLike: KmsClientLike = {
      encrypt: () => Promise.reject(Object.assign(new Error('7 PERMISSION_DENIED: Permission denied'), { code: 7, details: "Permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied" })),
      decrypt: () => Promise.reject(Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14 })),
    };
    const wrapper = kmsKeyWrapper({ keyName: KEY_A, client: grpcLike });
    const encryptErr = await rejectionOf(wrapper.wrap(randomBytes(32)));
    expect(encryptErr.message).toBe(`Cloud KMS encrypt with ${KEY_A} failed: PERMISSION_DENIED: Permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied`);
    const decryptErr = await rejectionOf(wrapper.unwrap(randomBytes(40)));
    expect(decryptErr.code).toBe('UNAVAILABLE');
    expect(decryptErr.message).toBe(`Cloud KMS decrypt with ${KEY_A} failed: UNAVAILABLE: No connection established`);
  });

  test('passes the deadline to gax as the call timeout, with a fresh options object per call', async () => {
    const seen: unknown[] = [];
    const recording: KmsClientLike = {
      encrypt: (request, options) => {
        seen.push(options);
        return Promise.resolve([
          {
            name: `${KEY_A}/cryptoKeyVersions/7`,
            ciphertext: Buffer.from('opaque'),
            ciphertextCrc32c: { value: String(crc32c(Buffer.from('opaque'))) },
            verifiedPlaintextCrc32c: request.plaintextCrc32c.value === crc32c(request.plaintext),
            verifiedAdditionalAuthenticatedDataCrc32c: true,
          },
        ] as const);
      },
      decrypt: () => Promise.reject(new Error('unused')),
    };
    const wrapper = kmsKeyWrapper({ keyName: KEY_A, client: recording, timeoutMs: 1234 });
    await wrapper.wrap(randomBytes(32));
    await wrapper.wrap(randomBytes(32));
    expect(seen).toEqual([{ timeout: 1234 }, { timeout: 1234 }]);
    expect(seen[0]).not.toBe(seen[1]);
  });

  test('validates the key name and options at construction', () => {
    for (const bad of [
      '',
      'dek-a',
      'projects/p/locations/global/keyRings/r/cryptoKeys/k', // project ids have 6-30 characters
      `${KEY_A}/cryptoKeyVersions/1`,
      `${KEY_A}/`,
      'projects/broker-test/locations/global/keyRings/r/cryptoKeys/k:encrypt',
      'projects/broker-test/locations/global/keyRings/r/cryptoKeys/k?x=1',
      'https://cloudkms.googleapis.com/v1/projects/broker-test/locations/global/keyRings/r/cryptoKeys/k',
    ]) {
      expect(() => kmsKeyWrapper({ keyName: bad })).toThrow(TypeError);
    }
    for (const good of [
      KEY_A,
      'projects/123456789012/locations/europe-west1/keyRings/ring_1/cryptoKeys/Key-2',
      'projects/example.com:broker-prod/locations/us/keyRings/r/cryptoKeys/k',
    ]) {
      expect(kmsKeyWrapper({ keyName: good }).keyName).toBe(good);
    }
    expect(() => kmsKeyWrapper({ keyName: KEY_A, timeoutMs: 0 })).toThrow(TypeError);
    expect(() => kmsKeyWrapper({ keyName: KEY_A, timeoutMs: Number.NaN })).toThrow(TypeError);
    expect(() => kmsKeyWrapper({ keyName: KEY_A, client: {} as KmsClientLike, clientOptions: {} })).toThrow(TypeError);
  });

  describe('lazy loading of @google-cloud/kms', () => {
    test('jest registry: constructing the wrapper does not load the module; the first call does, once', async () => {
      let loads = 0;
      await jest.isolateModulesAsync(async () => {
        jest.doMock('@google-cloud/kms', () => {
          loads += 1;
          return jest.requireActual<object>('@google-cloud/kms');
        });
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- a fresh copy from the isolated registry
        const isolated = require('../../shared/cache/kms-key-wrapper') as { kmsKeyWrapper: typeof kmsKeyWrapper };
        const wrapper = isolated.kmsKeyWrapper({ keyName: KEY_A, clientOptions: kmsClientOptionsFor(emulator.url, TOKEN) });
        expect(loads).toBe(0);
        const dek = randomBytes(32);
        const wrapped = await wrapper.wrap(dek);
        expect(loads).toBe(1);
        expect(await wrapper.unwrap(wrapped)).toEqual(dek);
        expect(loads).toBe(1);
      });
    });

    test('real Node (tsx child process): require.cache has no @google-cloud/kms or google-gax until the first wrap', async () => {
      const script = `
        const { kmsKeyWrapper } = require('./shared/cache/kms-key-wrapper');
        const { kmsClientOptionsFor } = require('./dev/kms-emulator');
        const loaded = () => Object.keys(require.cache).filter((k) => /[\\\\/]node_modules[\\\\/](@google-cloud[\\\\/]kms|google-gax)[\\\\/]/.test(k)).length;
        (async () => {
          const t0 = performance.now();
          const wrapper = kmsKeyWrapper({ keyName: process.env.KMS_KEY, clientOptions: kmsClientOptionsFor(process.env.KMS_URL, process.env.KMS_TOKEN) });
          const constructMs = performance.now() - t0;
          const before = loaded();
          const t1 = performance.now();
          const wrapped = await wrapper.wrap(Buffer.alloc(32, 7));
          const firstWrapMs = performance.now() - t1;
          console.log(JSON.stringify({ before, after: loaded(), constructMs, firstWrapMs, wrappedBytes: wrapped.length }));
        })().catch((err) => { console.error(err); process.exit(1); });
      `;
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(
          process.execPath,
          [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), '-e', script],
          {
            cwd: ROOT,
            timeout: 30_000,
            env: { ...process.env, METADATA_SERVER_DETECTION: 'none', KMS_URL: emulator.url, KMS_KEY: KEY_A, KMS_TOKEN: TOKEN },
          },
          (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
        );
      });
      const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as {
        before: number;
        after: number;
        constructMs: number;
        firstWrapMs: number;
        wrappedBytes: number;
      };
      expect(result.before).toBe(0);
      expect(result.after).toBeGreaterThan(10);
      expect(result.wrappedBytes).toBeGreaterThan(32);
      expect(result.constructMs).toBeLessThan(50);
      expect(rpcRequests('encrypt')).toHaveLength(1);
    }, 40_000);
  });

  describe('EnvelopeCipher end to end with the KMS wrapper', () => {
    test('seal/open round trip; KMS is called once per DEK; a fresh instance unwraps through KMS', async () => {
      const cipher = new EnvelopeCipher(wrapperFor(KEY_A));
      const token = Buffer.from('ya29.a-cached-access-token');
      const first = await cipher.seal(token, 'cache-key-1');
      const second = await cipher.seal(Buffer.from('another'), 'cache-key-2');
      expect(first.keyName).toBe(KEY_A);
      expect(first.wrappedKey).toEqual(second.wrappedKey);
      expect(await cipher.open(first, 'cache-key-1')).toEqual(token);
      expect(rpcRequests('encrypt')).toHaveLength(1);
      expect(rpcRequests('decrypt')).toHaveLength(0); // the wrapping instance keeps its DEK

      const other = new EnvelopeCipher(wrapperFor(KEY_A));
      expect(await other.open(first, 'cache-key-1')).toEqual(token);
      expect(await other.open(second, 'cache-key-2')).toEqual(Buffer.from('another'));
      expect(rpcRequests('decrypt')).toHaveLength(1); // unwrapped once, then cached
    });

    test('opening under another cache-key context fails with DecryptError', async () => {
      const cipher = new EnvelopeCipher(wrapperFor(KEY_A));
      const sealed = await cipher.seal(Buffer.from('secret'), 'cache-key-1');
      await expect(cipher.open(sealed, 'cache-key-2')).rejects.toBeInstanceOf(DecryptError);
      await expect(new EnvelopeCipher(wrapperFor(KEY_A)).open(sealed, 'cache-key-2')).rejects.toBeInstanceOf(DecryptError);
    });

    test('a wrapped key KMS refuses to unwrap surfaces as DecryptError (KmsError as cause)', async () => {
      const sealed = await new EnvelopeCipher(wrapperFor(KEY_A)).seal(Buffer.from('secret'), 'ctx');
      const tampered = { ...sealed, wrappedKey: Buffer.concat([sealed.wrappedKey.subarray(0, -1), Buffer.from([(sealed.wrappedKey.at(-1) ?? 0) ^ 1])]) };
      const err: unknown = await new EnvelopeCipher(wrapperFor(KEY_A)).open(tampered, 'ctx').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DecryptError);
      expect((err as DecryptError).cause).toBeInstanceOf(KmsError);
      expect(((err as DecryptError).cause as KmsError).code).toBe('INVALID_ARGUMENT');
    });

    test('a document sealed under another KMS key is refused before any KMS call', async () => {
      const sealed = await new EnvelopeCipher(wrapperFor(KEY_A)).seal(Buffer.from('secret'), 'ctx');
      emulator.requests.length = 0;
      await expect(new EnvelopeCipher(wrapperFor(KEY_B)).open(sealed, 'ctx')).rejects.toThrow(DecryptError);
      expect(emulator.requests).toHaveLength(0);
    });
  });
});

describe('KMS emulator wire details', () => {
  const post = (path: string, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) =>
    fetch(`${emulator.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  test('missing bearer → 401 UNAUTHENTICATED google.rpc.Status with ErrorInfo CREDENTIALS_MISSING', async () => {
    const response = await post(`/v1/${KEY_A}:encrypt`, { plaintext: 'AAAA' }, {});
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="https://accounts.google.com/"');
    const body = (await response.json()) as { error: { code: number; status: string; details: { reason: string; metadata: Record<string, string> }[] } };
    expect(body.error.code).toBe(401);
    expect(body.error.status).toBe('UNAUTHENTICATED');
    expect(body.error.details[0]?.reason).toBe('CREDENTIALS_MISSING');
    expect(body.error.details[0]?.metadata).toEqual({ service: 'cloudkms.googleapis.com', method: 'google.cloud.kms.v1.KeyManagementService.Encrypt' });
  });

  test('without request checksums the verified* flags are absent (proto3 JSON omits false) and enums are names', async () => {
    const response = await post(`/v1/${KEY_A}:encrypt`, { plaintext: Buffer.from('hi').toString('base64') });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['ciphertext', 'ciphertextCrc32c', 'name', 'protectionLevel']);
    expect(body['name']).toBe(`${KEY_A}/cryptoKeyVersions/1`);
    expect(body['protectionLevel']).toBe('SOFTWARE');
    expect(body['ciphertextCrc32c']).toBe(String(crc32c(Buffer.from(String(body['ciphertext']), 'base64'))));
  });

  test('a wrong request checksum is refused with INVALID_ARGUMENT', async () => {
    const response = await post(`/v1/${KEY_A}:encrypt`, { plaintext: Buffer.from('hi').toString('base64'), plaintextCrc32c: '12345' });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: { code: 400, status: 'INVALID_ARGUMENT', message: 'The checksum in field plaintext_crc32c did not match the data in field plaintext.' },
    });
  });

  test('decrypt with the wrong AAD → 400 "Decryption failed: the ciphertext is invalid."', async () => {
    const encrypted = (await (await post(`/v1/${KEY_A}:encrypt`, { plaintext: 'AAEC', additionalAuthenticatedData: 'YQ==' })).json()) as { ciphertext: string };
    const ok = await post(`/v1/${KEY_A}:decrypt`, { ciphertext: encrypted.ciphertext, additionalAuthenticatedData: 'YQ==' });
    expect(await ok.json()).toEqual({ plaintext: 'AAEC', plaintextCrc32c: String(crc32c(Buffer.from([0, 1, 2]))), usedPrimary: true, protectionLevel: 'SOFTWARE' });
    const bad = await post(`/v1/${KEY_A}:decrypt`, { ciphertext: encrypted.ciphertext, additionalAuthenticatedData: 'Yg==' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toBe('Decryption failed: the ciphertext is invalid.');
  });

  test('unknown JSON fields and unrouted paths are refused like Google front ends do', async () => {
    const unknown = await post(`/v1/${KEY_A}:encrypt`, { plaintext: 'AAAA', name2: 'x' });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toBe('Invalid JSON payload received. Unknown name "name2": Cannot find field.');
    const versionDecrypt = await post(`/v1/${KEY_A}/cryptoKeyVersions/1:decrypt`, { ciphertext: 'AAAA' });
    expect(versionDecrypt.status).toBe(404);
    expect(versionDecrypt.headers.get('content-type')).toContain('text/html');
  });
});
