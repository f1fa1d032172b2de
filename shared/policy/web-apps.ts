/**
 * `web_apps[]` compiled: each app a confidential OAuth client of its provider, with what the
 * sign-in flow needs decided at load (shared/sign-in/): the provider's issuer, exact redirect
 * and return URLs, allowed origins, scopes (openid among them), the CEL condition on the ID
 * token's claims, the session lifetime and the per-user limit.
 */
import { DEFAULTS } from '../config/defaults';
import { urlRefusal, type NetworkPolicy } from '../config/network-policy';
import { CelConditionError, compileCondition, type CompiledCondition } from './cel';
import type { PolicyIssue } from './policy-error';
import type { WebAppDocument } from './schema';

/** Google's issuer, found by discovery like any other provider. */
export const GOOGLE_ISSUER = 'https://accounts.google.com';
/** The broker's callback path: every `redirect_uri` ends with it. */
export const CALLBACK_PATH = '/v1/callback';

export interface CompiledWebApp {
  readonly id: string;
  /** The provider's issuer (the discovery base URL, and the ID token's `iss`). */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecretRef: string;
  readonly redirectUri: string;
  readonly origins: ReadonlySet<string>;
  readonly scopes: readonly string[];
  readonly postLoginRedirects: ReadonlySet<string>;
  /** Absent: any user the provider signs in. */
  readonly condition?: CompiledCondition;
  readonly sessionLifetimeSeconds: number;
  /** How long after sign-in the refresh token is used (at most the session's lifetime). */
  readonly refreshTokenLifetimeSeconds: number;
  readonly requestsPerMinute: number;
  /** The OpenID Connect `prompt` sent with the authorization request, if any. */
  readonly prompt?: string;
}

export function compileWebApps(documents: readonly WebAppDocument[], network: NetworkPolicy, issues: PolicyIssue[]): ReadonlyMap<string, CompiledWebApp> {
  const apps = new Map<string, CompiledWebApp>();
  documents.forEach((doc, i) => {
    const app = compileWebApp(doc, `web_apps[${i}]`, network, issues);
    if (app && !apps.has(app.id)) apps.set(app.id, app);
    else if (app) issues.push({ path: `web_apps[${i}].id`, reason: `duplicate web app id "${doc.id}"` });
  });
  return apps;
}

/** Google issues a refresh token again only after consent: its default is `consent`. */
function promptFor(doc: WebAppDocument, issuer: string): string | undefined {
  if (doc.prompt !== undefined) return doc.prompt ?? undefined;
  return issuer === GOOGLE_ISSUER ? 'consent' : undefined;
}

function compileWebApp(doc: WebAppDocument, path: string, network: NetworkPolicy, issues: PolicyIssue[]): CompiledWebApp | undefined {
  const before = issues.length;
  const issuer = doc.provider === 'google' ? GOOGLE_ISSUER : doc.provider.issuer.replace(/\/$/, '');
  const check = (value: string, at: string) => {
    const refusal = urlRefusal(new URL(value), network);
    if (refusal) issues.push({ path: at, reason: refusal });
  };
  check(issuer, `${path}.provider.issuer`);
  check(doc.redirect_uri, `${path}.redirect_uri`);
  const redirect = new URL(doc.redirect_uri);
  if (redirect.pathname !== CALLBACK_PATH || redirect.search !== '' || redirect.hash !== '') {
    issues.push({ path: `${path}.redirect_uri`, reason: `must be the broker's own callback: <its URL>${CALLBACK_PATH}, without a query or fragment` });
  }
  const origins = new Set<string>();
  doc.origins.forEach((value, o) => {
    check(value, `${path}.origins[${o}]`);
    const url = new URL(value);
    if (url.origin !== value.replace(/\/$/, '')) issues.push({ path: `${path}.origins[${o}]`, reason: 'must be an origin (scheme://host[:port]) without a path' });
    origins.add(url.origin);
  });
  doc.post_login_redirects.forEach((value, r) => {
    check(value, `${path}.post_login_redirects[${r}]`);
    if (new URL(value).hash !== '') issues.push({ path: `${path}.post_login_redirects[${r}]`, reason: 'must not have a fragment' });
  });
  if (!doc.scopes.includes('openid')) issues.push({ path: `${path}.scopes`, reason: 'must include openid (the broker verifies the ID token)' });
  if (new Set(doc.scopes).size !== doc.scopes.length) issues.push({ path: `${path}.scopes`, reason: 'names a scope twice' });
  let condition: CompiledCondition | undefined;
  if (doc.condition !== undefined) {
    try {
      condition = compileCondition(doc.condition);
    } catch (err) {
      if (!(err instanceof CelConditionError)) throw err;
      issues.push({ path: `${path}.condition`, reason: `invalid CEL: ${err.message}` });
    }
  }
  if (issues.length > before) return undefined;
  return Object.freeze({
    id: doc.id,
    issuer,
    clientId: doc.client_id,
    clientSecretRef: doc.client_secret_ref,
    redirectUri: doc.redirect_uri,
    origins,
    scopes: Object.freeze([...doc.scopes]),
    postLoginRedirects: new Set(doc.post_login_redirects),
    ...(condition ? { condition } : {}),
    sessionLifetimeSeconds: doc.session_lifetime_seconds ?? DEFAULTS.sessionLifetimeSeconds,
    refreshTokenLifetimeSeconds: Math.min(doc.refresh_token_lifetime_seconds ?? Infinity, doc.session_lifetime_seconds ?? DEFAULTS.sessionLifetimeSeconds),
    requestsPerMinute: doc.limits?.requests_per_minute ?? DEFAULTS.sessionRequestsPerMinute,
    ...(promptFor(doc, issuer) === undefined ? {} : { prompt: promptFor(doc, issuer) }),
  });
}
