/** The figures `npm run bench -- --json FILE` writes (bench/figures.ts) and the profile reading of its profile suite. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIGURES, Figures, SNAKE_CASE, jsonPathFrom, median, ratioOf, type FigureName } from '../../bench/figures';
import { groupOf, isProjectFrame, projectKeys, summarise, top, type CpuProfile } from '../../bench/profile-analysis';

const ROOT = join(__dirname, '..', '..');

describe('the figure catalogue', () => {
  const names = Object.keys(FIGURES);

  it('has snake_case names, each once', () => {
    for (const name of names) expect(name).toMatch(SNAKE_CASE);
    expect(new Set(names).size).toBe(names.length);
  });

  it('names the figures issue 18 asks for, in their suites', () => {
    const required: [FigureName, string][] = [
      ['cache_hit_vs_trivial', 'external'], ['cache_hit_cpu_per_request_vs_trivial', 'external'], ['cache_hit_p99_vs_trivial', 'external'],
      ['cold_start_vs_framework', 'cold'], ['first_audited_answer_ms', 'cold'],
      ['rules_1000_vs_1', 'scale'], ['jwks_100_vs_1', 'scale'], ['distinct_callers_100000_vs_10', 'scale'], ['instances_4_vs_1_mints', 'scale'],
      ['limiter_roundtrips_per_1000', 'micro'], ['cache_vs_mint_100ms', 'cache'], ['cache_vs_mint_100ms_c1_saved_ms', 'cache'],
      ['profile_cpu_per_request_vs_trivial', 'profile'],
    ];
    for (const [name, suite] of required) expect(FIGURES[name].suite).toBe(suite);
    expect(FIGURES.cache_hit_vs_trivial.unit).toBe('req/s');
  });

  it('lists only names the bench records, and the bench records only listed names', () => {
    const sources = ['bench/run.ts', 'bench/limits.bench.ts', 'bench/external/run.ts'].map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\n');
    const used = new Set([...sources.matchAll(/\b(?:name|throughput|p50|p99|cpu): '([a-z0-9_]+)'/g)].map((m) => m[1]!));
    for (const name of used) expect(names).toContain(name);
    for (const name of names) expect([name, sources.includes(`'${name}'`)]).toEqual([name, true]);
  });
});

describe('Figures', () => {
  it('computes the ratio as measured / baseline unless given, and keeps the rounds with min and max', () => {
    const figures = new Figures();
    const cold = figures.record({ name: 'cold_start_vs_framework', measured: 1.5, baseline: 0.5 });
    expect(cold).toEqual({ name: 'cold_start_vs_framework', suite: 'cold', measured: 1.5, baseline: 0.5, ratio: 3, unit: 's' });
    const hit = figures.record({ name: 'cache_hit_vs_trivial', measured: 1000, baseline: 2500, ratio: 0.41, rounds: [0.45, 0.41, 0.38] });
    expect(hit).toMatchObject({ ratio: 0.41, rounds: [0.45, 0.41, 0.38], min: 0.38, max: 0.45, unit: 'req/s' });
  });

  it('writes null for what is missing or not finite, and no ratio without a baseline', () => {
    const figures = new Figures();
    expect(figures.record({ name: 'micro_burst_mints', measured: 1, baseline: null })).toMatchObject({ measured: 1, baseline: null, ratio: null });
    expect(figures.record({ name: 'first_audited_answer_ms', measured: NaN, baseline: 400 })).toMatchObject({ measured: null, ratio: null });
    expect(figures.record({ name: 'jwks_100_vs_1', measured: 5, baseline: 0 }).ratio).toBeNull();
    expect(figures.record({ name: 'rules_1000_vs_1', measured: 5, baseline: 10, rounds: [NaN, 0.5] })).toMatchObject({ rounds: [0.5], min: 0.5, max: 0.5 });
    expect(ratioOf(Infinity, 1)).toBeNull();
  });

  it('refuses a name recorded twice or not in the catalogue', () => {
    const figures = new Figures();
    figures.record({ name: 'rules_1000_vs_1', measured: 1, baseline: 2 });
    expect(() => figures.record({ name: 'rules_1000_vs_1', measured: 1, baseline: 2 })).toThrow(/twice/);
    expect(() => figures.record({ name: 'no_such_figure' as FigureName, measured: 1, baseline: 2 })).toThrow(/unknown figure/);
  });

  it('writes a valid JSON array of { name, baseline, measured, ratio, unit }', () => {
    const dir = mkdtempSync(join(tmpdir(), 'figures-test-'));
    try {
      const figures = new Figures();
      figures.record({ name: 'cache_hit_vs_trivial', measured: 900, baseline: 2400, ratio: 0.375, rounds: [0.37, 0.375, 0.4], note: 'c=10' });
      figures.record({ name: 'limiter_roundtrips_per_1000', measured: 50, baseline: 10 });
      const file = join(dir, 'nested', 'figures.json');
      figures.writeJson(file);
      const written = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>[];
      expect(Array.isArray(written)).toBe(true);
      expect(written.map((f) => f.name)).toEqual(['cache_hit_vs_trivial', 'limiter_roundtrips_per_1000']);
      for (const f of written) for (const key of ['name', 'baseline', 'measured', 'ratio', 'unit']) expect(f).toHaveProperty(key);
      expect(written[1]).toMatchObject({ ratio: 5, unit: 'round trips/1000 admissions' });
      expect(readdirSync(join(dir, 'nested'))).toEqual(['figures.json']);
      new Figures().writeJson(join(dir, 'empty.json'));
      expect(JSON.parse(readFileSync(join(dir, 'empty.json'), 'utf8'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads --json FILE and --json=FILE from the arguments', () => {
    expect(jsonPathFrom(['--json', '/tmp/x.json'])).toBe('/tmp/x.json');
    expect(jsonPathFrom(['--json=/tmp/y.json'])).toBe('/tmp/y.json');
    expect(jsonPathFrom([])).toBeUndefined();
    expect(() => jsonPathFrom(['--json'])).toThrow(/file path/);
  });

  it('takes medians of odd and even lists', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe('reading a --cpu-prof profile', () => {
  const root = '/repo';
  const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });
  // (root) → handle (functions/http) → verify (shared/identity) → jose → (native) sign; plus (idle) and GC.
  const profile: CpuProfile = {
    startTime: 1000,
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 6, 7] },
      { id: 2, callFrame: frame('handle', 'file:///repo/functions/http/exchange.js', 9), children: [3] },
      { id: 3, callFrame: frame('verify', 'file:///repo/shared/identity/oidc-token.js', 19), children: [4] },
      { id: 4, callFrame: frame('jwtVerify', 'file:///repo/node_modules/jose/dist/verify.js', 0), children: [5] },
      { id: 5, callFrame: frame('sign') },
      { id: 6, callFrame: frame('(idle)') },
      { id: 7, callFrame: frame('(garbage collector)') },
    ],
    // Samples at 1100, 1200, ..., 1800 (each weighs 100 µs: the time to the next one).
    samples: [5, 5, 3, 2, 6, 7, 4, 5],
    timeDeltas: [100, 100, 100, 100, 100, 100, 100, 100],
  };

  it('weighs the samples in the window, leaves (idle) out of the CPU, and sums self and inclusive time', () => {
    const s = summarise(profile, root, 1100, 1700); // the samples at 1100..1700: 5, 5, 3, 2, 6, 7, 4
    expect(s.samples).toBe(7);
    expect(s.idleUs).toBe(100);
    expect(s.busyUs).toBe(600);
    expect(s.self.get('sign')).toBe(200);
    expect(s.self.get('(garbage collector)')).toBe(100);
    expect(s.inclusive.get('handle functions/http/exchange.js:10')).toBe(500);
    expect(s.inclusive.get('verify shared/identity/oidc-token.js:20')).toBe(400);
    expect(s.groups.get('node_modules/jose')).toBe(300);
    expect(s.groups.get('(native)')).toBe(200);
    expect(s.groups.get('shared/identity')).toBe(400);
    expect(s.groups.get('functions/http')).toBe(500);
    expect(s.groups.has('(root)')).toBe(false);
    expect(top(s.inclusive, 2).map(([k]) => k)).toEqual(['handle functions/http/exchange.js:10', 'verify shared/identity/oidc-token.js:20']);
  });

  it('counts every sample when there is no window', () => {
    expect(summarise(profile, root).samples).toBe(8);
  });

  it('tells the project\'s own frames from packages and groups frames by package', () => {
    expect([...projectKeys(profile, root)]).toEqual(['handle functions/http/exchange.js:10', 'verify shared/identity/oidc-token.js:20']);
    expect(isProjectFrame(frame('x', 'file:///repo/node_modules/shared/a.js'), root)).toBe(false);
    expect(groupOf(frame('x', 'file:///repo/node_modules/@google-cloud/functions-framework/build/src/a.js'), root)).toBe('node_modules/@google-cloud/functions-framework');
    expect(groupOf(frame('x', 'node:internal/crypto/util'), root)).toBe('node:internal/crypto');
    expect(groupOf(frame('x', 'node:internal/timers'), root)).toBe('node:internal/timers');
    expect(groupOf(frame('init', 'node:domain'), root)).toBe('node:domain');
    expect(groupOf(frame('writev'), root)).toBe('(native)');
    expect(groupOf(frame('main', 'file:///repo/dev/dev-stack.ts'), root)).toBe('dev');
    expect(summarise({ ...profile, nodes: profile.nodes.map((n) => (n.id === 2 ? { ...n, callFrame: frame('handle', 'file:///repo/functions/http/exchange.ts', 1) } : n)) }, root).inclusive.has('handle functions/http/exchange.ts')).toBe(true);
  });
});
