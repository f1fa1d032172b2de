import type { Claims } from './claims';

/** Who the caller proved to be. Produced only by a verifier in `shared/identity/`. */
export interface Principal {
  /** The credential kind that proved it. */
  readonly kind: 'oidc';
  readonly issuer: string;
  readonly subject: string;
  /** The verified claims (prototype-free, frozen). */
  readonly claims: Claims;
  /** SHA-256 of the presented credential (base64url): the only form of it that may be logged. */
  readonly credentialSha256: string;
  /** When the presented credential expires (seconds since the epoch). */
  readonly expiresAt: number;
}
