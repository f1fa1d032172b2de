/** RFC 6749 §4.4 client credentials: the authenticated client is the principal. */
import { GRANT_TYPE_CLIENT_CREDENTIALS } from '../oauth-uris';
import { CLIENT_AUTH_PARAMETERS } from '../identity/client-authentication';
import { optional, parseOptions, parseScope } from './common';
import type { GrantTypeDefinition, TokenParams } from './token-request';

export interface ClientCredentialsRequest {
  readonly grantType: typeof GRANT_TYPE_CLIENT_CREDENTIALS;
  readonly audience?: string;
  readonly scopes?: readonly string[];
  readonly lifetimeSeconds?: number;
}

export const clientCredentials: GrantTypeDefinition<ClientCredentialsRequest> = {
  grantType: GRANT_TYPE_CLIENT_CREDENTIALS,
  parameters: ['grant_type', 'scope', 'audience', 'options', ...CLIENT_AUTH_PARAMETERS],
  parse(params: TokenParams): ClientCredentialsRequest {
    return {
      grantType: GRANT_TYPE_CLIENT_CREDENTIALS,
      audience: optional(params, 'audience'),
      scopes: parseScope(params.get('scope')),
      lifetimeSeconds: parseOptions(params.get('options')),
    };
  },
};
