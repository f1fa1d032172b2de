/**
 * Caller-supplied values on their way into a log entry: JSON-encoded where they are not
 * plain strings, and capped in length, so no entry can be forged or grown without bound.
 * (The entry itself is serialised with JSON.stringify, which escapes control characters.)
 */
import { DEFAULTS } from '../config/defaults';

const ELLIPSIS = '…';

/** A string capped at `max` characters; longer ones end in "…". */
export function capString(value: string, max: number = DEFAULTS.auditStringChars): string {
  return value.length <= max ? value : `${value.slice(0, max - 1)}${ELLIPSIS}`;
}

/** A claim value as an audit string: strings as they are, anything else as JSON; capped. */
export function auditClaimValue(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? 'null');
  return capString(text);
}

/** The listed claims of a verified token, in a prototype-free object, values encoded and capped. */
export function pickAuditClaims(claims: Readonly<Record<string, unknown>>, names: readonly string[]): Record<string, string> {
  const picked: Record<string, string> = Object.create(null);
  for (const name of names.slice(0, DEFAULTS.auditClaims)) {
    if (Object.prototype.hasOwnProperty.call(claims, name)) picked[name] = auditClaimValue(claims[name]);
  }
  return picked;
}
