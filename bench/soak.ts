/**
 * `npm run soak`: a load and soak test of the broker on loopback.
 *
 * The broker (the development stack: the real `broker` function on the Functions Framework
 * and the demo issuer) runs in a child process, bench/soak-broker.ts, so its memory is
 * measured apart from this load generator's. This process runs the Google emulator the broker
 * mints at (it records every request and token it serves, which is not the broker's memory),
 * signs subject tokens with the demo issuer's key (sent over IPC) and keeps SOAK_CONCURRENCY
 * requests in flight with a fixed mix:
 *   hit                 a valid exchange for one of 5 repeated subjects (served from the cache)
 *   miss                a valid exchange for a fresh subject, with a random scope subset and
 *                       lifetime: the broker mints upstream (IAM emulator answering in 20–50 ms)
 *   bad_signature, expired, wrong_audience                   → 400 invalid_grant
 *   missing_param, wrong_content_type                        → 400 invalid_request
 *   oversized (an 80 KiB body)                               → 413
 * It runs a warm-up (SOAK_WARMUP_SECONDS, 30), measures for SOAK_SECONDS (60), and stops early
 * at SOAK_MAX_REQUESTS. Broker memory is read after the warm-up and after the measured period,
 * each time at rest (no request in flight for SOAK_SETTLE_SECONDS, 12, then a full GC), so
 * that the V8 heap's size under load, which swings by ±60 MiB between collections, does not
 * decide the comparison; readings under load are reported too. The warm-up is long because
 * the process's RSS keeps rising for the first 20–30 s of load (V8 sizes its heap, the C
 * allocator fills its arenas) while the live heap stays flat: with a 5 s warm-up the RSS
 * comparison measures that ramp, not a leak.
 *
 * It fails (exit 1) when the number of `token_exchange` audit entries differs from the number
 * of requests, on any 5xx, network error or broker crash, when a valid request was refused,
 * when an answer differs from the one expected for its class, or when the broker's RSS at rest
 * grew by more than 10%.
 *
 * Environment: SOAK_SECONDS, SOAK_WARMUP_SECONDS, SOAK_SETTLE_SECONDS, SOAK_MAX_REQUESTS
 * (500 000), SOAK_CONCURRENCY (16), SOAK_UPSTREAM_MS ("20-50"), SOAK_SAMPLE_SECONDS (5),
 * SOAK_SEED (1), SOAK_JSON (a path for the JSON summary). Everything binds and connects to 127.0.0.1.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { DEV_SERVICE_ACCOUNTS, DEV_SOURCE_TOKEN } from '../dev/dev-stack';
import { startGoogleEmulator, type GoogleEmulator } from '../dev/google-emulator';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_JWT } from '../shared/oauth-uris';
import {
  SOAK_MAX_LIFETIME_SECONDS,
  SOAK_REPOSITORY,
  SOAK_SCOPES,
  type BrokerStats,
  type SoakMessage,
  type SoakRequest,
} from './soak-protocol';

// ─── Settings ────────────────────────────────────────────────────────────────

function envNumber(name: string, fallback: number, min: number): number {
  const text = process.env[name];
  const value = text === undefined || text === '' ? fallback : Number(text);
  if (!Number.isFinite(value) || value < min) throw new RangeError(`${name} must be a number >= ${min}, got ${text}`);
  return value;
}

const SETTINGS = {
  seconds: envNumber('SOAK_SECONDS', 60, 1),
  warmupSeconds: envNumber('SOAK_WARMUP_SECONDS', 30, 0),
  maxRequests: envNumber('SOAK_MAX_REQUESTS', 500_000, 1),
  concurrency: envNumber('SOAK_CONCURRENCY', 16, 1),
  sampleSeconds: envNumber('SOAK_SAMPLE_SECONDS', 5, 1),
  settleSeconds: envNumber('SOAK_SETTLE_SECONDS', 12, 0),
  seed: envNumber('SOAK_SEED', 1, 0),
  upstreamMs: process.env.SOAK_UPSTREAM_MS ?? '20-50',
  jsonPath: process.env.SOAK_JSON || undefined,
};
/** RSS at rest at the end may exceed RSS at rest at the start by at most this fraction. */
const RSS_GROWTH_LIMIT = 0.1;
/** One request may take this long before it counts as a network error. */
const REQUEST_TIMEOUT_MS = 15_000;
/** Subject tokens are re-signed this often, so none ages into a different refusal. */
const TOKEN_POOL_REFRESH_MS = 60_000;
const HOT_SUBJECTS = 5;
const TOKENS_PER_HOT_SUBJECT = 8;
const OVERSIZED_BYTES = 80 * 1024;

