/**
 * Turns a validated document into a CompiledPolicy: presets expanded, defaults applied, URLs
 * checked against the deployment's network policy, CEL conditions compiled, secret hashes
 * and CIDR ranges parsed — so every error a policy can have surfaces at load time, never at
 * request time.
 */
import ipaddr from 'ipaddr.js';
import { DEFAULTS } from '../config/defaults';
import { urlRefusal, type NetworkPolicy } from '../config/network-policy';
import { acceptKeySet, type KeyAcceptanceRules } from '../identity/key-acceptance';
import { createKeySource, type IssuerKeySettings, type KeySourceEvent, type KeySourceSpec } from '../identity/key-source';
import { parseSecretHash } from '../identity/secret-hash';
import type { TrustedIssuer } from '../identity/trusted-issuer';
import type { LimitSpec } from '../limits/rate-limiter';
import { compileUsernameTemplate, SUBJECT_USERNAME } from './username-template';
import { contentVersion } from '../canonical-json';
import { SCOPE_CLOUD_PLATFORM } from '../oauth-uris';
import { compileAccessBoundary } from './access-boundary';
import { expandPreset, grantScopes, type ExpandedIssuer } from './presets';
import { CelConditionError, compileCondition } from './cel';
import { compileGeminiEphemeral } from './gemini-ephemeral';
import { compileWebApps } from './web-apps';
import { indexRules } from './rule-index';
import type { CompiledApiKey, CompiledClient, CompiledPolicy, CompiledRule, CorsPolicy } from './compiled-policy';
import { PolicyLoadError, type PolicyIssue } from './policy-error';
import { GCLOUD_CLIENT, type ClientDocument, type LimitsDocument, type PolicyDocument, type RuleDocument } from './schema';

export interface CompileOptions {
  /** Where the document came from, for messages. */
  source: string;
  network: NetworkPolicy;
  /** Broker-wide lifetime ceiling (≤ DEFAULTS.maxTokenLifetimeSecondsCeiling). */
  maxLifetimeSeconds?: number;
  /** Observes issuers' and clients' key endpoints (fetch failures, key rotations). */
  onKeyEvent?: (issuer: string, event: KeySourceEvent) => void;
  /** Issuers' key caches: clock and bounds (defaults from DEFAULTS). */
  keys?: IssuerKeySettings & { now?: () => number };
}


export function compilePolicy(document: PolicyDocument, options: CompileOptions): CompiledPolicy {
  const issues: PolicyIssue[] = [];
  const issuers = new Map<string, TrustedIssuer>();
  document.issuers.forEach((issuer, i) => {
    const trusted = compileIssuer(expandPreset(issuer), `issuers[${i}]`, options, issues);
    if (trusted) for (const name of [trusted.issuer, ...trusted.aliases]) issuers.set(name, trusted);
  });
  const clients = new Map<string, CompiledClient>();
  const apiKeys = new Map<string, CompiledApiKey>();
  (document.clients ?? []).forEach((client, i) => {
    const compiled = compileClient(client, `clients[${i}]`, options, issues, apiKeys);
    if (compiled) clients.set(compiled.id, compiled);
  });
  const ceiling = Math.min(options.maxLifetimeSeconds ?? Infinity, DEFAULTS.maxTokenLifetimeSecondsCeiling);
  const rules: CompiledRule[] = [];
  document.rules.forEach((rule, i) => {
    const compiled = compileRule(rule, `rules[${i}]`, ceiling, issuers, issues);
    if (compiled) rules.push(compiled);
  });
  const cors = compileCors(document, issues);
  const webApps = compileWebApps(document.web_apps ?? [], options.network, issues);
  if (issues.length > 0) throw new PolicyLoadError(options.source, issues);
  return Object.freeze({
    source: options.source,
    version: contentVersion(document),
    issuers,
    clients,
    assertionClients: new Map([...clients.values()].flatMap((c) => (c.assertion ? [[c.id, c.assertion] as const] : []))),
    apiKeys,
    publicClients: new Map((document.public_clients ?? []).map((entry) =>
      entry === 'gcloud' ? [GCLOUD_CLIENT.id, { publishedSecret: GCLOUD_CLIENT.publishedSecret }] : [entry.id, entry.published_secret === undefined ? {} : { publishedSecret: entry.published_secret }])),
    cors,
    rules: Object.freeze(rules),
    ruleIndex: indexRules(rules),
    webApps,
  });
}


