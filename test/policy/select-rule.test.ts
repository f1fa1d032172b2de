/**
 * Rule selection: rules are tried in document order, the first match wins and later rules
 * are never consulted; a rule is for one issuer's tokens or for its listed clients; a
 * requested `audience` names one rule (its id or service account) or the broker itself; a
 * CEL condition that errors or yields a non-boolean is no match; no match is a denial whose
 * trace says why each rule was passed over. Policies are compiled from documents, as the
 * broker loads them.
 */
import { toClaims } from '../../shared/identity/claims';
import { CLIENT_ISSUER, type Principal } from '../../shared/identity/principal';
import { hashSecret } from '../../shared/identity/secret-hash';
import { BrokerError } from '../../shared/errors';
import { compilePolicy } from '../../shared/policy/compile-policy';
import type { CompiledPolicy } from '../../shared/policy/compiled-policy';
import { parsePolicyText } from '../../shared/policy/parse-document';
import { PolicyDenial, selectRule, type RuleTrace, type SelectionRequest } from '../../shared/policy/select-rule';

const GITHUB = 'https://token.actions.githubusercontent.com';
const GITLAB = 'https://gitlab.example.com';
const BROKER = 'https://broker.example.com';
const DEPLOYER = 'deployer@acme-prod.iam.gserviceaccount.com';
const READER = 'reader@acme-prod.iam.gserviceaccount.com';
const BUILDER = 'builder@acme-prod.iam.gserviceaccount.com';
const SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];
const NO_AUDIENCE: SelectionRequest = { brokerAudiences: [BROKER, `${BROKER}/token`] };

const rule = (id: string, subjects: { issuer: string } | { clients: string[] }, condition: string, serviceAccount: string) => ({
  id,
  ...subjects,
  condition,
  grant: { service_account: serviceAccount, scopes: SCOPES },
});

let policy: CompiledPolicy;

beforeAll(async () => {
  const document = {
    version: 1,
    issuers: [
      { issuer: GITHUB, audiences: [BROKER] },
      { issuer: GITLAB, audiences: [BROKER] },
    ],
    clients: [{ id: 'ci-bot', secrets: [{ hash: await hashSecret('not-used-here') }] }],
    rules: [
      rule('deploy-main', { issuer: GITHUB }, "claims.repository == 'acme/app' && claims.ref == 'refs/heads/main'", DEPLOYER),
      rule('read-any-acme', { issuer: GITHUB }, "claims.repository.startsWith('acme/')", READER),
      rule('gitlab-build', { issuer: GITLAB }, "claims.project_path == 'acme/app'", BUILDER),
      rule('bot', { clients: ['ci-bot'] }, 'true', BUILDER),
    ],
  };
  policy = compilePolicy(parsePolicyText(JSON.stringify(document), 'policy.json'), { source: 'policy.json', network: { allowInsecureLoopback: false } });
});

/** An OIDC principal as the verifier makes it: claims copied by toClaims. */
function oidc(issuer: string, claims: Record<string, unknown>): Principal {
  const now = 1_900_000_000;
  const payload = { iss: issuer, sub: 'repo:acme/app:ref:refs/heads/main', aud: BROKER, iat: now, exp: now + 300, ...claims };
  return { kind: 'oidc', issuer, subject: String(payload.sub), claims: toClaims(payload).claims, credentialSha256: 'x'.repeat(43) };
}

function client(id: string): Principal {
  return { kind: 'client', issuer: CLIENT_ISSUER, subject: id, claims: Object.freeze({ client_id: id, auth_method: 'client_secret_basic' }), credentialSha256: 'y'.repeat(43) };
}

/** The error `fn` throws (it must throw). */
function thrown(fn: () => unknown): BrokerError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BrokerError);
    return error as BrokerError;
  }
  throw new Error('expected a refusal');
}

const outcomes = (trace: readonly RuleTrace[]) => trace.map(({ rule: id, outcome }) => [id, outcome]);

describe('first match wins', () => {
  it('returns the first rule, in document order, that matches, and consults none after it', () => {
    const selection = selectRule(policy, oidc(GITHUB, { repository: 'acme/app', ref: 'refs/heads/main' }), NO_AUDIENCE);
    expect(selection.rule.id).toBe('deploy-main');
    expect(outcomes(selection.trace)).toEqual([['deploy-main', 'matched']]);
  });

  it('passes over an earlier rule that does not match and says why', () => {
    const selection = selectRule(policy, oidc(GITHUB, { repository: 'acme/app', ref: 'refs/heads/feature' }), NO_AUDIENCE);
    expect(selection.rule.id).toBe('read-any-acme');
    expect(outcomes(selection.trace)).toEqual([['deploy-main', 'condition_false'], ['read-any-acme', 'matched']]);
  });

  it('gives the same answer every time (no state between calls)', () => {
    const principal = oidc(GITHUB, { repository: 'acme/lib', ref: 'refs/heads/main' });
    const ids = Array.from({ length: 5 }, () => selectRule(policy, principal, NO_AUDIENCE).rule.id);
    expect(ids).toEqual(Array(5).fill('read-any-acme'));
  });
});

