import { CelConditionError, compileCondition, type CelOutcome } from '../../shared/policy/cel';

/** A prototype-free claim tree, as the claim copier builds it. */
function claimsOf(value: Record<string, unknown>): Readonly<Record<string, unknown>> {
  const wrap = (v: unknown): unknown => {
    if (Array.isArray(v)) return Object.freeze(v.map(wrap));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = Object.create(null);
      for (const [k, item] of Object.entries(v)) out[k] = wrap(item);
      return Object.freeze(out);
    }
    return v;
  };
  return wrap(value) as Readonly<Record<string, unknown>>;
}

function run(condition: string, claims: Readonly<Record<string, unknown>>): CelOutcome {
  return compileCondition(condition).evaluate(claims);
}

function compileError(condition: string): CelConditionError {
  try {
    compileCondition(condition);
  } catch (err) {
    expect(err).toBeInstanceOf(CelConditionError);
    return err as CelConditionError;
  }
  throw new Error(`expected ${JSON.stringify(condition)} not to compile`);
}

const github = claimsOf({
  iss: 'https://token.actions.githubusercontent.com',
  aud: 'https://github.com/acme',
  sub: 'repo:acme/app:ref:refs/heads/main',
  repository: 'acme/app',
  repository_owner: 'acme',
  repository_owner_id: '12345',
  ref: 'refs/heads/main',
  ref_type: 'branch',
  event_name: 'push',
  workflow_ref: 'acme/app/.github/workflows/deploy.yml@refs/heads/main',
  job_workflow_ref: 'acme/workflows/.github/workflows/deploy.yml@refs/tags/v1',
  iat: 1_700_000_000,
  nbf: 1_700_000_000,
  exp: 1_700_000_300,
});

describe('compileCondition: compile errors', () => {
  it.each([
    ['syntax error', "claims.sub == 'x' &&"],
    ['unterminated string', "claims.sub == 'x"],
    ['empty condition', ''],
    ['undeclared variable', "request.sub == 'x'"],
    ['undeclared variable inside an expression', "claims.sub == expected"],
    ['comprehension variable used outside its macro', "claims.groups.exists(g, g == 'a') && g == 'a'"],
    ['unknown function', 'bogus(claims.sub)'],
    ['unknown method', 'claims.sub.bogus()'],
    ['method with the wrong number of arguments', 'claims.sub.startsWith()'],
    ['function with the wrong number of arguments', "size(claims.sub, 'x')"],
    ['literal regex RE2 rejects (lookahead)', "claims.sub.matches('repo(?=:)')"],
    ['literal regex that does not parse', "claims.sub.matches('[')"],
    ['message construction', 'google.protobuf.Duration{seconds: 1} == claims.d'],
  ])('%s: throws CelConditionError with a position', (_label, condition) => {
    const err = compileError(condition);
    expect(err.name).toBe('CelConditionError');
    expect(typeof err.position).toBe('number');
    expect(err.message).toMatch(/line \d+, column \d+/);
  });

  it('reports where a syntax error is', () => {
    const err = compileError("claims.sub == 'x' &&\n  ) claims.ref == 'y'");
    expect(err.message).toMatch(/^syntax error at line \d+, column \d+: /);
    expect(err.position).toBeGreaterThanOrEqual(0);
  });

  it('names the undeclared identifier and where it is', () => {
    const err = compileError("claims.sub == 'x' && attribute.ref == 'y'");
    expect(err.message).toContain("undeclared reference to 'attribute'");
    expect(err.message).toContain('line 1, column 22');
    expect(err.position).toBe(21);
  });

  it('reports the line of an error in a multi-line condition', () => {
    const err = compileError("claims.sub == 'x' &&\n  claims.ref == branch");
    expect(err.message).toContain("'branch'");
    expect(err.message).toContain('line 2, column 17');
  });

  it('names unknown functions and arity mismatches', () => {
    expect(compileError('claims.sub.bogus()').message).toContain("unknown method '.bogus()'");
    expect(compileError('nope(1)').message).toContain("unknown function 'nope()'");
    expect(compileError('claims.sub.startsWith()').message).toContain("no overload of method '.startsWith()' takes 0 argument(s)");
  });

  it('turns absurd nesting into a CelConditionError, not a stack overflow', () => {
    expect(compileError('('.repeat(3000) + 'true' + ')'.repeat(3000))).toBeInstanceOf(CelConditionError);
  });

  it('accepts the standard library, macros, type names, the strings extension and namespaced functions', () => {
    for (const condition of [
      'true',
      "has(claims.sub) && size(claims.sub) > 0 && claims.sub.size() > 0",
      "claims.groups.all(g, g != '') && claims.groups.exists_one(g, g == 'a') && claims.groups.map(g, g + '!').size() == 2",
      "claims.groups.filter(g, g.startsWith('a')).size() == 1",
      'type(claims.exp) == int || type(claims.exp) == double',
      "claims.sub.lowerAscii().split(':')[0] == 'repo'",
      "strings.quote(claims.sub) != ''",
      "{'k': claims.sub}.k == claims.sub && [1, 'a'].size() == 2",
      "claims.sub.matches('(?i)^REPO:')",
      "int(claims.exp) > 0 && string(claims.exp) != '' && double(claims.exp) > 0.0",
      "claims.sub != '' ? true : false",
    ]) {
      expect(() => compileCondition(condition)).not.toThrow();
    }
  });

  it('keeps the source', () => {
    expect(compileCondition("claims.sub == 'x'").source).toBe("claims.sub == 'x'");
  });
});

