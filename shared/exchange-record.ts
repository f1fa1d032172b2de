import type { Grant } from './policy/resolve-grant';
import type { RuleTrace } from './policy/select-rule';

/**
 * What one token request did, filled in step by step by the core and read by the HTTP
 * layer's log line (and the audit trail). Holds fingerprints, never tokens.
 */
export interface ExchangeRecord {
  grantType?: string;
  subjectTokenType?: string;
  principal?: { issuer: string; subject: string; credentialSha256: string };
  policyVersion?: string;
  ruleId?: string;
  trace?: readonly RuleTrace[];
  grant?: Grant;
  tokenSha256?: string;
  upstreamLatencyMs?: number;
}