// ─── Request classes ─────────────────────────────────────────────────────────

type ClassName = 'hit' | 'miss' | 'bad_signature' | 'expired' | 'wrong_audience' | 'missing_param' | 'wrong_content_type' | 'oversized';
type AnswerCategory = '200' | '400 invalid_request' | '400 invalid_grant' | '400 other' | '413' | '429' | '503' | '5xx other' | 'other' | 'network error';

interface RequestClass {
  name: ClassName;
  weight: number;
  /** The answer every request of the class must get. */
  expected: AnswerCategory;
  valid: boolean;
}

const CLASSES: readonly RequestClass[] = [
  { name: 'hit', weight: 50, expected: '200', valid: true },
  { name: 'miss', weight: 15, expected: '200', valid: true },
  { name: 'bad_signature', weight: 5, expected: '400 invalid_grant', valid: false },
  { name: 'expired', weight: 5, expected: '400 invalid_grant', valid: false },
  { name: 'wrong_audience', weight: 5, expected: '400 invalid_grant', valid: false },
  { name: 'missing_param', weight: 7, expected: '400 invalid_request', valid: false },
  { name: 'wrong_content_type', weight: 7, expected: '400 invalid_request', valid: false },
  { name: 'oversized', weight: 6, expected: '413', valid: false },
];
const TOTAL_WEIGHT = CLASSES.reduce((sum, c) => sum + c.weight, 0);
const CATEGORIES: readonly AnswerCategory[] = ['200', '400 invalid_request', '400 invalid_grant', '400 other', '413', '429', '503', '5xx other', 'other', 'network error'];

/** mulberry32: a small seeded generator, so two runs send the same sequence of classes. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ─── The broker child ────────────────────────────────────────────────────────

type Ready = Extract<SoakMessage, { type: 'ready' }>;

interface BrokerChild {
  ready: Ready;
  stats(gc?: boolean): Promise<BrokerStats>;
  /** Set once the child exits; `undefined` while it runs. */
  exit(): { code: number | null; signal: string | null } | undefined;
  stop(): Promise<void>;
}

