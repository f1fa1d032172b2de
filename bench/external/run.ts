/**
 * The external-load suites of `npm run bench` (issue 18), following shared/BENCHMARKING.md:
 * the load generator (`wrk`, Debian's package) is a process of its own pinned to core 0
 * (`taskset -c 0`), every server is a process of its own pinned to core 1 (`taskset -c 1`,
 * bench/external/server.ts), and each figure is a ratio against a baseline measured in the
 * same run, in alternating rounds (A B A B A B after a warm-up round of each), with every
 * round's ratio, the median, p50/p99 of both and the non-2xx count (wrk's `errors.status`,
 * answers ≥ 400; a cache-hit round with any fails the run). Every round also reads each server
 * process's CPU time (utime + stime of /proc/<pid>/stat, all its threads, in clock ticks of
 * `getconf CLK_TCK`) before and after wrk, and prints µs of server CPU per request for A and B
 * and their ratio: unlike throughput, it hardly depends on what else the shared machine runs.
 *
 *   external  cache-hit exchange of one subject token (development composition, memory cache)
 *             against a trivial Functions Framework handler (same stack, same POST body, JSON
 *             answer of the same size)
 *   cache     cache hit against minting per request, 100 ms emulated upstream latency, at a
 *             concurrency where the upstream wait, not the generator, bounds the minting path
 *   scale     (a) 1,000 rules / 100 issuers vs 1 rule; (b) 100 vs 1 key in the JWKS;
 *             (c) 100,000 vs 10 distinct subjects (Firestore cache on the emulator, L1 bounded);
 *             (d) 4 vs 1 broker processes on one Firestore emulator: mints per key and
 *             Firestore round trips, counted by a TCP proxy that parses HTTP/2 frames
 *   cold      entry module loaded vs the framework plus its server; process start to the first
 *             audited answer vs the same for the trivial handler: fresh processes, alternating,
 *             medians of wall, CPU seconds (user + sys) and peak RSS from /usr/bin/time -v
 *   profile   `node --cpu-prof` on the trivial handler's process and on the broker's under the same
 *             external cache-hit load, samples of the measured window only: requests served, µs of
 *             profiled main-thread CPU per request, top frames by self time (µs per request); for
 *             the broker also the project's own frames by inclusive time and an inclusive summary
 *             by package (node_modules/<pkg>, node: modules, project directories)
 * The Google emulator the brokers mint at (and the OIDC issuers of the scale policies) run in
 * this process, which is otherwise idle while wrk runs. Every server binds 127.0.0.1.
 *
 * Round lengths: BENCH_ROUND_SECONDS (default BENCH_SECONDS when that is set, else 8),
 * BENCH_WARM_SECONDS (default 3, or BENCH_SECONDS when that is set and smaller), BENCH_ROUNDS (3,
 * at least 3). Every figure is also recorded (bench/figures.ts) for `npm run bench -- --json FILE`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomInt, randomUUID, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEV_SERVICE_ACCOUNTS, DEV_SOURCE_TOKEN } from '../../dev/dev-stack';
import { findEmulatorJar, startFirestoreEmulator, type FirestoreEmulator } from '../../dev/firestore-emulator';
import { startGoogleEmulator, type GoogleEmulator } from '../../dev/google-emulator';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_JWT } from '../../shared/oauth-uris';
import { median, record, type FigureName } from '../figures';
import { projectKeys, summarise, top, type CpuProfile, type ProfileSummary } from '../profile-analysis';
import type { ServerMessage, ServerRequest, ServerStats } from './server';

const ROOT = join(__dirname, '..', '..');
/** BENCH_SECONDS, when set, bounds the external rounds as it bounds the micro loops. */
const BENCH_SECONDS = process.env.BENCH_SECONDS ? Number(process.env.BENCH_SECONDS) : undefined;
const WARM_SECONDS = Number(process.env.BENCH_WARM_SECONDS ?? Math.min(3, BENCH_SECONDS ?? 3));
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? BENCH_SECONDS ?? 8);
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const CACHE_CONNECTIONS = Number(process.env.BENCH_CACHE_CONNECTIONS ?? 128);
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 7);
const WORK = mkdtempSync(join(tmpdir(), 'broker-bench-'));
const GENERATOR_CPU = process.env.BENCH_GENERATOR_CPU ?? '0';
const SERVER_CPU = process.env.BENCH_SERVER_CPU ?? '1';

/** Lines of the report; run.ts prints them as they come. */
const out = (line = '') => console.log(line);
const n0 = (x: number) => Math.round(x).toLocaleString('en-US');
const ms = (us: number) => (us / 1000).toFixed(2);
let failures: string[] = [];

const loadavg = () => out(`\n(load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}: the machine is shared)`);

// ─── Servers in processes of their own ──────────────────────────────────────

interface Served {
  url: string;
  tokenUrl: string;
  issuer?: string;
  child: ChildProcess;
  /** The node process serving (taskset execs node, so this is child.pid once verified), if verified. */
  pid?: number;
  sign(claims: Record<string, unknown>): Promise<string>;
  stats(): Promise<ServerStats>;
  stop(): Promise<void>;
}

