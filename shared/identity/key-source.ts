/**
 * Where an issuer's verification keys come from: inline JWKS, an explicit `jwks_uri`, or
 * OIDC discovery. URLs come only from the policy (RFC 8725 §3.8/§3.10): never from a token's
 * `iss`, `jku`, `x5u` or embedded `jwk`.
 */
import { createLocalJWKSet, createRemoteJWKSet, customFetch, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { DEFAULTS } from '../config/defaults';
import { boundedGet, KeyFetchError, type NetworkPolicy } from './bounded-fetch';

export type KeySourceSpec =
  | { kind: 'inline'; jwks: JSONWebKeySet }
  | { kind: 'jwks_uri'; jwksUri: string }
  | { kind: 'discovery'; issuer: string };

export interface KeySourceOptions {
  network: NetworkPolicy;
  timeoutMs?: number;
  cooldownMs?: number;
  cacheMaxAgeMs?: number;
}

export function createKeySource(spec: KeySourceSpec, options: KeySourceOptions): JWTVerifyGetKey {
  switch (spec.kind) {
    case 'inline':
      return createLocalJWKSet(spec.jwks);
    case 'jwks_uri':
      return remoteKeySet(spec.jwksUri, options);
    case 'discovery':
      return discoveredKeySet(spec.issuer, options);
  }
}

function remoteKeySet(jwksUri: string, options: KeySourceOptions): JWTVerifyGetKey {
  const timeoutMs = options.timeoutMs ?? DEFAULTS.jwksTimeoutMs;
  return createRemoteJWKSet(new URL(jwksUri), {
    timeoutDuration: timeoutMs,
    cooldownDuration: options.cooldownMs ?? DEFAULTS.jwksCooldownMs,
    cacheMaxAge: options.cacheMaxAgeMs ?? DEFAULTS.jwksCacheMaxAgeMs,
    [customFetch]: (url: string, init: RequestInit) =>
      boundedGet(url, {
        maxBytes: DEFAULTS.jwksMaxBytes,
        timeoutMs,
        network: options.network,
        headers: init.headers,
        signal: init.signal ?? undefined,
      }),
  });
}

/**
 * Resolves `<issuer>/.well-known/openid-configuration` once, checks that its `issuer` is
 * exactly the configured one (OIDC Discovery §4.3), then uses its `jwks_uri`. A failed
 * discovery is retried at most once per cooldown window; callers in between get the error.
 */
function discoveredKeySet(issuer: string, options: KeySourceOptions): JWTVerifyGetKey {
  const cooldownMs = options.cooldownMs ?? DEFAULTS.jwksCooldownMs;
  let keySet: Promise<JWTVerifyGetKey> | undefined;
  let failedAt = -Infinity;
  let lastError: unknown;

  const resolve = (): Promise<JWTVerifyGetKey> => {
    if (keySet) return keySet;
    if (Date.now() - failedAt < cooldownMs) return Promise.reject(lastError);
    const attempt = discoverJwksUri(issuer, options).then((jwksUri) => remoteKeySet(jwksUri, options));
    keySet = attempt;
    attempt.catch((err: unknown) => {
      failedAt = Date.now();
      lastError = err;
      if (keySet === attempt) keySet = undefined;
    });
    return attempt;
  };

  return async (header, token) => (await resolve())(header, token);
}

async function discoverJwksUri(issuer: string, options: KeySourceOptions): Promise<string> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const response = await boundedGet(url, {
    maxBytes: DEFAULTS.discoveryMaxBytes,
    timeoutMs: options.timeoutMs ?? DEFAULTS.jwksTimeoutMs,
    network: options.network,
    headers: { accept: 'application/json' },
  });
  if (response.status !== 200) throw new KeyFetchError(`discovery for ${issuer} answered HTTP ${response.status}`);
  let document: unknown;
  try {
    document = await response.json();
  } catch (cause) {
    throw new KeyFetchError(`discovery document of ${issuer} is not JSON`, { cause });
  }
  if (typeof document !== 'object' || document === null) throw new KeyFetchError(`discovery document of ${issuer} is not an object`);
  const { issuer: advertised, jwks_uri: jwksUri } = document as Record<string, unknown>;
  if (advertised !== issuer) throw new KeyFetchError(`discovery document of ${issuer} names a different issuer`);
  if (typeof jwksUri !== 'string') throw new KeyFetchError(`discovery document of ${issuer} has no jwks_uri`);
  return jwksUri;
}
