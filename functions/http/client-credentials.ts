/**
 * Reads client credentials from the HTTP request into the core's framework-free shape, and
 * refuses credentials in the query string (it ends up in access logs and browser history).
 */
import type { Request } from '@google-cloud/functions-framework';
import { invalidRequest } from '../../shared/errors';
import type { ClientCredentials } from '../../shared/identity/client-authentication';
import { remoteIp } from './request-facts';

/** Query parameters that would carry a credential: refused outright. */
const CREDENTIAL_QUERY_PARAMETERS = ['key', 'api_key', 'x-goog-api-key', 'access_token', 'subject_token', 'assertion', 'client_secret', 'client_assertion'];

export function readClientCredentials(req: Request, trustForwardedFor: boolean): ClientCredentials {
  refuseCredentialsInQuery(req);
  const header = (name: string) => {
    const value = req.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  return {
    basic: parseBasic(header('authorization')),
    apiKey: header('x-goog-api-key'),
    origin: browserOrigin(header('origin'), header('referer')),
    remoteIp: remoteIp(req, trustForwardedFor),
  };
}

function refuseCredentialsInQuery(req: Request): void {
  const query = req.originalUrl.includes('?') ? new URLSearchParams(req.originalUrl.slice(req.originalUrl.indexOf('?') + 1)) : undefined;
  if (!query) return;
  for (const name of query.keys()) {
    if (CREDENTIAL_QUERY_PARAMETERS.includes(name.toLowerCase())) {
      throw invalidRequest('credentials are not accepted in the query string (API keys go in the x-goog-api-key header)', 'credential_in_query');
    }
  }
}

/** RFC 6749 §2.3.1: `Basic base64(urlencode(client_id) ":" urlencode(client_secret))`. */
function parseBasic(authorization: string | undefined): ClientCredentials['basic'] {
  if (authorization === undefined) return undefined;
  const match = /^Basic ([A-Za-z0-9+/]+={0,2})$/i.exec(authorization.trim());
  if (!match?.[1]) throw invalidRequest('malformed Authorization header (expected Basic)', 'malformed_authorization');
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw invalidRequest('malformed Basic credentials', 'malformed_authorization');
  try {
    const form = (value: string) => decodeURIComponent(value.replace(/\+/g, ' '));
    return { clientId: form(decoded.slice(0, colon)), clientSecret: form(decoded.slice(colon + 1)) };
  } catch {
    throw invalidRequest('malformed Basic credentials', 'malformed_authorization');
  }
}

/** The calling page's origin: the Origin header, else the origin of Referer. */
function browserOrigin(origin: string | undefined, referer: string | undefined): string | undefined {
  for (const value of [origin, referer]) {
    if (!value || value === 'null') continue;
    try {
      return new URL(value).origin;
    } catch {
      // not a URL: ignored
    }
  }
  return undefined;
}
