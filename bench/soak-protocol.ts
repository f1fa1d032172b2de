/**
 * What bench/soak.ts (the load generator) and bench/soak-broker.ts (the broker child) share:
 * the soak policy's constants and the messages on their IPC channel.
 */
import type { JWK } from 'jose';

/** The policy grants every `soak-*` subject of this repository. */
export const SOAK_REPOSITORY = 'acme/soak';
export const SOAK_SCOPES = [
  'https://www.googleapis.com/auth/cloud-platform',
  'https://www.googleapis.com/auth/generative-language',
  'https://www.googleapis.com/auth/devstorage.read_only',
] as const;
export const SOAK_MAX_LIFETIME_SECONDS = 900;

/** Parent → child. */
export type SoakRequest = { cmd: 'stats'; id: number; gc?: boolean } | { cmd: 'stop' };

export interface BrokerStats {
  /** Milliseconds since the child started. */
  uptimeMs: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** Whether a full GC ran just before the reading. */
  afterGc: boolean;
  audit: AuditTally;
}

export interface AuditTally {
  lines: number;
  unparsable: number;
  tokenExchange: number;
  upstreamMint: number;
  other: number;
  /** token_exchange entries by `outcome`, `cache.outcome` and `error.reason`. */
  outcomes: Record<string, number>;
  cache: Record<string, number>;
  reasons: Record<string, number>;
}

/** Child → parent. */
export type SoakMessage =
  | { type: 'ready'; tokenUrl: string; issuer: string; audience: string; kid: string; privateJwk: JWK }
  | { type: 'stats'; id: number; stats: BrokerStats }
  | { type: 'error'; message: string };
