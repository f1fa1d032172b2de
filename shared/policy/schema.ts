/**
 * The trust-policy document schema (version 1). This zod schema is the single source of
 * truth: `docs/policy.schema.json` is generated from it (`npm run schema`) and a test keeps
 * the two in step. Objects are strict, so a misspelt key is an error, not a silent no-op.
 */
import { z } from 'zod';
import { DEFAULTS } from '../config/defaults';
import { CLIENT_ID_PATTERN, CLIENT_ID_RULE } from '../identity/client-id';
import { SIGNING_ALGORITHM_NAMES } from '../identity/signing-algorithms';
import { GEMINI_MODEL_PATTERN } from './gemini-ephemeral';

/** RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const SERVICE_ACCOUNT = /^[a-z0-9][a-z0-9._-]{0,99}@[a-z0-9][a-z0-9.-]{0,99}\.gserviceaccount\.com$/;
const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const CLAIM_NAME = /^[A-Za-z0-9_.:/-]{1,128}$/;
const seconds = (min: number, max: number) => z.number().int().min(min).max(max);

/** A public JWK; what makes it acceptable (type, size, curve, algorithm) is checked at load by `acceptJwk`. */
const PublicJwk = z.looseObject({}).describe(
  `A public signature key: RSA of at least ${DEFAULTS.minRsaKeyBits} bits with an odd exponent >= 3, EC P-256/P-384/P-521, or Ed25519; no private members.`,
);
const minRsaKeyBits = z.number().int().min(DEFAULTS.minRsaKeyBits).max(DEFAULTS.maxRsaKeyBits).optional()
  .describe(`Smallest RSA modulus accepted, in bits (default and floor ${DEFAULTS.minRsaKeyBits}).`);

/** Issuer presets for browser sign-in: one line instead of five settings that are easy to get wrong. */
export const ISSUER_PRESETS = ['firebase', 'google'] as const;