async function startBrokerChild(iamEndpoint: string): Promise<BrokerChild> {
  const child: ChildProcess = fork(join(__dirname, 'soak-broker.ts'), [], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    env: { ...process.env, METADATA_SERVER_DETECTION: 'none', BROKER_LOG: 'audit', SOAK_IAM_ENDPOINT: iamEndpoint },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let exited: { code: number | null; signal: string | null } | undefined;
  const pending = new Map<number, (stats: BrokerStats) => void>();
  let nextId = 0;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
    exited = { code, signal };
    for (const [, settle] of pending) settle(undefined as unknown as BrokerStats);
    pending.clear();
    resolve();
  }));

  const ready = await new Promise<Ready>((resolve, reject) => {
    child.on('message', (message: SoakMessage) => {
      if (message.type === 'ready') resolve(message);
      else if (message.type === 'error') reject(new Error(`broker child failed: ${message.message}`));
      else if (message.type === 'stats') {
        pending.get(message.id)?.(message.stats);
        pending.delete(message.id);
      }
    });
    child.once('exit', (code) => reject(new Error(`broker child exited with ${code} before it was ready`)));
  });

  const request = (message: SoakRequest) => {
    if (child.connected) child.send(message);
  };
  return {
    ready,
    stats: (gc = false) => {
      if (exited) return Promise.reject(new Error('broker child has exited'));
      const id = ++nextId;
      return new Promise<BrokerStats>((resolve, reject) => {
        pending.set(id, (stats) => (stats ? resolve(stats) : reject(new Error('broker child has exited'))));
        request({ cmd: 'stats', id, gc });
      });
    },
    exit: () => exited,
    stop: async () => {
      request({ cmd: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exitPromise;
      clearTimeout(timer);
    },
  };
}

// ─── Upstream ────────────────────────────────────────────────────────────────

interface Upstream {
  url: string;
  /** generateAccessToken requests received so far. */
  mints(): number;
  close(): Promise<void>;
}

/** "20-50" → [20, 50]; "30" → [30, 30]. */
function upstreamRange(text: string): [number, number] {
  const [low, high = low] = text.split('-').map(Number);
  if (low === undefined || high === undefined || !(low >= 0) || !(high >= low)) throw new RangeError(`SOAK_UPSTREAM_MS must be "N" or "LOW-HIGH", got ${text}`);
  return [low, high];
}

/**
 * The Google emulator, answering generateAccessToken in LOW–HIGH ms (a new value every
 * 250 ms). Its request records are counted and dropped every second.
 */
async function startUpstream(): Promise<Upstream> {
  const [low, high] = upstreamRange(SETTINGS.upstreamMs);
  const google: GoogleEmulator = await startGoogleEmulator({ serviceAccounts: DEV_SERVICE_ACCOUNTS, callerTokens: [DEV_SOURCE_TOKEN] });
  let mints = 0;
  const drain = () => {
    for (const request of google.requests) if (request.endpoint === 'generateAccessToken') mints++;
    google.requests.length = 0;
  };
  const wander = () => google.faults.setLatency(low + Math.round(Math.random() * (high - low)), 'generateAccessToken');
  wander();
  const timers = [setInterval(drain, 1000), setInterval(wander, 250)];
  return {
    url: google.url,
    mints: () => {
      drain();
      return mints;
    },
    close: async () => {
      for (const timer of timers) clearInterval(timer);
      await google.close();
    },
  };
}

// ─── Request bodies ──────────────────────────────────────────────────────────

interface Outgoing {
  headers: Record<string, string>;
  body: string;
}

const FORM_HEADERS = { 'content-type': 'application/x-www-form-urlencoded' };

function exchangeForm(subjectToken: string, extra: Record<string, string> = {}): Outgoing {
  const form = new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token_type: TOKEN_TYPE_JWT, subject_token: subjectToken, ...extra });
  return { headers: FORM_HEADERS, body: form.toString() };
}

/** Signs subject tokens the way the demo issuer does, and keeps pools of them fresh. */
class TokenFactory {
  private hot: string[] = [];
  private badSignature: string[] = [];
  private expired: string[] = [];
  private wrongAudience: string[] = [];
  private fresh = 0;
  private readonly runId = randomUUID().slice(0, 8);

  private constructor(private readonly ready: Ready, private readonly key: CryptoKey, private readonly strangerKey: CryptoKey) {}

  static async create(ready: Ready): Promise<TokenFactory> {
    const key = (await importJWK(ready.privateJwk, 'RS256')) as CryptoKey;
    const { privateKey: strangerKey } = await generateKeyPair('RS256');
    const factory = new TokenFactory(ready, key, strangerKey);
    await factory.refresh();
    return factory;
  }

