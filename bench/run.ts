/**
 * `npm run bench`: throughput, latency, memory and cold start of the broker, each reported
 * as a ratio against a baseline measured in the same run on the same machine:
 *   exchange over HTTP      vs a trivial JSON handler on the same Functions Framework server
 *   subject-token verify    vs a bare jose jwtVerify with the same key and options
 *   CEL condition           vs the same condition written as a JavaScript function
 *   cold start              vs requiring the Functions Framework alone
 *   cache-hit exchange      vs the trivial handler, and vs minting per request with 100 ms
 *                           of emulated upstream latency; mints per key under a burst
 * Every loop is bounded in time; every server binds 127.0.0.1.
 *
 * BENCH_SUITES (comma-separated) picks the parts; the default runs every one (about 12 minutes;
 * micro holds the limiter's round trips per 1,000 admissions among its figures):
 *   micro     the in-process figures above (verification, CEL, in-process HTTP, limiter, cold start)
 *   external  wrk in its own process against a broker process and a trivial handler process
 *   profile   --cpu-prof of the broker under that load, top frames
 *   cache     cache hit vs minting per request, 100 ms upstream, external load
 *   scale     policy size, JWKS size, distinct callers, instances
 *   cold      fresh processes under /usr/bin/time -v, alternating, medians
 * The external suites (bench/external/run.ts) follow shared/BENCHMARKING.md and need Debian's
 * `wrk` and `time` packages (apt-get install -y wrk time).
 *
 * `npm run bench -- --json FILE` also writes every figure of the suites that ran as a JSON array
 * of { name, suite, baseline, measured, ratio, unit, rounds?, min?, max?, note? }; the names and
 * what they mean are listed in bench/figures.ts (FIGURES). The file is written even when a suite
 * fails (the figures collected until then; the run still exits 1).
 *
 * BENCH_SECONDS bounds the run: it is the length of every micro loop (default 3; 2 for the rate
 * limiter's) and, when set, the default of BENCH_ROUND_SECONDS (the external rounds, else 8) and
 * the upper bound of the default BENCH_WARM_SECONDS (3). Other settings: bench/external/run.ts.
 */
process.env.METADATA_SERVER_DETECTION ??= 'none';
process.env.BROKER_LOG = 'silent';

import { execFileSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { randomBytes, randomUUID } from 'node:crypto';
import { startDevStack, type DevStack } from '../dev/dev-stack';
import { findEmulatorJar, startFirestoreEmulator, type FirestoreEmulator } from '../dev/firestore-emulator';
import { verifyOidcToken } from '../shared/identity/oidc-token';
import { benchLimits } from './limits.bench';
import { figures, jsonPathFrom, record, writeJson, type FigureName } from './figures';
import { EXTERNAL_SUITES, runExternalSuites } from './external/run';
import { compileCondition } from '../shared/policy/cel';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_JWT } from '../shared/oauth-uris';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENCY = 10;

interface Result { name: string; opsPerSec: number; p50Ms?: number; p99Ms?: number; extra?: string }

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

/** Runs `op` with CONCURRENCY workers for SECONDS; returns throughput and latency. */
async function load(name: string, op: () => Promise<void>): Promise<Result> {
  const latencies: number[] = [];
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => { for (let i = 0; i < 3; i++) await op(); })); // warm-up
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < end) {
      const start = performance.now();
      await op();
      latencies.push(performance.now() - start);
    }
  }));
  latencies.sort((a, b) => a - b);
  return { name, opsPerSec: latencies.length / SECONDS, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
}

/** Runs a synchronous or async op back to back for SECONDS. */
async function loop(name: string, op: () => unknown): Promise<Result> {
  const end = performance.now() + SECONDS * 1000;
  let count = 0;
  for (let i = 0; i < 100; i++) await op();
  const heapBefore = process.memoryUsage().heapUsed;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) await op();
    count += 100;
  }
  const heapDelta = process.memoryUsage().heapUsed - heapBefore;
  return { name, opsPerSec: count / SECONDS, extra: `heap Δ ${(heapDelta / 1024 / 1024).toFixed(1)} MiB` };
}

