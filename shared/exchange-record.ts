import type { CacheOutcome } from './cache/token-cache';
import type { Grant } from './policy/resolve-grant';
import type { RuleTrace } from './policy/select-rule';

/**
 * What one token request did, filled in step by step by the core and read by the HTTP
 * layer's log line (and the audit trail). Holds fingerprints, never tokens.
 */
export interface ExchangeRecord {
  grantType?: string;
  subjectTokenType?: string;
  /** SHA-256 of the presented subject token, recorded before it is verified. */
  subjectTokenSha256?: string;
  principal?: { issuer: string; subject: string };
  /**
   * The client whose credential verified (secret, API key, assertion signature), recorded at
   * that moment: refusals after it (an expired or restricted API key, a mismatching
   * `client_id`, a replayed assertion, policy, rate limits) name it too. Never a claimed id
   * whose credential did not verify.
   */
  client?: { id: string; authMethod: string; apiKeyId?: string };
  /** The verified claims the matched rule lists under `audit_claims`, encoded and capped. */
  auditClaims?: Record<string, string>;
  policyVersion?: string;
  ruleId?: string;
  /** The rules tried (conditions evaluated), in document order. */
  trace?: readonly RuleTrace[];
  /** Rules passed over without being tried: for another issuer or client, or not named by the audience. */
  skippedRules?: number;
  grant?: Grant;
  tokenSha256?: string;
  /** Where the token came from: the cache (and which layer), a mint, or no cache at all. */
  cache?: CacheOutcome | 'none';
  /** This request noticed a token due for refresh and started a background refresh. */
  cacheRefreshStarted?: boolean;
  /** Time spent obtaining the token (cache lookup and any upstream mint). */
  tokenLatencyMs?: number;
}