describe('default deny', () => {
  it('refuses with access_denied (403, no_rule_matched) when no rule matches, with the trace of every rule', () => {
    const error = thrown(() => selectRule(policy, oidc(GITHUB, { repository: 'other/app', ref: 'refs/heads/main' }), NO_AUDIENCE));
    expect(error).toBeInstanceOf(PolicyDenial);
    expect({ code: error.code, status: error.status, reason: error.reason, message: error.message }).toEqual({
      code: 'access_denied', status: 403, reason: 'no_rule_matched', message: 'no policy rule grants a token to this caller',
    });
    expect(outcomes((error as PolicyDenial).trace)).toEqual([
      ['deploy-main', 'condition_false'],
      ['read-any-acme', 'condition_false'],
      ['gitlab-build', 'issuer_mismatch'],
      ['bot', 'issuer_mismatch'],
    ]);
  });

  it('refuses the tokens of an issuer no rule is for', () => {
    const error = thrown(() => selectRule(policy, oidc('https://unknown.example.com', { repository: 'acme/app' }), NO_AUDIENCE)) as PolicyDenial;
    expect(error.trace.every((step) => step.outcome === 'issuer_mismatch')).toBe(true);
  });

  it('keeps the trace out of the message a caller sees', () => {
    const error = thrown(() => selectRule(policy, oidc(GITHUB, { repository: 'secret/project' }), NO_AUDIENCE));
    expect(error.message).not.toMatch(/deploy-main|read-any-acme|secret/);
    expect(error.description).toBe(error.message);
  });
});

describe('who a rule is for', () => {
  it('matches a client rule only for that authenticated client', () => {
    expect(selectRule(policy, client('ci-bot'), NO_AUDIENCE).rule.id).toBe('bot');
    const other = thrown(() => selectRule(policy, client('other-bot'), NO_AUDIENCE)) as PolicyDenial;
    expect(outcomes(other.trace)).toEqual([
      ['deploy-main', 'issuer_mismatch'], ['read-any-acme', 'issuer_mismatch'], ['gitlab-build', 'issuer_mismatch'], ['bot', 'issuer_mismatch'],
    ]);
  });

  it('never lets an OIDC token whose subject is a client id stand for that client', () => {
    const impostor = { ...oidc(GITHUB, { sub: 'ci-bot', repository: 'other/app' }), subject: 'ci-bot' };
    const error = thrown(() => selectRule(policy, impostor, NO_AUDIENCE)) as PolicyDenial;
    expect(error.trace.find((step) => step.rule === 'bot')?.outcome).toBe('issuer_mismatch');
  });

  it('never lets a client principal that names an issuer stand for its tokens', () => {
    const impostor: Principal = { ...client('ci-bot'), issuer: GITHUB, claims: Object.freeze({ repository: 'acme/app', ref: 'refs/heads/main' }) };
    const selection = selectRule(policy, impostor, NO_AUDIENCE);
    expect(outcomes(selection.trace)).toEqual([
      ['deploy-main', 'issuer_mismatch'], ['read-any-acme', 'issuer_mismatch'], ['gitlab-build', 'issuer_mismatch'], ['bot', 'matched'],
    ]);
  });

  it('matches an issuer exactly: a trailing slash, another case or scheme is another issuer', () => {
    for (const near of [`${GITHUB}/`, GITHUB.toUpperCase(), GITHUB.replace('https:', 'http:'), ` ${GITHUB}`]) {
      const error = thrown(() => selectRule(policy, oidc(near, { repository: 'acme/app', ref: 'refs/heads/main' }), NO_AUDIENCE)) as PolicyDenial;
      expect(error.trace.slice(0, 2).map((step) => step.outcome)).toEqual(['issuer_mismatch', 'issuer_mismatch']);
    }
  });
});

