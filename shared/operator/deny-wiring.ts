/**
 * The deny-list as the composition root (shared/load-broker.ts) wires it: Firestore's when the
 * broker has Firestore, else an in-memory one; its changes purge the token cache and are
 * audited, and the broker waits (boundedly) for its first snapshot before serving.
 */
import type { Firestore } from '@google-cloud/firestore';
import type { AuditSink } from '../audit/audit-sink';
import { recordAuthEvent } from '../audit/auth-events';
import type { TokenCache } from '../cache/token-cache';
import { DEFAULTS } from '../config/defaults';
import type { DenyEntry } from './deny-entry';
import { createFirestoreDenyList, createMemoryDenyList, type DenyChange, type DenyList, type DenyListEvent } from './deny-list';
import { purgeFilterOf } from './deny-purge';

export interface DenyWiring {
  firestore?: Firestore;
  cache?: TokenCache;
  audit?: AuditSink;
  now?: () => number;
  /** A deny-list made elsewhere (tests, development): its changes are not followed here. */
  denyList?: DenyList;
  /** Default DEFAULTS.denyFirstSnapshotMs. */
  firstSnapshotMs?: number;
}

export async function wireDenyList(wiring: DenyWiring): Promise<DenyList> {
  if (wiring.denyList) return wiring.denyList;
  const options = {
    now: wiring.now,
    onChange: (change: DenyChange) => void onDenyChange(change, wiring),
    onEvent: (event: DenyListEvent) => recordAuthEvent(wiring.audit, denyAuthEvent(event)),
  };
  const list = wiring.firestore ? createFirestoreDenyList({ firestore: wiring.firestore, ...options }) : createMemoryDenyList(options);
  const waitMs = wiring.firstSnapshotMs ?? DEFAULTS.denyFirstSnapshotMs;
  if (!(await list.ready(waitMs))) {
    // Serving without the list would let a denied caller through; refusing everyone would turn a
    // Firestore hiccup into an outage. The broker serves, says so, and applies the list once it arrives.
    recordAuthEvent(wiring.audit, { event: 'deny_list_degraded', detail: `no deny-list snapshot within ${waitMs} ms: serving without it until it arrives` });
  }
  return list;
}

/** Audits a change, then purges what each added entry denies from the cache (L1 and L2). */
async function onDenyChange(change: DenyChange, wiring: DenyWiring): Promise<void> {
  recordAuthEvent(wiring.audit, { event: 'deny_list_changed', added: change.added.map((e) => e.id), removed: change.removed.map((e) => e.id) });
  if (!wiring.cache) return;
  for (const entry of change.added) await purgeFor(entry, wiring.cache, wiring.audit);
}

async function purgeFor(entry: DenyEntry, cache: TokenCache, audit: AuditSink | undefined): Promise<void> {
  const filter = purgeFilterOf(entry);
  if (!filter) return; // claim, client, API key, service account: not in the cache's metadata (refused on every request all the same)
  try {
    const result = await cache.purge(filter);
    recordAuthEvent(audit, {
      event: 'deny_cache_purged',
      denyId: entry.id,
      kind: entry.kind,
      memoryEntries: result.memory,
      ...(result.shared === undefined ? {} : { sharedEntries: result.shared }),
      ...(result.sharedError === undefined ? {} : { error: result.sharedError }),
    });
  } catch (err) {
    recordAuthEvent(audit, { event: 'deny_cache_purged', denyId: entry.id, kind: entry.kind, memoryEntries: 0, error: err instanceof Error ? err.message : String(err) });
  }
}

function denyAuthEvent(event: DenyListEvent) {
  switch (event.type) {
    case 'listener_failed': return { event: 'deny_list_degraded' as const, detail: `real-time listener failed (polling every ${DEFAULTS.denyPollMs} ms instead): ${event.detail}` };
    case 'poll_failed': return { event: 'deny_list_degraded' as const, detail: `poll failed (the last snapshot stays in force): ${event.detail}` };
    case 'malformed': return { event: 'deny_list_degraded' as const, detail: `documents that are not deny entries were skipped: ${event.ids.join(', ')}` };
    case 'truncated': return { event: 'deny_list_truncated' as const, max: event.max };
  }
}
