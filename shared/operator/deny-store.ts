/**
 * The deny-list's Firestore collection (DEFAULTS.denyCollection, `token-broker-deny`): one
 * document per entry, its id the entry id (deny-entry.ts), holding
 *   kind                         subject | claim | client | api_key | rule | service_account | policy_version
 *   issuer, subject              (kind subject)
 *   claim, value                 (kind claim)
 *   value                        (the other kinds)
 *   reason                       the operator's words, shown in audit entries
 *   createdAt, expiresAt?        timestamps; `expiresAt` may drive a Firestore TTL policy
 *   createdBy?                   who added it
 * The broker only reads it (deny-list.ts); the operator CLI (cli/deny.ts) writes it through
 * the functions below.
 */
import type { CollectionReference, DocumentSnapshot, Firestore, Timestamp } from '@google-cloud/firestore';
import { DEFAULTS } from '../config/defaults';
import { checkEntry, DenyEntryError, isDenyKind, type DenyEntry } from './deny-entry';

interface DenyDocument {
  kind: string;
  issuer?: string;
  subject?: string;
  claim?: string;
  value?: string;
  reason: string;
  createdAt: Timestamp;
  expiresAt?: Timestamp;
  createdBy?: string;
}

/** The deny-list is full: the CLI refuses to add (the broker would not hold the entry). */
export class DenyListFull extends Error {
  constructor(readonly max: number) {
    super(`the deny-list holds ${max} entries, its maximum: remove some (expired ones first) before adding`);
    this.name = 'DenyListFull';
  }
}

export function denyCollection(firestore: Firestore, name: string = DEFAULTS.denyCollection): CollectionReference {
  return firestore.collection(name);
}

/** An entry from its document; undefined (skipped by the broker) when the document is not a valid entry. */
export function entryFromDocument(snapshot: Pick<DocumentSnapshot, 'id' | 'data'>): DenyEntry | undefined {
  const data = snapshot.data() as Partial<DenyDocument> | undefined;
  if (!data || !isDenyKind(data.kind)) return undefined;
  try {
    const entry = checkEntry({
      id: snapshot.id,
      kind: data.kind,
      issuer: data.issuer,
      subject: data.subject,
      claim: data.claim,
      value: data.value,
      reason: data.reason,
      createdAtMs: millis(data.createdAt),
      ...(data.expiresAt == null ? {} : { expiresAtMs: millis(data.expiresAt) }),
      ...(data.createdBy == null ? {} : { createdBy: data.createdBy }),
    } as unknown as DenyEntry);
    // The document id names the entry, whoever wrote it.
    return { ...entry, id: snapshot.id };
  } catch (err) {
    if (err instanceof DenyEntryError) return undefined;
    throw err;
  }
}

function millis(value: unknown): number {
  return typeof (value as Timestamp | undefined)?.toMillis === 'function' ? (value as Timestamp).toMillis() : Number.NaN;
}

function documentOf(entry: DenyEntry): DenyDocument {
  const { Timestamp: Ts } = require('@google-cloud/firestore') as typeof import('@google-cloud/firestore');
  const { id: _id, createdAtMs, expiresAtMs, ...rest } = entry;
  return {
    ...(rest as Omit<DenyDocument, 'createdAt' | 'expiresAt'>),
    createdAt: Ts.fromMillis(createdAtMs),
    ...(expiresAtMs === undefined ? {} : { expiresAt: Ts.fromMillis(expiresAtMs) }),
  };
}

/**
 * Adds (or replaces: same selector, same id) an entry. Refuses a new entry when the
 * collection already holds `maxEntries` documents.
 */
export async function addDenyEntry(
  collection: CollectionReference, entry: DenyEntry, maxEntries: number = DEFAULTS.denyMaxEntries,
): Promise<{ entry: DenyEntry; replaced?: DenyEntry }> {
  const checked = checkEntry(entry);
  const ref = collection.doc(checked.id);
  const existing = await ref.get();
  if (!existing.exists) {
    const count = (await collection.count().get()).data().count;
    if (count >= maxEntries) throw new DenyListFull(maxEntries);
  }
  await ref.set(documentOf(checked));
  const replaced = existing.exists ? entryFromDocument(existing) : undefined;
  return replaced ? { entry: checked, replaced } : { entry: checked };
}

/** Removes the entry `id`; undefined when there was none. */
export async function removeDenyEntry(collection: CollectionReference, id: string): Promise<DenyEntry | { id: string; malformed: true } | undefined> {
  const ref = collection.doc(id);
  const snapshot = await ref.get();
  if (!snapshot.exists) return undefined;
  await ref.delete({ lastUpdateTime: snapshot.updateTime });
  return entryFromDocument(snapshot) ?? { id, malformed: true };
}

/** Every entry (at most `maxEntries` + 1, so a caller can tell the list is over its bound), and the ids of documents that are not entries. */
export async function listDenyEntries(
  collection: CollectionReference, maxEntries: number = DEFAULTS.denyMaxEntries,
): Promise<{ entries: DenyEntry[]; malformed: string[] }> {
  const snapshot = await collection.limit(maxEntries + 1).get();
  const entries: DenyEntry[] = [];
  const malformed: string[] = [];
  for (const doc of snapshot.docs) {
    const entry = entryFromDocument(doc);
    if (entry) entries.push(entry);
    else malformed.push(doc.id);
  }
  return { entries, malformed };
}
