/**
 * The issue's key test, with real processes: two `npm start` brokers (BROKER_CACHE=firestore)
 * on one Firestore emulator with one policy are two instances of one deployment. A principal
 * gets a token from both (cached in both memories and in Firestore); `admin deny add
 * --subject …` (the CLI, as a child process with the broker's environment) then makes both
 * refuse it with 403 access_denied (reason denied_by_operator in their audit entries) within
 * 10 s — measured and reported — while another principal is still served; the CLI purged its
 * token from the shared cache. After `deny remove` both serve it again with a newly minted
 * token (nothing purged comes back), and an entry added `--for 3s` ends on its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEV_CACHE_KEY, DEV_SOURCE_TOKEN } from '../../dev/dev-stack';
import { runAdmin } from '../helpers/admin-cli';
import { FirestoreClients } from '../helpers/firestore';
import type { Timestamp } from '@google-cloud/firestore';
import { freePort } from '../helpers/net';

const root = join(__dirname, '..', '..');
/** The issue's bound on propagation to every instance. */
const PROPAGATION_BOUND_MS = 10_000;
const children: ChildProcess[] = [];
const firestore = new FirestoreClients();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'token-broker-deny-'));
});
afterAll(async () => {
  await Promise.all(children.splice(0).map(stop));
  await firestore.terminateAll();
  await rm(dir, { recursive: true, force: true });
});

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

interface Instance {
  /** The audit entries it has written to stdout so far. */
  audit(): Array<Record<string, unknown>>;
}

/** `npm start` (dev/start.ts) with `env`, its audit entries (stdout) captured; resolves once it is ready. */
async function npmStart(env: NodeJS.ProcessEnv): Promise<Instance> {
  const child = spawn(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(root, 'dev', 'start.ts')], {
    cwd: root,
    env: { ...process.env, BROKER_LOG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('Ctrl-C stops it.')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`npm start exited with ${code}: ${stderr}`)));
  });
  return {
    audit: () => stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

async function post(url: string, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const exchange = (subjectToken: string) => ({
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
  subject_token: subjectToken,
});

/** Polls every 50 ms until `check` holds; the time it took. */
async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return Date.now() - started;
}

/** The CLI's audit entries (stderr), without the logging library's own diagnostic entry. */
const auditOf = (stderr: string) => stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.event !== undefined);