describe('CompiledCondition.evaluate: outcomes', () => {
  it('matched', () => {
    expect(run("claims.repository == 'acme/app'", github)).toEqual({ matched: true });
  });

  it('false', () => {
    expect(run("claims.repository == 'acme/other'", github)).toEqual({ matched: false, reason: 'false' });
  });

  it('error: a missing key, with the key and its position in the detail', () => {
    const outcome = run("claims.environment == 'production'", github);
    expect(outcome).toMatchObject({ matched: false, reason: 'error' });
    expect(!outcome.matched && outcome.detail).toMatch(/environment.*line 1, column \d+/);
  });

  it('error: a type mismatch', () => {
    expect(run('claims.sub < 1', github)).toMatchObject({ matched: false, reason: 'error' });
    expect(run("claims.sub.startsWith('repo:') && claims.iat.startsWith('1')", github)).toMatchObject({ matched: false, reason: 'error' });
  });

  it('equality across types is false, not an error (CEL heterogeneous equality)', () => {
    expect(run('claims.sub == 1', github)).toEqual({ matched: false, reason: 'false' });
    expect(run('claims.sub != 1', github)).toEqual({ matched: true });
  });

  it('error: a regex only known at evaluation that RE2 rejects', () => {
    const claims = claimsOf({ sub: 'abc', pattern: 'a(?=b)' });
    expect(run('claims.sub.matches(claims.pattern)', claims)).toMatchObject({ matched: false, reason: 'error' });
  });

  it('not_bool, naming the type', () => {
    expect(run('claims.sub', github)).toEqual({ matched: false, reason: 'not_bool', detail: 'condition evaluated to string, not bool' });
    expect(run('claims.exp', github)).toMatchObject({ matched: false, reason: 'not_bool', detail: expect.stringContaining('int') });
    expect(run('[claims.sub]', github)).toMatchObject({ matched: false, reason: 'not_bool' });
  });

  it('&& and || are commutative over errors', () => {
    expect(run("false && claims.nope == 'x'", github)).toEqual({ matched: false, reason: 'false' });
    expect(run("claims.nope == 'x' && false", github)).toEqual({ matched: false, reason: 'false' });
    expect(run("true || claims.nope == 'x'", github)).toEqual({ matched: true });
    expect(run("claims.nope == 'x' || true", github)).toEqual({ matched: true });
    expect(run("claims.nope == 'x' || false", github)).toMatchObject({ matched: false, reason: 'error' });
    expect(run("claims.nope == 'x' && true", github)).toMatchObject({ matched: false, reason: 'error' });
  });

  it('has() tests presence without an error', () => {
    expect(run('has(claims.sub)', github)).toEqual({ matched: true });
    expect(run('has(claims.environment)', github)).toEqual({ matched: false, reason: 'false' });
    expect(run("!has(claims.environment) || claims.environment == 'production'", github)).toEqual({ matched: true });
    expect(run("'sub' in claims && !('environment' in claims)", github)).toEqual({ matched: true });
  });
});

