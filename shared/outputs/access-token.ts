/** An OAuth access token for the grant's service account, downscoped through Google STS when the grant carries an access boundary. */
import { TOKEN_TYPE_ACCESS_TOKEN } from '../oauth-uris';
import type { TokenOutput } from './output';

export const accessTokenOutput: TokenOutput = {
  issuedTokenType: TOKEN_TYPE_ACCESS_TOKEN,
  tokenType: 'Bearer',
  listsScopes: true,
  cacheable: true,
  async obtain(grant, { minter }, deadline) {
    const impersonated = await minter.mintAccessToken(grant, deadline);
    return grant.accessBoundary ? minter.downscope(impersonated, grant.accessBoundary, deadline) : impersonated;
  },
};
