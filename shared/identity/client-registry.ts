/**
 * What client authentication knows of registered clients: their secrets, API keys and
 * assertion keys. The compiled policy is one (policy/compiled-policy.ts); this module names
 * only what authentication reads, so identity never depends on the policy that composes it.
 */
import type { IPv4, IPv6 } from 'ipaddr.js';
import type { RegisteredClient } from './client-assertion';
import type { ParsedHash } from './secret-hash';

export interface ClientSecretRecord {
  readonly hash: ParsedHash;
  /** Refused after this instant (ms); undefined = no expiry. */
  readonly expiresAtMs?: number;
}

export interface ApiKeyRecord {
  readonly id: string;
  readonly clientId: string;
  readonly hash: ParsedHash;
  readonly expiresAtMs?: number;
  /** CIDR ranges as `ipaddr.js` parses them; undefined = any address. */
  readonly ipRanges?: ReadonlyArray<readonly [IPv4 | IPv6, number]>;
  /** Allowed browser origins; undefined = no restriction. */
  readonly origins?: ReadonlySet<string>;
}

export interface ClientRecord {
  readonly id: string;
  readonly secrets: readonly ClientSecretRecord[];
}

export interface ClientRegistry {
  readonly clients: ReadonlyMap<string, ClientRecord>;
  /** The clients that registered public keys, as the RFC 7523 assertion verifier takes them. */
  readonly assertionClients: ReadonlyMap<string, RegisteredClient>;
  /** By public API key id. */
  readonly apiKeys: ReadonlyMap<string, ApiKeyRecord>;
  /** Known public clients by id, with the secret they publish (if any), which proves nothing. */
  readonly publicClients: ReadonlyMap<string, { readonly publishedSecret?: string }>;
}