describe('numbers', () => {
  const claims = claimsOf({ iat: 1_700_000_000, exp: 1_700_003_600, ratio: 0.5, huge: 2 ** 60 });

  it('JSON integers are CEL int: comparisons and int arithmetic work', () => {
    expect(run('claims.iat > 100', claims)).toEqual({ matched: true });
    expect(run('claims.exp - claims.iat <= 3600', claims)).toEqual({ matched: true });
    expect(run('claims.iat + 60 < claims.exp', claims)).toEqual({ matched: true });
    expect(run('type(claims.iat) == int', claims)).toEqual({ matched: true });
  });

  it('int compares with double, but does not mix in arithmetic', () => {
    expect(run('claims.exp > 5.0', claims)).toEqual({ matched: true });
    expect(run('claims.iat == 1700000000.0', claims)).toEqual({ matched: true });
    expect(run('claims.ratio < 1 && type(claims.ratio) == double', claims)).toEqual({ matched: true });
    expect(run('claims.ratio * 2.0 == 1.0', claims)).toEqual({ matched: true });
    expect(run('claims.ratio * 2 == 1.0', claims)).toMatchObject({ matched: false, reason: 'error' });
  });

  it('integers beyond 2^53 stay double', () => {
    expect(run('type(claims.huge) == double && claims.huge > 1', claims)).toEqual({ matched: true });
  });
});

describe('GitHub Actions-like conditions', () => {
  it('repository, branch and event', () => {
    const condition = compileCondition(
      "claims.repository == 'acme/app' && claims.ref.startsWith('refs/heads/') && claims.event_name in ['push', 'workflow_dispatch']",
    );
    expect(condition.evaluate(github)).toEqual({ matched: true });
    expect(condition.evaluate(claimsOf({ ...github, event_name: 'pull_request' }))).toEqual({ matched: false, reason: 'false' });
    expect(condition.evaluate(claimsOf({ ...github, ref: 'refs/tags/v1' }))).toEqual({ matched: false, reason: 'false' });
  });

  it('subject regex, owner id and reusable workflow', () => {
    expect(run("claims.sub.matches('^repo:acme/app:ref:refs/heads/(main|release-[0-9]+)$')", github)).toEqual({ matched: true });
    expect(run("claims.sub.matches('^repo:acme/app:ref:refs/heads/(main|release-[0-9]+)$')", claimsOf({ ...github, sub: 'repo:acme/app:ref:refs/heads/mainx' }))).toEqual({
      matched: false,
      reason: 'false',
    });
    expect(run("claims.repository_owner_id == '12345' && claims.job_workflow_ref.startsWith('acme/workflows/.github/workflows/deploy.yml@')", github)).toEqual({
      matched: true,
    });
    expect(run("claims.workflow_ref.endsWith('@refs/heads/main') && claims.sub.contains(':ref:')", github)).toEqual({ matched: true });
  });

  it('an optional environment claim guarded with has()', () => {
    const condition = compileCondition("has(claims.environment) && claims.environment == 'production'");
    expect(condition.evaluate(github)).toEqual({ matched: false, reason: 'false' });
    expect(condition.evaluate(claimsOf({ ...github, environment: 'production' }))).toEqual({ matched: true });
  });
});

