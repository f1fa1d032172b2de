/**
 * The Terraform and the code agree: entry point, environment variables, Firestore collections
 * and the TTL field.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS } from '../../shared/config/defaults';
import { REPO_ROOT, TERRAFORM_ROOT, blocksOf, isObjectArray, parseTerraformTree, type TfBlock, type TfFile } from './schema-check';
import { TTL_FIELD, firestoreTtlFields, functionEnvironment, moduleContext, resolveValue } from './invariants';

const BROKER_DIR = 'terraform/modules/broker';
const read = (...p: string[]): string => readFileSync(join(REPO_ROOT, ...p), 'utf8');

function tsFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...tsFilesUnder(full));
    else if (name.endsWith('.ts')) out.push(full);
  }
  return out;
}

let files: TfFile[];

beforeAll(async () => {
  const parsed = await parseTerraformTree(TERRAFORM_ROOT);
  if (parsed.errors.length) throw new Error(`unparsable Terraform: ${parsed.errors.map((e) => `${e.file}: ${e.message}`).join('; ')}`);
  files = parsed.files;
}, 60_000);

function brokerFunction(): TfBlock {
  const fns = blocksOf(files, ['resource']).filter((b) => b.dir === BROKER_DIR && b.type === 'google_cloudfunctions2_function');
  if (fns.length !== 1) throw new Error(`${BROKER_DIR} must declare exactly one google_cloudfunctions2_function, found ${fns.length}`);
  return fns[0] as TfBlock;
}

/** Registered Functions Framework names: http('NAME', ...). */
function registeredFunctions(): string[] {
  return [...read('functions', 'index.ts').matchAll(/\bhttp\(\s*['"]([^'"]+)['"]/g)].map((m) => m[1] as string);
}

test('entry_point is the name registered in functions/index.ts', () => {
  const registered = registeredFunctions();
  expect(registered).toEqual(['broker']);
  const fn = brokerFunction();
  const build = isObjectArray(fn.body.build_config) ? fn.body.build_config[0] : undefined;
  const entryPoint = resolveValue(build?.entry_point, moduleContext(files, fn.dir));
  expect(entryPoint).toBe(registered[0]);
});

describe('environment variables', () => {
  const envSource = [read('shared', 'config', 'environment.ts'), ...tsFilesUnder(join(REPO_ROOT, 'functions')).map((f) => readFileSync(f, 'utf8'))].join('\n');

  test('every BROKER_* variable the function sets is one the code reads', () => {
    const names = [...functionEnvironment(brokerFunction(), files).keys()].filter((n) => n.startsWith('BROKER_'));
    expect(names.length).toBeGreaterThan(0);
    const unknown = names.filter((n) => !new RegExp(`\\b${n}\\b`).test(envSource));
    expect(unknown).toEqual([]);
  });

  test('BROKER_POLICY_FILE is set', () => {
    expect(functionEnvironment(brokerFunction(), files).has('BROKER_POLICY_FILE')).toBe(true);
  });

  test('no development-only setting reaches the deployment', () => {
    const env = functionEnvironment(brokerFunction(), files);
    expect([...env.keys()].filter((n) => ['BROKER_DEV_SOURCE_TOKEN', 'BROKER_CACHE_LOCAL_KEY'].includes(n))).toEqual([]);
    const mode = env.get('BROKER_MODE');
    if (mode !== undefined) expect(resolveValue(mode, moduleContext(files, BROKER_DIR))).not.toBe('development');
  });

  test('BROKER_CACHE_COLLECTION, when set, defaults to the code default and has a TTL policy', () => {
    const value = functionEnvironment(brokerFunction(), files).get('BROKER_CACHE_COLLECTION');
    if (value === undefined) return;
    const resolved = resolveValue(value, moduleContext(files, BROKER_DIR));
    expect(resolved).toBe(DEFAULTS.cacheCollection);
    expect(firestoreTtlFields(files).some((f) => f.collection === resolved && f.field === TTL_FIELD && f.ttl)).toBe(true);
  });
});

describe('Firestore collections and the TTL field', () => {
  const replaySource = read('shared', 'identity', 'replay-store.ts');
  const limiterSource = read('shared', 'limits', 'rate-limiter.ts');
  const cacheSource = read('shared', 'cache', 'firestore-store.ts');
  const issuedSource = read('shared', 'introspection', 'issued-tokens.ts');

  const codeCollections = (): string[] => {
    // The stores take their collection from DEFAULTS unless told otherwise.
    expect(replaySource).toMatch(/DEFAULTS\.replayCollection/);
    expect(limiterSource).toMatch(/options\.collection \?\? DEFAULTS\.limitsCollection/);
    expect(issuedSource).toMatch(/options\.collection \?\? DEFAULTS\.issuedTokensCollection/);
    // User sign-in (sessions, pending logins): shared/sign-in/ is still being written, so only
    // the DEFAULTS are checked here, not that its stores use them.
    return [
      DEFAULTS.cacheCollection,
      DEFAULTS.replayCollection,
      DEFAULTS.limitsCollection,
      DEFAULTS.issuedTokensCollection,
      DEFAULTS.sessionsCollection,
      DEFAULTS.loginAttemptsCollection,
    ];
  };

  test('the code defaults are the six collections the Terraform covers', () => {
    expect(codeCollections()).toEqual([
      'token-broker-cache',
      'token-broker-replay',
      'token-broker-limits',
      'token-broker-issued',
      'token-broker-sessions',
      'token-broker-logins',
    ]);
  });

  test('the TTL collection groups of the broker module are exactly the code defaults', () => {
    const ttl = firestoreTtlFields(files).filter((f) => f.block.dir === BROKER_DIR && f.field === TTL_FIELD && f.ttl);
    expect(ttl.map((f) => f.collection).sort()).toEqual([...codeCollections()].sort());
  });

  test('cache.collection may not be another store\'s collection', () => {
    const variables = read(BROKER_DIR, 'variables.tf');
    const reserved = /!contains\(\[([^\]]*)\], var\.cache\.collection\)/.exec(variables);
    expect(reserved).not.toBeNull();
    const names = [...(reserved?.[1] ?? '').matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    expect(names.sort()).toEqual(codeCollections().filter((c) => c !== DEFAULTS.cacheCollection).sort());
  });

  test(`the code writes ${TTL_FIELD} in each collection`, () => {
    for (const source of [cacheSource, replaySource, limiterSource, issuedSource]) expect(source).toMatch(new RegExp(`\\b${TTL_FIELD}:`));
    // The cache's entry and lease documents both carry it.
    expect(cacheSource).toMatch(/expireAt: lease\.leaseUntil/);
    expect(cacheSource).toMatch(/expireAt: Ts\.fromMillis\(token\.expiresAtMs\)/);
  });

  test(`every collection the code uses has a TTL policy on ${TTL_FIELD}, and no TTL policy names another field`, () => {
    const ttl = firestoreTtlFields(files).filter((f) => f.block.dir === BROKER_DIR);
    for (const collection of codeCollections()) {
      expect({ collection, ttl: ttl.some((f) => f.collection === collection && f.field === TTL_FIELD && f.ttl) }).toEqual({ collection, ttl: true });
    }
    expect(ttl.filter((f) => f.ttl && f.field !== TTL_FIELD).map((f) => `${f.collection}.${f.field}`)).toEqual([]);
  });
});

it('the function timeout the module accepts is always above the broker\'s request deadline', () => {
  const variables = read(BROKER_DIR, 'variables.tf');
  const minimum = /var\.function_config\.timeout_seconds >= (\d+)/.exec(variables);
  const fallback = /timeout_seconds\s+= optional\(number, (\d+)\)/.exec(variables);
  expect(minimum).not.toBeNull();
  expect(fallback).not.toBeNull();
  // a margin for the answer and the audit entry to leave before the platform cuts the request off
  expect(Number(minimum?.[1]) * 1000).toBeGreaterThanOrEqual(DEFAULTS.requestDeadlineMs + 5_000);
  expect(Number(fallback?.[1])).toBeGreaterThanOrEqual(Number(minimum?.[1]));
});
