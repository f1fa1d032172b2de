/**
 * What the broker would decide for a caller, given the caller's verified identity: the policy
 * steps of a token request (issuer and `aud` of the token, rule selection, scopes and
 * lifetime, access boundary), run by the broker's own functions (`selectRule`,
 * `resolveGrant`), with nothing minted and nothing contacted. Rate limits are shown, never
 * counted: they depend on traffic, not on the policy.
 */
import { BrokerError } from '../shared/errors';
import { CLIENT_ISSUER, type ClientAuthMethod, type Principal } from '../shared/identity/principal';
import type { Claims } from '../shared/identity/claims';
import type { CompiledPolicy, CompiledRule } from '../shared/policy/compiled-policy';
import { resolveGrant, type Grant } from '../shared/policy/resolve-grant';
import { PolicyDenial, selectRule, type RuleTrace } from '../shared/policy/select-rule';

export const CLIENT_AUTH_METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'jwt_bearer', 'api_key', 'public'];
/** A client named without its method is taken to have sent its secret (HTTP Basic). */
export const DEFAULT_CLIENT_AUTH_METHOD: ClientAuthMethod = 'client_secret_basic';

export interface SimulatedRequest {
  /** Whose request: an OIDC token's claims, or (client_credentials) a client. */
  readonly principal: Principal;
  /** The client that authenticated alongside a token (CEL's `client`); for a client principal, the principal. */
  readonly client?: Principal;
  /** The RFC 8693 `audience` parameter. */
  readonly audience?: string;
  /** The `scope` parameter, split. */
  readonly scopes?: readonly string[];
  /** The broker's own identifiers (BROKER_ISSUER_URL and its endpoints): an `audience` that selects no rule. */
  readonly brokerAudiences: readonly string[];
}

export type Decision =
  | { readonly granted: true; readonly rule: CompiledRule; readonly grant: Grant; readonly trace: readonly RuleTrace[] }
  | { readonly granted: false; readonly reason: string; readonly description: string; readonly detail?: string; readonly trace?: readonly RuleTrace[] };

/** The decision, as the broker's policy steps would make it. Never throws for a refusal. */
export function decide(policy: CompiledPolicy, request: SimulatedRequest): Decision {
  const { principal } = request;
  if (principal.kind === 'oidc') {
    const refusal = issuerRefusal(policy, principal);
    if (refusal) return refusal;
  }
  const client = request.client ?? (principal.kind === 'client' ? principal : undefined);
  if (client && !policy.clients.has(client.subject) && !policy.publicClients.has(client.subject)) {
    return { granted: false, reason: 'unknown_client', description: `client ${client.subject} is not registered in the policy` };
  }
  let trace: readonly RuleTrace[] | undefined;
  try {
    const selection = selectRule(policy, principal, { audience: request.audience, brokerAudiences: request.brokerAudiences, client: request.client });
    trace = selection.trace;
    const grant = resolveGrant(selection.rule, request.scopes, undefined, {
      values: { claims: principal.claims, clientId: request.client?.subject },
    });
    return { granted: true, rule: selection.rule, grant, trace };
  } catch (err) {
    if (err instanceof PolicyDenial) trace = err.trace;
    if (err instanceof BrokerError) {
      return { granted: false, reason: err.reason, description: err.description, ...(err.detail === undefined ? {} : { detail: err.detail }), ...(trace ? { trace } : {}) };
    }
    throw err;
  }
}

/**
 * The token checks that depend on claims alone and would refuse before any rule is tried: an
 * untrusted `iss`, an `aud` none of the issuer's audiences. (Signature, times and the rest are
 * checked only for a real token: see verifyOidcToken.) An absent `aud` is not checked.
 */
function issuerRefusal(policy: CompiledPolicy, principal: Principal): Decision | undefined {
  const issuer = policy.issuers.get(principal.issuer);
  if (!issuer) return { granted: false, reason: 'untrusted_issuer', description: `the token's issuer ${principal.issuer || '(none)'} is not in the policy` };
  const aud = principal.claims.aud;
  if (aud === undefined) return undefined;
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.some((value) => typeof value === 'string' && issuer.audiences.includes(value))) {
    return { granted: false, reason: 'audience_mismatch', description: `the token's aud is none of the issuer's audiences (${issuer.audiences.join(', ')})` };
  }
  return undefined;
}

/** A claim set as the verifier hands it over: a prototype-free, frozen copy of JSON. */
export function claimsFromJson(value: unknown): Claims {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError('claims must be a JSON object');
  return copy(value) as Claims;
}

function copy(value: unknown): unknown {
  if (Array.isArray(value)) return Object.freeze(value.map(copy));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(value)) {
      Object.defineProperty(out, key, { value: copy((value as Record<string, unknown>)[key]), enumerable: true });
    }
    return Object.freeze(out);
  }
  return value;
}

/** A token's principal from its claims. `issuer` overrides `claims.iss`; an alias (accounts.google.com) maps to its issuer. */
export function oidcPrincipal(policy: CompiledPolicy, claims: Claims, issuer?: string): Principal {
  const iss = issuer ?? (typeof claims.iss === 'string' ? claims.iss : '');
  return {
    kind: 'oidc',
    issuer: policy.issuers.get(iss)?.issuer ?? iss,
    subject: typeof claims.sub === 'string' ? claims.sub : '',
    claims,
    credentialSha256: '(no token: claims given)',
  };
}

/** A registered client as client authentication hands it over. */
export function clientPrincipal(id: string, authMethod: ClientAuthMethod = DEFAULT_CLIENT_AUTH_METHOD, apiKeyId?: string): Principal {
  const claims: Record<string, unknown> = Object.create(null);
  claims.client_id = id;
  claims.auth_method = authMethod;
  if (apiKeyId !== undefined) claims.api_key_id = apiKeyId;
  return { kind: 'client', issuer: CLIENT_ISSUER, subject: id, claims: Object.freeze(claims), credentialSha256: '(no credential: client named)' };
}

export function isClientAuthMethod(value: unknown): value is ClientAuthMethod {
  return typeof value === 'string' && (CLIENT_AUTH_METHODS as readonly string[]).includes(value);
}

/** The `scope` parameter's scopes (space-separated). */
export function splitScopes(scope: string | undefined): string[] | undefined {
  if (scope === undefined) return undefined;
  const scopes = scope.split(' ').filter((s) => s.length > 0);
  return scopes.length > 0 ? scopes : undefined;
}
