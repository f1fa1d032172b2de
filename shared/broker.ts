/**
 * The broker core: one token request in, one token (or one BrokerError) out.
 *   1. pick the grant type and keep only the parameters it declares;
 *   2. authenticate the client, if the request carries client credentials;
 *   3. authenticate the principal → Principal: the subject token (token exchange), the
 *      client (client credentials) or the assertion's client (jwt-bearer);
 *   4. authorize: the policy's first matching rule → Grant (scopes and lifetime narrowed),
 *      then the rule's and the client's rate limits;
 *   5. obtain the token: from the cache, or minted upstream (the cache decides, see
 *      shared/cache/token-cache.ts);
 *   6. answer with the true remaining lifetime.
 * Free of HTTP types; the record is filled in as the steps run.
 */
import { DEFAULTS } from './config/defaults';
import { BrokerError, invalidRequest } from './errors';
import { Deadline } from './resilience/deadline';
import type { ExchangeRecord } from './exchange-record';
import { sha256Fingerprint } from './fingerprint';
import { tokenExchange } from './grants/token-exchange';
import { clientCredentials } from './grants/client-credentials';
import { jwtBearer } from './grants/jwt-bearer';
import type { AuthenticatePrincipal, GrantType } from './grants/token-request';
import { authenticateClient, carriesClientCredentials, type ClientAuthContext, type ClientCredentials, type OnClientIdentified } from './identity/client-authentication';
import type { LimitSpec, RateLimiter } from './limits/rate-limiter';
import type { TokenParams } from './token-params';
import type { Minter } from './mint/minter';
import { createCacheKeyMemo, principalHash } from './cache/cache-key';
import type { TokenCache } from './cache/token-cache';
import type { CachedToken } from './cache/token-timing';
import type { Principal } from './identity/principal';
import type { AuditSink } from './audit/audit-sink';
import { recordAuthEvent } from './audit/auth-events';
import { pickAuditClaims } from './audit/sanitize';
import type { Grant } from './policy/resolve-grant';
import type { CompiledPolicy } from './policy/compiled-policy';
import { resolveGrant } from './policy/resolve-grant';
import { PolicyDenial, selectRule, type ShadowOutcome } from './policy/select-rule';
import type { GeminiEphemeralIssuer } from './outputs/gemini-ephemeral';
import type { Upstreams } from './outputs/output';
import { outputFor } from './outputs/outputs';
import type { TokenResponse } from './token-response';
import type { IssuedTokenStore } from './introspection/issued-tokens';
import type { DenyChecker } from './operator/deny-facts';
import { createSignIn, type SignIn } from './sign-in/sign-in';
import { introspect, INTROSPECTION_PARAMETERS, type IntrospectionRecord, type IntrospectionResponse } from './introspection/introspect';

export interface BrokerDependencies {
  policy: CompiledPolicy;
  minter: Minter;
  /** Creates Gemini Live API ephemeral tokens; absent, a rule's `gemini_ephemeral` answers server_error. */
  gemini?: GeminiEphemeralIssuer;
  /** Token cache; absent means every request mints. */
  cache?: TokenCache;
  /** Receives one `upstream_mint` entry per upstream call. */
  audit?: AuditSink;
  /** The broker's public base URL (RFC 8414 issuer), normalised by the configuration reader. */
  issuerUrl?: string;
  /** `audience` values that name the broker itself (its issuer and token URLs). */
  brokerAudiences: readonly string[];
  maxTokenBytes?: number;
  /** Clock in ms; defaults to Date.now. */
  now?: () => number;
  /** Client authentication (secrets, assertions, API keys); absent, client credentials are refused. */
  clientAuth?: Omit<ClientAuthContext, 'policy' | 'audiences' | 'now'>;
  /** Per-principal rate limits and budgets; absent, rule and client limits are not enforced. */
  limiter?: RateLimiter;
  /** One deadline for each whole request (default DEFAULTS.requestDeadlineMs). */
  requestDeadlineMs?: number;
  /** The record of issued tokens token introspection reads; absent, every token is inactive to it. */
  issued?: IssuedTokenStore;
  /** User sign-in for the policy's web apps (shared/sign-in/); absent, every sign-in request is refused. */
  signIn?: SignIn;
  /** The operator's deny-list (kill switch); absent, nothing is denied. */
  denyList?: DenyChecker;
}