  sign(claims: JWTPayload, key: CryptoKey = this.key): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: this.ready.issuer, aud: this.ready.audience, repository: SOAK_REPOSITORY, iat: now, exp: now + 600, jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: this.ready.kid })
      .sign(key);
  }

  /** Re-signs every pool (the hot subjects keep their names, hence their cache keys). */
  async refresh(): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const times = (n: number, make: (i: number) => Promise<string>) => Promise.all(Array.from({ length: n }, (_, i) => make(i)));
    [this.hot, this.badSignature, this.expired, this.wrongAudience] = await Promise.all([
      times(HOT_SUBJECTS * TOKENS_PER_HOT_SUBJECT, (i) => this.sign({ sub: `soak-hot-${i % HOT_SUBJECTS}` })),
      // Signed by a key the issuer never published, under the issuer's kid.
      times(8, (i) => this.sign({ sub: `soak-hot-${i % HOT_SUBJECTS}` }, this.strangerKey)),
      // Expired five minutes ago: beyond any clock tolerance.
      times(8, (i) => this.sign({ sub: `soak-hot-${i % HOT_SUBJECTS}`, iat: now - 900, exp: now - 300 })),
      times(8, (i) => this.sign({ sub: `soak-hot-${i % HOT_SUBJECTS}`, aud: 'https://elsewhere.example/token' })),
    ]);
  }

  async outgoing(name: ClassName, random: () => number): Promise<Outgoing> {
    const pick = (pool: string[]) => pool[Math.floor(random() * pool.length)] as string;
    switch (name) {
      case 'hit':
        return exchangeForm(pick(this.hot));
      case 'miss':
        return exchangeForm(await this.sign({ sub: `soak-fresh-${this.runId}-${++this.fresh}` }), missExtras(random));
      case 'bad_signature':
        return exchangeForm(pick(this.badSignature));
      case 'expired':
        return exchangeForm(pick(this.expired));
      case 'wrong_audience':
        return exchangeForm(pick(this.wrongAudience));
      case 'missing_param':
        return { headers: FORM_HEADERS, body: new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token_type: TOKEN_TYPE_JWT }).toString() };
      case 'wrong_content_type':
        return { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token_type: TOKEN_TYPE_JWT, subject_token: pick(this.hot) }) };
      case 'oversized':
        return { headers: FORM_HEADERS, body: `${exchangeForm(pick(this.hot)).body}&padding=${OVERSIZED_PADDING}` };
    }
  }
}

const OVERSIZED_PADDING = 'x'.repeat(OVERSIZED_BYTES);

/** A random scope subset (or none: all the rule's scopes) and lifetime (or none: the rule's). */
function missExtras(random: () => number): Record<string, string> {
  const extra: Record<string, string> = {};
  const scopes = SOAK_SCOPES.filter(() => random() < 0.5);
  if (scopes.length > 0) extra.scope = scopes.join(' ');
  if (random() < 0.7) extra.options = JSON.stringify({ lifetimeSeconds: 300 + Math.floor(random() * (SOAK_MAX_LIFETIME_SECONDS - 300 + 1)) });
  return extra;
}

// ─── Load ────────────────────────────────────────────────────────────────────

interface Sample {
  cls: ClassName;
  category: AnswerCategory;
  startedAt: number;
  latencyMs: number;
}

async function categorize(response: Response): Promise<AnswerCategory> {
  const text = await response.text();
  const status = response.status;
  if (status === 200) return '200';
  if (status === 400) {
    let error: unknown;
    try {
      error = (JSON.parse(text) as { error?: unknown }).error;
    } catch {
      error = undefined;
    }
    return error === 'invalid_request' ? '400 invalid_request' : error === 'invalid_grant' ? '400 invalid_grant' : '400 other';
  }
  if (status === 413) return '413';
  if (status === 429) return '429';
  if (status === 503) return '503';
  if (status >= 500) return '5xx other';
  return 'other';
}

interface LoadControl {
  /** Stop issuing new requests (in-flight ones finish). */
  stopped: boolean;
  sent: number;
  inFlight: number;
  /** While set, workers wait for it before their next request. */
  gate?: Promise<void>;
}

