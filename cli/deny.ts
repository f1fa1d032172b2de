/**
 * `admin deny`: the operator's kill switch. Entries in the broker's Firestore collection
 * `token-broker-deny` (shared/operator/deny-store.ts) refuse matching requests with 403
 * `access_denied`, reason `denied_by_operator`, on every instance within seconds
 * (shared/operator/deny-list.ts), with the broker's own environment.
 *
 *     deny add <selector> --reason TEXT [--expires ISO-8601 | --for 30m|2h|7d] [--by NAME] [--revoke-sessions]
 *       <selector>, exactly one of:
 *         --subject ISSUER SUBJECT | --claim NAME=VALUE | --client ID | --api-key ID
 *         --rule ID | --service-account EMAIL | --policy-version VERSION
 *     deny list [--json]
 *     deny remove ID
 *
 * `add` also purges the shared (L2) cache of what the entry denies (a subject's, a rule's or a
 * policy version's tokens); each instance purges its own memory when its snapshot sees the
 * entry. `--revoke-sessions` (with --subject) ends that user's web-app sessions and revokes
 * their refresh tokens upstream, as `sessions revoke --subject` does.
 *
 * Each change is one audit entry (`event: operator_action`, `action: deny_added` or
 * `deny_removed`) written through the broker's AuditLog to stderr, in the LogSync shape of the
 * broker's own entries, like `admin sessions`.
 */
import { firestoreBrokerConfig, operatorAuditLog, type FirestoreCache } from './operator-environment';
import { userInfo } from 'node:os';
import { AuditLog } from '../shared/audit/audit-log';
import { capString } from '../shared/audit/sanitize';
import { keyWrapperFor } from '../shared/cache/create-token-cache';
import { EnvelopeCipher } from '../shared/cache/envelope';
import { createFirestoreStore } from '../shared/cache/firestore-store';
import { DEFAULTS } from '../shared/config/defaults';
import {
  checkEntry, denyEntryId, DenyEntryError, describeSelector, isLive, selectorFields, type DenyEntry, type DenySelector,
} from '../shared/operator/deny-entry';
import { purgeFilterOf } from '../shared/operator/deny-purge';
import { addDenyEntry, denyCollection, DenyListFull, listDenyEntries, removeDenyEntry } from '../shared/operator/deny-store';
import { openFirestore, type SharedFirestore } from '../shared/state/firestore';
import type { CollectionReference } from '@google-cloud/firestore';

/** A command line the command cannot run (exit 2). */
export class DenyUsageError extends Error {}
/** The command ran and failed, or could not start (exit 1). */
export class DenyFailure extends Error {}

export interface DenyIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

export const AUDIT_EVENT = 'operator_action';
/** How long the first Firestore call may take to open the connection (an operator command starts cold). */
const WARM_UP_MS = 10_000;
/** Budget of the shared-cache purge an `add` makes. */
const PURGE_BUDGET_MS = 30_000;
/** Longest `--for`. */
const MAX_FOR_MS = 366 * 86_400_000;
const DURATION = /^([1-9]\d{0,5})(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;
const POLICY_VERSION = /^[0-9a-f]{64}$/;
/** Ids the CLI makes are 32 hex digits; a document written by hand may have another (never a slash). */
const ENTRY_ID = /^[A-Za-z0-9_-]{1,128}$/;

interface AddOptions {
  selector: DenySelector;
  reason: string;
  expiresAtMs?: number;
  createdBy?: string;
  revokeSessions: boolean;
}

/** `deny add|list|remove …` with `env` as the broker's environment. */
export async function denyCommand(args: string[], env: NodeJS.ProcessEnv, io: DenyIo, now: () => number = Date.now): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'add') return addCommand(parseAdd(rest, now(), env), env, io, now);
  if (sub === 'list') return listCommand(parseList(rest), env, io, now);
  if (sub === 'remove') return removeCommand(parseRemove(rest), env, io);
  throw new DenyUsageError(sub === undefined ? 'deny needs a subcommand: add, list or remove' : 'deny knows three subcommands: add, list and remove');
}

// ---------------------------------------------------------------------------------------------
// add
// ---------------------------------------------------------------------------------------------

