/** What the broker asks Google for, and what it gets back. */
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
}

/** Obtains access tokens for target service accounts. */
export interface Minter {
  mintAccessToken(request: MintRequest): Promise<MintedToken>;
}