function report(title: string, baseline: Result, subject: Result, figure?: FigureName): void {
  if (figure) record({ name: figure, baseline: baseline.opsPerSec, measured: subject.opsPerSec, note: `in-process, ${SECONDS} s; ${baseline.name} vs ${subject.name}` });
  const fmt = (r: Result) =>
    `${r.name.padEnd(34)} ${r.opsPerSec.toFixed(0).padStart(9)} ops/s` +
    (r.p50Ms !== undefined ? `  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms?.toFixed(2)} ms` : '') +
    (r.extra ? `  ${r.extra}` : '');
  console.log(`\n## ${title}`);
  console.log(`  baseline  ${fmt(baseline)}`);
  console.log(`  measured  ${fmt(subject)}`);
  console.log(`  ratio     ${(subject.opsPerSec / baseline.opsPerSec).toFixed(3)} of baseline throughput`);
}

const FORM_HEADERS = { 'content-type': 'application/x-www-form-urlencoded' };

/** A trivial JSON handler on the same Functions Framework server: the HTTP baseline. */
async function trivialBaseline(): Promise<{ url: string; close: () => void }> {
  http('bench-trivial', (_req, res) => {
    res.status(200).set('Cache-Control', 'no-store').json({ ok: true });
  });
  const trivial = getTestServer('bench-trivial');
  await new Promise<void>((resolve) => trivial.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(trivial.address() as AddressInfo).port}/token`, close: () => trivial.close() };
}

/** Exchange forms for one principal (several tokens, one cache key). */
async function forms(stack: DevStack, count = 50): Promise<string[]> {
  const tokens = await Promise.all(Array.from({ length: count }, () => stack.issuer.sign({ sub: 'demo-workload', aud: stack.url, repository: 'acme/demo' }, { ttlSeconds: 3600 })));
  return tokens.map((t) => new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token_type: TOKEN_TYPE_JWT, subject_token: t }).toString());
}

function exchangeOp(url: string, bodies: string[]): () => Promise<void> {
  let i = 0;
  return async () => {
    const r = await fetch(url, { method: 'POST', headers: FORM_HEADERS, body: bodies[i++ % bodies.length] });
    if (r.status !== 200) throw new Error(`exchange answered ${r.status}`);
    await r.arrayBuffer();
  };
}

const mintCount = (stack: DevStack) => stack.google.requests.filter((r) => r.path.endsWith(':generateAccessToken')).length;

async function benchHttp(firestore: FirestoreEmulator | undefined): Promise<void> {
  const uncached = await startDevStack({ port: 0, env: { BROKER_CACHE: 'none' } });
  await uncached.broker;
  const trivial = await trivialBaseline();
  const baseline = await load('trivial handler (same POST bodies)', exchangeOp(trivial.url, await forms(uncached)));
  trivial.close();
  const minting = await load('exchange, minting every request', exchangeOp(uncached.tokenUrl, await forms(uncached)));
  report('Token exchange without a cache (IAM emulator, no added latency)', baseline, minting, 'micro_exchange_no_cache_vs_trivial');

  const cacheEnv: Record<string, string> = firestore
    ? { BROKER_CACHE: 'firestore', BROKER_CACHE_LOCAL_KEY: randomBytes(32).toString('base64'), BROKER_FIRESTORE_PROJECT: `bench-${randomUUID().slice(0, 8)}` }
    : { BROKER_CACHE: 'memory' };
  const cached = await startDevStack({ port: 0, env: cacheEnv });
  await cached.broker;
  const hits = await load(`exchange, cache hit (${cacheEnv.BROKER_CACHE})`, exchangeOp(cached.tokenUrl, await forms(cached)));
  report('Cache-hit exchange against the trivial handler (target ≥ 0.6)', baseline, hits, 'micro_cache_hit_vs_trivial');

  uncached.google.faults.setLatency(100, 'generateAccessToken');
  cached.google.faults.setLatency(100, 'generateAccessToken');
  const slowMint = await load('minting per request, upstream +100 ms', exchangeOp(uncached.tokenUrl, await forms(uncached)));
  const slowHit = await load('cache hit, upstream +100 ms', exchangeOp(cached.tokenUrl, await forms(cached)));
  report('Cache hit against minting per request, 100 ms upstream latency', slowMint, slowHit, 'micro_cache_vs_mint_100ms');
  console.log(`  speedup   ${(slowHit.opsPerSec / slowMint.opsPerSec).toFixed(1)}× throughput, p50 ${slowMint.p50Ms?.toFixed(1)} → ${slowHit.p50Ms?.toFixed(1)} ms`);

  // A lifetime nobody asked for before makes a new cache key for the same principal.
  const burstBodies = (await forms(cached, 20)).map((body) => `${body}&options=${encodeURIComponent('{"lifetimeSeconds":601}')}`);
  const before = mintCount(cached);
  const burst = await Promise.all(Array.from({ length: 200 }, (_, i) =>
    fetch(cached.tokenUrl, { method: 'POST', headers: FORM_HEADERS, body: burstBodies[i % burstBodies.length] }).then((r) => r.status)));
  console.log('\n## Burst of 200 concurrent requests for one new key (upstream +100 ms)');
  console.log(`  upstream mints: ${mintCount(cached) - before} (statuses: ${[...new Set(burst)].join(', ')})`);
  record({ name: 'micro_burst_mints', measured: mintCount(cached) - before, baseline: null, note: `200 concurrent requests for one new key, upstream +100 ms; statuses ${[...new Set(burst)].join(', ')}` });

  await Promise.all([uncached.close(), cached.close()]);
}

async function benchVerify(): Promise<void> {
  const stack = await startDevStack({ port: 0 });
  const broker = await stack.broker;
  const issuer = broker.policy.issuers.get(stack.issuer.issuer);
  if (!issuer) throw new Error('dev policy lacks the demo issuer');
  const keys = createLocalJWKSet({ keys: [stack.issuer.signingKey().publicJwk] });
  const trusted = new Map([[issuer.issuer, { ...issuer, keys }]]);
  const token = await stack.issuer.sign({ sub: 'demo-workload', aud: stack.url, repository: 'acme/demo' }, { ttlSeconds: 3600 });
  const options = { issuer: issuer.issuer, audience: [...issuer.audiences], algorithms: ['RS256'], clockTolerance: 30, maxTokenAge: 3600, requiredClaims: ['exp', 'iat', 'sub'] };
  const baseline = await loop('jose jwtVerify', () => jwtVerify(token, keys, options));
  const measured = await loop('verifyOidcToken (all checks)', () => verifyOidcToken(token, trusted));
  report('Subject-token verification (RS256, one core)', baseline, measured, 'micro_verify_vs_jose');
  await stack.close();
}

async function benchCel(): Promise<void> {
  const claims = Object.freeze(Object.assign(Object.create(null), {
    repository: 'acme/app', ref: 'refs/heads/main', event_name: 'push', sub: 'repo:acme/app:ref:refs/heads/main', iat: 1_700_000_000,
  })) as Record<string, unknown>;
  const condition = compileCondition("claims.repository == 'acme/app' && claims.ref.startsWith('refs/heads/') && claims.event_name in ['push', 'workflow_dispatch']");
  const native = (c: Record<string, unknown>) => c.repository === 'acme/app' && String(c.ref).startsWith('refs/heads/') && ['push', 'workflow_dispatch'].includes(String(c.event_name));
  const baseline = await loop('JavaScript function', () => native(claims));
  const measured = await loop('CEL (@bufbuild/cel)', () => condition.evaluate(claims));
  report('Rule condition evaluation', baseline, measured, 'micro_cel_vs_js');
  const regex = compileCondition("claims.ref.matches('^refs/(heads|tags)/v?[0-9]+')");
  const regexResult = await loop('CEL with matches()', () => regex.evaluate(claims));
  report('Rule condition with an RE2 regular expression', baseline, regexResult, 'micro_cel_regex_vs_js');
}

/**
 * Cold start, measured inside a fresh process from its start (performance.now() counts from
 * process start) until the entry module is loaded, then until the first audited answer.
 * Work the entry point defers (the logging library loads in the background) is not counted
 * in the first figure; the second shows what the first request pays.
 */
function benchColdStart(): void {
  const root = join(__dirname, '..');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  const median = (script: string) => {
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const out = execFileSync(process.execPath, ['-e', script], {
        cwd: root,
        env: { ...process.env, METADATA_SERVER_DETECTION: 'none', BROKER_CACHE: 'none', BROKER_POLICY_FILE: join(root, 'docs', 'examples', 'github-actions.yaml') },
      });
      runs.push(Number(out.toString().trim().split('\n').at(-1)));
    }
    runs.sort((a, b) => a - b);
    return runs[2] ?? NaN;
  };
  // What the framework's CLI has loaded before it loads the function: its package and its server
  // module with express and body-parser (the public `testing` entry loads the same server module).
  // The broker's entry is measured on top of the same.
  const framework = "require('@google-cloud/functions-framework'); require('@google-cloud/functions-framework/testing');";
  const baseline = median(`${framework} console.log(performance.now()); process.exit(0)`);
  const broker = median(`${framework} require('./dist/functions/index.js'); console.log(performance.now()); process.exit(0)`);
  const firstAnswer = median(`
    require('./dist/functions/index.js');
    const { getTestServer } = require('@google-cloud/functions-framework/testing');
    const server = getTestServer('broker');
    const devnull = { write: () => true };
    server.listen(0, '127.0.0.1', async () => {
      const body = 'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&subject_token=a.b.c';
      const stdout = process.stdout.write.bind(process.stdout);
      process.stdout.write = () => true; // the audit lines
      const res = await fetch('http://127.0.0.1:' + server.address().port + '/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      await res.text();
      const t = performance.now();
      process.stdout.write = stdout;
      console.log(t);
      process.exit(0);
    });`);
  console.log('\n## Cold start (process start → entry module loaded, median of 5)');
  console.log(`  baseline  functions-framework and its server  ${baseline.toFixed(0)} ms`);
  console.log(`  measured  broker entry point (compiled)    ${broker.toFixed(0)} ms`);
  console.log(`  ratio     ${(broker / baseline).toFixed(2)}× baseline time`);
  console.log(`  first audited answer (policy load + a refused exchange): ${firstAnswer.toFixed(0)} ms after process start`);
  record({ name: 'micro_cold_start_vs_framework', measured: broker, baseline, note: `in-process ms, process start → entry module loaded, median of 5; first audited answer ${firstAnswer.toFixed(0)} ms` });
}

const SUITES = (process.env.BENCH_SUITES ?? ['micro', ...EXTERNAL_SUITES].join(',')).split(',').map((s) => s.trim()).filter(Boolean);

async function micro(): Promise<void> {
  console.log(`# token-broker benchmarks (${SECONDS} s per measurement, concurrency ${CONCURRENCY}, node ${process.version})`);
  await benchVerify();
  await benchCel();
  const found = findEmulatorJar();
  const firestore = 'jar' in found && !process.env.FIRESTORE_EMULATOR_HOST ? await startFirestoreEmulator() : undefined;
  if (firestore) process.env.FIRESTORE_EMULATOR_HOST = firestore.host;
  if (!process.env.FIRESTORE_EMULATOR_HOST) console.log('\n(no Firestore emulator: cache figures use the memory cache)');
  try {
    await benchHttp(firestore ?? (process.env.FIRESTORE_EMULATOR_HOST ? ({} as FirestoreEmulator) : undefined));
    console.log(`\n${await benchLimits()}`);
  } finally {
    await firestore?.stop();
    if (firestore) delete process.env.FIRESTORE_EMULATOR_HOST;
  }
  benchColdStart();
}

async function main(jsonPath: string | undefined): Promise<void> {
  const unknown = SUITES.filter((s) => s !== 'micro' && !(EXTERNAL_SUITES as readonly string[]).includes(s));
  if (unknown.length) throw new Error(`unknown BENCH_SUITES ${unknown.join(', ')}; known: micro, ${EXTERNAL_SUITES.join(', ')}`);
  const started = performance.now();
  console.log(`# npm run bench: suites ${SUITES.join(', ')}; ${new Date().toISOString()}, commit ${execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()}`);
  const failures: string[] = [];
  try {
    if (SUITES.includes('micro')) {
      try {
        await micro();
      } catch (err) {
        console.error(err);
        failures.push(`micro: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
      }
    }
    const external = SUITES.filter((s) => s !== 'micro');
    if (external.length) failures.push(...await runExternalSuites(external));
  } finally {
    if (jsonPath) writeFigures(jsonPath);
  }
  if (failures.length) {
    console.log(`\nFAILED:\n${failures.map((f) => `  ${f}`).join('\n')}`);
    process.exitCode = 1;
  }
  console.log(`\n(bench took ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}

let written = false;
function writeFigures(file: string): void {
  if (written) return;
  written = true;
  writeJson(file);
  console.log(`\n(${figures.all().length} figures written to ${file}: ${figures.all().map((f) => f.name).join(', ') || 'none'})`);
}

let jsonPath: string | undefined;
try {
  jsonPath = jsonPathFrom(process.argv.slice(2));
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(2);
}
main(jsonPath).then(() => process.exit(process.exitCode ?? 0), (err: unknown) => {
  console.error(err);
  try {
    if (jsonPath) writeFigures(jsonPath);
  } catch (writeError) {
    console.error(writeError);
  }
  process.exit(1);
});