function compileIssuer(doc: ExpandedIssuer, path: string, options: CompileOptions, issues: PolicyIssue[]): TrustedIssuer | undefined {
  const { network, onKeyEvent, keys } = options;
  const before = issues.length;
  checkUrl(doc.issuer, `${path}.issuer`, network, issues);
  if (doc.jwks_uri !== undefined) checkUrl(doc.jwks_uri, `${path}.jwks_uri`, network, issues);
  const algorithms = [...(doc.algorithms ?? DEFAULTS.algorithms)];
  const acceptance = { algorithms, minRsaBits: doc.min_rsa_key_bits };
  const spec = keySourceSpec(doc, acceptance, path, issues, (event) => onKeyEvent?.(doc.issuer, event));
  if (issues.length > before) return undefined;
  let keyGeneration = 0;
  const onEvent = (event: KeySourceEvent) => {
    if (event.type === 'keys_changed' || event.type === 'key_rejected') keyGeneration += 1;
    onKeyEvent?.(doc.issuer, event);
  };
  return Object.freeze({
    issuer: doc.issuer,
    aliases: Object.freeze(doc.aliases),
    audiences: Object.freeze([...doc.audiences]),
    authorizedParties: Object.freeze([...(doc.authorized_parties ?? doc.audiences)]),
    algorithms: Object.freeze(algorithms),
    clockToleranceSeconds: doc.clock_tolerance_seconds ?? DEFAULTS.clockToleranceSeconds,
    maxTokenAgeSeconds: doc.max_token_age_seconds ?? DEFAULTS.maxTokenAgeSeconds,
    maxTokenValiditySeconds: doc.max_token_validity_seconds ?? DEFAULTS.maxTokenValiditySeconds,
    browser: doc.browser ?? false,
    oneTime: doc.replay === 'one_time',
    requireAuthTime: doc.requireAuthTime,
    keys: createKeySource(spec, {
      ...keys,
      ...(doc.max_key_staleness_seconds === undefined ? {} : { maxStaleMs: doc.max_key_staleness_seconds * 1000 }),
      network,
      acceptance,
      onEvent }),
    keyGeneration: () => keyGeneration,
  });
}

/**
 * Where keys come from. Inline keys pass `acceptKeySet` here, so a weak one is a load error
 * with its path (`issuers[2].jwks.keys[0]: RSA public exponent 1 is not allowed …`); fetched
 * sets pass the same function on arrival (key-source.ts).
 */
function keySourceSpec(
  doc: { jwks?: unknown; jwks_uri?: string; issuer?: string },
  acceptance: KeyAcceptanceRules,
  path: string,
  issues: PolicyIssue[],
  onEvent: (event: KeySourceEvent) => void,
): KeySourceSpec {
  if (doc.jwks_uri !== undefined) return { kind: 'jwks_uri', jwksUri: doc.jwks_uri };
  if (doc.jwks === undefined) return { kind: 'discovery', issuer: doc.issuer ?? '' };
  const verdict = acceptKeySet(doc.jwks, acceptance);
  for (const { index, reason } of verdict.rejected) issues.push({ path: `${path}.jwks.keys[${index}]`, reason });
  for (const { kid, warning } of verdict.warnings) onEvent({ type: 'key_unusual', url: `${path}.jwks (inline)`, ...(kid === undefined ? {} : { kid }), warning });
  return { kind: 'inline', keys: verdict.keys };
}

function checkUrl(value: string, path: string, network: NetworkPolicy, issues: PolicyIssue[]): void {
  const refusal = urlRefusal(new URL(value), network);
  if (refusal) issues.push({ path, reason: refusal });
}

