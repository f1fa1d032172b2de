/**
 * Up-front checks on a compact JWS before any cryptography (RFC 8725 §3.3, §3.11 and the
 * format check jose does not do): one canonical string form, no JWE, no repeated member
 * names, a header that is strict UTF-8 JSON. Which `typ` values a kind of token may carry is
 * the caller's rule: identity tokens apply `refuseForeignTokenType`, client assertions their
 * own. JWTs add `checkClaimsSetText` for their payload (a JWS payload in general may be any
 * bytes).
 */
import { decodeProtectedHeader, type ProtectedHeaderParameters } from 'jose';
import { BrokerError, invalidGrant } from '../errors';
import { hasDuplicateKeys } from './duplicate-keys';

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const COMPACT_JWE = /^[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*){4}$/;
/** Refuses invalid sequences instead of replacing them, and keeps a byte order mark as text (which JSON then refuses). */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** `typ` values of JWTs that must never be accepted as an identity token (RFC 8725 §3.11). */
const FOREIGN_JWT_TYPES = new Set(['at+jwt', 'logout+jwt', 'dpop+jwt', 'secevent+jwt', 'token-introspection+jwt', 'client-authentication+jwt']);

/** Checks shape and size, then returns the (unverified) protected header (`typ`, if any, a string). */
export function checkCompactJws(token: string, maxBytes: number): ProtectedHeaderParameters {
  if (token.length > maxBytes) {
    throw new BrokerError('invalid_request', `token exceeds ${maxBytes} bytes`, { reason: 'token_too_large' });
  }
  if (COMPACT_JWE.test(token)) throw invalidGrant('encrypted tokens (JWE) are not accepted', 'jwe_not_accepted');
  if (!COMPACT_JWS.test(token)) {
    throw invalidGrant('token is not a compact JWS with three base64url parts', 'malformed_token');
  }
  if (!token.split('.').every(isCanonicalBase64url)) {
    throw invalidGrant('token is not in canonical base64url', 'malformed_token');
  }
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw invalidGrant('token header is not valid base64url JSON', 'malformed_token');
  }
  if (typeof header.alg !== 'string') throw invalidGrant('token header has no algorithm', 'malformed_token');
  strictJsonText(token.slice(0, token.indexOf('.')), 'header');
  refuseDuplicateKeys(token);
  if (header.typ !== undefined && typeof header.typ !== 'string') throw invalidGrant('token header "typ" is not a string', 'malformed_token');
  return header;
}

/**
 * A JWT's payload must be a JSON object encoded as UTF-8 (RFC 7519 §7.2 step 10, RFC 8259
 * §8.1): invalid UTF-8, a byte order mark or UTF-16 is refused. jose's decoder would drop a
 * BOM silently, so the same claims could arrive in two byte forms that other parsers read
 * differently.
 */
export function checkClaimsSetText(token: string): void {
  const [, payload = ''] = token.split('.');
  const value: unknown = JSON.parse(strictJsonText(payload, 'payload'));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidGrant('token payload is not a JSON object', 'malformed_token');
  }
}

/**
 * Whether a segment is the one base64url form of its bytes. A last character whose unused low
 * bits are set decodes to the same bytes as its canonical neighbour, so without this check one
 * token would have up to 16 string forms (and 16 fingerprints).
 */
export function isCanonicalBase64url(segment: string): boolean {
  return segment.length > 0 && segment.length % 4 !== 1 && Buffer.from(segment, 'base64url').toString('base64url') === segment;
}

/** The text of a base64url segment that must be strict UTF-8 JSON (RFC 7515 §5.2 steps 3 and 8). */
function strictJsonText(segment: string, part: 'header' | 'payload'): string {
  try {
    const text = STRICT_UTF8.decode(Buffer.from(segment, 'base64url'));
    JSON.parse(text);
    return text;
  } catch {
    throw invalidGrant(`token ${part} is not UTF-8 JSON`, 'malformed_token');
  }
}

/** Header and payload must not repeat a member name (see duplicate-keys.ts). */
function refuseDuplicateKeys(token: string): void {
  const [header = '', payload = ''] = token.split('.');
  for (const segment of [header, payload]) {
    const text = Buffer.from(segment, 'base64url').toString('utf8');
    let duplicated: boolean;
    try {
      duplicated = hasDuplicateKeys(text);
    } catch {
      throw invalidGrant('token is not valid base64url JSON', 'malformed_token');
    }
    if (duplicated) throw invalidGrant('token repeats a JSON member name', 'duplicate_json_key');
  }
}

/** Identity tokens: refuse the `typ` of every other kind of JWT (RFC 8725 §3.11). */
export function refuseForeignTokenType(header: ProtectedHeaderParameters): void {
  if (header.typ === undefined) return;
  const normalised = header.typ.toLowerCase().replace(/^application\//, '');
  if (FOREIGN_JWT_TYPES.has(normalised)) {
    throw invalidGrant(`tokens of type "${normalised}" are not accepted as subject tokens`, 'wrong_token_type');
  }
}