describe('the requested audience', () => {
  const main = () => oidc(GITHUB, { repository: 'acme/app', ref: 'refs/heads/main' });

  it('selects the rule it names, by id or by service account, and skips the others', () => {
    for (const audience of ['read-any-acme', READER]) {
      const selection = selectRule(policy, main(), { ...NO_AUDIENCE, audience });
      expect(selection.rule.id).toBe('read-any-acme');
      expect(outcomes(selection.trace)).toEqual([['deploy-main', 'audience_mismatch'], ['read-any-acme', 'matched']]);
    }
  });

  it('selects no rule in particular when it is one of the broker\'s own identifiers', () => {
    for (const audience of NO_AUDIENCE.brokerAudiences) {
      expect(selectRule(policy, main(), { ...NO_AUDIENCE, audience }).rule.id).toBe('deploy-main');
    }
  });

  it('is denied when the rule it names does not match, even if an earlier rule would', () => {
    const error = thrown(() => selectRule(policy, main(), { ...NO_AUDIENCE, audience: BUILDER })) as PolicyDenial;
    expect(error.code).toBe('access_denied');
    expect(outcomes(error.trace)).toEqual([
      ['deploy-main', 'audience_mismatch'], ['read-any-acme', 'audience_mismatch'], ['gitlab-build', 'issuer_mismatch'], ['bot', 'issuer_mismatch'],
    ]);
  });

  it.each([
    ['an unknown rule id', 'deploy-staging'],
    ['a near-miss of an id', 'Deploy-Main'],
    ['a near-miss of a service account', `${DEPLOYER} `],
    ['a near-miss of the broker', `${BROKER}/`],
    ['"__proto__"', '__proto__'],
    ['"constructor"', 'constructor'],
    ['"toString"', 'toString'],
    ['an empty string', ''],
  ])('refuses %s as invalid_target (400, unknown_audience) before any rule is tried', (_, audience) => {
    const error = thrown(() => selectRule(policy, main(), { ...NO_AUDIENCE, audience }));
    expect(error).not.toBeInstanceOf(PolicyDenial);
    expect({ code: error.code, status: error.status, reason: error.reason }).toEqual({ code: 'invalid_target', status: 400, reason: 'unknown_audience' });
  });
});

describe('conditions that do not say true', () => {
  it('treats an evaluation error (a missing claim, a wrong type) as no match and goes on', () => {
    const selection = selectRule(policy, oidc(GITHUB, { repository: 'acme/app' }), NO_AUDIENCE); // no `ref`
    expect(selection.rule.id).toBe('read-any-acme');
    expect(selection.trace[0]).toMatchObject({ rule: 'deploy-main', outcome: 'condition_error', detail: expect.stringMatching(/ref/) });

    const wrongType = thrown(() => selectRule(policy, oidc(GITHUB, { repository: 42, ref: 'refs/heads/main' }), NO_AUDIENCE)) as PolicyDenial;
    expect(outcomes(wrongType.trace).slice(0, 2)).toEqual([['deploy-main', 'condition_false'], ['read-any-acme', 'condition_error']]);
  });

  it.each([
    ['a "__proto__" claim holding it', '{"__proto__": {"repository": "acme/app"}}'],
    ['a "constructor" claim holding it', '{"constructor": {"repository": "acme/app"}}'],
    ['an array', '{"repository": ["acme/app"]}'],
    ['an object', '{"repository": {"toString": "acme/app"}}'],
    ['null', '{"repository": null}'],
    ['a number', '{"repository": 0}'],
    ['true', '{"repository": true}'],
    ['another case', '{"repository": "ACME/app"}'],
    ['a lookalike slash', '{"repository": "acme\\u2215app"}'],
  ])('grants nothing to a hostile repository claim (%s)', (_, json) => {
    const claims = JSON.parse(json) as Record<string, unknown>; // JSON.parse keeps "__proto__" an own key, as a token's payload does
    const error = thrown(() => selectRule(policy, oidc(GITHUB, { ref: 'refs/heads/main', ...claims }), NO_AUDIENCE)) as PolicyDenial;
    expect(error.code).toBe('access_denied');
    expect(error.trace.slice(0, 2).every((step) => step.outcome !== 'matched')).toBe(true);
  });

  it('reports a non-boolean result as condition_not_bool', async () => {
    const document = {
      version: 1,
      issuers: [{ issuer: GITHUB, audiences: [BROKER] }],
      rules: [rule('stringly', { issuer: GITHUB }, 'claims.repository', READER), rule('fallback', { issuer: GITHUB }, 'true', READER)],
    };
    const stringly = compilePolicy(parsePolicyText(JSON.stringify(document), 'p.json'), { source: 'p.json', network: { allowInsecureLoopback: false } });
    const selection = selectRule(stringly, oidc(GITHUB, { repository: 'acme/app' }), NO_AUDIENCE);
    expect(selection.rule.id).toBe('fallback');
    expect(selection.trace[0]).toMatchObject({ rule: 'stringly', outcome: 'condition_not_bool' });
  });
});