describe('GitLab-like conditions', () => {
  const gitlab = claimsOf({
    iss: 'https://gitlab.example.com',
    aud: ['https://broker.example.com', 'other'],
    sub: 'project_path:acme/infra:ref_type:branch:ref:main',
    namespace_path: 'acme',
    project_path: 'acme/infra',
    ref: 'main',
    ref_type: 'branch',
    ref_protected: 'true',
    pipeline_source: 'push',
    user_email: 'Dev@Acme.example',
  });

  it('protected branch of a project in the namespace', () => {
    expect(
      run(
        "claims.namespace_path == 'acme' && claims.project_path.endsWith('/infra') && claims.ref_type == 'branch' && claims.ref_protected == 'true' && claims.pipeline_source in ['push', 'web']",
        gitlab,
      ),
    ).toEqual({ matched: true });
    expect(run("claims.ref_protected == 'true'", claimsOf({ ...gitlab, ref_protected: 'false' }))).toEqual({ matched: false, reason: 'false' });
  });

  it('aud as a list, and a condition that accepts aud as string or list', () => {
    expect(run("'https://broker.example.com' in claims.aud", gitlab)).toEqual({ matched: true });
    const either = compileCondition("type(claims.aud) == list ? 'https://broker.example.com' in claims.aud : claims.aud == 'https://broker.example.com'");
    expect(either.evaluate(gitlab)).toEqual({ matched: true });
    expect(either.evaluate(claimsOf({ ...gitlab, aud: 'https://broker.example.com' }))).toEqual({ matched: true });
    // `in` on a string aud is an error in CEL, never a substring test.
    expect(run("'broker' in claims.aud", claimsOf({ ...gitlab, aud: 'https://broker.example.com' }))).toMatchObject({ matched: false, reason: 'error' });
  });

  it('strings extension', () => {
    expect(run("claims.user_email.lowerAscii().endsWith('@acme.example')", gitlab)).toEqual({ matched: true });
  });
});

describe('Kubernetes-like conditions', () => {
  const kubernetes = claimsOf({
    iss: 'https://kubernetes.default.svc.cluster.local',
    aud: ['https://broker.example.com'],
    sub: 'system:serviceaccount:prod:deployer',
    'kubernetes.io': {
      namespace: 'prod',
      serviceaccount: { name: 'deployer', uid: '1b2c' },
      pod: { name: 'deployer-7d9', uid: '3d4e' },
    },
    groups: ['system:serviceaccounts', 'system:serviceaccounts:prod'],
  });

  it('nested maps through index and select', () => {
    expect(run("claims['kubernetes.io']['namespace'] == 'prod' && claims['kubernetes.io'].serviceaccount.name == 'deployer'", kubernetes)).toEqual({
      matched: true,
    });
    expect(run("has(claims['kubernetes.io'].pod) && claims['kubernetes.io'].pod.name.startsWith('deployer-')", kubernetes)).toEqual({ matched: true });
    expect(run("claims['kubernetes.io'].node.name == 'n1'", kubernetes)).toMatchObject({ matched: false, reason: 'error' });
  });

  it('subject, audience and groups', () => {
    expect(run("claims.sub == 'system:serviceaccount:prod:deployer' && 'https://broker.example.com' in claims.aud", kubernetes)).toEqual({ matched: true });
    expect(run("'system:serviceaccounts:prod' in claims.groups", kubernetes)).toEqual({ matched: true });
    expect(run("claims.groups.exists(g, g.endsWith(':staging'))", kubernetes)).toEqual({ matched: false, reason: 'false' });
  });
});

describe('assertion alias (Workload Identity Federation conditions)', () => {
  it('assertion is the same map as claims', () => {
    expect(run("assertion.repository_owner == 'acme' && assertion.sub == claims.sub", github)).toEqual({ matched: true });
    expect(run("assertion['ref'].startsWith('refs/heads/')", github)).toEqual({ matched: true });
  });
});

describe('client: the client that authenticated the request', () => {
  const web = claimsOf({ client_id: 'web-app', auth_method: 'api_key', api_key_id: 'k1' });
  const condition = compileCondition("client.client_id == 'web-app' && claims.email_verified == true");
  const user = claimsOf({ sub: 'u1', email_verified: true });

  it('sees the client\'s id and authentication method', () => {
    expect(condition.evaluate(user, web)).toEqual({ matched: true });
    expect(compileCondition("client.auth_method == 'api_key' && client.api_key_id == 'k1'").evaluate(user, web)).toEqual({ matched: true });
  });

  it('another client does not match', () => {
    expect(condition.evaluate(user, claimsOf({ client_id: 'other', auth_method: 'client_secret_basic' }))).toEqual({ matched: false, reason: 'false' });
  });

  it('no client at all is an empty map: a condition on it fails closed, has() tells', () => {
    expect(condition.evaluate(user)).toMatchObject({ matched: false, reason: 'error' });
    expect(compileCondition('!has(client.client_id)').evaluate(user)).toEqual({ matched: true });
    expect(compileCondition('!has(client.client_id)').evaluate(user, web)).toEqual({ matched: false, reason: 'false' });
  });
});

