/**
 * User sign-in endpoints (docs/user-sign-in.md), thin like the others: cookies in, the core
 * (shared/sign-in/sign-in.ts) decides, cookies and one audit entry out.
 *
 *   GET  /v1/login?app=ID&return_to=URL   302 to the provider; sets the pre-login cookie
 *   GET  /v1/callback                       302 to return_to; sets the session cookie
 *   POST /v1/session/token?app=ID           the user's access token (CORS for the app's origins)
 *   POST /v1/logout?app=ID                  revokes and ends the session; clears the cookie
 *
 * Cookies are HttpOnly and `__Host-` prefixed, `Secure`, path `/` when the broker is served
 * over https; a plain-http loopback broker (development) drops the prefix and `Secure`, which
 * browsers refuse to set over http. The pre-login cookie is `SameSite=Lax` (it must come back
 * with the provider's top-level redirect); the session cookie `SameSite=Strict`.
 */
import { randomUUID } from 'node:crypto';
import type { Request, Response } from '@google-cloud/functions-framework';
import { parseCookie, stringifySetCookie } from 'cookie';
import type { AuditSink } from '../shared/audit/audit-sink';
import { signInAuditEntry, type SignInAction } from '../shared/audit/sign-in-entry';
import { BrokerError, toBrokerError } from '../shared/errors';
import { CSRF_HEADER, type SignInRecord } from '../shared/sign-in/sign-in';
import type { CorsPolicy } from '../shared/policy/compiled-policy';
import { DEFAULTS } from '../shared/config/defaults';
import { answerPreflight, applyCors, type CorsMode } from './http/cors';
import { replyError, replyJson } from './http/reply';
import { requestFacts } from './http/request-facts';
import type { BrokerProvider } from './token';

export const SIGN_IN_PATHS: Readonly<Record<string, SignInAction>> = {
  '/v1/login': 'login',
  '/v1/callback': 'callback',
  '/v1/session/token': 'token',
  '/v1/logout': 'logout',
};

const SESSION_CORS: CorsMode = { allowedHeaders: `content-type, ${CSRF_HEADER}`, credentials: true };

export function createSignInHandler(getBroker: BrokerProvider, audit: AuditSink, trustForwardedFor: boolean, requestOrigin: (req: Request) => string) {
  return async function signIn(req: Request, res: Response): Promise<void> {
    const started = Date.now();
    const requestId = randomUUID();
    const action = SIGN_IN_PATHS[req.path] as SignInAction;
    const record: SignInRecord = {};
    let error: BrokerError | undefined;
    try {
      const broker = await getBroker();
      const secure = (broker.issuerUrl ?? requestOrigin(req)).startsWith('https://');
      const names = cookieNames(secure);
      const cookies = parseCookie(typeof req.headers.cookie === 'string' ? req.headers.cookie : '');
      const query = (name: string) => (typeof req.query[name] === 'string' ? req.query[name] as string : undefined);
      const app = query('app');
      const cors = app === undefined ? undefined : appCors(broker.policy.webApps.get(app)?.origins);

      if (action === 'token' || action === 'logout') {
        if (req.method === 'OPTIONS' && req.headers.origin !== undefined) return answerPreflight(req, res, cors, SESSION_CORS);
        applyCors(req, res, cors, SESSION_CORS);
        requireMethod(req, 'POST');
        const browser = { origin: typeof req.headers.origin === 'string' ? req.headers.origin : undefined, csrfHeader: req.headers[CSRF_HEADER] === '1' };
        const sessionId = app === undefined ? undefined : cookies[names.session(app)];
        if (action === 'token') {
          const token = await broker.signIn.sessionToken(app, sessionId, browser, record);
          finish();
          replyJson(res, 200, token);
        } else {
          await broker.signIn.logout(app, sessionId, browser, record);
          if (app !== undefined) res.append('Set-Cookie', clear(names.session(app), secure));
          finish();
          res.status(204).set({ 'Cache-Control': 'no-store' }).end();
        }
        return;
      }
      requireMethod(req, 'GET');
      if (action === 'login') {
        const started = await broker.signIn.login(app, query('return_to'), record);
        res.append('Set-Cookie', stringifySetCookie({ name: names.login, value: started.attemptId, ...attributes(secure, 'lax'), maxAge: started.maxAgeSeconds }));
        finish();
        redirect(res, started.location);
        return;
      }
      const callbackUrl = new URL(req.originalUrl, broker.issuerUrl ?? requestOrigin(req));
      res.append('Set-Cookie', clear(names.login, secure)); // single use, whatever the outcome
      const session = await broker.signIn.callback(callbackUrl, cookies[names.login], record);
      res.append('Set-Cookie', stringifySetCookie({ name: names.session(session.appId), value: session.sessionId, ...attributes(secure, 'strict'), maxAge: session.maxAgeSeconds }));
      finish();
      redirect(res, session.returnTo);
    } catch (err) {
      error = toBrokerError(err);
      finish();
      replyError(res, error);
    }

    /** The audit entry, before the answer leaves. */
    function finish(): void {
      const entry = signInAuditEntry(action, record, error, requestFacts(req, error?.status ?? (action === 'token' ? 200 : action === 'logout' ? 204 : 302), started, requestId, trustForwardedFor));
      audit.write(entry.severity, entry.payload, entry.metadata);
      res.set('X-Request-Id', requestId);
    }
  };
}

export function cookieNames(secure: boolean) {
  const prefix = secure ? '__Host-' : '';
  return {
    login: `${prefix}tb-login`,
    session: (app: string) => `${prefix}tb-session-${app}`,
  };
}

function attributes(secure: boolean, sameSite: 'lax' | 'strict') {
  return { httpOnly: true, secure, sameSite, path: '/' } as const;
}

function clear(name: string, secure: boolean): string {
  return stringifySetCookie({ name, value: '', ...attributes(secure, 'lax'), maxAge: 0 });
}

function appCors(origins: ReadonlySet<string> | undefined): CorsPolicy | undefined {
  return origins && { allowedOrigins: origins, maxAgeSeconds: DEFAULTS.corsMaxAgeSeconds };
}

function requireMethod(req: Request, method: 'GET' | 'POST'): void {
  if (req.method !== method) throw new BrokerError('method_not_allowed', `this endpoint accepts ${method} only`, { reason: 'method_not_allowed', allowedMethods: [method] });
}

function redirect(res: Response, location: string): void {
  res.status(302).set({ Location: location, 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' }).end();
}
