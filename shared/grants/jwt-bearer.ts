/** RFC 7523 §2.1: a JWT assertion signed by a registered client is the grant. */
import { GRANT_TYPE_JWT_BEARER } from '../oauth-uris';
import { CLIENT_AUTH_PARAMETERS } from '../identity/client-authentication';
import { optional, parseOptions, parseScope, required } from './common';
import type { GrantTypeDefinition, TokenParams } from './token-request';

export interface JwtBearerRequest {
  readonly grantType: typeof GRANT_TYPE_JWT_BEARER;
  readonly assertion: string;
  readonly audience?: string;
  readonly scopes?: readonly string[];
  readonly lifetimeSeconds?: number;
}

export const jwtBearer: GrantTypeDefinition<JwtBearerRequest> = {
  grantType: GRANT_TYPE_JWT_BEARER,
  parameters: ['grant_type', 'assertion', 'scope', 'audience', 'options', ...CLIENT_AUTH_PARAMETERS],
  parse(params: TokenParams): JwtBearerRequest {
    return {
      grantType: GRANT_TYPE_JWT_BEARER,
      assertion: required(params, 'assertion'),
      audience: optional(params, 'audience'),
      scopes: parseScope(params.get('scope')),
      lifetimeSeconds: parseOptions(params.get('options')),
    };
  },
};
