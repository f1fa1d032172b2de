/** Start-up configuration: unsafe settings are refused before any request is served. */
import { readBrokerConfig } from '../../shared/config/environment';
import { ConfigurationError } from '../../shared/errors';

const KMS_KEY = 'projects/acme-prod/locations/europe-west1/keyRings/broker/cryptoKeys/cache';
const base = { BROKER_POLICY_FILE: '/etc/broker/policy.yaml', BROKER_CACHE_KMS_KEY: KMS_KEY };

describe('production (the default mode)', () => {
  it('uses Application Default Credentials, Google IAM and HTTPS-only fetching', () => {
    expect(readBrokerConfig(base)).toEqual({
      mode: 'production',
      policyFile: '/etc/broker/policy.yaml',
      issuerUrl: undefined,
      iamEndpoint: 'https://iamcredentials.googleapis.com',
      stsEndpoint: 'https://sts.googleapis.com',
      gemini: { endpoint: 'https://generativelanguage.googleapis.com', secretManagerEndpoint: 'https://secretmanager.googleapis.com' },
      maxLifetimeSeconds: 3600,
      source: { kind: 'application-default' },
      network: { allowInsecureLoopback: false },
      cache: {
        kind: 'firestore',
        minRemainingSeconds: 300,
        collection: 'token-broker-cache',
        projectId: undefined,
        databaseId: undefined,
        keyWrapping: { kind: 'kms', keyName: KMS_KEY },
      },
    });
  });

  it('reads the Firestore project and collection, and lets the cache be turned off', () => {
    expect(readBrokerConfig({ ...base, GOOGLE_CLOUD_PROJECT: 'acme-prod', BROKER_CACHE_COLLECTION: 'c' }).cache).toMatchObject({ projectId: 'acme-prod', collection: 'c' });
    expect(readBrokerConfig({ ...base, BROKER_FIRESTORE_PROJECT: 'other', GOOGLE_CLOUD_PROJECT: 'acme-prod' }).cache).toMatchObject({ projectId: 'other' });
    expect(readBrokerConfig({ BROKER_POLICY_FILE: 'p', BROKER_CACHE: 'none' }).cache).toEqual({ kind: 'none' });
  });

  it.each([
    ['no policy file', {}, /BROKER_POLICY_FILE/],
    ['an unknown mode', { ...base, BROKER_MODE: 'dev' }, /BROKER_MODE/],
    ['a loopback IAM endpoint (the emulator)', { ...base, BROKER_IAM_ENDPOINT: 'http://127.0.0.1:8090' }, /BROKER_IAM_ENDPOINT/],
    ['an https loopback IAM endpoint', { ...base, BROKER_IAM_ENDPOINT: 'https://localhost:8443' }, /BROKER_IAM_ENDPOINT/],
    ['a plain-HTTP IAM endpoint', { ...base, BROKER_IAM_ENDPOINT: 'http://iam.example.com' }, /BROKER_IAM_ENDPOINT/],
    ['the development source token', { ...base, BROKER_DEV_SOURCE_TOKEN: 'x' }, /outside development/],
    ['a lifetime ceiling above 3600', { ...base, BROKER_MAX_LIFETIME_SECONDS: '7200' }, /BROKER_MAX_LIFETIME_SECONDS/],
    ['a non-numeric lifetime ceiling', { ...base, BROKER_MAX_LIFETIME_SECONDS: '1h' }, /BROKER_MAX_LIFETIME_SECONDS/],
    ['a plain-HTTP issuer URL', { ...base, BROKER_ISSUER_URL: 'http://broker.example.com' }, /BROKER_ISSUER_URL/],
    ['the Firestore cache without a KMS key', { BROKER_POLICY_FILE: 'p' }, /BROKER_CACHE_KMS_KEY/],
    ['a malformed KMS key name', { ...base, BROKER_CACHE_KMS_KEY: 'my-key' }, /BROKER_CACHE_KMS_KEY/],
    ['a local cache key', { ...base, BROKER_CACHE_LOCAL_KEY: Buffer.alloc(32).toString('base64') }, /outside development/],
    ['an unknown cache kind', { ...base, BROKER_CACHE: 'redis' }, /BROKER_CACHE/],
    ['a loopback Gemini endpoint', { ...base, BROKER_GEMINI_ENDPOINT: 'http://127.0.0.1:8090' }, /BROKER_GEMINI_ENDPOINT/],
    ['a plain-HTTP Secret Manager endpoint', { ...base, BROKER_SECRET_MANAGER_ENDPOINT: 'http://secretmanager.example.com' }, /BROKER_SECRET_MANAGER_ENDPOINT/],
    ['a loopback Secret Manager endpoint', { ...base, BROKER_SECRET_MANAGER_ENDPOINT: 'https://localhost:8443' }, /BROKER_SECRET_MANAGER_ENDPOINT/],
    ['a Gemini API key secret that is not a secret version', { ...base, BROKER_GEMINI_API_KEY_SECRET: 'projects/acme/secrets/gemini-key' }, /BROKER_GEMINI_API_KEY_SECRET/],
    ['a minimum remaining life above 30 minutes', { ...base, BROKER_CACHE_MIN_REMAINING_SECONDS: '3600' }, /BROKER_CACHE_MIN_REMAINING_SECONDS/],
  ])('refuses %s', (_name, env, message) => {
    expect(() => readBrokerConfig(env)).toThrow(ConfigurationError);
    expect(() => readBrokerConfig(env)).toThrow(message);
  });
});

