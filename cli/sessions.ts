/**
 * `admin sessions`: operators list and revoke users' web-app sessions in the broker's session
 * vault (shared/sign-in/session-vault.ts), with the broker's own environment.
 *
 *     sessions list   [--subject SUB] [--app ID] [--handle H] [--limit N] [--json]
 *     sessions revoke (--handle H | --subject SUB [--app ID]) [--no-upstream]
 *
 * Sessions are shared only through Firestore, so the broker's configuration must say
 * BROKER_CACHE=firestore (the default in production); the cipher is the broker's (KMS, or the
 * local development key). `list` decrypts nothing. `revoke` deletes the matching sessions, then
 * revokes each one's refresh token at its app's provider (RFC 7009) unless `--no-upstream`:
 * the sessions are gone either way, and the command fails (exit 1) when any upstream
 * revocation did. Nothing here ever prints a token: the vault's `list` returns none, and the
 * refresh tokens `revoke` returns go to the provider only.
 *
 * Each revoked session is one audit entry (`event: operator_action`, `action: session_revoked`)
 * written through the broker's AuditLog to stderr, in the same LogSync shape as the broker's
 * entries on stdout, so a wrapper can ship both to Cloud Logging.
 */
import { firestoreBrokerConfig, operatorAuditLog, type FirestoreCache } from './operator-environment';
import { AuditLog, type AuditSeverity } from '../shared/audit/audit-log';
import { capString } from '../shared/audit/sanitize';
import { keyWrapperFor } from '../shared/cache/create-token-cache';
import { EnvelopeCipher } from '../shared/cache/envelope';
import type { BrokerConfig } from '../shared/config/environment';
import { DEFAULTS } from '../shared/config/defaults';
import { clientSecrets, loadPolicyFile } from '../shared/load-broker';
import { PolicyLoadError } from '../shared/policy/policy-error';
import { Deadline } from '../shared/resilience/deadline';
import { createProviderClient, type ProviderClient } from '../shared/sign-in/provider';
import { createFirestoreSessionVault, VaultUnavailable, type SessionSummary, type SessionVault } from '../shared/sign-in/session-vault';
import { openFirestore, type SharedFirestore } from '../shared/state/firestore';

/** A command line the command cannot run (exit 2). */
export class SessionsUsageError extends Error {}
/** The command ran and failed, or could not start (exit 1). The message never holds a token. */
export class SessionsFailure extends Error {}

export interface SessionsIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

/**
 * Each vault call's time budget. Longer than the broker's per-request one (1.5 s): an operator
 * command starts cold (Firestore's first call, KMS's first unwrap) and nobody is waiting on a
 * request deadline.
 */
const VAULT_BUDGET_MS = 10_000;
/** How long the first Firestore call may take to open the connection. */
const WARM_UP_MS = 10_000;
/** Sessions `list` shows unless told otherwise (the vault's own default), and at most. */
const LIST_LIMIT = { default: 100, max: 1000 } as const;
const HANDLE = /^[0-9a-f]{64}$/;

export const AUDIT_EVENT = 'operator_action';

export type UpstreamOutcome = 'revoked' | 'failed' | 'skipped';

interface ListOptions {
  filter: { subject?: string; appId?: string; handle?: string };
  limit: number;
  json: boolean;
}

interface RevokeOptions {
  filter: { subject?: string; appId?: string; handle?: string };
  upstream: boolean;
}

/** `sessions list|revoke …` with `env` as the broker's environment. */
export async function sessionsCommand(args: string[], env: NodeJS.ProcessEnv, io: SessionsIo): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'list') return listSessions(parseList(rest), env, io);
  if (sub === 'revoke') return revokeSessions(parseRevoke(rest), env, io);
  throw new SessionsUsageError(sub === undefined ? 'sessions needs a subcommand: list or revoke' : 'sessions knows two subcommands: list and revoke');
}

// ---------------------------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------------------------

async function listSessions(options: ListOptions, env: NodeJS.ProcessEnv, io: SessionsIo): Promise<void> {
  const config = firestoreBrokerConfig(env, 'sessions are shared only through Firestore, and this configuration keeps them in memory', (message) => new SessionsFailure(message));
  await withVault(config, async (vault) => {
    const sessions = await vault.list(options.filter, options.limit);
    const truncated = sessions.length === options.limit;
    if (options.json) {
      io.out(`${JSON.stringify({ sessions: sessions.map(sessionJson), truncated }, null, 2)}\n`);
    } else {
      io.out(`${['HANDLE', 'APP', 'SUBJECT', 'EMAIL', 'CREATED', 'EXPIRES', 'LAST_REFRESH'].join('\t')}\n`);
      for (const session of sessions) io.out(`${sessionLine(session)}\n`);
    }
    io.err(`${sessions.length} live session${sessions.length === 1 ? '' : 's'}${truncated ? ` (the first ${options.limit}: raise --limit to see more)` : ''}\n`);
  });
}

function sessionLine(session: SessionSummary): string {
  return [session.handle, session.appId, session.subject, session.email, iso(session.createdAtMs), iso(session.expiresAtMs), iso(session.lastRefreshAtMs)]
    .map(cell)
    .join('\t');
}