describe('claims objects', () => {
  it('works on prototype-free objects, nested too', () => {
    const claims: Record<string, unknown> = Object.create(null);
    const nested: Record<string, unknown> = Object.create(null);
    nested['name'] = 'deployer';
    claims['sub'] = 'abc';
    claims['sa'] = nested;
    claims['exp'] = 10;
    expect(Object.getPrototypeOf(claims)).toBeNull();
    expect(run("claims.sub == 'abc' && claims.sa.name == 'deployer' && claims.exp == 10", claims)).toEqual({ matched: true });
  });

  it('works on ordinary objects without exposing Object.prototype', () => {
    const claims = { sub: 'abc' };
    expect(run("claims.sub == 'abc'", claims)).toEqual({ matched: true });
    for (const key of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      expect(run(`has(claims.${key})`, claims)).toEqual({ matched: false, reason: 'false' });
      expect(run(`'${key}' in claims`, claims)).toEqual({ matched: false, reason: 'false' });
    }
  });

  it('treats undefined values as absent', () => {
    expect(run('has(claims.missing)', { sub: 'a', missing: undefined })).toEqual({ matched: false, reason: 'false' });
  });

  it('reports values CEL cannot represent as an error, without throwing', () => {
    expect(run("claims.sub == 'a'", { sub: 'a', fn: () => 1 })).toMatchObject({ matched: false, reason: 'error' });
  });
});

describe('hostile claim values', () => {
  it('a "__proto__" claim is an ordinary key and pollutes nothing', () => {
    const claims = JSON.parse('{"sub":"x","__proto__":{"admin":true}}') as Record<string, unknown>;
    expect(run('has(claims.admin)', claims)).toEqual({ matched: false, reason: 'false' });
    expect(run("claims['__proto__'].admin == true", claims)).toEqual({ matched: true });
    expect(run("claims['__proto__'].admin == true && !has(claims.admin)", claimsOf({ sub: 'x', ['__proto__']: { admin: true } }))).toEqual({ matched: true });
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
  });

  it('a claim named "constructor" is an ordinary key', () => {
    const claims = JSON.parse('{"sub":"x","constructor":"y","nested":{"constructor":{"name":"Object"}}}') as Record<string, unknown>;
    expect(run("claims.constructor == 'y' && claims.nested.constructor.name == 'Object'", claims)).toEqual({ matched: true });
  });

  it('very long strings', () => {
    const long = 'repo:acme/app:ref:refs/heads/' + 'a'.repeat(1_000_000);
    const claims = claimsOf({ sub: long });
    expect(run("claims.sub.startsWith('repo:acme/app:') && size(claims.sub) > 1000000", claims)).toEqual({ matched: true });
    expect(run("claims.sub.contains('zzz')", claims)).toEqual({ matched: false, reason: 'false' });
  });

  it('a backtracking-prone regex stays linear on a long attacker-chosen value (RE2)', () => {
    const claims = claimsOf({ ref: 'a'.repeat(20_000) + '!' });
    const started = Date.now();
    expect(run("claims.ref.matches('^(a+)+$')", claims)).toEqual({ matched: false, reason: 'false' });
    expect(Date.now() - started).toBeLessThan(5_000); // a backtracking engine would not finish
  });

  it('unicode: size() counts code points', () => {
    expect(run('size(claims.name) == 2', claimsOf({ name: 'é😀' }))).toEqual({ matched: true });
  });

  it('claims nested beyond the limit are an error, not a stack overflow', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 100; i++) deep = { d: deep };
    expect(run("claims.sub == 'a'", { sub: 'a', deep })).toMatchObject({ matched: false, reason: 'error', detail: expect.stringContaining('nested') });
  });
});
