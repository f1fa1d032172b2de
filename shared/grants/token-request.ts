/**
 * What a grant type is: its URI, the parameters it reads (all others are dropped before it
 * runs), and how it turns them into the principal the token will be for plus what the caller
 * asks of the rule (audience, scopes, lifetime). The broker picks the module by `grant_type`
 * and never looks inside.
 */
import type { ExchangeRecord } from '../exchange-record';
import type { ClientAuthContext, OnClientIdentified } from '../identity/client-authentication';
import type { Principal } from '../identity/principal';
import type { AccessBoundaryWire } from '../policy/access-boundary';
import type { CompiledPolicy } from '../policy/compiled-policy';
import type { Deadline } from '../resilience/deadline';
import type { TokenParams } from '../token-params';

export interface GrantContext {
  readonly policy: CompiledPolicy;
  /** Client authentication; absent when the broker has no registered clients. */
  readonly clientAuth?: ClientAuthContext;
  /** The client the request authenticated as (client credentials in the request), if any. */
  readonly client?: Principal;
  readonly record: ExchangeRecord;
  /** Records a client whose credential verified (the jwt-bearer assertion's), so later refusals name it. */
  readonly identified: OnClientIdentified;
  readonly deadline: Deadline;
  readonly now: () => number;
  readonly maxTokenBytes?: number;
}

export interface GrantOutcome {
  /** Who the token will be for. */
  readonly principal: Principal;
  /** The client the request acts for: the authenticated one, or the principal when it is a client. */
  readonly client?: Principal;
  readonly audience?: string;
  /** Undefined when the caller sent no `scope`. */
  readonly scopes?: readonly string[];
  readonly lifetimeSeconds?: number;
  /** A narrower boundary asked for in `options`. */
  readonly accessBoundary?: AccessBoundaryWire;
  /** An ID token for this audience (`requested_token_type` id_token, `resource`) instead of an access token. */
  readonly idTokenAudience?: string;
  /** A Gemini Live API ephemeral token instead of an access token (`requested_token_type` gemini-ephemeral). */
  readonly geminiEphemeral?: boolean;
}

/**
 * Authenticates the principal of a parsed request and fills in the record. It may answer
 * synchronously when nothing needs waiting for (a subject token remembered as verified): a
 * cache-hit exchange then awaits nothing it does not have to.
 */
export type AuthenticatePrincipal = (context: GrantContext) => GrantOutcome | Promise<GrantOutcome>;

export interface GrantType {
  readonly grantType: string;
  readonly parameters: readonly string[];
  /**
   * Checks the declared parameters (a malformed request is refused here, before any credential
   * is looked at) and returns the step that authenticates the principal.
   */
  parse(params: TokenParams): AuthenticatePrincipal;
}