function compileClient(
  doc: ClientDocument, path: string, options: CompileOptions, issues: PolicyIssue[], apiKeys: Map<string, CompiledApiKey>,
): CompiledClient | undefined {
  const before = issues.length;
  if (doc.jwks_uri !== undefined) checkUrl(doc.jwks_uri, `${path}.jwks_uri`, options.network, issues);
  const secrets = (doc.secrets ?? []).flatMap((secret, s) => {
    const hash = parseHash(secret.hash, `${path}.secrets[${s}].hash`, issues);
    return hash ? [{ hash, expiresAtMs: secret.expires === undefined ? undefined : Date.parse(secret.expires) }] : [];
  });
  (doc.api_keys ?? []).forEach((key, k) => {
    const keyPath = `${path}.api_keys[${k}]`;
    const hash = parseHash(key.hash, `${keyPath}.hash`, issues);
    const ipRanges = key.allowed_ip_ranges?.flatMap((range, r) => {
      try {
        return [ipaddr.parseCIDR(range)];
      } catch {
        issues.push({ path: `${keyPath}.allowed_ip_ranges[${r}]`, reason: 'not a valid CIDR range' });
        return [];
      }
    });
    if (hash) {
      apiKeys.set(key.id, Object.freeze({
        id: key.id,
        clientId: doc.id,
        hash,
        expiresAtMs: key.expires === undefined ? undefined : Date.parse(key.expires),
        ipRanges,
        origins: key.allowed_origins && new Set(key.allowed_origins.map((origin, o) => originOf(origin, `${keyPath}.allowed_origins[${o}]`, issues))),
      }));
    }
  });
  const hasKeys = doc.jwks !== undefined || doc.jwks_uri !== undefined;
  const algorithms = [...(doc.algorithms ?? DEFAULTS.clientAlgorithms)];
  const acceptance = { algorithms, minRsaBits: doc.min_rsa_key_bits };
  const onEvent = (event: KeySourceEvent) => options.onKeyEvent?.(`client:${doc.id}`, event);
  const spec = hasKeys ? keySourceSpec(doc, acceptance, path, issues, onEvent) : undefined;
  if (issues.length > before) return undefined;
  return Object.freeze({
    id: doc.id,
    secrets,
    limits: limitSpec(doc.limits),
    introspection: doc.introspection ?? 'own',
    assertion: spec
      ? {
          id: doc.id,
          keys: createKeySource(spec, { network: options.network, acceptance, onEvent }),
          algorithms,
          maxAssertionLifetimeSeconds: doc.max_assertion_lifetime_seconds ?? DEFAULTS.maxAssertionLifetimeSeconds,
        }
      : undefined,
  });
}

function parseHash(encoded: string, path: string, issues: PolicyIssue[]) {
  try {
    return parseSecretHash(encoded);
  } catch (err) {
    issues.push({ path, reason: err instanceof Error ? err.message : 'not a valid secret hash' });
    return undefined;
  }
}

