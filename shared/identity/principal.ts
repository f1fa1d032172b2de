import type { Claims } from './claims';

/** The `issuer` of client principals: not a URL, so it can never collide with an OIDC issuer. */
export const CLIENT_ISSUER = 'urn:token-broker:client';

/** How a client proved itself. */
/** `public`: a known public client (gcloud's), whose id is all it proves: its published secret is no secret. */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'jwt_bearer' | 'api_key' | 'public';

/** Who the caller proved to be. Produced only by a verifier in `shared/identity/`. */
export interface Principal {
  /** `oidc`: an external OIDC token; `client`: a registered client (secret, assertion or API key). */
  readonly kind: 'oidc' | 'client';
  /** The verified issuer (for clients, CLIENT_ISSUER). */
  readonly issuer: string;
  /** The verified subject (for clients, the client id). */
  readonly subject: string;
  /** The verified claims (prototype-free, frozen); for clients `client_id`, `auth_method`, `api_key_id`. */
  readonly claims: Claims;
  /** SHA-256 of the presented credential (base64url): the only form of it that may be logged. */
  readonly credentialSha256: string;
  /** When the presented credential expires (seconds since the epoch), when it does. */
  readonly expiresAt?: number;
}
