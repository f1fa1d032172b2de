/**
 * The rule index (issue 18): selection visits only the rules for the caller's issuer or client
 * (and, with an `audience`, the rules it names), in document order, and decides exactly as the
 * top-to-bottom walk does: the same rule or the same denial, the same shadows, the same full
 * trace. The reference is the linear walk selectRule was before the index, kept below verbatim.
 * Property runs use a fixed seed, so a failure reproduces; fast-check prints the shrunk case.
 */
import fc from 'fast-check';
import { BrokerError } from '../../shared/errors';
import { toClaims } from '../../shared/identity/claims';
import { CLIENT_ISSUER, type Principal } from '../../shared/identity/principal';
import type { CompiledCondition } from '../../shared/policy/cel';
import { compilePolicy } from '../../shared/policy/compile-policy';
import type { CompiledPolicy, CompiledRule } from '../../shared/policy/compiled-policy';
import { parsePolicyText } from '../../shared/policy/parse-document';
import { candidatePositions, indexRules } from '../../shared/policy/rule-index';
import {
  PolicyDenial, selectRule, type RuleOutcome, type RuleSelection, type RuleTrace, type SelectionRequest, type ShadowOutcome,
} from '../../shared/policy/select-rule';

const BROKER = 'https://broker.example.com';
const ISSUERS = ['https://issuer-a.example.com', 'https://issuer-b.example.com', 'https://issuer-c.example.com'];
const CLIENTS = ['c1', 'c2', 'c3'];
const ACCOUNTS = ['sa-a@p.iam.gserviceaccount.com', 'sa-b@p.iam.gserviceaccount.com', 'sa-c@p.iam.gserviceaccount.com'];
const SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];
const BROKER_AUDIENCES = [BROKER, `${BROKER}/token`];
const SEED = 0x18_2026;

/** Conditions that are true, false, error (missing claim, wrong type, no client) or not a bool, depending on the caller. */
const CONDITIONS = [
  'true',
  'false',
  "claims.x == 'yes'",
  'claims.n > 2',
  'claims.x',
  "client.client_id == 'c1'",
  "claims.x == 'yes' || claims.n > 2",
];

interface RuleSpec {
  readonly subjects: { issuer: string } | { clients: string[] };
  readonly mode: 'enforce' | 'shadow';
  readonly account: string;
  readonly condition: string;
}

function compile(rules: readonly RuleSpec[]): CompiledPolicy {
  const document = {
    version: 1,
    issuers: ISSUERS.map((issuer) => ({ issuer, audiences: [BROKER] })),
    clients: CLIENTS.map((id) => ({ id, jwks_uri: 'https://keys.example.com/jwks.json' })),
    rules: rules.map((spec, i) => ({
      id: `r${i}`,
      ...spec.subjects,
      ...(spec.mode === 'shadow' ? { mode: 'shadow' } : {}),
      condition: spec.condition,
      grant: { service_account: spec.account, scopes: SCOPES },
    })),
  };
  return compilePolicy(parsePolicyText(JSON.stringify(document), 'p.json'), { source: 'p.json', network: { allowInsecureLoopback: false } });
}

function oidc(issuer: string, claims: Record<string, unknown> = {}, subject = 'repo:acme/app'): Principal {
  const now = 1_900_000_000;
  const payload = { iss: issuer, sub: subject, aud: BROKER, iat: now, exp: now + 300, ...claims };
  return { kind: 'oidc', issuer, subject, claims: toClaims(payload).claims, credentialSha256: 'x'.repeat(43) };
}

function client(id: string, issuer = CLIENT_ISSUER, extra: Record<string, unknown> = {}): Principal {
  return { kind: 'client', issuer, subject: id, claims: Object.freeze({ client_id: id, auth_method: 'client_secret_basic', ...extra }), credentialSha256: 'y'.repeat(43) };
}

// ---------------------------------------------------------------------------------------------
// The reference: selectRule as it was before the index (a walk over every rule), verbatim.

interface Reference {
  readonly rule?: CompiledRule;
  readonly trace: readonly RuleTrace[];
  readonly shadows: readonly ShadowOutcome[];
}