export const IssuerSchema = z
  .strictObject({
    preset: z.enum(ISSUER_PRESETS).optional()
      .describe('firebase (needs project_id) or google (needs client_ids): fills in issuer, audiences, keys and browser defaults.'),
    project_id: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a Google Cloud project id').optional()
      .describe('Firebase project id (preset firebase).'),
    client_ids: z.array(z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'must be an OAuth client id')).min(1).max(20).optional()
      .describe('OAuth client ids of your web app (preset google); tokens must have one as `aud`.'),
    issuer: z.url({ protocol: /^https?$/ }).optional().describe('Exact `iss` value of the tokens; also the base URL for OIDC discovery. Required without a preset.'),
    audiences: z.array(z.string().min(1).max(512)).min(1).optional().describe('Accepted `aud` values; a token must name at least one. Required without a preset.'),
    browser: z.boolean().optional()
      .describe(`Tokens of browser users: rules for this issuer default to ${DEFAULTS.browserRuleMaxLifetimeSeconds}-second tokens (presets set it).`),
    algorithms: z.array(z.enum(SIGNING_ALGORITHM_NAMES)).min(1).optional()
      .describe(`Accepted JWS algorithms (default ${DEFAULTS.algorithms.join(', ')}).`),
    authorized_parties: z.array(z.string().min(1).max(512)).min(1).max(50).optional()
      .describe('Accepted `azp` values. A token with several audiences, or with an `azp`, must name one of these (default: the accepted audiences; preset google: its client_ids).'),
    min_rsa_key_bits: minRsaKeyBits,
    jwks_uri: z.url({ protocol: /^https?$/ }).optional().describe('Fetch keys from this JWKS URL instead of OIDC discovery.'),
    jwks: z.strictObject({ keys: z.array(PublicJwk).min(1).max(100) }).optional()
      .describe('Inline public keys, for issuers that publish none (no fetching at all).'),
    clock_tolerance_seconds: seconds(0, DEFAULTS.clockToleranceSecondsCeiling).optional()
      .describe(`Clock skew tolerated on exp/nbf/iat (default ${DEFAULTS.clockToleranceSeconds}).`),
    max_token_age_seconds: seconds(1, DEFAULTS.maxTokenAgeSecondsCeiling).optional()
      .describe(`Refuse tokens issued longer ago than this (default ${DEFAULTS.maxTokenAgeSeconds}).`),
    max_token_validity_seconds: seconds(1, DEFAULTS.maxTokenAgeSecondsCeiling).optional()
      .describe(`Refuse tokens whose exp − iat exceeds this (default ${DEFAULTS.maxTokenValiditySeconds}).`),
    replay: z.enum(['allow', 'one_time']).optional()
      .describe("one_time: each subject token (its jti, else its SHA-256) may be exchanged once within its lifetime; a second use is invalid_grant subject_token_replayed, cached tokens included. Needs shared state (BROKER_CACHE=firestore) in production. Default allow."),
    max_key_staleness_seconds: seconds(DEFAULTS.jwksCacheMaxAgeMs / 1000, DEFAULTS.jwksMaxStaleSecondsCeiling).optional()
      .describe(`While the key host cannot be reached, keep verifying with keys fetched up to this long ago (default ${DEFAULTS.jwksMaxStaleMs / 1000}).`),
  })
  .refine((i) => !(i.jwks_uri !== undefined && i.jwks !== undefined), {
    message: 'set at most one of jwks_uri and jwks (neither means OIDC discovery)',
  })
  .refine((i) => !(i.jwks !== undefined && i.max_key_staleness_seconds !== undefined), {
    path: ['max_key_staleness_seconds'],
    message: 'inline keys are never fetched, so they never go stale: remove it',
  })
  .superRefine((i, ctx) => {
    const presetOnly = ['project_id', 'client_ids'] as const;
    if (i.preset === undefined) {
      if (i.issuer === undefined) ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'required (or use a preset)' });
      if (i.audiences === undefined) ctx.addIssue({ code: 'custom', path: ['audiences'], message: 'required (or use a preset)' });
      for (const key of presetOnly) if (i[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'only with a preset' });
      return;
    }
    for (const key of ['issuer', 'audiences', 'jwks', 'jwks_uri', 'algorithms'] as const) {
      if (i[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `set by preset ${i.preset}; remove it` });
    }
    if (i.preset === 'firebase' && i.project_id === undefined) ctx.addIssue({ code: 'custom', path: ['project_id'], message: 'required by preset firebase' });
    if (i.preset === 'google' && i.client_ids === undefined) ctx.addIssue({ code: 'custom', path: ['client_ids'], message: 'required by preset google' });
    if (i.preset === 'firebase' && i.client_ids !== undefined) ctx.addIssue({ code: 'custom', path: ['client_ids'], message: 'not used by preset firebase' });
    if (i.preset === 'google' && i.project_id !== undefined) ctx.addIssue({ code: 'custom', path: ['project_id'], message: 'not used by preset google' });
  });

/** A JSON object whose members Google validates (the broker passes it on as written). */
const GoogleObject = z.record(z.string(), z.unknown());

/**
 * LiveConnectConfig fields a `gemini_ephemeral` grant may lock (the @google/genai names). The
 * common ones are typed; nested configuration objects are passed to Google as written.
 */
