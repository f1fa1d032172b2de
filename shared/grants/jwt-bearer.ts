/** RFC 7523 §2.1: a JWT assertion signed by a registered client is the grant. */
import { BrokerError } from '../errors';
import { sha256Fingerprint } from '../fingerprint';
import { CLIENT_AUTH_PARAMETERS, clientFromGrantAssertion } from '../identity/client-authentication';
import { GRANT_TYPE_JWT_BEARER } from '../oauth-uris';
import { optional, parseOptions, parseScope, required } from './common';
import type { GrantType } from './token-request';

export const jwtBearer: GrantType = {
  grantType: GRANT_TYPE_JWT_BEARER,
  parameters: ['grant_type', 'assertion', 'scope', 'audience', 'options', ...CLIENT_AUTH_PARAMETERS],
  parse(params) {
    const assertion = required(params, 'assertion');
    const request = { audience: optional(params, 'audience'), scopes: parseScope(params.get('scope')), ...parseOptions(params.get('options')) };
    return async ({ clientAuth, client, record, identified, deadline }) => {
      record.subjectTokenSha256 = sha256Fingerprint(assertion);
      if (!clientAuth) throw new BrokerError('invalid_grant', 'no client may present assertions to this broker', { reason: 'no_clients' });
      const asserted = await clientFromGrantAssertion(assertion, clientAuth, deadline, identified);
      if (client && client.subject !== asserted.subject) {
        throw new BrokerError('invalid_grant', 'the assertion is for another client', { reason: 'client_mismatch' });
      }
      return { principal: asserted, client: asserted, ...request };
    };
  },
};
