/**
 * `GET /.well-known/oauth-authorization-server` (and `HEAD`): RFC 8414 metadata, built by the
 * core (shared/server-metadata.ts) from the loaded broker. The issuer is the configured
 * `BROKER_ISSUER_URL` as the configuration reader normalised it, else the origin the request
 * addressed.
 */
import type { Request, Response } from '@google-cloud/functions-framework';
import { BrokerError, toBrokerError } from '../shared/errors';
import { serverMetadata } from '../shared/server-metadata';
import type { BrokerProvider } from './token';
import { replyError, replyJson } from './http/reply';

const METHODS = ['GET', 'HEAD'] as const;

export function createMetadataHandler(getBroker: BrokerProvider, requestOrigin: (req: Request) => string) {
  return async function metadata(req: Request, res: Response): Promise<void> {
    try {
      if (!(METHODS as readonly string[]).includes(req.method)) {
        throw new BrokerError('method_not_allowed', 'the metadata endpoint accepts GET and HEAD only', { reason: 'method_not_allowed', allowedMethods: METHODS });
      }
      const broker = await getBroker();
      replyJson(res, 200, serverMetadata(broker, broker.issuerUrl ?? requestOrigin(req)));
    } catch (err) {
      replyError(res, toBrokerError(err));
    }
  };
}
