/**
 * Reads the broker's configuration from environment variables, refusing unsafe
 * combinations at start-up (a ConfigurationError, never a request-time surprise).
 *
 *   BROKER_MODE               production (default) | development
 *   BROKER_POLICY_FILE        trust-policy file (YAML or JSON); required
 *   BROKER_ISSUER_URL         the broker's public base URL (RFC 8414 issuer, accepted `audience`)
 *   BROKER_IAM_ENDPOINT       IAM Credentials base URL (default https://iamcredentials.googleapis.com)
 *   BROKER_STS_ENDPOINT       Google STS base URL (default https://sts.googleapis.com)
 *   BROKER_GEMINI_API_KEY_SECRET  Secret Manager secret version holding the Gemini API key
 *                             (projects/P/secrets/S/versions/V); unset: no Gemini ephemeral tokens
 *   BROKER_GEMINI_ENDPOINT    Gemini API base URL (default https://generativelanguage.googleapis.com)
 *   BROKER_SECRET_MANAGER_ENDPOINT  Secret Manager base URL (default https://secretmanager.googleapis.com)
 *   BROKER_MAX_LIFETIME_SECONDS  broker-wide ceiling on minted lifetimes (≤ 3600)
 *   BROKER_DEV_SOURCE_TOKEN   development only: bearer token the broker presents to the emulator
 *                             instead of Application Default Credentials
 *   BROKER_CACHE              firestore (production default) | memory (development default) | none
 *   BROKER_CACHE_KMS_KEY      Cloud KMS key wrapping the cache's data keys (required with firestore
 *                             in production): projects/P/locations/L/keyRings/R/cryptoKeys/K
 *   BROKER_CACHE_LOCAL_KEY    development only: base64 32-byte key used instead of KMS
 *   BROKER_CACHE_COLLECTION   Firestore collection (default token-broker-cache)
 *   BROKER_FIRESTORE_PROJECT  Firestore project (default: GOOGLE_CLOUD_PROJECT, then ADC's project)
 *   BROKER_FIRESTORE_DATABASE Firestore database id (default "(default)")
 *   BROKER_CACHE_MIN_REMAINING_SECONDS  never serve a cached token with less life left (default 300)
 *
 * Production refuses plain-HTTP or loopback issuers and endpoints, so the dev-mode demo
 * issuer and the loopback Google emulator can never be trusted by a deployed broker.
 */
import { ConfigurationError } from '../errors';
import { isCryptoKeyName } from './kms-key-name';
import { isLoopbackHost, type NetworkPolicy } from './network-policy';
import { DEFAULTS } from './defaults';

export type BrokerMode = 'production' | 'development';

export type CacheConfig =
  | { readonly kind: 'none' }
  | { readonly kind: 'memory'; readonly minRemainingSeconds: number }
  | {
      readonly kind: 'firestore';
      readonly minRemainingSeconds: number;
      readonly collection: string;
      readonly projectId?: string;
      readonly databaseId?: string;
      readonly keyWrapping: { readonly kind: 'kms'; readonly keyName: string } | { readonly kind: 'local'; readonly key: Buffer };
    };

/** The broker's own credentials for IAM Credentials. */
export type SourceCredentials =
  | { kind: 'application-default' }
  /** Development and tests only: a static bearer token for the loopback emulator. */
  | { kind: 'static-token'; accessToken: string };

export interface GeminiConfig {
  readonly endpoint: string;
  readonly secretManagerEndpoint: string;
  /** A secret version resource name; absent, a request for an ephemeral token is a server_error. */
  readonly apiKeySecret?: string;
}

export interface BrokerConfig {
  readonly mode: BrokerMode;
  readonly policyFile: string;
  readonly issuerUrl?: string;
  readonly iamEndpoint: string;
  readonly stsEndpoint: string;
  /** Gemini Live API ephemeral tokens: where they are created and the secret holding the API key. */
  readonly gemini: GeminiConfig;
  readonly maxLifetimeSeconds: number;
  readonly source: SourceCredentials;
  readonly network: NetworkPolicy;
  readonly cache: CacheConfig;
}

export function readBrokerConfig(env: NodeJS.ProcessEnv = process.env): BrokerConfig {
  const mode = readMode(env.BROKER_MODE);
  const development = mode === 'development';
  const policyFile = env.BROKER_POLICY_FILE;
  if (!policyFile) throw new ConfigurationError('BROKER_POLICY_FILE must name the trust-policy file');
  const iamEndpoint = env.BROKER_IAM_ENDPOINT || DEFAULTS.iamCredentialsEndpoint;
  checkEndpoint('BROKER_IAM_ENDPOINT', iamEndpoint, development);
  const stsEndpoint = env.BROKER_STS_ENDPOINT || DEFAULTS.stsEndpoint;
  checkEndpoint('BROKER_STS_ENDPOINT', stsEndpoint, development);
  const gemini = readGemini(env, development);
  return {
    mode,
    policyFile,
    issuerUrl: readIssuerUrl(env.BROKER_ISSUER_URL, development),
    iamEndpoint: iamEndpoint.replace(/\/+$/, ''),
    stsEndpoint: stsEndpoint.replace(/\/+$/, ''),
    gemini,
    maxLifetimeSeconds: readSeconds(
      'BROKER_MAX_LIFETIME_SECONDS', env.BROKER_MAX_LIFETIME_SECONDS,
      DEFAULTS.maxTokenLifetimeSecondsCeiling, DEFAULTS.minTokenLifetimeSeconds, DEFAULTS.maxTokenLifetimeSecondsCeiling,
    ),
    source: readSource(env.BROKER_DEV_SOURCE_TOKEN, development),
    network: { allowInsecureLoopback: development },
    cache: readCache(env, development),
  };
}