function linearSelect(policy: CompiledPolicy, principal: Principal, request: SelectionRequest): Reference {
  const audience = linearTargetAudience(policy, request);
  const trace: RuleTrace[] = [];
  const shadows: ShadowOutcome[] = [];
  for (const rule of policy.rules) {
    const step = linearTryRule(rule, principal, audience, request.client);
    if (rule.mode === 'shadow') {
      trace.push({ ...step, mode: 'shadow' });
      if (step.outcome !== 'issuer_mismatch' && step.outcome !== 'audience_mismatch') shadows.push({ rule, outcome: step.outcome, ...(step.detail === undefined ? {} : { detail: step.detail }) });
      continue;
    }
    trace.push(step);
    if (step.outcome === 'matched') return { rule, trace, shadows };
  }
  return { trace, shadows };
}

function linearTargetAudience(policy: CompiledPolicy, request: SelectionRequest): string | undefined {
  const { audience } = request;
  if (audience === undefined || request.brokerAudiences.includes(audience)) return undefined;
  if (!policy.rules.some((rule) => audience === rule.id || audience === rule.grant.serviceAccount)) {
    throw new BrokerError('invalid_target', 'the requested audience is not known to the broker', { reason: 'unknown_audience' });
  }
  return audience;
}

function linearTryRule(rule: CompiledRule, principal: Principal, audience: string | undefined, client: Principal | undefined): RuleTrace {
  const covers = rule.subjects.kind === 'issuer'
    ? principal.kind === 'oidc' && rule.subjects.issuer === principal.issuer
    : principal.kind === 'client' && rule.subjects.ids.has(principal.subject);
  if (!covers) return { rule: rule.id, outcome: 'issuer_mismatch' };
  if (audience !== undefined && audience !== rule.id && audience !== rule.grant.serviceAccount) return { rule: rule.id, outcome: 'audience_mismatch' };
  const result = rule.condition.evaluate(principal.claims, client?.claims);
  if (result.matched) return { rule: rule.id, outcome: 'matched' };
  const outcome: RuleOutcome =
    result.reason === 'error' ? 'condition_error' : result.reason === 'not_bool' ? 'condition_not_bool' : 'condition_false';
  return { rule: rule.id, outcome, detail: result.detail };
}

// ---------------------------------------------------------------------------------------------
// Both, as comparable values.

type Decision =
  | { readonly decided: string; readonly trace: readonly RuleTrace[]; readonly shadows: readonly unknown[] }
  | { readonly denied: 'no_rule_matched'; readonly trace: readonly RuleTrace[]; readonly shadows: readonly unknown[] }
  | { readonly refused: string; readonly reason: string };

const shadowLines = (shadows: readonly ShadowOutcome[]) => shadows.map(({ rule, outcome, detail }) => ({ rule: rule.id, outcome, detail }));

function referenceDecision(policy: CompiledPolicy, principal: Principal, request: SelectionRequest): Decision {
  try {
    const { rule, trace, shadows } = linearSelect(policy, principal, request);
    if (rule) return { decided: rule.id, trace, shadows: shadowLines(shadows) };
    return { denied: 'no_rule_matched', trace, shadows: shadowLines(shadows) };
  } catch (err) {
    if (err instanceof BrokerError) return { refused: err.code, reason: err.reason };
    throw err;
  }
}

/** The indexed selection's decision; also checks that `tried` and `skipped` agree with its trace. */
function indexedDecision(policy: CompiledPolicy, principal: Principal, request: SelectionRequest): Decision {
  let selection: RuleSelection | PolicyDenial;
  try {
    selection = selectRule(policy, principal, request);
  } catch (err) {
    if (err instanceof PolicyDenial) selection = err;
    else if (err instanceof BrokerError) return { refused: err.code, reason: err.reason };
    else throw err;
  }
  const passedOver = (step: RuleTrace) => step.outcome === 'issuer_mismatch' || step.outcome === 'audience_mismatch';
  expect(selection.tried).toEqual(selection.trace.filter((step) => !passedOver(step)));
  expect(selection.skipped).toBe(selection.trace.filter(passedOver).length);
  if (selection instanceof PolicyDenial) {
    expect({ code: selection.code, reason: selection.reason }).toEqual({ code: 'access_denied', reason: 'no_rule_matched' });
    return { denied: 'no_rule_matched', trace: selection.trace, shadows: shadowLines(selection.shadows) };
  }
  return { decided: selection.rule.id, trace: selection.trace, shadows: shadowLines(selection.shadows) };
}