describe('development mode', () => {
  it('accepts the loopback emulator and the static source token', () => {
    const config = readBrokerConfig({
      ...base,
      BROKER_MODE: 'development',
      BROKER_IAM_ENDPOINT: 'http://127.0.0.1:8090/',
      BROKER_DEV_SOURCE_TOKEN: 'dev-token',
      BROKER_MAX_LIFETIME_SECONDS: '600',
    });
    expect(config).toMatchObject({
      mode: 'development',
      iamEndpoint: 'http://127.0.0.1:8090',
      maxLifetimeSeconds: 600,
      source: { kind: 'static-token', accessToken: 'dev-token' },
      network: { allowInsecureLoopback: true },
    });
  });

  it('uses the memory cache by default, and Firestore with a local key when asked', () => {
    expect(readBrokerConfig({ ...base, BROKER_CACHE_KMS_KEY: '', BROKER_MODE: 'development' }).cache).toEqual({ kind: 'memory', minRemainingSeconds: 300 });
    const key = Buffer.alloc(32, 7);
    expect(readBrokerConfig({ BROKER_POLICY_FILE: 'p', BROKER_MODE: 'development', BROKER_CACHE: 'firestore', BROKER_CACHE_LOCAL_KEY: key.toString('base64') }).cache)
      .toMatchObject({ kind: 'firestore', keyWrapping: { kind: 'local', key } });
    expect(() => readBrokerConfig({ BROKER_POLICY_FILE: 'p', BROKER_MODE: 'development', BROKER_CACHE: 'firestore', BROKER_CACHE_LOCAL_KEY: 'c2hvcnQ=' })).toThrow(/32 bytes/);
  });

  it('reads the Gemini API key secret (a numbered or latest version) and loopback Gemini and Secret Manager endpoints', () => {
    const config = readBrokerConfig({
      ...base,
      BROKER_MODE: 'development',
      BROKER_GEMINI_ENDPOINT: 'http://127.0.0.1:8090/',
      BROKER_SECRET_MANAGER_ENDPOINT: 'http://127.0.0.1:8091',
      BROKER_GEMINI_API_KEY_SECRET: 'projects/acme-prod/secrets/gemini-api-key/versions/3',
    });
    expect(config.gemini).toEqual({ endpoint: 'http://127.0.0.1:8090', secretManagerEndpoint: 'http://127.0.0.1:8091', apiKeySecret: 'projects/acme-prod/secrets/gemini-api-key/versions/3' });
    expect(readBrokerConfig({ ...base, BROKER_GEMINI_API_KEY_SECRET: 'projects/acme-prod/secrets/k/versions/latest' }).gemini.apiKeySecret).toBe('projects/acme-prod/secrets/k/versions/latest');
  });

  it('still refuses plain HTTP to a non-loopback host', () => {
    expect(() => readBrokerConfig({ ...base, BROKER_MODE: 'development', BROKER_IAM_ENDPOINT: 'http://iam.example.com' })).toThrow(/BROKER_IAM_ENDPOINT/);
  });
});