async function addCommand(options: AddOptions, env: NodeJS.ProcessEnv, io: DenyIo, now: () => number): Promise<void> {
  const config = firestoreBrokerConfig(env, 'the deny-list reaches every instance only through Firestore, and this configuration has none', (message) => new DenyFailure(message));
  const audit = auditLog(env, io);
  let added: { entry: DenyEntry; replaced?: DenyEntry } | undefined;
  let purge: { shared?: number; error?: string } = {};
  await withCollection(config, async (collection, state) => {
    const entry = checkEntry({ ...options.selector, id: denyEntryId(options.selector), reason: options.reason, createdAtMs: now(), expiresAtMs: options.expiresAtMs, createdBy: options.createdBy } as DenyEntry);
    try {
      added = await addDenyEntry(collection, entry, DEFAULTS.denyMaxEntries);
    } catch (err) {
      if (err instanceof DenyListFull) throw new DenyFailure(err.message);
      throw err;
    }
    purge = await purgeShared(config, state, entry);
  });
  if (!added) return;
  const { entry, replaced } = added;
  audit.write('NOTICE', {
    event: AUDIT_EVENT,
    action: 'deny_added',
    ...auditFields(entry),
    replaced: replaced !== undefined,
    ...(purge.shared === undefined ? {} : { cachePurged: purge.shared }),
    ...(purge.error === undefined ? {} : { cachePurgeError: capString(purge.error, DEFAULTS.auditDetailChars) }),
  });
  await audit.flush();
  io.out(`${replaced ? 'replaced' : 'added'} ${entry.id} ${describeSelector(entry)} expires=${iso(entry.expiresAtMs) ?? 'never'}\n`);
  const filter = purgeFilterOf(entry);
  if (!filter) {
    io.out(`cache: nothing to purge for a ${entry.kind} entry (the cache does not record it); matching requests are refused before the cache all the same\n`);
  } else if (purge.error !== undefined) {
    io.out(`cache: the shared cache could not be purged (${purge.error}); each instance purges when it sees the entry\n`);
  } else {
    io.out(`cache: ${purge.shared} cached token${purge.shared === 1 ? '' : 's'} purged from the shared cache; each instance purges its memory when it sees the entry\n`);
  }
  io.err(`Every instance refuses matching requests within about ${DEFAULTS.denyPollMs / 1000} s (at once when its listener is up).\n`);
  if (options.revokeSessions && options.selector.kind === 'subject') await revokeSessions(options.selector.subject, env, io);
}

