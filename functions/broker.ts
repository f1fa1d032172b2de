/**
 * The `broker` function: one Cloud Function serving every broker endpoint, so that one URL
 * works as an RFC 8414 issuer and as the `token_url` of a Google `external_account` file.
 *   POST /token, POST /v1/token                  token exchange
 *   POST /v1/introspect                          token introspection (RFC 7662)
 *   /v1/login, /v1/callback, /v1/session/token, /v1/logout   user sign-in (functions/sign-in.ts)
 *   GET  /.well-known/oauth-authorization-server  metadata
 */
import type { Request, Response } from '@google-cloud/functions-framework';
import { BrokerError } from '../shared/errors';
import { createMetadataHandler } from './metadata';
import { createTokenHandler, type BrokerProvider } from './token';
import { createIntrospectionHandler } from './introspect';
import { createSignInHandler, SIGN_IN_PATHS } from './sign-in';
import { replyError } from './http/reply';
import { trustsForwardedFor } from './http/request-facts';
import { takeOverFrameworkBodyParsing } from './http/framework-body';
import { leaveFrameworkDomain } from './http/leave-framework-domain';
import { DEFAULTS } from '../shared/config/defaults';
import type { AuditSink } from '../shared/audit/audit-sink';

export const TOKEN_PATHS = new Set(['/token', '/v1/token']);
export const METADATA_PATH = '/.well-known/oauth-authorization-server';
export const INTROSPECTION_PATH = '/v1/introspect';

export interface BrokerFunctionOptions {
  getBroker: BrokerProvider;
  /** Receives one entry per token-endpoint request. */
  audit: AuditSink;
  /** Believe the last X-Forwarded-For entry (behind Google's front end); default from the environment. */
  trustForwardedFor?: boolean;
}

export function createBrokerFunction(options: BrokerFunctionOptions) {
  // Before the framework builds its server: it must not parse (or inflate) bodies its own way.
  takeOverFrameworkBodyParsing(DEFAULTS.maxBodyBytes);
  const trustForwardedFor = options.trustForwardedFor ?? trustsForwardedFor();
  const token = createTokenHandler(options.getBroker, options.audit, trustForwardedFor);
  const introspection = createIntrospectionHandler(options.getBroker, options.audit, trustForwardedFor);
  const metadata = createMetadataHandler(options.getBroker, requestOrigin);
  const signIn = createSignInHandler(options.getBroker, options.audit, trustForwardedFor, requestOrigin);
  return async function broker(req: Request, res: Response): Promise<void> {
    leaveFrameworkDomain();
    if (TOKEN_PATHS.has(req.path)) return token(req, res);
    if (req.path === METADATA_PATH) return metadata(req, res);
    if (req.path === INTROSPECTION_PATH) return introspection(req, res);
    if (Object.hasOwn(SIGN_IN_PATHS, req.path)) return signIn(req, res);
    replyError(res, new BrokerError('invalid_request', 'no such endpoint', { reason: 'not_found' }), 404);
  };
}

/** Origin as the client addressed it (Cloud Functions terminates TLS in front of us). */
function requestOrigin(req: Request): string {
  const forwarded = req.headers['x-forwarded-proto'];
  const proto = typeof forwarded === 'string' && forwarded.split(',')[0]?.trim() === 'https' ? 'https' : req.protocol;
  return `${proto}://${req.get('host') ?? 'localhost'}`;
}
