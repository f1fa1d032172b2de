/** A Google-signed ID token for the grant's service account, for the audience the caller named (Cloud Run, IAP). Cached per audience. */
import { TOKEN_TYPE_ID_TOKEN } from '../oauth-uris';
import type { TokenOutput } from './output';

export const idTokenOutput: TokenOutput = {
  issuedTokenType: TOKEN_TYPE_ID_TOKEN,
  tokenType: 'N_A',
  listsScopes: false,
  cacheable: true,
  obtain(grant, { minter }, deadline) {
    return minter.mintIdToken({ serviceAccount: grant.serviceAccount, delegates: grant.delegates, audience: grant.idTokenAudience ?? '' }, deadline);
  },
};
