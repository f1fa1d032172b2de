/**
 * `npm run bench`: throughput, latency, memory and cold start of the broker, each reported
 * as a ratio against a baseline measured in the same run on the same machine:
 *   exchange over HTTP      vs a trivial JSON handler on the same Functions Framework server
 *   subject-token verify    vs a bare jose jwtVerify with the same key and options
 *   CEL condition           vs the same condition written as a JavaScript function
 *   cold start              vs requiring the Functions Framework alone
 * Every loop is bounded in time; every server binds 127.0.0.1.
 */
process.env.METADATA_SERVER_DETECTION ??= 'none';
process.env.BROKER_LOG = 'silent';

import { execFileSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { startDevStack } from '../dev/dev-stack';
import { verifyOidcToken } from '../shared/identity/oidc-token';
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
  const end = performance.now() + SECONDS * 1000;
  for (let i = 0; i < 20; i++) await op(); // warm-up
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

function report(title: string, baseline: Result, subject: Result): void {
  const fmt = (r: Result) =>
    `${r.name.padEnd(34)} ${r.opsPerSec.toFixed(0).padStart(9)} ops/s` +
    (r.p50Ms !== undefined ? `  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms?.toFixed(2)} ms` : '') +
    (r.extra ? `  ${r.extra}` : '');
  console.log(`\n## ${title}`);
  console.log(`  baseline  ${fmt(baseline)}`);
  console.log(`  measured  ${fmt(subject)}`);
  console.log(`  ratio     ${(subject.opsPerSec / baseline.opsPerSec).toFixed(3)} of baseline throughput`);
}

async function benchHttp(): Promise<void> {
  http('bench-trivial', (_req, res) => {
    res.status(200).set('Cache-Control', 'no-store').json({ ok: true });
  });
  const trivial = getTestServer('bench-trivial');
  await new Promise<void>((resolve) => trivial.listen(0, '127.0.0.1', resolve));
  const trivialUrl = `http://127.0.0.1:${(trivial.address() as AddressInfo).port}/token`;
  const stack = await startDevStack({ port: 0 });
  await stack.broker;
  const tokens = await Promise.all(Array.from({ length: 50 }, () => stack.issuer.sign({ sub: 'demo-workload', aud: stack.url, repository: 'acme/demo' })));
  const forms = tokens.map((t) => new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token_type: TOKEN_TYPE_JWT, subject_token: t }).toString());
  let i = 0;
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  const baseline = await load('trivial handler (POST)', async () => {
    const r = await fetch(trivialUrl, { method: 'POST', headers, body: forms[i++ % forms.length] });
    await r.arrayBuffer();
  });
  const exchange = await load('token exchange (verify+CEL+mint)', async () => {
    const r = await fetch(stack.tokenUrl, { method: 'POST', headers, body: forms[i++ % forms.length] });
    if (r.status !== 200) throw new Error(`exchange answered ${r.status}`);
    await r.arrayBuffer();
  });
  report('Token endpoint over HTTP (client, broker and IAM emulator share one process)', baseline, exchange);
  trivial.close();
  await stack.close();
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
  report('Subject-token verification (RS256, one core)', baseline, measured);
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
  report('Rule condition evaluation', baseline, measured);
  const regex = compileCondition("claims.ref.matches('^refs/(heads|tags)/v?[0-9]+')");
  const regexResult = await loop('CEL with matches()', () => regex.evaluate(claims));
  report('Rule condition with an RE2 regular expression', baseline, regexResult);
}

function benchColdStart(): void {
  const root = join(__dirname, '..');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  const time = (script: string) => {
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      execFileSync(process.execPath, ['-e', script], { cwd: root, env: { ...process.env, METADATA_SERVER_DETECTION: 'none' } });
      runs.push(performance.now() - start);
    }
    runs.sort((a, b) => a - b);
    return runs[2] ?? NaN;
  };
  const baseline = time("require('@google-cloud/functions-framework')");
  const broker = time("require('./dist/functions/index.js'); require('./dist/shared/broker.js')");
  console.log('\n## Cold start (node spawn → entry module loaded, median of 5)');
  console.log(`  baseline  functions-framework alone      ${baseline.toFixed(0)} ms`);
  console.log(`  measured  broker entry point (compiled)  ${broker.toFixed(0)} ms`);
  console.log(`  ratio     ${(broker / baseline).toFixed(2)}× baseline time`);
}

async function main(): Promise<void> {
  console.log(`# token-broker benchmarks (${SECONDS} s per measurement, concurrency ${CONCURRENCY}, node ${process.version})`);
  await benchVerify();
  await benchCel();
  await benchHttp();
  benchColdStart();
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
