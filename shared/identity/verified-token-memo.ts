/**
 * A caller presents the same subject token for many requests until its library refreshes it.
 * The memo remembers a successful verification by the token's SHA-256 (as Envoy's jwt_authn
 * JWT cache does), so a repeated token skips the signature check and claim parsing:
 *
 * - only successes are remembered; a token that failed is verified again every time;
 * - an entry lives at most until the token's `exp`, until its `iat` + the issuer's maximum token
 *   age, and a short maximum (DEFAULTS.verifiedTokenMemoTtlMs), whichever comes first: a memo
 *   hit is never accepted where a fresh verification would refuse on time;
 * - an entry is dropped when its issuer's keys change (a rotation, a key refused), and the
 *   memo belongs to one compiled policy (a reload starts with an empty one);
 * - it is bounded (least recently used dropped first).
 * What runs after verification on every request still runs: one-time tokens, rules, the
 * deny-list, limits. The memo changes the cost of a check, not its outcome.
 */
import { LRUCache } from 'lru-cache';
import { DEFAULTS } from '../config/defaults';
import type { Principal } from './principal';
import type { TrustedIssuer } from './trusted-issuer';

interface Entry {
  readonly principal: Principal;
  readonly validUntilMs: number;
  readonly issuer: TrustedIssuer;
  readonly keyGeneration: number;
}

export class VerifiedTokenMemo {
  private readonly entries: LRUCache<string, Entry>;

  constructor(private readonly options: { maxEntries?: number; maxTtlMs?: number } = {}) {
    this.entries = new LRUCache({ max: options.maxEntries ?? DEFAULTS.verifiedTokenMemoEntries });
  }

  /** The principal of a token verified before and still within its entry's life, or undefined. */
  get(tokenSha256: string, nowMs: number): Principal | undefined {
    const entry = this.entries.get(tokenSha256);
    if (!entry) return undefined;
    if (nowMs >= entry.validUntilMs || (entry.issuer.keyGeneration?.() ?? 0) !== entry.keyGeneration) {
      this.entries.delete(tokenSha256);
      return undefined;
    }
    return entry.principal;
  }

  /** Remembers a successful verification of a token of `issuer` (made at `nowMs`). */
  remember(tokenSha256: string, principal: Principal, issuer: TrustedIssuer, nowMs: number): void {
    const iat = typeof principal.claims.iat === 'number' ? principal.claims.iat : undefined;
    const limits = [nowMs + (this.options.maxTtlMs ?? DEFAULTS.verifiedTokenMemoTtlMs)];
    if (principal.expiresAt !== undefined) limits.push(principal.expiresAt * 1000);
    if (iat !== undefined) limits.push((iat + issuer.maxTokenAgeSeconds) * 1000);
    const validUntilMs = Math.min(...limits);
    if (validUntilMs <= nowMs) return;
    this.entries.set(tokenSha256, { principal, validUntilMs, issuer, keyGeneration: issuer.keyGeneration?.() ?? 0 });
  }
}

/** One memo per compiled policy's issuers: a reloaded policy starts with an empty one. */
const memos = new WeakMap<ReadonlyMap<string, TrustedIssuer>, VerifiedTokenMemo>();

export function memoFor(issuers: ReadonlyMap<string, TrustedIssuer>): VerifiedTokenMemo {
  let memo = memos.get(issuers);
  if (!memo) {
    memo = new VerifiedTokenMemo();
    memos.set(issuers, memo);
  }
  return memo;
}