export interface Broker {
  readonly policy: CompiledPolicy;
  /** The configured public base URL, if any (metadata derives it from the request otherwise). */
  readonly issuerUrl?: string;
  readonly grantTypes: readonly string[];
  exchange(params: TokenParams, record: ExchangeRecord, credentials?: ClientCredentials): Promise<TokenResponse>;
  /** User sign-in for the policy's web apps. */
  readonly signIn: SignIn;
  /** RFC 7662 token introspection of a token this broker issued. */
  introspect(params: TokenParams, record: IntrospectionRecord, credentials?: ClientCredentials): Promise<IntrospectionResponse>;
  /** Waits for background work and releases clients. */
  close(): Promise<void>;
}

/** One limit check: scope, subject, limits. */
type LimitCheck = [string, string, LimitSpec];

/** Without a record, introspection still authenticates and looks up, and finds nothing. */
const NO_ISSUED_TOKENS: IssuedTokenStore = { remember: async () => undefined, find: async () => undefined, flush: async () => undefined, close: async () => undefined };

/** Without sign-in wiring: every app is unknown. */
const NO_SIGN_IN: SignIn = createSignIn({
  webApps: new Map(),
  provider: { authorizationUrl: unwired, exchangeCode: unwired, refresh: unwired, revoke: unwired },
  vault: undefined as never,
  attempts: undefined as never,
});
async function unwired(): Promise<never> {
  throw new Error('user sign-in is not wired');
}

/** Every grant type the broker serves, by `grant_type`; each module owns its parameters and principal. */
const GRANT_TYPES: ReadonlyMap<string, GrantType> = new Map([tokenExchange, jwtBearer, clientCredentials].map((grant) => [grant.grantType, grant]));