it('deny add through the CLI stops a cached principal on two instances within 10 s; remove and expiry serve it again', async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  const issuer = `http://127.0.0.1:${portA + 1}`;
  const project = `deny-${randomUUID().slice(0, 8)}`;
  const file = join(dir, 'policy.yaml');
  await writeFile(file, `
version: 1
issuers:
  - issuer: "${issuer}"
    audiences: ["http://127.0.0.1:${portA}"]
rules:
  - id: shared
    issuer: "${issuer}"
    condition: claims.sub in ['incident', 'bystander']
    grant: { service_account: gemini-caller@token-broker-dev.iam.gserviceaccount.com, scopes: [https://www.googleapis.com/auth/cloud-platform] }
`);
  const common = { BROKER_CACHE: 'firestore', BROKER_POLICY_FILE: file, BROKER_FIRESTORE_PROJECT: project, BROKER_ISSUER_URL: `http://127.0.0.1:${portA}` };
  const [a, b] = await Promise.all([npmStart({ ...common, PORT: String(portA) }), npmStart({ ...common, PORT: String(portB) })]);
  const urls = [`http://127.0.0.1:${portA}/token`, `http://127.0.0.1:${portB}/token`];
  const subjectToken = async (sub: string) => (await fetch(`${issuer}/token?sub=${sub}`)).text();
  const [incident, bystander] = [await subjectToken('incident'), await subjectToken('bystander')];
  const both = (token: string) => Promise.all(urls.map((url) => post(url, exchange(token))));

  // Both instances warm (Firestore connection, the issuer's keys), then the principal is served
  // and cached by both: one token, in both memories and in Firestore.
  for (const url of urls) expect((await post(url, exchange(bystander))).status).toBe(200);
  const before = [await post(urls[0] ?? '', exchange(incident)), await post(urls[1] ?? '', exchange(incident))];
  expect(before.map((r) => r.status)).toEqual([200, 200]);
  expect(before[0]?.body.access_token).toBe(before[1]?.body.access_token);
  const again = await both(incident);
  expect(again.map((r) => r.body.access_token)).toEqual(before.map((r) => r.body.access_token));

  // The operator, with the broker's environment.
  const env = {
    PATH: process.env.PATH, METADATA_SERVER_DETECTION: 'none', FIRESTORE_EMULATOR_HOST: process.env.FIRESTORE_EMULATOR_HOST,
    BROKER_MODE: 'development', BROKER_POLICY_FILE: file, BROKER_CACHE: 'firestore', BROKER_CACHE_LOCAL_KEY: DEV_CACHE_KEY,
    BROKER_FIRESTORE_PROJECT: project, BROKER_DEV_SOURCE_TOKEN: DEV_SOURCE_TOKEN, USER: 'oncall',
  };
  const refusedByBoth = async () => (await both(incident)).every((r) => r.status === 403 && r.body.error === 'access_denied');
  // Both instances are polled from the moment the CLI starts; the propagation time runs from
  // the entry's createdAt (stamped by the CLI just before its write) to both refusing.
  const cliStarted = Date.now();
  const refused = until(refusedByBoth, 30_000, 'both instances refuse').then(() => Date.now());
  const added = await runAdmin(['deny', 'add', '--subject', issuer, 'incident', '--reason', 'incident 2026-12-06: leaked CI token'], '', env);
  const cliExited = Date.now();
  expect({ code: added.code, stderr: added.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  expect(added.stdout).toMatch(/^added [0-9a-f]{32} subject /);
  expect(added.stdout).toContain('cache: 1 cached token purged from the shared cache');
  const id = /^added ([0-9a-f]{32})/.exec(added.stdout)?.[1] ?? '';
  const bothRefused = await refused;
  const createdAtMs = ((await firestore.open(project).collection('token-broker-deny').doc(id).get()).get('createdAt') as Timestamp).toMillis();
  const propagationMs = bothRefused - createdAtMs;
  process.stdout.write(
    `deny propagation to both instances: ${propagationMs} ms from the entry's createdAt to both refusing `
    + `(CLI run ${cliExited - cliStarted} ms, of which ${createdAtMs - cliStarted} ms before the write)\n`,
  );
  // With margin under the issue's 10 s: the listener delivers in well under a second.
  expect(propagationMs).toBeLessThan(PROPAGATION_BOUND_MS / 2);
  const bystanders = await both(bystander);
  expect(bystanders.map((r) => r.status)).toEqual([200, 200]);

  // The audit trail: the operator's action (CLI stderr), each instance's refusals and purge.
  expect(auditOf(added.stderr)).toEqual([expect.objectContaining({
    event: 'operator_action', action: 'deny_added', id, kind: 'subject', issuer, subject: 'incident',
    reason: 'incident 2026-12-06: leaked CI token', createdBy: 'oncall', replaced: false, cachePurged: 1, severity: 'NOTICE',
  })]);
  for (const instance of [a, b]) {
    const entries = instance.audit();
    expect(entries).toContainEqual(expect.objectContaining({
      event: 'token_exchange', outcome: 'denied',
      error: expect.objectContaining({ code: 'access_denied', reason: 'denied_by_operator', detail: `deny ${id}: incident 2026-12-06: leaked CI token` }),
    }));
    expect(entries).toContainEqual(expect.objectContaining({ event: 'deny_list_changed', added: [id], removed: [] }));
    expect(entries).toContainEqual(expect.objectContaining({ event: 'deny_cache_purged', denyId: id, kind: 'subject', memoryEntries: 1 }));
  }

  const listed = await runAdmin(['deny', 'list', '--json'], '', env);
  expect(listed.code).toBe(0);
  expect(JSON.parse(listed.stdout)).toEqual({ entries: [expect.objectContaining({ id, kind: 'subject', issuer, subject: 'incident', live: true, createdBy: 'oncall' })], malformed: [] });

  // Removed: served again, by both, with a newly minted token (the purged one is gone for good).
  const removed = await runAdmin(['deny', 'remove', id], '', env);
  expect(removed.code).toBe(0);
  expect(auditOf(removed.stderr)).toEqual([expect.objectContaining({ event: 'operator_action', action: 'deny_removed', id, kind: 'subject', subject: 'incident' })]);
  const servedMs = await until(async () => (await both(incident)).every((r) => r.status === 200), PROPAGATION_BOUND_MS, 'both instances serve again');
  process.stdout.write(`deny removal reached both instances in ${servedMs} ms\n`);
  const after = await both(incident);
  expect(after[0]?.body.access_token).toBe(after[1]?.body.access_token);
  expect(after[0]?.body.access_token).not.toBe(before[0]?.body.access_token);

  // An entry with an expiry ends on its own.
  const timed = await runAdmin(['deny', 'add', '--subject', issuer, 'incident', '--reason', 'cool-down', '--for', '4s'], '', env);
  expect(timed.code).toBe(0);
  await until(refusedByBoth, PROPAGATION_BOUND_MS, 'both instances refuse (timed entry)');
  await until(async () => (await both(incident)).every((r) => r.status === 200), 10_000, 'the timed entry expires');
}, 120_000);

it('refuses to run without Firestore (the command lines it refuses: deny-cli.test.ts)', async () => {
  const memory = await runAdmin(['deny', 'list'], '', { PATH: process.env.PATH, BROKER_MODE: 'development', BROKER_CACHE: 'memory', BROKER_POLICY_FILE: join(root, 'dev', 'dev-policy.template.yaml') });
  expect(memory.code).toBe(1);
  expect(memory.stderr).toContain('the deny-list reaches every instance only through Firestore');
  const usage = await runAdmin(['deny', 'add', '--client', 'x'], '', { PATH: process.env.PATH });
  expect(usage.code).toBe(2);
  expect(usage.stderr).toContain('deny add needs --reason TEXT');
}, 30_000);
