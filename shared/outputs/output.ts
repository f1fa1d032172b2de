/**
 * What a caller can get out of the broker, one module per `requested_token_type`: an access
 * token (downscoped through STS when the grant carries a boundary), an ID token, a Gemini Live
 * ephemeral token. Each says how it is obtained upstream, whether it may be cached and shared
 * by later requests, and how its answer reads; the broker picks the module by the grant and
 * never branches on the kind itself.
 */
import type { Minter, MintedToken } from '../mint/minter';
import type { Grant } from '../policy/resolve-grant';
import type { Deadline } from '../resilience/deadline';
import type { GeminiEphemeralIssuer } from './gemini-ephemeral';

/** The upstream clients outputs obtain tokens from. */
export interface Upstreams {
  readonly minter: Minter;
  /** Absent when the deployment issues no Gemini ephemeral tokens. */
  readonly gemini?: GeminiEphemeralIssuer;
}

export interface TokenOutput {
  /** RFC 8693 `issued_token_type`. */
  readonly issuedTokenType: string;
  /** `Bearer` for access tokens; `N_A` for what is not one (RFC 8693 §2.2.1). */
  readonly tokenType: 'Bearer' | 'N_A';
  /** Whether the answer lists the granted scopes. */
  readonly listsScopes: boolean;
  /** Whether a token may be cached and served to later requests of the same caller. */
  readonly cacheable: boolean;
  obtain(grant: Grant, upstreams: Upstreams, deadline: Deadline): Promise<MintedToken>;
}
