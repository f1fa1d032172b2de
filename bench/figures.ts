/**
 * The figures of `npm run bench`, collected as they are printed so `npm run bench -- --json FILE`
 * can write them for a check to read: a JSON array of
 *   { name, suite, baseline, measured, ratio, unit, rounds?, min?, max?, note? }
 * `name` is stable (snake_case, one of FIGURES below); `measured` is the figure of the thing
 * under test, `baseline` the figure it is compared with (measured in the same run, or a target
 * where the catalogue says so; null when there is none), `unit` the unit of both. `ratio` is
 * measured / baseline unless the catalogue says otherwise (throughput figures give the median of
 * the per-round ratios, listed in `rounds`, with their `min` and `max`). Numbers that are not
 * finite are written as null; the others are rounded to 6 significant digits.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type Suite = 'external' | 'profile' | 'cache' | 'scale' | 'cold' | 'micro';

interface Entry { suite: Suite; unit: string; about: string }

/**
 * Every name a figure may have, with its suite, unit and meaning. `vs` names are A against B;
 * "higher is better" figures of CPU per request give baseline / measured (B / A) as the ratio.
 */
export const FIGURES = {
  // external: cache-hit exchange (A) vs the trivial Functions Framework handler (B), wrk, c=10
  cache_hit_vs_trivial: { suite: 'external', unit: 'req/s', about: 'cache-hit exchange throughput vs the trivial handler; ratio = median of per-round broker/trivial' },
  cache_hit_p50_vs_trivial: { suite: 'external', unit: 'ms', about: 'p50 latency of the cache hit vs the trivial handler (medians over rounds); lower is better' },
  cache_hit_p99_vs_trivial: { suite: 'external', unit: 'ms', about: 'p99 latency of the cache hit vs the trivial handler (medians over rounds); lower is better' },
  cache_hit_cpu_per_request_vs_trivial: { suite: 'external', unit: 'µs', about: 'server process CPU (utime+stime, all threads) per request; ratio = trivial µs / broker µs (median of rounds), higher is better like throughput' },
  // profile: node --cpu-prof of both servers under the same cache-hit load
  cache_hit_development_vs_trivial: { suite: 'external', unit: 'req/s', about: 'the same cache-hit exchange against the development composition (npm start: emulators and demo issuer in the broker process) vs the trivial handler' },
  cache_hit_development_cpu_per_request_vs_trivial: { suite: 'external', unit: 'µs/request', about: 'server CPU per request, development composition vs trivial; ratio = trivial / broker (higher is better)' },
  profile_cpu_per_request_vs_trivial: { suite: 'profile', unit: 'µs', about: 'profiled main-thread CPU (samples other than (idle)) per request, broker vs trivial, while profiled; ratio = trivial / broker, higher is better' },
  // cache: cache hit (A) vs minting every request (B), upstream +100 ms
  cache_vs_mint_100ms: { suite: 'cache', unit: 'req/s', about: 'cache hit vs minting per request, upstream +100 ms, concurrency 16 (the upstream wait bounds minting); ratio = median of per-round hit/mint' },
  cache_vs_mint_100ms_c1: { suite: 'cache', unit: 'req/s', about: 'the same at concurrency 1' },
  cache_vs_mint_100ms_c1_saved_ms: { suite: 'cache', unit: 'ms', about: 'latency saved per request at concurrency 1: measured = mint p50 - hit p50, baseline = mint p50; ratio = the share of the minting latency saved' },
  cache_vs_mint_100ms_c128: { suite: 'cache', unit: 'req/s', about: 'the same at BENCH_CACHE_CONNECTIONS (default 128; the broker CPU bounds both sides)' },
  cache_vs_mint_100ms_cpu_per_request: { suite: 'cache', unit: 'µs', about: 'server CPU per request at concurrency 16, hit vs minting (the Google emulator is not in either server process); ratio = mint / hit, higher is better' },
  // scale
  rules_1000_vs_1: { suite: 'scale', unit: 'req/s', about: '(a) cache hit with 1,000 rules over 100 issuers, the match last, vs 1 rule; ratio = median of per-round ratios' },
  rules_1000_p99_vs_1: { suite: 'scale', unit: 'ms', about: '(a) p99 latency, 1,000 rules vs 1 (medians over rounds); lower is better' },
  rules_1000_cpu_per_request_vs_1: { suite: 'scale', unit: 'µs', about: '(a) server CPU per request; ratio = 1-rule µs / 1,000-rule µs, higher is better' },
  jwks_100_vs_1: { suite: 'scale', unit: 'req/s', about: '(b) cache hit with a 100-key JWKS, the matching kid last, vs 1 key; ratio = median of per-round ratios' },
  jwks_100_p99_vs_1: { suite: 'scale', unit: 'ms', about: '(b) p99 latency, 100 keys vs 1 (medians over rounds); lower is better' },
  jwks_100_cpu_per_request_vs_1: { suite: 'scale', unit: 'µs', about: '(b) server CPU per request; ratio = 1-key µs / 100-key µs, higher is better' },
  distinct_callers_100000_vs_10: { suite: 'scale', unit: 'req/s', about: '(c) BROKER_CACHE=firestore, BENCH_DISTINCT_SUBJECTS (default 100,000; see note) uniformly drawn subjects vs 10; ratio = median of per-round ratios' },
  distinct_callers_100000_p99_vs_10: { suite: 'scale', unit: 'ms', about: '(c) p99 latency, many subjects vs 10 (medians over rounds); lower is better' },
  distinct_callers_100000_cpu_per_request_vs_10: { suite: 'scale', unit: 'µs', about: '(c) broker process CPU per request (the emulators are elsewhere); ratio = 10-subject µs / many-subject µs, higher is better' },
  distinct_callers_100000_hit_rate: { suite: 'scale', unit: '%', about: '(c) cache hit rate (L1 + L2, from the audit) over the measured rounds, many subjects vs 10' },
  instances_4_vs_1_mints: { suite: 'scale', unit: 'mints', about: '(d) upstream mints for a burst of 200 concurrent requests for one new key, 4 instances vs 1' },
  instances_4_vs_1_firestore_calls_burst: { suite: 'scale', unit: 'calls', about: '(d) Firestore gRPC calls during that burst, 4 instances vs 1' },
  instances_4_vs_1_firestore_calls_per_1000: { suite: 'scale', unit: 'calls/1000 requests', about: '(d) Firestore gRPC calls per 1,000 requests for a known key (cache, limiter, issued-token records), 4 instances vs 1' },
  // cold: fresh processes, /usr/bin/time -v, medians
  cold_start_vs_framework: { suite: 'cold', unit: 's', about: 'CPU seconds (user+sys, whole process) with the compiled entry loaded vs the framework plus its server module' },
  cold_start_wall_vs_framework: { suite: 'cold', unit: 's', about: 'the same in wall seconds (unreliable on a shared core)' },
  cold_start_rss_vs_framework: { suite: 'cold', unit: 'MiB', about: 'peak RSS, entry loaded vs framework plus server' },
  cold_start_in_process_ms_vs_framework: { suite: 'cold', unit: 'ms', about: 'performance.now() at the "loaded" mark, entry vs framework plus server' },
  first_audited_answer_ms: { suite: 'cold', unit: 'ms', about: 'in-process ms from process start to the broker\'s first audited answer vs the trivial handler\'s first answer; ratio = measured / baseline' },
  first_audited_answer_cpu_vs_trivial: { suite: 'cold', unit: 's', about: 'CPU seconds (whole process, background loads included) to the first audited answer vs the trivial handler\'s first answer' },
  first_audited_answer_rss_vs_trivial: { suite: 'cold', unit: 'MiB', about: 'peak RSS, first audited answer vs the trivial handler\'s first answer' },
  // micro: the in-process figures (BENCH_SUITES=micro)
  micro_verify_vs_jose: { suite: 'micro', unit: 'ops/s', about: 'verifyOidcToken vs a bare jose jwtVerify, one core' },
  micro_cel_vs_js: { suite: 'micro', unit: 'ops/s', about: 'a CEL condition vs the same JavaScript function' },
  micro_cel_regex_vs_js: { suite: 'micro', unit: 'ops/s', about: 'a CEL condition with matches() vs the JavaScript function' },
  micro_exchange_no_cache_vs_trivial: { suite: 'micro', unit: 'ops/s', about: 'in-process generator: exchange minting every request vs the trivial handler' },
  micro_cache_hit_vs_trivial: { suite: 'micro', unit: 'ops/s', about: 'in-process generator: cache-hit exchange vs the trivial handler (compressed towards 1, see shared/BENCHMARKING.md)' },
  micro_cache_vs_mint_100ms: { suite: 'micro', unit: 'ops/s', about: 'in-process generator, concurrency 10: cache hit vs minting per request with 100 ms upstream' },
  micro_burst_mints: { suite: 'micro', unit: 'mints', about: 'upstream mints for 200 concurrent requests for one new key (no baseline)' },
  micro_limiter_memory_vs_noop: { suite: 'micro', unit: 'ops/s', about: 'memory rate limiter (2 limits) vs a no-op limiter' },
  micro_limiter_firestore_fast_vs_noop: { suite: 'micro', unit: 'ops/s', about: 'Firestore rate limiter fast path (reserved units) vs a no-op limiter' },
  limiter_roundtrips_per_1000: { suite: 'micro', unit: 'round trips/1000 admissions', about: 'Firestore limiter round trips per 1,000 sequential admissions for one key limited to 1,000/min, in a minute after a busy one, one limit; baseline = 10, the target of issue 18 (not measured)' },
  limiter_roundtrips_per_1000_two_limits: { suite: 'micro', unit: 'round trips/1000 admissions', about: 'the same with a daily budget too (two counters per request); baseline = 10 (target)' },
  limiter_roundtrips_per_1000_first_minute: { suite: 'micro', unit: 'round trips/1000 admissions', about: 'a new key at 1,000/min with a daily budget, its first minute (the chunks still growing); baseline = 10 (target)' },
  limiter_roundtrips_per_1000_hot_limit: { suite: 'micro', unit: 'round trips/1000 admissions', about: 'limits of 10^12 (chunks sized for one write a second at the full rate), two limits; baseline = 10 (target)' },
  limiter_roundtrips_per_1000_two_instances: { suite: 'micro', unit: 'round trips/1000 admissions', about: 'two instances × 10 concurrent callers on one counter; baseline = 10 (target)' },
  micro_cold_start_vs_framework: { suite: 'micro', unit: 'ms', about: 'in-process ms from process start to the entry loaded vs the framework plus its server (median of 5)' },
} as const satisfies Record<string, Entry>;

