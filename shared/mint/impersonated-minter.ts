/**
 * Mints access tokens with IAM Credentials `generateAccessToken`, through
 * google-auth-library's `Impersonated` client. The broker's own identity (the source
 * credentials) is Application Default Credentials in production; in development and tests it
 * is a fixed bearer token accepted by the loopback emulator.
 */
import type { AuthClient } from 'google-auth-library';
import { DEFAULTS } from '../config/defaults';
import { temporarilyUnavailable } from '../errors';
import type { Minter, MintedToken, MintRequest } from './minter';
import { upstreamError } from './upstream-error';

export type SourceCredentials =
  | { kind: 'application-default' }
  /** Development and tests only: a static bearer token for the loopback emulator. */
  | { kind: 'static-token'; accessToken: string };

export interface ImpersonatedMinterOptions {
  /** IAM Credentials base URL, e.g. https://iamcredentials.googleapis.com. */
  endpoint: string;
  source: SourceCredentials;
  timeoutMs?: number;
}

export function createImpersonatedMinter(options: ImpersonatedMinterOptions): Minter {
  const timeoutMs = options.timeoutMs ?? DEFAULTS.upstreamTimeoutMs;
  let sourceClient: Promise<AuthClient> | undefined;
  const source = () => (sourceClient ??= createSourceClient(options.source, timeoutMs));

  return {
    async mintAccessToken(request: MintRequest): Promise<MintedToken> {
      // google-auth-library is loaded on first mint, off the cold-start path.
      const { Impersonated } = await import('google-auth-library');
      const client = new Impersonated({
        sourceClient: await source(),
        targetPrincipal: request.serviceAccount,
        targetScopes: [...request.scopes],
        lifetime: request.lifetimeSeconds,
        delegates: request.delegates.map((email) => `projects/-/serviceAccounts/${email}`),
        endpoint: options.endpoint,
      });
      try {
        const { token } = await withDeadline(client.getAccessToken(), timeoutMs);
        const expiresAtMs = client.credentials.expiry_date;
        if (!token || typeof expiresAtMs !== 'number' || !Number.isFinite(expiresAtMs)) {
          throw temporarilyUnavailable('Google IAM returned an unusable response', DEFAULTS.upstreamRetryAfterSeconds, 'upstream_malformed');
        }
        return { accessToken: token, expiresAtMs };
      } catch (err) {
        throw upstreamError(err, 'generateAccessToken');
      }
    },
  };
}

async function createSourceClient(source: SourceCredentials, timeoutMs: number): Promise<AuthClient> {
  const { GoogleAuth, OAuth2Client } = await import('google-auth-library');
  // Node's own fetch: gaxios would otherwise load node-fetch on first use.
  const transporterOptions = { timeout: timeoutMs, fetchImplementation: fetch };
  if (source.kind === 'static-token') {
    const client = new OAuth2Client({ transporterOptions });
    client.setCredentials({ access_token: source.accessToken, expiry_date: Number.MAX_SAFE_INTEGER });
    return client;
  }
  return new GoogleAuth({ scopes: [...DEFAULTS.sourceScopes], clientOptions: { transporterOptions } }).getClient();
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(temporarilyUnavailable('Google IAM did not answer in time', DEFAULTS.upstreamRetryAfterSeconds, 'upstream_timeout')), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
