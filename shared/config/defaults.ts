/**
 * Every default of the broker, in one place. Each value is a security knob: the comment
 * says why it has this value. Policy documents and environment variables may tighten most
 * of them; the `*_CEILING` values are hard limits nothing can raise.
 */
export const DEFAULTS = {
  /** Largest accepted token request body (SECURITY.md: cap the body). */
  maxBodyBytes: 64 * 1024,
  /** Largest accepted `subject_token` / `assertion`. Real OIDC tokens are 1–4 KiB. */
  maxTokenBytes: 16 * 1024,
  /** Largest accepted value of any other parameter (`scope`, `audience`, `options`, ...). */
  maxParamBytes: 4 * 1024,
  /** Most scopes one request may name. */
  maxScopes: 32,

  /** Broker-wide ceiling for a minted token's lifetime: IAM Credentials' default maximum. */
  maxTokenLifetimeSecondsCeiling: 3600,
  /** Lifetime of a minted token when neither request nor rule says otherwise. */
  ruleMaxLifetimeSeconds: 3600,
  /** Shortest lifetime a caller may ask for. */
  minTokenLifetimeSeconds: 60,

  /** Clock skew tolerated on `exp`/`nbf`/`iat`. */
  clockToleranceSeconds: 30,
  /** Hard upper bound on an issuer's configured clock tolerance. */
  clockToleranceSecondsCeiling: 60,
  /** A subject token older than this (now − iat) is refused, whatever its `exp`. */
  maxTokenAgeSeconds: 3600,
  /** A subject token whose validity window (exp − iat) is longer than this is refused. */
  maxTokenValiditySeconds: 24 * 3600,
  /** Upper bounds on the above two per-issuer settings (Kubernetes allows up to 48 h). */
  maxTokenAgeSecondsCeiling: 48 * 3600,
  /** Algorithms accepted when an issuer does not list its own. Asymmetric only. */
  algorithms: ['RS256'] as readonly string[],

  /** Timeout of one JWKS or discovery fetch (jose's default). */
  jwksTimeoutMs: 5000,
  /** An unknown `kid` triggers a JWKS refetch at most once per this window. */
  jwksCooldownMs: 30_000,
  /** A fetched JWKS is trusted for this long before it is refetched. */
  jwksCacheMaxAgeMs: 10 * 60_000,
  /**
   * While an issuer's key host is down, keys fetched earlier keep verifying tokens for at most
   * this long after their fetch (refetches are retried meanwhile, once per cooldown). Bounded:
   * a key the issuer withdrew during an outage is trusted no longer than this.
   */
  jwksMaxStaleMs: 6 * 3600_000,
  /** Upper bound on an issuer's `max_key_staleness_seconds`. */
  jwksMaxStaleSecondsCeiling: 24 * 3600,
  /**
   * Smallest RSA modulus a verification key may have (RFC 8725 §3.2, NIST SP 800-131A). An
   * issuer or client may raise it (`min_rsa_key_bits`), never lower it.
   */
  minRsaKeyBits: 2048,
  /** Largest RSA modulus accepted: bigger keys buy nothing and slow every verification. */
  maxRsaKeyBits: 16384,
  /** Widest RSA public exponent accepted (OpenSSL's own bound for large moduli). */
  maxRsaExponentBits: 64,
  /** Most keys one JWKS (fetched or inline) may hold. */
  jwksMaxKeys: 100,
  /** Largest accepted JWKS document. */
  jwksMaxBytes: 256 * 1024,
  /** Largest accepted OIDC discovery document. */
  discoveryMaxBytes: 64 * 1024,
  /** `Retry-After` sent when an issuer's keys cannot be fetched. */
  jwksRetryAfterSeconds: 30,
  /** `Retry-After` sent when Google IAM is unavailable and says nothing more precise. */
  upstreamRetryAfterSeconds: 5,
  /** Timeout of one IAM Credentials call (its p99 is well under a second). */
  upstreamTimeoutMs: 5_000,
  /**
   * Retries of a failed IAM Credentials call: 3 attempts in all, full-jitter backoff from
   * 200 ms capped at 2 s, and none started with less than 250 ms of the request's deadline left.
   */
  upstreamRetry: { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 2_000, minAttemptMs: 250 },
  /**
   * Circuit breaker per instance: 5 consecutive retryable failures open it for 5 s; a failed
   * probe doubles that, up to 60 s. Callers meanwhile get 503 with Retry-After at once.
   */
  upstreamBreaker: { failureThreshold: 5, openMs: 5_000, maxOpenMs: 60_000 },
  /**
   * One deadline for a whole token request (key fetch, Firestore, minting and retries). Below
   * the function timeout (at least 30 s in terraform/modules/broker), so every request ends
   * with an answer and an audit entry rather than being cut off.
   */
  requestDeadlineMs: 20_000,

  /** Token cache: never serve a cached token with less remaining life than this (or half its lifetime). */
  cacheMinRemainingSeconds: 300,
  /** Tokens kept in each instance's memory (L1). */
  cacheMemoryEntries: 1000,
  /** Firestore collection of the shared (L2) cache. */
  cacheCollection: 'token-broker-cache',
  /** Time budgets of Firestore operations; past them the broker mints directly. */
  cacheReadBudgetMs: 300,
  cacheTransactionBudgetMs: 1000,
  cacheWriteBudgetMs: 1000,
  /** Budget for opening the Firestore connection while the broker loads. */
  cacheWarmUpMs: 3000,
  /** How long one instance's mint lease keeps others waiting (covers an upstream call). */
  cacheLeaseMs: 5000,
  /** How long an instance waits for the lease holder's token before minting itself. */
  cacheLeaseWaitMs: 3000,
  cacheLeasePollMs: 100,
  /** After a Firestore failure, skip Firestore for this long (mint directly). */
  cacheStoreBackoffMs: 10_000,
  /** How long one data-encryption key serves new cache entries before a new one is wrapped. */
  cacheDekLifetimeMs: 3600_000,

  /** Lifetime of tokens granted to browser users (issuers with `browser: true`) unless a rule says otherwise. */
  browserRuleMaxLifetimeSeconds: 300,
  /** Longest exp − iat of an RFC 7523 client assertion. */
  maxAssertionLifetimeSeconds: 300,
  /** Algorithms accepted for client assertions when a client does not list its own. */
  clientAlgorithms: ['RS256', 'ES256'] as readonly string[],
  /** How long browsers may cache a CORS preflight answer. */
  corsMaxAgeSeconds: 600,

  /** Production IAM Credentials endpoint. */
  iamCredentialsEndpoint: 'https://iamcredentials.googleapis.com',
  /** Scope of the broker's own credentials (Application Default Credentials). */
  sourceScopes: ['https://www.googleapis.com/auth/cloud-platform'] as readonly string[],

  /** Rate limits: Firestore collection of the shared quota counters (one document per principal, scope and window). */
  limitsCollection: 'token-broker-limits',
  /** Most units one instance reserves from a shared counter at once: bounds the quota one instance can strand. */
  limitsMaxChunk: 20,
  /** Time budget of one quota reservation (compare-and-set, with its retries); past it the limiter counts per instance. */
  limitsReserveBudgetMs: 500,
  /** After a Firestore failure, count per instance (fail open, bounded by the same limits) for this long. */
  limitsStoreBackoffMs: 10_000,
  /** Counter states (reserved units, exhausted windows) one instance remembers; forgetting one only costs a round trip. */
  limitsMemoryCounters: 50_000,
} as const;
