/**
 * RFC 8414 authorization server metadata, from what the loaded broker actually does: its
 * issuer URL (as configuration normalised it), its grant types, and the assertion algorithms
 * its registered clients accept (the same allowlists verification applies).
 */
import { DEFAULTS } from './config/defaults';
import { SIGNING_ALGORITHM_NAMES } from './identity/signing-algorithms';
import { TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_GEMINI_EPHEMERAL, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT } from './oauth-uris';
import type { CompiledPolicy } from './policy/compiled-policy';

export interface MetadataSource {
  readonly policy: Pick<CompiledPolicy, 'assertionClients'>;
  readonly grantTypes: readonly string[];
}

export function serverMetadata(broker: MetadataSource, issuer: string): Record<string, unknown> {
  return {
    issuer,
    token_endpoint: `${issuer}/token`,
    grant_types_supported: broker.grantTypes,
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: assertionAlgorithms(broker.policy),
    response_types_supported: [],
    introspection_endpoint: `${issuer}/v1/introspect`,
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    introspection_endpoint_auth_signing_alg_values_supported: assertionAlgorithms(broker.policy),
    // Broker extensions (RFC 8693 defines no metadata of its own):
    subject_token_types_supported: [TOKEN_TYPE_JWT, TOKEN_TYPE_ID_TOKEN],
    issued_token_types_supported: [TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_GEMINI_EPHEMERAL],
  };
}

/** The algorithms some registered client's assertions may use, in table order; the default set when no client registers keys. */
function assertionAlgorithms(policy: Pick<CompiledPolicy, 'assertionClients'>): string[] {
  const allowed = new Set([...policy.assertionClients.values()].flatMap((client) => client.algorithms));
  if (allowed.size === 0) return [...DEFAULTS.clientAlgorithms];
  return SIGNING_ALGORITHM_NAMES.filter((name) => allowed.has(name));
}