// ---------------------------------------------------------------------------------------------
// Generators.

const subjectsArb: fc.Arbitrary<RuleSpec['subjects']> = fc.oneof(
  fc.constantFrom(...ISSUERS).map((issuer) => ({ issuer })),
  fc.subarray(CLIENTS, { minLength: 1 }).map((clients) => ({ clients })),
);

const ruleArb: fc.Arbitrary<RuleSpec> = fc.record({
  subjects: subjectsArb,
  mode: fc.constantFrom<RuleSpec['mode'][]>('enforce', 'enforce', 'shadow'),
  account: fc.constantFrom(...ACCOUNTS),
  condition: fc.constantFrom(...CONDITIONS),
});

const claimsArb = fc.record(
  { x: fc.constantFrom('yes', 'no', 7), n: fc.constantFrom(1, 3, 'three') },
  { requiredKeys: [] },
);

/** Callers of every kind, including ones no rule is for and principals that only look like another kind. */
const principalArb: fc.Arbitrary<Principal> = fc.oneof(
  fc.tuple(fc.constantFrom(...ISSUERS, 'https://issuer-z.example.com'), claimsArb, fc.constantFrom('repo:acme/app', ...CLIENTS))
    .map(([issuer, claims, subject]) => oidc(issuer, claims, subject)),
  fc.tuple(fc.constantFrom(...CLIENTS, 'c9'), fc.constantFrom(CLIENT_ISSUER, ISSUERS[0]!), claimsArb)
    .map(([id, issuer, claims]) => client(id, issuer, claims)),
);

const requestArb: fc.Arbitrary<SelectionRequest> = fc.record({
  audience: fc.option(fc.oneof(
    fc.constantFrom(...BROKER_AUDIENCES, 'unknown-rule', 'sa-z@p.iam.gserviceaccount.com', `${BROKER}/`),
    fc.constantFrom(...ACCOUNTS),
    fc.nat({ max: 30 }).map((i) => `r${i}`),
  ), { nil: undefined }),
  client: fc.option(fc.constantFrom(...CLIENTS).map((id) => client(id)), { nil: undefined }),
}).map(({ audience, client: authenticated }) => ({
  brokerAudiences: BROKER_AUDIENCES,
  ...(audience === undefined ? {} : { audience }),
  ...(authenticated === undefined ? {} : { client: authenticated }),
}));

// ---------------------------------------------------------------------------------------------

describe('indexed selection decides as the top-to-bottom walk does', () => {
  it('for random policies, callers and requests: the same rule or denial, the same shadows, the same full trace', () => {
    fc.assert(
      fc.property(fc.array(ruleArb, { minLength: 1, maxLength: 25 }), fc.array(fc.tuple(principalArb, requestArb), { minLength: 1, maxLength: 12 }), (specs, calls) => {
        const policy = compile(specs);
        for (const [principal, request] of calls) {
          expect(indexedDecision(policy, principal, request)).toEqual(referenceDecision(policy, principal, request));
        }
      }),
      { seed: SEED, numRuns: 400 },
    );
  });

  it('decides, across the generated cases, every way there is (so the property is not vacuous)', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.array(ruleArb, { minLength: 1, maxLength: 25 }), principalArb, requestArb, (specs, principal, request) => {
        const decision = referenceDecision(compile(specs), principal, request);
        if ('decided' in decision) seen.add(decision.shadows.length > 0 ? 'rule after shadows' : 'rule');
        else if ('denied' in decision) seen.add(decision.trace.some((step) => step.outcome === 'condition_error') ? 'denial with errors' : 'denial');
        else seen.add('invalid_target');
        if ('trace' in decision) for (const step of decision.trace) seen.add(step.outcome);
      }),
      { seed: SEED, numRuns: 400 },
    );
    expect([...seen].sort()).toEqual([
      'audience_mismatch', 'condition_error', 'condition_false', 'condition_not_bool', 'denial', 'denial with errors',
      'invalid_target', 'issuer_mismatch', 'matched', 'rule', 'rule after shadows',
    ]);
  });
});

