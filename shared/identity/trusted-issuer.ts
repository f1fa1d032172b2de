import type { KeySource } from './key-source';

/** An issuer the policy trusts, with its verification settings resolved to concrete values. */
export interface TrustedIssuer {
  /** The canonical `iss`, as rules name it. */
  readonly issuer: string;
  /** Other `iss` values that mean the same issuer (Google ID tokens may say `accounts.google.com`). */
  readonly aliases: readonly string[];
  readonly audiences: readonly string[];
  /** Accepted `azp` values (OIDC Core §2): required of tokens with several audiences or an `azp`. */
  readonly authorizedParties: readonly string[];
  readonly algorithms: readonly string[];
  readonly clockToleranceSeconds: number;
  readonly maxTokenAgeSeconds: number;
  readonly maxTokenValiditySeconds: number;
  /** Tokens of browser users: rules default to short lifetimes. */
  readonly browser: boolean;
  /** Firebase: `auth_time` must be present and not in the future. */
  readonly requireAuthTime: boolean;
  /** `one_time`: each subject token may be exchanged once (its `jti`, else its SHA-256). */
  readonly oneTime: boolean;
  readonly keys: KeySource;
  /** Counts changes of the issuer's fetched keys (rotations, refusals): remembered verifications end with it. */
  readonly keyGeneration?: () => number;
}
