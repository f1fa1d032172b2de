import type { TrustedIssuer } from '../identity/trusted-issuer';
import type { CompiledCondition } from './cel';

/** What a rule grants, with defaults applied. */
export interface RuleGrant {
  readonly serviceAccount: string;
  readonly scopes: readonly string[];
  readonly maxLifetimeSeconds: number;
  readonly delegates: readonly string[];
}

export interface CompiledRule {
  readonly id: string;
  readonly issuer: string;
  readonly condition: CompiledCondition;
  readonly grant: RuleGrant;
  readonly auditClaims: readonly string[];
}

/** A validated policy, ready for evaluation. Only `compilePolicy` produces one. */
export interface CompiledPolicy {
  /** Where it came from (file path), for messages. */
  readonly source: string;
  /** SHA-256 of the document's canonical JSON: changes whenever its meaning may change. */
  readonly version: string;
  readonly issuers: ReadonlyMap<string, TrustedIssuer>;
  /** In document order: evaluation order. */
  readonly rules: readonly CompiledRule[];
}