/** The policy with each rule's condition wrapped: evaluations are counted per rule id, and `explode` ids throw. */
function instrumented(policy: CompiledPolicy, explode: ReadonlySet<string> = new Set()): { policy: CompiledPolicy; evaluated: string[] } {
  const evaluated: string[] = [];
  const rules = Object.freeze(policy.rules.map((rule): CompiledRule => {
    const condition: CompiledCondition = {
      source: rule.condition.source,
      evaluate: (claims, client) => {
        evaluated.push(rule.id);
        if (explode.has(rule.id)) throw new Error(`rule ${rule.id} must not be evaluated`);
        return rule.condition.evaluate(claims, client);
      },
    };
    return { ...rule, condition };
  }));
  return { policy: { ...policy, rules, ruleIndex: indexRules(rules) }, evaluated };
}

const enforce = (subjects: RuleSpec['subjects'], condition: string, account = ACCOUNTS[0]!): RuleSpec => ({ subjects, mode: 'enforce', account, condition });
const shadow = (subjects: RuleSpec['subjects'], condition: string, account = ACCOUNTS[0]!): RuleSpec => ({ subjects, mode: 'shadow', account, condition });
const [A, B, C] = ISSUERS as [string, string, string];
const NO_AUDIENCE: SelectionRequest = { brokerAudiences: BROKER_AUDIENCES };

describe('rules of another issuer or client are never evaluated', () => {
  // 1,000 rules over 100 issuers would do; 300 over 3 issuers and 3 clients make the point.
  const specs: RuleSpec[] = [];
  for (let i = 0; i < 300; i++) {
    specs.push(i % 4 === 3 ? enforce({ clients: [CLIENTS[i % 3]!] }, 'true') : enforce({ issuer: ISSUERS[i % 3]! }, i === 298 ? 'true' : 'false'));
  }
  const compiled = compile(specs);
  const others = (keep: (rule: CompiledRule) => boolean) => new Set(compiled.rules.filter((rule) => !keep(rule)).map((rule) => rule.id));

  it('for a token: only its issuer\'s rules, in document order, up to the match', () => {
    // r298 is the last rule of ISSUERS[1] (298 % 3 == 1) and the only true one of it.
    const { policy, evaluated } = instrumented(compiled, others((rule) => rule.subjects.kind === 'issuer' && rule.subjects.issuer === B));
    const selection = selectRule(policy, oidc(B), NO_AUDIENCE);
    expect(selection.rule.id).toBe('r298');
    const expected = compiled.rules.filter((rule, i) => i <= 298 && rule.subjects.kind === 'issuer' && rule.subjects.issuer === B).map((rule) => rule.id);
    expect(evaluated).toEqual(expected);
    expect(selection.tried.map((step) => step.rule)).toEqual(expected);
    expect(selection.skipped).toBe(299 - expected.length);
  });

  it('for a client: only the rules that list it', () => {
    const { policy, evaluated } = instrumented(compiled, others((rule) => rule.subjects.kind === 'clients' && rule.subjects.ids.has('c2')));
    const selection = selectRule(policy, client('c2'), NO_AUDIENCE);
    expect(evaluated).toEqual([selection.rule.id]);
    expect(compiled.rules.findIndex((rule) => rule.subjects.kind === 'clients' && rule.subjects.ids.has('c2'))).toBe(Number(selection.rule.id.slice(1)));
  });

  it('for a caller no rule is for: none, and the denial still lists every rule as issuer_mismatch', () => {
    const { policy, evaluated } = instrumented(compiled, new Set(compiled.rules.map((rule) => rule.id)));
    const denial = (() => {
      try {
        selectRule(policy, oidc('https://issuer-z.example.com'), NO_AUDIENCE);
      } catch (err) {
        return err as PolicyDenial;
      }
      throw new Error('expected a denial');
    })();
    expect(denial).toBeInstanceOf(PolicyDenial);
    expect(evaluated).toEqual([]);
    expect(denial.tried).toEqual([]);
    expect(denial.skipped).toBe(300);
    expect(denial.trace).toHaveLength(300);
    expect(denial.trace.every((step) => step.outcome === 'issuer_mismatch')).toBe(true);
  });

  it('with an audience: only the rules it names among the caller\'s', () => {
    // ACCOUNTS[1] on rules of issuer A and C only; naming it as a caller of A evaluates A's rules with it.
    const specsWithAccounts = [
      enforce({ issuer: A }, 'false'), enforce({ issuer: C }, 'true', ACCOUNTS[1]), enforce({ issuer: A }, 'false', ACCOUNTS[1]),
      enforce({ issuer: A }, 'true'), enforce({ issuer: A }, 'true', ACCOUNTS[1]),
    ];
    const { policy, evaluated } = instrumented(compile(specsWithAccounts), new Set(['r0', 'r1', 'r3']));
    const selection = selectRule(policy, oidc(A), { ...NO_AUDIENCE, audience: ACCOUNTS[1] });
    expect(selection.rule.id).toBe('r4');
    expect(evaluated).toEqual(['r2', 'r4']);
    expect(selection.trace.map((step) => [step.rule, step.outcome])).toEqual([
      ['r0', 'audience_mismatch'], ['r1', 'issuer_mismatch'], ['r2', 'condition_false'], ['r3', 'audience_mismatch'], ['r4', 'matched'],
    ]);
  });

  it('a thrown error from a rule that is for the caller still surfaces (the wrapper is not silently skipped)', () => {
    const { policy } = instrumented(compiled, new Set(['r1']));
    expect(() => selectRule(policy, oidc(B), NO_AUDIENCE)).toThrow('rule r1 must not be evaluated');
  });
});