const SECRET_VERSION = /^projects\/[A-Za-z0-9-]{1,63}\/secrets\/[A-Za-z0-9_-]{1,255}\/versions\/(?:latest|[1-9][0-9]{0,18})$/;

function readGemini(env: NodeJS.ProcessEnv, development: boolean): GeminiConfig {
  const endpoint = env.BROKER_GEMINI_ENDPOINT || DEFAULTS.geminiEndpoint;
  checkEndpoint('BROKER_GEMINI_ENDPOINT', endpoint, development);
  const secretManagerEndpoint = env.BROKER_SECRET_MANAGER_ENDPOINT || DEFAULTS.secretManagerEndpoint;
  checkEndpoint('BROKER_SECRET_MANAGER_ENDPOINT', secretManagerEndpoint, development);
  const apiKeySecret = env.BROKER_GEMINI_API_KEY_SECRET || undefined;
  if (apiKeySecret !== undefined && !SECRET_VERSION.test(apiKeySecret)) {
    throw new ConfigurationError('BROKER_GEMINI_API_KEY_SECRET must be a secret version: projects/P/secrets/S/versions/V (V a number or latest)');
  }
  return {
    endpoint: endpoint.replace(/\/+$/, ''),
    secretManagerEndpoint: secretManagerEndpoint.replace(/\/+$/, ''),
    ...(apiKeySecret === undefined ? {} : { apiKeySecret }),
  };
}

function readCache(env: NodeJS.ProcessEnv, development: boolean): CacheConfig {
  const kind = env.BROKER_CACHE || (development ? 'memory' : 'firestore');
  const minRemainingSeconds = readSeconds('BROKER_CACHE_MIN_REMAINING_SECONDS', env.BROKER_CACHE_MIN_REMAINING_SECONDS, DEFAULTS.cacheMinRemainingSeconds, 0, DEFAULTS.cacheMinRemainingSecondsCeiling);
  if (env.BROKER_CACHE_LOCAL_KEY && !development) throw new ConfigurationError('BROKER_CACHE_LOCAL_KEY is refused outside development mode');
  if (kind === 'none') return { kind };
  if (kind === 'memory') return { kind, minRemainingSeconds };
  if (kind !== 'firestore') throw new ConfigurationError(`BROKER_CACHE must be firestore, memory or none, not "${kind}"`);
  return {
    kind,
    minRemainingSeconds,
    collection: env.BROKER_CACHE_COLLECTION || DEFAULTS.cacheCollection,
    projectId: env.BROKER_FIRESTORE_PROJECT || env.GOOGLE_CLOUD_PROJECT || undefined,
    databaseId: env.BROKER_FIRESTORE_DATABASE || undefined,
    keyWrapping: readKeyWrapping(env, development),
  };
}

function readKeyWrapping(env: NodeJS.ProcessEnv, development: boolean): Extract<CacheConfig, { kind: 'firestore' }>['keyWrapping'] {
  const kmsKey = env.BROKER_CACHE_KMS_KEY;
  if (kmsKey) {
    if (!isCryptoKeyName(kmsKey)) throw new ConfigurationError('BROKER_CACHE_KMS_KEY must be projects/P/locations/L/keyRings/R/cryptoKeys/K');
    return { kind: 'kms', keyName: kmsKey };
  }
  const local = env.BROKER_CACHE_LOCAL_KEY;
  if (development && local) {
    const key = Buffer.from(local, 'base64');
    if (key.length !== 32) throw new ConfigurationError('BROKER_CACHE_LOCAL_KEY must be 32 bytes, base64-encoded');
    return { kind: 'local', key };
  }
  throw new ConfigurationError(
    development
      ? 'BROKER_CACHE=firestore needs BROKER_CACHE_KMS_KEY or, in development, BROKER_CACHE_LOCAL_KEY'
      : 'BROKER_CACHE=firestore needs BROKER_CACHE_KMS_KEY (or set BROKER_CACHE=none)',
  );
}

function readSeconds(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
    throw new ConfigurationError(`${name} must be an integer from ${min} to ${max}`);
  }
  return seconds;
}

function readMode(value: string | undefined): BrokerMode {
  if (value === undefined || value === '' || value === 'production') return 'production';
  if (value === 'development') return 'development';
  throw new ConfigurationError(`BROKER_MODE must be "production" or "development", not "${value}"`);
}

/**
 * `BROKER_ISSUER_URL`, the one place it is checked and normalised: unset when empty, trailing
 * slashes dropped (people paste `https://broker.example.com/`), https to a non-loopback host in
 * production, https or loopback in development. Metadata, accepted audiences and the assertion
 * `aud` all use the result.
 */
export function readIssuerUrl(value: string | undefined, development: boolean): string | undefined {
  if (!value) return undefined;
  checkEndpoint('BROKER_ISSUER_URL', value, development);
  return value.replace(/\/+$/, '');
}

function checkEndpoint(name: string, value: string, development: boolean): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigurationError(`${name} is not a URL`);
  }
  if (development) {
    if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))) return;
    throw new ConfigurationError(`${name} must be an https URL or, in development mode, a loopback http URL`);
  }
  if (url.protocol !== 'https:' || isLoopbackHost(url.hostname)) {
    throw new ConfigurationError(`${name} must be an https URL to a non-loopback host in production`);
  }
}

function readSource(devToken: string | undefined, development: boolean): SourceCredentials {
  if (devToken === undefined || devToken === '') return { kind: 'application-default' };
  if (!development) throw new ConfigurationError('BROKER_DEV_SOURCE_TOKEN is refused outside development mode');
  return { kind: 'static-token', accessToken: devToken };
}