function compileRule(
  doc: RuleDocument, path: string, ceiling: number, issuers: ReadonlyMap<string, TrustedIssuer>, issues: PolicyIssue[],
): CompiledRule | undefined {
  const browser = doc.issuer !== undefined && issuers.get(doc.issuer)?.browser === true;
  const defaultLifetime = browser ? DEFAULTS.browserRuleMaxLifetimeSeconds : DEFAULTS.ruleMaxLifetimeSeconds;
  const accessBoundary = doc.grant.access_boundary && compileAccessBoundary(doc.grant.access_boundary, doc.grant.placeholder_patterns, `${path}.grant`, issues);
  const idTokenAudience = doc.grant.id_token_audiences && compileAudiences(doc.grant.id_token_audiences, `${path}.grant.id_token_audiences`, issues);
  const scopes = grantScopes(doc.grant);
  const username = doc.username === undefined ? SUBJECT_USERNAME : compileUsernameTemplate(doc.username);
  if ('error' in username) issues.push({ path: `${path}.username`, reason: username.error });
  if (accessBoundary && !scopes.includes(SCOPE_CLOUD_PLATFORM)) {
    issues.push({ path: `${path}.grant.scopes`, reason: `an access boundary is applied through Google STS, which needs ${SCOPE_CLOUD_PLATFORM}` });
  }
  try {
    return Object.freeze({
      id: doc.id,
      subjects: doc.issuer !== undefined
        ? { kind: 'issuer', issuer: doc.issuer } as const
        : { kind: 'clients', ids: new Set(doc.clients ?? []) } as const,
      condition: compileCondition(doc.condition),
      grant: Object.freeze({
        serviceAccount: doc.grant.service_account,
        scopes: Object.freeze([...new Set(scopes)].sort()),
        maxLifetimeSeconds: Math.min(doc.grant.max_lifetime_seconds ?? defaultLifetime, ceiling),
        delegates: Object.freeze([...(doc.grant.delegates ?? [])]),
        scopeRequest: doc.grant.scope_request ?? 'exact',
        ...(accessBoundary ? { accessBoundary } : {}),
        ...(idTokenAudience ? { idTokenAudience } : {}),
        ...(doc.grant.gemini_ephemeral ? { geminiEphemeral: compileGeminiEphemeral(doc.grant.gemini_ephemeral) } : {}),
      }),
      auditClaims: Object.freeze([...(doc.audit_claims ?? [])]),
      limits: limitSpec(doc.limits),
      mode: doc.mode ?? 'enforce',
      username: 'error' in username ? SUBJECT_USERNAME : username,
    });
  } catch (err) {
    if (!(err instanceof CelConditionError)) throw err;
    issues.push({ path: `${path}.condition`, reason: `invalid CEL: ${err.message}` });
    return undefined;
  }
}

function limitSpec(doc: LimitsDocument | undefined): LimitSpec | undefined {
  if (!doc || (doc.requests_per_minute === undefined && doc.tokens_per_day === undefined)) return undefined;
  return Object.freeze({ requestsPerMinute: doc.requests_per_minute, tokensPerDay: doc.tokens_per_day });
}

/** An origin as browsers send it; a value with a path is an error, not silently cut down. */
function originOf(value: string, path: string, issues: PolicyIssue[]): string {
  const url = new URL(value);
  if (url.origin !== value.replace(/\/$/, '')) issues.push({ path, reason: 'must be an origin (scheme://host[:port]) without a path' });
  return url.origin;
}

function compileCors(document: PolicyDocument, issues: PolicyIssue[]): CorsPolicy | undefined {
  if (!document.cors) return undefined;
  const origins = new Set(document.cors.allowed_origins.map((value, i) => originOf(value, `cors.allowed_origins[${i}]`, issues)));
  return Object.freeze({ allowedOrigins: origins, maxAgeSeconds: document.cors.max_age_seconds ?? DEFAULTS.corsMaxAgeSeconds });
}

/**
 * `id_token_audiences`: exact https URLs (compared as the caller sends them), or
 * `https://*.HOST`, which allows `https://LABEL.HOST` for one DNS label and nothing else (no
 * path, port, user or deeper subdomain).
 */
function compileAudiences(values: readonly string[], path: string, issues: PolicyIssue[]): (audience: string) => boolean {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  values.forEach((value, i) => {
    const wildcard = /^https:\/\/\*\.((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})$/.exec(value);
    if (wildcard) {
      suffixes.push(`.${wildcard[1]}`);
      return;
    }
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (!url || url.protocol !== 'https:' || url.username || url.password || value.includes('*')) {
      issues.push({ path: `${path}[${i}]`, reason: 'must be an https URL, or https://*.HOST' });
      return;
    }
    exact.add(value);
  });
  return (audience) => {
    if (exact.has(audience)) return true;
    const match = /^https:\/\/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9.-]+)$/.exec(audience);
    return match !== null && suffixes.includes(match[2] ?? '');
  };
}