export const LiveLockSchema = z.strictObject({
  responseModalities: z.array(z.enum(['TEXT', 'AUDIO', 'IMAGE'])).min(1).max(3).optional(),
  temperature: z.number().min(0).max(2).optional(),
  topP: z.number().min(0).max(1).optional(),
  topK: z.number().int().min(1).max(1000).optional(),
  maxOutputTokens: z.number().int().min(1).max(1_000_000).optional(),
  mediaResolution: z.enum(['MEDIA_RESOLUTION_LOW', 'MEDIA_RESOLUTION_MEDIUM', 'MEDIA_RESOLUTION_HIGH']).optional(),
  seed: z.number().int().optional(),
  speechConfig: GoogleObject.optional(),
  thinkingConfig: GoogleObject.optional(),
  enableAffectiveDialog: z.boolean().optional(),
  translationConfig: GoogleObject.optional(),
  systemInstruction: z.union([z.string().min(1).max(32_768), GoogleObject]).optional()
    .describe('Text, or a Content object ({parts: [{text}]}).'),
  tools: z.array(GoogleObject).max(32).optional(),
  sessionResumption: GoogleObject.optional(),
  inputAudioTranscription: GoogleObject.optional(),
  outputAudioTranscription: GoogleObject.optional(),
  realtimeInputConfig: GoogleObject.optional(),
  contextWindowCompression: GoogleObject.optional(),
  proactivity: GoogleObject.optional(),
  safetySettings: z.array(GoogleObject).max(32).optional(),
});

export const GeminiEphemeralSchema = z.strictObject({
  model: z.string().regex(GEMINI_MODEL_PATTERN, 'must be a Gemini model id or models/… name')
    .describe('The Live API model the token is for: a model id (gemini-live-2.5-flash-preview) or models/… name.'),
  uses: z.number().int().min(1).max(DEFAULTS.geminiEphemeralMaxUses).optional()
    .describe(`Sessions one token may open (default 1, at most ${DEFAULTS.geminiEphemeralMaxUses}).`),
  expire_seconds: seconds(DEFAULTS.minTokenLifetimeSeconds, DEFAULTS.geminiEphemeralExpireSecondsCeiling).optional()
    .describe(`After this many seconds the token stops working, open sessions included (default and ceiling ${DEFAULTS.geminiEphemeralExpireSecondsCeiling}).`),
  new_session_expire_seconds: seconds(1, DEFAULTS.geminiEphemeralExpireSecondsCeiling).optional()
    .describe(`After this many seconds no new session may start with the token (default ${DEFAULTS.geminiEphemeralNewSessionExpireSeconds}; at most expire_seconds).`),
  lock: LiveLockSchema.optional()
    .describe('LiveConnectConfig the token is locked to; every field it does not set is locked to Google\'s default.'),
}).refine((g) => g.new_session_expire_seconds === undefined || g.new_session_expire_seconds <= (g.expire_seconds ?? DEFAULTS.geminiEphemeralExpireSeconds), {
  path: ['new_session_expire_seconds'], message: 'must not exceed expire_seconds',
});

/** Grant presets for Gemini: the scope each API needs, expanded at load into an explicit grant. */
export const GRANT_PRESETS = ['gemini-vertex', 'gemini-developer-api'] as const;
export type GrantPreset = (typeof GRANT_PRESETS)[number];

