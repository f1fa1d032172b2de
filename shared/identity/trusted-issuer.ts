import type { JWTVerifyGetKey } from 'jose';

/** An issuer the policy trusts, with its verification settings resolved to concrete values. */
export interface TrustedIssuer {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly algorithms: readonly string[];
  readonly clockToleranceSeconds: number;
  readonly maxTokenAgeSeconds: number;
  readonly maxTokenValiditySeconds: number;
  readonly keys: JWTVerifyGetKey;
}
