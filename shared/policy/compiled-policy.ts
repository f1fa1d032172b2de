import type { TrustedIssuer } from '../identity/trusted-issuer';
import type { RegisteredClient } from '../identity/client-assertion';
import type { ApiKeyRecord, ClientRecord, ClientRegistry, ClientSecretRecord } from '../identity/client-registry';
import type { LimitSpec } from '../limits/rate-limiter';
import type { CompiledAccessBoundary } from './access-boundary';
import type { CompiledCondition } from './cel';
import type { GeminiEphemeralSpec } from './gemini-ephemeral';
import type { RuleIndex } from './rule-index';
import type { UsernameTemplate } from './username-template';
import type { CompiledWebApp } from './web-apps';

/** What a rule grants, with defaults applied. */
export interface RuleGrant {
  readonly serviceAccount: string;
  readonly scopes: readonly string[];
  readonly maxLifetimeSeconds: number;
  readonly delegates: readonly string[];
  /** How requested scopes meet the rule's: all must be granted (`exact`), or the overlap is issued (`intersect`). */
  readonly scopeRequest: 'exact' | 'intersect';
  /** Credential Access Boundary, rendered per request from the caller's claims. */
  readonly accessBoundary?: CompiledAccessBoundary;
  /** Whether an ID token may be issued for an audience (`id_token_audiences`); absent: never. */
  readonly idTokenAudience?: (audience: string) => boolean;
  /** Gemini Live API ephemeral tokens this rule may issue (`gemini_ephemeral`); absent: none. */
  readonly geminiEphemeral?: GeminiEphemeralSpec;
}

/** Which principals a rule is for: tokens of one OIDC issuer, or registered clients. */
export type RuleSubjects =
  | { readonly kind: 'issuer'; readonly issuer: string }
  | { readonly kind: 'clients'; readonly ids: ReadonlySet<string> };

export interface CompiledRule {
  readonly id: string;
  readonly subjects: RuleSubjects;
  readonly condition: CompiledCondition;
  readonly grant: RuleGrant;
  readonly auditClaims: readonly string[];
  readonly limits?: LimitSpec;
  /** The readable account name introspection answers for tokens this rule grants. */
  readonly username: UsernameTemplate;
  /** `shadow`: evaluated and audited, never grants. */
  readonly mode: 'enforce' | 'shadow';
}

export type CompiledSecret = ClientSecretRecord;
export type CompiledApiKey = ApiKeyRecord;

/** A registered client and every way it may authenticate. */
export interface CompiledClient extends ClientRecord {
  /** Present when the client registered public keys (RFC 7523 assertions). */
  readonly assertion?: RegisteredClient;
  readonly limits?: LimitSpec;
  /** Which tokens it may introspect: those handed to it, or every token the broker issued. */
  readonly introspection: 'own' | 'any';
}

export interface CorsPolicy {
  readonly allowedOrigins: ReadonlySet<string>;
  readonly maxAgeSeconds: number;
}

/** A validated policy, ready for evaluation. Only `compilePolicy` produces one. */
export interface CompiledPolicy extends ClientRegistry {
  /** Where it came from (file path), for messages. */
  readonly source: string;
  /** SHA-256 of the document's canonical JSON: changes whenever its meaning may change. */
  readonly version: string;
  /** By every accepted `iss` value (aliases included). */
  readonly issuers: ReadonlyMap<string, TrustedIssuer>;
  readonly clients: ReadonlyMap<string, CompiledClient>;
  /** The clients that registered public keys, as the RFC 7523 assertion verifier takes them. */
  readonly assertionClients: ReadonlyMap<string, RegisteredClient>;
  /** By public API key id. */
  readonly apiKeys: ReadonlyMap<string, CompiledApiKey>;
  readonly cors?: CorsPolicy;
  /** In document order: evaluation order. */
  readonly rules: readonly CompiledRule[];
  /** `rules` by issuer, client id and audience, for rule selection (rule-index.ts). */
  readonly ruleIndex: RuleIndex;
  /** Web apps whose users sign in through the broker, by id. */
  readonly webApps: ReadonlyMap<string, CompiledWebApp>;
}
