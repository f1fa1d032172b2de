/**
 * The documentation states many defaults in prose and tables. Each statement below names the
 * DEFAULTS entry it mirrors and renders the phrase from the value, so the test fails when
 * either side changes: edit the value and the docs no longer say it; edit the docs and they
 * no longer match the value. Whitespace (line wrapping) in the docs does not matter.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS } from '../../shared/config/defaults';

const ROOT = join(__dirname, '..', '..');
const d = DEFAULTS;

const kib = (bytes: number) => `${bytes / 1024} KiB`;
const seconds = (ms: number) => `${ms / 1000} s`;
const ms = (value: number) => `${value} ms`;
const minutes = (value: number) => `${value / 60_000} minutes`;
/** `10 000`: thousands grouped with spaces, as the docs write them. */
const grouped = (n: number) => String(n).replace(/\B(?=(\d{3})+$)/g, ' ');
const list = (values: readonly string[]) => `\`[${values.join(', ')}]\``;
const ordinal = (n: number) => `${n}${n === 1 ? 'st' : n === 2 ? 'nd' : n === 3 ? 'rd' : 'th'}`;
/** 1/n in words; a divisor without a word renders `undefined`, and the statement fails. */
const FRACTION: Record<number, string> = { 2: 'a half', 4: 'a quarter', 10: 'a tenth' };

interface Statement {
  /** The DEFAULTS entry (or entries) the phrase states. */
  readonly defaults: readonly (keyof typeof DEFAULTS)[];
  readonly file: string;
  readonly says: string;
}

