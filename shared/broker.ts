/**
 * The broker core: one token request in, one token (or one BrokerError) out.
 *   1. pick the grant type and keep only the parameters it declares;
 *   2. authenticate: verify the subject token → Principal;
 *   3. authorize: the policy's first matching rule → Grant (scopes and lifetime narrowed);
 *   4. obtain the token: from the cache, or minted upstream (the cache decides, see
 *      shared/cache/token-cache.ts);
 *   5. answer with the true remaining lifetime.
 * Free of HTTP types; the record is filled in as the steps run.
 */
import { BrokerError, invalidRequest } from './errors';
import type { ExchangeRecord } from './exchange-record';
import { sha256Fingerprint } from './fingerprint';
import { tokenExchange, type TokenExchangeRequest } from './grants/token-exchange';
import type { GrantTypeDefinition, TokenParams } from './grants/token-request';
import { verifyOidcToken } from './identity/oidc-token';
import type { Minter } from './mint/minter';
import { cacheKey, principalHash } from './cache/cache-key';
import type { TokenCache } from './cache/token-cache';
import type { CachedToken } from './cache/token-timing';
import type { Principal } from './identity/principal';
import type { AuditSink } from './audit/audit-sink';
import { recordAuthEvent } from './audit/auth-events';
import { pickAuditClaims } from './audit/sanitize';
import type { Grant } from './policy/resolve-grant';
import type { CompiledPolicy } from './policy/compiled-policy';
import { resolveGrant } from './policy/resolve-grant';
import { PolicyDenial, selectRule } from './policy/select-rule';
import { TOKEN_TYPE_ACCESS_TOKEN } from './oauth-uris';
import type { TokenResponse } from './token-response';

export interface BrokerDependencies {
  policy: CompiledPolicy;
  minter: Minter;
  /** Token cache; absent means every request mints. */
  cache?: TokenCache;
  /** Receives one `upstream_mint` entry per upstream call. */
  audit?: AuditSink;
  /** `audience` values that name the broker itself (its issuer and token URLs). */
  brokerAudiences: readonly string[];
  maxTokenBytes?: number;
  /** Clock in ms; defaults to Date.now. */
  now?: () => number;
}

export interface Broker {
  readonly policy: CompiledPolicy;
  readonly grantTypes: readonly string[];
  exchange(params: TokenParams, record: ExchangeRecord): Promise<TokenResponse>;
  /** Releases clients (the cache's Firestore connection). */
  close(): Promise<void>;
}

const GRANT_TYPES: ReadonlyMap<string, GrantTypeDefinition<TokenExchangeRequest>> = new Map([[tokenExchange.grantType, tokenExchange]]);

export function createBroker(deps: BrokerDependencies): Broker {
  const now = deps.now ?? Date.now;

  async function exchange(params: TokenParams, record: ExchangeRecord): Promise<TokenResponse> {
    const request = parseRequest(params, record);
    record.subjectTokenType = request.subjectTokenType;
    record.subjectTokenSha256 = sha256Fingerprint(request.subjectToken);
    record.policyVersion = deps.policy.version;

    const principal = await verifyOidcToken(request.subjectToken, deps.policy.issuers, {
      currentDate: new Date(now()),
      maxTokenBytes: deps.maxTokenBytes,
    });
    record.principal = { issuer: principal.issuer, subject: principal.subject };

    const selection = selectWithTrace(principal, request.audience, record);
    record.auditClaims = pickAuditClaims(principal.claims, selection.rule.auditClaims);
    const grant = resolveGrant(selection.rule, request.scopes, request.lifetimeSeconds);
    record.grant = grant;

    const started = now();
    const token = await obtainToken(principal, grant, record);
    record.tokenLatencyMs = now() - started;
    record.tokenSha256 = sha256Fingerprint(token.accessToken);

    return {
      access_token: token.accessToken,
      issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      token_type: 'Bearer',
      expires_in: Math.max(0, Math.floor((token.expiresAtMs - now()) / 1000)),
      scope: grant.scopes.join(' '),
    };
  }

  /** Step 4: through the cache when there is one; the mint closure itself touches no request state. */
  async function obtainToken(principal: Principal, grant: Grant, record: ExchangeRecord): Promise<CachedToken> {
    const mint = async (trigger: 'request' | 'refresh'): Promise<CachedToken> => {
      const mintedAtMs = now();
      const event = { event: 'upstream_mint', trigger, serviceAccount: grant.serviceAccount, scopes: grant.scopes, lifetimeSeconds: grant.lifetimeSeconds } as const;
      try {
        const minted = await deps.minter.mintAccessToken(grant);
        recordAuthEvent(deps.audit, { ...event, outcome: 'success', latencyMs: now() - mintedAtMs, tokenSha256: sha256Fingerprint(minted.accessToken) });
        return { accessToken: minted.accessToken, mintedAtMs, expiresAtMs: minted.expiresAtMs };
      } catch (err) {
        const reason = err instanceof BrokerError ? `${err.reason}: ${err.detail ?? err.description}` : 'unexpected error';
        recordAuthEvent(deps.audit, { ...event, outcome: 'failure', latencyMs: now() - mintedAtMs, error: reason });
        throw err;
      }
    };
    if (!deps.cache) {
      record.cache = 'none';
      return mint('request');
    }
    const key = cacheKey({
      issuer: principal.issuer,
      subject: principal.subject,
      ruleId: grant.ruleId,
      policyVersion: deps.policy.version,
      serviceAccount: grant.serviceAccount,
      scopes: grant.scopes,
      delegates: grant.delegates,
      lifetimeSeconds: grant.lifetimeSeconds,
    });
    const result = await deps.cache.obtain(
      key,
      { principalHash: principalHash(principal.issuer, principal.subject), ruleId: grant.ruleId, policyVersion: deps.policy.version },
      mint,
    );
    record.cache = result.outcome;
    if (result.refreshStarted) record.cacheRefreshStarted = true;
    return result.token;
  }

  function selectWithTrace(principal: Parameters<typeof selectRule>[1], audience: string | undefined, record: ExchangeRecord) {
    try {
      const selection = selectRule(deps.policy, principal, { audience, brokerAudiences: deps.brokerAudiences });
      record.ruleId = selection.rule.id;
      record.trace = selection.trace;
      return selection;
    } catch (err) {
      if (err instanceof PolicyDenial) record.trace = err.trace;
      throw err;
    }
  }

  return { policy: deps.policy, grantTypes: [...GRANT_TYPES.keys()], exchange, close: async () => deps.cache?.close() };
}

function parseRequest(params: TokenParams, record: ExchangeRecord): TokenExchangeRequest {
  const grantType = params.get('grant_type');
  if (grantType === undefined || grantType === '') throw invalidRequest('missing required parameter grant_type', 'missing_parameter');
  const definition = GRANT_TYPES.get(grantType);
  if (!definition) throw new BrokerError('unsupported_grant_type', 'the grant type is not supported', { reason: 'unsupported_grant_type' });
  record.grantType = grantType;
  const declared = new Map([...params].filter(([name]) => definition.parameters.includes(name)));
  return definition.parse(declared);
}
