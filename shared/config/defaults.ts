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
  /** What a claim must look like to fill an access-boundary placeholder (a rule may set its own pattern per placeholder). */
  boundaryPlaceholderPattern: '^[A-Za-z0-9._-]{1,63}$',
  /** Most rules in an access boundary (Google's limit). */
  maxAccessBoundaryRules: 10,
  /** Google STS, where access boundaries are applied. */
  stsEndpoint: 'https://sts.googleapis.com',
  /** Most parameters one token request may carry. */
  maxParameters: 32,
  /** Longest parameter name accepted (the longest the broker reads has 21 characters). */
  maxParameterNameLength: 64,
  /** After the broker failed to load (a bad policy or setting), requests fail closed for this long before loading is retried. */
  reloadAfterFailureMs: 30_000,

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
  /** Deepest nesting of a verified token's claims (`{"a":{"b":…}}` counts 2). */
  maxClaimDepth: 8,
  /** Most values (objects, arrays and leaves) in a verified token's claims. */
  maxClaimNodes: 2000,
  /** Longest `sub` or `jti` claim of a verified token or assertion. */
  maxIdClaimLength: 1024,

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
  /** Longest `kid` a key may carry. */
  maxKidLength: 256,
  /** Longest `kid` quoted in an operator message or audit event. */
  logKidChars: 128,
  /** Largest accepted JWKS document. */
  jwksMaxBytes: 256 * 1024,
  /** Largest accepted OIDC discovery document. */
  discoveryMaxBytes: 64 * 1024,
  /** `Retry-After` sent when an issuer's keys cannot be fetched. */
  jwksRetryAfterSeconds: 30,
  /** `Retry-After` sent when Google IAM is unavailable and says nothing more precise. */
  upstreamRetryAfterSeconds: 5,
  /** Longest `Retry-After` of Google IAM's the broker passes on to its caller. */
  upstreamRetryAfterSecondsCeiling: 300,
  /** Longest part of a dependency's (IAM Credentials, Cloud KMS) error message kept in an operator detail. */
  dependencyMessageChars: 300,
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
  /** Upper bound on BROKER_CACHE_MIN_REMAINING_SECONDS. */
  cacheMinRemainingSecondsCeiling: 1800,
  /** Share of a cached token's servable span spent in refresh-ahead: a background refresh starts that long before it stops being served. */
  cacheRefreshAheadShare: 0.25,
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
  /** Reads and compare-and-set writes before a contended lease gives up (and the broker mints). */
  cacheLeaseAttempts: 4,
  /** After a Firestore failure, skip Firestore for this long (mint directly). */
  cacheStoreBackoffMs: 10_000,
  /** How long one data-encryption key serves new cache entries before a new one is wrapped. */
  cacheDekLifetimeMs: 3600_000,
  /** Verified subject tokens remembered per instance (by SHA-256), and the longest any is remembered (shared/identity/verified-token-memo.ts). */
  verifiedTokenMemoEntries: 10_000,
  verifiedTokenMemoTtlMs: 60_000,
  /** Unwrapped data-encryption keys each instance keeps in memory (each key sealed an hour of entries). */
  cacheUnwrappedKeys: 64,
  /** Timeout of one Cloud KMS call; the cache's own budgets usually end it sooner. */
  kmsTimeoutMs: 5000,

  /** Lifetime of tokens granted to browser users (issuers with `browser: true`) unless a rule says otherwise. */
  browserRuleMaxLifetimeSeconds: 300,
  /** Longest exp − iat of an RFC 7523 client assertion. */
  maxAssertionLifetimeSeconds: 3600,
  /** Longest `jti` of a client assertion (it is part of the replay store's key). */
  maxAssertionJtiLength: 256,
  /** Replay store: Firestore collection of the `jti`s of used assertions. */
  replayCollection: 'token-broker-replay',
  /** Live `jti` marks the in-memory replay store holds before it refuses new assertions (`replay_store_full`). */
  replayMemoryEntries: 10_000,
  /** Time budget of one Firestore replay claim: a create-if-absent is one round trip; this leaves room for a slow one, not for an outage. */
  replayClaimBudgetMs: 1000,
  /** `Retry-After` sent when the replay store is unavailable. */
  replayRetryAfterSeconds: 5,

  /** Token introspection: Firestore collection of issued tokens (one document per token, by its SHA-256). */
  issuedTokensCollection: 'token-broker-issued',
  /** Issued tokens one instance remembers in memory (the whole record without Firestore; written (token, client) pairs with it). */
  issuedTokensMemoryEntries: 10_000,
  /** Time budget of recording an issued token; past it the token is still answered, and introspection calls it inactive. */
  issuedTokensWriteBudgetMs: 1000,
  /** Time budget of looking a token up for introspection; past it the answer is 503. */
  issuedTokensReadBudgetMs: 1000,
  /** Introspection calls one client may make per minute, unless its `limits.requests_per_minute` says otherwise; a public client's are counted per caller address. */
  introspectionRequestsPerMinute: 600,
  /** `Retry-After` when the issued-token record cannot be read. */
  introspectionRetryAfterSeconds: 5,

  /** User sign-in: Firestore collection of signed-in sessions (the encrypted refresh-token vault). */
  sessionsCollection: 'token-broker-sessions',
  /** User sign-in: Firestore collection of pending logins (PKCE verifier, state and nonce between /v1/login and /v1/callback). */
  loginAttemptsCollection: 'token-broker-logins',
  /** How long a login may take between /v1/login and /v1/callback (the pre-login cookie and the pending login live this long). */
  loginAttemptTtlSeconds: 600,
  /** Time budget of one vault read or write. */
  sessionStoreBudgetMs: 1500,
  /** Sessions one instance keeps in memory without Firestore. */
  sessionMemoryEntries: 10_000,
  /** A web app's session lifetime unless its `session_lifetime_seconds` says otherwise (8 hours), and the longest allowed (30 days). */
  sessionLifetimeSeconds: 8 * 3600,
  sessionLifetimeSecondsCeiling: 30 * 86400,
  /** A user's access token is refreshed when less than this remains. */
  sessionRefreshMarginSeconds: 300,
  /** While the provider cannot refresh it, a user's token is still served if it has more than this left. */
  sessionStaleFloorSeconds: 10,
  /** Attempts at the provider's token endpoint per refresh (429, 5xx and network errors are retried with full-jitter backoff). */
  sessionRefreshAttempts: 3,
  /** Timeout of one call to a sign-in provider (discovery, token, revocation). */
  providerTimeoutMs: 5000,
  /** Session-token requests one user of a web app may make per minute unless the app's `limits` say otherwise. */
  sessionRequestsPerMinute: 60,

  /** scrypt cost of new secret and API key hashes: N = 2^15, r = 8, p = 1 (32 MiB). */
  scrypt: { ln: 15, r: 8, p: 1 },
  /** scrypt parameters a policy's hash may have: below the minimum is weak, above the maximum one verification is a denial of service. */
  scryptLimits: { ln: { min: 14, max: 20 }, r: { min: 8, max: 16 }, p: { min: 1, max: 4 } },
  /** Salt of new hashes, and the shortest salt a policy's hash may have. */
  scryptSaltBytes: 16,
  /** Longest salt a policy's hash may have. */
  scryptMaxSaltBytes: 48,
  /** Longest hash string a policy may hold. */
  secretHashMaxLength: 256,
  /** scrypt verifications one instance runs at once (each takes 32 MiB and a core for ~100 ms). */
  secretVerifyConcurrency: 2,
  /** How long a verified (secret, hash) pair is remembered, so a busy client pays no scrypt. */
  secretCacheTtlMs: 5 * 60_000,
  /** Verified pairs remembered per instance. */
  secretCacheEntries: 1000,
  /**
   * Repeated failed client authentications, per client id and instance: within a 5-minute window
   * the first 3 failures are free; each further one doubles a delay from 250 ms up to 2 s. At most
   * 10 000 client ids are tracked.
   */
  authFailureThrottle: { windowMs: 5 * 60_000, freeFailures: 3, baseDelayMs: 250, maxDelayMs: 2000, maxClients: 10_000 },
  /** Shortest and longest secret `admin hash-secret` accepts (generated ones are 47 characters). */
  adminSecretLength: { min: 16, max: 1024 },
  /** Algorithms accepted for client assertions when a client does not list its own. */
  clientAlgorithms: ['RS256', 'ES256'] as readonly string[],
  /** How long browsers may cache a CORS preflight answer. */
  corsMaxAgeSeconds: 600,

  /** Policy documents: YAML aliases beyond this are refused (no "billion laughs"). */
  policyMaxAliases: 50,
  /** CEL evaluation refuses claim trees deeper than this (the claim copier allows far less). */
  celMaxClaimDepth: 32,
  /** Compiled `matches()` patterns kept per instance; policy literals are few, claim-supplied ones are bounded. */
  celCachedPatterns: 256,

  /** Audit entries: longest caller-supplied string (subject, issuer, claim value). */
  auditStringChars: 256,
  /** Audit entries: longest user agent. */
  auditUserAgentChars: 256,
  /** Audit entries: longest request path. */
  auditPathChars: 128,
  /** Audit entries: longest operator detail (`error.detail`, an auth event's `error` or `reason`). */
  auditDetailChars: 512,
  /** Audit entries: most claims a rule's `audit_claims` records. */
  auditClaims: 20,

  /** Production IAM Credentials endpoint. */
  iamCredentialsEndpoint: 'https://iamcredentials.googleapis.com',
  /** Gemini Developer API, where Live API ephemeral tokens are created (`v1alpha/auth_tokens`). */
  geminiEndpoint: 'https://generativelanguage.googleapis.com',
  /** Secret Manager, which holds the broker's Gemini API key. */
  secretManagerEndpoint: 'https://secretmanager.googleapis.com',
  /** The Gemini API key read from Secret Manager is kept in memory this long, then read again (a rotated key is picked up within it). */
  geminiApiKeyTtlMs: 10 * 60_000,
  /** Gemini ephemeral tokens: Google's defaults are 30 minutes to expire and 60 s to open a new session; the broker caps a rule's `expire_seconds` here. */
  geminiEphemeralExpireSecondsCeiling: 1800,
  /** A rule's `gemini_ephemeral.expire_seconds` when it says none (Google's own default). */
  geminiEphemeralExpireSeconds: 1800,
  /** A rule's `gemini_ephemeral.new_session_expire_seconds` when it says none (Google's own default). */
  geminiEphemeralNewSessionExpireSeconds: 60,
  /** Most uses a rule may give one ephemeral token. */
  geminiEphemeralMaxUses: 100,
  /** Scope of the broker's own credentials (Application Default Credentials). */
  sourceScopes: ['https://www.googleapis.com/auth/cloud-platform'] as readonly string[],

  /** Operator deny-list (kill switch): Firestore collection of its entries (one document per entry). */
  denyCollection: 'token-broker-deny',
  /** Most deny entries one instance holds in its snapshot; `admin deny add` refuses to add beyond it. */
  denyMaxEntries: 10_000,
  /** When the deny-list's real-time listener fails, each instance re-reads the collection this often instead. */
  denyPollMs: 3_000,
  /** How long a loading broker waits for the deny-list's first snapshot before it serves without one (and says so in the audit log). */
  denyFirstSnapshotMs: 5_000,
  /** Time budget of one poll of the deny-list collection. */
  denyReadBudgetMs: 3_000,
  /** Longest reason, claim name or value a deny entry may hold. */
  denyFieldChars: 512,
  /** Time budget of purging a denied principal's tokens from the shared (L2) cache. */
  cachePurgeBudgetMs: 10_000,

  /** Rate limits: Firestore collection of the shared quota counters (one document per principal, scope and window). */
  limitsCollection: 'token-broker-limits',
  /** Most units of an instance's opening chunk of a shared counter (higher for hot limits: see chunkSize); chunks it keeps using up then grow, up to 1/limitsChunkDivisor of the limit. */
  limitsMaxChunk: 20,
  /** Time budget of one quota reservation (compare-and-set, with its retries); past it the limiter counts per instance. */
  limitsReserveBudgetMs: 500,
  /** After a Firestore failure, count per instance (fail open, bounded by the same limits) for this long. */
  limitsStoreBackoffMs: 10_000,
  /** Counter states (reserved units, exhausted windows) one instance remembers; forgetting one only costs a round trip. */
  limitsMemoryCounters: 50_000,
  /** An opening chunk is 1/this of the limit (at least 1 unit, at most limitsMaxChunk), and no chunk is ever larger than 1/this of the limit: bounds the quota one instance can strand. */
  limitsChunkDivisor: 10,
  /** A chunk an instance used up within its window makes its next one this many times as large (up to 1/limitsChunkDivisor of the limit). */
  limitsChunkGrowth: 2,
  /** Lost compare-and-sets are retried for this share of the reservation budget; the rest is headroom for the last attempt. */
  limitsContentionShare: 0.6,
  /** Random pause before retrying a lost compare-and-set: up to 2 ms per attempt so far, at most 20 ms. */
  limitsConflictBackoffMs: { perAttempt: 2, max: 20 },
} as const;