export const GrantSchema = z.strictObject({
  preset: z.enum(GRANT_PRESETS).optional()
    .describe('gemini-vertex: scopes [cloud-platform], for Vertex AI Gemini (the service account needs roles/aiplatform.user). gemini-developer-api: scopes [generative-language], for the Gemini Developer API with OAuth. Sets scopes; do not list them.'),
  service_account: z.string().regex(SERVICE_ACCOUNT, 'must be a service account email (…@….gserviceaccount.com)')
    .describe('Target service account the broker impersonates.'),
  scopes: z.array(z.string().regex(SCOPE_TOKEN, 'must be an RFC 6749 scope token').max(512)).min(1).max(DEFAULTS.maxScopes).optional()
    .describe('OAuth scopes a caller may request; the token gets the requested subset (all of them when none are requested). Required unless a preset sets them.'),
  max_lifetime_seconds: seconds(DEFAULTS.minTokenLifetimeSeconds, DEFAULTS.maxTokenLifetimeSecondsCeiling).optional()
    .describe(`Longest lifetime of a minted token (default and ceiling ${DEFAULTS.maxTokenLifetimeSecondsCeiling}).`),
  delegates: z.array(z.string().regex(SERVICE_ACCOUNT, 'must be a service account email')).max(10).optional()
    .describe('Delegation chain for IAM Credentials, outermost first.'),
  access_boundary: z.array(z.strictObject({
    resource: z.string().min(1).max(1024).describe('A Cloud Storage bucket, //storage.googleapis.com/projects/_/buckets/NAME; may hold {{claims.NAME}} or {{client.client_id}}.'),
    permissions: z.array(z.string().min(1).max(256)).min(1).max(50).describe('inRole:roles/ROLE values.'),
    condition: z.strictObject({
      expression: z.string().min(1).max(2048).describe('CEL over resource.name (and the like); a placeholder becomes one quoted string literal.'),
      title: z.string().max(256).optional(),
      description: z.string().max(1024).optional(),
    }).optional(),
  })).min(1).max(DEFAULTS.maxAccessBoundaryRules).optional()
    .describe('Credential Access Boundary applied to every token of this rule (through Google STS), rendered from the caller\'s claims.'),
  scope_request: z.enum(['exact', 'intersect']).optional()
    .describe('exact (default): every requested scope must be granted, else invalid_scope. intersect: issue the requested scopes the rule grants (refused only when none is), for clients that always ask for more (gcloud).'),
  id_token_audiences: z.array(z.string().min(1).max(512)).min(1).max(50).optional()
    .describe('Audiences a caller may ask an ID token for (requested_token_type id_token, resource): exact https URLs, or https://*.HOST to allow any one-label subdomain (e.g. https://*.a.run.app).'),
  gemini_ephemeral: GeminiEphemeralSchema.optional()
    .describe('Lets a caller ask for a Gemini Live API ephemeral token (requested_token_type urn:x-token-broker:token-type:gemini-ephemeral), created with the broker\'s Gemini API key and locked to this model and configuration.'),
  placeholder_patterns: z.record(z.string(), z.string().min(1).max(256)).optional()
    .describe(`Per placeholder (claims.NAME, client.client_id): the pattern its value must match (default ${DEFAULTS.boundaryPlaceholderPattern}).`),
}).refine((g) => g.placeholder_patterns === undefined || g.access_boundary !== undefined, {
  path: ['placeholder_patterns'], message: 'only with access_boundary',
}).superRefine((g, ctx) => {
  if (g.preset === undefined && g.scopes === undefined) ctx.addIssue({ code: 'custom', path: ['scopes'], message: 'required (or use a preset)' });
  if (g.preset !== undefined && g.scopes !== undefined) ctx.addIssue({ code: 'custom', path: ['scopes'], message: `set by preset ${g.preset}; remove it` });
});

export const LimitsSchema = z.strictObject({
  requests_per_minute: z.number().int().min(1).max(1_000_000).optional()
    .describe('Requests one principal may make per UTC minute (across all instances).'),
  tokens_per_day: z.number().int().min(1).max(10_000_000).optional()
    .describe('Tokens one principal may obtain per UTC day (across all instances).'),
});

export const RuleSchema = z.strictObject({
  id: z.string().regex(RULE_ID, 'must be 1–63 letters, digits, ".", "_" or "-"').describe('Unique rule name (audit, `audience`).'),
  description: z.string().max(1024).optional(),
  issuer: z.string().min(1).optional().describe('Issuer this rule applies to; must be declared under `issuers`. Exactly one of issuer and clients.'),
  clients: z.array(z.string().regex(CLIENT_ID_PATTERN, `must be a client id: ${CLIENT_ID_RULE}`)).min(1).max(100).optional()
    .describe('Registered clients (under `clients`) this rule applies to. Exactly one of issuer and clients.'),
  limits: LimitsSchema.optional().describe('Per-principal rate limit and daily token budget for this rule.'),
  condition: z.string().min(1).max(4096).describe('CEL expression over `claims` that must be true. `\'true\'` accepts every token of the issuer: never do that for a multi-tenant issuer (GitHub, GitLab).'),
  grant: GrantSchema,
  audit_claims: z.array(z.string().regex(CLAIM_NAME)).max(20).optional()
    .describe('Claims recorded in audit entries for tokens this rule grants.'),
  mode: z.enum(['enforce', 'shadow']).optional()
    .describe('shadow: evaluated and audited (shadow_match / shadow_refusal with what it would have granted), never grants; the rules after it still decide. Default enforce.'),
  username: z.string().min(3).max(256).optional()
    .describe('Readable account name token introspection answers (`username`; what `gcloud auth list` shows): text with {claim} placeholders, e.g. "{repository}@github". Default: the subject.'),
});

