/**
 * Narrowing a rule's grant to the request: the scopes asked for must all be the rule's (none
 * asked: all of the rule's), sorted and without repeats; the lifetime is min(requested, rule
 * maximum, the 3600 s ceiling) and never below the 60 s minimum. Nothing is widened, and a
 * scope the rule lacks refuses the request instead of being dropped.
 */
import { DEFAULTS } from '../../shared/config/defaults';
import { compileCondition } from '../../shared/policy/cel';
import { compilePolicy } from '../../shared/policy/compile-policy';
import type { CompiledRule } from '../../shared/policy/compiled-policy';
import { parsePolicyText } from '../../shared/policy/parse-document';
import { resolveGrant } from '../../shared/policy/resolve-grant';
import { refusal } from '../helpers/rejection';

const ISSUER = 'https://token.actions.githubusercontent.com';
const SA = 'deployer@acme-prod.iam.gserviceaccount.com';
const CLOUD = 'https://www.googleapis.com/auth/cloud-platform';
const GEMINI = 'https://www.googleapis.com/auth/generative-language';
const STORAGE = 'https://www.googleapis.com/auth/devstorage.read_only';

/** One compiled rule granting `scopes` for at most `maxLifetime` seconds (the policy default when undefined). */
function compiledRule(scopes: string[], maxLifetime?: number, delegates?: string[], scopeRequest?: 'exact' | 'intersect'): CompiledRule {
  const document = {
    version: 1,
    issuers: [{ issuer: ISSUER, audiences: ['https://broker.example.com'] }],
    rules: [{ id: 'deploy', issuer: ISSUER, condition: 'true', grant: { service_account: SA, scopes, max_lifetime_seconds: maxLifetime, delegates, scope_request: scopeRequest } }],
  };
  const policy = compilePolicy(parsePolicyText(JSON.stringify(document), 'policy.json'), { source: 'policy.json', network: { allowInsecureLoopback: false } });
  return policy.rules[0] as CompiledRule;
}

describe('scopes', () => {
  const rule = compiledRule([STORAGE, CLOUD, GEMINI]);

  it('grants every scope of the rule when none is asked for (undefined or an empty list)', () => {
    expect(resolveGrant(rule, undefined).scopes).toEqual(rule.grant.scopes);
    expect(resolveGrant(rule, []).scopes).toEqual(rule.grant.scopes);
  });

  it('narrows to the scopes asked for, sorted and without repeats', () => {
    expect(resolveGrant(rule, [GEMINI]).scopes).toEqual([GEMINI]);
    expect(resolveGrant(rule, [GEMINI, STORAGE, GEMINI, STORAGE]).scopes).toEqual([STORAGE, GEMINI]); // devstorage… sorts before generative-…
    expect(resolveGrant(rule, [GEMINI, CLOUD]).scopes).toEqual(resolveGrant(rule, [CLOUD, GEMINI]).scopes);
  });

  it('refuses the whole request when one scope is not the rule\'s, rather than dropping it', () => {
    expect(refusal(() => resolveGrant(rule, [CLOUD, 'https://www.googleapis.com/auth/iam']))).toEqual({
      code: 'invalid_scope', status: 400, reason: 'scope_not_allowed', message: 'a requested scope is not granted by the policy',
    });
  });

  it.each([
    ['another case', CLOUD.toUpperCase()],
    ['a trailing slash', `${CLOUD}/`],
    ['surrounding space', ` ${CLOUD}`],
    ['a prefix of a granted scope', 'https://www.googleapis.com/auth/cloud'],
    ['a granted scope with a suffix', `${CLOUD}.read-only`],
    ['plain http', CLOUD.replace('https:', 'http:')],
    ['two scopes in one string', `${CLOUD} ${GEMINI}`],
    ['an empty string', ''],
    ['"__proto__"', '__proto__'],
    ['"constructor"', 'constructor'],
    ['"toString"', 'toString'],
  ])('refuses %s as invalid_scope', (_, hostile) => {
    expect(refusal(() => resolveGrant(rule, [hostile]))).toMatchObject({ code: 'invalid_scope', reason: 'scope_not_allowed' });
    expect(refusal(() => resolveGrant(rule, [GEMINI, hostile]))).toMatchObject({ code: 'invalid_scope', reason: 'scope_not_allowed' });
  });

  it('never widens: a rule with one scope grants only that one', () => {
    const narrow = compiledRule([GEMINI]);
    expect(resolveGrant(narrow, undefined).scopes).toEqual([GEMINI]);
    expect(refusal(() => resolveGrant(narrow, [CLOUD])).code).toBe('invalid_scope');
  });

  it('leaves the rule untouched', () => {
    const before = JSON.stringify(rule.grant);
    resolveGrant(rule, [GEMINI], 120);
    expect(JSON.stringify(rule.grant)).toBe(before);
  });
});