async function worker(url: string, tokens: TokenFactory, random: () => number, control: LoadControl, samples: Sample[], firstErrors: string[]): Promise<void> {
  for (;;) {
    if (control.gate) await control.gate;
    if (control.stopped || control.sent >= SETTINGS.maxRequests) return;
    control.sent++;
    control.inFlight++;
    const cls = chooseClass(random);
    const outgoing = await tokens.outgoing(cls.name, random);
    const startedAt = performance.now();
    let category: AnswerCategory;
    try {
      const response = await fetch(url, { method: 'POST', headers: outgoing.headers, body: outgoing.body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      category = await categorize(response);
    } catch (err) {
      category = 'network error';
      if (firstErrors.length < 5) firstErrors.push(`${cls.name}: ${err instanceof Error ? `${err.message}${err.cause ? ` (${String(err.cause)})` : ''}` : String(err)}`);
    }
    samples.push({ cls: cls.name, category, startedAt, latencyMs: performance.now() - startedAt });
    control.inFlight--;
  }
}

/** Holds the workers and resolves once no request is in flight; the result resumes them. */
async function pause(control: LoadControl): Promise<() => void> {
  let resume = () => {};
  control.gate = new Promise<void>((resolve) => {
    resume = () => {
      control.gate = undefined;
      resolve();
    };
  });
  while (control.inFlight > 0) await sleep(10);
  return resume;
}

function chooseClass(random: () => number): RequestClass {
  let roll = random() * TOTAL_WEIGHT;
  for (const cls of CLASSES) {
    roll -= cls.weight;
    if (roll < 0) return cls;
  }
  return CLASSES[0] as RequestClass;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ─── Figures ─────────────────────────────────────────────────────────────────

interface LatencyFigures {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function latencyFigures(latencies: number[]): LatencyFigures {
  const sorted = Float64Array.from(latencies).sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
  return { count: sorted.length, p50Ms: round(at(0.5)), p99Ms: round(at(0.99)), maxMs: round(sorted[sorted.length - 1] ?? NaN) };
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
const mib = (bytes: number) => round(bytes / 1024 / 1024, 1);

function countBy<T extends string>(items: Iterable<T>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[item] = (counts[item] ?? 0) + 1;
  return counts;
}

interface MemoryReading {
  atSeconds: number;
  phase: 'warm-up' | 'measured' | 'rest';
  rssMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  afterGc: boolean;
}

const reading = (stats: BrokerStats, origin: number, phase: MemoryReading['phase']): MemoryReading => ({
  atSeconds: round((stats.uptimeMs - origin) / 1000, 1),
  phase,
  rssMiB: mib(stats.rss),
  heapUsedMiB: mib(stats.heapUsed),
  heapTotalMiB: mib(stats.heapTotal),
  externalMiB: mib(stats.external),
  afterGc: stats.afterGc,
});

// ─── Run ─────────────────────────────────────────────────────────────────────

async function main(): Promise<number> {
  const started = Date.now();
  console.log(`# token-broker soak: warm-up ${SETTINGS.warmupSeconds} s, then ${SETTINGS.seconds} s measured (memory read at rest after each, ${SETTINGS.settleSeconds} s idle), concurrency ${SETTINGS.concurrency}, ` +
    `at most ${SETTINGS.maxRequests.toLocaleString('en-US')} requests, upstream ${SETTINGS.upstreamMs} ms, node ${process.version}, ${availableParallelism()} cores`);

  const upstream = await startUpstream();
  const broker = await startBrokerChild(upstream.url);
  const origin = (await broker.stats()).uptimeMs;
  const tokens = await TokenFactory.create(broker.ready);
  const refreshTimer = setInterval(() => void tokens.refresh(), TOKEN_POOL_REFRESH_MS);

  const samples: Sample[] = [];
  const firstErrors: string[] = [];
  const series: MemoryReading[] = [];
  const control: LoadControl = { stopped: false, sent: 0, inFlight: 0 };
  const random = seededRandom(SETTINGS.seed);
  const loadStarted = performance.now();
  const workers = Promise.all(Array.from({ length: SETTINGS.concurrency }, () => worker(broker.ready.tokenUrl, tokens, random, control, samples, firstErrors)));
  const finished = workers.then(() => true);
  let phase: MemoryReading['phase'] = 'warm-up';
  const sampler = setInterval(() => {
    broker.stats().then((stats) => series.push(reading(stats, origin, phase)), () => undefined);
  }, SETTINGS.sampleSeconds * 1000);
  const until = (ms: number) => Promise.race([sleep(ms), finished, crashed(broker)]);
  const gcReading = () => (broker.exit() ? Promise.resolve(undefined) : broker.stats(true).catch(() => undefined));
  /** With no request in flight: a reading each second for SETTLE seconds, then one after a full GC. */
  const rest = async () => {
    phase = 'rest';
    for (let i = 0; i < SETTINGS.settleSeconds && !broker.exit(); i++) {
      await sleep(1000);
      const stats = await broker.stats().catch(() => undefined);
      if (stats) series.push(reading(stats, origin, 'rest'));
    }
    return gcReading();
  };

  // Warm-up: the same mix. Then a reading under load, and one at rest before measuring.
  await until(SETTINGS.warmupSeconds * 1000);
  const startLoaded = await gcReading();
  const resume = await pause(control);
  const startStats = await rest();
  phase = 'measured';
  resume();
  const measureStarted = performance.now();
  await until(SETTINGS.seconds * 1000);
  const endLoaded = await gcReading();
  control.stopped = true;
  await workers;
  const measureEnded = performance.now();
  const endStats = await rest();
  clearInterval(sampler);
  clearInterval(refreshTimer);

  // Entries are written before each answer leaves; give the pipe a moment all the same.
  let finalStats: BrokerStats | undefined;
  for (let i = 0; i < 20 && !broker.exit(); i++) {
    finalStats = await broker.stats().catch(() => undefined);
    if (finalStats && finalStats.audit.tokenExchange >= samples.length) break;
    await sleep(100);
  }
  const exit = broker.exit();
  const upstreamMints = upstream.mints();
  await broker.stop();
  await upstream.close();

  const summary = summarize({ samples, series, startStats, endStats, startLoaded, endLoaded, finalStats, upstreamMints, exit, firstErrors, loadStarted, measureStarted, measureEnded, origin, started });
  printReport(summary);
  if (SETTINGS.jsonPath) {
    writeFileSync(SETTINGS.jsonPath, `${JSON.stringify(summary, null, 2)}\n`);
    console.log(`\nJSON summary written to ${SETTINGS.jsonPath}`);
  }
  return summary.failures.length === 0 ? 0 : 1;
}

/** Resolves when the broker child has exited (checked every 200 ms). */
async function crashed(broker: BrokerChild): Promise<void> {
  while (!broker.exit()) await sleep(200);
}

interface SummaryInput {
  samples: Sample[];
  series: MemoryReading[];
  /** At rest (no request in flight for SETTLE seconds), after a full GC. */
  startStats?: BrokerStats;
  endStats?: BrokerStats;
  /** Under load, after a full GC. */
  startLoaded?: BrokerStats;
  endLoaded?: BrokerStats;
  finalStats?: BrokerStats;
  upstreamMints: number;
  exit?: { code: number | null; signal: string | null };
  firstErrors: string[];
  loadStarted: number;
  measureStarted: number;
  measureEnded: number;
  origin: number;
  started: number;
}

function summarize(input: SummaryInput) {
  const { samples, startStats, endStats, finalStats } = input;
  const measured = samples.filter((s) => s.startedAt >= input.measureStarted);
  const measuredSeconds = (input.measureEnded - input.measureStarted) / 1000;
  const answers = countBy(samples.map((s) => s.category));
  const perClass = CLASSES.map((cls) => {
    const all = samples.filter((s) => s.cls === cls.name);
    return {
      class: cls.name,
      expected: cls.expected,
      requests: all.length,
      answers: countBy(all.map((s) => s.category)),
      unexpected: all.filter((s) => s.category !== cls.expected).length,
      latency: latencyFigures(measured.filter((s) => s.cls === cls.name).map((s) => s.latencyMs)),
    };
  });
  const audit = finalStats?.audit;
  const rssGrowth = startStats && endStats ? endStats.rss / startStats.rss - 1 : undefined;

  const failures: string[] = [];
  if (input.exit) failures.push(`the broker process exited during the run (code ${input.exit.code}, signal ${input.exit.signal})`);
  if (!audit) failures.push('no audit count could be read from the broker');
  else if (audit.tokenExchange !== samples.length) failures.push(`audit entries (${audit.tokenExchange}) ≠ requests (${samples.length})`);
  const fivexx = (answers['503'] ?? 0) + (answers['5xx other'] ?? 0);
  if (fivexx > 0) failures.push(`${fivexx} answers were 5xx`);
  if (answers['network error']) failures.push(`${answers['network error']} requests got no answer (network error or timeout)`);
  const validFailed = perClass.filter((c) => CLASSES.find((k) => k.name === c.class)?.valid).reduce((sum, c) => sum + c.unexpected, 0);
  if (validFailed > 0) failures.push(`${validFailed} valid exchanges were not answered 200`);
  const invalidUnexpected = perClass.filter((c) => !CLASSES.find((k) => k.name === c.class)?.valid).reduce((sum, c) => sum + c.unexpected, 0);
  if (invalidUnexpected > 0) failures.push(`${invalidUnexpected} invalid or malformed requests got an answer other than their class's`);
  if (rssGrowth === undefined) failures.push('RSS could not be read at the start and the end');
  else if (rssGrowth > RSS_GROWTH_LIMIT) failures.push(`RSS grew ${(rssGrowth * 100).toFixed(1)}% (limit ${RSS_GROWTH_LIMIT * 100}%)`);

  return {
    when: new Date(input.started).toISOString(),
    machine: { node: process.version, cores: availableParallelism(), platform: `${process.platform} ${process.arch}` },
    settings: { ...SETTINGS, jsonPath: undefined, mix: Object.fromEntries(CLASSES.map((c) => [c.name, c.weight / TOTAL_WEIGHT])) },
    requests: {
      total: samples.length,
      warmUp: samples.length - measured.length,
      measured: measured.length,
      measuredSeconds: round(measuredSeconds, 1),
      throughputPerSecond: round(measured.length / measuredSeconds, 1),
    },
    latencyMeasured: latencyFigures(measured.map((s) => s.latencyMs)),
    answers: Object.fromEntries(CATEGORIES.map((c) => [c, answers[c] ?? 0])),
    perClass,
    audit: audit
      ? { tokenExchange: audit.tokenExchange, requests: samples.length, equal: audit.tokenExchange === samples.length, upstreamMintEntries: audit.upstreamMint, outcomes: audit.outcomes, cache: audit.cache, reasons: audit.reasons, unparsableLines: audit.unparsable }
      : undefined,
    upstreamMints: input.upstreamMints,
    memory: {
      note: `broker process only; start = after the warm-up, end = after the measured period, each at rest (no request for ${SETTINGS.settleSeconds} s) after a full GC; also read under load after a full GC; series sampled without GC`,
      start: startStats ? reading(startStats, input.origin, 'rest') : undefined,
      end: endStats ? reading(endStats, input.origin, 'rest') : undefined,
      startLoaded: input.startLoaded ? reading(input.startLoaded, input.origin, 'warm-up') : undefined,
      endLoaded: input.endLoaded ? reading(input.endLoaded, input.origin, 'measured') : undefined,
      rssGrowthPercent: rssGrowth === undefined ? undefined : round(rssGrowth * 100, 1),
      series: input.series,
    },
    firstNetworkErrors: input.firstErrors,
    failures,
    passed: failures.length === 0,
  };
}

type Summary = ReturnType<typeof summarize>;

function printReport(summary: Summary): void {
  const { requests, latencyMeasured: overall, memory, audit } = summary;
  const n = (value: number) => value.toLocaleString('en-US');
  const ms = (value: number) => value.toFixed(1).padStart(7);
  console.log(`\n## Requests`);
  console.log(`  total ${n(requests.total)} (warm-up ${n(requests.warmUp)}, measured ${n(requests.measured)} in ${requests.measuredSeconds} s)`);
  console.log(`  throughput ${requests.throughputPerSecond} req/s (measured period)`);

  console.log(`\n## Latency, measured period (ms)`);
  console.log(`  ${'class'.padEnd(20)} ${'requests'.padStart(9)} ${'p50'.padStart(7)} ${'p99'.padStart(7)} ${'max'.padStart(7)}   expected answer       unexpected (whole run)`);
  console.log(`  ${'all'.padEnd(20)} ${n(overall.count).padStart(9)} ${ms(overall.p50Ms)} ${ms(overall.p99Ms)} ${ms(overall.maxMs)}`);
  for (const c of summary.perClass) {
    console.log(`  ${c.class.padEnd(20)} ${n(c.latency.count).padStart(9)} ${ms(c.latency.p50Ms)} ${ms(c.latency.p99Ms)} ${ms(c.latency.maxMs)}   ${c.expected.padEnd(21)} ${c.unexpected}`);
  }

  console.log(`\n## Answers, whole run`);
  for (const category of CATEGORIES) console.log(`  ${category.padEnd(20)} ${n(summary.answers[category] ?? 0).padStart(9)}`);

  console.log(`\n## Audit and upstream`);
  if (audit) {
    console.log(`  token_exchange entries ${n(audit.tokenExchange)} for ${n(audit.requests)} requests: ${audit.equal ? 'equal' : 'NOT EQUAL'}`);
    console.log(`  outcomes ${JSON.stringify(audit.outcomes)}`);
    console.log(`  cache    ${JSON.stringify(audit.cache)}`);
    console.log(`  reasons  ${JSON.stringify(audit.reasons)}`);
    console.log(`  upstream_mint entries ${n(audit.upstreamMintEntries)}`);
  }
  console.log(`  upstream mints counted at the IAM emulator: ${n(summary.upstreamMints)}`);

  console.log(`\n## Broker memory (${memory.note})`);
  const line = (label: string, r?: MemoryReading) => r ? `  ${label} t=${r.atSeconds}s  RSS ${r.rssMiB} MiB  heapUsed ${r.heapUsedMiB} MiB  heapTotal ${r.heapTotalMiB} MiB  external ${r.externalMiB} MiB` : `  ${label} unavailable`;
  console.log(line('start, at rest   ', memory.start));
  console.log(line('end, at rest     ', memory.end));
  console.log(line('start, under load', memory.startLoaded));
  console.log(line('end, under load  ', memory.endLoaded));
  console.log(`  RSS growth ${memory.rssGrowthPercent ?? '?'}% (limit ${RSS_GROWTH_LIMIT * 100}%)`);
  // At rest the readings barely move: print the last of each rest period only (the JSON has all).
  const shown = memory.series.filter((r, i, all) => r.phase !== 'rest' || all[i + 1]?.phase !== 'rest');
  console.log(`  series (t: RSS / heapUsed MiB): ${shown.map((r) => `${r.atSeconds}s${r.phase === 'rest' ? ' (rest)' : ''} ${r.rssMiB}/${r.heapUsedMiB}`).join(', ')}`);

  if (summary.firstNetworkErrors.length) console.log(`\n  first network errors: ${summary.firstNetworkErrors.join('; ')}`);
  console.log(summary.passed ? '\nPASS' : `\nFAIL\n  - ${summary.failures.join('\n  - ')}`);
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
