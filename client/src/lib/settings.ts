/**
 * Options checked once, at construction: a mistake is a TypeError there (the operator's), never
 * a failed request later.
 */
import { BASE_DELAY_MS, MAX_ATTEMPTS, MAX_DELAY_MS, MAX_RETRY_AFTER_MS, REQUEST_TIMEOUT_MS } from './defaults';
import type { BrokerClientOptions, BrokerCredential, Clock, RetryOptions } from './options';
import { TOKEN_TYPE_GEMINI_EPHEMERAL } from './protocol';

export interface Settings {
  /** The broker's base URL, no trailing slash. */
  brokerUrl: string;
  /** The `aud` of client assertions. */
  issuerUrl: string;
  credential: BrokerCredential;
  /** Form parameters every token request carries besides the credential's (audience, scope, …). */
  params: Record<string, string>;
  refreshMarginMs: number | undefined;
  retry: Required<RetryOptions>;
  /** Per-attempt deadline in ms; 0: none. */
  timeoutMs: number;
  fetch: typeof fetch;
  clock: Clock;
  random: () => number;
  /** False for tokens that must not be shared between calls (Gemini ephemeral tokens). */
  cacheable: boolean;
  onBackgroundRefreshError: (error: unknown) => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => (ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve()),
};

export function resolveSettings(options: BrokerClientOptions): Settings {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const brokerUrl = brokerBaseUrl(options.brokerUrl, 'brokerUrl');
  const credential = checkCredential(options.credential);
  const params = requestParams(options, credential);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw new TypeError('no fetch: pass options.fetch');
  return {
    brokerUrl,
    issuerUrl: options.issuerUrl === undefined ? brokerUrl : brokerBaseUrl(options.issuerUrl, 'issuerUrl'),
    credential,
    params,
    refreshMarginMs: options.refreshMarginSeconds === undefined ? undefined : nonNegative(options.refreshMarginSeconds, 'refreshMarginSeconds') * 1000,
    retry: retrySettings(options.retry ?? {}),
    timeoutMs: timeoutSetting(options.timeoutMs),
    // Called as a plain function: a window.fetch called as a method of another object throws "Illegal invocation".
    fetch: (input, init) => fetchImpl(input, init),
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    cacheable: options.requestedTokenType !== TOKEN_TYPE_GEMINI_EPHEMERAL,
    onBackgroundRefreshError: options.onBackgroundRefreshError ?? (() => undefined),
  };
}

/** https, or http to a loopback host (development); no query, fragment or credentials; no trailing slash. */
function brokerBaseUrl(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a URL string`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${name} is not an absolute URL`);
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new TypeError(`${name} must be https (plain http only to a loopback address)`);
  if (url.search || url.hash || url.username || url.password) throw new TypeError(`${name} must not carry a query, fragment or credentials`);
  return url.href.replace(/\/+$/, '');
}

function checkCredential(credential: BrokerCredential | undefined): BrokerCredential {
  if (typeof credential !== 'object' || credential === null) throw new TypeError('credential is required');
  switch (credential.kind) {
    case 'subject_token':
      if (credential.subjectToken === undefined || credential.subjectToken === null || credential.subjectToken === '') throw new TypeError('credential.subjectToken is required');
      return credential;
    case 'client_secret':
      nonEmpty(credential.clientId, 'credential.clientId');
      nonEmpty(credential.clientSecret, 'credential.clientSecret');
      if (credential.authMethod !== undefined && credential.authMethod !== 'client_secret_basic' && credential.authMethod !== 'client_secret_post') {
        throw new TypeError('credential.authMethod must be client_secret_basic or client_secret_post');
      }
      return credential;
    case 'private_key_jwt':
    case 'jwt_bearer':
      nonEmpty(credential.clientId, 'credential.clientId');
      nonEmpty(credential.algorithm, 'credential.algorithm');
      if (!credential.privateKey) throw new TypeError('credential.privateKey is required');
      if (credential.assertionLifetimeSeconds !== undefined && !(Number.isInteger(credential.assertionLifetimeSeconds) && credential.assertionLifetimeSeconds >= 10 && credential.assertionLifetimeSeconds <= 3600)) {
        throw new TypeError('credential.assertionLifetimeSeconds must be an integer from 10 to 3600');
      }
      return credential;
    case 'api_key':
      nonEmpty(credential.apiKey, 'credential.apiKey');
      return credential;
    case 'session':
      nonEmpty(credential.app, 'credential.app');
      return credential;
    default:
      throw new TypeError(`unknown credential kind ${JSON.stringify((credential as { kind?: unknown }).kind)}`);
  }
}