/** The summary an operator sees: everything `list` returns (it holds no token), times in ISO 8601. */
function sessionJson(session: SessionSummary): Record<string, unknown> {
  return {
    handle: session.handle,
    app: session.appId,
    issuer: session.issuer,
    subject: session.subject,
    ...(session.email === undefined ? {} : { email: session.email }),
    scopes: session.scopes,
    created: iso(session.createdAtMs),
    expires: iso(session.expiresAtMs),
    ...(session.lastRefreshAtMs === undefined ? {} : { lastRefresh: iso(session.lastRefreshAtMs) }),
  };
}

// ---------------------------------------------------------------------------------------------
// revoke
// ---------------------------------------------------------------------------------------------

interface Revoked {
  session: SessionSummary;
  upstream: UpstreamOutcome;
  /** Why upstream revocation failed or was skipped. */
  reason?: string;
}

async function revokeSessions(options: RevokeOptions, env: NodeJS.ProcessEnv, io: SessionsIo): Promise<void> {
  const config = firestoreBrokerConfig(env, 'sessions are shared only through Firestore, and this configuration keeps them in memory', (message) => new SessionsFailure(message));
  // Before anything is deleted: a policy that does not load would leave refresh tokens alive upstream.
  const upstream = options.upstream ? await upstreamRevoker(config) : undefined;
  const audit = operatorAuditLog(env, io.err);
  const results: Revoked[] = [];
  const undecryptable = new Set<string>();
  await withVault(config, async (vault) => {
    const deleted = await vault.revoke(options.filter);
    for (const session of deleted) {
      const { refreshToken, ...summary } = session;
      const outcome = upstream
        ? await upstream(summary, refreshToken, undecryptable.has(summary.handle))
        : { upstream: 'skipped' as const, reason: 'not asked (--no-upstream)' };
      const result: Revoked = { session: summary, ...outcome };
      results.push(result);
      recordRevocation(audit, result);
      io.out(`${revokedLine(result)}\n`);
    }
  }, (handle) => undecryptable.add(handle));
  await audit.flush();

  const count = (outcome: UpstreamOutcome) => results.filter((r) => r.upstream === outcome).length;
  io.out(`${results.length} session${results.length === 1 ? '' : 's'} deleted; upstream: ${count('revoked')} revoked, ${count('failed')} failed, ${count('skipped')} skipped\n`);
  if (count('failed') > 0) {
    throw new SessionsFailure(`upstream revocation failed for ${count('failed')} of ${results.length} sessions (deleted all the same): revoke those grants at the provider`);
  }
}

/**
 * Revokes one session's refresh token at its app's provider. Never throws: the outcome says
 * what happened, and the reason is the provider client's message (which holds no token).
 */
async function upstreamRevoker(config: BrokerConfig) {
  const policy = await loadPolicy(config);
  const provider = providerClient(config);
  return async (session: SessionSummary, refreshToken: string | undefined, undecryptable: boolean): Promise<Omit<Revoked, 'session'>> => {
    if (undecryptable) return { upstream: 'failed', reason: 'the session could not be decrypted: its refresh token is unknown' };
    if (refreshToken === undefined) return { upstream: 'skipped', reason: 'the session held no refresh token' };
    const app = policy.webApps.get(session.appId);
    if (!app) return { upstream: 'failed', reason: `app ${session.appId} is not in the policy` };
    try {
      await provider.revoke(app, refreshToken, new Deadline(DEFAULTS.requestDeadlineMs));
      return { upstream: 'revoked' };
    } catch (err) {
      return { upstream: 'failed', reason: capString(err instanceof Error ? err.message : String(err), DEFAULTS.auditDetailChars) };
    }
  };
}

async function loadPolicy(config: BrokerConfig) {
  try {
    return await loadPolicyFile(config.policyFile, config.network, config.maxLifetimeSeconds);
  } catch (err) {
    if (err instanceof PolicyLoadError) throw new SessionsFailure(`${err.message}\n(nothing was deleted; --no-upstream deletes sessions without the policy)`);
    throw err;
  }
}

/** The broker's provider client, its client secrets read from Secret Manager as the broker does. */
function providerClient(config: BrokerConfig): ProviderClient {
  return createProviderClient({ clientSecret: clientSecrets(config, {}), allowInsecureLoopback: config.network.allowInsecureLoopback });
}

function recordRevocation(audit: AuditLog, result: Revoked): void {
  const severity: AuditSeverity = result.upstream === 'failed' ? 'WARNING' : 'NOTICE';
  audit.write(severity, {
    event: AUDIT_EVENT,
    action: 'session_revoked',
    handle: result.session.handle,
    app: result.session.appId,
    subject: capString(result.session.subject),
    upstream: result.upstream,
    ...(result.reason === undefined ? {} : { reason: result.reason }),
  });
}