async function startServer(kind: 'broker' | 'trivial' | 'shipped', options: { env?: Record<string, string>; policyFile?: string; trivialBytes?: number; processEnv?: Record<string, string>; nodeArgs?: string[] } = {}): Promise<Served> {
  const child = spawn('taskset', ['-c', SERVER_CPU, process.execPath, ...(options.nodeArgs ?? []), '--import', 'tsx', join(__dirname, 'server.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...options.processEnv,
      METADATA_SERVER_DETECTION: 'none',
      BROKER_LOG: 'audit',
      BENCH_SERVER: kind,
      BENCH_ENV: JSON.stringify(options.env ?? {}),
      BENCH_POLICY_FILE: options.policyFile ?? '',
      BENCH_TRIVIAL_BYTES: String(options.trivialBytes ?? 64),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 0;
  const pending = new Map<number, (message: ServerMessage) => void>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<Extract<ServerMessage, { type: 'ready' }>>((resolve, reject) => {
    child.on('message', (message: ServerMessage) => {
      if (message.type === 'ready') resolve(message);
      else if (message.type === 'error') reject(new Error(`${kind} server: ${message.message}`));
      else pending.get(message.id)?.(message), pending.delete(message.id);
    });
    child.once('exit', (code) => reject(new Error(`${kind} server exited (${code}) before it was ready`)));
  });
  const ask = <T extends ServerMessage>(request: Omit<Exclude<ServerRequest, { cmd: 'stop' }>, 'id'>) => new Promise<T>((resolve) => {
    const id = nextId++;
    pending.set(id, resolve as (m: ServerMessage) => void);
    child.send({ ...request, id });
  });
  return {
    ...ready,
    child,
    pid: nodePid(child),
    sign: async (claims) => (await ask<Extract<ServerMessage, { type: 'signed' }>>({ cmd: 'sign', claims } as never)).token,
    stats: async () => (await ask<Extract<ServerMessage, { type: 'stats' }>>({ cmd: 'stats' } as never)).stats,
    stop: async () => {
      if (child.exitCode === null) {
        child.send({ cmd: 'stop' });
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

// ─── Server CPU time ─────────────────────────────────────────────────────────

let clockTicks: number | undefined;
/** Clock ticks per second of /proc/<pid>/stat's times (`getconf CLK_TCK`, normally 100). */
function ticksPerSecond(): number {
  clockTicks ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return clockTicks;
}

/** CPU seconds (utime + stime, every thread of the process) so far, or undefined when unreadable. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, utime field 14, stime field 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

const warnedPids = new Set<string>();
/**
 * The pid to read CPU time from: `taskset -c N node ...` execs node in the same process, so
 * child.pid is the node process once the server has answered `ready`; checked through
 * /proc/<pid>/exe, and undefined (with a note) if it is not node.
 */
function nodePid(child: ChildProcess): number | undefined {
  if (child.pid === undefined) return undefined;
  try {
    const exe = readlinkSync(`/proc/${child.pid}/exe`);
    if (exe === realpathSync(process.execPath)) return child.pid;
    if (!warnedPids.has(exe)) {
      warnedPids.add(exe);
      out(`  (server pid ${child.pid} runs ${exe}, not node: no server CPU figures)`);
    }
  } catch (err) {
    if (!warnedPids.has('error')) {
      warnedPids.add('error');
      out(`  (cannot read /proc/${child.pid}/exe: ${String(err)}; no server CPU figures)`);
    }
  }
  return undefined;
}

// ─── wrk ─────────────────────────────────────────────────────────────────────

const LUA = `
local bodies, n = {}, 0
for line in io.lines(os.getenv("BENCH_BODIES")) do n = n + 1; bodies[n] = line end
local i = tonumber(os.getenv("BENCH_OFFSET") or "0")
local random = os.getenv("BENCH_RANDOM") == "1"
math.randomseed(tonumber(os.getenv("BENCH_SEED") or "1"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
request = function()
  local body
  if random then body = bodies[math.random(n)] else body = bodies[i % n + 1]; i = i + 1 end
  return wrk.format("POST", nil, nil, body)
end
done = function(summary, latency, requests)
  io.write(string.format('BENCH_JSON {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"bytes":%d}\\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), summary.bytes))
end
`;
const LUA_FILE = join(WORK, 'bench.lua');
writeFileSync(LUA_FILE, LUA);

interface WrkResult { requests: number; rps: number; p50: number; p99: number; non2xx: number; socketErrors: number; bytes: number }

/** Writes request bodies, one a line, for wrk's script. */
function bodiesFile(name: string, tokens: string[]): string {
  const file = join(WORK, `${name}.bodies`);
  writeFileSync(file, tokens.map((t) => new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token_type: TOKEN_TYPE_JWT, subject_token: t }).toString()).join('\n') + '\n');
  return file;
}

async function wrk(url: string, bodies: string, seconds: number, connections: number, extraEnv: Record<string, string> = {}): Promise<WrkResult> {
  const child = spawn('taskset', ['-c', GENERATOR_CPU, 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '15s', '-s', LUA_FILE, url], {
    env: { ...process.env, BENCH_BODIES: bodies, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout.on('data', (c: Buffer) => { text += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { text += c.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const line = text.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (code !== 0 || !line) throw new Error(`wrk failed (${code}): ${text}`);
  const r = JSON.parse(line.slice('BENCH_JSON '.length)) as Record<string, number>;
  return {
    requests: r.requests!, rps: r.requests! / (r.duration_us! / 1e6), p50: r.p50_us!, p99: r.p99_us!, non2xx: r.status!,
    socketErrors: r.connect! + r.read! + r.write! + r.timeout!, bytes: r.bytes!,
  };
}

interface Side {
  name: string;
  url: string;
  bodies: string;
  /** The server process, for its CPU time per request. */
  served?: Served;
  env?: () => Record<string, string>;
  after?: (r: WrkResult, warm: boolean) => Promise<string | undefined>;
}
interface AbSummary {
  a: WrkResult[];
  b: WrkResult[];
  ratios: number[];
  median: number;
  notes: { a: string[]; b: string[] };
  /** µs of server CPU per request in each round (NaN when unreadable). */
  cpu: { a: number[]; b: number[] };
}

const fmtRun = (r: WrkResult) => `${n0(r.rps).padStart(7)} req/s  p50 ${ms(r.p50).padStart(7)} ms  p99 ${ms(r.p99).padStart(7)} ms  non-2xx ${r.non2xx}${r.socketErrors ? `  socket errors ${r.socketErrors}` : ''}`;

/**
 * Warm-up round of each, then A B A B A B; ratio = A/B throughput per round. `mustBeClean`
 * names sides whose rounds must have no non-2xx answer.
 */
async function abRounds(title: string, a: Side, b: Side, options: { connections?: number; seconds?: number; mustBeClean?: ('a' | 'b')[] } = {}): Promise<AbSummary> {
  const connections = options.connections ?? CONNECTIONS;
  const seconds = options.seconds ?? ROUND_SECONDS;
  out(`\n### ${title}`);
  out(`wrk -t1 -c${connections}, ${WARM_SECONDS} s warm-up each, then ${ROUNDS} × (A ${seconds} s, B ${seconds} s)`);
  out(`  A = ${a.name}`);
  out(`  B = ${b.name}`);
  if (a.served?.pid !== undefined || b.served?.pid !== undefined) out(`  server CPU: utime + stime from /proc/<pid>/stat of each server's node process (taskset execs node: pid checked via /proc/<pid>/exe), ${ticksPerSecond()} ticks/s, read before and after each wrk round`);
  // The server's CPU time is read just before and just after wrk (before `after`, which may wait).
  const run = async (side: Side) => {
    const before = cpuSeconds(side.served?.pid);
    const result = await wrk(side.url, side.bodies, seconds, connections, side.env?.() ?? {});
    const after = cpuSeconds(side.served?.pid);
    const cpuUs = before !== undefined && after !== undefined && result.requests > 0 ? ((after - before) * 1e6) / result.requests : NaN;
    return { result, cpuUs };
  };
  await a.after?.(await wrk(a.url, a.bodies, WARM_SECONDS, connections, a.env?.() ?? {}), true);
  await b.after?.(await wrk(b.url, b.bodies, WARM_SECONDS, connections, b.env?.() ?? {}), true);
  const summary: AbSummary = { a: [], b: [], ratios: [], median: 0, notes: { a: [], b: [] }, cpu: { a: [], b: [] } };
  const cpuText = (us: number) => (Number.isFinite(us) ? `${n0(us)} µs` : 'n/a');
  for (let round = 1; round <= ROUNDS; round++) {
    const { result: ra, cpuUs: ca } = await run(a);
    const na = await a.after?.(ra, false);
    const { result: rb, cpuUs: cb } = await run(b);
    const nb = await b.after?.(rb, false);
    summary.a.push(ra);
    summary.b.push(rb);
    summary.cpu.a.push(ca);
    summary.cpu.b.push(cb);
    summary.notes.a.push(na ?? '');
    summary.notes.b.push(nb ?? '');
    summary.ratios.push(ra.rps / rb.rps);
    out(`  round ${round}  A ${fmtRun(ra)}${na ? `  ${na}` : ''}`);
    out(`           B ${fmtRun(rb)}${nb ? `  ${nb}` : ''}`);
    out(`           ratio A/B ${(ra.rps / rb.rps).toFixed(3)}  (p50 ${(ra.p50 / rb.p50).toFixed(2)}×, p99 ${(ra.p99 / rb.p99).toFixed(2)}×)`);
    if (a.served || b.served) {
      out(`           server CPU per request: A ${cpuText(ca)}, B ${cpuText(cb)}, A/B ${(ca / cb).toFixed(2)}× (B/A ${(cb / ca).toFixed(3)})`);
    }
    for (const [side, r] of [['a', ra], ['b', rb]] as const) {
      if (options.mustBeClean?.includes(side) && (r.non2xx > 0 || r.socketErrors > 0)) failures.push(`${title}: round ${round} ${side.toUpperCase()} had ${r.non2xx} non-2xx answers and ${r.socketErrors} socket errors`);
    }
  }
  summary.median = median(summary.ratios);
  out(`  median ratio A/B ${summary.median.toFixed(3)}  (rounds: ${summary.ratios.map((x) => x.toFixed(3)).join(', ')})`);
  out(`  medians: A ${n0(median(summary.a.map((r) => r.rps)))} req/s p50 ${ms(median(summary.a.map((r) => r.p50)))} ms p99 ${ms(median(summary.a.map((r) => r.p99)))} ms; ` +
    `B ${n0(median(summary.b.map((r) => r.rps)))} req/s p50 ${ms(median(summary.b.map((r) => r.p50)))} ms p99 ${ms(median(summary.b.map((r) => r.p99)))} ms`);
  out(`  non-2xx: A ${summary.a.reduce((s, r) => s + r.non2xx, 0)}, B ${summary.b.reduce((s, r) => s + r.non2xx, 0)}`);
  if (a.served || b.served) {
    out(`  server CPU per request (utime + stime of the server process, ${ticksPerSecond()} ticks/s), medians: A ${cpuText(median(summary.cpu.a))}, B ${cpuText(median(summary.cpu.b))}; ` +
      `B/A per round ${cpuRatios(summary).map((x) => x.toFixed(3)).join(', ')}, median ${median(cpuRatios(summary)).toFixed(3)}`);
  }
  return summary;
}

/** Per-round baseline/measured server CPU per request (B/A: higher is better, like throughput). */
const cpuRatios = (s: AbSummary) => s.cpu.a.map((a, i) => (s.cpu.b[i] ?? NaN) / a).filter((x) => Number.isFinite(x));

/**
 * Records the figures of an A/B comparison: throughput (ratio = median of per-round A/B), the
 * latency percentiles (medians; ratio A/B, lower is better) and server CPU per request (ratio =
 * median of per-round B/A, higher is better).
 */
function recordAb(s: AbSummary, names: { throughput?: FigureName; p50?: FigureName; p99?: FigureName; cpu?: FigureName }, note?: string): void {
  const med = (list: WrkResult[], key: 'rps' | 'p50' | 'p99') => median(list.map((r) => r[key]));
  if (names.throughput) record({ name: names.throughput, measured: med(s.a, 'rps'), baseline: med(s.b, 'rps'), ratio: s.median, rounds: s.ratios, note });
  for (const key of ['p50', 'p99'] as const) {
    const name = names[key];
    if (name) record({ name, measured: med(s.a, key) / 1000, baseline: med(s.b, key) / 1000, rounds: s.a.map((r, i) => r[key] / s.b[i]![key]), note: `medians over rounds; rounds are per-round A/B${note ? `; ${note}` : ''}` });
  }
  if (names.cpu) {
    const ratios = cpuRatios(s);
    record({
      name: names.cpu, measured: median(s.cpu.a.filter(Number.isFinite)), baseline: median(s.cpu.b.filter(Number.isFinite)),
      ratio: ratios.length ? median(ratios) : null, rounds: ratios,
      note: `µs of server process CPU (utime + stime, all threads) per request; ratio = baseline µs / measured µs (median of rounds), so higher is better like throughput${note ? `; ${note}` : ''}`,
    });
  }
}

// ─── Upstream and issuers in this process ───────────────────────────────────

async function googleEmulator(): Promise<GoogleEmulator & { mints(): number }> {
  const google = await startGoogleEmulator({ serviceAccounts: DEV_SERVICE_ACCOUNTS, callerTokens: [DEV_SOURCE_TOKEN] });
  let mints = 0;
  const drain = () => {
    for (const request of google.requests) if (request.endpoint === 'generateAccessToken') mints++;
    google.requests.length = 0; // its record of every request is not what is measured
  };
  const timer = setInterval(drain, 500);
  timer.unref();
  return Object.assign(google, { mints: () => (drain(), mints) });
}

/**
 * OIDC issuers for the scale policies, served from this process: /i/<name> with discovery and a
 * JWKS of `keys` RSA (or EC) public keys; tokens are signed with the last key of the set.
 */
interface BenchIssuer { issuer: string; sign(claims: Record<string, unknown>): string }
class IssuerHost {
  private server!: Server;
  base = '';
  private readonly jwks = new Map<string, string>();
  async start(): Promise<void> {
    this.server = createHttpServer((req, res) => {
      const match = /^\/i\/([^/]+)(\/\.well-known\/openid-configuration|\/jwks)$/.exec(req.url ?? '');
      const name = match?.[1];
      if (!match || !name || !this.jwks.has(name)) return void res.writeHead(404).end();
      const body = match[2] === '/jwks' ? this.jwks.get(name)! : JSON.stringify({ issuer: `${this.base}/i/${name}`, jwks_uri: `${this.base}/i/${name}/jwks` });
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=600' }).end(body);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  add(name: string, keys: number, alg: 'RS256' | 'ES256' = 'RS256'): BenchIssuer {
    const pairs = Array.from({ length: keys }, () => alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' }));
    const jwks = pairs.map((p, i) => ({ ...p.publicKey.export({ format: 'jwk' }), kid: `${name}-k${i}`, alg, use: 'sig' }));
    this.jwks.set(name, JSON.stringify({ keys: jwks }));
    const kid = `${name}-k${keys - 1}`; // the matching kid is the last of the set
    const privateKey: KeyObject = createPrivateKey(pairs.at(-1)!.privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const issuer = `${this.base}/i/${name}`;
    const b64 = (x: string | Buffer) => Buffer.from(x).toString('base64url');
    const header = b64(JSON.stringify({ alg, kid, typ: 'JWT' }));
    return {
      issuer,
      sign: (claims) => {
        const now = Math.floor(Date.now() / 1000);
        const input = `${header}.${b64(JSON.stringify({ iss: issuer, iat: now, exp: now + 3500, ...claims }))}`;
        const signature = alg === 'RS256'
          ? cryptoSign('sha256', Buffer.from(input), privateKey)
          : cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
        return `${input}.${b64(signature)}`;
      },
    };
  }
  close(): void { this.server.close(); }
}

function policyFile(name: string, issuers: { issuer: string; alg?: string }[], rules: { issuer: string; condition: string; limits?: boolean }[]): string {
  const lines = ['version: 1', 'issuers:'];
  for (const i of issuers) lines.push(`  - issuer: "${i.issuer}"`, '    audiences: ["{{BROKER_URL}}"]', `    algorithms: [${i.alg ?? 'RS256'}]`);
  lines.push('rules:');
  rules.forEach((r, k) => {
    lines.push(`  - id: r${k}`, `    issuer: "${r.issuer}"`, `    condition: "${r.condition}"`, '    grant:',
      `      service_account: ${DEV_SERVICE_ACCOUNTS[0]}`, '      scopes: [https://www.googleapis.com/auth/cloud-platform]', '      max_lifetime_seconds: 900');
    if (r.limits) lines.push('    limits: { requests_per_minute: 1000000, tokens_per_day: 10000000 }');
  });
  const file = join(WORK, `${name}.policy.yaml`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

async function checkOne(served: Served, body: string, label: string): Promise<number> {
  const response = await fetch(served.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${label}: exchange answered ${response.status}: ${text.slice(0, 300)}`);
  return Buffer.byteLength(text);
}
const formOf = (token: string) => new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token_type: TOKEN_TYPE_JWT, subject_token: token }).toString();

// ─── Suites ──────────────────────────────────────────────────────────────────

/** The audience the shipped broker is configured with (BROKER_ISSUER_URL): no request goes there. */
const SHIPPED_ISSUER_URL = 'https://broker.bench.invalid';

/**
 * The broker as it ships (the bundle of `npm run build`, its composition root and nothing else
 * in the process), with a one-rule policy trusting an issuer served from this process and
 * minting at the Google emulator here; `sign` signs a token that rule grants.
 */
async function startShipped(options: { nodeArgs?: string[]; env?: Record<string, string> } = {}): Promise<Served & { close(): Promise<void> }> {
  ensureBuilt();
  const host = new IssuerHost();
  await host.start();
  const google = await googleEmulator();
  const issuer = host.add('shipped', 1);
  const file = policyFile('shipped', [issuer], [{ issuer: issuer.issuer, condition: "claims.sub == 'bench-caller'" }]);
  writeFileSync(file, readFileSync(file, 'utf8').replaceAll('{{BROKER_URL}}', SHIPPED_ISSUER_URL));
  const served = await startServer('shipped', {
    nodeArgs: options.nodeArgs,
    env: {
      // GOOGLE_CLOUD_PROJECT as the deployment sets it: audit lines carry their logName as written.
      GOOGLE_CLOUD_PROJECT: 'token-broker-bench',
      BROKER_MODE: 'development', BROKER_POLICY_FILE: file, BROKER_CACHE: 'memory', BROKER_ISSUER_URL: SHIPPED_ISSUER_URL,
      BROKER_IAM_ENDPOINT: google.url, BROKER_DEV_SOURCE_TOKEN: DEV_SOURCE_TOKEN, ...options.env,
    },
  });
  return {
    ...served,
    sign: async (claims) => issuer.sign({ ...claims, aud: SHIPPED_ISSUER_URL }),
    close: async () => {
      await served.stop();
      await google.close();
      host.close();
    },
  };
}

let built = false;
/** `npm run build` once per run: the shipped suites and the cold suite load its bundle. */
function ensureBuilt(): void {
  if (built) return;
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
  built = true;
}

async function suiteExternal(): Promise<void> {
  loadavg();
  out('\n## External load: cache-hit exchange vs a trivial Functions Framework handler');
  out('A is the broker as it ships (the bundle of npm run build, BROKER_CACHE=memory, a one-rule policy); the development composition (npm start, emulators in the same process) follows as a second figure');
  const broker = await startShipped();
  let trivial: Served | undefined;
  try {
    const token = await broker.sign({ sub: 'bench-caller' });
    const bytes = await checkOne(broker, formOf(token), 'broker');
    trivial = await startServer('trivial', { trivialBytes: bytes });
    const trivialBytes = await checkOne(trivial, formOf(token), 'trivial');
    const bodies = bodiesFile('external', [token]);
    out(`one subject token (${token.length} characters), answer bodies: broker ${bytes} bytes, trivial ${trivialBytes} bytes`);
    const before = await broker.stats();
    const summary = await abRounds('Cache-hit exchange (A, the shipped bundle, memory cache) vs trivial handler (B)',
      { name: 'broker, cache hit of one subject token', url: broker.tokenUrl, bodies, served: broker },
      { name: 'trivial Functions Framework handler, same POST body, same answer size', url: trivial.tokenUrl, bodies, served: trivial },
      { mustBeClean: ['a', 'b'] });
    const after = await broker.stats();
    const outcomes = diff(after.cache, before.cache);
    out(`  broker audit, cache outcomes over the run: ${JSON.stringify(outcomes)}`);
    recordAb(summary, { throughput: 'cache_hit_vs_trivial', p50: 'cache_hit_p50_vs_trivial', p99: 'cache_hit_p99_vs_trivial', cpu: 'cache_hit_cpu_per_request_vs_trivial' },
      `wrk -c${CONNECTIONS}, ${ROUNDS} rounds of ${ROUND_SECONDS} s; broker audit cache outcomes ${JSON.stringify(outcomes)}`);
  } finally {
    await Promise.all([broker.close(), trivial?.stop()]);
  }
  await suiteExternalDevelopment();
}

/** The same against the development composition (`npm start`: emulators and demo issuer in the broker's process). */
async function suiteExternalDevelopment(): Promise<void> {
  const broker = await startServer('broker', { env: { BROKER_CACHE: 'memory' } });
  let trivial: Served | undefined;
  try {
    const token = await broker.sign({ sub: 'demo-workload', aud: broker.url, repository: 'acme/demo' });
    const bytes = await checkOne(broker, formOf(token), 'broker');
    trivial = await startServer('trivial', { trivialBytes: bytes });
    const bodies = bodiesFile('external-dev', [token]);
    const summary = await abRounds('Cache-hit exchange (A, development composition, memory cache) vs trivial handler (B)',
      { name: 'npm start composition, cache hit of one subject token', url: broker.tokenUrl, bodies, served: broker },
      { name: 'trivial Functions Framework handler, same POST body, same answer size', url: trivial.tokenUrl, bodies, served: trivial },
      { mustBeClean: ['a', 'b'] });
    recordAb(summary, { throughput: 'cache_hit_development_vs_trivial', cpu: 'cache_hit_development_cpu_per_request_vs_trivial' },
      `the development composition (emulators in the broker's process); wrk -c${CONNECTIONS}, ${ROUNDS} rounds of ${ROUND_SECONDS} s`);
  } finally {
    await Promise.all([broker.stop(), trivial?.stop()]);
  }
}

function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => v !== 0));
}

async function suiteCache(): Promise<void> {
  loadavg();
  out('\n## Fair cache benchmark: cache hit vs minting per request, upstream +100 ms');
  const google = await googleEmulator();
  google.faults.setLatency(100, 'generateAccessToken');
  const env = { BROKER_IAM_ENDPOINT: google.url };
  const cached = await startServer('broker', { env: { ...env, BROKER_CACHE: 'memory' } });
  const minting = await startServer('broker', { env: { ...env, BROKER_CACHE: 'none' } });
  try {
    const tokenHit = await cached.sign({ sub: 'demo-workload', aud: cached.url, repository: 'acme/demo' });
    const tokenMint = await minting.sign({ sub: 'demo-workload', aud: minting.url, repository: 'acme/demo' });
    await checkOne(cached, formOf(tokenHit), 'cached');
    await checkOne(minting, formOf(tokenMint), 'minting');
    const hitBodies = bodiesFile('cache-hit', [tokenHit]);
    const mintBodies = bodiesFile('cache-mint', [tokenMint]);
    let mintsBefore = google.mints();
    const countMints = async (_r: WrkResult, warm: boolean) => {
      await new Promise((resolve) => setTimeout(resolve, 400)); // requests still in flight when wrk stopped
      const now = google.mints();
      const made = now - mintsBefore;
      mintsBefore = now;
      return warm ? undefined : `mints ${made}`;
    };
    for (const connections of [1, 16, CACHE_CONNECTIONS]) {
      const summary = await abRounds(`Cache hit (A) vs minting every request (B), upstream generateAccessToken +100 ms, concurrency ${connections}`,
        { name: 'broker, memory cache, one subject token (cache hit)', url: cached.tokenUrl, bodies: hitBodies, after: countMints, served: cached },
        { name: 'broker, BROKER_CACHE=none (one upstream mint per request)', url: minting.tokenUrl, bodies: mintBodies, after: countMints, served: minting },
        { connections, mustBeClean: ['a'], seconds: connections === 1 ? Math.min(ROUND_SECONDS, 5) : ROUND_SECONDS });
      const mints = `mints per round (A; B): ${summary.notes.a.join(', ')}; ${summary.notes.b.join(', ')}`;
      if (connections === 1) {
        recordAb(summary, { throughput: 'cache_vs_mint_100ms_c1' }, `concurrency 1; ${mints}`);
        const [hitP50, mintP50] = [median(summary.a.map((r) => r.p50)) / 1000, median(summary.b.map((r) => r.p50)) / 1000];
        record({ name: 'cache_vs_mint_100ms_c1_saved_ms', measured: mintP50 - hitP50, baseline: mintP50, note: `p50 medians at concurrency 1: minting ${mintP50.toFixed(2)} ms, cache hit ${hitP50.toFixed(2)} ms; ratio = share of the minting p50 saved` });
      } else if (connections === 16) {
        recordAb(summary, { throughput: 'cache_vs_mint_100ms', cpu: 'cache_vs_mint_100ms_cpu_per_request' }, `concurrency 16 (16 / 0.1 s = 160 req/s is what the upstream wait allows minting); ${mints}`);
      } else {
        recordAb(summary, { throughput: 'cache_vs_mint_100ms_c128' }, `concurrency ${connections} (BENCH_CACHE_CONNECTIONS); ${mints}`);
      }
    }
    out(`  (the latency saved per request is B's p50 minus A's p50 at concurrency 1; at 16, 16 / 0.1 s = 160 req/s is what the upstream wait allows the minting path; at ${CACHE_CONNECTIONS} the broker's CPU bounds both and the latencies include queueing)`);
  } finally {
    await Promise.all([cached.stop(), minting.stop()]);
    await google.close();
  }
}

async function suiteScale(firestoreHost: string | undefined): Promise<void> {
  loadavg();
  out('\n## Scale curves (each a ratio in one run)');
  const host = new IssuerHost();
  await host.start();
  const google = await googleEmulator();
  const iam = { BROKER_IAM_ENDPOINT: google.url };
  try {
    const parts = (process.env.BENCH_SCALE_PARTS ?? 'a,b,c,d').split(',');
    // (a) policy size
    if (parts.includes('a')) {
      const target = host.add('p0', 1);
      const others = Array.from({ length: 99 }, (_, k) => host.add(`p${k + 1}`, 1));
      const small = policyFile('rules-1', [target], [{ issuer: target.issuer, condition: "claims.sub == 'scale-caller'" }]);
      const rules: { issuer: string; condition: string }[] = [];
      for (const issuer of [target, ...others]) for (let r = 0; r < 10; r++) rules.push({ issuer: issuer.issuer, condition: `claims.sub == 'other-${rules.length}'` });
      rules[rules.length - 1] = { issuer: target.issuer, condition: "claims.sub == 'scale-caller'" };
      rules.push(rules.splice(rules.findIndex((r) => r.issuer === target.issuer && r.condition.includes('scale-caller')), 1)[0]!);
      // the matching rule is last, and the 9 other rules of its issuer come before it
      const large = policyFile('rules-1000', [target, ...others], rules);
      await comparePolicies('(a) policy size: 1,000 rules over 100 issuers, the matching rule last (A) vs 1 rule (B); cache hit', iam,
        { name: '1,000 rules, 100 issuers', label: 'rules-1000', policy: large, issuer: target },
        { name: '1 rule, 1 issuer', label: 'rules-1', policy: small, issuer: target },
        { throughput: 'rules_1000_vs_1', p99: 'rules_1000_p99_vs_1', cpu: 'rules_1000_cpu_per_request_vs_1' });
    }
    // (b) JWKS size
    if (parts.includes('b')) {
      const k1 = host.add('jwks1', 1);
      const k100 = host.add('jwks100', 100);
      const p1 = policyFile('jwks-1', [k1], [{ issuer: k1.issuer, condition: "claims.sub == 'scale-caller'" }]);
      const p100 = policyFile('jwks-100', [k100], [{ issuer: k100.issuer, condition: "claims.sub == 'scale-caller'" }]);
      await comparePolicies('(b) JWKS size: 100 keys, the matching kid last (A) vs 1 key (B); cache hit', iam,
        { name: 'issuer JWKS with 100 RSA keys', label: 'jwks-100', policy: p100, issuer: k100 },
        { name: 'issuer JWKS with 1 RSA key', label: 'jwks-1', policy: p1, issuer: k1 },
        { throughput: 'jwks_100_vs_1', p99: 'jwks_100_p99_vs_1', cpu: 'jwks_100_cpu_per_request_vs_1' });
    }
    // (c) distinct callers
    if (!parts.includes('c')) { /* not asked for */ } else if (firestoreHost) await scaleCallers(host, google, firestoreHost);
    else out('\n(c) skipped: no Firestore emulator');
    // (d) instances
    if (!parts.includes('d')) { /* not asked for */ } else if (firestoreHost) await scaleInstances(host, google, firestoreHost);
    else out('\n(d) skipped: no Firestore emulator');
  } finally {
    host.close();
    await google.close();
  }
}

/**
 * One scale curve: two brokers (memory cache), each with its policy, under the same cache-hit
 * load of one token for `scale-caller` signed by its issuer; A against B in alternating rounds.
 */
async function comparePolicies(
  title: string, iam: Record<string, string>,
  a: { name: string; label: string; policy: string; issuer: BenchIssuer },
  b: { name: string; label: string; policy: string; issuer: BenchIssuer },
  names: { throughput: FigureName; p99: FigureName; cpu: FigureName },
): Promise<void> {
  const [servedA, servedB] = [await startServer('broker', { policyFile: a.policy, env: { ...iam, BROKER_CACHE: 'memory' } }), await startServer('broker', { policyFile: b.policy, env: { ...iam, BROKER_CACHE: 'memory' } })];
  try {
    const bodiesA = bodiesFile(a.label, [a.issuer.sign({ sub: 'scale-caller', aud: servedA.url })]);
    const bodiesB = bodiesFile(b.label, [b.issuer.sign({ sub: 'scale-caller', aud: servedB.url })]);
    await checkOne(servedA, readFileSync(bodiesA, 'utf8').trim(), a.label);
    await checkOne(servedB, readFileSync(bodiesB, 'utf8').trim(), b.label);
    const summary = await abRounds(title,
      { name: a.name, url: servedA.tokenUrl, bodies: bodiesA, served: servedA },
      { name: b.name, url: servedB.tokenUrl, bodies: bodiesB, served: servedB }, { mustBeClean: ['a', 'b'] });
    recordAb(summary, names);
  } finally {
    await Promise.all([servedA.stop(), servedB.stop()]);
  }
}

async function scaleCallers(host: IssuerHost, google: GoogleEmulator & { mints(): number }, firestoreHost: string): Promise<void> {
  const subjects = Number(process.env.BENCH_DISTINCT_SUBJECTS ?? 100_000);
  const issuer = host.add('callers', 1, 'ES256');
  const policy = policyFile('callers', [{ issuer: issuer.issuer, alg: 'ES256' }], [{ issuer: issuer.issuer, condition: "claims.sub.startsWith('caller-')" }]);
  const env = (project: string) => ({ BROKER_IAM_ENDPOINT: google.url, BROKER_CACHE: 'firestore', BROKER_FIRESTORE_PROJECT: project });
  const processEnv = { FIRESTORE_EMULATOR_HOST: firestoreHost };
  const [few, many] = [
    await startServer('broker', { policyFile: policy, env: env(`bench-few-${randomUUID().slice(0, 8)}`), processEnv }),
    await startServer('broker', { policyFile: policy, env: env(`bench-many-${randomUUID().slice(0, 8)}`), processEnv }),
  ];
  try {
    const started = performance.now();
    const fewBodies = bodiesFile('callers-10', Array.from({ length: 10 }, (_, k) => issuer.sign({ sub: `caller-${k}`, aud: few.url })));
    // The sequence of subjects is drawn uniformly from the population in advance (crypto.randomInt) and
    // replayed in order, continuing across rounds, so only the drawn subjects need a token.
    const draws = Number(process.env.BENCH_DISTINCT_DRAWS ?? 30_000);
    const signed = new Map<number, string>();
    const manyTokens: string[] = [];
    for (let k = 0; k < draws; k++) {
      const subject = randomInt(subjects);
      if (!signed.has(subject)) signed.set(subject, issuer.sign({ sub: `caller-${subject}`, aud: many.url }));
      manyTokens.push(signed.get(subject)!);
    }
    const manyBodies = bodiesFile('callers-many', manyTokens);
    out(`\n(drew ${n0(draws)} requests from ${n0(subjects)} subjects: ${n0(signed.size)} distinct, signed as ES256 tokens in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
    let offset = 0;
    await checkOne(few, readFileSync(fewBodies, 'utf8').split('\n')[0]!, 'callers-10');
    await checkOne(many, manyTokens.length ? formOf(manyTokens[0]!) : '', 'callers-many');
    const tallies = new Map<Served, ServerStats>([[few, await few.stats()], [many, await many.stats()]]);
    let mintsBefore = google.mints();
    const hitTally = new Map<Served, { hits: number; total: number }>([[few, { hits: 0, total: 0 }], [many, { hits: 0, total: 0 }]]);
    const note = (served: Served) => async (_r: WrkResult, warm: boolean) => {
      const stats = await served.stats();
      const d = diff(stats.cache, tallies.get(served)!.cache);
      tallies.set(served, stats);
      const mints = google.mints() - mintsBefore;
      mintsBefore = google.mints();
      if (warm) return undefined;
      const total = Object.values(d).reduce((s, v) => s + v, 0);
      const hits = (d.hit ?? 0) + (d['hit-shared'] ?? 0);
      hitTally.get(served)!.hits += hits;
      hitTally.get(served)!.total += total;
      return `hit rate ${((hits / Math.max(1, total)) * 100).toFixed(1)}% (L1 ${d.hit ?? 0}, L2 ${d['hit-shared'] ?? 0}, miss ${d.miss ?? 0}${d.waited ? `, waited ${d.waited}` : ''}${d.degraded ? `, degraded ${d.degraded}` : ''}), mints ${mints}, RSS ${n0(stats.rss / 1048576)} MiB`;
    };
    const summary = await abRounds(`(c) distinct callers: ${n0(subjects)} subjects, each request a uniform draw (A) vs 10 subjects (B); BROKER_CACHE=firestore (L1 + L2 on the emulator)`,
      { name: `${n0(subjects)} distinct subjects, each request a uniformly drawn one`, url: many.tokenUrl, bodies: manyBodies, served: many, env: () => ({ BENCH_OFFSET: String(offset) }), after: async (r, warm) => { offset += r.requests; if (offset >= draws) failures.push('(c) the drawn sequence wrapped: raise BENCH_DISTINCT_DRAWS'); return note(many)(r, warm); } },
      { name: '10 distinct subjects, round robin', url: few.tokenUrl, bodies: fewBodies, after: note(few), served: few },
      { mustBeClean: ['b'] });
    const population = `${n0(subjects)} subjects (BENCH_DISTINCT_SUBJECTS${subjects === 100_000 ? '' : '; NOT the 100,000 of the name'}), ${n0(draws)} draws, ${n0(signed.size)} distinct`;
    recordAb(summary, { throughput: 'distinct_callers_100000_vs_10', p99: 'distinct_callers_100000_p99_vs_10', cpu: 'distinct_callers_100000_cpu_per_request_vs_10' }, population);
    const rate = (served: Served) => { const t = hitTally.get(served)!; return t.total ? (t.hits / t.total) * 100 : NaN; };
    record({ name: 'distinct_callers_100000_hit_rate', measured: rate(many), baseline: rate(few), note: `cache hits (L1 + L2) / token_exchange audit entries over the measured rounds; ${population}` });
  } finally {
    await Promise.all([few.stop(), many.stop()]);
  }
}

/**
 * A TCP proxy in front of the Firestore emulator that counts gRPC calls: the client side of each
 * connection is HTTP/2 (prior knowledge), and every call opens a stream with one HEADERS frame.
 */
async function countingProxy(target: string): Promise<{ host: string; calls(): number; close(): void }> {
  const [targetHost, targetPort] = [target.split(':')[0]!, Number(target.split(':')[1])];
  let calls = 0;
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    const upstream = connect(targetPort, targetHost);
    sockets.add(client).add(upstream);
    let buffer = Buffer.alloc(0);
    let prefaceSeen = false;
    client.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!prefaceSeen) {
        if (buffer.length < 24) return;
        prefaceSeen = true;
        buffer = buffer.subarray(24);
      }
      while (buffer.length >= 9) {
        const length = buffer.readUIntBE(0, 3);
        if (buffer.length < 9 + length) break;
        if (buffer[3] === 0x1) calls++; // HEADERS: a new call
        buffer = buffer.subarray(9 + length);
      }
    });
    client.pipe(upstream).pipe(client);
    const end = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls: () => calls,
    close: () => { for (const s of sockets) s.destroy(); server.close(); },
  };
}

async function scaleInstances(host: IssuerHost, google: GoogleEmulator & { mints(): number }, firestoreHost: string): Promise<void> {
  out('\n### (d) instances: 4 vs 1 broker processes on one Firestore emulator (BROKER_CACHE=firestore, a rule with limits)');
  out('Counts, not throughput: the requests come from this process (fetch), spread round robin over the instances; Firestore calls are counted by a TCP proxy in front of the emulator that counts HTTP/2 HEADERS frames from the clients (one per gRPC call: cache L2 reads and writes, limiter reservations, issued-token records).');
  const issuer = host.add('instances', 1);
  const policy = policyFile('instances', [issuer], [{ issuer: issuer.issuer, condition: "claims.sub.startsWith('inst-')", limits: true }]);
  const proxy = await countingProxy(firestoreHost);
  const results: string[] = [];
  const counts = new Map<number, { burstMints: number; burstCalls: number; steadyPer1000: number }>();
  try {
    for (const count of [1, 4]) {
      const project = `bench-inst${count}-${randomUUID().slice(0, 8)}`;
      const servers: Served[] = [];
      for (let k = 0; k < count; k++) {
        // One deployment: every instance has the same issuer URL, hence the same policy (and
        // policy version, part of the cache key) and accepts the same tokens.
        servers.push(await startServer('broker', { policyFile: policy, env: { BROKER_IAM_ENDPOINT: google.url, BROKER_CACHE: 'firestore', BROKER_FIRESTORE_PROJECT: project, BROKER_ISSUER_URL: SHIPPED_ISSUER_URL }, processEnv: { FIRESTORE_EMULATOR_HOST: proxy.host } }));
      }
      try {
        const tokensFor = (sub: string) => servers.map(() => issuer.sign({ sub, aud: SHIPPED_ISSUER_URL }));
        for (const [k, s] of servers.entries()) await checkOne(s, formOf(tokensFor(`inst-warm-${k}`)[k]!), 'instances warm-up');
        const post = (k: number, tokens: string[]) => fetch(servers[k % count]!.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: formOf(tokens[k % count]!) }).then(async (r) => (await r.arrayBuffer(), r.status));
        // Burst: 200 concurrent requests for one new key, upstream +100 ms.
        google.faults.setLatency(100, 'generateAccessToken');
        const burstTokens = tokensFor(`inst-burst-${count}`);
        let [m0, c0] = [google.mints(), proxy.calls()];
        const cacheBefore = await Promise.all(servers.map((s) => s.stats()));
        const burst = await Promise.all(Array.from({ length: 200 }, (_, i) => post(i, burstTokens)));
        const burstMints = google.mints() - m0;
        const burstCalls = proxy.calls() - c0;
        // How each instance got the token: minted (miss), from another's mint through the lease
        // (waited), from the shared store (hit-shared), or by minting past an unavailable store (degraded).
        const cacheAfter = await Promise.all(servers.map((s) => s.stats()));
        const outcomes = cacheAfter.map((after, k) => diff(after.cache, cacheBefore[k]!.cache));
        const burstOutcomes = outcomes.reduce<Record<string, number>>((sum, o) => { for (const [key, n] of Object.entries(o)) sum[key] = (sum[key] ?? 0) + n; return sum; }, {});
        google.faults.setLatency(0, 'generateAccessToken');
        // Steady: 2,000 requests for one known key, 20 in flight.
        const steadyTokens = tokensFor(`inst-steady-${count}`);
        await Promise.all(servers.map((_, k) => post(k, steadyTokens)));
        [m0, c0] = [google.mints(), proxy.calls()];
        const statuses: number[] = [];
        let next = 0;
        await Promise.all(Array.from({ length: 20 }, async () => {
          while (next < 2000) { const i = next++; statuses.push(await post(i, steadyTokens)); }
        }));
        const steadyMints = google.mints() - m0;
        const steadyCalls = proxy.calls() - c0;
        const count2 = (list: number[]) => Object.entries(list.reduce<Record<number, number>>((m, s) => ((m[s] = (m[s] ?? 0) + 1), m), {})).map(([s, n]) => `${n}×${s}`).join(', ');
        const line = `  ${count} instance${count > 1 ? 's' : ' '}: burst of 200 for a new key → ${burstMints} upstream mint(s), ${burstCalls} Firestore calls (${count2(burst)}; cache outcomes ${JSON.stringify(burstOutcomes)}); ` +
          `2,000 requests for a known key → ${steadyMints} mints, ${steadyCalls} Firestore calls = ${(steadyCalls / 2).toFixed(0)} per 1,000 requests (${count2(statuses)})`;
        out(line);
        results.push(line);
        counts.set(count, { burstMints, burstCalls, steadyPer1000: steadyCalls / 2 });
        if (burst.some((s) => s !== 200) || statuses.some((s) => s !== 200)) failures.push(`(d) ${count} instances: non-200 answers`);
      } finally {
        await Promise.all(servers.map((s) => s.stop()));
      }
    }
  } finally {
    proxy.close();
  }
  const [one, four] = [counts.get(1), counts.get(4)];
  if (one && four) {
    const note = 'counts from one run; requests from the orchestrating process, round robin over the instances';
    record({ name: 'instances_4_vs_1_mints', measured: four.burstMints, baseline: one.burstMints, note: `upstream mints for a burst of 200 concurrent requests for one new key (upstream +100 ms); ${note}` });
    record({ name: 'instances_4_vs_1_firestore_calls_burst', measured: four.burstCalls, baseline: one.burstCalls, note: `Firestore gRPC calls (HTTP/2 HEADERS frames at a proxy) during that burst; ${note}` });
    record({ name: 'instances_4_vs_1_firestore_calls_per_1000', measured: four.steadyPer1000, baseline: one.steadyPer1000, note: `Firestore gRPC calls per 1,000 requests for a known key, 2,000 requests, 20 in flight; ${note}` });
  }
}

// ─── Cold start ──────────────────────────────────────────────────────────────

interface TimeV { wall: number; cpu: number; rssMiB: number; stdout: string }

function timeV(script: string, env: Record<string, string>): TimeV {
  const result = spawnSync('taskset', ['-c', SERVER_CPU, '/usr/bin/time', '-v', process.execPath, '-e', script], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  const err = result.stderr;
  const field = (name: string) => new RegExp(`${name}:\\s*(.+)`).exec(err)?.[1]?.trim() ?? '';
  if (result.status !== 0) throw new Error(`cold-start process failed (${result.status}): ${err.slice(-2000)}`);
  const wallText = field('Elapsed \\(wall clock\\) time \\(h:mm:ss or m:ss\\)');
  const wall = wallText.split(':').reduce((total, part) => total * 60 + Number(part), 0);
  return { wall, cpu: Number(field('User time \\(seconds\\)')) + Number(field('System time \\(seconds\\)')), rssMiB: Number(field('Maximum resident set size \\(kbytes\\)')) / 1024, stdout: result.stdout };
}

function suiteCold(): void {
  loadavg();
  out('\n## Cold start: fresh processes, alternating, pinned to one core (taskset -c ' + SERVER_CPU + '), /usr/bin/time -v');
  ensureBuilt();
  const framework = "require('@google-cloud/functions-framework'); require('@google-cloud/functions-framework/testing');";
  const body = 'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&subject_token=a.b.c';
  // Serves, asks once, prints the time of the answer (ms after process start), then closes the
  // server and lets the process end on its own, so work loaded in the background is counted.
  const firstAnswer = (setup: string, name: string) => `${setup}
    const { getTestServer } = require('@google-cloud/functions-framework/testing');
    const server = getTestServer('${name}');
    server.listen(0, '127.0.0.1', async () => {
      const stdout = process.stdout.write.bind(process.stdout);
      process.stdout.write = () => true; // the audit lines
      const res = await fetch('http://127.0.0.1:' + server.address().port + '/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' }, body: '${body}' });
      await res.text();
      const t = performance.now();
      process.stdout.write = stdout;
      console.log('ANSWER ' + res.status + ' ' + t);
      server.closeAllConnections?.();
      server.close();
    });`;
  const variants = {
    'framework + server, loaded': `${framework} console.log('LOADED ' + performance.now());`,
    'broker entry, loaded': `${framework} require('./dist/functions/index.js'); console.log('LOADED ' + performance.now());`,
    'trivial handler, first answer': firstAnswer(`const ff = require('@google-cloud/functions-framework'); ff.http('trivial', (req, res) => res.status(400).json({ error: 'invalid_grant' }));`, 'trivial'),
    'broker entry, first audited answer': firstAnswer(`require('./dist/functions/index.js');`, 'broker'),
  };
  const env = { METADATA_SERVER_DETECTION: 'none', BROKER_CACHE: 'none', BROKER_LOG: 'audit', BROKER_POLICY_FILE: join(ROOT, 'docs', 'examples', 'github-actions.yaml') };
  const runs = new Map<string, (TimeV & { inner: number })[]>(Object.keys(variants).map((k) => [k, []]));
  for (const script of Object.values(variants)) timeV(script, env); // warm the file cache
  for (let i = 0; i < COLD_RUNS; i++) {
    for (const [name, script] of Object.entries(variants)) {
      const r = timeV(script, env);
      const inner = Number(/(?:LOADED|ANSWER \d+) ([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
      runs.get(name)!.push({ ...r, inner });
    }
  }
  out(`${COLD_RUNS} runs of each, in turn; medians (whole process: start → natural exit, background loads included; "in-process" is performance.now() at the mark)`);
  out('  variant                              in-process  wall     CPU      peak RSS');
  const med = (name: string, key: 'wall' | 'cpu' | 'rssMiB' | 'inner') => median(runs.get(name)!.map((r) => r[key]));
  for (const name of Object.keys(variants)) {
    out(`  ${name.padEnd(36)} ${`${med(name, 'inner').toFixed(0)} ms`.padStart(9)}  ${`${med(name, 'wall').toFixed(2)} s`.padStart(7)}  ${`${med(name, 'cpu').toFixed(2)} s`.padStart(7)}  ${`${med(name, 'rssMiB').toFixed(0)} MiB`.padStart(8)}`);
  }
  const ratio = (a: string, b: string, key: 'wall' | 'cpu' | 'rssMiB' | 'inner') => (med(a, key) / med(b, key)).toFixed(2);
  out(`  entry loaded vs framework + server: in-process ${ratio('broker entry, loaded', 'framework + server, loaded', 'inner')}×, wall ${ratio('broker entry, loaded', 'framework + server, loaded', 'wall')}×, CPU ${ratio('broker entry, loaded', 'framework + server, loaded', 'cpu')}×, peak RSS ${ratio('broker entry, loaded', 'framework + server, loaded', 'rssMiB')}×`);
  out(`  first audited answer vs trivial first answer: in-process ${ratio('broker entry, first audited answer', 'trivial handler, first answer', 'inner')}×, wall ${ratio('broker entry, first audited answer', 'trivial handler, first answer', 'wall')}×, CPU ${ratio('broker entry, first audited answer', 'trivial handler, first answer', 'cpu')}×, peak RSS ${ratio('broker entry, first audited answer', 'trivial handler, first answer', 'rssMiB')}×`);
  const [entry, fw, first, trivialFirst] = ['broker entry, loaded', 'framework + server, loaded', 'broker entry, first audited answer', 'trivial handler, first answer'];
  const perRun = (name: string, key: 'wall' | 'cpu' | 'rssMiB' | 'inner') => runs.get(name)!.map((r) => r[key]);
  const coldNote = `${COLD_RUNS} fresh processes of each, alternating, pinned to core ${SERVER_CPU}, medians; whole process (start → natural exit), background loads included`;
  record({ name: 'cold_start_vs_framework', measured: med(entry, 'cpu'), baseline: med(fw, 'cpu'), note: `CPU seconds (user + sys, /usr/bin/time -v); ${coldNote}; per run: ${perRun(entry, 'cpu').join(' ')} vs ${perRun(fw, 'cpu').join(' ')}` });
  record({ name: 'cold_start_wall_vs_framework', measured: med(entry, 'wall'), baseline: med(fw, 'wall'), note: `wall seconds, unreliable when core ${SERVER_CPU} is shared; ${coldNote}` });
  record({ name: 'cold_start_rss_vs_framework', measured: med(entry, 'rssMiB'), baseline: med(fw, 'rssMiB'), note: `peak RSS; ${coldNote}` });
  record({ name: 'cold_start_in_process_ms_vs_framework', measured: med(entry, 'inner'), baseline: med(fw, 'inner'), note: `performance.now() at the "loaded" mark; ${coldNote}` });
  record({ name: 'first_audited_answer_ms', measured: med(first, 'inner'), baseline: med(trivialFirst, 'inner'), note: `performance.now() when the answer was read, broker entry (policy load + a refused exchange, BROKER_CACHE=none) vs the trivial handler; ${coldNote}; per run: ${perRun(first, 'inner').map((x) => x.toFixed(0)).join(' ')} vs ${perRun(trivialFirst, 'inner').map((x) => x.toFixed(0)).join(' ')}` });
  record({ name: 'first_audited_answer_cpu_vs_trivial', measured: med(first, 'cpu'), baseline: med(trivialFirst, 'cpu'), note: `CPU seconds (user + sys); ${coldNote}` });
  record({ name: 'first_audited_answer_rss_vs_trivial', measured: med(first, 'rssMiB'), baseline: med(trivialFirst, 'rssMiB'), note: `peak RSS; ${coldNote}` });
  out(`  per-run wall (s): ${Object.keys(variants).map((name) => `${name}: ${runs.get(name)!.map((r) => r.wall.toFixed(2)).join(' ')}`).join('; ')}`);
}

// ─── CPU profile ─────────────────────────────────────────────────────────────

/** The main thread's profile in a --cpu-prof-dir: the largest .cpuprofile (workers write their own). */
function mainProfile(dir: string): { file: string; profile: CpuProfile; others: number } | undefined {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
  if (!files.length) return undefined;
  const file = files.sort((x, y) => statSync(y).size - statSync(x).size)[0]!;
  return { file, profile: JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, others: files.length - 1 };
}

const usPerRequest = (us: number, requests: number) => (requests > 0 ? us / requests : NaN);
const fmtUs = (us: number) => (us >= 100 ? n0(us) : us.toFixed(1)).padStart(7);

async function suiteProfile(): Promise<void> {
  loadavg();
  out('\n## CPU profiles of the trivial handler and of the broker under the same external cache-hit load (node --cpu-prof)');
  const dirs = { trivial: mkdtempSync(join(WORK, 'prof-trivial-')), broker: mkdtempSync(join(WORK, 'prof-broker-')) };
  const cpuProf = (dir: string) => ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  const measured = new Map<'trivial' | 'broker', { result: WrkResult; from: number; to: number; cpuUs: number }>();
  const nowUs = () => Number(process.hrtime.bigint() / 1000n); // CLOCK_MONOTONIC, the clock of the profiles' timestamps
  const broker = await startShipped({ nodeArgs: cpuProf(dirs.broker) });
  let trivial: Served | undefined;
  try {
    const token = await broker.sign({ sub: 'bench-caller' });
    const bytes = await checkOne(broker, formOf(token), 'broker');
    trivial = await startServer('trivial', { trivialBytes: bytes, nodeArgs: cpuProf(dirs.trivial) });
    await checkOne(trivial, formOf(token), 'trivial');
    const bodies = bodiesFile('profile', [token]);
    out(`wrk -t1 -c${CONNECTIONS}, one subject token, a ${WARM_SECONDS} s warm-up then one ${ROUND_SECONDS} s measured round of each; only samples inside the measured round count`);
    for (const [name, served] of [['trivial', trivial], ['broker', broker]] as const) {
      await wrk(served.tokenUrl, bodies, WARM_SECONDS, CONNECTIONS);
      const cpuBefore = cpuSeconds(served.pid);
      const from = nowUs();
      const result = await wrk(served.tokenUrl, bodies, ROUND_SECONDS, CONNECTIONS);
      const to = nowUs();
      const cpuAfter = cpuSeconds(served.pid);
      measured.set(name, { result, from, to, cpuUs: cpuBefore !== undefined && cpuAfter !== undefined ? (cpuAfter - cpuBefore) * 1e6 : NaN });
      if (result.non2xx || result.socketErrors) failures.push(`profile: ${name} had ${result.non2xx} non-2xx answers and ${result.socketErrors} socket errors`);
    }
  } finally {
    await Promise.all([broker.close(), trivial?.stop()]);
  }
  const perRequest = new Map<'trivial' | 'broker', number>();
  for (const name of ['trivial', 'broker'] as const) {
    const m = measured.get(name)!;
    const found = mainProfile(dirs[name]);
    out(`\n### ${name === 'trivial' ? 'Trivial Functions Framework handler' : 'Broker, cache hit of one subject token (memory cache)'}`);
    if (!found) { out('  (no profile written)'); continue; }
    const summary: ProfileSummary = summarise(found.profile, ROOT, m.from, m.to);
    const requests = m.result.requests;
    if (summary.samples === 0 || requests === 0) { out('  (no samples in the load window)'); continue; }
    const cpu = usPerRequest(summary.busyUs, requests);
    perRequest.set(name, cpu);
    out(`  load while profiled: ${fmtRun(m.result)} (profiling slows the process)`);
    out(`  requests served: ${n0(requests)}; profiled main-thread CPU ${n0(cpu)} µs per request (${n0(summary.busyUs / 1000)} ms busy, ${n0(summary.idleUs / 1000)} ms idle, ${n0(summary.samples)} samples in ${n0((m.to - m.from) / 1000)} ms); ` +
      `whole process (all threads, /proc) ${Number.isFinite(m.cpuUs) ? `${n0(usPerRequest(m.cpuUs, requests))} µs per request` : 'n/a'}`);
    out('  top 12 frames by self time (µs per request, % of profiled CPU):');
    top(summary.self, 12).forEach(([key, us], i) => out(`  ${String(i + 1).padStart(2)}. ${fmtUs(usPerRequest(us, requests))} µs ${((us / summary.busyUs) * 100).toFixed(1).padStart(5)}%  ${key}`));
    if (name === 'broker') {
      const own = projectKeys(found.profile, ROOT);
      out('  top 15 frames of the project\'s own code (shared/, functions/, dev/; the bundle dist/functions/index.js, by function name) by inclusive time (µs per request, % of profiled CPU):');
      top(summary.inclusive, 15, (key) => own.has(key)).forEach(([key, us], i) => out(`  ${String(i + 1).padStart(2)}. ${fmtUs(usPerRequest(us, requests))} µs ${((us / summary.busyUs) * 100).toFixed(1).padStart(5)}%  ${key}`));
      out('  inclusive time by package or directory (a sample counts once for every group on its stack, so these overlap):');
      top(summary.groups, 25).forEach(([group, us]) => out(`      ${fmtUs(usPerRequest(us, requests))} µs ${((us / summary.busyUs) * 100).toFixed(1).padStart(5)}%  ${group}`));
    }
    out(`  profile: ${found.file}${found.others ? ` (the largest of ${found.others + 1} .cpuprofile files: the main thread)` : ''}`);
  }
  const [b, t] = [perRequest.get('broker'), perRequest.get('trivial')];
  if (b !== undefined && t !== undefined) {
    out(`\n  profiled main-thread CPU per request: broker ${n0(b)} µs, trivial ${n0(t)} µs, ${(b / t).toFixed(2)}× (trivial/broker ${(t / b).toFixed(3)})`);
    record({ name: 'profile_cpu_per_request_vs_trivial', measured: b, baseline: t, ratio: t / b, note: `profiled main-thread CPU (samples other than (idle), --cpu-prof, default 1 ms interval) per request served by wrk -c${CONNECTIONS} in one ${ROUND_SECONDS} s round each, while profiled; ratio = trivial / broker, higher is better; requests: broker ${measured.get('broker')?.result.requests}, trivial ${measured.get('trivial')?.result.requests}` });
  }
}

// ─── Entry ───────────────────────────────────────────────────────────────────

export const EXTERNAL_SUITES = ['external', 'cache', 'scale', 'cold', 'profile'] as const;

/** Runs the named external suites; returns the failures (an empty list when the run passed). */
export async function runExternalSuites(suites: readonly string[]): Promise<string[]> {
  failures = [];
  const missing = ['wrk', 'taskset', '/usr/bin/time'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (missing.length) throw new Error(`the external suites need ${missing.join(', ')} (Debian: apt-get install -y wrk util-linux time)`);
  out(`load average before: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
  out(`\n# External load (issue 18): wrk ${spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0]?.split(' ').slice(0, 2).join(' ')} on core ${GENERATOR_CPU}, servers on core ${SERVER_CPU}; ${cpus().length} cores (${cpus()[0]?.model.trim()}), node ${process.version}`);
  // A suite that throws (a server that does not start, say) is a failure of the run; the others still run.
  const attempt = async (suite: string, run: () => Promise<void> | void) => {
    if (!suites.includes(suite)) return;
    try {
      await run();
    } catch (err) {
      console.error(err);
      failures.push(`${suite}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
      out(`\n(suite ${suite} failed; its figures so far are kept)`);
    }
  };
  await attempt('external', suiteExternal);
  await attempt('profile', suiteProfile);
  await attempt('cache', suiteCache);
  await attempt('scale', async () => {
    let emulator: FirestoreEmulator | undefined;
    let host = process.env.FIRESTORE_EMULATOR_HOST;
    if (!host && 'jar' in findEmulatorJar()) {
      emulator = await startFirestoreEmulator();
      host = emulator.host;
    }
    try {
      await suiteScale(host);
    } finally {
      await emulator?.stop();
    }
  });
  await attempt('cold', suiteCold);
  return failures;
}