export type FigureName = keyof typeof FIGURES;

export interface Figure {
  name: FigureName;
  suite: Suite;
  baseline: number | null;
  measured: number | null;
  ratio: number | null;
  unit: string;
  rounds?: number[];
  min?: number;
  max?: number;
  note?: string;
}

export interface FigureInput {
  name: FigureName;
  baseline: number | null | undefined;
  measured: number | null | undefined;
  /** Default: measured / baseline. */
  ratio?: number | null;
  rounds?: number[];
  note?: string;
}

export const SNAKE_CASE = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;

/** A finite number to 6 significant digits (the measurements carry fewer), else null. */
const finite = (x: number | null | undefined): number | null => (typeof x === 'number' && Number.isFinite(x) ? Number(x.toPrecision(6)) : null);

/** measured / baseline, or null when either is missing or the baseline is 0. */
export function ratioOf(measured: number | null | undefined, baseline: number | null | undefined): number | null {
  const m = finite(measured);
  const b = finite(baseline);
  return m === null || b === null || b === 0 ? null : finite(m / b);
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (!sorted.length) return NaN;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A collection of figures (one per run of `npm run bench`; tests make their own). */
export class Figures {
  private readonly list: Figure[] = [];

  record(input: FigureInput): Figure {
    const entry: Entry | undefined = (FIGURES as Record<string, Entry>)[input.name];
    if (!entry) throw new Error(`unknown figure name ${input.name}: add it to FIGURES in bench/figures.ts`);
    if (this.list.some((f) => f.name === input.name)) throw new Error(`figure ${input.name} recorded twice`);
    const figure: Figure = {
      name: input.name,
      suite: entry.suite,
      baseline: finite(input.baseline),
      measured: finite(input.measured),
      ratio: input.ratio === undefined ? ratioOf(input.measured, input.baseline) : finite(input.ratio),
      unit: entry.unit,
    };
    const rounds = input.rounds?.map((r) => finite(r)).filter((r): r is number => r !== null);
    if (rounds?.length) Object.assign(figure, { rounds, min: Math.min(...rounds), max: Math.max(...rounds) });
    if (input.note) figure.note = input.note;
    this.list.push(figure);
    return figure;
  }

  all(): readonly Figure[] {
    return this.list;
  }

  toJson(): string {
    return `${JSON.stringify(this.list, null, 2)}\n`;
  }

  writeJson(file: string): void {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, this.toJson());
  }
}

/** The figures of this process's run. */
export const figures = new Figures();
export const record = (input: FigureInput): Figure => figures.record(input);
export const writeJson = (file: string): void => figures.writeJson(file);

/** The path after `--json` (or `--json=PATH`) in argv, if any. */
export function jsonPathFrom(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('--json=')) return arg.slice('--json='.length) || undefined;
    if (arg === '--json') {
      const next = argv[i + 1];
      if (!next || next.startsWith('--')) throw new Error('--json needs a file path');
      return next;
    }
  }
  return undefined;
}
