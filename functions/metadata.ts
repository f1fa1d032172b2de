/**
 * `GET /.well-known/oauth-authorization-server` — RFC 8414 metadata describing the token
 * endpoint, the grant types and the token types the broker handles.
 */
import type { Request, Response } from '@google-cloud/functions-framework';
import { BrokerError } from '../shared/errors';
import { TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT } from '../shared/oauth-uris';
import type { BrokerProvider } from './token';
import { replyError, replyJson } from './http/reply';

export function createMetadataHandler(getBroker: BrokerProvider, issuerUrl: (req: Request) => string) {
  return async function metadata(req: Request, res: Response): Promise<void> {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        throw new BrokerError('method_not_allowed', 'the metadata endpoint accepts GET only', { reason: 'method_not_allowed' });
      }
      const broker = await getBroker();
      const issuer = issuerUrl(req);
      replyJson(res, 200, {
        issuer,
        token_endpoint: `${issuer}/token`,
        grant_types_supported: broker.grantTypes,
        token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
        token_endpoint_auth_signing_alg_values_supported: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'],
        response_types_supported: [],
        // Broker extensions (RFC 8693 defines no metadata of its own):
        subject_token_types_supported: [TOKEN_TYPE_JWT, TOKEN_TYPE_ID_TOKEN],
        issued_token_types_supported: [TOKEN_TYPE_ACCESS_TOKEN],
      });
    } catch (err) {
      replyError(res, err instanceof BrokerError ? err : new BrokerError('server_error', 'The broker could not process the request.'));
    }
  };
}