function requestParams(options: BrokerClientOptions, credential: BrokerCredential): Record<string, string> {
  const exchangeOnly = { requestedTokenType: options.requestedTokenType, resource: options.resource };
  for (const [name, value] of Object.entries(exchangeOnly)) {
    if (value !== undefined && credential.kind !== 'subject_token') throw new TypeError(`${name} is for token exchange (a subject_token credential) only`);
  }
  const shaping = { audience: options.audience, scope: options.scope, lifetimeSeconds: options.lifetimeSeconds };
  if (credential.kind === 'session') {
    for (const [name, value] of Object.entries(shaping)) {
      if (value !== undefined) throw new TypeError(`${name} does not apply to a session credential: the web app's policy decides`);
    }
    return {};
  }
  const params: Record<string, string> = {};
  if (options.audience !== undefined) params.audience = nonEmpty(options.audience, 'audience');
  if (options.scope !== undefined) {
    const scopes = typeof options.scope === 'string' ? options.scope.split(' ').filter(Boolean) : [...options.scope];
    if (scopes.length === 0 || scopes.some((s) => typeof s !== 'string' || s === '' || /\s/.test(s))) throw new TypeError('scope must name at least one scope, without whitespace inside');
    params.scope = scopes.join(' ');
  }
  if (options.requestedTokenType !== undefined) params.requested_token_type = nonEmpty(options.requestedTokenType, 'requestedTokenType');
  if (options.resource !== undefined) params.resource = nonEmpty(options.resource, 'resource');
  if (options.lifetimeSeconds !== undefined) {
    if (!Number.isInteger(options.lifetimeSeconds) || options.lifetimeSeconds < 60) throw new TypeError('lifetimeSeconds must be an integer of at least 60');
    params.options = JSON.stringify({ lifetimeSeconds: options.lifetimeSeconds });
  }
  return params;
}

function retrySettings(retry: RetryOptions): Required<RetryOptions> {
  const settings = {
    maxAttempts: retry.maxAttempts ?? MAX_ATTEMPTS,
    baseDelayMs: retry.baseDelayMs ?? BASE_DELAY_MS,
    maxDelayMs: retry.maxDelayMs ?? MAX_DELAY_MS,
    maxRetryAfterMs: retry.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS,
  };
  if (!Number.isInteger(settings.maxAttempts) || settings.maxAttempts < 1 || settings.maxAttempts > 10) throw new TypeError('retry.maxAttempts must be an integer from 1 to 10');
  for (const name of ['baseDelayMs', 'maxDelayMs', 'maxRetryAfterMs'] as const) nonNegative(settings[name], `retry.${name}`);
  return settings;
}

/** setTimeout's limit: a longer delay fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function timeoutSetting(value: number | undefined): number {
  if (value === undefined) return REQUEST_TIMEOUT_MS;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_TIMER_MS) throw new TypeError('timeoutMs must be an integer from 0 (no limit) to 2^31 − 1');
  return value;
}

function nonEmpty(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${name} must be a non-empty string`);
  return value;
}

function nonNegative(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new TypeError(`${name} must be a finite number ≥ 0`);
  return value;
}
