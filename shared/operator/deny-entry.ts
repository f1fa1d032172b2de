/**
 * One entry of the operator's deny-list: what it refuses (a selector), why, and until when.
 *
 *   kind              matches a request when
 *   subject           its principal's issuer and subject both equal the entry's
 *   claim             the subject token's top-level claim `claim` is a string equal to `value`
 *                     (exact, case-sensitive; a number, boolean, array or object never matches,
 *                     nested claims are not looked into)
 *   client            the client whose credential verified has id `value`
 *   api_key           the broker API key that verified has id `value`
 *   rule              the rule that granted has id `value`
 *   service_account   the granted service account is `value` (exact e-mail)
 *   policy_version    the loaded policy's version (its content hash, in full) is `value`
 *
 * An entry's id is derived from its selector, so adding the same selector twice replaces the
 * first entry (new reason, new expiry) instead of adding a second.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical-json';
import { DEFAULTS } from '../config/defaults';

export const DENY_KINDS = ['subject', 'claim', 'client', 'api_key', 'rule', 'service_account', 'policy_version'] as const;
export type DenyKind = (typeof DENY_KINDS)[number];

export type DenySelector =
  | { readonly kind: 'subject'; readonly issuer: string; readonly subject: string }
  | { readonly kind: 'claim'; readonly claim: string; readonly value: string }
  | { readonly kind: Exclude<DenyKind, 'subject' | 'claim'>; readonly value: string };

export type DenyEntry = DenySelector & {
  readonly id: string;
  readonly reason: string;
  readonly createdAtMs: number;
  /** Absent: until removed. */
  readonly expiresAtMs?: number;
  /** Who added it (the operator's name as the CLI was told or found it). */
  readonly createdBy?: string;
};

/** A selector or entry the deny-list cannot hold: an operator's mistake, named field by field. */
export class DenyEntryError extends Error {
  constructor(readonly field: string, readonly problem: string) {
    super(`${field}: ${problem}`);
    this.name = 'DenyEntryError';
  }
}

const ID_VERSION = 'token-broker/deny-entry/v1';

/** The entry id (its Firestore document id): 32 hex digits of a SHA-256 over the selector. */
export function denyEntryId(selector: DenySelector): string {
  return createHash('sha256').update(canonicalJson({ v: ID_VERSION, ...selectorFields(selector) })).digest('hex').slice(0, 32);
}

export function isDenyKind(value: unknown): value is DenyKind {
  return typeof value === 'string' && (DENY_KINDS as readonly string[]).includes(value);
}

/** The selector's own fields, nothing else (for the id, the audit trail and the document). */
export function selectorFields(selector: DenySelector): DenySelector {
  if (selector.kind === 'subject') return { kind: 'subject', issuer: selector.issuer, subject: selector.subject };
  if (selector.kind === 'claim') return { kind: 'claim', claim: selector.claim, value: selector.value };
  return { kind: selector.kind, value: selector.value };
}

/** Checks a selector: every field a non-empty string without control characters, within bounds. */
export function checkSelector(selector: DenySelector): DenySelector {
  if (!isDenyKind(selector.kind)) throw new DenyEntryError('kind', `must be one of ${DENY_KINDS.join(', ')}`);
  const fields = selectorFields(selector) as unknown as Record<string, unknown>;
  for (const [name, value] of Object.entries(fields)) {
    if (name !== 'kind') checkText(name, value);
  }
  return selectorFields(selector);
}

/** Checks a whole entry (the selector, the reason, the times). */
export function checkEntry(entry: DenyEntry): DenyEntry {
  const selector = checkSelector(entry);
  checkText('reason', entry.reason);
  if (!Number.isSafeInteger(entry.createdAtMs)) throw new DenyEntryError('createdAt', 'must be a time');
  if (entry.expiresAtMs !== undefined && (!Number.isSafeInteger(entry.expiresAtMs) || entry.expiresAtMs <= entry.createdAtMs)) {
    throw new DenyEntryError('expiresAt', 'must be a time after createdAt');
  }
  if (entry.createdBy !== undefined) checkText('createdBy', entry.createdBy);
  return {
    ...selector,
    id: denyEntryId(selector),
    reason: entry.reason,
    createdAtMs: entry.createdAtMs,
    ...(entry.expiresAtMs === undefined ? {} : { expiresAtMs: entry.expiresAtMs }),
    ...(entry.createdBy === undefined ? {} : { createdBy: entry.createdBy }),
  };
}

function checkText(field: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') throw new DenyEntryError(field, 'must be a non-empty string');
  if (value.length > DEFAULTS.denyFieldChars) throw new DenyEntryError(field, `longer than ${DEFAULTS.denyFieldChars} characters`);
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new DenyEntryError(field, 'holds a control character');
}

/** Whether the entry is in force at `nowMs`. */
export function isLive(entry: DenyEntry, nowMs: number): boolean {
  return entry.expiresAtMs === undefined || entry.expiresAtMs > nowMs;
}

/** A one-line description of the selector for people (CLI output). */
export function describeSelector(selector: DenySelector): string {
  if (selector.kind === 'subject') return `subject ${JSON.stringify(selector.issuer)} ${JSON.stringify(selector.subject)}`;
  if (selector.kind === 'claim') return `claim ${JSON.stringify(selector.claim)}=${JSON.stringify(selector.value)}`;
  return `${selector.kind} ${JSON.stringify(selector.value)}`;
}
