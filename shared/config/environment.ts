/**
 * Reads the broker's configuration from environment variables, refusing unsafe
 * combinations at start-up (a ConfigurationError, never a request-time surprise).
 *
 *   BROKER_MODE               production (default) | development
 *   BROKER_POLICY_FILE        trust-policy file (YAML or JSON); required
 *   BROKER_ISSUER_URL         the broker's public base URL (RFC 8414 issuer, accepted `audience`)
 *   BROKER_IAM_ENDPOINT       IAM Credentials base URL (default https://iamcredentials.googleapis.com)
 *   BROKER_MAX_LIFETIME_SECONDS  broker-wide ceiling on minted lifetimes (≤ 3600)
 *   BROKER_DEV_SOURCE_TOKEN   development only: bearer token the broker presents to the emulator
 *                             instead of Application Default Credentials
 *
 * Production refuses plain-HTTP or loopback issuers and endpoints, so the dev-mode demo
 * issuer and the loopback Google emulator can never be trusted by a deployed broker.
 */
import { ConfigurationError } from '../errors';
import { isLoopbackHost, type NetworkPolicy } from '../identity/bounded-fetch';
import type { SourceCredentials } from '../mint/impersonated-minter';
import { DEFAULTS } from './defaults';

export type BrokerMode = 'production' | 'development';

export interface BrokerConfig {
  readonly mode: BrokerMode;
  readonly policyFile: string;
  readonly issuerUrl?: string;
  readonly iamEndpoint: string;
  readonly maxLifetimeSeconds: number;
  readonly source: SourceCredentials;
  readonly network: NetworkPolicy;
}

export function readBrokerConfig(env: NodeJS.ProcessEnv = process.env): BrokerConfig {
  const mode = readMode(env.BROKER_MODE);
  const development = mode === 'development';
  const policyFile = env.BROKER_POLICY_FILE;
  if (!policyFile) throw new ConfigurationError('BROKER_POLICY_FILE must name the trust-policy file');
  const iamEndpoint = env.BROKER_IAM_ENDPOINT || DEFAULTS.iamCredentialsEndpoint;
  checkEndpoint('BROKER_IAM_ENDPOINT', iamEndpoint, development);
  const issuerUrl = env.BROKER_ISSUER_URL || undefined;
  if (issuerUrl !== undefined) checkEndpoint('BROKER_ISSUER_URL', issuerUrl, development);
  return {
    mode,
    policyFile,
    issuerUrl: issuerUrl?.replace(/\/+$/, ''),
    iamEndpoint: iamEndpoint.replace(/\/+$/, ''),
    maxLifetimeSeconds: readLifetime(env.BROKER_MAX_LIFETIME_SECONDS),
    source: readSource(env.BROKER_DEV_SOURCE_TOKEN, development),
    network: { allowInsecureLoopback: development },
  };
}

function readMode(value: string | undefined): BrokerMode {
  if (value === undefined || value === '' || value === 'production') return 'production';
  if (value === 'development') return 'development';
  throw new ConfigurationError(`BROKER_MODE must be "production" or "development", not "${value}"`);
}

function checkEndpoint(name: string, value: string, development: boolean): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigurationError(`${name} is not a URL`);
  }
  if (development && (url.protocol === 'https:' || isLoopbackHost(url.hostname))) return;
  if (url.protocol !== 'https:' || isLoopbackHost(url.hostname)) {
    throw new ConfigurationError(`${name} must be an https URL to a non-loopback host in production`);
  }
}

function readLifetime(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULTS.maxTokenLifetimeSecondsCeiling;
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < DEFAULTS.minTokenLifetimeSeconds || seconds > DEFAULTS.maxTokenLifetimeSecondsCeiling) {
    throw new ConfigurationError(
      `BROKER_MAX_LIFETIME_SECONDS must be an integer from ${DEFAULTS.minTokenLifetimeSeconds} to ${DEFAULTS.maxTokenLifetimeSecondsCeiling}`,
    );
  }
  return seconds;
}

function readSource(devToken: string | undefined, development: boolean): SourceCredentials {
  if (devToken === undefined || devToken === '') return { kind: 'application-default' };
  if (!development) throw new ConfigurationError('BROKER_DEV_SOURCE_TOKEN is refused outside development mode');
  return { kind: 'static-token', accessToken: devToken };
}