/** Purges the shared cache of what `entry` denies; never throws (the instances purge too). */
async function purgeShared(config: { cache: FirestoreCache }, state: SharedFirestore, entry: DenyEntry): Promise<{ shared?: number; error?: string }> {
  const filter = purgeFilterOf(entry);
  if (!filter) return {};
  const store = createFirestoreStore({
    firestore: state.client,
    collection: config.cache.collection,
    // Purging opens nothing: the cipher is never used.
    cipher: new EnvelopeCipher(keyWrapperFor(config.cache.keyWrapping)),
    budgets: { readMs: WARM_UP_MS, transactionMs: WARM_UP_MS, writeMs: WARM_UP_MS },
    purgeBudgetMs: PURGE_BUDGET_MS,
  });
  try {
    return { shared: await store.purge(filter) };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** `sessions revoke --subject SUB` (cli/sessions.ts): its own lines on stdout and audit entries on stderr. */
async function revokeSessions(subject: string, env: NodeJS.ProcessEnv, io: DenyIo): Promise<void> {
  const { SessionsFailure, SessionsUsageError, sessionsCommand } = require('./sessions') as typeof import('./sessions');
  try {
    await sessionsCommand(['revoke', '--subject', subject], env, io);
  } catch (err) {
    if (err instanceof SessionsFailure || err instanceof SessionsUsageError) throw new DenyFailure(`the entry is in force, but revoking the sessions failed: ${err.message}`);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------------------------

async function listCommand(options: { json: boolean }, env: NodeJS.ProcessEnv, io: DenyIo, now: () => number): Promise<void> {
  const config = firestoreBrokerConfig(env, 'the deny-list reaches every instance only through Firestore, and this configuration has none', (message) => new DenyFailure(message));
  await withCollection(config, async (collection) => {
    const { entries, malformed } = await listDenyEntries(collection, DEFAULTS.denyMaxEntries);
    entries.sort((a, b) => a.createdAtMs - b.createdAtMs);
    const at = now();
    if (options.json) {
      io.out(`${JSON.stringify({ entries: entries.map((e) => ({ ...entryJson(e), live: isLive(e, at) })), malformed }, null, 2)}\n`);
    } else {
      io.out(`${['ID', 'STATE', 'SELECTOR', 'CREATED', 'EXPIRES', 'BY', 'REASON'].join('\t')}\n`);
      for (const e of entries) {
        io.out(`${[e.id, isLive(e, at) ? 'live' : 'expired', describeSelector(e), iso(e.createdAtMs), iso(e.expiresAtMs) ?? 'never', e.createdBy ?? '-', JSON.stringify(e.reason)].join('\t')}\n`);
      }
    }
    const live = entries.filter((e) => isLive(e, at)).length;
    io.err(`${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} (${live} live)${malformed.length ? `; ${malformed.length} document(s) that are not entries (the broker skips them): ${malformed.join(', ')}` : ''}\n`);
  });
}

// ---------------------------------------------------------------------------------------------
// remove
// ---------------------------------------------------------------------------------------------

async function removeCommand(id: string, env: NodeJS.ProcessEnv, io: DenyIo): Promise<void> {
  const config = firestoreBrokerConfig(env, 'the deny-list reaches every instance only through Firestore, and this configuration has none', (message) => new DenyFailure(message));
  const audit = auditLog(env, io);
  let removed: Awaited<ReturnType<typeof removeDenyEntry>>;
  await withCollection(config, async (collection) => {
    removed = await removeDenyEntry(collection, id);
  });
  if (!removed) throw new DenyFailure(`no deny entry ${id} (see deny list)`);
  const fields = 'malformed' in removed ? { id } : auditFields(removed);
  audit.write('NOTICE', { event: AUDIT_EVENT, action: 'deny_removed', ...fields });
  await audit.flush();
  io.out(`removed ${id}${'malformed' in removed ? '' : ` ${describeSelector(removed)}`}\n`);
  io.err('Every instance serves matching requests again within seconds; tokens purged when the entry was added are minted anew.\n');
}

// ---------------------------------------------------------------------------------------------
// The broker's state and audit log
// ---------------------------------------------------------------------------------------------


/** Opens Firestore, runs `work` on the deny collection, then closes the client, whatever happened. */
async function withCollection(config: { cache: FirestoreCache }, work: (collection: CollectionReference, state: SharedFirestore) => Promise<void>): Promise<void> {
  let state: SharedFirestore | undefined;
  try {
    state = await openFirestore(config.cache);
    if (!(await state.warmUp(WARM_UP_MS))) throw new DenyFailure(`Firestore did not answer within ${WARM_UP_MS / 1000} s`);
    await work(denyCollection(state.client), state);
  } finally {
    await state?.close();
  }
}

function auditLog(env: NodeJS.ProcessEnv, io: DenyIo): AuditLog {
  return operatorAuditLog(env, io.err);
}

/** An entry in the audit trail: its id, selector, reason, times and author (caller-supplied strings capped). */
function auditFields(entry: DenyEntry): Record<string, unknown> {
  const selector = Object.fromEntries(Object.entries(selectorFields(entry)).map(([k, v]) => [k, k === 'kind' ? v : capString(v)]));
  return {
    id: entry.id,
    ...selector,
    reason: capString(entry.reason, DEFAULTS.auditDetailChars),
    ...(entry.expiresAtMs === undefined ? {} : { expiresAt: iso(entry.expiresAtMs) }),
    ...(entry.createdBy === undefined ? {} : { createdBy: capString(entry.createdBy) }),
  };
}

function entryJson(entry: DenyEntry): Record<string, unknown> {
  return {
    id: entry.id,
    ...selectorFields(entry),
    reason: entry.reason,
    created: iso(entry.createdAtMs),
    ...(entry.expiresAtMs === undefined ? {} : { expires: iso(entry.expiresAtMs) }),
    ...(entry.createdBy === undefined ? {} : { createdBy: entry.createdBy }),
  };
}

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------

const SELECTORS = ['subject', 'claim', 'client', 'api-key', 'rule', 'service-account', 'policy-version'] as const;
const VALUES = ['reason', 'expires', 'for', 'by'] as const;

function parseAdd(args: string[], nowMs: number, env: NodeJS.ProcessEnv): AddOptions {
  const given = new Map<string, string[]>();
  let revokeSessions = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--revoke-sessions') {
      if (revokeSessions) throw new DenyUsageError('deny add: --revoke-sessions given twice');
      revokeSessions = true;
      continue;
    }
    const name = arg.startsWith('--') ? arg.slice(2) : '';
    const arity = name === 'subject' ? 2 : (SELECTORS as readonly string[]).includes(name) || (VALUES as readonly string[]).includes(name) ? 1 : 0;
    if (arity === 0) throw new DenyUsageError(/^--?[a-z][a-z-]{0,30}$/.test(arg) ? `deny add: unknown option ${arg}` : 'deny add: unexpected argument');
    if (given.has(name)) throw new DenyUsageError(`deny add: --${name} given twice`);
    const values = args.slice(i + 1, i + 1 + arity);
    if (values.length < arity || values.some((v) => v === '')) throw new DenyUsageError(`deny add: --${name} needs ${arity === 2 ? 'two values (ISSUER SUBJECT)' : 'a value'}`);
    given.set(name, values);
    i += arity;
  }
  const chosen = SELECTORS.filter((name) => given.has(name));
  if (chosen.length !== 1) throw new DenyUsageError(`deny add needs exactly one of ${SELECTORS.map((s) => `--${s}`).join(', ')}`);
  const reason = given.get('reason')?.[0];
  if (reason === undefined) throw new DenyUsageError('deny add needs --reason TEXT (it is shown in the audit trail)');
  const selector = selectorOf(chosen[0] as (typeof SELECTORS)[number], given);
  if (revokeSessions && selector.kind !== 'subject') throw new DenyUsageError('deny add: --revoke-sessions needs --subject (it revokes that user\'s sessions)');
  const expiresAtMs = expiryOf(given.get('expires')?.[0], given.get('for')?.[0], nowMs);
  const createdBy = given.get('by')?.[0] ?? operatorName(env);
  const options: AddOptions = { selector, reason, revokeSessions, ...(expiresAtMs === undefined ? {} : { expiresAtMs }), ...(createdBy === undefined ? {} : { createdBy }) };
  try {
    checkEntry({ ...selector, id: '', reason, createdAtMs: nowMs, expiresAtMs, createdBy } as DenyEntry);
  } catch (err) {
    if (err instanceof DenyEntryError) throw new DenyUsageError(`deny add: ${err.message}`);
    throw err;
  }
  return options;
}

function selectorOf(name: (typeof SELECTORS)[number], given: Map<string, string[]>): DenySelector {
  const [first = '', second = ''] = given.get(name) ?? [];
  switch (name) {
    case 'subject': return { kind: 'subject', issuer: first, subject: second };
    case 'claim': {
      const eq = first.indexOf('=');
      if (eq <= 0) throw new DenyUsageError('deny add: --claim takes NAME=VALUE (a top-level claim, matched by exact string equality)');
      return { kind: 'claim', claim: first.slice(0, eq), value: first.slice(eq + 1) };
    }
    case 'policy-version':
      if (!POLICY_VERSION.test(first)) throw new DenyUsageError('deny add: --policy-version takes a full policy version (64 lowercase hex digits, as policy validate prints it)');
      return { kind: 'policy_version', value: first };
    case 'api-key': return { kind: 'api_key', value: first };
    case 'service-account': return { kind: 'service_account', value: first };
    default: return { kind: name, value: first };
  }
}

function expiryOf(expires: string | undefined, duration: string | undefined, nowMs: number): number | undefined {
  if (expires !== undefined && duration !== undefined) throw new DenyUsageError('deny add: give --expires or --for, not both');
  if (duration !== undefined) {
    const match = DURATION.exec(duration);
    const ms = match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : Number.NaN;
    if (!(ms > 0 && ms <= MAX_FOR_MS)) throw new DenyUsageError('deny add: --for takes a duration such as 90s, 30m, 2h or 7d (at most 366d)');
    return nowMs + ms;
  }
  if (expires !== undefined) {
    const ms = ISO_TIME.test(expires) ? Date.parse(expires) : Number.NaN;
    if (!Number.isFinite(ms)) throw new DenyUsageError('deny add: --expires takes an ISO 8601 time with a zone, such as 2026-12-07T00:00:00Z');
    if (ms <= nowMs) throw new DenyUsageError('deny add: --expires is in the past');
    return ms;
  }
  return undefined;
}

/** The operator's name for `createdBy` when --by is not given: the login name, if there is one. */
function operatorName(env: NodeJS.ProcessEnv): string | undefined {
  let name = env.USER || env.LOGNAME;
  if (!name) {
    try {
      name = userInfo().username;
    } catch {
      name = undefined;
    }
  }
  return name && !/[\u0000-\u001f\u007f]/.test(name) ? name.slice(0, DEFAULTS.denyFieldChars) : undefined;
}

function parseList(args: string[]): { json: boolean } {
  for (const arg of args) if (arg !== '--json') throw new DenyUsageError(/^--?[a-z][a-z-]{0,30}$/.test(arg) ? `deny list: unknown option ${arg}` : 'deny list: unexpected argument');
  if (args.length > 1) throw new DenyUsageError('deny list: --json given twice');
  return { json: args.length === 1 };
}

function parseRemove(args: string[]): string {
  if (args.length !== 1) throw new DenyUsageError('deny remove takes one entry id (see deny list)');
  const id = args[0] ?? '';
  if (!ENTRY_ID.test(id)) throw new DenyUsageError('deny remove: an entry id is letters, digits, - and _ (see deny list)');
  return id;
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