const STATEMENTS: readonly Statement[] = [
  // Gemini Live ephemeral tokens (docs/policy.md).
  { defaults: ['geminiEphemeralExpireSeconds', 'minTokenLifetimeSeconds', 'geminiEphemeralExpireSecondsCeiling'], file: 'docs/policy.md', says: `| \`expire_seconds\` | integer | \`${d.geminiEphemeralExpireSeconds}\` | ${d.minTokenLifetimeSeconds}–${d.geminiEphemeralExpireSecondsCeiling}:` },
  { defaults: ['geminiEphemeralNewSessionExpireSeconds', 'geminiEphemeralExpireSecondsCeiling'], file: 'docs/policy.md', says: `| \`new_session_expire_seconds\` | integer | \`${d.geminiEphemeralNewSessionExpireSeconds}\` | 1–${d.geminiEphemeralExpireSecondsCeiling} and at most \`expire_seconds\`` },
  { defaults: ['geminiEphemeralMaxUses'], file: 'docs/policy.md', says: `| \`uses\` | integer | \`1\` | 1–${d.geminiEphemeralMaxUses}:` },
  { defaults: ['geminiApiKeyTtlMs'], file: 'docs/decisions.md', says: `read again after ${minutes(d.geminiApiKeyTtlMs)}` },
  // The HTTP edge (docs/api.md, docs/security.md).
  { defaults: ['maxBodyBytes'], file: 'docs/api.md', says: `the body is at most ${kib(d.maxBodyBytes)} of printable ASCII` },
  { defaults: ['maxBodyBytes'], file: 'docs/api.md', says: `| 413 | \`invalid_request\` | body over ${kib(d.maxBodyBytes)} |` },
  { defaults: ['maxParameters'], file: 'docs/api.md', says: `there are at most ${d.maxParameters} parameters` },
  { defaults: ['maxTokenBytes', 'maxParamBytes'], file: 'docs/api.md', says: `\`subject_token\` is at most ${kib(d.maxTokenBytes)} and every other parameter at most ${kib(d.maxParamBytes)}.` },
  { defaults: ['maxBodyBytes', 'maxParameters', 'maxParamBytes'], file: 'docs/security.md', says: `form encoding only, ${kib(d.maxBodyBytes)} cap, at most ${d.maxParameters} parameters, a ${kib(d.maxParamBytes)} cap per parameter` },
  { defaults: ['maxTokenBytes'], file: 'docs/security.md', says: `a ${kib(d.maxTokenBytes)} token cap` },
  { defaults: ['maxScopes'], file: 'docs/api.md', says: `names more than ${d.maxScopes} scopes` },
  { defaults: ['maxScopes'], file: 'docs/policy.md', says: `| — | 1–${d.maxScopes} OAuth scopes` },

  // Lifetimes.
  { defaults: ['minTokenLifetimeSeconds', 'maxTokenLifetimeSecondsCeiling'], file: 'README.md', says: `broker-wide lifetime ceiling, ${d.minTokenLifetimeSeconds}–${d.maxTokenLifetimeSecondsCeiling} (default ${d.maxTokenLifetimeSecondsCeiling})` },
  { defaults: ['maxTokenLifetimeSecondsCeiling'], file: 'README.md', says: `the lifetime clamped to min(requested, rule maximum, ${d.maxTokenLifetimeSecondsCeiling} s)` },
  { defaults: ['maxTokenLifetimeSecondsCeiling'], file: 'docs/security.md', says: `a ${d.maxTokenLifetimeSecondsCeiling} s ceiling` },
  {
    defaults: ['ruleMaxLifetimeSeconds', 'browserRuleMaxLifetimeSeconds', 'minTokenLifetimeSeconds', 'maxTokenLifetimeSecondsCeiling'],
    file: 'docs/policy.md',
    says: `| \`max_lifetime_seconds\` | integer | \`${d.ruleMaxLifetimeSeconds}\`; \`${d.browserRuleMaxLifetimeSeconds}\` for rules of a \`browser\` issuer | ${d.minTokenLifetimeSeconds}–${d.maxTokenLifetimeSecondsCeiling}.`,
  },
  { defaults: ['browserRuleMaxLifetimeSeconds', 'ruleMaxLifetimeSeconds'], file: 'docs/policy.md', says: `this issuer's rules default to ${d.browserRuleMaxLifetimeSeconds}-second tokens instead of ${d.ruleMaxLifetimeSeconds}` },
  {
    defaults: ['maxTokenLifetimeSecondsCeiling', 'minTokenLifetimeSeconds'],
    file: 'terraform/modules/broker/variables.tf',
    says: `max_token_lifetime_seconds must be an integer from ${d.minTokenLifetimeSeconds} to ${d.maxTokenLifetimeSecondsCeiling}.`,
  },

  // Subject-token verification (docs/policy.md, issuers[]).
  { defaults: ['algorithms'], file: 'docs/policy.md', says: `| \`algorithms\` | list | ${list(d.algorithms)} |` },
  { defaults: ['clockToleranceSeconds', 'clockToleranceSecondsCeiling'], file: 'docs/policy.md', says: `| \`clock_tolerance_seconds\` | integer | \`${d.clockToleranceSeconds}\` | 0–${d.clockToleranceSecondsCeiling}.` },
  {
    defaults: ['maxTokenAgeSeconds', 'maxTokenAgeSecondsCeiling'],
    file: 'docs/policy.md',
    says: `| \`max_token_age_seconds\` | integer | \`${d.maxTokenAgeSeconds}\` | 1–${d.maxTokenAgeSecondsCeiling} (${d.maxTokenAgeSecondsCeiling / 3600} h).`,
  },
  { defaults: ['maxTokenValiditySeconds', 'maxTokenAgeSecondsCeiling'], file: 'docs/policy.md', says: `| \`max_token_validity_seconds\` | integer | \`${d.maxTokenValiditySeconds}\` | 1–${d.maxTokenAgeSecondsCeiling}.` },
  { defaults: ['minRsaKeyBits', 'maxRsaKeyBits'], file: 'docs/policy.md', says: `| \`min_rsa_key_bits\` | integer | \`${d.minRsaKeyBits}\` | ${d.minRsaKeyBits}–${d.maxRsaKeyBits}.` },
  { defaults: ['jwksMaxKeys'], file: 'docs/policy.md', says: `1–${d.jwksMaxKeys} inline public keys` },

  // Issuer keys.
  {
    defaults: ['jwksMaxStaleMs', 'jwksCacheMaxAgeMs', 'jwksMaxStaleSecondsCeiling'],
    file: 'docs/policy.md',
    says: `| \`max_key_staleness_seconds\` | integer | \`${d.jwksMaxStaleMs / 1000}\` (${d.jwksMaxStaleMs / 3600_000} h) | ${d.jwksCacheMaxAgeMs / 1000}–${d.jwksMaxStaleSecondsCeiling}. Keys are refetched every ${minutes(d.jwksCacheMaxAgeMs)}.`,
  },
  { defaults: ['jwksMaxStaleMs'], file: 'README.md', says: `for a bounded time (${d.jwksMaxStaleMs / 3600_000} h by default)` },
  { defaults: ['jwksCacheMaxAgeMs', 'jwksCooldownMs'], file: 'docs/policy.md', says: `trusted for ${minutes(d.jwksCacheMaxAgeMs)} before a refetch. A token whose \`kid\` is not in the set triggers a refetch, at most once per ${seconds(d.jwksCooldownMs)} (cooldown).` },
  { defaults: ['jwksTimeoutMs'], file: 'docs/policy.md', says: `Every fetch is a \`GET\` with a ${seconds(d.jwksTimeoutMs)} timeout` },
  { defaults: ['jwksMaxBytes', 'discoveryMaxBytes'], file: 'docs/policy.md', says: `capped at ${kib(d.jwksMaxBytes)} for a JWKS and ${kib(d.discoveryMaxBytes)} for a discovery document` },
  { defaults: ['jwksRetryAfterSeconds'], file: 'docs/clients.md', says: `The client's \`jwks_uri\` cannot be fetched (\`Retry-After: ${d.jwksRetryAfterSeconds}\`)` },

  // Google IAM and the request deadline.
  { defaults: ['requestDeadlineMs'], file: 'README.md', says: `every request runs inside one ${seconds(d.requestDeadlineMs)} deadline` },
  { defaults: ['requestDeadlineMs'], file: 'docs/security.md', says: `one ${seconds(d.requestDeadlineMs)} deadline per request` },
  { defaults: ['requestDeadlineMs'], file: 'docs/decisions.md', says: `Every token request runs inside one ${seconds(d.requestDeadlineMs)} deadline (\`DEFAULTS.requestDeadlineMs\`)` },
  { defaults: ['upstreamRetryAfterSeconds'], file: 'docs/decisions.md', says: `the caller gets \`503 temporarily_unavailable\` with \`Retry-After: ${d.upstreamRetryAfterSeconds}\`` },
  { defaults: ['requestDeadlineMs'], file: 'terraform/modules/broker/README.md', says: `above the broker's ${seconds(d.requestDeadlineMs)} request deadline` },
  { defaults: ['upstreamTimeoutMs'], file: 'docs/security.md', says: `| IAM slow or stalled | ${seconds(d.upstreamTimeoutMs)} per attempt` },
  { defaults: ['upstreamRetry'], file: 'README.md', says: `IAM Credentials calls are retried at most ${d.upstreamRetry.maxAttempts} times` },
  {
    defaults: ['upstreamRetry'],
    file: 'docs/decisions.md',
    says: `at most ${d.upstreamRetry.maxAttempts} attempts, with full-jitter backoff from ${ms(d.upstreamRetry.baseDelayMs)} capped at ${seconds(d.upstreamRetry.maxDelayMs)}, and no attempt started with less than ${ms(d.upstreamRetry.minAttemptMs)} of the deadline left`,
  },
  {
    defaults: ['upstreamBreaker'],
    file: 'docs/decisions.md',
    says: `${d.upstreamBreaker.failureThreshold} consecutive retryable failures open it for ${seconds(d.upstreamBreaker.openMs)}, and a failed probe doubles that, up to ${seconds(d.upstreamBreaker.maxOpenMs)}.`,
  },

  // The token cache (docs/cache.md).
  {
    defaults: ['cacheReadBudgetMs', 'cacheTransactionBudgetMs', 'cacheWriteBudgetMs', 'cacheStoreBackoffMs'],
    file: 'docs/cache.md',
    says: `Every Firestore operation has a budget: read ${ms(d.cacheReadBudgetMs)}, lease ${seconds(d.cacheTransactionBudgetMs)}, write ${seconds(d.cacheWriteBudgetMs)}.`,
  },
  { defaults: ['cacheStoreBackoffMs'], file: 'docs/cache.md', says: `Firestore is skipped for the next ${seconds(d.cacheStoreBackoffMs)}` },
  { defaults: ['cacheLeaseMs'], file: 'docs/cache.md', says: `(\`leaseHolder\`, \`leaseUntil\` = now + ${seconds(d.cacheLeaseMs)})` },
  { defaults: ['cacheLeaseWaitMs'], file: 'docs/cache.md', says: `poll L2 for the holder's token (${seconds(d.cacheLeaseWaitMs)})` },
  { defaults: ['cacheRefreshAheadShare'], file: 'docs/cache.md', says: `\`refreshAt\` falls ${FRACTION[1 / d.cacheRefreshAheadShare]} of the servable span before \`servableUntil\`` },
  { defaults: ['cacheWarmUpMs'], file: 'docs/cache.md', says: `(a ${seconds(d.cacheWarmUpMs)} warm-up read)` },
  { defaults: ['cacheMinRemainingSeconds', 'cacheMinRemainingSecondsCeiling'], file: 'docs/cache.md', says: `| \`BROKER_CACHE_MIN_REMAINING_SECONDS\` | ${d.cacheMinRemainingSeconds} | 0–${d.cacheMinRemainingSecondsCeiling} |` },
  { defaults: ['cacheCollection'], file: 'docs/cache.md', says: `| \`BROKER_CACHE_COLLECTION\` | \`${d.cacheCollection}\` |` },
  {
    defaults: ['cacheMinRemainingSeconds', 'cacheMinRemainingSecondsCeiling'],
    file: 'terraform/modules/broker/README.md',
    says: `\`min_remaining_seconds\` (${d.cacheMinRemainingSeconds}, 0–${d.cacheMinRemainingSecondsCeiling})`,
  },
  { defaults: ['cacheMinRemainingSeconds'], file: 'terraform/modules/broker/variables.tf', says: `min_remaining_seconds = optional(number, ${d.cacheMinRemainingSeconds})` },
  { defaults: ['cacheCollection'], file: 'terraform/modules/broker/variables.tf', says: `collection = optional(string, "${d.cacheCollection}")` },

  // Clients (docs/clients.md, docs/policy.md clients[]).
  { defaults: ['maxAssertionLifetimeSeconds'], file: 'docs/policy.md', says: `| \`max_assertion_lifetime_seconds\` | integer | \`${d.maxAssertionLifetimeSeconds}\` | 10–3600.` },
  { defaults: ['clientAlgorithms'], file: 'docs/policy.md', says: `| \`algorithms\` | list | ${list(d.clientAlgorithms)} | Accepted assertion algorithms` },
  { defaults: ['replayRetryAfterSeconds'], file: 'docs/clients.md', says: `(\`replay_store_unavailable\`, \`Retry-After: ${d.replayRetryAfterSeconds}\`; it fails closed)` },
  { defaults: ['replayMemoryEntries'], file: 'docs/clients.md', says: `the instance's memory store holds ${grouped(d.replayMemoryEntries)} live marks` },
  { defaults: ['scrypt'], file: 'docs/clients.md', says: `Hashes are scrypt (\`$scrypt$ln=${d.scrypt.ln},r=${d.scrypt.r},p=${d.scrypt.p}$salt$hash\`)` },
  {
    defaults: ['scryptLimits'],
    file: 'docs/policy.md',
    says: `\`ln\` ${d.scryptLimits.ln.min}–${d.scryptLimits.ln.max}, \`r\` ${d.scryptLimits.r.min}–${d.scryptLimits.r.max}, \`p\` ${d.scryptLimits.p.min}–${d.scryptLimits.p.max}`,
  },
  {
    defaults: ['authFailureThrottle'],
    file: 'docs/clients.md',
    says:
      `The first ${d.authFailureThrottle.freeFailures} failures of a known client within ${minutes(d.authFailureThrottle.windowMs)} cost nothing. ` +
      `After the ${ordinal(d.authFailureThrottle.freeFailures + 1)}, every attempt for that client, right ones included, is held ${ms(d.authFailureThrottle.baseDelayMs)}, ` +
      `then ${ms(2 * d.authFailureThrottle.baseDelayMs)}, ${seconds(4 * d.authFailureThrottle.baseDelayMs)} and at most ${seconds(d.authFailureThrottle.maxDelayMs)}`,
  },
  { defaults: ['secretCacheTtlMs'], file: 'docs/clients.md', says: `A verified secret is remembered for ${minutes(d.secretCacheTtlMs)} per instance` },
  { defaults: ['corsMaxAgeSeconds'], file: 'docs/policy.md', says: `| \`max_age_seconds\` | integer | \`${d.corsMaxAgeSeconds}\` | 0–86400.` },
  { defaults: ['corsMaxAgeSeconds'], file: 'docs/clients.md', says: `max_age_seconds: ${d.corsMaxAgeSeconds} # preflight cache, 0–86400, default ${d.corsMaxAgeSeconds}` },

  // Rate limits (docs/clients.md).
  { defaults: ['limitsMaxChunk', 'limitsChunkDivisor'], file: 'docs/clients.md', says: `(${FRACTION[d.limitsChunkDivisor]} of the limit, 1–${d.limitsMaxChunk} units)` },
  {
    defaults: ['limitsReserveBudgetMs', 'limitsStoreBackoffMs'],
    file: 'docs/clients.md',
    says: `If Firestore fails or is slow (${ms(d.limitsReserveBudgetMs)}), each instance counts on its own for ${seconds(d.limitsStoreBackoffMs)}`,
  },
  { defaults: ['limitsCollection'], file: 'docs/clients.md', says: `collection \`${d.limitsCollection}\`` },

  // The audit trail (docs/audit.md, docs/policy.md).
  {
    defaults: ['auditStringChars', 'auditUserAgentChars', 'auditDetailChars'],
    file: 'docs/audit.md',
    says: `subjects, issuers and claims at ${d.auditStringChars} characters, the user agent at ${d.auditUserAgentChars}, error details at ${d.auditDetailChars}`,
  },
  { defaults: ['auditDetailChars'], file: 'docs/audit.md', says: `message; at most ${d.auditDetailChars} characters |` },
  { defaults: ['auditUserAgentChars'], file: 'docs/audit.md', says: `| \`httpRequest.userAgent\` | string | at most ${d.auditUserAgentChars} characters |` },
  { defaults: ['auditClaims', 'auditStringChars'], file: 'docs/policy.md', says: `At most ${d.auditClaims} names` },
  { defaults: ['auditStringChars'], file: 'docs/policy.md', says: `(values as strings, at most ${d.auditStringChars} characters; absent claims are left out)` },
];

