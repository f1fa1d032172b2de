import { createHash } from 'node:crypto';

/** SHA-256 of a secret (token, assertion, key) as base64url: the only form that may be logged. */
export function sha256Fingerprint(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('base64url');
}