export function createBroker(deps: BrokerDependencies): Broker {
  const now = deps.now ?? Date.now;

  const upstreams: Upstreams = { minter: deps.minter, gemini: deps.gemini };
  const rememberedCacheKey = createCacheKeyMemo();

  const clientAuth: ClientAuthContext | undefined = deps.clientAuth && {
    ...deps.clientAuth,
    policy: deps.policy,
    audiences: deps.brokerAudiences,
    now,
  };

  /** Everything below happens inside one deadline: past it the caller gets 503 + Retry-After. */
  function exchange(params: TokenParams, record: ExchangeRecord, credentials: ClientCredentials = {}): Promise<TokenResponse> {
    const deadline = new Deadline(deps.requestDeadlineMs ?? DEFAULTS.requestDeadlineMs);
    return deadline.race(exchangeWithin(deadline, params, record, credentials));
  }

  async function exchangeWithin(deadline: Deadline, params: TokenParams, record: ExchangeRecord, credentials: ClientCredentials): Promise<TokenResponse> {
    const [authenticatePrincipal, declared] = parseRequest(params, record);
    record.policyVersion = deps.policy.version;
    const identified = recordClient(record);

    // What needs no waiting is not awaited: a cache hit of a remembered subject token awaits nothing.
    const client = carriesClientCredentials(declared, credentials) ? await authenticate(declared, credentials, identified, deadline) : undefined;
    const authenticated = authenticatePrincipal({ policy: deps.policy, clientAuth, client, record, identified, deadline, now, maxTokenBytes: deps.maxTokenBytes });
    const request = authenticated instanceof Promise ? await authenticated : authenticated;
    const { principal } = request;
    record.principal = { issuer: principal.issuer, subject: principal.subject };

    const selection = selectWithTrace(principal, request.audience, request.client, record);
    record.auditClaims = pickAuditClaims(principal.claims, selection.rule.auditClaims);
    const grant = resolveGrant(selection.rule, request.scopes, request.lifetimeSeconds, {
      values: { claims: principal.claims, clientId: request.client?.subject },
      requested: request.accessBoundary,
    }, request.idTokenAudience, request.geminiEphemeral);
    record.grant = grant;
    checkDenyList(principal, grant, record);
    const checks = limitChecks(selection.rule, principal, client);
    const admitted = checks.length === 0 ? [] : await enforceLimits(checks, deadline);

    const started = now();
    let token: CachedToken;
    try {
      const key = deps.cache && outputFor(grant).cacheable ? grantCacheKey(principal, grant) : undefined;
      token = (key !== undefined && cachedToken(key, principal, grant, record)) || (await obtainToken(key, principal, grant, record, deadline));
    } catch (err) {
      refundTokens(admitted);
      throw err;
    }
    record.tokenLatencyMs = now() - started;
    record.tokenSha256 = tokenFingerprint(token);

    const output = outputFor(grant);
    rememberIssuance(record.tokenSha256, token, grant, principal, selection.rule.username(principal.claims, principal.subject), record);
    return {
      access_token: token.accessToken,
      issued_token_type: output.issuedTokenType,
      token_type: output.tokenType,
      expires_in: Math.max(0, Math.floor((token.expiresAtMs - now()) / 1000)),
      ...(output.listsScopes ? { scope: grant.scopes.join(' ') } : {}),
    };
  }

  /** Step 4, when this instance's memory has the token (L1): synchronously; undefined otherwise. */
  function cachedToken(key: string, principal: Principal, grant: Grant, record: ExchangeRecord): CachedToken | undefined {
    const hit = deps.cache?.memoryHit(key, () => ({ metadata: entryMetadata(principal, grant), mint: mintFor(grant, undefined) }));
    if (!hit) return undefined;
    record.cache = hit.outcome;
    if (hit.refreshStarted) record.cacheRefreshStarted = true;
    return hit.token;
  }

  function grantCacheKey(principal: Principal, grant: Grant): string {
    return rememberedCacheKey(principal, {
      issuer: principal.issuer,
      subject: principal.subject,
      ruleId: grant.ruleId,
      policyVersion: deps.policy.version,
      serviceAccount: grant.serviceAccount,
      scopes: grant.scopes,
      delegates: grant.delegates,
      lifetimeSeconds: grant.lifetimeSeconds,
      accessBoundary: grant.accessBoundary,
      idTokenAudience: grant.idTokenAudience,
    });
  }

  function entryMetadata(principal: Principal, grant: Grant) {
    return { principalHash: principalHash(principal.issuer, principal.subject), ruleId: grant.ruleId, policyVersion: deps.policy.version };
  }

  /** Step 4: through the cache under `key` when the token is cacheable; the mint closure itself touches no request state. */
  async function obtainToken(key: string | undefined, principal: Principal, grant: Grant, record: ExchangeRecord, deadline: Deadline): Promise<CachedToken> {
    const mint = mintFor(grant, deadline);
    if (!deps.cache || key === undefined) {
      record.cache = 'none';
      return mint('request');
    }
    const result = await deps.cache.obtain(key, entryMetadata(principal, grant), mint, deadline);
    record.cache = result.outcome;
    if (result.refreshStarted) record.cacheRefreshStarted = true;
    return result.token;
  }

  /**
   * Mints for `grant`. A refresh runs after its request has been answered and gets a deadline of
   * its own (`deadline` is the request's, used only by a mint for a request).
   */
  function mintFor(grant: Grant, deadline: Deadline | undefined) {
    return async (trigger: 'request' | 'refresh'): Promise<CachedToken> => {
      const mintedAtMs = now();
      const event = { event: 'upstream_mint', trigger, serviceAccount: grant.serviceAccount, scopes: grant.scopes, lifetimeSeconds: grant.lifetimeSeconds } as const;
      try {
        const budgetMs = deps.requestDeadlineMs ?? DEFAULTS.requestDeadlineMs;
        const budget = trigger === 'request' && deadline ? deadline : new Deadline(budgetMs);
        const minted = await outputFor(grant).obtain(grant, upstreams, budget);
        recordAuthEvent(deps.audit, { ...event, outcome: 'success', latencyMs: now() - mintedAtMs, attempts: minted.attempts ?? 1, tokenSha256: sha256Fingerprint(minted.accessToken) });
        return { accessToken: minted.accessToken, mintedAtMs, expiresAtMs: minted.expiresAtMs };
      } catch (err) {
        const reason = err instanceof BrokerError ? `${err.reason}: ${err.detail ?? err.description}` : 'unexpected error';
        recordAuthEvent(deps.audit, { ...event, outcome: 'failure', latencyMs: now() - mintedAtMs, error: reason });
        throw err;
      }
    };
  }

  /**
   * The issued-token record introspection reads, before the token leaves (in this instance's
   * memory; Firestore is written behind). Best effort: a token whose record could not be
   * written is still answered (introspection elsewhere calls it inactive).
   */
  function rememberIssuance(tokenSha256: string, token: CachedToken, grant: Grant, principal: Principal, username: string, record: ExchangeRecord): void {
    if (!deps.issued) return;
    const output = outputFor(grant);
    try {
      deps.issued.remember({
        tokenSha256,
        tokenType: output.tokenType,
        ...(output.listsScopes ? { scopes: grant.scopes } : {}),
        issuer: principal.issuer,
        subject: principal.subject,
        username,
        ruleId: grant.ruleId,
        issuedAtMs: token.mintedAtMs,
        expiresAtMs: token.expiresAtMs,
        clientId: record.client?.id,
      });
    } catch (err) {
      recordAuthEvent(deps.audit, { event: 'issued_token_unrecorded', tokenSha256, detail: err instanceof Error ? err.message : String(err) });
    }
  }

  /** Token introspection: its own deadline, the same client authentication and limiter. */
  function introspectToken(params: TokenParams, record: IntrospectionRecord, credentials: ClientCredentials = {}): Promise<IntrospectionResponse> {
    const deadline = new Deadline(deps.requestDeadlineMs ?? DEFAULTS.requestDeadlineMs);
    const declared = new Map([...params].filter(([name]) => (INTROSPECTION_PARAMETERS as readonly string[]).includes(name)));
    return deadline.race(introspect(declared, credentials, {
      policy: deps.policy, clientAuth, issued: deps.issued ?? NO_ISSUED_TOKENS, limiter: deps.limiter, issuerUrl: deps.issuerUrl, now,
    }, record, deadline));
  }

  /** Step 2: client credentials, when the request carries any (the record names the client once its credential verifies). */
  async function authenticate(params: TokenParams, credentials: ClientCredentials, identified: OnClientIdentified, deadline: Deadline): Promise<Principal | undefined> {
    if (!clientAuth) {
      if (credentials.basic || credentials.apiKey !== undefined || params.has('client_secret') || params.has('client_assertion')) {
        throw new BrokerError('invalid_client', 'this broker has no registered clients', { reason: 'no_clients' });
      }
      return undefined;
    }
    return authenticateClient(params, credentials, clientAuth, deadline, identified);
  }

  /** The operator's deny-list, from this instance's snapshot: before any limit is spent or any token served, cached or not. */
  function checkDenyList(principal: Principal, grant: Grant, record: ExchangeRecord): void {
    const denied = deps.denyList?.match({
      issuer: principal.issuer,
      subject: principal.subject,
      claims: principal.claims,
      clientId: record.client?.id,
      apiKeyId: record.client?.apiKeyId,
      ruleId: grant.ruleId,
      serviceAccount: grant.serviceAccount,
      policyVersion: deps.policy.version,
    });
    if (denied) {
      throw new BrokerError('access_denied', 'an operator has denied this caller', { reason: 'denied_by_operator', detail: `deny ${denied.id}: ${denied.reason}` });
    }
  }

  /**
   * The rule's per-principal limits, then the client's own. Over either: 429 with Retry-After,
   * and the units the other took are given back (a refusal by one limit spends nothing of
   * another). Returns the admitted checks, so a request that then issues no token can give its
   * `tokens_per_day` units back: the budget counts tokens answered, minted or cached alike.
   */
  async function enforceLimits(checks: readonly LimitCheck[], deadline: Deadline): Promise<LimitCheck[]> {
    if (!deps.limiter) return [];
    const admitted: LimitCheck[] = [];
    for (const check of checks) {
      const [scope, subject, limits] = check;
      const admission = await deps.limiter.admit(scope, subject, limits, deadline);
      if (!admission.allowed) {
        for (const [s, who, spec] of admitted) deps.limiter.refund(s, who, spec);
        throw new BrokerError('slow_down', `rate limit reached (${admission.limit.replaceAll('_', ' ')})`, {
          reason: `limit_${admission.limit}`,
          retryAfterSeconds: admission.retryAfterSeconds,
          detail: scope,
        });
      }
      admitted.push(check);
    }
    return admitted;
  }

  /** The limits that apply to this request: the rule's per principal, then the client's own. */
  function limitChecks(rule: { id: string; limits?: LimitSpec }, principal: Principal, client: Principal | undefined): LimitCheck[] {
    if (!deps.limiter) return [];
    const checks: LimitCheck[] = [];
    if (rule.limits) checks.push([`rule:${rule.id}`, `${principal.issuer}\u0000${principal.subject}`, rule.limits]);
    const owner = principal.kind === 'client' ? principal : client;
    const clientLimits = owner && deps.policy.clients.get(owner.subject)?.limits;
    if (owner && clientLimits) checks.push([`client:${owner.subject}`, owner.subject, clientLimits]);
    return checks;
  }

  /** No token was issued: the daily budgets get their unit back (the request still counted per minute). */
  function refundTokens(admitted: readonly LimitCheck[]): void {
    for (const [scope, subject, limits] of admitted) {
      if (limits.tokensPerDay !== undefined) deps.limiter?.refund(scope, subject, { tokensPerDay: limits.tokensPerDay });
    }
  }

  function selectWithTrace(principal: Principal, audience: string | undefined, client: Principal | undefined, record: ExchangeRecord) {
    try {
      const selection = selectRule(deps.policy, principal, { audience, brokerAudiences: deps.brokerAudiences, client });
      record.ruleId = selection.rule.id;
      record.trace = selection.tried;
      record.skippedRules = selection.skipped;
      auditShadows(selection.shadows, principal, selection.rule.id);
      return selection;
    } catch (err) {
      if (err instanceof PolicyDenial) {
        record.trace = err.tried;
        record.skippedRules = err.skipped;
        auditShadows(err.shadows, principal, null);
      }
      throw err;
    }
  }

  /** One entry per shadow rule tried: what it would have done, next to what was decided. */
  function auditShadows(shadows: readonly ShadowOutcome[], principal: Principal, decidedBy: string | null): void {
    for (const shadow of shadows) {
      recordAuthEvent(deps.audit, {
        event: shadow.outcome === 'matched' ? 'shadow_match' : 'shadow_refusal',
        ruleId: shadow.rule.id,
        outcome: shadow.outcome,
        ...(shadow.detail === undefined ? {} : { detail: shadow.detail }),
        principal: { issuer: principal.issuer, subject: principal.subject },
        wouldGrant: { serviceAccount: shadow.rule.grant.serviceAccount, scopes: shadow.rule.grant.scopes },
        decidedBy,
        policyVersion: deps.policy.version,
      });
    }
  }

  return {
    policy: deps.policy,
    issuerUrl: deps.issuerUrl,
    grantTypes: [...GRANT_TYPES.keys()],
    exchange,
    introspect: introspectToken,
    signIn: deps.signIn ?? NO_SIGN_IN,
    close: async () => {
      await deps.cache?.close();
      await deps.issued?.close();
    },
  };
}

