/** What the broker asks Google for, and what it gets back. */
import type { AccessBoundaryWire } from '../policy/access-boundary';
import type { Deadline } from '../resilience/deadline';

export interface MintRequest {
  readonly serviceAccount: string;
  readonly scopes: readonly string[];
  readonly lifetimeSeconds: number;
  /** Service account emails of the delegation chain. */
  readonly delegates: readonly string[];
}

export interface MintedToken {
  readonly accessToken: string;
  /** Expiry as reported by Google (ms since the epoch). */
  readonly expiresAtMs: number;
  /** Upstream calls it took (retries included). */
  readonly attempts?: number;
}

/** Obtains access tokens for target service accounts, within the request's deadline. */
export interface Minter {
  mintAccessToken(request: MintRequest, deadline?: Deadline): Promise<MintedToken>;
  /**
   * Exchanges a minted token at Google STS for one limited by `boundary` (a Credential Access
   * Boundary). The downscoped token expires with the token it came from.
   */
  downscope(token: MintedToken, boundary: AccessBoundaryWire, deadline?: Deadline): Promise<MintedToken>;
  /** A Google-signed ID token for the service account, for `audience` (IAM Credentials generateIdToken). */
  mintIdToken(request: IdTokenRequest, deadline?: Deadline): Promise<MintedToken>;
}

export interface IdTokenRequest {
  readonly serviceAccount: string;
  readonly delegates: readonly string[];
  readonly audience: string;
}