describe('document order wins when candidate lists interleave', () => {
  it('two issuers\' rules interleaved: each caller gets its own first match', () => {
    const policy = compile([
      enforce({ issuer: A }, 'false'), enforce({ issuer: B }, 'true'), enforce({ issuer: A }, 'true'),
      enforce({ issuer: B }, 'true'), enforce({ issuer: A }, 'true'),
    ]);
    expect(selectRule(policy, oidc(A), NO_AUDIENCE).rule.id).toBe('r2');
    expect(selectRule(policy, oidc(B), NO_AUDIENCE).rule.id).toBe('r1');
  });

  it('a rule listing several clients sits in each client\'s list at its place', () => {
    const policy = compile([
      enforce({ clients: ['c1'] }, 'false'), enforce({ clients: ['c2', 'c1'] }, 'true'), enforce({ clients: ['c1'] }, 'true'), enforce({ clients: ['c2'] }, 'true'),
    ]);
    expect(selectRule(policy, client('c1'), NO_AUDIENCE).rule.id).toBe('r1');
    expect(selectRule(policy, client('c2'), NO_AUDIENCE).rule.id).toBe('r1');
    expect(() => selectRule(policy, client('c3'), NO_AUDIENCE)).toThrow(expect.objectContaining({ tried: [], skipped: 4 }) as Error);
  });

  it('a service account named by rules of several issuers, interleaved with the caller\'s rules: the earliest rule for both wins', () => {
    const SA = ACCOUNTS[2]!;
    const policy = compile([
      enforce({ issuer: B }, 'true', SA), enforce({ issuer: A }, 'true'), shadow({ issuer: A }, 'true', SA),
      enforce({ issuer: C }, 'true', SA), enforce({ issuer: A }, 'claims.n > 2', SA), enforce({ issuer: A }, 'true', SA),
    ]);
    const selection = selectRule(policy, oidc(A, { n: 1 }), { ...NO_AUDIENCE, audience: SA });
    expect(selection.rule.id).toBe('r5');
    expect(selection.tried.map((step) => [step.rule, step.outcome, step.mode])).toEqual([
      ['r2', 'matched', 'shadow'], ['r4', 'condition_false', undefined], ['r5', 'matched', undefined],
    ]);
    expect(selection.shadows.map((s) => s.rule.id)).toEqual(['r2']);
    expect(selection.skipped).toBe(3);
    expect(selectRule(policy, oidc(A, { n: 3 }), { ...NO_AUDIENCE, audience: SA }).rule.id).toBe('r4');
  });

  it('candidate positions are ascending for every key, and the shorter list is walked with an audience', () => {
    const policy = compile([
      enforce({ issuer: A }, 'true'), enforce({ clients: ['c1', 'c2'] }, 'true', ACCOUNTS[1]), enforce({ issuer: A }, 'true', ACCOUNTS[1]),
      enforce({ issuer: B }, 'true', ACCOUNTS[1]), enforce({ issuer: A }, 'true'), enforce({ clients: ['c2'] }, 'true'),
    ]);
    const index = policy.ruleIndex;
    expect(index.rules).toBe(policy.rules);
    expect(Object.fromEntries(index.byIssuer)).toEqual({ [A]: [0, 2, 4], [B]: [3] });
    expect(Object.fromEntries(index.byClient)).toEqual({ c1: [1], c2: [1, 5] });
    expect(index.byAudience.get(ACCOUNTS[1]!)).toEqual([1, 2, 3]);
    expect(index.byAudience.get('r4')).toEqual([4]);
    expect(candidatePositions(index, oidc(A), undefined)).toEqual([0, 2, 4]);
    expect(candidatePositions(index, oidc(A), 'r4')).toEqual([4]);
    expect(candidatePositions(index, client('c2'), undefined)).toEqual([1, 5]);
    expect(candidatePositions(index, client('c2', A), undefined)).toEqual([1, 5]); // a client is indexed by its id, never its issuer
    expect(candidatePositions(index, oidc(A, {}, 'c2'), undefined)).toEqual([0, 2, 4]); // a token by its issuer, never its subject
    expect(candidatePositions(index, oidc('https://issuer-z.example.com'), undefined)).toEqual([]);
  });
});

