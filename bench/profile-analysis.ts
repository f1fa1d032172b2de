/**
 * Reading a `node --cpu-prof` profile (V8's .cpuprofile JSON) for the profile suite of
 * `npm run bench`: only the samples inside a time window, each weighted by the time until the
 * next sample, then self time by frame, inclusive time by frame (a frame counted once per sample
 * however often it recurs on the stack) and inclusive time by group (node_modules package,
 * node: module, project directory). Pure functions: no files, no processes.
 */

export interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }
export interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime?: number; samples: number[]; timeDeltas: number[] }

export interface ProfileSummary {
  /** µs of samples in the window that were not (idle): the main thread's CPU, as profiled. */
  busyUs: number;
  idleUs: number;
  samples: number;
  /** Self µs by frame key, (idle) and (root) left out. */
  self: Map<string, number>;
  /** Inclusive µs by frame key. */
  inclusive: Map<string, number>;
  /** Inclusive µs by group (see groupOf). */
  groups: Map<string, number>;
}

const SPECIAL = new Set(['(root)', '(idle)', '(program)', '(garbage collector)']);

/** A project-relative path for a profile url: `shared/x.ts`, `node_modules/pkg/...`, `node:internal/...`. */
export function shortUrl(url: string, root: string): string {
  return url.replace(/^file:\/\//, '').replace(`${root.replace(/\/$/, '')}/`, '').replace(/.*node_modules\//, 'node_modules/');
}

/**
 * `name file:line`; TypeScript files run through tsx report positions in the transpiled code, not
 * source lines, so they go without a line.
 */
export function frameKey(frame: ProfileNode['callFrame'], root: string): string {
  const short = frame.url ? shortUrl(frame.url, root) : '';
  const where = !short ? '' : /\.[cm]?ts$/.test(short) ? short : `${short}:${frame.lineNumber + 1}`;
  return `${frame.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
}

/** Whether a frame is the project's own code (shared/, functions/, dev/, or the bundle in dist/; not node_modules). */
export function isProjectFrame(frame: ProfileNode['callFrame'], root: string): boolean {
  if (!frame.url || frame.url.includes('/node_modules/')) return false;
  return /^(shared|functions|dev|dist)\//.test(shortUrl(frame.url, root));
}

/**
 * The group of a frame: `node_modules/<pkg>` (scoped packages keep their scope), `node:internal/<dir>`
 * or `node:<module>`, `shared/<dir>`, `functions/<dir>`, `dev`, `bench`, other project files by
 * their top directory, `(garbage collector)`/`(program)`, and `(native)` for frames without a url.
 */
export function groupOf(frame: ProfileNode['callFrame'], root: string): string {
  const { url, functionName } = frame;
  if (!url) return SPECIAL.has(functionName) ? functionName : '(native)';
  const short = shortUrl(url, root);
  const pkg = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(short);
  if (pkg) return `node_modules/${pkg[1]}`;
  const internal = /^node:internal\/([^/]+?)(?:\.js)?(?:\/|$)/.exec(short);
  if (internal) return `node:internal/${internal[1]}`;
  if (short.startsWith('node:')) return short.replace(/\.js$/, '');
  const parts = short.split('/');
  if ((parts[0] === 'shared' || parts[0] === 'functions') && parts.length > 2) return `${parts[0]}/${parts[1]}`;
  if (parts.length > 1 && !short.startsWith('/')) return parts[0]!;
  return short;
}

/**
 * Summarises the samples taken in [fromUs, toUs] (the profile's clock: CLOCK_MONOTONIC µs, the
 * clock of process.hrtime). Each sample weighs the time until the next one (the last one the mean).
 */
export function summarise(profile: CpuProfile, root: string, fromUs = -Infinity, toUs = Infinity): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const times: number[] = [];
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) times.push((t += profile.timeDeltas[i] ?? 0));
  const meanInterval = times.length > 1 ? (times.at(-1)! - times[0]!) / (times.length - 1) : 0;
  const weightById = new Map<number, number>();
  let samples = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const at = times[i]!;
    if (at < fromUs || at > toUs) continue;
    const weight = i + 1 < times.length ? times[i + 1]! - at : meanInterval;
    const id = profile.samples[i]!;
    weightById.set(id, (weightById.get(id) ?? 0) + weight);
    samples++;
  }
  const summary: ProfileSummary = { busyUs: 0, idleUs: 0, samples, self: new Map(), inclusive: new Map(), groups: new Map() };
  const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);
  for (const [id, us] of weightById) {
    const node = byId.get(id);
    if (!node) continue;
    if (node.callFrame.functionName === '(idle)' && !node.callFrame.url) {
      summary.idleUs += us;
      continue;
    }
    summary.busyUs += us;
    if (node.callFrame.functionName !== '(root)' || node.callFrame.url) add(summary.self, frameKey(node.callFrame, root), us);
    const keys = new Set<string>();
    const groups = new Set<string>();
    for (let at: ProfileNode | undefined = node; at; at = byId.get(parent.get(at.id) ?? -1)) {
      if (at.callFrame.functionName === '(root)' && !at.callFrame.url) continue;
      keys.add(frameKey(at.callFrame, root));
      groups.add(groupOf(at.callFrame, root));
    }
    for (const key of keys) add(summary.inclusive, key, us);
    for (const group of groups) add(summary.groups, group, us);
  }
  return summary;
}

/** The top `n` entries of a map by value, largest first. */
export function top(map: Map<string, number>, n: number, filter: (key: string) => boolean = () => true): [string, number][] {
  return [...map.entries()].filter(([key]) => filter(key)).sort((a, b) => b[1] - a[1]).slice(0, n);
}

/** The keys of frames that are project code, for filtering `inclusive`. */
export function projectKeys(profile: CpuProfile, root: string): Set<string> {
  return new Set(profile.nodes.filter((n) => isProjectFrame(n.callFrame, root)).map((n) => frameKey(n.callFrame, root)));
}