const SECRET_HASH = /^\$scrypt\$ln=\d{1,2},r=\d{1,2},p=\d\$[A-Za-z0-9+/]{16,64}\$[A-Za-z0-9+/]{32,128}$/;
const CIDR = /^[0-9a-fA-F.:]{2,45}\/\d{1,3}$/;

const StoredSecret = z.strictObject({
  hash: z.string().regex(SECRET_HASH, 'must be a $scrypt$ hash made by `npm run admin -- new-client-secret`'),
  created: z.string().max(64).optional(),
  expires: z.iso.datetime({ offset: true }).optional().describe('After this instant the secret is refused (rotation overlap ends).'),
});

const StoredApiKey = z.strictObject({
  id: z.string().regex(/^[a-z2-7]{12}$/, 'must be the public id printed by `npm run admin -- new-api-key`'),
  hash: z.string().regex(SECRET_HASH, 'must be a $scrypt$ hash made by `npm run admin -- new-api-key`'),
  created: z.string().max(64).optional(),
  expires: z.iso.datetime({ offset: true }).optional().describe('After this instant the key is refused.'),
  allowed_ip_ranges: z.array(z.string().regex(CIDR, 'must be a CIDR range such as 203.0.113.0/24')).min(1).max(100).optional()
    .describe('Caller addresses allowed (the address Google\'s front end saw; see docs/clients.md).'),
  allowed_origins: z.array(z.url({ protocol: /^https?$/ })).min(1).max(50).optional()
    .describe('Browser origins (Origin, else Referer) allowed to use the key.'),
});

export const ClientSchema = z.strictObject({
  id: z.string().regex(CLIENT_ID_PATTERN, `must be ${CLIENT_ID_RULE}`).describe('The client_id.'),
  description: z.string().max(1024).optional(),
  jwks: z.strictObject({ keys: z.array(PublicJwk).min(1).max(20) }).optional()
    .describe('Public keys for RFC 7523 assertions (private_key_jwt and the jwt-bearer grant).'),
  jwks_uri: z.url({ protocol: /^https?$/ }).optional().describe('Where the client publishes those public keys.'),
  algorithms: z.array(z.enum(SIGNING_ALGORITHM_NAMES)).min(1).optional().describe('Accepted assertion algorithms (default RS256, ES256).'),
  min_rsa_key_bits: minRsaKeyBits,
  max_assertion_lifetime_seconds: seconds(10, 3600).optional().describe(`Longest exp − iat of an assertion (default ${DEFAULTS.maxAssertionLifetimeSeconds}).`),
  secrets: z.array(StoredSecret).min(1).max(2).optional().describe('Hashed client secrets: two during a rotation, one otherwise.'),
  api_keys: z.array(StoredApiKey).min(1).max(10).optional().describe('Hashed broker API keys of this client.'),
  limits: LimitsSchema.optional().describe('Rate limit and daily budget for this client, across all its rules.'),
  introspection: z.enum(['own', 'any']).optional()
    .describe('Which tokens the client may introspect (POST /v1/introspect): those handed to it (`own`, the default), or every token the broker issued (`any`: a resource server).'),
}).refine((c) => !(c.jwks !== undefined && c.jwks_uri !== undefined), { message: 'set at most one of jwks and jwks_uri' })
  .refine((c) => c.jwks !== undefined || c.jwks_uri !== undefined || c.secrets !== undefined || c.api_keys !== undefined, {
    message: 'a client needs at least one credential: jwks, jwks_uri, secrets or api_keys',
  });

