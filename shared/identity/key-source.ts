/**
 * Where an issuer's verification keys come from: inline JWKS, an explicit `jwks_uri`, or
 * OIDC discovery. URLs come only from the policy (RFC 8725 §3.8/§3.10): never from a token's
 * `iss`, `jku`, `x5u` or embedded `jwk`.
 */
import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { DEFAULTS } from '../config/defaults';
import { invalidGrant } from '../errors';
import type { Deadline } from '../resilience/deadline';
import type { NetworkPolicy } from '../config/network-policy';
import { boundedGet, KeyFetchError } from './bounded-fetch';
import { acceptKeySet, printableKid, type AcceptedJwk, type KeyAcceptanceRules } from './key-acceptance';

/**
 * jose's key lookup, plus the request's deadline: a request waits for a key fetch no longer
 * than that (the fetch itself, shared with other requests, runs on within its own timeout).
 */
export type KeySource = (header: Parameters<JWTVerifyGetKey>[0], token: Parameters<JWTVerifyGetKey>[1], deadline?: Deadline) => ReturnType<JWTVerifyGetKey>;

export type KeySourceSpec =
  /** Keys the policy loader has already passed through `acceptKeySet`. */
  | { kind: 'inline'; keys: AcceptedJwk[] }
  | { kind: 'jwks_uri'; jwksUri: string }
  | { kind: 'discovery'; issuer: string };

/** What a key source observed, for the audit trail. URLs are the policy's, never a token's. */
export type KeySourceEvent =
  | { type: 'fetch_failed'; url: string; detail: string }
  | { type: 'keys_changed'; url: string; added: string[]; removed: string[] }
  /** A fetched key refused by `acceptJwk`: left out of the set. Never the key itself. */
  | { type: 'key_rejected'; url: string; kid?: string; reason: string }
  /** A fetched key accepted with a remark (an RSA exponent other than 65537). */
  | { type: 'key_unusual'; url: string; kid?: string; warning: string };

/** Bounds of a remote key cache; each defaults from DEFAULTS.jwks*. */
export interface IssuerKeySettings {
  /** One fetch of a JWKS or discovery document. */
  timeoutMs?: number;
  /** Least time between two fetches prompted by failures or unknown `kid`s. */
  cooldownMs?: number;
  /** Age at which keys are refetched (in the background while they serve). */
  cacheMaxAgeMs?: number;
  /** How long after their fetch keys keep verifying while refetches fail. */
  maxStaleMs?: number;
}

export interface KeySourceOptions extends IssuerKeySettings {
  network: NetworkPolicy;
  /** What a fetched key must be to verify anything (the issuer's algorithms, RSA floor). */
  acceptance: KeyAcceptanceRules;
  onEvent?: (event: KeySourceEvent) => void;
  /** Clock in ms (the broker's, so tests can travel in time). */
  now?: () => number;
}

export function createKeySource(spec: KeySourceSpec, options: KeySourceOptions): KeySource {
  switch (spec.kind) {
    case 'inline':
      return createLocalJWKSet({ keys: spec.keys } as JSONWebKeySet);
    case 'jwks_uri':
      return remoteKeySet(spec.jwksUri, options);
    case 'discovery':
      return discoveredKeySet(spec.issuer, options);
  }
}

/**
 * A JWKS fetched from the policy's URL and kept for `cacheMaxAgeMs`. Past that it is
 * refetched in the background while the keys in hand keep verifying; if refetching fails they
 * keep verifying until `maxStaleMs` after their fetch, and no longer (then callers get 503
 * until the host answers). A `kid` not in hand triggers a refetch (a rotation), at most once
 * per cooldown; so does an unusable set. Refetches are single-flight and, after a failure,
 * wait out the cooldown: a dead host is asked once per cooldown, not once per request.
 */
