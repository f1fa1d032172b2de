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

/** What a key source observed, for the audit trail. URLs are the policy's, never a token's. */
export type KeySourceEvent =
  | { type: 'fetch_failed'; url: string; detail: string }
  | { type: 'keys_changed'; url: string; added: string[]; removed: string[] };

export interface KeySourceOptions {
  network: NetworkPolicy;
  onEvent?: (event: KeySourceEvent) => void;
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
  let knownKids: Set<string> | undefined;
  const observe = async (response: Response): Promise<Response> => {
    if (response.status !== 200) {
      emit(options, { type: 'fetch_failed', url: jwksUri, detail: `HTTP ${response.status}` });
      return response;
    }
    const kids = await kidsOf(response.clone());
    if (kids && knownKids && !sameSet(kids, knownKids)) {
      emit(options, { type: 'keys_changed', url: jwksUri, added: [...kids].filter((k) => !knownKids?.has(k)), removed: [...knownKids].filter((k) => !kids.has(k)) });
    }
    if (kids) knownKids = kids;
    return response;
  };
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
      }).then(observe, (err: unknown) => {
        emit(options, { type: 'fetch_failed', url: jwksUri, detail: err instanceof Error ? err.message : String(err) });
        throw err;
      }),
  });
}

/** The `kid`s of a JWKS response, or undefined when it is not a key set (jose will say why). */
async function kidsOf(response: Response): Promise<Set<string> | undefined> {
  try {
    const body = (await response.json()) as { keys?: unknown };
    if (!Array.isArray(body.keys)) return undefined;
    return new Set(body.keys.map((key: unknown) => String((key as { kid?: unknown })?.kid ?? '(no kid)').slice(0, 128)));
  } catch {
    return undefined;
  }
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((item) => b.has(item));
}

function emit(options: KeySourceOptions, event: KeySourceEvent): void {
  try {
    options.onEvent?.(event);
  } catch {
    // observers never break verification
  }
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
      emit(options, { type: 'fetch_failed', url: `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, detail: err instanceof Error ? err.message : String(err) });
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