/** `web_apps[].provider`: Google, or any OpenID Connect provider found by discovery. */
export const WEB_APP_PROVIDER_PRESETS = ['google'] as const;
const SECRET_VERSION = /^projects\/[^/]{1,100}\/secrets\/[A-Za-z0-9_-]{1,255}\/versions\/(latest|[1-9][0-9]{0,9})$/;
const ORIGIN = z.url({ protocol: /^https?$/ });

export const WebAppSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1–63 of a–z, 0–9 and "-"').describe('The app id (`/v1/login?app=ID`).'),
  description: z.string().max(1024).optional(),
  provider: z.union([
    z.enum(WEB_APP_PROVIDER_PRESETS).describe('Google (accounts.google.com), found by OpenID Connect discovery.'),
    z.strictObject({ issuer: z.url({ protocol: /^https?$/ }).describe('The provider\'s issuer: the base URL of its OpenID Connect discovery document.') }),
  ]).describe('Where users sign in.'),
  client_id: z.string().min(1).max(256).describe("The broker's OAuth client id at the provider (a confidential web client)."),
  client_secret_ref: z.string().regex(SECRET_VERSION, 'must be a Secret Manager version: projects/P/secrets/S/versions/V')
    .describe('The Secret Manager version holding that client\'s secret (development mode serves it from the emulated Secret Manager).'),
  redirect_uri: z.url({ protocol: /^https?$/ }).describe("The broker's own callback, exactly as registered at the provider: <issuer URL>/v1/callback."),
  origins: z.array(ORIGIN).min(1).max(20).describe('Origins of the app\'s pages: they may call /v1/session/token and /v1/logout.'),
  scopes: z.array(z.string().regex(SCOPE_TOKEN)).min(1).max(32).describe('Scopes asked of the user; must include openid.'),
  post_login_redirects: z.array(z.url({ protocol: /^https?$/ })).min(1).max(50)
    .describe('Exact URLs `return_to` may name (no prefix matching: an open redirect is a phishing tool).'),
  condition: z.string().min(1).max(4096).optional()
    .describe("CEL over the verified ID token's `claims` that must be true for a session (e.g. claims.hd == 'acme.com'). Default: any user of the provider."),
  prompt: z.enum(['consent', 'login', 'select_account', 'none']).nullable().optional()
    .describe('The OpenID Connect `prompt` sent to the provider (default `consent` for Google, which issues a refresh token again only after consent; none for other providers). null sends none.'),
  refresh_token_lifetime_seconds: seconds(300, DEFAULTS.sessionLifetimeSecondsCeiling).optional()
    .describe('How long after sign-in the broker uses the refresh token (default: the whole session). Past it the session ends at its access token\'s expiry: the user signs in again.'),
  session_lifetime_seconds: seconds(300, DEFAULTS.sessionLifetimeSecondsCeiling).optional()
    .describe(`How long a session lasts after sign-in (default ${DEFAULTS.sessionLifetimeSeconds}).`),
  limits: LimitsSchema.pick({ requests_per_minute: true }).optional()
    .describe(`Session-token requests per user per minute (default ${DEFAULTS.sessionRequestsPerMinute}).`),
});

export const CorsSchema = z.strictObject({
  allowed_origins: z.array(z.url({ protocol: /^https?$/ })).min(1).max(100).describe('Origins whose browsers may call the token endpoint.'),
  max_age_seconds: z.number().int().min(0).max(86400).optional().describe('How long browsers may cache a preflight answer (default 600).'),
});

