/** RFC 6749 §4.4 client credentials: the authenticated client is the principal. */
import { BrokerError } from '../errors';
import { CLIENT_AUTH_PARAMETERS } from '../identity/client-authentication';
import { GRANT_TYPE_CLIENT_CREDENTIALS } from '../oauth-uris';
import { optional, parseOptions, parseScope } from './common';
import type { GrantType } from './token-request';

export const clientCredentials: GrantType = {
  grantType: GRANT_TYPE_CLIENT_CREDENTIALS,
  parameters: ['grant_type', 'scope', 'audience', 'options', ...CLIENT_AUTH_PARAMETERS],
  parse(params) {
    const request = { audience: optional(params, 'audience'), scopes: parseScope(params.get('scope')), ...parseOptions(params.get('options')) };
    return async ({ client }) => {
      if (!client) throw new BrokerError('invalid_client', 'client authentication is required for client_credentials', { reason: 'client_auth_required' });
      // A public client's id proves nothing: it may accompany a token exchange, never be the principal.
      if (client.claims.auth_method === 'public') throw new BrokerError('invalid_client', 'a public client cannot obtain tokens of its own', { reason: 'public_client_not_allowed' });
      return { principal: client, client, ...request };
    };
  },
};