function remoteKeySet(jwksUri: string, options: KeySourceOptions): KeySource {
  const now = options.now ?? (() => Date.now());
  const timeoutMs = options.timeoutMs ?? DEFAULTS.jwksTimeoutMs;
  const cooldownMs = options.cooldownMs ?? DEFAULTS.jwksCooldownMs;
  const maxAgeMs = options.cacheMaxAgeMs ?? DEFAULTS.jwksCacheMaxAgeMs;
  const maxStaleMs = Math.max(options.maxStaleMs ?? DEFAULTS.jwksMaxStaleMs, maxAgeMs);
  let current: { getKey: JWTVerifyGetKey; kids: Set<string>; rejectedKids: Set<string>; fetchedAt: number } | undefined;
  let inflight: Promise<void> | undefined;
  let lastAttemptAt = -Infinity;
  let lastFailure: { error: unknown; at: number } | undefined;

  async function fetchKeys(): Promise<void> {
    const response = await boundedGet(jwksUri, { maxBytes: DEFAULTS.jwksMaxBytes, timeoutMs, network: options.network, headers: { accept: 'application/json' } });
    if (response.status !== 200) throw new KeyFetchError(`${jwksUri} answered HTTP ${response.status}`);
    let body: unknown;
    try {
      body = await response.json();
    } catch (cause) {
      throw new KeyFetchError(`${jwksUri} did not answer JSON`, { cause });
    }
    const { getKey, rejectedKids } = acceptedKeys(body);
    const kids = kidsOf(body);
    if (current && !sameSet(kids, current.kids)) {
      const before = current.kids;
      emit(options, { type: 'keys_changed', url: jwksUri, added: [...kids].filter((k) => !before.has(k)), removed: [...before].filter((k) => !kids.has(k)) });
    }
    current = { getKey, kids, rejectedKids, fetchedAt: now() };
    lastFailure = undefined;
  }

  /** Only keys `acceptJwk` passes may verify; each refused one is reported, never used. */
  function acceptedKeys(body: unknown): { getKey: JWTVerifyGetKey; rejectedKids: Set<string> } {
    let verdict: ReturnType<typeof acceptKeySet>;
    try {
      verdict = acceptKeySet(body, options.acceptance);
    } catch (cause) {
      throw new KeyFetchError(`${jwksUri} did not answer a JWK set`, { cause });
    }
    const logged = (kid: string | undefined) => (kid === undefined ? {} : { kid: printableKid(kid) });
    for (const { kid, reason } of verdict.rejected) emit(options, { type: 'key_rejected', url: jwksUri, ...logged(kid), reason });
    for (const { kid, warning } of verdict.warnings) emit(options, { type: 'key_unusual', url: jwksUri, ...logged(kid), warning });
    return {
      getKey: createLocalJWKSet({ keys: verdict.keys } as JSONWebKeySet),
      rejectedKids: new Set(verdict.rejected.flatMap(({ kid }) => (kid === undefined ? [] : [kid]))),
    };
  }

  function refresh(): Promise<void> {
    if (inflight) return inflight;
    lastAttemptAt = now();
    const attempt = fetchKeys()
      .catch((error: unknown) => {
        lastFailure = { error, at: now() };
        const kept = current ? `; keeping keys fetched ${Math.round((now() - current.fetchedAt) / 1000)} s ago (trusted up to ${Math.round(maxStaleMs / 1000)} s)` : '';
        emit(options, { type: 'fetch_failed', url: jwksUri, detail: `${error instanceof Error ? error.message : String(error)}${kept}` });
        throw error;
      })
      .finally(() => {
        inflight = undefined;
      });
    inflight = attempt;
    return attempt;
  }

  const mayRefetch = () => now() - lastAttemptAt >= cooldownMs;
  const lastError = () => lastFailure?.error ?? new KeyFetchError(`no usable keys from ${jwksUri}`);

  return async (header, token, deadline) => {
    const waitFor = (fetch: Promise<void>) => (deadline ? deadline.race(fetch) : fetch);
    const age = current ? now() - current.fetchedAt : Infinity;
    if (age >= maxStaleMs) {
      // Nothing usable in hand: this request waits for keys (or fails, retryably).
      if (inflight || mayRefetch()) await waitFor(refresh());
      else throw lastError();
    } else if (age >= maxAgeMs && !inflight && mayRefetch()) {
      refresh().catch(() => undefined); // in the background; the keys in hand serve meanwhile
    }
    const keys = current as NonNullable<typeof current>;
    try {
      return await keyFrom(keys, header, token);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
      // A key we do not hold: perhaps a rotation. Ask the host, at most once per cooldown;
      // while it is failing, the answer is "retry later", not "invalid token".
      if (inflight || mayRefetch()) await waitFor(refresh());
      else if (lastFailure && lastFailure.at >= keys.fetchedAt) throw lastError();
      else throw err;
      return keyFrom(current as NonNullable<typeof current>, header, token);
    }
  };
}

/**
 * The key for a token from one fetched set. A `kid` that names a key acceptance refused is a
 * refusal of its own, not a rotation: no refetch is made for it (the next scheduled one may
 * bring a sound key).
 */
async function keyFrom(keys: { getKey: JWTVerifyGetKey; rejectedKids: Set<string> }, ...[header, token]: Parameters<JWTVerifyGetKey>) {
  if (typeof header.kid === 'string' && keys.rejectedKids.has(header.kid)) {
    throw invalidGrant('the issuer key the token names was refused as unsafe', 'key_rejected');
  }
  return keys.getKey(header, token);
}

/** The `kid`s of a key set, for the audit trail's rotation events. */
function kidsOf(body: unknown): Set<string> {
  const keys = (body as { keys?: unknown }).keys;
  return new Set((Array.isArray(keys) ? keys : []).map((key: unknown) => String((key as { kid?: unknown })?.kid ?? '(no kid)').slice(0, DEFAULTS.logKidChars)));
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
function discoveredKeySet(issuer: string, options: KeySourceOptions): KeySource {
  const cooldownMs = options.cooldownMs ?? DEFAULTS.jwksCooldownMs;
  const now = options.now ?? (() => Date.now());
  let keySet: Promise<KeySource> | undefined;
  let failedAt = -Infinity;
  let lastError: unknown;

  const resolve = (): Promise<KeySource> => {
    if (keySet) return keySet;
    if (now() - failedAt < cooldownMs) return Promise.reject(lastError);
    const attempt = discoverJwksUri(issuer, options).then((jwksUri) => remoteKeySet(jwksUri, options));
    keySet = attempt;
    attempt.catch((err: unknown) => {
      emit(options, { type: 'fetch_failed', url: `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, detail: err instanceof Error ? err.message : String(err) });
      failedAt = now();
      lastError = err;
      if (keySet === attempt) keySet = undefined;
    });
    return attempt;
  };

  return async (header, token, deadline) => {
    const discovered = resolve();
    return (await (deadline ? deadline.race(discovered) : discovered))(header, token, deadline);
  };
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