describe('the index and the policy', () => {
  it('is built at compile time for the policy\'s own rules', () => {
    const policy = compile([enforce({ issuer: A }, 'true')]);
    expect(policy.ruleIndex.rules).toBe(policy.rules);
    expect(Object.isFrozen(policy.ruleIndex.byIssuer.get(A))).toBe(true);
  });

  it('a copy of a policy with other rules is indexed for those rules, not the stale index', () => {
    const original = compile([enforce({ issuer: A }, 'true'), enforce({ issuer: B }, 'true')]);
    const reordered: CompiledPolicy = { ...original, rules: Object.freeze([original.rules[1]!, original.rules[0]!]) };
    expect(selectRule(reordered, oidc(A), NO_AUDIENCE).trace.map((step) => [step.rule, step.outcome])).toEqual([
      ['r1', 'issuer_mismatch'], ['r0', 'matched'],
    ]);
    const narrowed: CompiledPolicy = { ...original, rules: Object.freeze([original.rules[1]!]) };
    expect(() => selectRule(narrowed, oidc(A), { ...NO_AUDIENCE, audience: 'r0' })).toThrow(expect.objectContaining({ code: 'invalid_target' }) as Error);
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty', ''])('an audience %j names no rule (invalid_target)', (audience) => {
    const policy = compile([enforce({ issuer: A }, 'true')]);
    expect(() => selectRule(policy, oidc(A), { ...NO_AUDIENCE, audience })).toThrow(expect.objectContaining({ code: 'invalid_target', reason: 'unknown_audience' }) as Error);
  });

  it('the full trace is written out once, on first read, and is the same object after', () => {
    const policy = compile([enforce({ issuer: B }, 'true'), enforce({ issuer: A }, 'true')]);
    const selection = selectRule(policy, oidc(A), NO_AUDIENCE);
    expect(selection.tried).toEqual([{ rule: 'r1', outcome: 'matched' }]);
    expect(selection.skipped).toBe(1);
    expect(selection.trace).toBe(selection.trace);
    expect(selection.trace).toEqual([{ rule: 'r0', outcome: 'issuer_mismatch' }, { rule: 'r1', outcome: 'matched' }]);
  });
});