function revokedLine(result: Revoked): string {
  const { session } = result;
  return `deleted ${session.handle} app=${cell(session.appId)} subject=${cell(session.subject)} upstream=${result.upstream}${result.reason ? ` (${cell(result.reason)})` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// The broker's state
// ---------------------------------------------------------------------------------------------


/** Opens Firestore and the vault with the broker's cipher, runs `work`, then closes both, whatever happened. */
async function withVault(config: { cache: FirestoreCache }, work: (vault: SessionVault) => Promise<void>, onUndecryptable?: (handle: string) => void): Promise<void> {
  let state: SharedFirestore | undefined;
  let vault: SessionVault | undefined;
  try {
    state = await openFirestore(config.cache);
    if (!(await state.warmUp(WARM_UP_MS))) throw new SessionsFailure(`Firestore did not answer within ${WARM_UP_MS / 1000} s`);
    vault = createFirestoreSessionVault({
      firestore: state.client,
      cipher: new EnvelopeCipher(keyWrapperFor(config.cache.keyWrapping)),
      budgetMs: VAULT_BUDGET_MS,
      onEvent: (event) => onUndecryptable?.(event.handle),
    });
    await work(vault);
  } catch (err) {
    if (err instanceof VaultUnavailable) throw new SessionsFailure(`the session vault is unavailable: ${err.message}`);
    throw err;
  } finally {
    await vault?.close();
    await state?.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------

type Flag = { kind: 'value'; name: string } | { kind: 'switch'; name: string };

/** `--name value`, `--name=value` and `--switch`; each at most once; nothing else. */
function parseOptions(command: string, args: string[], known: readonly Flag[]): Map<string, string | true> {
  const values = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const eq = arg.indexOf('=');
    const name = eq > 0 && arg.startsWith('--') ? arg.slice(0, eq) : arg;
    const flag = known.find((f) => `--${f.name}` === name);
    if (!flag) throw new SessionsUsageError(/^--?[a-z][a-z-]{0,30}$/.test(name) ? `${command}: unknown option ${name}` : `${command}: unexpected argument`);
    if (values.has(flag.name)) throw new SessionsUsageError(`${command}: --${flag.name} given twice`);
    if (flag.kind === 'switch') {
      if (eq > 0 && name !== arg) throw new SessionsUsageError(`${command}: --${flag.name} takes no value`);
      values.set(flag.name, true);
      continue;
    }
    const value = name === arg ? args[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '') throw new SessionsUsageError(`${command}: --${flag.name} needs a value`);
    values.set(flag.name, value);
  }
  return values;
}

function filterOf(command: string, values: Map<string, string | true>): ListOptions['filter'] {
  const text = (name: string) => {
    const value = values.get(name);
    return typeof value === 'string' ? value : undefined;
  };
  const handle = text('handle');
  if (handle !== undefined && !HANDLE.test(handle)) throw new SessionsUsageError(`${command}: --handle must be a session handle (64 lowercase hex digits, as list shows)`);
  const filter = { subject: text('subject'), appId: text('app'), handle };
  return Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined));
}

function parseList(args: string[]): ListOptions {
  const values = parseOptions('sessions list', args, [
    { kind: 'value', name: 'subject' }, { kind: 'value', name: 'app' }, { kind: 'value', name: 'handle' },
    { kind: 'value', name: 'limit' }, { kind: 'switch', name: 'json' },
  ]);
  const filter = filterOf('sessions list', values);
  if (Object.keys(filter).length === 0) throw new SessionsUsageError('sessions list needs at least one of --subject, --app, --handle');
  const limitText = values.get('limit');
  const limit = typeof limitText === 'string' ? Number(limitText) : LIST_LIMIT.default;
  if (!Number.isInteger(limit) || limit < 1 || limit > LIST_LIMIT.max || (typeof limitText === 'string' && !/^\d+$/.test(limitText))) {
    throw new SessionsUsageError(`sessions list: --limit must be an integer from 1 to ${LIST_LIMIT.max}`);
  }
  return { filter, limit, json: values.has('json') };
}

function parseRevoke(args: string[]): RevokeOptions {
  const values = parseOptions('sessions revoke', args, [
    { kind: 'value', name: 'subject' }, { kind: 'value', name: 'app' }, { kind: 'value', name: 'handle' }, { kind: 'switch', name: 'no-upstream' },
  ]);
  const filter = filterOf('sessions revoke', values);
  if (filter.handle !== undefined && (filter.subject !== undefined || filter.appId !== undefined)) {
    throw new SessionsUsageError('sessions revoke: --handle names one session: give it alone, or --subject [--app] instead');
  }
  if (filter.handle === undefined && filter.subject === undefined) {
    throw new SessionsUsageError('sessions revoke needs --handle <handle> or --subject <sub> [--app <id>]');
  }
  return { filter, upstream: !values.has('no-upstream') };
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

/** Seconds-precision UTC ISO 8601, or undefined. */
function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A field of a line: `-` when absent, JSON-quoted when it holds whitespace, quotes or control characters (subjects come from providers). */
function cell(value: string | undefined): string {
  if (value === undefined || value === '') return '-';
  if (!/[\s"\\\u0000-\u001f\u007f-\u009f]/.test(value)) return value;
  return JSON.stringify(value).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

