/**
 * What the operator's deny-list (shared/operator/deny-list.ts) is matched against: the facts of
 * one request once its principal is verified and its rule and grant are decided. The broker
 * core builds them; the deny-list decides. Kept apart so the core depends on this shape only.
 */
export interface DenyFacts {
  /** The principal: an OIDC issuer and subject, or the client namespace and the client id. */
  readonly issuer: string;
  readonly subject: string;
  /** The verified claims of the subject token (a client's own for client principals). */
  readonly claims: Readonly<Record<string, unknown>>;
  /** The client whose credential verified, if any. */
  readonly clientId?: string;
  readonly apiKeyId?: string;
  readonly ruleId: string;
  readonly serviceAccount: string;
  readonly policyVersion: string;
}

/** An entry that refuses a request: its id (for the audit trail) and the operator's reason. */
export interface DenyMatch {
  readonly id: string;
  readonly reason: string;
}

export interface DenyChecker {
  /** The first live entry the facts match, from this instance's snapshot (no I/O). */
  match(facts: DenyFacts): DenyMatch | undefined;
}