export const PolicySchema = z
  .strictObject({
    version: z.literal(1),
    issuers: z.array(IssuerSchema).max(100).default([]),
    clients: z.array(ClientSchema).max(1000).optional(),
    cors: CorsSchema.optional(),
    public_clients: z.array(z.union([
      z.literal('gcloud').describe("The Google Cloud CLI's installed-app client (gcloud auth login --cred-file), with its published secret."),
      z.strictObject({
        id: z.string().regex(CLIENT_ID_PATTERN, `must be ${CLIENT_ID_RULE}`),
        published_secret: z.string().min(1).max(256).optional().describe('The secret the client publishes (accepted, and proving nothing).'),
      }),
    ])).max(20).optional()
      .describe("Known public clients: a token exchange presenting one (its published secret or none) is decided as one without client authentication; rules see client.client_id and client.auth_method == 'public'."),
    rules: z.array(RuleSchema).min(1).max(1000),
    web_apps: z.array(WebAppSchema).max(50).optional()
      .describe('Web apps whose users sign in through the broker (OAuth 2.0 authorization code + PKCE; the broker keeps their refresh tokens): docs/user-sign-in.md.'),
  })
  .superRefine((policy, ctx) => {
    const issuers = new Set<string>();
    policy.issuers.forEach((issuer, i) => {
      for (const name of issuerNames(issuer)) {
        if (issuers.has(name)) ctx.addIssue({ code: 'custom', path: ['issuers', i, 'issuer'], message: `duplicate issuer "${name}"` });
        issuers.add(name);
      }
    });
    const publicIds = new Set((policy.public_clients ?? []).map((entry) => (entry === 'gcloud' ? GCLOUD_CLIENT.id : entry.id)));
    const clients = new Set<string>();
    const apiKeyIds = new Set<string>();
    (policy.clients ?? []).forEach((client, i) => {
      if (clients.has(client.id)) ctx.addIssue({ code: 'custom', path: ['clients', i, 'id'], message: `duplicate client id "${client.id}"` });
      if (publicIds.has(client.id)) ctx.addIssue({ code: 'custom', path: ['clients', i, 'id'], message: `"${client.id}" is also a public client: a registered client must prove itself` });
      clients.add(client.id);
      (client.api_keys ?? []).forEach((key, k) => {
        if (apiKeyIds.has(key.id)) ctx.addIssue({ code: 'custom', path: ['clients', i, 'api_keys', k, 'id'], message: 'duplicate API key id' });
        apiKeyIds.add(key.id);
      });
    });
    const ids = new Set<string>();
    policy.rules.forEach((rule, i) => {
      if (ids.has(rule.id)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate rule id "${rule.id}"` });
      ids.add(rule.id);
      if ((rule.issuer === undefined) === (rule.clients === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['rules', i], message: 'set exactly one of issuer and clients' });
      }
      if (rule.issuer !== undefined && !issuers.has(rule.issuer)) {
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'issuer'], message: `issuer "${rule.issuer}" is not declared under issuers` });
      }
      (rule.clients ?? []).forEach((client, c) => {
        if (!clients.has(client)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'clients', c], message: `client "${client}" is not declared under clients` });
      });
    });
  });

/** The Google Cloud CLI's installed-app OAuth client, as it publishes it (its secret is in its source and proves nothing). */
export const GCLOUD_CLIENT = { id: '32555940559.apps.googleusercontent.com', publishedSecret: 'ZmssLNjJy2998hD4CTg2ejr2' } as const;

/** The issuer URLs an issuer entry stands for (a preset may stand for two). */
export function issuerNames(issuer: IssuerDocument): string[] {
  if (issuer.preset === 'firebase') return [`https://securetoken.google.com/${issuer.project_id ?? ''}`];
  if (issuer.preset === 'google') return ['https://accounts.google.com'];
  return issuer.issuer === undefined ? [] : [issuer.issuer];
}

export type PolicyDocument = z.infer<typeof PolicySchema>;
export type ClientDocument = z.infer<typeof ClientSchema>;
export type LimitsDocument = z.infer<typeof LimitsSchema>;
export type IssuerDocument = z.infer<typeof IssuerSchema>;
export type RuleDocument = z.infer<typeof RuleSchema>;
export type WebAppDocument = z.infer<typeof WebAppSchema>;