const normalised = new Map<string, string>();
function doc(file: string): string {
  let text = normalised.get(file);
  if (text === undefined) {
    text = readFileSync(join(ROOT, file), 'utf8').replace(/\s+/g, ' ');
    normalised.set(file, text);
  }
  return text;
}

describe('defaults stated in the documentation', () => {
  it.each(STATEMENTS.map((s) => [s.defaults.join(', '), s.file, s.says] as const))('%s: %s says "%s"', (_defaults, file, says) => {
    expect(doc(file)).toContain(says.replace(/\s+/g, ' '));
  });

  it('covers the defaults operators tune most', () => {
    const covered = new Set(STATEMENTS.flatMap((s) => s.defaults));
    const important: (keyof typeof DEFAULTS)[] = [
      'maxBodyBytes', 'maxTokenBytes', 'maxScopes', 'maxTokenLifetimeSecondsCeiling', 'clockToleranceSeconds',
      'maxTokenAgeSeconds', 'maxTokenValiditySeconds', 'jwksTimeoutMs', 'jwksCooldownMs', 'jwksCacheMaxAgeMs',
      'jwksMaxStaleMs', 'requestDeadlineMs', 'cacheReadBudgetMs', 'cacheTransactionBudgetMs', 'cacheWriteBudgetMs',
      'cacheLeaseMs', 'browserRuleMaxLifetimeSeconds', 'maxAssertionLifetimeSeconds', 'minRsaKeyBits',
    ];
    expect(important.filter((key) => !covered.has(key))).toEqual([]);
    expect(covered.size).toBeGreaterThanOrEqual(40);
  });
});
