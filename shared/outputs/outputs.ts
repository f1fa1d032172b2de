/** The output a grant asks for, by what resolveGrant put in it. */
import type { Grant } from '../policy/resolve-grant';
import { accessTokenOutput } from './access-token';
import { geminiEphemeralOutput } from './gemini-ephemeral';
import { idTokenOutput } from './id-token';
import type { TokenOutput } from './output';

export function outputFor(grant: Grant): TokenOutput {
  if (grant.geminiEphemeral !== undefined) return geminiEphemeralOutput;
  if (grant.idTokenAudience !== undefined) return idTokenOutput;
  return accessTokenOutput;
}