describe('lifetime', () => {
  const min = DEFAULTS.minTokenLifetimeSeconds;
  const ceiling = DEFAULTS.maxTokenLifetimeSecondsCeiling;

  it('is the rule maximum when none is asked for', () => {
    expect(resolveGrant(compiledRule([CLOUD], 900), undefined).lifetimeSeconds).toBe(900);
    expect(resolveGrant(compiledRule([CLOUD]), undefined).lifetimeSeconds).toBe(ceiling);
  });

  it.each([
    [min, min],
    [min + 1, min + 1],
    [899, 899],
    [900, 900],
    [901, 900],
    [ceiling, 900],
    [1e9, 900],
    [Number.MAX_SAFE_INTEGER, 900],
    [Number.POSITIVE_INFINITY, 900],
  ])('asked for %p s under a 900 s rule, gets %p s', (requested, granted) => {
    expect(resolveGrant(compiledRule([CLOUD], 900), undefined, requested).lifetimeSeconds).toBe(granted);
  });

  it('is never above the broker ceiling, whatever the rule says', () => {
    const compiled = compiledRule([CLOUD]);
    const beyond: CompiledRule = { ...compiled, grant: { ...compiled.grant, maxLifetimeSeconds: 2 * ceiling } };
    expect(resolveGrant(beyond, undefined).lifetimeSeconds).toBe(ceiling);
    expect(resolveGrant(beyond, undefined, 2 * ceiling).lifetimeSeconds).toBe(ceiling);
  });

  it.each([0, 1, min - 1, min - 0.5, -1, -ceiling, Number.NEGATIVE_INFINITY])('refuses %p s as below the minimum (invalid_request, lifetime_too_short)', (requested) => {
    expect(refusal(() => resolveGrant(compiledRule([CLOUD], 900), undefined, requested))).toEqual({
      code: 'invalid_request', status: 400, reason: 'lifetime_too_short', message: `requested lifetime must be at least ${min} seconds`,
    });
  });
});

describe('what is minted', () => {
  it('names the rule, its service account and its delegates', () => {
    const delegates = ['hop@acme-prod.iam.gserviceaccount.com'];
    expect(resolveGrant(compiledRule([CLOUD, GEMINI], 600, delegates), [GEMINI], 300)).toEqual({
      ruleId: 'deploy', serviceAccount: SA, scopes: [GEMINI], lifetimeSeconds: 300, delegates,
    });
  });

  it('works on a rule whatever its condition (selection is not its business)', () => {
    const compiled = compiledRule([CLOUD]);
    const never: CompiledRule = { ...compiled, condition: compileCondition('false') };
    expect(resolveGrant(never, undefined).scopes).toEqual([CLOUD]);
  });
});

describe('scope_request: intersect (clients that always ask for more, such as gcloud)', () => {
  const rule = compiledRule([CLOUD, GEMINI], undefined, undefined, 'intersect');
  const GCLOUD = ['openid', 'https://www.googleapis.com/auth/userinfo.email', CLOUD, 'https://www.googleapis.com/auth/appengine.admin', 'https://www.googleapis.com/auth/sqlservice.login', 'https://www.googleapis.com/auth/compute'];

  it('issues the overlap and records what was asked', () => {
    const grant = resolveGrant(rule, GCLOUD);
    expect(grant.scopes).toEqual([CLOUD]);
    expect(grant.requestedScopes).toEqual([...GCLOUD].sort());
  });

  it('records nothing extra when the request is granted as asked', () => {
    expect(resolveGrant(rule, [GEMINI]).requestedScopes).toBeUndefined();
    expect(resolveGrant(rule, undefined).requestedScopes).toBeUndefined();
  });

  it('refuses with invalid_scope when nothing overlaps', () => {
    expect(refusal(() => resolveGrant(rule, [STORAGE]))).toMatchObject({ code: 'invalid_scope', reason: 'scope_not_allowed' });
  });

  it('leaves exact rules as they were: one scope outside refuses the request', () => {
    expect(refusal(() => resolveGrant(compiledRule([CLOUD, GEMINI]), GCLOUD))).toMatchObject({ code: 'invalid_scope' });
  });
});