/** SHA-256 of a token as the audit trail names it, computed once per token however often it is served. */
const tokenFingerprints = new WeakMap<CachedToken, string>();
function tokenFingerprint(token: CachedToken): string {
  let fingerprint = tokenFingerprints.get(token);
  if (fingerprint === undefined) tokenFingerprints.set(token, (fingerprint = sha256Fingerprint(token.accessToken)));
  return fingerprint;
}

/**
 * Fills in `record.client` as soon as a client's credential verifies, so every refusal after
 * that point names it. The first one stays: a jwt-bearer assertion's client is recorded only
 * when the request authenticated no client (another one is refused as `client_mismatch`).
 */
function recordClient(record: ExchangeRecord): OnClientIdentified {
  return ({ id, authMethod, apiKeyId }) => {
    record.client ??= apiKeyId === undefined ? { id, authMethod } : { id, authMethod, apiKeyId };
  };
}

/** The grant type's principal step for this request, and the parameters it declares (all others are dropped). */
function parseRequest(params: TokenParams, record: ExchangeRecord): [AuthenticatePrincipal, TokenParams] {
  const grantType = params.get('grant_type');
  if (grantType === undefined || grantType === '') throw invalidRequest('missing required parameter grant_type', 'missing_parameter');
  const definition = GRANT_TYPES.get(grantType);
  if (!definition) throw new BrokerError('unsupported_grant_type', 'the grant type is not supported', { reason: 'unsupported_grant_type' });
  record.grantType = grantType;
  const declared = new Map([...params].filter(([name]) => definition.parameters.includes(name)));
  return [definition.parse(declared), declared];
}
