/**
 * A deny-list snapshot indexed for the request path: one map lookup per selector kind, and
 * one per claim name the list mentions, whatever the number of entries. Expired entries stay
 * in the snapshot (until their document goes) and are skipped here.
 */
import type { DenyFacts, DenyMatch } from './deny-facts';
import { isLive, type DenyEntry } from './deny-entry';

/** The kinds matched on one fact, in the order they are tried (the first live match wins). */
const VALUE_KINDS = [
  ['client', (facts: DenyFacts) => facts.clientId],
  ['api_key', (facts: DenyFacts) => facts.apiKeyId],
  ['rule', (facts: DenyFacts) => facts.ruleId],
  ['service_account', (facts: DenyFacts) => facts.serviceAccount],
  ['policy_version', (facts: DenyFacts) => facts.policyVersion],
] as const;

export class DenyIndex {
  private readonly byKey = new Map<string, DenyEntry>();
  /** Claim name → (value → entry). */
  private readonly byClaim = new Map<string, Map<string, DenyEntry>>();

  constructor(readonly entries: readonly DenyEntry[]) {
    for (const entry of entries) {
      if (entry.kind === 'claim') {
        let values = this.byClaim.get(entry.claim);
        if (!values) this.byClaim.set(entry.claim, (values = new Map()));
        keepLatest(values, entry.value, entry);
      } else {
        keepLatest(this.byKey, keyOf(entry.kind, entry.kind === 'subject' ? [entry.issuer, entry.subject] : [entry.value]), entry);
      }
    }
  }

  get size(): number {
    return this.entries.length;
  }

  /** The first live entry the facts match at `nowMs`. */
  match(facts: DenyFacts, nowMs: number): DenyMatch | undefined {
    const live = (entry: DenyEntry | undefined) => (entry && isLive(entry, nowMs) ? { id: entry.id, reason: entry.reason } : undefined);
    const bySubject = live(this.byKey.get(keyOf('subject', [facts.issuer, facts.subject])));
    if (bySubject) return bySubject;
    for (const [kind, fact] of VALUE_KINDS) {
      const value = fact(facts);
      const found = typeof value === 'string' ? live(this.byKey.get(keyOf(kind, [value]))) : undefined;
      if (found) return found;
    }
    for (const [claim, values] of this.byClaim) {
      // Own, top-level, string claims only: exact string equality (docs/operations.md).
      const value = Object.hasOwn(facts.claims, claim) ? facts.claims[claim] : undefined;
      const found = typeof value === 'string' ? live(values.get(value)) : undefined;
      if (found) return found;
    }
    return undefined;
  }
}

function keyOf(kind: string, parts: readonly string[]): string {
  return [kind, ...parts].join('\u0000');
}

/** Two entries with one selector (a document written by hand beside the CLI's): the later-created one decides. */
function keepLatest(map: Map<string, DenyEntry>, key: string, entry: DenyEntry): void {
  const existing = map.get(key);
  if (!existing || existing.createdAtMs <= entry.createdAtMs) map.set(key, entry);
}
